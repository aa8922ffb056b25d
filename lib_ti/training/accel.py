"""Speed and memory switches for the frozen model, each guarded by device and undone on exit.

- :func:`sdpa_attention`: ldm's ``CrossAttention`` via ``F.scaled_dot_product_attention`` on
  CUDA. Inside the host the host's own attention optimisation is already installed on the class;
  we only patch modules still running ldm's original forward.
- :func:`gradient_checkpointing`: ``torch.utils.checkpoint`` around transformer, res and
  attention blocks. ldm's own checkpoint function differentiates w.r.t. the (frozen) block
  parameters and fails when none require grad, so we wrap the blocks' ``_forward`` instead
  (as the host's ``sd_hijack_checkpoint`` does).

Patches are per instance (``module.forward = ...``) and removed by deleting the attribute.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..model.precision import device_type


def _sdpa_forward(module: Any):
    import torch.nn.functional as F

    def forward(x, context=None, mask=None):
        h = module.heads
        context = x if context is None else context
        q, k, v = module.to_q(x), module.to_k(context), module.to_v(context)
        b, n, _ = q.shape
        q, k, v = (t.reshape(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))
        if v.dtype != q.dtype:
            v = v.to(q.dtype)
        attn_mask = None
        if mask is not None:
            attn_mask = mask.reshape(b, 1, 1, -1).bool()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(b, n, -1)
        return module.to_out(out)

    return forward


def _ldm_cross_attention_modules(model: Any) -> list:
    try:
        from ldm.modules.attention import CrossAttention
    except ImportError:
        return []
    return [m for m in model.modules() if type(m) is CrossAttention and "forward" not in vars(m)
            and type(m).forward is CrossAttention.forward]


@contextlib.contextmanager
def sdpa_attention(model: Any, device: Any, enabled: bool = True) -> Iterator[int]:
    """Yields how many attention modules were switched (0 off CUDA or when the host already patched)."""
    patched = []
    if enabled and device_type(device) == "cuda":
        for m in _ldm_cross_attention_modules(model):
            m.forward = _sdpa_forward(m)
            patched.append(m)
    try:
        yield len(patched)
    finally:
        for m in patched:
            vars(m).pop("forward", None)


@contextlib.contextmanager
def gradient_checkpointing(model: Any, enabled: bool = True) -> Iterator[int]:
    """Recompute block activations in backward; yields the number of wrapped blocks."""
    import torch.utils.checkpoint as ckpt

    patched = []
    if enabled:
        names = {"BasicTransformerBlock", "ResBlock", "AttentionBlock"}
        for m in model.modules():
            if type(m).__name__ in names and hasattr(m, "_forward") and "forward" not in vars(m):
                inner = m._forward

                def forward(*args, _inner=inner, **kwargs):
                    return ckpt.checkpoint(_inner, *args, use_reentrant=False, **kwargs)

                m.forward = forward
                patched.append(m)
    try:
        yield len(patched)
    finally:
        for m in patched:
            vars(m).pop("forward", None)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (and MPS/CPU allocator) out-of-memory errors, however torch spells them."""
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


OOM_REMEDIES = (
    "lower the training resolution (e.g. 384 or 256)",
    "turn on gradient checkpointing",
    "use batch size 1 (raise gradient accumulation to keep the effective batch)",
    "turn on low-memory mode (keeps the VAE off the GPU)",
    "close other programs using the GPU",
)
