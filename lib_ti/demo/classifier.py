"""Read a picture of the demo world back into its attributes — colour, shape, size, background — from pixels.

Why plain image analysis and not a trained network: the reader must be trustworthy on its own (a learned classifier
could share the generator's blind spots), fast on CPU, and checkable by eye. The world is drawn from flat colours,
so the background is the border's colour and the object is whatever differs from it. The shape is read in two
steps: an upright triangle is the only shape with most of its area in the bottom half of its bounding box (a quarter
above the middle, against a half for circles and squares), which rounded corners barely change; a circle is told
from a square by which template overlaps the object better inside that box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from . import world

#: a pixel belongs to the object when its colour is this far (RGB distance) from the background's
OBJECT_DISTANCE = 70.0
#: fewer object pixels than this: no object (an empty or washed-out picture)
MIN_OBJECT_PIXELS = 40
#: bounding-box extent separating "small" from "large" (drawn: 18-24 px vs 38-46 px at 64 px)
SIZE_SPLIT_PX = 31
#: share of the object's area in the top half of its bounding box below which it is a triangle: midway between an
#: upright triangle's 0.25 and a circle's or square's 0.5. Why not template overlap for triangles too: generated
#: small triangles come with rounded corners, which pull their overlap toward the circle's template (a model's 176
#: samples: 14 of 24 small triangles read as circles by overlap, all triangles to the eye) but keep their area low
TRIANGLE_TOP_SHARE = 0.375


@dataclass(frozen=True)
class Reading:
    """What a picture shows; ``None`` fields when no object was found."""

    background: str
    colour: Optional[str]
    shape: Optional[str]
    size: Optional[str]

    def matches(self, wanted: Mapping[str, Optional[str]]) -> bool:
        """True when every attribute ``wanted`` names (non-``None``) is what the picture shows."""
        return all(v is None or getattr(self, k) == v for k, v in wanted.items())


def _nearest(rgb: np.ndarray, table: Mapping[str, tuple[int, int, int]]) -> str:
    names = list(table)
    d = [float(np.linalg.norm(rgb - np.array(table[n], np.float32))) for n in names]
    return names[int(np.argmin(d))]


def _templates(h: int, w: int) -> dict[str, np.ndarray]:
    """Circle (the ellipse inscribed in the box) and square (the box) masks of an ``h`` × ``w`` box."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    return {"circle": ((ys - cy) / (h / 2)) ** 2 + ((xs - cx) / (w / 2)) ** 2 <= 1.0, "square": np.ones((h, w), bool)}


def top_share(box: np.ndarray) -> float:
    """Share of the object pixels of ``box`` (a boolean mask cropped to its bounding box) in the box's top half;
    a middle row of an odd-height box counts half."""
    rows = box.sum(axis=1).astype(np.float64)
    h = len(rows)
    top = rows[:h // 2].sum() + (rows[h // 2] / 2 if h % 2 else 0.0)
    return float(top / rows.sum())


def _shape(box: np.ndarray) -> str:
    if top_share(box) < TRIANGLE_TOP_SHARE:
        return "triangle"
    ious = {name: float((box & t).sum()) / float((box | t).sum()) for name, t in _templates(*box.shape).items()}
    return max(ious, key=ious.get)


def read(image: Any) -> Reading:
    """The attributes of one picture (PIL image or ``(H, W, 3)`` uint8 array, any size; read at 64 px)."""
    from PIL import Image

    if isinstance(image, Image.Image):
        if image.size != (world.SIZE_PX, world.SIZE_PX):
            image = image.convert("RGB").resize((world.SIZE_PX, world.SIZE_PX), Image.BILINEAR)
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image, np.float32)[..., :3]
    border = np.concatenate([arr[:2].reshape(-1, 3), arr[-2:].reshape(-1, 3), arr[:, :2].reshape(-1, 3),
                             arr[:, -2:].reshape(-1, 3)])
    bg_rgb = np.median(border, axis=0)
    background = _nearest(bg_rgb, world.BACKGROUNDS)
    mask = np.linalg.norm(arr - bg_rgb, axis=-1) > OBJECT_DISTANCE
    if mask.sum() < MIN_OBJECT_PIXELS:
        return Reading(background, None, None, None)
    colour = _nearest(np.median(arr[mask], axis=0), world.COLOURS)
    rows, cols = np.where(mask.any(axis=1))[0], np.where(mask.any(axis=0))[0]
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    size = "large" if max(y1 - y0, x1 - x0) > SIZE_SPLIT_PX else "small"
    return Reading(background, colour, _shape(mask[y0:y1, x0:x1]), size)


def score(images: Sequence[Any], wanted: Mapping[str, Optional[str]]) -> float:
    """Fraction of ``images`` that show everything ``wanted`` names."""
    if not images:
        return 0.0
    return sum(read(im).matches(wanted) for im in images) / len(images)


def share(images: Sequence[Any], attribute: str, value: str) -> float:
    """Fraction of ``images`` whose ``attribute`` reads as ``value`` (e.g. how often a background leaks)."""
    if not images:
        return 0.0
    return sum(getattr(read(im), attribute) == value for im in images) / len(images)
