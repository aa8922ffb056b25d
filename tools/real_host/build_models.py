"""Build the real-host harness's offline CLIP files and tiny random checkpoints, with the host's own ``ldm``.

Run by ``harness.py models`` inside the harness venv (it needs the host's pinned transformers/open_clip and
its ``repositories/stable-diffusion-stability-ai``). Why random tiny models: nothing can be downloaded, yet the
host must load a checkpoint, train and sample for real; these load in about a second.

Writes, under ``--home``:

- ``hf/hub/models--openai--clip-vit-large-patch14``: the tokenizer and ``config.json`` the host asks the hub for
  (SD1 checkpoints without a local text-encoder folder);
- ``models/tiny-clip-32``: a 2-layer, 32-wide CLIP text encoder folder (the ``tiny`` checkpoint's ``version``);
- ``models/Stable-diffusion/{tiny,tiny768,tiny-sd2v}.safetensors`` with a same-named ``.yaml`` beside each;
- ``models/tiny-clip-l-768``: a 2-layer CLIP text encoder of CLIP-L's width (768) for the SDXL checkpoint;
- ``models/Stable-diffusion/tiny-sdxl.safetensors`` + ``.yaml``: SDXL-shaped, built with the host's own ``sgm``
  (``repositories/generative-models``) from its ``sd_xl_base.yaml``;
- ``<webui>/models/VAE-approx/vaeapprox-sdxl.pt``: a copy of the host's shipped ``model.pt`` (the same
  ``VAEApprox`` architecture); the host downloads the SDXL one before every txt2img with live previews on;
- ``tilab-tiny-oc-32.json`` and ``tilab-tiny-bigg-1280.json`` into the venv's ``open_clip/model_configs`` (the SD2-v
  and SDXL text towers' architectures, registered by open_clip itself when the host imports it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLIP_L = "openai/clip-vit-large-patch14"
OPEN_CLIP_ARCH = "tilab-tiny-oc-32"
#: SDXL's second text tower: OpenCLIP-bigG's width (1280, 20 heads of 64) and pooled width, 2 blocks
SDXL_G_ARCH, SDXL_G_WIDTH, SDXL_G_HEADS = "tilab-tiny-bigg-1280", 1280, 20
SDXL_L_WIDTH = 768  # CLIP-L's width: with 1280 the host reports the real SDXL embedding shape (2048)
KINDS = ("sd1", "sd2v", "sdxl")


def clip_text_config(width: int, layers: int, heads: int, intermediate: int) -> dict:
    return dict(vocab_size=49408, hidden_size=width, intermediate_size=intermediate, num_hidden_layers=layers,
                num_attention_heads=heads, max_position_embeddings=77, hidden_act="quick_gelu",
                bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=width)


def write_hub_clip(home: Path) -> Path:
    """The hub cache layout of ``openai/clip-vit-large-patch14`` with tokenizer files and a CLIPConfig (no weights)."""
    from transformers import CLIPConfig, CLIPTokenizerFast

    from lib_ti.model.tokenizer_files import write_clip_tokenizer_files

    root = home / "hf" / "hub" / "models--openai--clip-vit-large-patch14"
    snapshot_id = hashlib.sha1(b"tilab-offline-clip-vit-large-patch14").hexdigest()
    snap = root / "snapshots" / snapshot_id
    write_clip_tokenizer_files(snap)
    CLIPTokenizerFast.from_pretrained(str(snap), local_files_only=True).backend_tokenizer.save(str(snap / "tokenizer.json"))
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    config = CLIPConfig(text_config=clip_text_config(768, 12, 12, 3072), vision_config=vision, projection_dim=768)
    config.save_pretrained(str(snap))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(snapshot_id, encoding="utf-8")
    return snap


def write_tiny_clip(folder: Path, width: int = 32, heads: int = 2, seed: int = 0) -> Path:
    """A 2-layer random CLIP text encoder (the real tokenizer) saved as a local ``from_pretrained`` folder."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from lib_ti.model.tokenizer_files import write_clip_tokenizer_files

    write_clip_tokenizer_files(folder)
    torch.manual_seed(seed)
    model = CLIPTextModel(CLIPTextConfig(**clip_text_config(width, 2, heads, 4 * width)))
    randomise_final_norm(model.text_model.final_layer_norm)
    model.save_pretrained(str(folder))
    return folder


