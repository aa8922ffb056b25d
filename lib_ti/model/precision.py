"""Precision for the frozen model: which dtype autocast uses, decided in one place.

Training, latent caching and the preview sampler all ask here, so they agree.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


def device_type(device: Any) -> str:
    import torch

    return torch.device(device).type


def amp_dtype(precision: str, device: Any) -> Any:
    """The autocast dtype for ``precision`` on ``device``; None means full precision."""
    import torch

    if device_type(device) != "cuda" or precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    return torch.float16


def weights_dtype(model: Any) -> Any:
    """dtype of the UNet's weights (the host loads fp16 unless ``--no-half``)."""
    unet = getattr(getattr(model, "model", None), "diffusion_model", None) or model
    return next(unet.parameters()).dtype


def model_amp_dtype(precision: str, device: Any, model: Any) -> Any:
    """:func:`amp_dtype`, but never None on CUDA when the weights are half: fp32 inputs would not match them."""
    import torch

    dtype = amp_dtype(precision, device)
    wd = weights_dtype(model)
    if dtype is None and device_type(device) == "cuda" and wd in (torch.float16, torch.bfloat16):
        return wd
    return dtype


@contextlib.contextmanager
def autocast_for(device: Any, enabled: bool = True, dtype: Any = None) -> Iterator[None]:
    import torch

    if enabled and device_type(device) == "cuda":
        with torch.autocast("cuda", dtype=dtype or torch.float16):
            yield
    else:
        yield
