"""The demo model's build script, in miniature: reproducible, and the same model when made in two sittings."""

from __future__ import annotations

import hashlib

import pytest

from lib_ti.demo import build as demo_build

TINY = dict(images=16, vae_steps=3, vae_batch=2, vae_check_every=0, dec_steps=2, dec_batch=2, unet_steps=2,
            unet_batch=2, warmup=1, save_every=2, score_every=0)


def _digest(path, prefix: str = "") -> str:
    """The digest of the weights whose names start with ``prefix`` (the file's metadata also records minutes)."""
    from safetensors.torch import load_file

    h = hashlib.sha256()
    for key, tensor in sorted(load_file(str(path)).items()):
        if not key.startswith(prefix):
            continue
        h.update(key.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    return demo_build.build(out, demo_build.Plan(**TINY), log=lambda _: None), out


def test_a_build_in_two_sittings_is_the_whole_build(whole, tmp_path):
    """Why: the quality bar needs more CPU than one sitting; the VAE stage file lets a build continue later."""
    model, out = whole
    assert (out / demo_build.VAE_FILE).exists()
    again = demo_build.build(tmp_path, demo_build.Plan(**TINY), log=lambda _: None, vae_from=out / demo_build.VAE_FILE)
    assert _digest(again) == _digest(model)


def test_the_decoder_phase_leaves_the_unet_phase_unchanged(whole, tmp_path):
    """Why: the decoder is trained on whole pictures after the UNet's latents are fixed, so a better decoder can be
    made without retraining the UNet, and a stage file from before the decoder phase existed goes on with it."""
    model, _ = whole
    plain = demo_build.build(tmp_path / "plain", demo_build.Plan(**{**TINY, "dec_steps": 0}), log=lambda _: None)
    for prefix in ("model.", "cond_stage_model.", "first_stage_model.encoder."):
        assert _digest(plain, prefix) == _digest(model, prefix), prefix
    assert _digest(plain, "first_stage_model.decoder.") != _digest(model, "first_stage_model.decoder.")
    resumed = demo_build.build(tmp_path / "resumed", demo_build.Plan(**TINY), log=lambda _: None,
                               vae_from=tmp_path / "plain" / demo_build.VAE_FILE)
    assert _digest(resumed) == _digest(model)


def test_unet_steps_zero_builds_only_the_vae_stage(whole, tmp_path):
    """Why: the VAE and decoder phases can be one sitting and the UNet another (``--unet-steps 0``, then
    ``--vae-from``)."""
    model, out = whole
    stage = demo_build.build(tmp_path, demo_build.Plan(**{**TINY, "unet_steps": 0}), log=lambda _: None)
    assert stage == tmp_path / demo_build.VAE_FILE and not (tmp_path / model.name).exists()
    assert _digest(stage) == _digest(out / demo_build.VAE_FILE)


@pytest.mark.parametrize("content, says", [
    (b"not a safetensors file", "not a VAE stage file"),
    (None, "no tilab_demo_vae metadata"),  # a real safetensors file of something else
])
def test_vae_from_refuses_a_file_that_is_not_a_vae_stage(whole, tmp_path, content, says):
    model, _ = whole
    bad = tmp_path / "other.safetensors"
    if content is None:
        bad.write_bytes(model.read_bytes())  # the model file: safetensors, but not a VAE stage
    else:
        bad.write_bytes(content)
    with pytest.raises(SystemExit, match=says) as err:
        demo_build.build(tmp_path / "out", demo_build.Plan(**TINY), log=lambda _: None, vae_from=bad)
    assert str(bad) in str(err.value)


def test_the_optimizer_is_fused_here_and_foreach_where_torch_has_no_fused_cpu_adam(monkeypatch):
    """Why: the fused AdamW is what brings the build to about an hour on 2 cores (``bench/demo_build.py``), but the
    host's older torch has no fused Adam on CPU and raises; the build must still run there."""
    import torch

    param = [torch.nn.Parameter(torch.zeros(3))]
    assert demo_build._adam(param, 1e-3).defaults["fused"] is True
    real = torch.optim.AdamW

    def torch_2_1(params, **kwargs):  # what torch 2.1 says for fused=True on CPU tensors
        if kwargs.get("fused"):
            raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported "
                               "devices: ['cuda', 'xpu', 'privateuseone'].")
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", torch_2_1)
    opt = demo_build._adam(param, 1e-3, betas=(0.9, 0.99))
    assert (opt.defaults["foreach"], opt.defaults["fused"], opt.defaults["betas"]) == (True, None, (0.9, 0.99))
