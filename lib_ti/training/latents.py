"""Latents cached once per image per run: the VAE encoder never runs inside the step.

Methods, named as in the host:

- ``once``: one random sample of the encoder's distribution, drawn at caching and kept;
- ``deterministic``: the distribution's mean (the host sets ``std = 0``);
- ``random``: a fresh sample per draw; we keep the (scaled) mean and std and draw with the
  run's own generator, so a resumed run draws the same noise.

Horizontal flip is applied to the cached latent (the SD VAE is close to flip-equivariant), so
flipping costs no encoder call either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .dataset import ImageItem, load_pixels


@dataclass
class LatentCache:
    method: str
    #: (N, C, h, w) samples for once/deterministic, or means for random
    latents: Any
    #: (N, C, h, w) scaled std for random, else None
    stds: Optional[Any]
    encoder_calls: int

    def __len__(self) -> int:
        return int(self.latents.shape[0])

    def draw(self, indices: Sequence[int], generator: Any, flip_p: float = 0.0) -> Any:
        """Latents for a batch. Draw order from ``generator``: random-method noise, then flips."""
        import torch

        idx = torch.as_tensor(list(indices), dtype=torch.long)
        x = self.latents[idx.to(self.latents.device)]
        if self.stds is not None:
            noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
            x = x + self.stds[idx.to(self.stds.device)] * noise.to(x.device)
        if flip_p > 0:
            flips = torch.rand(len(indices), generator=generator) < flip_p
            if bool(flips.any()):
                f = flips.to(x.device).view(-1, 1, 1, 1)
                x = torch.where(f, x.flip(-1), x)
        return x

    def mean_latents(self, indices: Sequence[int]) -> Any:
        """Latents without per-draw noise or flips (for the fixed evaluation batch)."""
        import torch

        return self.latents[torch.as_tensor(list(indices), dtype=torch.long).to(self.latents.device)]


def build_cache(
    backend: Any,
    items: Sequence[ImageItem],
    method: str,
    width: int,
    height: int,
    *,
    device: Any = None,
    keep_on: Any = "cpu",
    generator: Any = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] = lambda done, total: None,
    plan: Any = None,
) -> LatentCache:
    """Encode each image exactly once. ``keep_on`` is where the cache lives (the training device or CPU);
    ``generator`` (CPU) draws the "once" samples, so a run's latents depend only on its seed. ``plan`` is the run's
    :class:`~lib_ti.model.precision.PrecisionPlan` (default: the backend's plan for "auto")."""
    import torch

    from ..model.precision import autocast_for

    device = device or backend.device
    plan = plan if plan is not None else backend.precision("auto")
    outs, stds = [], []
    calls = 0
    for i, item in enumerate(items):
        if should_stop():
            raise InterruptedError("Stopped while caching latents; nothing was trained yet.")
        pixels = load_pixels(item.path, width, height).unsqueeze(0).to(device)
        with torch.no_grad(), autocast_for(device, plan):
            dist = backend.encode_images(pixels)
            calls += 1
            if method == "random":
                mean = backend.latent_from_dist(dist, "deterministic").float()
                # scaled std: the same factor that maps the distribution's mean to the latent
                scale = mean.new_tensor(float(getattr(backend.model, "scale_factor", 1.0)))
                std = dist.std.float() * scale
                outs.append(mean.to(keep_on))
                stds.append(std.to(keep_on))
            else:
                outs.append(backend.latent_from_dist(dist, method, generator=generator).float().to(keep_on))
        progress(i + 1, len(items))
    latents = torch.cat(outs, 0)
    return LatentCache(method, latents, torch.cat(stds, 0) if stds else None, calls)
