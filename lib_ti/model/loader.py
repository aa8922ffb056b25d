"""Build an ldm ``LatentDiffusion`` from a checkpoint file, offline, for standalone runs (``python -m lib_ti train``).

Why not just ``instantiate_from_config`` + ``load_state_dict``: the configs name hub models
(``openai/clip-vit-large-patch14``, OpenCLIP ``laion2b`` weights) that cannot be downloaded here and whose weights
the checkpoint carries anyway; random initialisation of a full-size model costs many seconds on CPU; and a
``load_state_dict(strict=False)`` that silently misses the whole text encoder (transformers 5 renamed its keys)
would train against a random encoder. So this loader:

- reads ``.safetensors`` or ``.ckpt``/``.pt``/``.pth`` (``torch.load(weights_only=True)``), unwrapping ``state_dict``;
- picks the config: the ``config`` argument, else ``<checkpoint stem>.yaml`` beside it (as the host does), else SD1
  or SD2 by the checkpoint's keys with the configs shipped in ``lib_ti/configs`` (SD2: eps or v decided by the
  host's own test forward pass);
- builds the text encoders from configs only (tokenizer from open_clip's bundled vocabulary when no local files),
  skipping random initialisation; all weights then come from the checkpoint;
- warns about missing/unexpected keys and fails loudly when the text encoder's or UNet's keys are all missing.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from ldm.models.diffusion.ddpm import LatentDiffusion

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SD1_TEXT_KEY = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
SD2_TEXT_KEY = "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"
UNET_IN_KEY = "model.diffusion_model.input_blocks.0.0.weight"
#: old checkpoints saved the CLIP text model without ``text_model.`` (the host renames these the same way)
_SD1_KEY_FIXES = {
    "cond_stage_model.transformer.embeddings.": "cond_stage_model.transformer.text_model.embeddings.",
    "cond_stage_model.transformer.encoder.": "cond_stage_model.transformer.text_model.encoder.",
    "cond_stage_model.transformer.final_layer_norm.": "cond_stage_model.transformer.text_model.final_layer_norm.",
}
#: keys whose absence or presence is expected and harmless
_BENIGN = ("model_ema.", "cond_stage_model.transformer.text_model.embeddings.position_ids")

#: CLIP ViT-L/14 text tower, as in SD 1.x (used when no local config for the encoder exists)
VIT_L_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                  num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                  bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=768)


class CheckpointWarning(UserWarning):
    """A checkpoint loaded with missing or unexpected weights."""


# ---------------------------------------------------------------------------- reading
def read_state_dict(path: Union[str, Path]) -> dict:
    """The flat state dict of a checkpoint file, without executing pickled code."""
    import pickle

    import torch

    from .embeddings import weights_only_load

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            sd = load_file(str(path), device="cpu")
        except Exception as exc:
            raise ValueError(f"{path}: not a readable .safetensors file ({exc})") from None
    else:
        allowed: list = []
        with contextlib.suppress(Exception):  # PL callbacks appear as dict keys in training checkpoints
            from pytorch_lightning.callbacks.model_checkpoint import ModelCheckpoint

            allowed.append(ModelCheckpoint)
        try:
            with torch.serialization.safe_globals(allowed):
                sd = weights_only_load(path)
        except (pickle.UnpicklingError, RuntimeError, AttributeError) as exc:
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"{path}: refused to load: the checkpoint holds Python objects or code besides tensors "
                             f"({line[:200]}); convert it to .safetensors") from None
    while isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f"{path}: holds no state dict")
    fixed = {}
    for key, value in sd.items():
        for old, new in _SD1_KEY_FIXES.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        fixed[key] = value
    return fixed


def guess_config(state: dict) -> Path:
    """Shipped ldm config for a state dict: SD2 (OpenCLIP keys, eps config; v is decided after loading) or SD1.
    SDXL files are not ldm models: :func:`load_backend` loads them (:mod:`lib_ti.model.sdxl_loader`)."""
    if any(k.startswith("conditioner.embedders.") for k in state):
        from .sdxl_loader import is_sdxl_state

        if is_sdxl_state(state):
            raise ValueError("this is an SDXL checkpoint, not an ldm (SD 1.x/2.x) one: load it with load_backend, "
                             "which builds SDXL models")
        raise ValueError("this is an SDXL-family checkpoint without SDXL base's two text encoders (CLIP-L and "
                         "OpenCLIP-bigG), such as the SDXL refiner; TI Lab trains embeddings for SD 1.x, SD 2.x and "
                         "SDXL base models and their fine-tunes")
    unet_in = state.get(UNET_IN_KEY)
    if unet_in is None:
        raise ValueError("not a Stable Diffusion checkpoint (no UNet weights under model.diffusion_model.)")
    if unet_in.shape[1] != 4:
        raise ValueError(f"UNet takes {unet_in.shape[1]} input channels: an inpainting or instruct model; "
                         "TI Lab trains on text-to-image models (4 channels)")
    if SD2_TEXT_KEY in state:
        return CONFIG_DIR / "v2-inference.yaml"
    return CONFIG_DIR / "v1-inference.yaml"


# ---------------------------------------------------------------------------- offline text encoders
_tokenizer_dir: Optional[Path] = None


def offline_tokenizer_dir() -> Path:
    """A folder with the CLIP tokenizer files written from open_clip's vocabulary (once per process)."""
    global _tokenizer_dir
    if _tokenizer_dir is None or not (_tokenizer_dir / "vocab.json").exists():
        from .tokenizer_files import write_clip_tokenizer_files

        _tokenizer_dir = write_clip_tokenizer_files(Path(tempfile.mkdtemp(prefix="tilab-clip-tok-")))
    return _tokenizer_dir


