"""Gallery thumbnails, made when first shown and cached under the data folder.

Opening a folder must not decode every image (a 1,000-image folder would take a minute), so the
gallery asks only for the page it shows. A thumbnail is keyed by the image's path, size and
modification time, so an edited image gets a fresh one and the user's folder is never written to.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..core.fsutil import atomic_save

SIZE = 256


def thumb_path(image: Path, cache_dir: Path, size: int = SIZE) -> Path:
    st = os.stat(image)
    key = f"{Path(image).resolve()}|{st.st_size}|{st.st_mtime_ns}|{size}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
    return Path(cache_dir) / digest[:2] / f"{digest}.jpg"


def thumbnail(image: Path, cache_dir: Path, size: int = SIZE) -> Path:
    """The cached thumbnail of ``image`` (at most ``size`` px a side), made now if missing.

    Raises ``OSError``/``ValueError`` (from Pillow) for an unreadable image; callers show the name.
    """
    from PIL import Image, ImageOps

    target = thumb_path(image, cache_dir, size)
    if target.exists():
        return target
    with Image.open(image) as im:
        im.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster for photos
        im = ImageOps.exif_transpose(im)
        im.thumbnail((size, size))
        if im.mode not in ("RGB", "L"):
            background = Image.new("RGB", im.size, (255, 255, 255))
            rgba = im.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            im = background
        atomic_save(target, lambda tmp: im.save(tmp, "JPEG", quality=85))
    return target
