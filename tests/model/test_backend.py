"""SDBackend over raw and host-wrapped models: attributes, images, UNet, and the host's wrapper layout."""

from __future__ import annotations

import types

import pytest
import torch

from lib_ti.model.backend import SDBackend


@pytest.mark.parametrize("kind,family,parameterization", [("sd1", "sd1", "eps"), ("sd2", "sd2", "eps"),
                                                          ("sd2v", "sd2", "v")])
def test_attributes(backends, tiny_models, kind, family, parameterization):
    b = backends[kind]
    assert (b.family, b.embedding_width, b.parameterization) == (family, 32, parameterization)
    assert b.alphas_cumprod.dtype == torch.float32 and b.alphas_cumprod.shape == (1000,)
    assert torch.equal(b.alphas_cumprod, tiny_models[kind].alphas_cumprod.float())
    assert b.device == torch.device("cpu") and b.model is tiny_models[kind]


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_tokenize_has_no_bos_eos(backends, kind):
    ids = backends[kind].tokenize("a photo, of a Cat")
    assert ids == [320, 1125, 267, 539, 320, 2368]  # CLIP BPE ids; ',' is 267; lower-cased


def test_token_count_is_the_hosts_counter(backends):
    b = backends["sd1"]
    assert b.token_count("a photo of zzcat", {"zzcat": torch.zeros(3, 32)}) == 6
    assert b.token_count("red " * 80, {}) == 80


def test_images_to_latents_and_back(backends, tiny_models):
    b = backends["sd1"]
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    dist = b.encode_images(x)
    scale = tiny_models["sd1"].scale_factor
    assert dist.mean.shape == (2, 4, 8, 8)
    torch.testing.assert_close(b.latent_from_dist(dist, "deterministic"), dist.mean * scale)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    once = b.latent_from_dist(dist, "once", generator=g1)
    assert torch.equal(once, b.latent_from_dist(dist, "random", generator=g2))
    assert not torch.equal(once, dist.mean * scale)
    assert b.decode(once).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="once, deterministic, random"):
        b.latent_from_dist(dist, "mean")
    with pytest.raises(ValueError, match="B×3×H×W"):
        b.encode_images(torch.zeros(3, 64, 64))


@pytest.mark.parametrize("kind", ["sd1", "sd2v"])
def test_apply_model_is_the_models(backends, tiny_models, kind):
    b = backends[kind]
    z = torch.randn(2, 4, 8, 8)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        cond = b.encode_prompts(["a", "b"], {})
        torch.testing.assert_close(b.apply_model(z, t, cond), tiny_models[kind].apply_model(z, t, cond))


# ---------------------------------------------------------------------------- the host's wrapped model
class FakeHostFixes(torch.nn.Module):
    """Shape of the host's EmbeddingsWithFixes: a ``.wrapped`` nn.Embedding, passthrough without fixes."""

    def __init__(self, wrapped):
        super().__init__()
        self.wrapped = wrapped
        self.fixes = None

    def forward(self, ids):
        return self.wrapped(ids)


class FakeHostWrapper(torch.nn.Module):
    """Shape of the host's FrozenCLIPEmbedderWithCustomWords / FrozenOpenCLIPEmbedderWithCustomWords: the ldm
    embedder in ``.wrapped``; no ``.transformer``/``.model`` of its own; ``.tokenizer`` only for CLIP."""

    def __init__(self, wrapped):
        super().__init__()
        self.wrapped = wrapped
        if hasattr(wrapped, "tokenizer"):
            self.tokenizer = wrapped.tokenizer


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_host_wrapped_model_gives_the_same_conditioning(kind, sd_workdir, backends):
    from sdkit import build_tiny_sd

    model = build_tiny_sd(kind, workdir=sd_workdir)
    raw = model.cond_stage_model
    if kind == "sd1":
        emb = raw.transformer.text_model.embeddings
        emb.token_embedding = FakeHostFixes(emb.token_embedding)
    else:
        raw.model.token_embedding = FakeHostFixes(raw.model.token_embedding)
    model.cond_stage_model = FakeHostWrapper(raw)
    hosted = SDBackend(model)
    vec = torch.randn(2, 32) * 0.05
    prompts = ["a (photo:1.2) of zzcat", "zzcat"]
    with torch.no_grad():
        torch.testing.assert_close(hosted.encode_prompts(prompts, {"zzcat": vec}),
                                   backends[kind].encode_prompts(prompts, {"zzcat": vec}), rtol=0, atol=0)
    assert hosted.embedding_width == 32
    assert torch.equal(hosted.encode_init_text("cat", 1), backends[kind].encode_init_text("cat", 1))


def _ldm_like(key, in_channels, depth=False, top_level_only=False):
    """A stand-in shaped like ldm: the key on the DiffusionWrapper (``model.model``), channels on its UNet."""
    unet = types.SimpleNamespace(in_channels=in_channels)
    wrapper = types.SimpleNamespace(diffusion_model=unet, **({} if top_level_only else {"conditioning_key": key}))
    return types.SimpleNamespace(model=wrapper, depth_model=object() if depth else None,
                                 **({"conditioning_key": key} if top_level_only else {}))


@pytest.mark.parametrize("model, words", [
    (_ldm_like("hybrid", 9), "an inpainting model (SimpleNamespace, conditioning 'hybrid', 9 input channels)"),
    (_ldm_like("hybrid", 8), "an instruct-pix2pix model"),
    (_ldm_like("hybrid", 5, depth=True), "a depth model"),
    (_ldm_like("concat", 4), "conditioning 'concat' and 4 input channels"),
    (_ldm_like("hybrid", 4, top_level_only=True), "conditioning 'hybrid'"),
])
def test_non_text_to_image_models_are_refused(model, words):
    from lib_ti.model.backend import check_supported

    with pytest.raises(ValueError, match="The loaded checkpoint is ") as err:
        check_supported(model)
    assert words in str(err.value) and "text-to-image SD 1.x / 2.x" in str(err.value)
    with pytest.raises(ValueError, match="The loaded checkpoint is "):
        SDBackend(model)


def test_text_to_image_models_pass_the_check(tiny_models):
    from lib_ti.model.backend import check_supported

    assert tiny_models["sd1"].model.conditioning_key == "crossattn"
    check_supported(tiny_models["sd1"])


def test_checkpoint_info_given_by_the_host_adapter(tiny_models):
    b = SDBackend(tiny_models["sd1"], info=lambda: ("0123456789", "v1-5-pruned"))
    assert b.checkpoint_info() == ("0123456789", "v1-5-pruned")
    assert b.checkpoint_info().short_hash == "0123456789"
    assert SDBackend(tiny_models["sd1"]).checkpoint_info() == (None, None)
