"""Score a model of the demo world: sample prompts, read the pictures back with the classifier.

Used by the model's build note (the quality bar: the classifier reads most samples as what the prompt asked for),
by ``bench/learning.py`` (concept recovery, leaks, bracket weight) and by the tests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from . import DEMO_SIZE, classifier, world

#: what the classifier reads from a picture of the world
ATTRIBUTES = ("colour", "shape", "size", "background")

#: sampler settings of every demo evaluation (the Train tab's preview defaults, at the demo size)
SAMPLE_ARGS = dict(sampler="Euler a", steps=20, cfg_scale=5.0, width=DEMO_SIZE, height=DEMO_SIZE)


@dataclass(frozen=True)
class Probe:
    """A prompt and the attributes its pictures must show."""

    prompt: str
    wanted: Mapping[str, Optional[str]]


def base_probes(count: int, seed: int = 0) -> list[Probe]:
    """``count`` fully described prompts of scenes the base model was trained on (never :data:`world.HELD_BACK`)."""
    rng = random.Random(seed)
    scenes = world.all_scenes()
    rng.shuffle(scenes)
    return [Probe(world.describe(s.shape, colour=s.colour, size=s.size, background=s.background),
                  dict(colour=s.colour, shape=s.shape, size=s.size, background=s.background))
            for s in scenes[:count]]


def sample(backend: Any, prompts: Sequence[str], *, seed: int = 1, embeddings: Optional[Mapping[str, Any]] = None,
           batch: int = 16) -> list:
    """Pictures for ``prompts`` (one seed per picture, ``seed + i``), in batches to bound memory."""
    from lib_ti.model.sampling import sample_images

    out: list = []
    for i in range(0, len(prompts), batch):
        out += sample_images(backend, list(prompts[i:i + batch]), embeddings=embeddings, seed=seed + i,
                             **SAMPLE_ARGS)
    return out


def probe_score(backend: Any, probes: Sequence[Probe], per_probe: int = 1, *, seed: int = 1,
                embeddings: Optional[Mapping[str, Any]] = None) -> float:
    """Fraction of samples whose reading matches their probe's wanted attributes."""
    prompts = [p.prompt for p in probes for _ in range(per_probe)]
    wanted = [p.wanted for p in probes for _ in range(per_probe)]
    images = sample(backend, prompts, seed=seed, embeddings=embeddings)
    return sum(classifier.read(im).matches(w) for im, w in zip(images, wanted)) / max(1, len(images))


def vae_round_trip(vae: Any, count: int = 48, seed: int = 123) -> dict[str, float]:
    """How often the classifier reads each attribute right after ``vae`` encodes and decodes drawn pictures.

    Why: a diffusion model can only draw what its VAE can decode. This is the VAE's quality check in the build (it
    trains until every attribute reads back at its target) and the first thing to look at when samples look wrong.
    Returns per-attribute fractions and ``"all"`` (every attribute right), on ``count`` fresh pictures.
    """
    import numpy as np
    import torch

    pairs = list(world.samples(count, seed))
    x = torch.from_numpy(np.stack([img for _, img in pairs])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        rec = vae.decode(vae.encode(x).mode())
    arr = ((rec.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    readings = [classifier.read(a) for a in arr]
    return attribute_shares(readings, [{a: getattr(s, a) for a in ATTRIBUTES} for s, _ in pairs])


def attribute_shares(readings: Sequence[Any], wanted: Sequence[Mapping[str, Optional[str]]]) -> dict[str, float]:
    """Per attribute, the share of ``readings`` that show the ``wanted`` value, and ``"all"``: the share right on
    everything wanted. One scoring for the VAE's round trip and the build's sample checks."""
    n = max(1, len(readings))
    out = {a: sum(getattr(r, a) == w.get(a) for r, w in zip(readings, wanted)) / n for a in ATTRIBUTES}
    out["all"] = sum(r.matches(w) for r, w in zip(readings, wanted)) / n
    return out
