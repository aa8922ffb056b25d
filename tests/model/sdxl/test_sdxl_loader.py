"""Standalone SDXL loading: a tiny single-file checkpoint in the A1111/ComfyUI layout (sgm key names) loads offline
into :class:`SDXLModel` through :func:`lib_ti.model.loader.load_backend`, every part from the file."""

from __future__ import annotations

import re

import pytest
import torch


def _a1111_state(tiny_sdxl) -> dict:
    """sgm-layout keys: the tiny model's text encoders, an ldm UNet of the same shape (sgm and ldm share UNet keys
    at transformer depth 1; ``label_emb`` is SDXL's ``adm_in_channels`` projection) and an ldm VAE."""
    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from ldm.models.autoencoder import AutoencoderKL
    from ldm.modules.diffusionmodules.openaimodel import UNetModel

    torch.manual_seed(3)
    unet = UNetModel(image_size=8, in_channels=4, out_channels=4, model_channels=32, attention_resolutions=[2],
                     num_res_blocks=1, channel_mult=[1, 2], num_head_channels=16, use_spatial_transformer=True,
                     use_linear_in_transformer=True, transformer_depth=1, context_dim=80)
    ted = 32 * 4
    state = {f"model.diffusion_model.{k}": v for k, v in unet.state_dict().items()}
    state.update({"model.diffusion_model.label_emb.0.0.weight": torch.randn(ted, 48 + 6 * 256) * 0.02,
                  "model.diffusion_model.label_emb.0.0.bias": torch.zeros(ted),
                  "model.diffusion_model.label_emb.0.2.weight": torch.randn(ted, ted) * 0.02,
                  "model.diffusion_model.label_emb.0.2.bias": torch.zeros(ted)})
    dd = dict(double_z=True, z_channels=4, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 1, 1],
              num_res_blocks=1, attn_resolutions=[], dropout=0.0)
    vae = AutoencoderKL(ddconfig=dd, lossconfig={"target": "torch.nn.Identity"}, embed_dim=4)
    state.update({f"first_stage_model.{k}": v for k, v in vae.state_dict().items()})
    state.update({f"conditioner.embedders.0.transformer.{k}": v for k, v in tiny_sdxl.clip_l.state_dict().items()})
    state.update({f"conditioner.embedders.1.model.{k}": v for k, v in tiny_sdxl.clip_g.state_dict().items()})
    return {k: v.contiguous() for k, v in state.items()}


def test_single_file_loads_offline_with_every_part(tmp_path, tiny_sdxl):
    from safetensors.torch import save_file

    from lib_ti.model.loader import checkpoint_is_sdxl, load_backend
    from lib_ti.model.sdxl import SDXLBackend

    state = _a1111_state(tiny_sdxl)
    path = tmp_path / "tiny-xl.safetensors"
    save_file(state, str(path))
    assert checkpoint_is_sdxl(path)
    backend = load_backend(path, tiny_sdxl.tilab_config)
    assert isinstance(backend, SDXLBackend) and backend.embedding_split == (32, 48)
    m = backend.model
    for k, v in tiny_sdxl.clip_g.state_dict().items():
        assert torch.equal(m.clip_g.state_dict()[k], v)
    unet = m.model.diffusion_model
    assert torch.equal(unet.conv_in.weight, state["model.diffusion_model.input_blocks.0.0.weight"])
    assert torch.equal(unet.add_embedding.linear_1.weight, state["model.diffusion_model.label_emb.0.0.weight"])
    assert torch.equal(m.first_stage_model.encoder.conv_in.weight, state["first_stage_model.encoder.conv_in.weight"])
    c = backend.encode_prompts(["a photo"], {})
    out = backend.apply_model(torch.randn(1, 4, 8, 8), torch.tensor([10]), c)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()


def test_misshapen_sdxl_file_names_the_file(tmp_path, tiny_sdxl):
    from safetensors.torch import save_file

    from lib_ti.model.loader import load_backend

    state = _a1111_state(tiny_sdxl)
    state["conditioner.embedders.1.model.token_embedding.weight"] = torch.zeros(49408, 7)
    path = tmp_path / "broken-xl.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match="broken-xl.safetensors: its OpenCLIP-bigG text encoder does not fit"):
        load_backend(path, tiny_sdxl.tilab_config)


def _config_beside(tiny_sdxl, ckpt) -> None:
    import shutil

    shutil.copytree(tiny_sdxl.tilab_config, ckpt.with_suffix(""))


def test_standalone_train_tab_loads_an_sdxl_file_with_its_config_beside(tmp_path, tiny_sdxl):
    """The Train tab lists the models folder and loads the picked file with no config argument: an SDXL file is
    found by its keys and its config folder beside it (``<stem>/``), as the host finds ``<stem>.yaml``."""
    from safetensors.torch import save_file

    from lib_ti.core.context import AppContext
    from lib_ti.model.sdxl import SDXLBackend
    from lib_ti.ui import train_tab

    ctx = AppContext(data_dir=tmp_path / "tilab")
    models = train_tab.models_folder(ctx)
    models.mkdir(parents=True)
    ckpt = models / "tiny-xl.safetensors"
    save_file(_a1111_state(tiny_sdxl), str(ckpt))
    _config_beside(tiny_sdxl, ckpt)
    assert "tiny-xl.safetensors" in train_tab.list_models(ctx)
    train_tab._backends.clear()
    try:
        backend = train_tab.get_backend(ctx, "tiny-xl.safetensors")
        assert isinstance(backend, SDXLBackend) and backend.embedding_split == (32, 48)
        assert backend.model.tilab_config == ckpt.with_suffix("")
        assert train_tab.get_backend(ctx, "tiny-xl.safetensors") is backend  # loaded once
    finally:
        train_tab._backends.clear()


def test_a_file_of_another_size_is_refused_before_building_with_the_config_hint(tmp_path, tiny_sdxl, monkeypatch):
    """Without a config beside it the shipped SDXL base config applies; a tiny file does not fit it, which three
    shapes tell before the 3.5 B-parameter model is built."""
    from safetensors.torch import save_file

    from lib_ti.model import sdxl_loader
    from lib_ti.model.loader import load_backend

    def no_build(*a, **k):
        raise AssertionError("built a model for a file that does not fit its config")

    monkeypatch.setattr(sdxl_loader, "build_sdxl", no_build)
    path = tmp_path / "small-xl.safetensors"
    save_file(_a1111_state(tiny_sdxl), str(path))
    with pytest.raises(ValueError) as err:
        load_backend(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: its CLIP-L text encoder does not fit the config in {sdxl_loader.SDXL_CONFIG_DIR}")
    assert "(width 32, the config says 768)" in msg and "beside it as small-xl/" in msg


@pytest.mark.parametrize("keys, expected", [
    (("conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight",
      "conditioner.embedders.1.model.token_embedding.weight"), "an SDXL checkpoint, not an ldm .* load_backend"),
    (("conditioner.embedders.0.model.token_embedding.weight",), "an SDXL-family checkpoint .* the SDXL refiner"),
], ids=["base: use load_backend", "refiner refused"])
def test_ldm_loader_names_the_sdxl_file_and_says_what_to_do(tmp_path, keys, expected):
    from safetensors.torch import save_file

    from lib_ti.model.loader import UNET_IN_KEY, load_ldm

    path = tmp_path / "xl.safetensors"
    save_file({UNET_IN_KEY: torch.zeros(8, 4, 3, 3), **{k: torch.zeros(4, 8) for k in keys}}, str(path))
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: this is {expected}"):
        load_ldm(path)
