"""Dataset-check speed and peak memory on 2 CPU cores (targets: ≥ 20 images/s at 512², flat memory).

Generates synthetic photos-like JPEGs (smooth colour fields, shapes, grain) in a temporary folder:
100 of 512×512 and 25 of 3000×4000, then runs the full ``check_folder`` pipeline on each set in a
fresh subprocess pinned to 2 cores and reports, side by side in one run:

- images per second (whole check: decode, faces, saliency, features, all checks, report), wall clock;
- CPU milliseconds per image (this process + its workers), and the images/s two otherwise idle cores
  would give (2000 / CPU ms): on a shared machine the wall clock mostly measures the neighbours;
- peak resident memory (main process + 2 × the largest worker process), for 25 and 100 images (512²)
  and for 10 and 25 images (3000×4000): the ratio shows whether memory grows with the image count;
- for 3000×4000, the same check with JPEG draft decoding switched off (full-size decode), to show
  what decoding small buys.

Usage: ``.venv/bin/python bench/check_speed.py``
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_images(folder: Path, n: int, size: tuple[int, int], seed: int) -> None:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    small = (max(8, w // 8), max(8, h // 8))
    for i in range(n):
        base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
        img = Image.fromarray(base).resize(small, Image.BICUBIC)
        d = ImageDraw.Draw(img)
        for _ in range(6):
            x0, y0 = rng.integers(0, small[0]), rng.integers(0, small[1])
            r = int(rng.integers(small[0] // 20 + 1, small[0] // 4 + 2))
            d.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        img = img.resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(1))
        arr = np.asarray(img).astype(np.int16) + rng.integers(-6, 7, (h, w, 1), dtype=np.int16)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.jpg", quality=90)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished worker processes.

    ``VmHWM`` (not ``ru_maxrss``, which Linux carries over from the parent across exec) for this
    process; ``RUSAGE_CHILDREN`` for the largest reaped worker.
    """
    hwm = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = float(line.split()[1]) / 1024.0
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return hwm + child * WORKERS


WORKERS = 2


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its reaped workers: what the work costs, whatever else
    runs on the machine (wall-clock figures from a shared machine understate a dedicated one)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def worker(folder: str, n: int, draft: bool) -> None:
    """One measured run (in its own process, so ru_maxrss is this run's peak)."""
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:2]))
    import cv2

    cv2.setNumThreads(2)
    from lib_ti.dataset import loading
    from lib_ti.dataset.loading import list_files
    from lib_ti.dataset.pipeline import check_folder

    if not draft:  # full-size decode, then downscale: what a naive loader does
        orig = loading.load_image

        def full(path, **kw):
            kw2 = dict(kw)
            side = kw2.pop("max_side", None)
            li = orig(path, **kw2)
            if side:
                li.image.thumbnail((side, side))
            return li

        import lib_ti.dataset.pipeline as pl

        pl.load_image = full
    files = list_files(Path(folder))[:n]
    sub = Path(tempfile.mkdtemp(prefix="tilab-bench-sub-"))
    for p in files:  # a folder holding exactly n images (symlinks: no copies)
        (sub / p.name).symlink_to(p)
    t0 = time.perf_counter()
    c0 = _cpu_seconds()
    report = check_folder(sub, workers=WORKERS).report
    dt = time.perf_counter() - t0
    cpu = _cpu_seconds() - c0
    assert report["counts"]["images"] == n, report["counts"]
    rss_mb = peak_rss_mb()
    print(json.dumps({"n": n, "seconds": dt, "images_per_s": n / dt, "peak_rss_mb": rss_mb,
                      "cpu_ms_per_image": 1000 * cpu / n}))


def run(folder: Path, n: int, draft: bool = True) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", str(folder), str(n), "1" if draft else "0"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tilab-bench-") as tmp:
        t = Path(tmp)
        make_images(t / "s512", 100, (512, 512), 1)
        make_images(t / "s12mp", 25, (3000, 4000), 2)
        rows = [
            ("512×512", 25, run(t / "s512", 25)),
            ("512×512", 100, run(t / "s512", 100)),
            ("3000×4000", 10, run(t / "s12mp", 10)),
            ("3000×4000", 25, run(t / "s12mp", 25)),
            ("3000×4000 full decode", 25, run(t / "s12mp", 25, draft=False)),
        ]
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"(machine has {os.cpu_count()} CPUs; runs pinned to 2 cores)")
    print(f"{'set':24} {'images':>6} {'seconds':>8} {'images/s':>9} {'CPU ms/img':>11} {'2-core est. img/s':>18} "
          f"{'peak RSS MB':>12}")
    for name, n, r in rows:
        est = 2000.0 / r["cpu_ms_per_image"]
        print(f"{name:24} {n:6d} {r['seconds']:8.2f} {r['images_per_s']:9.1f} {r['cpu_ms_per_image']:11.1f} "
              f"{est:18.1f} {r['peak_rss_mb']:12.0f}")
    a, b = rows[0][2], rows[1][2]
    c, d, e = rows[2][2], rows[3][2], rows[4][2]
    print(f"512²: memory 100 vs 25 images: {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}× "
          f"(+{b['peak_rss_mb'] - a['peak_rss_mb']:.0f} MB); target ≥ 20 images/s: "
          f"{'met' if b['images_per_s'] >= 20 else 'NOT met'} ({b['images_per_s']:.1f})")
    print(f"12 MP: memory 25 vs 10 images: {d['peak_rss_mb'] / c['peak_rss_mb']:.2f}×; "
          f"draft decode vs full decode: {d['images_per_s'] / e['images_per_s']:.2f}× faster, "
          f"{e['peak_rss_mb'] / d['peak_rss_mb']:.2f}× the memory without draft")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
    else:
        main()
