"""Safe image loading: every format Pillow reads, decoded small, never modifying the source.

A training folder collected from phones and the web holds CMYK JPEGs, palette PNGs with
transparency, 16-bit scans, rotated phone photos, half-downloaded files and the odd text
file. Each is either turned into a plain RGB image or listed with a reason and skipped,
so one bad file never stops a check.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

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


@dataclass
class Listing:
    """A folder's candidate image files, and what was found but cannot be one (with the reason)."""

    files: list[Path]
    skipped: list[Skipped]


def _image_suffixes() -> frozenset[str]:
    """Extensions Pillow reads (``.jpg``, ``.png``, ...): a folder or a pipe named so is reported, not ignored."""
    Image.init()
    return frozenset(Image.registered_extensions())


def _special_kind(mode: int) -> str:
    """Plain words for a file that is not a regular file or a folder."""
    for test, word in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return "not a regular file"


def _link_problem(path: Path) -> tuple[Optional[os.stat_result], Optional[str]]:
    """(the link target's stat, None), or (None, why the link leads nowhere usable) - never following a loop."""
    try:
        return os.stat(path), None
    except OSError as exc:
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        if exc.errno == errno.ELOOP:
            return None, f"link loop: '{target}' leads back through links to itself; not followed"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, f"broken link: it points to '{target}', which does not exist"
        return None, f"cannot follow the link to '{target}' ({exc.strerror or exc})"


def _folder_link_reason(link: Path, ancestors: tuple[Path, ...], folder: Path) -> str:
    """Why a link to a folder is not followed in a recursive listing: a loop when it points to a folder above it."""
    real = link.resolve()
    above = next((a for a in ancestors if a.resolve() == real), None)
    if above is None:
        return "link to a folder; not followed (sub-folders behind links are not read)"
    return f"link loop: it points back to '{above.relative_to(folder).as_posix()}', a folder it is in; not followed"


def scan_folder(folder: Path, recursive: bool = False) -> Listing:
    """Candidate files of ``folder`` in a stable order, and every entry that looks like part of the set but cannot
    be read as an image, with the reason: link loops, broken links, pipes and devices (never opened: reading a
    FIFO would hang), folders named like images. Hidden entries, caption sidecars and photos set aside (in
    ``_excluded/``, see :mod:`.exclude`) are left out silently. With ``recursive``, sub-folders are read but links
    to folders are not followed (each is listed as skipped; one pointing back to a folder above it as a loop).
    """
    folder = Path(folder)
    suffixes = _image_suffixes()
    files: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[tuple[int, int]] = set()

    def walk(d: Path, ancestors: tuple[Path, ...]) -> None:
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen:  # a loop without links (a bind mount): read each folder once
                skipped.append(Skipped(str(d.relative_to(folder)), "folder already read (it loops back); not again"))
                return
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            why = f"cannot read the folder ({exc.strerror or exc})"
            skipped.append(Skipped(str(d.relative_to(folder)) or ".", why))
            return
        for e in entries:
            if e.name.startswith(".") or e.name == EXCLUDED_DIR:
                continue
            p = Path(e.path)
            rel = str(p.relative_to(folder))
            suffix = p.suffix.lower()
            try:
                own = os.lstat(p)
            except OSError:  # removed while listing
                continue
            st, problem = _link_problem(p) if stat.S_ISLNK(own.st_mode) else (own, None)
            if suffix in SIDECAR_EXTS and not (st and stat.S_ISDIR(st.st_mode) and recursive):
                continue  # captions and other sidecars are not images; their readers handle their own problems
            if problem:
                skipped.append(Skipped(rel, problem))
            elif stat.S_ISREG(st.st_mode):
                files.append(p)
            elif stat.S_ISDIR(st.st_mode):
                is_link = stat.S_ISLNK(own.st_mode)
                if recursive and not is_link:
                    walk(p, ancestors + (d,))
                elif recursive:
                    skipped.append(Skipped(rel, _folder_link_reason(p, ancestors + (d,), folder)))
                elif suffix in suffixes:
                    skipped.append(Skipped(rel, "a folder named like an image, not an image file"
                                                + ("" if is_link else "; include sub-folders to check what is inside")))
            else:
                skipped.append(Skipped(rel, f"{_special_kind(st.st_mode)}, not an image file; not opened"))

    walk(folder, ())
    files.sort(key=lambda p: str(p.relative_to(folder)).lower())
    skipped.sort(key=lambda s: s.name.lower())
    return Listing(files, skipped)


def list_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Candidate files of ``folder`` (see :func:`scan_folder`, which also says what was left out and why)."""
    return scan_folder(folder, recursive).files


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file, else raise :class:`ImageSkipped` with the reason.

    Opened without blocking and checked on the open descriptor: a FIFO (or a file swapped for one after the
    listing) is refused instead of hanging the check on a read that never ends. OSError passes through.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    fh = open(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageSkipped(f"{_special_kind(st.st_mode)}, not an image file; not read"
                               if not stat.S_ISDIR(st.st_mode) else "a folder, not an image file")
    except BaseException:
        fh.close()
        raise
    return fh


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
        fh = open_regular(path)
    except OSError as exc:
        raise ImageSkipped(f"cannot read the file ({exc.strerror or exc})") from exc
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise ImageSkipped("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with fh:
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

    Files that cannot be used are appended to ``skipped`` with their reason (with ``files`` not given, also what
    the listing found but could not use: see :func:`scan_folder`).
    """
    folder = Path(folder)
    if files is None:
        listing = scan_folder(folder, recursive)
        files = listing.files
        if skipped is not None:
            skipped.extend(listing.skipped)
    for p in files:
        rel = str(p.relative_to(folder)) if p.is_relative_to(folder) else p.name
        try:
            yield load_image(p, name=rel, max_side=max_side, matte=matte)
        except ImageSkipped as exc:
            if skipped is not None:
                skipped.append(Skipped(rel, str(exc)))