def randomise_final_norm(ln) -> None:
    """A fresh text encoder's last LayerNorm has bias 0, so its output mean is ~1e-9 and the host's "Original"
    emphasis (``old_mean / new_mean``) turns training into NaN; give it a non-zero bias."""
    import torch

    with torch.no_grad():
        ln.bias.normal_(0.1, 0.05)
        ln.weight.normal_(1.0, 0.1)


def register_open_clip_arch(name: str = OPEN_CLIP_ARCH, width: int = 32, heads: int = 2, layers: int = 3) -> None:
    """Write a tiny text tower's architecture into open_clip's own config folder (host-visible)."""
    import open_clip

    cfg = {"embed_dim": width,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": width, "heads": heads, "layers": layers}}
    folder = Path(open_clip.__file__).parent / "model_configs"
    (folder / f"{name}.json").write_text(json.dumps(cfg), encoding="utf-8")
    open_clip.add_model_config(folder)


def shrink(cfg, context_dim: int) -> None:
    """SD-shaped but tiny: UNet 32 channels ×1/×2 with cross-attention, VAE 4 levels (f=8) of 32 channels."""
    p = cfg.model.params
    p.image_size = 8
    p.pop("scheduler_config", None)
    u = p.unet_config.params
    u.update(model_channels=32, channel_mult=[1, 2], attention_resolutions=[1, 2], num_res_blocks=1,
             num_head_channels=16, context_dim=context_dim, image_size=8, use_checkpoint=False, use_fp16=False)
    u.pop("num_heads", None)
    d = p.first_stage_config.params.ddconfig
    d.update(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1, resolution=64)


@contextlib.contextmanager
def random_clip_l():
    """While building tiny768: ``CLIPTextModel.from_pretrained(CLIP_L)`` gives random weights from the offline config
    (the checkpoint then carries them; the host never asks for the real weights with ``--do-not-download-clip``)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    original = CLIPTextModel.from_pretrained

    def random_model(name, *args, **kwargs):
        return CLIPTextModel(CLIPTextConfig.from_pretrained(name, local_files_only=True))

    CLIPTextModel.from_pretrained = random_model
    try:
        yield
    finally:
        CLIPTextModel.from_pretrained = original


def sdxl_config(sgm_repo: Path, clip_l: Path):
    """The host's ``sd_xl_base.yaml`` made tiny, every SDXL-specific part kept: CLIP-L (``FrozenCLIPEmbedder``, a
    hidden layer: the penultimate of 2, as 11 of 12 in SDXL) and OpenCLIP-bigG (``FrozenOpenCLIPEmbedder2``,
    penultimate + pooled) at their real widths, the three size embedders, a UNet with ``adm_in_channels`` =
    pooled 1280 + 6·256 and cross-attention 768 + 1280 with no attention on its first level, a 4-level VAE."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(sgm_repo / "configs" / "inference" / "sd_xl_base.yaml")
    p = cfg.model.params
    u = p.network_config.params
    u.update(model_channels=32, channel_mult=[1, 2], attention_resolutions=[2], num_res_blocks=1,
             num_head_channels=16, transformer_depth=[0, 1], context_dim=SDXL_L_WIDTH + SDXL_G_WIDTH,
             adm_in_channels=SDXL_G_WIDTH + 6 * 256, use_checkpoint=False,
             spatial_transformer_attn_type="softmax")  # no xformers on CPU; the host replaces attention anyway
    l_emb, g_emb = p.conditioner_config.params.emb_models[:2]
    l_emb.params.update(version=str(clip_l), layer="hidden", layer_idx=1)
    g_emb.params.update(arch=SDXL_G_ARCH, version=None)
    d = p.first_stage_config.params.ddconfig
    d.update(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1, resolution=64, attn_type="vanilla")
    return cfg


def build(cfg, seed: int, instantiate=None):
    import torch

    if instantiate is None:
        from ldm.util import instantiate_from_config as instantiate
    torch.manual_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # ldm/sgm print model summaries
        model = instantiate(cfg.model)
    with torch.no_grad():
        for p in model.parameters():  # ldm's zero_module layers would make every TI gradient exactly 0
            if p.dim() > 1 and not p.any():
                p.normal_(0.0, 0.02)
    encoders = ([e for e in model.conditioner.embedders if hasattr(e, "transformer") or hasattr(e, "model")]
                if hasattr(model, "conditioner") else [model.cond_stage_model])
    for enc in encoders:
        if hasattr(enc, "transformer"):
            randomise_final_norm(enc.transformer.text_model.final_layer_norm)
        else:
            randomise_final_norm(enc.model.ln_final)
    return model


