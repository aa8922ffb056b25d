"""Safe image loading: every format Pillow reads, decoded small, never modifying the source.

A training folder collected from phones and the web holds CMYK JPEGs, palette PNGs with
transparency, 16-bit scans, rotated phone photos, half-downloaded files and the odd text
file. Each is either turned into a plain RGB image or listed with a reason and skipped,
so one bad file never stops a check.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Sidecar files that belong to a dataset but are not images: not reported as skipped.
SIDECAR_EXTS = frozenset({".txt", ".caption", ".json", ".yaml", ".yml", ".md", ".csv", ".npz", ".pt", ".safetensors"})
#: Larger images are refused before decoding (a 100-megapixel photo is legitimate; 200 is not a photo).
DEFAULT_MAX_PIXELS = 200_000_000
#: Where set-aside photos go (see :mod:`.exclude`); never listed as part of the set.
EXCLUDED_DIR = "_excluded"
#: EXIF orientations that swap width and height.
_TRANSPOSED = {5, 6, 7, 8}


@dataclass
class Skipped:
    """A file that was not used, and why (shown to the user as is)."""

    name: str
    reason: str


@dataclass
class LoadedImage:
    """One decoded image.

    Attributes:
        name: file name relative to the checked folder (how reports refer to it).
        path: absolute source path.
        image: RGB image, downscaled to at most the requested side.
        size: the source's size after EXIF orientation (what training would see).
        format: Pillow format name of the source (JPEG, PNG, ...).
        mode: the source's Pillow mode before conversion (CMYK, P, I;16, ...).
    """

    name: str
    path: Path
    image: Image.Image
    size: tuple[int, int]
    format: str
    mode: str


class ImageSkipped(Exception):
    """Raised by :func:`load_image` with the plain-language reason."""


def list_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Candidate files of ``folder`` in a stable order; hidden files, caption sidecars and photos set aside
    (in ``_excluded/``, see :mod:`.exclude`) left out."""
    folder = Path(folder)
    it = folder.rglob("*") if recursive else folder.iterdir()
    out = []
    for p in it:
        rel = p.relative_to(folder)
        if any(part.startswith(".") or part == EXCLUDED_DIR for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() not in SIDECAR_EXTS:
            out.append(p)
    return sorted(out, key=lambda p: str(p.relative_to(folder)).lower())


def _to_rgb(im: Image.Image, matte: tuple[int, int, int]) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited over ``matte``."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        # 16-bit sources store 0..65535; 32-bit ints and floats are scaled by their own range.
        hi = 65535.0 if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255) else 255.0
        if mode == "F":
            lo, hi2 = float(arr.min(initial=0)), float(arr.max(initial=1))
            arr = (arr - lo) / max(hi2 - lo, 1e-9) * 255.0
        else:
            arr = arr / hi * 255.0
        im = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa") or (mode in ("L", "RGB") and "transparency" in im.info):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        bg = Image.new("RGBA", im.size, (*matte, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def _exif_orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not lose the picture
        return 1


