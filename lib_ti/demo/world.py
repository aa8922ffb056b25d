"""A seeded synthetic world — coloured shapes of two sizes on plain backgrounds — drawn at 64 px with captions.

Why a drawn world: TI Lab needs a model whose outputs can be *checked* (did the embedding capture the concept?),
and that a newcomer can train on without downloading anything. Every picture here is fully described by four
attributes, so a few lines of image analysis (:mod:`lib_ti.demo.classifier`) can read a generated picture back
and score it against the prompt. Captions use plain English words the real CLIP tokenizer already knows.

The base model never sees :data:`HELD_BACK` (red triangles): it is the hard concept the learning benchmark teaches
through Textual Inversion (the bundled example set teaches a pair the model has seen, see
:data:`lib_ti.demo.examples.EXAMPLE_CONCEPT`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

SIZE_PX = 64
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (235, 210, 40),
}
SHAPES = ("circle", "square", "triangle")
#: object sizes ("zoom"): the object's extent in pixels at 64 px
SIZES: dict[str, tuple[int, int]] = {"small": (18, 24), "large": (38, 46)}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (240, 240, 240), "black": (20, 20, 20), "gray": (128, 128, 128), "brown": (120, 80, 45),
}
#: the colour/shape combination the base model never sees; TI learns it under a new token
HELD_BACK = ("red", "triangle")


@dataclass(frozen=True)
class Scene:
    """One picture's attributes; ``None`` in a caption means "not named" (the prompt left it open)."""

    colour: str
    shape: str
    size: str
    background: str

    def caption(self, rng: Optional[random.Random] = None) -> str:
        """A caption naming what is drawn; with ``rng``, some attributes are left out at random.

        Leaving attributes out teaches the model sensible defaults for short prompts such as
        ``a red circle``, which the Train tab's previews and the benchmark use.
        """
        size = self.size if rng is None or rng.random() < 0.7 else None
        bg = self.background if rng is None or rng.random() < 0.8 else None
        colour = self.colour if rng is None or rng.random() < 0.92 else None
        return describe(self.shape, colour=colour, size=size, background=bg)


def describe(subject: str, *, colour: Optional[str] = None, size: Optional[str] = None,
             background: Optional[str] = None, photo: bool = True) -> str:
    """``a photo of a large red circle on a white background`` — the one caption grammar of the world."""
    words = " ".join(w for w in (size, colour, subject) if w)
    text = f"a photo of a {words}" if photo else f"a {words}"
    if background:
        text += f" on a {background} background"
    return text


def all_scenes(*, include_held_back: bool = False) -> list[Scene]:
    """Every attribute combination, without :data:`HELD_BACK` unless asked."""
    return [Scene(c, s, z, b) for c in COLOURS for s in SHAPES for z in SIZES for b in BACKGROUNDS
            if include_held_back or (c, s) != HELD_BACK]


def _shape_mask(shape: str, cx: float, cy: float, extent: float, n: int = SIZE_PX) -> np.ndarray:
    """Coverage (0..1) of ``shape`` centred at (cx, cy), ``extent`` pixels wide and tall, per pixel of an n×n image.

    Anti-aliased by 4×4 supersampling, computed only inside the shape's box (drawing is most of a test's time).
    """
    ss = 4
    half = extent / 2
    x0, y0 = max(0, int(cx - half) - 1), max(0, int(cy - half) - 1)
    x1, y1 = min(n, int(cx + half) + 2), min(n, int(cy + half) + 2)
    ys, xs = np.mgrid[y0 * ss:y1 * ss, x0 * ss:x1 * ss].astype(np.float32)
    dx, dy = xs / ss - cx, ys / ss - cy
    if shape == "circle":
        inside = dx * dx + dy * dy <= half * half
    elif shape == "square":
        inside = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    elif shape == "triangle":  # upright, base at the bottom
        t = (dy + half) / extent  # 0 at apex, 1 at base
        inside = (t >= 0) & (t <= 1) & (np.abs(dx) <= t * half)
    else:
        raise ValueError(f"unknown shape {shape!r}; the world has {', '.join(SHAPES)}")
    out = np.zeros((n, n), np.float32)
    out[y0:y1, x0:x1] = inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    return out


def draw(scene: Scene, rng: random.Random) -> np.ndarray:
    """The scene as an ``(64, 64, 3)`` uint8 array; position, exact size and colours jitter with ``rng``."""
    lo, hi = SIZES[scene.size]
    extent = rng.uniform(lo, hi)
    margin = extent / 2 + 2
    cx = rng.uniform(margin, SIZE_PX - margin)
    cy = rng.uniform(margin, SIZE_PX - margin)
    alpha = _shape_mask(scene.shape, cx, cy, extent)[..., None]
    jitter = lambda rgb: np.clip(np.array(rgb, np.float32) + rng.uniform(-12, 12), 0, 255)  # noqa: E731
    bg = jitter(BACKGROUNDS[scene.background])
    fg = jitter(COLOURS[scene.colour])
    img = bg * (1 - alpha) + fg * alpha
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def samples(count: int, seed: int, *, include_held_back: bool = False,
            scenes: Optional[list[Scene]] = None) -> Iterator[tuple[Scene, np.ndarray]]:
    """``count`` seeded ``(scene, image)`` pairs, drawn uniformly from ``scenes`` (default: :func:`all_scenes`)."""
    rng = random.Random(seed)
    pool = scenes if scenes is not None else all_scenes(include_held_back=include_held_back)
    for _ in range(count):
        scene = rng.choice(pool)
        yield scene, draw(scene, rng)
