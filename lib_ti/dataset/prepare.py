"""Prepare a training folder from source photos, like the host's former "Preprocess images" step.

Each source is decoded upright (EXIF), cropped to a square around the face (or the centre),
resized to ``size``×``size`` and written as PNG to a *separate* folder, optionally with a
mirrored copy; a sidecar caption ``name.txt`` is carried along to each output. Writes are
atomic, sources are never written, and an interrupted run keeps the images already written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ..core.fsutil import atomic_save, atomic_write_text
from ..core.jobs import Job
from .faces import main_face
from .loading import ImageSkipped, Skipped, load_image, scan_folder

CROPS = ("face", "centre")


@dataclass
class PrepareResult:
    written: list[Path] = field(default_factory=list)
    captions: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    faces_found: int = 0
    interrupted: bool = False


def crop_box(width: int, height: int, face: Optional[tuple[float, float, float, float]]) -> tuple[int, int, int, int]:
    """The largest square in the frame; with a face, centred on it horizontally and with the face in
    the upper part (eyes about a third from the top), clamped to the frame."""
    side = min(width, height)
    if face is None:
        x0, y0 = (width - side) // 2, (height - side) // 2
    else:
        fx, fy, fw, fh = face
        cx = (fx + fw / 2) * width
        cy = (fy + fh / 2) * height
        x0 = int(round(cx - side / 2))
        y0 = int(round(cy - side * 0.38))
        x0 = min(max(0, x0), width - side)
        y0 = min(max(0, y0), height - side)
    return x0, y0, x0 + side, y0 + side


def prepare_folder(
    src: Path, dst: Path, *, size: int = 512, crop: str = "face", flip: bool = False, recursive: bool = False,
    job: Optional[Job] = None,
) -> PrepareResult:
    """Write ``size``² crops of every image in ``src`` to ``dst`` (which must be another folder)."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not '{crop}'")
    if size < 64 or size > 4096:
        raise ValueError(f"size {size} is outside 64..4096")
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if not src.is_dir():
        raise ValueError(f"source '{src}' is not a folder")
    if dst == src or src in dst.parents:
        raise ValueError(f"output folder '{dst}' must not be the source folder or inside it")
    job = job or Job()
    listing = scan_folder(src, recursive)  # link loops, broken links, pipes, folders named like images: skipped
    files = listing.files
    sources = {p.resolve() for p in files}
    res = PrepareResult(skipped=list(listing.skipped))
    used: set[str] = set()
    for p in job.iterate(files, desc="Preparing"):
        rel = p.relative_to(src)
        try:
            li = load_image(p, name=str(rel), min_side=max(size, 512))  # faces are found at ≥ 512 px, as in the check
        except ImageSkipped as exc:
            res.skipped.append(Skipped(str(rel), str(exc)))
            continue
        im = li.image
        face = None
        if crop == "face":
            probe = im.copy()
            probe.thumbnail((512, 512))
            box = main_face(np.asarray(probe.convert("L")))
            if box is not None:
                face = (box.x, box.y, box.w, box.h)
                res.faces_found += 1
        out = im.crop(crop_box(im.width, im.height, face)).resize((size, size), Image.LANCZOS)
        stem = "_".join(rel.with_suffix("").parts)
        if stem in used:
            stem = f"{stem}_{p.suffix.lstrip('.').lower()}"
        used.add(stem)
        caption = None
        cap = p.with_suffix(".txt")
        if cap.is_file():
            caption = cap.read_text(encoding="utf-8", errors="replace")
        variants = [(stem, out)] + ([(f"{stem}_flipped", out.transpose(Image.Transpose.FLIP_LEFT_RIGHT))] if flip else [])
        taken = [f"{n}{ext}" for n, _ in variants for ext in (".png", ".txt") if os.path.lexists(dst / f"{n}{ext}")]
        if taken:  # never replace what is already in the output folder (an earlier run, the user's own file)
            res.skipped.append(Skipped(str(rel), f"{', '.join(taken)} already in the output folder; not replaced"))
            continue
        for name, img in variants:
            target = dst / f"{name}.png"
            if target.resolve() in sources:  # belt and braces: never over a source
                raise ValueError(f"refusing to overwrite source '{target}'")
            atomic_save(target, lambda tmp, img=img: img.save(tmp, format="PNG"))
            res.written.append(target)
            if caption is not None:
                res.captions.append(atomic_write_text(dst / f"{name}.txt", caption))
    res.interrupted = job.interrupted
    return res
