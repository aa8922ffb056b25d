"""Preview sampler: k-diffusion samplers with classifier-free guidance on the frozen model.

Our own sampler instead of the host's txt2img, because the host's conditioning cache does not
key on embedding values and can return stale previews. The image it makes is the image the host's
txt2img makes with the same embedding, seed, sampler, steps and size: the same sigmas, the same
cond/uncond batch, and the same noise. The host draws noise per image (:class:`ImageNoise` here,
the host's own ``modules.rng.ImageRNG`` inside the host through ``SDBackend.image_rng``): image
``i`` owns a generator seeded with ``seed + i``; its first draw is the starting latent and every
later draw (an ancestral sampler's per-step noise) continues the same generator, re-seeded with
``seed + eta_noise_seed_delta`` after the first draw when that host option is set.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

#: The preview samplers, in menu order; the training configuration, the sweep and the UI read this list.
SAMPLERS = ("Euler a", "DPM++ 2M Karras")
DEFAULT_SAMPLER = SAMPLERS[0]


class ImageNoise:
    """The host's per-image noise streams (``modules.rng.ImageRNG`` with ``randn_source`` "CPU", no subseeds).

    ``next()`` returns a (B, *shape) batch: the first call the starting noise, later calls the per-step noise.
    """

    def __init__(self, shape: Sequence[int], seeds: Sequence[int], eta_noise_seed_delta: int = 0,
                 device: Any = "cpu") -> None:
        import torch

        self.shape = tuple(int(s) for s in shape)
        self.seeds = [int(s) for s in seeds]
        self.delta = int(eta_noise_seed_delta or 0)
        self.device = device
        self.generators = [torch.Generator().manual_seed(s) for s in self.seeds]
        self.first = True

    def next(self) -> Any:
        import torch

        xs = [torch.randn(self.shape, generator=g) for g in self.generators]
        if self.first:
            self.first = False
            if self.delta:
                self.generators = [torch.Generator().manual_seed(s + self.delta) for s in self.seeds]
        return torch.stack(xs).to(self.device)


#: ``(shape, seeds) -> object with next()``: how a backend draws noise (the host passes its own ``ImageRNG``).
NoiseFactory = Callable[[Sequence[int], Sequence[int]], Any]


class _CFGDenoiser:
    """``uncond + scale * (cond - uncond)``; one batched call when both conditionings have the same length."""

    def __init__(self, denoiser: Any, cond: Any, uncond: Any, scale: float) -> None:
        self.denoiser, self.cond, self.uncond, self.scale = denoiser, cond, uncond, scale

    def __call__(self, x: Any, sigma: Any) -> Any:
        import torch

        if self.scale == 1.0:
            return self.denoiser(x, sigma, cond=self.cond)
        if self.cond.shape[1] == self.uncond.shape[1]:  # the host's batch order: conds first, then unconds
            out = self.denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]),
                                cond=torch.cat([self.cond, self.uncond]))
            cond, uncond = out.chunk(2)
        else:  # prompts of different 75-token chunk counts: two calls
            uncond = self.denoiser(x, sigma, cond=self.uncond)
            cond = self.denoiser(x, sigma, cond=self.cond)
        return uncond + (cond - uncond) * self.scale


def make_denoiser(backend: Any) -> Any:
    """k-diffusion wrapper for the backend's parameterisation (eps: SD1/SD2-base, v: SD2-768).

    ``quantize=False`` as the host's txt2img: its default ``enable_quantization`` is off, so the UNet sees the
    fractional timestep of each sigma (rounding it changed SDXL previews against the host's image in the real host)."""
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import k_diffusion as K

    cls = K.external.CompVisVDenoiser if backend.parameterization == "v" else K.external.CompVisDenoiser
    return cls(backend, quantize=False).to(backend.device)


def sigmas_for(denoiser: Any, sampler: str, steps: int) -> Any:
    import k_diffusion as K

    if sampler == "DPM++ 2M Karras":
        return K.sampling.get_sigmas_karras(steps, float(denoiser.sigma_min), float(denoiser.sigma_max),
                                            device=denoiser.sigmas.device)
    return denoiser.get_sigmas(steps)


def sample_latents(
    backend: Any,
    cond: Any,
    uncond: Any,
    *,
    sampler: str = DEFAULT_SAMPLER,
    steps: int = 20,
    cfg_scale: float = 7.0,
    seed: int = 1,
    width: int = 512,
    height: int = 512,
    precision: str = "auto",
) -> Any:
    """Latents (B, 4, H/8, W/8) for conditionings ``cond``/``uncond`` (B, 77k, C), one seed per image ``seed + i``."""
    import torch
    import k_diffusion as K

    from .precision import autocast_for

    if sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
    if width % 8 or height % 8:
        raise ValueError(f"Width and height must be multiples of 8 (got {width}x{height}).")
    den = make_denoiser(backend)
    device = backend.device
    sigmas = sigmas_for(den, sampler, steps).to(device)
    b = cond.shape[0]
    rng = backend.image_rng((4, height // 8, width // 8), [seed + i for i in range(b)])
    x = rng.next().to(device) * sigmas[0]
    model = _CFGDenoiser(den, cond, uncond, cfg_scale)
    with torch.no_grad(), autocast_for(device, backend.precision(precision)):
        if sampler == "Euler a":
            # the host replaces k-diffusion's torch.randn_like with its rng's next(): the same draws, in order
            return K.sampling.sample_euler_ancestral(model, x, sigmas, disable=True,
                                                     noise_sampler=lambda s, s_next: rng.next().to(device))
        return K.sampling.sample_dpmpp_2m(model, x, sigmas, disable=True)


def latents_to_images(backend: Any, z: Any) -> list:
    """Decode with the VAE and convert to PIL RGB images the way the host's txt2img does
    (``processing.py``: ``clamp((x + 1) / 2, 0, 1)``, ``255. *`` in numpy, ``astype(uint8)`` truncates, no rounding),
    so a preview is the host's image pixel for pixel when the latents agree."""
    import numpy as np
    import torch
    from PIL import Image

    with torch.no_grad():
        x = torch.clamp((backend.decode(z).float() + 1.0) / 2.0, min=0.0, max=1.0)
    x = (255.0 * np.moveaxis(x.cpu().numpy(), 1, 3)).astype(np.uint8)
    return [Image.fromarray(np.ascontiguousarray(a)) for a in x]


def sample_images(
    backend: Any,
    prompts: Sequence[str],
    *,
    negative: str = "",
    embeddings: Optional[Mapping[str, Any]] = None,
    sampler: str = DEFAULT_SAMPLER,
    steps: int = 20,
    cfg_scale: float = 7.0,
    seed: int = 1,
    width: int = 512,
    height: int = 512,
    clip_skip: int = 1,
    emphasis: str = "Original",
    precision: str = "auto",
) -> list:
    """Images for ``prompts`` with the given (in-training or loaded) embeddings, deterministic per seed."""
    import torch

    embeddings = dict(embeddings or {})
    with torch.no_grad():
        cond = backend.encode_prompts(list(prompts), embeddings, clip_skip=clip_skip, emphasis=emphasis)
        # SDXL: the host's txt2img zeroes an all-empty negative prompt instead of encoding it (force_zero_embeddings)
        neg = {"negative": True} if getattr(backend, "zeroes_empty_negative", False) else {}
        uncond = backend.encode_prompts([negative] * len(prompts), embeddings, clip_skip=clip_skip, emphasis=emphasis,
                                        **neg)
    z = sample_latents(backend, cond, uncond, sampler=sampler, steps=steps, cfg_scale=cfg_scale, seed=seed,
                       width=width, height=height, precision=precision)
    return latents_to_images(backend, z)
