"""One dataset check from folder to report: load → measure → check → captions → verdict.

Images are decoded and measured in a small pool with a bounded number in flight, and each
bitmap is dropped as soon as its :class:`~lib_ti.dataset.features.ImageStats` exists: memory
does not grow with the image count. Large folders use worker *processes* (started with
``spawn``, never ``fork``, so a host process with a GPU model loaded is not duplicated):
much of the per-image work is small NumPy steps that hold the GIL, so threads would not scale.
Small folders and CLIP runs use threads (no start-up cost; the CLIP model stays in one place).
An interrupted job still returns a report of the images finished so far, marked incomplete.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..core.jobs import Job
from . import checks as C
from .captions_aware import apply_captions, read_captions, read_template, subject_kind
from .faces import load_opencv
from .features import ClipEmbedder, ImageStats, cached_clip_embedder, measure, similarity_matrix
from .loading import ImageSkipped, Skipped, load_image, scan_folder
from .report import build_report

CLASSICAL = ["HSV colour histograms", "LBP + gradient-orientation texture", "8×8 Lab layout",
             "perceptual hashes (pHash 64-bit of the image and its mirror, dHash 256-bit, ImageHash)",
             "ORB keypoints with a RANSAC similarity transform (crops, shifts, mirrors)", "OpenCV Haar face boxes",
             "spectral-residual saliency subject boxes"]


#: From this many files on, worker processes pay for their start-up (about a second).
PROCESS_THRESHOLD = 40


def _init_process() -> None:
    """Worker processes: OpenCV loaded before any work, one OpenCV thread each (the pool is the parallelism)."""
    import cv2

    load_opencv()
    cv2.setNumThreads(1)


def _measure_file(path: str, rel: str, max_side: int, kind: Optional[str] = None,
                  embedder: Optional[ClipEmbedder] = None):
    """Load and measure one file (a module-level function, so a process pool can call it); a skip is returned."""
    try:
        li = load_image(Path(path), name=rel, max_side=max_side)
    except ImageSkipped as exc:
        return Skipped(rel, str(exc))
    st = measure(li, kind)
    if embedder is not None:
        st.clip = embedder.embed(li.image)
    return st


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


def _embedder(clip: Union[None, str, ClipEmbedder]) -> Optional[ClipEmbedder]:
    if isinstance(clip, ClipEmbedder):
        return clip
    return cached_clip_embedder(clip) if isinstance(clip, str) and clip.strip() else None


def measure_files(folder: Path, files: list[Path], *, max_side: int, kind: Optional[str], job: Job,
                  embedder: Optional[ClipEmbedder], workers: int, processes: bool) -> tuple[list[ImageStats], list[Skipped]]:
    """Measure ``files`` in a pool with a bounded number in flight (memory stays flat); stops when ``job`` is interrupted.

    OpenCV is imported here, before any worker starts (see :func:`.faces.load_opencv`).
    """
    load_opencv()
    use_processes = processes and embedder is None and workers > 1 and len(files) >= PROCESS_THRESHOLD
    pool: Executor
    if use_processes:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_process)
    else:
        pool = ThreadPoolExecutor(max_workers=workers)
    stats: list[ImageStats] = []
    skipped: list[Skipped] = []
    job.begin(len(files), "Checking images")
    try:
        with pool:
            pending: list = []
            it = iter(files)
            while True:
                while len(pending) < 2 * workers and not job.interrupted:
                    p = next(it, None)
                    if p is None:
                        break
                    pending.append(pool.submit(_measure_file, str(p), str(p.relative_to(folder)), max_side, kind,
                                               None if use_processes else embedder))
                if not pending:
                    break
                res = pending.pop(0).result()
                (skipped if isinstance(res, Skipped) else stats).append(res)
                job.advance(1, res.name)
    finally:
        job.end()
    return stats, skipped


def run_checks(stats: list[ImageStats], skipped: list[Skipped], *, size: int, sim, dup_threshold: float,
               kind: Optional[str]) -> tuple[list[C.Finding], dict, np.ndarray]:
    """Every check on the measured records: (findings, zoom measurements, background matrix)."""
    bg = C.background_matrix(stats)
    zoom = C.zoom_measurements(stats, kind)
    findings = (C.check_basics(stats, skipped, size) + C.check_zoom(stats, zoom) + C.check_background(stats, bg)
                + C.check_clothing_hair(stats, zoom["mode"]) + C.check_duplicates(stats, sim, dup_threshold)
                + C.check_lighting(stats))
    return findings, zoom, bg


def features_used(embedder: Optional[ClipEmbedder]) -> dict:
    """The report's ``features`` block: which features the similarities stand on."""
    return {
        "kind": "classical+clip" if embedder else "classical",
        "classical": CLASSICAL,
        "clip_model": embedder.name if embedder else None,
        "similarity": "clip" if embedder else "classical",
        "description": ("classical (colour, texture, layout, hashes, keypoints, Haar faces, saliency)"
                        + (f" + CLIP {embedder.name} for global similarity and near-duplicates" if embedder else "; CLIP off")),
    }


def check_folder(
    folder: Union[str, Path],
    *,
    size: int = 512,
    recursive: bool = False,
    clip: Union[None, str, ClipEmbedder] = None,
    template: Optional[str] = None,
    template_is_file: Optional[bool] = None,
    dup_threshold: float = 0.92,
    job: Optional[Job] = None,
    workers: Optional[int] = None,
    processes: bool = True,
) -> CheckResult:
    """Check every image in ``folder`` (read-only) and return the report.

    Captions are read first: the class word they use for the subject ("dog", "teapot", "man")
    steers the measurements (:func:`.captions_aware.subject_kind`).
    ``template`` is a file or the text itself (``template_is_file`` None guesses; see
    :func:`.captions_aware.read_template`). ``processes=False`` keeps all work in this process (the host passes it: spawning workers
    from inside the WebUI would re-import its launcher).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"'{folder}' is not a folder")
    job = job or Job()
    embedder = _embedder(clip)
    listing = scan_folder(folder, recursive)  # link loops, broken links, pipes, folders named like images: skipped
    files = listing.files
    template_text = read_template(template, template_is_file)
    captions = read_captions(folder, [str(p.relative_to(folder)) for p in files])
    kind, kind_word = subject_kind(captions, template_text)
    stats, skipped = measure_files(folder, files, max_side=max(size, 512), kind=kind, job=job, embedder=embedder,
                                   workers=workers or _workers(), processes=processes)
    interrupted = job.interrupted and len(stats) + len(skipped) < len(files)
    skipped = listing.skipped + skipped
    captions = {s.name: captions[s.name] for s in stats if s.name in captions}

    sim = similarity_matrix(stats, use_clip=embedder is not None)
    findings, zoom, bg = run_checks(stats, skipped, size=size, sim=sim, dup_threshold=dup_threshold, kind=kind)
    zoom["subject_kind"] = {"kind": kind, "word": kind_word}
    shared = apply_captions(findings, captions, template_text)
    options = {"size": size, "recursive": recursive, "template": template or None, "dup_threshold": dup_threshold,
               "clip": embedder.name if embedder else None}
    report = build_report(folder=str(folder), options=options, features=features_used(embedder), stats=stats,
                          skipped=skipped, findings=findings, shared=shared, zoom=zoom, sim=sim, bg=bg,
                          captions=captions, interrupted=interrupted, files_total=len(files) + len(listing.skipped))
    return CheckResult(report, {s.name: s.thumb_data_uri() for s in stats})
