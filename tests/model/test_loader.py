"""``load_ldm`` on checkpoint files the tests write: formats, config choice, key checks, refusals."""

from __future__ import annotations

import hashlib
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file

from lib_ti.model.backend import SDBackend
from lib_ti.model.loader import CONFIG_DIR, CheckpointWarning, guess_config, load_ldm, read_state_dict


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_loads_a_checkpoint_with_its_yaml_exactly(kind, tiny_checkpoints, tiny_models):
    ckpt, _ = tiny_checkpoints[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        model = load_ldm(ckpt)
    assert _same_weights(model, tiny_models[kind])
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        ours = SDBackend(model).encode_prompts(["a photo of a dog"], {})
        ref = SDBackend(tiny_models[kind]).encode_prompts(["a photo of a dog"], {})
    assert torch.equal(ours, ref)


def test_checkpoint_info_is_the_hosts_short_hash_and_name(tiny_checkpoints):
    ckpt, _ = tiny_checkpoints["sd1"]
    info = SDBackend(load_ldm(ckpt)).checkpoint_info()
    assert info == (hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10], "tiny-sd1")
    short_hash, name = info
    assert len(short_hash) == 10 and name == "tiny-sd1"


def test_ckpt_with_state_dict_wrapper_and_explicit_config(tiny_checkpoints, tiny_models, tmp_path):
    ckpt, yaml = tiny_checkpoints["sd1"]
    wrapped = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(str(ckpt)), "global_step": 5, "epoch": 1}, wrapped)
    model = load_ldm(wrapped, yaml)
    assert _same_weights(model, tiny_models["sd1"])


def test_old_clip_key_layout_is_renamed_like_the_host_does(tiny_checkpoints, tiny_models, tmp_path):
    ckpt, yaml = tiny_checkpoints["sd1"]
    sd = {k.replace("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."): v
          for k, v in load_file(str(ckpt)).items()}
    old = tmp_path / "old.safetensors"
    save_file(sd, str(old))
    assert _same_weights(load_ldm(old, yaml), tiny_models["sd1"])


def test_text_encoder_keys_all_missing_fails_loudly(tiny_checkpoints, tmp_path):
    ckpt, yaml = tiny_checkpoints["sd1"]
    sd = {k.replace("cond_stage_model.transformer.text_model.", "cond_stage_model.clip."): v
          for k, v in load_file(str(ckpt)).items()}
    bad = tmp_path / "renamed.safetensors"
    save_file(sd, str(bad))
    with pytest.raises(ValueError, match="none of the .* text encoder weights were found.*transformers<5"):
        load_ldm(bad, yaml)


def test_some_missing_weights_warn_and_are_zeroed(tiny_checkpoints, tmp_path):
    ckpt, yaml = tiny_checkpoints["sd1"]
    sd = load_file(str(ckpt))
    del sd["first_stage_model.decoder.conv_out.weight"]
    sd["model_ema.decay"] = torch.tensor(0.9999)  # benign: the host ignores EMA weights too
    sd["something.else"] = torch.zeros(1)
    part = tmp_path / "part.safetensors"
    save_file(sd, str(part))
    with pytest.warns(CheckpointWarning) as record:
        model = load_ldm(part, yaml)
    text = " | ".join(str(w.message) for w in record)
    assert "1 weights missing" in text and "conv_out.weight" in text
    assert "1 unexpected weights ignored" in text and "something.else" in text and "model_ema" not in text
    assert not model.first_stage_model.decoder.conv_out.weight.any()


def test_a_checkpoint_carrying_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "x": Payload()}, evil)
    with pytest.raises(ValueError, match="refused to load") as err:
        read_state_dict(evil)
    assert str(evil) in str(err.value) and not marker.exists()


def test_weights_that_do_not_fit_the_config_are_reported_briefly(tiny_checkpoints, tmp_path):
    from omegaconf import OmegaConf

    ckpt, yaml = tiny_checkpoints["sd1"]
    cfg = OmegaConf.load(yaml)
    cfg.model.params.unet_config.params.model_channels = 64  # a different (still tiny) UNet
    other = tmp_path / "other.yaml"
    OmegaConf.save(cfg, other)
    with pytest.raises(ValueError, match="do not fit the config .*shape mismatches") as err:
        load_ldm(ckpt, other)
    assert len(str(err.value)) < 800


def test_missing_files_are_named(tmp_path, tiny_checkpoints):
    with pytest.raises(ValueError, match="nope.safetensors: checkpoint file not found"):
        load_ldm(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="nope.yaml: config file not found"):
        load_ldm(tiny_checkpoints["sd1"][0], tmp_path / "nope.yaml")


def _keys(**shapes):
    return {k: torch.zeros(*s) for k, s in shapes.items()}


UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_TEXT = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT = "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"


@pytest.mark.parametrize("state,expected", [
    ({UNET_IN: (8, 4, 3, 3), SD1_TEXT: (10, 8)}, "v1-inference.yaml"),
    ({UNET_IN: (8, 4, 3, 3), SD2_TEXT: (24, 8)}, "v2-inference.yaml"),
    ({UNET_IN: (8, 4, 3, 3)}, "v1-inference.yaml"),
    ({UNET_IN: (8, 9, 3, 3), SD1_TEXT: (10, 8)}, "inpainting"),
    ({UNET_IN: (8, 4, 3, 3), "conditioner.embedders.1.model.ln_final.weight": (8,)}, "SDXL"),
    ({SD1_TEXT: (10, 8)}, "not a Stable Diffusion checkpoint"),
], ids=["sd1", "sd2", "no text keys: host default", "inpainting refused", "sdxl refused", "no unet"])
def test_config_is_guessed_from_keys_like_the_host(state, expected):
    sd = {k: torch.zeros(*s) for k, s in state.items()}
    if expected.endswith(".yaml"):
        assert guess_config(sd).name == expected
    else:
        with pytest.raises(ValueError, match=expected):
            guess_config(sd)


def test_shipped_configs_have_no_scheduler_and_run_on_cpu():
    from omegaconf import OmegaConf

    for name, target, width in (("v1-inference.yaml", "FrozenCLIPEmbedder", 768),
                                ("v2-inference.yaml", "FrozenOpenCLIPEmbedder", 1024),
                                ("v2-inference-v.yaml", "FrozenOpenCLIPEmbedder", 1024)):
        cfg = OmegaConf.load(CONFIG_DIR / name).model.params
        assert "scheduler_config" not in cfg
        assert cfg.cond_stage_config.target.endswith(target) and cfg.cond_stage_config.params.device == "cpu"
        assert cfg.unet_config.params.context_dim == width
        assert cfg.get("parameterization", "eps") == ("v" if name.endswith("-v.yaml") else "eps")


def test_v_prediction_test_is_the_hosts(sd_workdir):
    """The host calls a model v-prediction when its UNet, fed 0.5 everywhere at t=999, returns far below x."""
    from lib_ti.model.loader import detect_v_parameterization
    from sdkit import build_tiny_sd

    model = build_tiny_sd("sd2", workdir=sd_workdir)
    out_conv = model.model.diffusion_model.out[-1]
    for bias, is_v in ((-10.0, True), (10.0, False)):
        with torch.no_grad():
            out_conv.weight.zero_()
            out_conv.bias.fill_(bias)
        assert detect_v_parameterization(model) is is_v
