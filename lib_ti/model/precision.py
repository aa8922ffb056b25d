"""Precision, decided once: weight dtype, autocast dtype and loss scaling, with the reason in words.

Why one function: the standalone UI, the CLI, the training loop, latent caching and the preview sampler each used to
pick a dtype on their own and disagreed (fp16 weights whatever the setting said; "fp32" silently running in fp16;
bf16 offered on GPUs without it). :func:`decide_precision` is the only place that decides; everyone else reads
the :class:`PrecisionPlan` it returns, and the status line shows :attr:`PrecisionPlan.reason`.

Inside the host the weights are already loaded (fp16 unless ``--no-half``); the plan then adapts autocast to them
instead of converting the host's model, and says so when that overrides the setting.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Optional

#: The choices of the ``precision`` setting (the training configuration offers exactly these).
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def device_type(device: Any) -> str:
    import torch

    return torch.device(device).type


@dataclass(frozen=True)
class PrecisionPlan:
    """What to load and how to compute.

    Attributes:
        weights: dtype to load weights in (standalone); inside the host, the dtype the host loaded.
        autocast: dtype for ``torch.autocast`` on CUDA, or None for plain full precision.
        scale_loss: True when fp16 autocast needs a ``GradScaler`` (bf16 and fp32 do not).
        reason: one human sentence for the status line.
    """

    weights: Any
    autocast: Optional[Any]
    scale_loss: bool
    reason: str


def bf16_supported(device: Any) -> bool:
    """Whether ``device`` computes bf16 natively (Ampere or newer on CUDA)."""
    import torch

    if device_type(device) != "cuda":
        return False
    try:
        return bool(torch.cuda.is_bf16_supported())
    except (AssertionError, RuntimeError):  # no CUDA build / no device
        return False


def decide_precision(requested: str, device: Any, loaded_weights: Any = None, *,
                     bf16_ok: Optional[bool] = None) -> PrecisionPlan:
    """The one precision decision.

    Args:
        requested: the ``precision`` setting (:data:`PRECISIONS`).
        device: where the model computes (inside the host: ``modules.devices.device``).
        loaded_weights: dtype of weights someone else already loaded (the host's UNet), or None when TI Lab loads
            them itself according to this plan.
        bf16_ok: override of :func:`bf16_supported` (tests).
    """
    import torch

    if requested not in PRECISIONS:
        raise ValueError(f"Precision must be one of {', '.join(PRECISIONS)}, not {requested!r}.")
    half = (torch.float16, torch.bfloat16)
    if device_type(device) != "cuda":
        if loaded_weights in half:
            return PrecisionPlan(loaded_weights, None, False,
                                 f"{_name(loaded_weights)} weights on {device_type(device)} (no autocast off CUDA)")
        note = "" if requested in ("auto", "fp32") else f"; {requested} applies on CUDA only"
        return PrecisionPlan(torch.float32, None, False, f"fp32 on {device_type(device)}{note}")
    if bf16_ok is None:
        bf16_ok = bf16_supported(device)

    if requested == "bf16" and not bf16_ok:
        want, why = torch.float16, "bf16 was asked for but this GPU does not support it: fp16 autocast with loss scaling"
    elif requested == "bf16":
        want, why = torch.bfloat16, "bf16 autocast as asked (no loss scaling needed)"
    elif requested == "fp32":
        want, why = None, "fp32 as asked (slower, most memory)"
    elif requested == "fp16":
        want, why = torch.float16, "fp16 autocast as asked, with loss scaling"
    else:
        want, why = torch.float16, "auto: fp16 autocast on CUDA, with loss scaling"

    if loaded_weights is None:  # TI Lab loads the weights: in the compute dtype
        weights = want or torch.float32
        return PrecisionPlan(weights, want, want is torch.float16, why)
    if want is None and loaded_weights in half:
        # converting the host's model would change every image the host makes; compute in its dtype instead
        return PrecisionPlan(loaded_weights, loaded_weights, loaded_weights is torch.float16,
                             f"fp32 was asked for but the model is loaded in {_name(loaded_weights)} (in the WebUI: start "
                             f"it with --no-half): {_name(loaded_weights)} autocast"
                             + (" with loss scaling" if loaded_weights is torch.float16 else ""))
    if want is torch.bfloat16 and loaded_weights is torch.float16:
        return PrecisionPlan(loaded_weights, torch.float16, True,
                             "bf16 was asked for but the model is loaded in fp16: fp16 autocast with loss scaling")
    return PrecisionPlan(loaded_weights, want, want is torch.float16, why)


def _name(dtype: Any) -> str:
    return {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}.get(str(dtype), str(dtype))


def weights_dtype(model: Any) -> Any:
    """dtype of the UNet's weights (the host loads fp16 unless ``--no-half``)."""
    unet = getattr(getattr(model, "model", None), "diffusion_model", None) or model
    return next(unet.parameters()).dtype


def grad_scaler(plan: PrecisionPlan) -> Any:
    """``torch.amp.GradScaler("cuda")`` when the plan scales the loss, else None."""
    if not plan.scale_loss:
        return None
    import torch

    return torch.amp.GradScaler("cuda")


@contextlib.contextmanager
def autocast_for(device: Any, plan: Optional[PrecisionPlan]) -> Iterator[None]:
    """``torch.autocast`` as the plan says (nothing off CUDA or for fp32)."""
    import torch

    if plan is not None and plan.autocast is not None and device_type(device) == "cuda":
        with torch.autocast("cuda", dtype=plan.autocast):
            yield
    else:
        yield