class _ConfigOnlyTokenizer:
    """Stands in for ``CLIPTokenizer`` inside ldm while loading: local files, HF cache, else the offline vocabulary."""

    @staticmethod
    def from_pretrained(version: str, *args: Any, **kwargs: Any) -> Any:
        from transformers import CLIPTokenizer

        try:
            return CLIPTokenizer.from_pretrained(version, local_files_only=True)
        except (OSError, ValueError):
            return CLIPTokenizer.from_pretrained(str(offline_tokenizer_dir()), local_files_only=True)


class _ConfigOnlyTextModel:
    """Stands in for ``CLIPTextModel`` inside ldm while loading: the architecture only; weights come later."""

    @staticmethod
    def from_pretrained(version: str, *args: Any, **kwargs: Any) -> Any:
        from transformers import CLIPTextConfig, CLIPTextModel

        try:
            config = CLIPTextConfig.from_pretrained(version, local_files_only=True)
        except (OSError, ValueError):
            config = CLIPTextConfig(**VIT_L_TEXT)
        return CLIPTextModel(config)


@contextlib.contextmanager
def _building() -> Iterator[None]:
    """While building: config-only HF text encoders and no random initialisation (weights are loaded after)."""
    import torch
    import ldm.modules.encoders.modules as enc

    saved_enc = enc.CLIPTokenizer, enc.CLIPTextModel
    names = ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
             "trunc_normal_")
    saved_init = {n: getattr(torch.nn.init, n) for n in names}
    enc.CLIPTokenizer, enc.CLIPTextModel = _ConfigOnlyTokenizer, _ConfigOnlyTextModel
    for n in names:
        setattr(torch.nn.init, n, lambda tensor, *a, **k: tensor)
    try:
        yield
    finally:
        enc.CLIPTokenizer, enc.CLIPTextModel = saved_enc
        for n, fn in saved_init.items():
            setattr(torch.nn.init, n, fn)


def _prepare_config(cfg: Any, search_dirs: list[Path], dtype: "torch.dtype") -> None:
    """Make a host/SD-repo config buildable offline: no hub weights, cpu device, precision chosen at load."""
    import open_clip
    import torch

    p = cfg.model.params
    p.pop("ckpt_path", None)
    unet = p.unet_config.params
    unet.use_fp16 = dtype == torch.float16
    unet.use_checkpoint = False
    cs = p.cond_stage_config
    cs.setdefault("params", {})
    cs.params.device = "cpu"
    if str(cs.target).endswith("FrozenOpenCLIPEmbedder"):
        cs.params.version = None  # weights come from the checkpoint; nothing to download
        arch = cs.params.get("arch", "ViT-H-14")
        if arch not in open_clip.list_models():
            for folder in search_dirs:
                if (folder / f"{arch}.json").is_file():
                    open_clip.add_model_config(folder)
                    break
            else:
                raise ValueError(f"unknown OpenCLIP architecture {arch!r}: put {arch}.json beside the config")
    elif cs.params.get("version"):  # a text-encoder folder named relative to the config (TI Lab's demo model)
        for folder in search_dirs:
            if not Path(cs.params.version).is_absolute() and (folder / cs.params.version / "config.json").is_file():
                cs.params.version = str(folder / cs.params.version)
                break


def detect_v_parameterization(model: Any) -> bool:
    """The host's test for SD2 v-prediction: a UNet fed constant 0.5 at t=999 returns values well below x if v."""
    import torch

    unet = model.model.diffusion_model
    p = next(unet.parameters())
    ctx_dim = int(model.cond_stage_model.model.token_embedding.weight.shape[1])
    with torch.no_grad():
        x = torch.ones((1, 4, 8, 8), device=p.device, dtype=p.dtype) * 0.5
        ctx = torch.ones((1, 2, ctx_dim), device=p.device, dtype=p.dtype) * 0.5
        out = (unet(x, torch.tensor([999], device=p.device), context=ctx) - x).float().mean().item()
    return out < -1


