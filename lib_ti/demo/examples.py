"""Write training sets of the demo world to folders: the bundled example set and the benchmark's sets.

A set is images plus ``.txt`` captions in TI Lab's usual form: the caption describes everything *except* the
concept (the template adds ``[name]``), e.g. ``large, on a gray background``. Sets that all share one background or
one size are how the benchmark measures leaking — and whether the Dataset check flags them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterable, Optional

from . import world


#: the bundled example set's concept: a pair the demo model was trained on, so it can draw it and a newcomer's first
#: run visibly learns it under a new token. The held-back pair (:data:`world.HELD_BACK`, never seen) is the
#: benchmark's harder case: one vector does not learn it on this model (4 vectors do, about half the time)
EXAMPLE_CONCEPT = ("yellow", "square")
#: pictures in the bundled example set (one per size and background)
EXAMPLE_COUNT = 8


def concept_scenes(*, backgrounds: Optional[Iterable[str]] = None, sizes: Optional[Iterable[str]] = None,
                   concept: tuple[str, str] = world.HELD_BACK) -> list[world.Scene]:
    """Scenes of ``concept`` (colour, shape) on the given backgrounds and sizes (default: all)."""
    colour, shape = concept
    return [world.Scene(colour, shape, z, b) for b in (backgrounds or world.BACKGROUNDS)
            for z in (sizes or world.SIZES)]


def filewords(scene: world.Scene) -> str:
    """The caption of one image: what is *not* the concept (its size and its background)."""
    return f"{scene.size}, on a {scene.background} background"


def write_set(folder: Path, scenes: list[world.Scene], count: int, seed: int, *, captions: bool = True) -> Path:
    """``count`` images cycling through ``scenes`` (positions and exact sizes vary with ``seed``), with captions.

    ``captions=False`` writes images only: a set whose shared background is named in its captions is, rightly,
    judged milder by the Dataset check, so the benchmark's leak experiments use uncaptioned sets.
    """
    from PIL import Image

    from lib_ti.core.fsutil import atomic_save, atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        scene = scenes[i % len(scenes)]
        img = Image.fromarray(world.draw(scene, rng))
        stem = f"{i:02d}-{scene.size}-{scene.background}"
        atomic_save(folder / f"{stem}.png", lambda tmp: img.save(tmp, format="PNG"))
        if captions:
            atomic_write_text(folder / f"{stem}.txt", filewords(scene) + "\n")
    return folder


def write_example_set(folder: Path) -> Path:
    """The bundled example set (``lib_ti/demo/example_set``): :data:`EXAMPLE_CONCEPT` on every background and size."""
    return write_set(folder, concept_scenes(concept=EXAMPLE_CONCEPT), EXAMPLE_COUNT, seed=0)
