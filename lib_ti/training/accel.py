"""Speed and memory switches for the frozen model, each guarded by device and undone on exit.

- :func:`sdpa_attention`: ldm's ``CrossAttention`` via ``F.scaled_dot_product_attention`` on
  CUDA. Inside the host the host's own attention optimisation is already installed on the class;
  we only patch modules still running ldm's original forward.
- :func:`frozen_weights`: the model's trainable flags off for the run, restored exactly.
- :func:`gradient_checkpointing`: ``torch.utils.checkpoint`` around transformer, res and
  attention blocks. ldm's own checkpoint function differentiates w.r.t. the (frozen) block
  parameters and fails when none require grad, so we wrap the blocks' ``_forward`` instead
  (as the host's ``sd_hijack_checkpoint`` does).

Patches are per instance (``module.forward = ...``, :func:`_patched_forwards`) and removed by deleting the
attribute.

Standalone SDXL runs a diffusers UNet (:mod:`lib_ti.model.sdxl_loader`), whose blocks are not ldm's: there both
switches use diffusers' own means, and put back exactly what was there before (:func:`_diffusers_checkpointing`,
:func:`_diffusers_attention`). Its blocks checkpoint only while autograd records (diffusers checks
``torch.is_grad_enabled()``), so previews and the fixed-batch loss under ``no_grad`` are not slowed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

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
def _patched_forwards(modules: Iterable[Any], make_forward: Callable[[Any], Callable]) -> Iterator[int]:
    """Give each module an instance-level ``forward`` from ``make_forward(module)``; remove them all on exit.

    Modules that already carry an instance ``forward`` (someone else's patch) are left alone.
    """
    patched = []
    try:
        for m in modules:
            if "forward" not in vars(m):
                m.forward = make_forward(m)
                patched.append(m)
        yield len(patched)
    finally:
        for m in patched:
            vars(m).pop("forward", None)


@contextlib.contextmanager
def sdpa_attention(model: Any, device: Any, enabled: bool = True) -> Iterator[int]:
    """Yields how many attention modules were switched (ldm: 0 off CUDA or when the host already patched).

    A diffusers UNet follows the switch on every device: on, its SDPA processor (diffusers' own default on torch 2,
    also fast on CPU); off, its classic processor (explicit softmax(QKᵀ)V), for an old GPU where SDPA kernels fail.
    """
    on = enabled and device_type(device) == "cuda"
    with _patched_forwards(_ldm_cross_attention_modules(model) if on else [], _sdpa_forward) as n_ldm, \
            _diffusers_attention(model, enabled) as n_diffusers:
        yield n_ldm + n_diffusers


@contextlib.contextmanager
def _diffusers_attention(model: Any, sdpa: bool) -> Iterator[int]:
    """diffusers ``Attention`` modules using its default processor of the other kind get this kind; custom
    processors (adapters, xformers) are left alone; every module gets its own processor object back on exit."""
    modules = [m for m in model.modules() if hasattr(m, "set_processor") and hasattr(m, "processor")]
    if not modules:
        yield 0
        return
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    old_kind, new_kind = (AttnProcessor, AttnProcessor2_0) if sdpa else (AttnProcessor2_0, AttnProcessor)
    switched = [(m, m.processor) for m in modules if type(m.processor) is old_kind]
    try:
        for m, _ in switched:
            m.set_processor(new_kind())
        yield len(switched)
    finally:
        for m, processor in switched:
            m.set_processor(processor)


def _checkpointed_forward(module: Any) -> Callable:
    import torch.utils.checkpoint as ckpt

    inner = module._forward

    def forward(*args, **kwargs):
        return ckpt.checkpoint(inner, *args, use_reentrant=False, **kwargs)

    return forward


#: ldm blocks whose ``_forward`` is wrapped (ldm's own checkpoint flag wants trainable block weights).
CHECKPOINTED_BLOCKS = frozenset({"BasicTransformerBlock", "ResBlock", "AttentionBlock"})


@contextlib.contextmanager
def gradient_checkpointing(model: Any, enabled: bool = True) -> Iterator[int]:
    """Recompute block activations in backward; yields the number of wrapped (ldm/sgm) or switched (diffusers)
    blocks."""
    blocks = [m for m in model.modules() if type(m).__name__ in CHECKPOINTED_BLOCKS and hasattr(m, "_forward")]
    with _patched_forwards(blocks if enabled else [], _checkpointed_forward) as n_ldm, \
            _diffusers_checkpointing(model if enabled else None) as n_diffusers:
        yield n_ldm + n_diffusers


_UNSET = object()


@contextlib.contextmanager
def _diffusers_checkpointing(model: Any) -> Iterator[int]:
    """diffusers models in ``model`` (the UNet, the VAE) with their own ``enable_gradient_checkpointing()`` (the
    non-reentrant ``torch.utils.checkpoint``, which needs no trainable block weights); each block's flag and
    function are put back on exit, so a model that had it on keeps it on."""
    models = [] if model is None else [m for m in model.modules() if getattr(m, "_supports_gradient_checkpointing",
                                                                            False)
                                       and callable(getattr(m, "enable_gradient_checkpointing", None))]
    saved = {id(b): (b, b.gradient_checkpointing, vars(b).get("_gradient_checkpointing_func", _UNSET))
             for mm in models for b in mm.modules() if hasattr(b, "gradient_checkpointing")}
    try:
        for mm in models:
            mm.enable_gradient_checkpointing()
        yield sum(1 for b, was_on, _ in saved.values() if not was_on)
    finally:
        for b, was_on, func in saved.values():
            b.gradient_checkpointing = was_on
            if func is _UNSET:
                vars(b).pop("_gradient_checkpointing_func", None)
            else:
                b._gradient_checkpointing_func = func


@contextlib.contextmanager
def frozen_weights(model: Any) -> Iterator[int]:
    """Weights that require grad stop requiring it for the run and get exactly their flags back on exit.

    Why: the host never freezes ``shared.sd_model``. The loop already asks autograd for the vectors' gradient
    only, so no weight gets a ``.grad`` either way; with the flags off autograd also does not record what weight
    gradients would need (saved activations, weight-gradient kernels), which is most of the step's memory and a
    third of its backward compute. The host's queue lock keeps its own jobs out while this is in effect, and the
    flags are restored even when the run fails. Yields how many parameters were switched.
    """
    switched = [p for p in model.parameters() if p.requires_grad]
    try:
        for p in switched:
            p.requires_grad_(False)
        yield len(switched)
    finally:
        for p in switched:
            p.requires_grad_(True)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (and MPS/CPU allocator) out-of-memory errors, however torch spells them."""
    import torch

    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def oom_advice(cfg: Any, stage: str = "") -> str:
    """What to lower, named by its setting and current value, most effective first for the stage that failed."""
    tips = []
    if stage.startswith("making the previews"):
        w, h = cfg.preview_width or cfg.width, cfg.preview_height or cfg.height
        tips.append(f"lower the preview size (Preview width/height, now {w}×{h}) or use fewer preview prompts "
                    f"(now {len(cfg.preview_prompts)})")
    if max(cfg.width, cfg.height) > 64:
        tips.append(f"lower Width/Height (now {cfg.width}×{cfg.height}, e.g. {max(64, cfg.width * 3 // 4 // 64 * 64)})")
    if not stage.startswith(("caching latents", "making the previews")):
        if cfg.batch_size > 1:
            tips.append(f"lower Batch size (now {cfg.batch_size}) and raise Gradient accumulation (now "
                        f"{cfg.grad_accum}) to keep the effective batch")
        if not cfg.gradient_checkpointing:
            tips.append("turn on Gradient checkpointing")
    if not cfg.low_memory:
        tips.append("turn on Low-memory mode (keeps the VAE and latents off the GPU)")
    tips.append("close other programs using the GPU")
    return "Try: " + "; ".join(tips) + "."
