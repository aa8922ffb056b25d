"""One dataset check from folder to report: load → measure → check → captions → verdict.

Images are decoded and measured in a small thread pool (Pillow's decoder and OpenCV release
the GIL) with a bounded number in flight, and each bitmap is dropped as soon as its
:class:`~lib_ti.dataset.features.ImageStats` exists: memory does not grow with the image count.
An interrupted job still returns a report of the images finished so far, marked incomplete.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..jobs import Job
from . import checks as C
from .captions_aware import apply_captions, read_captions, read_template
from .features import ClipEmbedder, ImageStats, measure, similarity_matrix
from .loading import ImageSkipped, Skipped, list_files, load_image
from .report import build_report

CLASSICAL = ["HSV colour histograms", "LBP + gradient-orientation texture", "8×8 Lab layout",
             "perceptual hashes (pHash 64-bit, dHash 256-bit, ImageHash)", "OpenCV Haar face boxes",
             "spectral-residual saliency subject boxes"]


@dataclass
class CheckResult:
    report: dict
    thumbs: dict[str, str]  # name → data URI, for HTML and the UI


def _workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(4, n))


def check_folder(
    folder: Union[str, Path],
    *,
    size: int = 512,
    recursive: bool = False,
    clip: Union[None, str, ClipEmbedder] = None,
    template: Optional[str] = None,
    dup_threshold: float = 0.92,
    job: Optional[Job] = None,
    workers: Optional[int] = None,
) -> CheckResult:
    """Check every image in ``folder`` (read-only) and return the report."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"'{folder}' is not a folder")
    job = job or Job()
    embedder = ClipEmbedder(clip) if isinstance(clip, str) and clip.strip() else clip if isinstance(clip, ClipEmbedder) else None
    files = list_files(folder, recursive)
    skipped: list[Skipped] = []
    stats: list[ImageStats] = []

    def work(p: Path):
        rel = str(p.relative_to(folder))
        try:
            li = load_image(p, name=rel, max_side=max(size, 512))
        except ImageSkipped as exc:
            return Skipped(rel, str(exc))
        st = measure(li)
        if embedder is not None:
            st.clip = embedder.embed(li.image)
        return st

    n_workers = workers or _workers()
    job.begin(len(files), "Checking images")
    try:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            window = 2 * n_workers
            pending = []
            it = iter(files)
            while True:
                while len(pending) < window and not job.interrupted:
                    p = next(it, None)
                    if p is None:
                        break
                    pending.append(pool.submit(work, p))
                if not pending:
                    break
                res = pending.pop(0).result()
                (skipped if isinstance(res, Skipped) else stats).append(res)
                job.advance(1, res.name)
    finally:
        job.end()
    interrupted = job.interrupted and len(stats) + len(skipped) < len(files)

    sim = similarity_matrix(stats, use_clip=embedder is not None)
    bg = C.background_matrix(stats)
    zoom = C.zoom_measurements(stats)
    findings = (C.check_basics(stats, skipped, size) + C.check_zoom(stats, zoom) + C.check_background(stats, bg)
                + C.check_clothing_hair(stats, zoom["mode"]) + C.check_duplicates(stats, sim, dup_threshold)
                + C.check_lighting(stats))
    captions = read_captions(folder, [s.name for s in stats])
    template_text = read_template(template)
    shared = apply_captions(findings, captions, template_text)
    features = {
        "kind": "classical+clip" if embedder else "classical",
        "classical": CLASSICAL,
        "clip_model": embedder.name if embedder else None,
        "similarity": "clip" if embedder else "classical",
        "description": ("classical (colour, texture, layout, hashes, Haar faces, saliency)"
                        + (f" + CLIP {embedder.name} for global similarity and near-duplicates" if embedder else "; CLIP off")),
    }
    options = {"size": size, "recursive": recursive, "template": template or None, "dup_threshold": dup_threshold,
               "clip": embedder.name if embedder else None}
    report = build_report(folder=str(folder), options=options, features=features, stats=stats, skipped=skipped,
                          findings=findings, shared=shared, zoom=zoom, sim=sim, bg=bg, captions=captions,
                          interrupted=interrupted, files_total=len(files))
    return CheckResult(report, {s.name: s.thumb_data_uri() for s in stats})
