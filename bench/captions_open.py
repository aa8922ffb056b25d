"""How long the Captions tab takes to open a folder of 1,000 images (target: under 3 s).

Builds a folder of 1,000 real photos (the repository's test photos, copied round-robin; or generated images if
those are absent) with captions on 6 of 7, then times, side by side in one run:

1. the tab's real Load callback (``on_load`` from the built Blocks, plus gradio's postprocessing of its
   outputs), with an empty thumbnail cache (first open) and with a warm one (second open);
2. the alternative the design avoids: making every thumbnail up front.

Usage: ``.venv/bin/python bench/captions_open.py [N]``
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_ti.captions.session import CaptionSession  # noqa: E402
from lib_ti.captions.thumbs import thumbnail  # noqa: E402
from lib_ti.core.context import standalone_context  # noqa: E402


def make_folder(folder: Path, n: int) -> None:
    from PIL import Image

    photos = sorted((REPO / "tests" / "data" / "photos").glob("*/*.jpg"))
    folder.mkdir(parents=True)
    for i in range(n):
        target = folder / f"img{i:04d}.jpg"
        if photos:
            shutil.copy(photos[i % len(photos)], target)
        else:
            Image.new("RGB", (768, 768), (i % 255, 90, 200)).save(target, quality=90)
        if i % 7:
            (folder / f"img{i:04d}.txt").write_text(f"a photo of a dog number {i}, sitting on grass, red collar")


def load_callback(ctx):
    """The Captions tab's Load callback and its index in the Blocks (to postprocess its outputs like gradio)."""
    from lib_ti.ui.app import build_blocks

    blocks = build_blocks(ctx, standalone=True)
    for i, dep in enumerate(blocks.fns):
        if getattr(dep.fn, "__name__", "") == "on_load":
            return blocks, i, dep.fn
    raise SystemExit("the Captions tab's on_load callback was not found")


def timed_open(blocks, index, fn, folder: Path) -> float:
    t0 = time.perf_counter()
    out = fn(str(folder))
    blocks.postprocess_data(index, out, state={})
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "set"
        t0 = time.perf_counter()
        make_folder(folder, n)
        print(f"made {n} images in {time.perf_counter() - t0:.1f} s")
        ctx = standalone_context(tmp / "data")
        blocks, index, fn = load_callback(ctx)
        cold = timed_open(blocks, index, fn, folder)
        warm = timed_open(blocks, index, fn, folder)
        t0 = time.perf_counter()
        session = CaptionSession.open(folder)
        scan = time.perf_counter() - t0
        t0 = time.perf_counter()
        for sc in session.items:
            thumbnail(sc.image, tmp / "eager-cache")
        eager = time.perf_counter() - t0
        print(f"folder scan + {len(session)} captions read:        {scan:6.3f} s")
        print(f"tab Load, first open (cold thumbnail cache):  {cold:6.3f} s")
        print(f"tab Load, second open (warm thumbnail cache): {warm:6.3f} s")
        print(f"all {n} thumbnails made up front (avoided):   {eager:6.3f} s")
        print(f"lazy first open is {eager / cold:.1f}x faster than eager thumbnails; target < 3 s: "
              f"{'met' if cold < 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