def _refuse_huge(w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise ImageSkipped(f"huge image: {w}×{h} = {w * h / 1e6:.0f} megapixels, above the limit of "
                           f"{max_pixels / 1e6:.0f} megapixels")


def _reduce(im: Image.Image, max_side: int) -> Image.Image:
    """Integer box-reduce first (cheap), so the later bilinear thumbnail works on at most twice the target."""
    factor = max(1, max(im.size) // (2 * max_side))
    return im.reduce(factor) if factor > 1 and im.mode not in ("P", "1") else im


def _skip_reason(exc: BaseException) -> ImageSkipped:
    """The plain-language reason for a decoding failure."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageSkipped(f"huge image refused by Pillow's decompression-bomb guard ({exc})")
    if isinstance(exc, UnidentifiedImageError):
        return ImageSkipped("not an image Pillow can read")
    text = str(exc) or type(exc).__name__
    kind = "truncated file" if "truncat" in text.lower() else "corrupt image data"
    return ImageSkipped(f"{kind} ({text})")


def _decode(fh, *, want: Optional[int], max_side: Optional[int], matte: tuple[int, int, int],
            max_pixels: int) -> tuple[Image.Image, tuple[int, int], str, str]:
    """(RGB upright image, source size after orientation, format, source mode) from an open file."""
    with Image.open(fh) as im:
        fmt, src_mode = im.format or "?", im.mode
        w, h = im.size
        _refuse_huge(w, h, max_pixels)
        if want and fmt == "JPEG" and src_mode in ("RGB", "L", "CMYK", "YCbCr"):
            # draft keeps both sides ≥ the request: the shorter side stays ≥ min_side
            im.draft("RGB" if src_mode != "L" else "L", (want, want))
        im.load()  # before getexif(): PNG's getexif loads quietly and would hide a broken stream
        orientation = _exif_orientation(im)
        size = (h, w) if orientation in _TRANSPOSED else (w, h)
        out = _to_rgb(_reduce(im, max_side) if max_side else im, matte)
        if orientation != 1:
            out = _apply_orientation(out, orientation)
        if max_side and max(out.size) > max_side:
            out.thumbnail((max_side, max_side), Image.BILINEAR)
        return out.copy(), size, fmt, src_mode


def load_image(
    path: Path,
    *,
    name: Optional[str] = None,
    max_side: Optional[int] = None,
    min_side: Optional[int] = None,
    matte: tuple[int, int, int] = (255, 255, 255),
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Decode ``path`` to RGB, upright, at most ``max_side`` pixels on its longer side.

    JPEGs are decoded at reduced scale (``Image.draft``), so a 12-megapixel photo costs
    about as much as a 1-megapixel one; memory never holds the full-size bitmap.
    Raises :class:`ImageSkipped` with the reason for empty, non-image, huge, corrupt
    or truncated files. The source file is opened read-only and never written.
    ``min_side`` (for cropping) instead keeps the shorter side at least that long while decoding small.
    """
    path = Path(path)
    name = name or path.name
    try:
        nbytes = path.stat().st_size
    except OSError as exc:
        raise ImageSkipped(f"cannot read the file ({exc.strerror or exc})") from exc
    if nbytes == 0:
        raise ImageSkipped("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(path, "rb") as fh:
                out, size, fmt, src_mode = _decode(fh, want=max_side or min_side, max_side=max_side, matte=matte,
                                                   max_pixels=max_pixels)
    except ImageSkipped:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, UnidentifiedImageError, OSError, SyntaxError,
            ValueError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise _skip_reason(exc) from exc
    return LoadedImage(name=name, path=path, image=out, size=size, format=fmt, mode=src_mode)


_ORIENT_OPS = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    """Same transposes as ``ImageOps.exif_transpose`` (applied after our mode conversion)."""
    for op in _ORIENT_OPS.get(orientation, ()):
        im = im.transpose(op)
    return im


def iter_images(
    folder: Path,
    *,
    recursive: bool = False,
    max_side: Optional[int] = 512,
    matte: tuple[int, int, int] = (255, 255, 255),
    skipped: Optional[list[Skipped]] = None,
    files: Optional[Sequence[Path]] = None,
) -> Iterator[LoadedImage]:
    """Yield loadable images of ``folder`` one at a time (streaming: memory does not grow with the count).

    Files that cannot be used are appended to ``skipped`` with their reason.
    """
    folder = Path(folder)
    for p in files if files is not None else list_files(folder, recursive):
        rel = str(p.relative_to(folder)) if p.is_relative_to(folder) else p.name
        try:
            yield load_image(p, name=rel, max_side=max_side, matte=matte)
        except ImageSkipped as exc:
            if skipped is not None:
                skipped.append(Skipped(rel, str(exc)))

