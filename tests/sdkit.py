"""Small Stable-Diffusion-shaped models with random weights, built offline, for tests and benchmarks.

Why this exists: no model can be downloaded, yet every code path (tokenizer, text encoder with embedding
injection, UNet, VAE, checkpoint loading) must run for real. These builders use the real ``ldm`` classes and
the shipped configs in ``lib_ti/model/configs``, shrunk; only the weights are random.

Three traps are handled here (see the offline test stack notes):
- the CLIP tokenizer is written from open_clip's bundled BPE vocabulary (no hub access);
- ``ldm`` zero-initialises several layers, which would make every TI gradient exactly zero, so all-zero
  weight tensors are re-randomised;
- a fresh text encoder ends in a LayerNorm with bias 0, so its output mean is ~0 and the host's "Original"
  emphasis divides by ~0; the final LayerNorm gets a non-zero bias.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib_ti.model.tokenizer_files import write_clip_tokenizer_files  # noqa: F401  (re-exported for tests)

if TYPE_CHECKING:  # pragma: no cover
    from ldm.models.diffusion.ddpm import LatentDiffusion

CONFIG_DIR = Path(__file__).resolve().parents[1] / "lib_ti" / "model" / "configs"

#: id of ``*</w>`` in the CLIP vocabulary, the placeholder the host writes in ``string_to_token``.
STAR_TOKEN_ID = 265


def _clip_text_config(width: int, layers: int, heads: int, intermediate: int) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408, hidden_size=width, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, max_position_embeddings=77, hidden_act="quick_gelu",
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=width,
    )


def write_tiny_clip_folder(path: Path, *, width: int = 32, layers: int = 2, heads: int = 2,
                           intermediate: int | None = None, seed: int = 0) -> Path:
    """A local ``openai/clip-vit-large-patch14`` look-alike: real tokenizer files, tiny random ``CLIPTextModel``.

    ldm's ``FrozenCLIPEmbedder(version=<folder>)`` loads it with ``from_pretrained``. The final LayerNorm gets a
    bias drawn from N(0.1, 0.05) so the encoder output mean is not ~0 (see module docstring).
    Re-uses the folder when it already holds a model.
    """
    import torch

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from transformers import CLIPTextModel

    path = Path(path)
    weights = [path / "pytorch_model.bin", path / "model.safetensors"]
    if (path / "config.json").exists() and (path / "vocab.json").exists() and any(w.exists() for w in weights):
        return path
    write_clip_tokenizer_files(path)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = CLIPTextModel(_clip_text_config(width, layers, heads, intermediate or 4 * width))
        with torch.no_grad():
            ln = model.text_model.final_layer_norm
            ln.bias.normal_(0.1, 0.05)
            ln.weight.normal_(1.0, 0.1)
    finally:
        torch.random.set_rng_state(gen_state)
    model.save_pretrained(path)
    return path


def _register_tiny_open_clip(workdir: Path, width: int, layers: int = 3, heads: int = 2) -> str:
    """Register a tiny open_clip architecture (text tower ``width`` wide) and return its name.

    The JSON is written to ``workdir`` so a checkpoint's loader in another process can register it too
    (the loader looks for ``<arch>.json`` beside the checkpoint's yaml).
    """
    import open_clip

    name = f"tilab-tiny-oc-{width}"
    cfg = {
        "embed_dim": width,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": width, "heads": heads, "layers": layers},
    }
    folder = Path(workdir) / "open_clip_configs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(cfg), encoding="utf-8")
    open_clip.add_model_config(folder)
    return name


def _load_config(name: str) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.load(CONFIG_DIR / name)


def _shrink(cfg: Any, *, model_channels: int, channel_mult: list[int], attention_resolutions: list[int],
            head_channels: int, context_dim: int, vae_ch: int, vae_mult: list[int], image_size: int) -> None:
    p = cfg.model.params
    p.image_size = image_size
    u = p.unet_config.params
    u.model_channels = model_channels
    u.channel_mult = channel_mult
    u.attention_resolutions = attention_resolutions
    u.num_res_blocks = 1
    u.num_head_channels = head_channels
    u.pop("num_heads", None)
    u.context_dim = context_dim
    u.image_size = image_size
    d = p.first_stage_config.params.ddconfig
    d.ch = vae_ch
    d.ch_mult = vae_mult
    d.num_res_blocks = 1
    d.resolution = image_size * 8


def _seeded_build(seed: int, build: Any) -> Any:
    """``build()`` under ``seed`` (the global RNG restored after), all-zero weight matrices re-randomised.

    ldm/sgm zero-initialise several layers; left at zero every TI gradient would be exactly zero.
    """
    import torch

    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build()
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() > 1 and not p.any():
                    p.normal_(0.0, 0.02)
    finally:
        torch.random.set_rng_state(state)
    return model


def _instantiate(cfg: Any, seed: int) -> "LatentDiffusion":
    """Build the model from ``cfg``, re-randomise zero-initialised layers, freeze it (eval, no grad)."""
    import contextlib
    import io

    import torch

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from ldm.util import instantiate_from_config

    def build():
        with contextlib.redirect_stdout(io.StringIO()):  # ldm prints model summaries
            return instantiate_from_config(cfg.model)

    model = _seeded_build(seed, build)
    model.eval().requires_grad_(False)
    model.tilab_config = cfg  # the config it was built from, for write_tiny_checkpoint
    return model


def tiny_config(kind: str = "sd1", *, workdir: Path, seed: int = 0, width: int = 32,
                parameterization: str = "eps") -> Any:
    """The OmegaConf config of :func:`build_tiny_sd` (shipped config, shrunk; text encoder from ``workdir``)."""
    workdir = Path(workdir)
    if kind == "sd1":
        if parameterization != "eps":
            raise ValueError("SD1 models predict eps; use kind='sd2' for v prediction")
        cfg = _load_config("v1-inference.yaml")
        clip_dir = write_tiny_clip_folder(workdir / f"tiny-clip-{width}-s{seed}", width=width, seed=seed)
        cfg.model.params.cond_stage_config.params.version = str(clip_dir)
    elif kind == "sd2":
        if parameterization not in ("eps", "v"):
            raise ValueError(f"parameterization must be 'eps' or 'v', not {parameterization!r}")
        cfg = _load_config("v2-inference-v.yaml" if parameterization == "v" else "v2-inference.yaml")
        cfg.model.params.cond_stage_config.params.arch = _register_tiny_open_clip(workdir, width)
    else:
        raise ValueError(f"kind must be 'sd1' or 'sd2', not {kind!r}")
    _shrink(cfg, model_channels=32, channel_mult=[1, 2], attention_resolutions=[1, 2], head_channels=16,
            context_dim=width, vae_ch=32, vae_mult=[1, 1, 1, 1], image_size=8)
    return cfg


def build_tiny_sd(kind: str = "sd1", *, workdir: Path, seed: int = 0, width: int = 32,
                  parameterization: str = "eps") -> "LatentDiffusion":
    """A ~3 M-parameter SD1- or SD2-shaped ``LatentDiffusion`` with random weights (builds in ~1-2 s).

    - ``sd1``: ldm ``FrozenCLIPEmbedder`` over a tiny HF CLIP folder written into ``workdir``.
    - ``sd2``: ldm ``FrozenOpenCLIPEmbedder`` over a tiny registered open_clip architecture, layer penultimate,
      ``parameterization`` "eps" or "v".
    UNet: 32 channels, levels ×1/×2 with cross-attention; VAE: 4 levels (f=8 like SD), 32 channels.
    Returned in eval mode with ``requires_grad_(False)``.
    """
    import torch

    model = _instantiate(tiny_config(kind, workdir=workdir, seed=seed, width=width,
                                     parameterization=parameterization), seed)
    if kind == "sd2":
        with torch.no_grad():
            g = torch.Generator().manual_seed(seed + 1)
            ln = model.cond_stage_model.model.ln_final
            ln.bias.copy_(torch.randn(ln.bias.shape, generator=g) * 0.05 + 0.1)
    return model


def build_larger_sd1(*, workdir: Path, seed: int = 0) -> "LatentDiffusion":
    """An SD1-shaped random model big enough for benchmarks (a few seconds to build on CPU).

    UNet 128 channels, levels ×1/×2/×4 with cross-attention on the last two, context 768; CLIP text encoder
    768 wide with 4 layers and 12 heads (the real CLIP-L has 12 layers); small VAE.
    """
    workdir = Path(workdir)
    cfg = _load_config("v1-inference.yaml")
    clip_dir = write_tiny_clip_folder(workdir / f"bench-clip-768-s{seed}", width=768, layers=4, heads=12,
                                      intermediate=3072, seed=seed)
    cfg.model.params.cond_stage_config.params.version = str(clip_dir)
    _shrink(cfg, model_channels=128, channel_mult=[1, 2, 4], attention_resolutions=[2, 4], head_channels=64,
            context_dim=768, vae_ch=32, vae_mult=[1, 1, 1, 1], image_size=32)
    return _instantiate(cfg, seed)


def write_tiny_checkpoint(path: Path, kind: str = "sd1", *, workdir: Path, seed: int = 0,
                          parameterization: str = "eps") -> tuple[Path, Path]:
    """Save a tiny model as ``path`` (``.safetensors``) plus ``<stem>.yaml`` beside it, as the host expects.

    For SD2 the tiny open_clip architecture JSON is written beside the yaml too, so :func:`lib_ti.model.loader.load_ldm`
    can rebuild the model in a fresh process. Returns ``(checkpoint, yaml)``.
    """
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    from lib_ti.core.fsutil import atomic_save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: tiny checkpoints are written as .safetensors")
    model = build_tiny_sd(kind, workdir=workdir, seed=seed, parameterization=parameterization)
    cfg = model.tilab_config
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    atomic_save(path, lambda tmp: save_file(state, str(tmp)))
    yaml_path = path.with_suffix(".yaml")
    atomic_save(yaml_path, lambda tmp: OmegaConf.save(cfg, tmp))
    if kind == "sd2":
        arch = cfg.model.params.cond_stage_config.params.arch
        src = Path(workdir) / "open_clip_configs" / f"{arch}.json"
        (path.parent / f"{arch}.json").write_bytes(src.read_bytes())
    return path, yaml_path


# ---------------------------------------------------------------------------- SDXL
def write_tiny_sdxl_config(folder: Path, *, clip_l_width: int = 32, clip_g_width: int = 48,
                           parameterization: str = "eps") -> Path:
    """An SDXL config folder (the layout of ``lib_ti/model/configs/sdxl``) for a ~5 M-parameter model.

    CLIP-L-shaped (HF CLIP text model, quick_gelu, 3 layers, hidden layer -2) and OpenCLIP-bigG-shaped (open_clip text
    tower with projection, 3 blocks, penultimate + pooled) text encoders with the real 49408-token vocabulary; a
    UNet with SDXL's ``text_time`` added conditioning (``adm_in_channels`` = pooled + 6·256), cross-attention width
    ``clip_l_width + clip_g_width`` and no attention on its first level, as SDXL; a 4-level (f=8) VAE.
    """
    folder = Path(folder)
    (folder / "unet").mkdir(parents=True, exist_ok=True)
    (folder / "vae").mkdir(parents=True, exist_ok=True)
    text = {
        "clip_l": {"vocab_size": 49408, "hidden_size": clip_l_width, "intermediate_size": 4 * clip_l_width,
                   "num_hidden_layers": 3, "num_attention_heads": 2, "max_position_embeddings": 77,
                   "hidden_act": "quick_gelu", "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 49407,
                   "projection_dim": clip_l_width},
        "clip_l_layer": -2,
        "clip_g": {"embed_dim": clip_g_width,
                   "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": clip_g_width, "heads": 2,
                                "layers": 3}},
        "scale_factor": 0.13025,
        "parameterization": parameterization,
    }
    unet = {
        "_class_name": "UNet2DConditionModel", "sample_size": 8, "in_channels": 4, "out_channels": 4,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "block_out_channels": [32, 64],
        "layers_per_block": 1, "attention_head_dim": [2, 4], "transformer_layers_per_block": [1, 1],
        "cross_attention_dim": clip_l_width + clip_g_width, "use_linear_projection": True,
        "addition_embed_type": "text_time", "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": clip_g_width + 6 * 256, "norm_num_groups": 32,
    }
    vae = {
        "_class_name": "AutoencoderKL", "in_channels": 3, "out_channels": 3, "latent_channels": 4,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
        "block_out_channels": [32, 32, 32, 32], "layers_per_block": 1, "norm_num_groups": 32, "sample_size": 64,
        "scaling_factor": 0.13025,
    }
    (folder / "text_encoders.json").write_text(json.dumps(text, indent=1), encoding="utf-8")
    (folder / "unet" / "config.json").write_text(json.dumps(unet, indent=1), encoding="utf-8")
    (folder / "vae" / "config.json").write_text(json.dumps(vae, indent=1), encoding="utf-8")
    return folder


def build_tiny_sdxl(*, workdir: Path, seed: int = 0, parameterization: str = "eps") -> Any:
    """A tiny random :class:`lib_ti.model.sdxl.SDXLModel` from :func:`write_tiny_sdxl_config` (frozen, eval)."""
    import torch

    from lib_ti.model.sdxl_loader import build_sdxl

    folder = write_tiny_sdxl_config(Path(workdir) / f"tiny-sdxl-{parameterization}", parameterization=parameterization)
    return _seeded_build(seed, lambda: build_sdxl(folder))