# ---------------------------------------------------------------------------- loading
def load_ldm(ckpt: Union[str, Path], config: Optional[Union[str, Path]] = None, device: Union[str, "torch.device"] = "cpu",
             dtype: Optional["torch.dtype"] = None) -> "LatentDiffusion":
    """Build a frozen ``LatentDiffusion`` (eval, no grad) from ``ckpt``; see the module docstring for the rules.

    ``dtype`` applies to the UNet and the text encoder (default float32); the VAE and ``alphas_cumprod`` stay
    float32. The result carries ``tilab_checkpoint`` (the path) and ``tilab_config`` (the yaml used).
    """
    import io

    import torch
    from omegaconf import OmegaConf

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from ldm.util import instantiate_from_config

    dtype = dtype or torch.float32
    ckpt = Path(ckpt)
    state = read_state_dict(ckpt)
    decided_by_keys = False
    if config is not None:
        cfg_path = Path(config)
        if not cfg_path.is_file():
            raise ValueError(f"{cfg_path}: config file not found")
    elif ckpt.with_suffix(".yaml").is_file():
        cfg_path = ckpt.with_suffix(".yaml")
    else:
        try:
            cfg_path = guess_config(state)
        except ValueError as exc:
            raise ValueError(f"{ckpt}: {exc}") from None
        decided_by_keys = True
    cfg = OmegaConf.load(cfg_path)
    _prepare_config(cfg, [cfg_path.parent, ckpt.parent], dtype)

    with _building(), contextlib.redirect_stdout(io.StringIO()):  # ldm prints model summaries
        model = instantiate_from_config(cfg.model)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln]
        raise ValueError(f"{ckpt}: its weights do not fit the config {cfg_path} ({len(lines)} shape mismatches, "
                         f"e.g. {lines[0] if lines else str(exc)[:300]}); pass the model's own config "
                         f"(a .yaml beside the checkpoint or --config)") from None
    del state
    _check_keys(ckpt, model, missing, unexpected)

    model.eval().requires_grad_(False)
    model.to(device)
    if dtype != torch.float32:
        model.model.to(dtype)
        model.cond_stage_model.to(dtype)
    model.cond_stage_model.device = str(device)
    if decided_by_keys and cfg_path.name == "v2-inference.yaml" and detect_v_parameterization(model):
        model.parameterization = "v"
        cfg_path = CONFIG_DIR / "v2-inference-v.yaml"
    model.tilab_checkpoint = ckpt
    model.tilab_config = cfg_path
    return model


def _check_keys(ckpt: Path, model: Any, missing: list[str], unexpected: list[str]) -> None:
    own = list(model.state_dict().keys())
    for prefix, what in (("cond_stage_model.", "text encoder"), ("model.diffusion_model.", "UNet")):
        total = [k for k in own if k.startswith(prefix) and not k.endswith("position_ids")]
        gone = [k for k in missing if k.startswith(prefix) and not k.endswith("position_ids")]
        if total and len(gone) == len(total):
            extra = [k for k in unexpected if k.startswith(prefix)]
            hint = (f" The file has {len(extra)} other {prefix}* keys (e.g. {extra[0]}): it was saved with another "
                    "key layout (transformers 5 drops 'text_model.'); TI Lab needs transformers<5."
                    if extra else "")
            raise ValueError(f"{ckpt}: none of the {len(total)} {what} weights were found in the checkpoint; "
                             f"training on a random {what} would be meaningless.{hint}")
    missing = [k for k in missing if not k.startswith(_BENIGN) and not k.endswith("position_ids")]
    unexpected = [k for k in unexpected if not k.startswith(_BENIGN)]
    if missing:
        import torch

        params = dict(model.named_parameters())
        with torch.no_grad():
            for k in missing:  # initialisation was skipped: give them defined values
                if k in params:
                    params[k].zero_()
        warnings.warn(f"{ckpt.name}: {len(missing)} weights missing (set to zero), e.g. {', '.join(missing[:3])}",
                      CheckpointWarning, stacklevel=3)
    if unexpected:
        warnings.warn(f"{ckpt.name}: {len(unexpected)} unexpected weights ignored, e.g. {', '.join(unexpected[:3])}",
                      CheckpointWarning, stacklevel=3)


# ---------------------------------------------------------------------------- any family
def checkpoint_is_sdxl(path: Union[str, Path]) -> bool:
    """Whether a checkpoint file holds SDXL (both text encoders under ``conditioner.embedders``); reads only the
    header of a ``.safetensors``."""
    from .sdxl_loader import is_sdxl_state

    path = Path(path)
    if path.suffix.lower() == ".safetensors" and path.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                return is_sdxl_state(dict.fromkeys(fh.keys()))
        except Exception:  # unreadable header: read_state_dict reports it with the file's name
            return False
    return is_sdxl_state(read_state_dict(path)) if path.is_file() else False


def load_backend(ckpt: Union[str, Path], config: Optional[Union[str, Path]] = None,
                 device: Union[str, "torch.device"] = "cpu", dtype: Optional["torch.dtype"] = None) -> Any:
    """A training backend for a checkpoint of any supported family: :class:`~lib_ti.model.sdxl.SDXLBackend` for SDXL
    (``config``: an SDXL config folder, default the shipped base configs), else
    :class:`~lib_ti.model.backend.SDBackend` over :func:`load_ldm`."""
    if checkpoint_is_sdxl(ckpt):
        from .sdxl import SDXLBackend
        from .sdxl_loader import load_sdxl

        return SDXLBackend(load_sdxl(ckpt, config, device=device, dtype=dtype))
    from .backend import SDBackend

    return SDBackend(load_ldm(ckpt, config, device=device, dtype=dtype))
