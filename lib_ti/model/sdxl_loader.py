"""Build :class:`~lib_ti.model.sdxl.SDXLModel` from configs, and load an SDXL single-file checkpoint offline.

Why these libraries: the host runs SDXL on ``sgm`` (Stability-AI's generative-models), which is not published on
PyPI, so standalone TI Lab cannot depend on it. The checkpoint's text encoders are stored in the layout of the very
classes sgm wraps, so they load as they are: CLIP-L into transformers' ``CLIPTextModel``
(``conditioner.embedders.0.transformer.*``), OpenCLIP-bigG into open_clip's ``CLIP`` text tower
(``conditioner.embedders.1.model.*``). UNet and VAE go through diffusers (maintained, on PyPI), whose single-file
loader converts the A1111/ComfyUI layout (``model.diffusion_model.*``, ``first_stage_model.*``) itself; its configs
are shipped in ``lib_ti/model/configs/sdxl`` so nothing is fetched from a hub.

A config folder holds ``unet/config.json`` and ``vae/config.json`` (diffusers) and ``text_encoders.json``
(``clip_l``: a transformers ``CLIPTextConfig``; ``clip_l_layer``: the hidden state sgm uses, -2 = penultimate;
``clip_g``: open_clip ``embed_dim`` and ``text_cfg``; ``scale_factor``; ``parameterization``). Which folder: the one
given, else a config folder beside the checkpoint named like it (``my-xl/`` for ``my-xl.safetensors``, the SDXL
counterpart of the host's ``my-xl.yaml`` rule), else the shipped SDXL base configs.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .sdxl import SDXLModel

if TYPE_CHECKING:  # pragma: no cover
    import torch

SDXL_CONFIG_DIR = Path(__file__).resolve().parent / "configs" / "sdxl"
CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
CLIP_G_PREFIX = "conditioner.embedders.1.model."
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
#: a tiny vision tower: open_clip's CLIP always builds one, sgm deletes it, so do we
_NO_VISION = {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16}


def is_sdxl_state(state: dict) -> bool:
    """An SDXL base checkpoint: both text encoders under ``conditioner.embedders``."""
    return any(k.startswith(CLIP_G_PREFIX) for k in state) and any(k.startswith(CLIP_L_PREFIX) for k in state)


def read_config(config_dir: Union[str, Path]) -> dict:
    folder = Path(config_dir)
    missing = [p for p in ("text_encoders.json", "unet/config.json", "vae/config.json") if not (folder / p).is_file()]
    if missing:
        raise ValueError(f"{folder}: not an SDXL config folder (missing {', '.join(missing)})")
    return json.loads((folder / "text_encoders.json").read_text(encoding="utf-8"))


def config_for(ckpt: Union[str, Path], config_dir: Optional[Union[str, Path]] = None) -> Path:
    """The config folder for ``ckpt``: ``config_dir``, else ``<checkpoint stem>/`` beside it when that is a config
    folder (it has ``text_encoders.json``), else the shipped SDXL base configs."""
    if config_dir is not None:
        return Path(config_dir)
    beside = Path(ckpt).with_suffix("")
    return beside if (beside / "text_encoders.json").is_file() else SDXL_CONFIG_DIR


def _tokenizer() -> Any:
    from transformers import CLIPTokenizer

    from .loader import offline_tokenizer_dir

    return CLIPTokenizer.from_pretrained(str(offline_tokenizer_dir()), local_files_only=True)


def build_sdxl(config_dir: Union[str, Path] = SDXL_CONFIG_DIR, *, init_weights: bool = True) -> SDXLModel:
    """An :class:`SDXLModel` with the architecture of ``config_dir`` (random weights, or uninitialised with
    ``init_weights=False`` when a checkpoint fills them next). Frozen: eval mode, no gradients."""
    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import open_clip
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .loader import _building

    folder = Path(config_dir)
    cfg = read_config(folder)
    ctx = contextlib.nullcontext() if init_weights else _building()
    with ctx:
        clip_l = CLIPTextModel(CLIPTextConfig(**cfg["clip_l"]))
        g = cfg["clip_g"]
        clip_g = open_clip.model.CLIP(int(g["embed_dim"]), vision_cfg=_NO_VISION, text_cfg=g["text_cfg"])
        del clip_g.visual
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(folder / "unet")))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder / "vae")))
    model = SDXLModel(clip_l, _tokenizer(), clip_g, unet, vae, scale_factor=float(cfg.get("scale_factor", 0.13025)),
                      parameterization=str(cfg.get("parameterization", "eps")),
                      clip_l_layer=int(cfg.get("clip_l_layer", -2)))
    model.eval().requires_grad_(False)
    model.tilab_config = folder
    return model


def _config_hint(ckpt: Path) -> str:
    return (f"Put the model's config folder beside it as {ckpt.with_suffix('').name}/ (text_encoders.json, "
            "unet/config.json, vae/config.json) or pass it as the config.")


def _check_widths(ckpt: Path, state: dict, folder: Path) -> None:
    """Compare the widths of the checkpoint's parts with the config before building anything.

    Why: building the model of a config (the SDXL base one by default: 3.5 B parameters) only to find that the file
    is another size costs memory and time; three shapes in the file tell."""
    cfg = read_config(folder)
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    checks = (
        ("CLIP-L text encoder", CLIP_L_PREFIX + "text_model.embeddings.token_embedding.weight", 1,
         cfg["clip_l"].get("hidden_size")),
        ("OpenCLIP-bigG text encoder", CLIP_G_PREFIX + "token_embedding.weight", 1,
         cfg["clip_g"].get("text_cfg", {}).get("width")),
        ("UNet", UNET_PREFIX + "input_blocks.0.0.weight", 0, (unet.get("block_out_channels") or [None])[0]),
    )
    for name, key, dim, want in checks:
        have = state.get(key)
        if have is not None and want is not None and have.dim() > dim and int(have.shape[dim]) != int(want):
            raise ValueError(f"{ckpt}: its {name} does not fit the config in {folder} (width {int(have.shape[dim])}, "
                             f"the config says {int(want)}). {_config_hint(ckpt)}")


def _sub(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_sdxl(ckpt: Union[str, Path], config_dir: Optional[Union[str, Path]] = None,
              device: Union[str, "torch.device"] = "cpu", dtype: Optional["torch.dtype"] = None,
              state: Optional[dict] = None) -> SDXLModel:
    """An SDXL single-file checkpoint (A1111/ComfyUI layout) as a frozen :class:`SDXLModel`, offline.

    ``config_dir``: see :func:`config_for`. ``dtype`` applies to UNet and text encoders (the VAE stays
    float32, as it overflows in fp16). Fails with the file's name when a part's weights are missing or misshapen.
    """
    import torch

    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    from .loader import read_state_dict

    ckpt = Path(ckpt)
    folder = config_for(ckpt, config_dir)
    state = state if state is not None else read_state_dict(ckpt)
    if not is_sdxl_state(state):
        raise ValueError(f"{ckpt}: not an SDXL checkpoint (no CLIP-L and OpenCLIP-bigG weights under "
                         "conditioner.embedders.)")
    _check_widths(ckpt, state, folder)
    model = build_sdxl(folder, init_weights=False)
    for name, module, prefix in (("CLIP-L text encoder", model.clip_l, CLIP_L_PREFIX),
                                 ("OpenCLIP-bigG text encoder", model.clip_g, CLIP_G_PREFIX)):
        part = _sub(state, prefix)
        try:
            missing, unexpected = module.load_state_dict(part, strict=False)
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln]
            raise ValueError(f"{ckpt}: its {name} does not fit the config in {folder} "
                             f"({lines[0] if lines else str(exc)[:300]}). {_config_hint(ckpt)}") from None
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing:
            raise ValueError(f"{ckpt}: {len(missing)} {name} weights missing, e.g. {', '.join(missing[:3])}")
        if unexpected:
            warnings.warn(f"{ckpt.name}: {len(unexpected)} unexpected {name} weights ignored", stacklevel=2)
    kwargs = dict(config=str(folder), local_files_only=True, low_cpu_mem_usage=False)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            unet = UNet2DConditionModel.from_single_file(
                {k: v for k, v in state.items() if k.startswith(UNET_PREFIX)}, subfolder="unet", **kwargs)
            vae = AutoencoderKL.from_single_file(
                {k: v for k, v in state.items() if k.startswith(VAE_PREFIX)}, subfolder="vae", **kwargs)
        except Exception as exc:  # diffusers raises several types for missing or misshapen weights
            raise ValueError(f"{ckpt}: its UNet/VAE weights do not fit the SDXL config in {folder} "
                             f"({type(exc).__name__}: {str(exc)[:300]}). {_config_hint(ckpt)}") from None
    del state
    model.model.diffusion_model = unet
    model.first_stage_model = vae
    model.eval().requires_grad_(False)
    model.to(device)
    if dtype is not None and dtype != torch.float32:
        for part in (model.model, model.clip_l, model.clip_g):
            part.to(dtype)
    model.tilab_checkpoint = ckpt
    return model
