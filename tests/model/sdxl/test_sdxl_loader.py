"""Standalone SDXL loading: a tiny single-file checkpoint in the A1111/ComfyUI layout (sgm key names) loads offline
into :class:`SDXLModel` through :func:`lib_ti.model.loader.load_backend`, every part from the file."""

from __future__ import annotations

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