def save(model, cfg, folder: Path, name: str, half: bool = False) -> Path:
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    state = {k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().clone()
             for k, v in model.state_dict().items()}
    path = folder / f"{name}.safetensors"
    save_file(state, str(path))
    OmegaConf.save(cfg, str(folder / f"{name}.yaml"))
    n = sum(t.numel() for t in state.values())
    print(f"  {path.name}: {n / 1e6:.2f} M values, {path.stat().st_size / 2**20:.1f} MiB "
          f"({'fp16' if half else 'fp32'})")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--webui", type=Path, required=True, help="the host checkout (with repositories/)")
    ap.add_argument("--home", type=Path, required=True, help="the harness folder (hf/, models/)")
    ap.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help="build only these checkpoints")
    args = ap.parse_args(argv)
    ldm_repo = args.webui / "repositories" / "stable-diffusion-stability-ai"
    sgm_repo = args.webui / "repositories" / "generative-models"
    for repo, package in ((ldm_repo, "ldm"), (sgm_repo, "sgm")):
        if not (repo / package).is_dir():
            print(f"error: {repo} has no {package}/ package; run 'harness.py setup' first", file=sys.stderr)
            return 2
    os.environ.setdefault("HF_HOME", str(args.home / "hf"))
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    sys.path[:0] = [str(ldm_repo), str(sgm_repo), str(REPO)]
    import torchvision  # noqa: F401  - through the venv's sitecustomize shim, before transformers/ldm
    from omegaconf import OmegaConf

    models = args.home / "models"
    ckpts = models / "Stable-diffusion"
    ckpts.mkdir(parents=True, exist_ok=True)
    print(f"offline CLIP-L files: {write_hub_clip(args.home)}")
    v1 = OmegaConf.load(args.webui / "configs" / "v1-inference.yaml")

    if "sd1" in args.only:
        tiny_clip = write_tiny_clip(models / "tiny-clip-32")
        cfg = v1.copy()
        shrink(cfg, 32)
        cfg.model.params.cond_stage_config.params = {"version": str(tiny_clip), "device": "cpu"}
        save(build(cfg, 0), cfg, ckpts, "tiny")

        cfg = v1.copy()
        shrink(cfg, 768)
        with random_clip_l():
            model = build(cfg, 1)
        save(model, cfg, ckpts, "tiny768", half=True)

    if "sd2v" in args.only:
        register_open_clip_arch()
        cfg = OmegaConf.load(ldm_repo / "configs" / "stable-diffusion" / "v2-inference-v.yaml")
        shrink(cfg, 32)
        cfg.model.params.cond_stage_config.params.update(arch=OPEN_CLIP_ARCH, version=None, device="cpu")
        model = build(cfg, 2)
        assert model.parameterization == "v", model.parameterization
        save(model, cfg, ckpts, "tiny-sd2v")

    if "sdxl" in args.only:
        from sgm.util import instantiate_from_config as sgm_instantiate

        register_open_clip_arch(SDXL_G_ARCH, SDXL_G_WIDTH, SDXL_G_HEADS, layers=2)
        clip_l = write_tiny_clip(models / "tiny-clip-l-768", width=SDXL_L_WIDTH, heads=12, seed=3)
        cfg = sdxl_config(sgm_repo, clip_l)
        model = build(cfg, 3, instantiate=sgm_instantiate)
        widths = [e.transformer.config.hidden_size if hasattr(e, "transformer") else e.model.token_embedding.weight.shape[1]
                  for e in model.conditioner.embedders[:2]]
        assert widths == [SDXL_L_WIDTH, SDXL_G_WIDTH], widths
        save(model, cfg, ckpts, "tiny-sdxl", half=True)
        approx = args.webui / "models" / "VAE-approx"
        if not (approx / "vaeapprox-sdxl.pt").exists():
            shutil.copyfile(approx / "model.pt", approx / "vaeapprox-sdxl.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
