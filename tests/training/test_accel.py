"""Speed/memory switches change nothing numerically; GPU-only ones stay off on CPU."""

from __future__ import annotations

import pytest
import torch

from lib_ti.model.precision import weights_dtype
from lib_ti.training.accel import (_ldm_cross_attention_modules, _sdpa_forward, gradient_checkpointing,
                                   is_out_of_memory, sdpa_attention)


def _loss_and_grad(backend):
    vec = torch.randn(2, backend.embedding_width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([10, 700])
    cond = backend.encode_prompts(["a photo of zork", "zork"], {"zork": vec})
    loss = backend.apply_model(x, t, cond).pow(2).mean()
    loss.backward()
    return loss.detach(), vec.grad


def test_gradient_checkpointing_gives_the_same_gradients(backend):
    plain = _loss_and_grad(backend)
    with gradient_checkpointing(backend.model) as n:
        assert n > 0
        ckpt = _loss_and_grad(backend)
    assert not any("forward" in vars(m) for m in backend.model.modules())  # undone on exit
    assert torch.allclose(plain[0], ckpt[0]) and torch.allclose(plain[1], ckpt[1], atol=1e-7)


def test_sdpa_attention_matches_ldm_attention(backend):
    mod = _ldm_cross_attention_modules(backend.model)[0]
    x = torch.randn(2, 16, mod.to_q.in_features)
    ctx = torch.randn(2, 77, mod.to_k.in_features)
    assert torch.allclose(mod(x, ctx), _sdpa_forward(mod)(x, ctx), atol=1e-5)


def test_gpu_only_switches_are_off_on_cpu(backend):
    with sdpa_attention(backend.model, "cpu") as n:
        assert n == 0
    assert weights_dtype(backend.model) == torch.float32
    assert backend.precision("fp16").autocast is None and backend.precision("auto").weights == torch.float32


@pytest.mark.parametrize("exc, expected", [
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes. out of memory"), True),
    (RuntimeError("shape mismatch"), False),
    (ValueError("out of memory"), False),
])
def test_out_of_memory_detection(exc, expected):
    assert is_out_of_memory(exc) is expected
