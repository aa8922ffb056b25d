"""The Train options "Gradient checkpointing" and SDPA act on the standalone SDXL model's diffusers UNet, change
nothing numerically, keep less for backward, and leave the model as it was."""

from __future__ import annotations

import contextlib

import pytest
import torch

from lib_ti.training.accel import gradient_checkpointing, sdpa_attention


def _loss_grad_and_saved_bytes(backend):
    """Loss, the vectors' gradient, and the bytes autograd keeps for backward (outside checkpointed regions)."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    vec = torch.randn(2, backend.embedding_width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([10, 700])
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        cond = backend.encode_prompts(["a photo of zork", "zork"], {"zork": vec})
        loss = backend.apply_model(x, t, cond).pow(2).mean()
    (grad,) = torch.autograd.grad(loss, [vec])
    return loss.detach(), grad, saved[0]


def _state(model):
    blocks = {n: (m.gradient_checkpointing, vars(m).get("_gradient_checkpointing_func"))
              for n, m in model.named_modules() if hasattr(m, "gradient_checkpointing")}
    processors = {n: m.processor for n, m in model.named_modules() if hasattr(m, "set_processor")}
    return blocks, processors


@pytest.mark.parametrize("switch", ["checkpointing", "sdpa off", "sdpa on over classic"])
def test_switches_act_on_the_diffusers_unet_and_change_nothing(xl_backend, switch):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    model = xl_backend.model
    attn = [m for m in model.model.diffusion_model.modules() if hasattr(m, "set_processor")]
    assert attn and all(type(m.processor) is AttnProcessor2_0 for m in attn)  # diffusers' default on torch 2
    setup = contextlib.nullcontext()
    if switch == "sdpa on over classic":  # a model someone put on the classic processor
        setup = sdpa_attention(model, "cpu", enabled=False)
    with setup:
        before = _state(model)
        plain = _loss_grad_and_saved_bytes(xl_backend)
        switched = (gradient_checkpointing(model) if switch == "checkpointing"
                    else sdpa_attention(model, "cpu", enabled=switch != "sdpa off"))
        with switched as n:
            assert n > 0
            if switch == "checkpointing":
                assert all(m.gradient_checkpointing for m in model.model.diffusion_model.modules()
                           if hasattr(m, "gradient_checkpointing"))
            else:
                kind = AttnProcessor if switch == "sdpa off" else AttnProcessor2_0
                assert all(type(m.processor) is kind for m in attn)
            other = _loss_grad_and_saved_bytes(xl_backend)
        assert _state(model) == before  # the very flags, functions and processor objects are back
    assert torch.allclose(plain[0], other[0], atol=1e-6)
    assert torch.allclose(plain[1], other[1], rtol=1e-4, atol=1e-7)
    if switch == "checkpointing":
        assert other[2] < plain[2] * 0.8  # activations of the checkpointed blocks are not kept for backward
        assert torch.equal(plain[0], other[0]) and torch.equal(plain[1], other[1])  # the same ops, recomputed


def test_training_with_the_memory_options_gives_the_same_embedding(tmp_path, xl_backend, xl_images, monkeypatch):
    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    def run(sub, **kw):
        cfg = TrainConfig(name="xlzork", data_dir=xl_images, run_dir=tmp_path / sub / "run",
                          embeddings_dir=tmp_path / sub / "emb", template="subject_filewords", learn_rate="0.02",
                          steps=2, batch_size=2, width=64, height=64, save_every=0, preview_every=0, eval_every=0,
                          num_vectors=2, init_text="square", seed=5, **kw)
        return Trainer(xl_backend, cfg).run()

    from lib_ti.model.embeddings import load_embedding

    vae = xl_backend.model.first_stage_model
    moves = []
    monkeypatch.setattr(vae, "to", lambda *a, **k: moves.append(str(a[0] if a else k.get("device"))) or vae,
                        raising=False)
    plain = run("plain", gradient_checkpointing=False, sdpa=True, low_memory=False)
    assert moves == []
    lean = run("lean", gradient_checkpointing=True, sdpa=False, low_memory=True)
    assert moves == ["cpu"]  # low-memory mode: the VAE leaves the GPU once the latents are cached
    assert plain.status == lean.status == "finished"
    a, b = load_embedding(plain.embedding_path).vec, load_embedding(lean.embedding_path).vec
    assert torch.allclose(a, b, atol=1e-5)
