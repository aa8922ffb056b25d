"""Train TI Lab's demo model from scratch: ``python -m lib_ti.demo.build --out DIR``.

Why TI Lab trains its own model: a newcomer needs *some* text-to-image model to try Textual Inversion, and TI Lab's
tests and ``bench/learning.py`` need one whose outputs can be checked. This script draws the synthetic world of
:mod:`lib_ti.demo.world` and trains a tiny SD1-family ``LatentDiffusion`` (ldm classes, the real CLIP BPE tokenizer,
a small CLIP text encoder, small UNet and VAE, f=8 like SD) on it, on CPU, seeded and reproducible:

1. the VAE alone (L1 + MSE reconstruction, a light KL), 64 px images → 8×8×4 latents, until the classifier reads
   its round trips back (checked every ``vae_check_every`` steps; see :func:`evaluate.vae_round_trip`). Two details
   are chosen for this flat-colour world: the posterior's log-variance starts small (ldm's default, a standard
   deviation of 1, buries the young encoder's signal in noise), and the decoder's last level is 64 channels wide
   (``ch_mult: [2, ...]``) so ldm's ``GroupNorm(32)`` keeps two channels per group instead of normalising every
   channel on its own, which on two-level pictures erases how strongly a channel responds (measured against 32
   channels, see the model's README: faster, but sizes and shapes come back wrong far more often; the log-variance
   start is reasoning only);
2. latents of the whole image set cached once; ``scale_factor`` set so they have unit variance (SD's 0.18215 plays
   the same role);
3. the decoder alone on whole 64 px pictures from those latents, the encoder frozen: phase 1 trains on crops, which
   leaves the decoder's colours and its GroupNorm statistics off on whole pictures, and freezing the encoder keeps
   the latents, and so phase 4, exactly what they would be without this phase;
4. the UNet and the text encoder together on the cached latents with SD's noise schedule and eps loss; 10 % of the
   captions are dropped to "" so classifier-free guidance works; an EMA of the weights is what gets saved.

Checkpoints are written as it goes (atomically), so an interrupted run still leaves a usable model; the UNet's
learning rate is constant after warm-up, so the file saved at step k is the one ``--unet-steps k`` builds, and
``--max-minutes`` stops at the last save that fits. Two threads by default (``--threads``), the 2-core machine the
build is sized for: the result is reproducible for a given plan, thread count and torch build. On a loaded machine
more threads than free cores make each step many times slower (measured: >15 s per VAE step with two threads at
load 11, 1–2 s with one): give ``--threads 1`` there, knowing it builds a slightly different file.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from . import world

TEMPLATE = Path(__file__).resolve().parent / "tilab-demo.yaml"
NAME = "tilab-demo"
TEXT_FOLDER = "tilab-demo-text"
#: a small CLIP text tower (CLIP-L is 768 wide with 12 layers); vocabulary and positions as in SD 1.x
TEXT_CONFIG = dict(vocab_size=49408, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                   num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                   bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, projection_dim=64)


@dataclass
class Plan:
    """Every number of a build; the defaults are the bundled model's (see ``lib_ti/demo/model/README.md``)."""

    seed: int = 0
    images: int = 2000
    #: the most VAE steps; the VAE stops earlier once the classifier reads its round trips back (``vae_target``)
    vae_steps: int = 3000
    vae_batch: int = 8
    #: the VAE is fully convolutional: training on crops costs a quarter of full images and works on 64 px
    vae_crop: int = 32
    vae_lr: float = 2e-3
    kl_weight: float = 1e-6
    #: initial log-variance of the VAE posterior. With ldm's default (about 0, a standard deviation of 1) the young
    #: encoder's small outputs drown in the sampling noise and the decoder can only learn the mean picture (the
    #: reasoning behind the choice; not measured side by side)
    vae_logvar_init: float = -7.0
    #: every this many VAE steps, round-trip 48 fresh pictures and read them back with the classifier
    vae_check_every: int = 100
    #: stop the VAE once every attribute (colour, shape, size, background) reads back at least this often
    vae_target: float = 0.95
    #: then the decoder alone on whole 64 px pictures, the encoder frozen. Why: trained on crops, the decoder's
    #: GroupNorm and receptive field never saw a whole picture, and its colours drift (red and yellow toward orange);
    #: with the encoder frozen the latents, and so the UNet phase, are exactly what they would be without it
    dec_steps: int = 2000
    dec_batch: int = 4
    dec_lr: float = 1e-3
    #: the bundled model's count (its README): its sample scores were flat within noise from step 4500 on
    unet_steps: int = 6000
    unet_batch: int = 32
    #: constant after warm-up (the EMA does the smoothing), so the checkpoint saved at step k of any run is the
    #: model a run planned for k steps would save: a run cut for time still leaves a reproducible model
    unet_lr: float = 1.5e-3
    warmup: int = 100
    caption_dropout: float = 0.1
    ema: float = 0.995
    save_every: int = 250
    #: every this many UNet steps (at a save), score the saved file with the classifier on 16 prompts; 0: never
    score_every: int = 500
    #: stop the UNet at the last save that fits in this many minutes from the build's start (0: no limit). The
    #: file records the step it stopped at; ``--unet-steps`` of that number rebuilds it without a time limit
    max_minutes: float = 0.0
    threads: int = 2


def _eta(done: int, total: int, started: float) -> str:
    if done == 0:
        return "?"
    left = (time.monotonic() - started) / done * (total - done)
    return f"{int(left // 60)}m{int(left % 60):02d}s"


def _cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine decay from ``base`` to 10 % of it over ``total`` steps (the VAE and decoder phases)."""
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / total)))


def _adam(params: list[Any], lr: float, **kwargs: Any) -> Any:
    """``torch.optim.AdamW`` (``weight_decay`` 0 unless given, so plain Adam) with the fused kernel where this torch
    has it on CPU (2.4+), the ``foreach`` one otherwise. Why: CPU AdamW otherwise updates one tensor at a time; with
    the EMA's update beside it, fused makes a UNet step 1.10× and a VAE step 1.07× faster on 2 threads
    (``bench/demo_build.py``), a few minutes of the build's hour."""
    import torch

    kwargs.setdefault("weight_decay", 0.0)
    try:
        return torch.optim.AdamW(params, lr=lr, fused=True, **kwargs)
    except RuntimeError:  # torch before 2.4: no fused Adam on CPU
        return torch.optim.AdamW(params, lr=lr, foreach=True, **kwargs)


def ema_update(ema: list[Any], params: list[Any], decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * params``, all tensors in one ``_foreach_lerp_`` (not a Python loop)."""
    import torch

    with torch.no_grad():
        torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - decay)


def _read_back(vae: Any, training: Any, label: str, log: Callable[[str], None]) -> dict:
    """The VAE's round trip (:func:`evaluate.vae_round_trip`), measured with ``training`` (the part a phase trains)
    in eval mode and left in the mode it was in; logged as ``<label> round trip read back: ...``."""
    import torch

    from .evaluate import vae_round_trip

    was_training = training.training
    torch.nn.Module.train(training, False)  # ldm replaces .train on its frozen parts
    reading = vae_round_trip(vae)
    torch.nn.Module.train(training, was_training)
    log(f"{label} round trip read back: " + ", ".join(f"{k} {v:.2f}" for k, v in reading.items()))
    return reading


def _write_text_folder(folder: Path, *, with_weights: Any = None) -> None:
    """The text encoder's config (and, while building, tokenizer files and initial weights) in ``folder``."""
    from transformers import CLIPTextConfig

    folder.mkdir(parents=True, exist_ok=True)
    CLIPTextConfig(**TEXT_CONFIG).to_json_file(str(folder / "config.json"))
    if with_weights is not None:
        from lib_ti.model.tokenizer_files import write_clip_tokenizer_files

        write_clip_tokenizer_files(folder)
        with_weights.save_pretrained(str(folder))


def build_model(cfg: Any, workdir: Path, seed: int) -> Any:
    """A fresh, randomly initialised model from the shipped yaml (text encoder written into ``workdir``)."""
    import contextlib
    import io

    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from ldm.util import instantiate_from_config

    torch.manual_seed(seed)
    text_dir = workdir / TEXT_FOLDER
    _write_text_folder(text_dir, with_weights=CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)))
    cfg.model.params.cond_stage_config.params.version = str(text_dir)
    with contextlib.redirect_stdout(io.StringIO()):  # ldm prints model summaries
        model = instantiate_from_config(cfg.model)
    cfg.model.params.cond_stage_config.params.version = TEXT_FOLDER
    return model


def _images(plan: Plan) -> tuple[list[world.Scene], Any]:
    import numpy as np
    import torch

    pairs = list(world.samples(plan.images, plan.seed))
    arr = np.stack([img for _, img in pairs])
    return [s for s, _ in pairs], torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _to_float(x: Any) -> Any:
    return x.float() / 127.5 - 1.0


def train_vae(model: Any, images: Any, plan: Plan, log: Callable[[str], None]) -> tuple[float, dict, int]:
    """Reconstruction training of the VAE until its round trips read back right (or ``plan.vae_steps``).

    Returns the last logged reconstruction loss (L1, [-1, 1] scale), the last round-trip reading
    (:func:`evaluate.vae_round_trip`) and the number of steps run.
    """
    import torch

    vae = model.first_stage_model
    torch.nn.Module.train(vae, True)  # ldm replaces .train on its frozen parts
    vae.requires_grad_(True)
    with torch.no_grad():  # the log-variance half of the posterior's moments starts small (see Plan.vae_logvar_init)
        half = vae.quant_conv.out_channels // 2
        vae.quant_conv.weight[half:].zero_()
        vae.quant_conv.bias[half:].fill_(plan.vae_logvar_init)
    opt = _adam(list(vae.parameters()), plan.vae_lr)
    gen = torch.Generator().manual_seed(plan.seed + 1)
    started, running, reading, step = time.monotonic(), None, {}, 0
    for step in range(plan.vae_steps):
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(plan.vae_lr, step, plan.vae_steps)
        x = _to_float(images[torch.randint(0, len(images), (plan.vae_batch,), generator=gen)])
        if plan.vae_crop < x.shape[-1]:
            ox, oy = (int(v) for v in torch.randint(0, x.shape[-1] - plan.vae_crop + 1, (2,), generator=gen))
            x = x[..., oy:oy + plan.vae_crop, ox:ox + plan.vae_crop]
        post = vae.encode(x)
        rec = vae.decode(post.sample())
        l1 = (rec - x).abs().mean()
        loss = l1 + ((rec - x) ** 2).mean() + plan.kl_weight * post.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = l1.item() if running is None else 0.95 * running + 0.05 * l1.item()
        if step % 10 == 0 or step == plan.vae_steps - 1:
            log(f"vae {step + 1}/{plan.vae_steps} l1 {running:.4f} eta {_eta(step + 1, plan.vae_steps, started)}")
        if plan.vae_check_every and (step + 1) % plan.vae_check_every == 0:
            reading = _read_back(vae, vae, f"vae {step + 1}", log)
            if min(v for k, v in reading.items() if k != "all") >= plan.vae_target:
                break
    torch.nn.Module.train(vae, False)
    vae.requires_grad_(False)
    if not reading or (step + 1) % max(1, plan.vae_check_every):
        reading = _read_back(vae, vae, "vae", log)
    return float(running), reading, step + 1


def train_decoder(model: Any, images: Any, mean: Any, std: Any, plan: Plan, log: Callable[[str], None]) -> dict:
    """The decoder (and ``post_quant_conv``) alone on whole pictures, from posterior samples of the frozen encoder.

    Leaves the encoder, and so every latent the UNet phase trains on, untouched. Returns the round-trip reading.
    """
    import torch

    vae = model.first_stage_model
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for p in params:
        p.requires_grad_(True)
    torch.nn.Module.train(vae.decoder, True)
    opt = _adam(params, plan.dec_lr)
    gen = torch.Generator().manual_seed(plan.seed + 4)
    started, running, reading = time.monotonic(), None, {}
    for step in range(plan.dec_steps):
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(plan.dec_lr, step, plan.dec_steps)
        idx = torch.randint(0, len(images), (plan.dec_batch,), generator=gen)
        x = _to_float(images[idx])
        rec = vae.decode(mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen))
        l1 = (rec - x).abs().mean()
        loss = l1 + ((rec - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = l1.item() if running is None else 0.95 * running + 0.05 * l1.item()
        if step % 10 == 0 or step == plan.dec_steps - 1:
            log(f"decoder {step + 1}/{plan.dec_steps} l1 {running:.4f} "
                f"eta {_eta(step + 1, plan.dec_steps, started)}")
        if plan.vae_check_every and (step + 1) % plan.vae_check_every == 0:
            reading = _read_back(vae, vae.decoder, f"decoder {step + 1}", log)
    torch.nn.Module.train(vae.decoder, False)
    vae.requires_grad_(False)
    if plan.dec_steps and (not reading or plan.dec_steps % max(1, plan.vae_check_every)):
        reading = _read_back(vae, vae.decoder, "decoder", log)
    return reading


def cache_latents(model: Any, images: Any) -> tuple[Any, Any, float]:
    """Posterior means and stds of every image, and the scale that gives sampled latents unit variance."""
    import torch

    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            post = model.first_stage_model.encode(_to_float(images[i:i + 256]))
            means.append(post.mean)
            stds.append(post.std)
    mean, std = torch.cat(means), torch.cat(stds)
    scale = 1.0 / float((mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(0))).std())
    return mean, std, scale


def _trainable(model: Any) -> list[Any]:
    return list(model.model.parameters()) + list(model.cond_stage_model.transformer.parameters())


def start_unet_phase(model: Any) -> list[Any]:
    """The UNet and the text encoder in training mode with gradients on; returns their parameters (the phase's)."""
    import torch

    model.model.train().requires_grad_(True)
    enc = model.cond_stage_model.transformer
    torch.nn.Module.train(enc, True)  # ldm replaces .train on the frozen embedder
    enc.requires_grad_(True)
    return _trainable(model)


VAE_FILE = f"{NAME}-vae.safetensors"


def save_vae(model: Any, path: Path, stage: dict) -> None:
    """The trained VAE (fp32) and what its phases measured (``stage``), atomically: the first stage of a two-sitting
    build. ``stage`` has ``vae_steps_done``, ``vae_l1`` and ``vae_round_trip``, and after the decoder phase also
    ``dec_steps_done`` and ``dec_round_trip``."""
    from safetensors.torch import save_file

    from lib_ti.core.fsutil import atomic_save

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in model.first_stage_model.state_dict().items()}
    atomic_save(path, lambda tmp: save_file(state, str(tmp), metadata={"tilab_demo_vae": json.dumps(stage)}))


def load_vae(model: Any, path: Path) -> dict:
    """Load a :func:`save_vae` file into ``model``; returns what its phases measured (see :func:`save_vae`)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            info = json.loads((f.metadata() or {}).get("tilab_demo_vae", "null"))
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for a damaged header
        raise SystemExit(f"--vae-from {path}: not a VAE stage file of this build ({exc})") from None
    if not isinstance(info, dict):
        raise SystemExit(f"--vae-from {path}: not a VAE stage file of this build (no tilab_demo_vae metadata)")
    missing, unexpected = model.first_stage_model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"--vae-from {path}: its VAE does not fit this model "
                         f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    model.first_stage_model.requires_grad_(False)
    return info


def save_model(model: Any, cfg: Any, out: Path, ema: list[Any], info: dict) -> Path:
    """Write ``<out>/tilab-demo.safetensors`` (EMA weights, parameters in fp16), its yaml and text config folder."""
    import torch
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    from lib_ti.core.fsutil import atomic_save, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    live = [p.detach().clone() for p in _trainable(model)]
    with torch.no_grad():
        for p, e in zip(_trainable(model), ema):
            p.copy_(e)
        params = {id(p) for p in model.parameters()}
        named = dict(model.named_parameters())
        state = {}
        for k, v in model.state_dict().items():
            v = v.detach().contiguous().clone()
            state[k] = v.half() if k in named and id(named[k]) in params and v.is_floating_point() else v
        for p, v in zip(_trainable(model), live):
            p.copy_(v)
    meta = {"tilab_demo": json.dumps(info)}
    path = out / f"{NAME}.safetensors"
    atomic_save(path, lambda tmp: save_file(state, str(tmp), metadata=meta))
    atomic_write_text(out / f"{NAME}.yaml", OmegaConf.to_yaml(cfg))
    _write_text_folder(out / TEXT_FOLDER)
    return path


def train_diffusion(model: Any, cfg: Any, scenes: list[world.Scene], mean: Any, std: Any, plan: Plan, out: Path,
                    info: dict, log: Callable[[str], None]) -> float:
    """UNet + text encoder on cached latents; saves every ``plan.save_every`` steps; returns the last smoothed loss."""
    import torch

    params = start_unet_phase(model)
    enc = model.cond_stage_model
    ema = [p.detach().clone() for p in params]
    opt = _adam(params, plan.unet_lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(plan.seed + 2)
    rng = random.Random(plan.seed + 3)
    scale = model.scale_factor
    started, running = time.monotonic(), None
    for step in range(plan.unet_steps):
        for group in opt.param_groups:
            group["lr"] = plan.unet_lr * min(1.0, (step + 1) / plan.warmup)
        idx = torch.randint(0, len(mean), (plan.unet_batch,), generator=gen)
        z = (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen)) * scale
        captions = ["" if rng.random() < plan.caption_dropout else scenes[i].caption(rng) for i in idx.tolist()]
        cond = enc(captions)
        t = torch.randint(0, model.num_timesteps, (plan.unet_batch,), generator=gen)
        noise = torch.randn(z.shape, generator=gen)
        pred = model.apply_model(model.q_sample(z, t, noise), t, cond)
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_update(ema, params, min(plan.ema, (1 + step) / (10 + step)))
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 10 == 0 or step == plan.unet_steps - 1:
            log(f"unet {step + 1}/{plan.unet_steps} loss {running:.4f} eta {_eta(step + 1, plan.unet_steps, started)}")
        if (step + 1) % plan.save_every == 0 or step == plan.unet_steps - 1:
            info.update(unet_steps_done=step + 1, unet_loss=round(running, 4),
                        minutes=round((time.monotonic() - info["_t0"]) / 60, 1))
            path = save_model(model, cfg, out, ema, {k: v for k, v in info.items() if not k.startswith("_")})
            log(f"saved {path} at unet step {step + 1}")
            if plan.score_every and (step + 1) % plan.score_every == 0:
                log(f"unet {step + 1} samples read as asked: {_score_file(path)}")
            per_step = (time.monotonic() - started) / (step + 1)
            if plan.max_minutes and (time.monotonic() - info["_t0"] + per_step * plan.save_every * 1.2
                                     > plan.max_minutes * 60) and step < plan.unet_steps - 1:
                log(f"stopping at unet step {step + 1}: the next save would not fit in {plan.max_minutes} min "
                    f"(rebuild this file with --unet-steps {step + 1})")
                break
    return float(running)


def _score_file(path: Path) -> str:
    """The classifier's reading of 16 samples of the saved file (the model README's quality table, in one line)."""
    from lib_ti.model.backend import SDBackend
    from lib_ti.model.loader import load_ldm

    from .classifier import read
    from .evaluate import ATTRIBUTES, attribute_shares, base_probes, sample

    probes = base_probes(16, seed=0)
    readings = [read(im) for im in sample(SDBackend(load_ldm(path)), [p.prompt for p in probes], seed=1)]
    shares = attribute_shares(readings, [p.wanted for p in probes])
    parts = [f"{key} {shares[key]:.2f}" for key in ("all", *ATTRIBUTES)]
    return ", ".join(parts)


def build(out: Path, plan: Plan, log: Callable[[str], None] = print, vae_from: Optional[Path] = None) -> Path:
    """The whole build; returns the checkpoint path (the VAE stage file's with ``plan.unet_steps`` 0).
    Deterministic for a given plan on a given machine.

    ``vae_from``: the VAE stage file of an earlier build of the same plan (``tilab-demo-vae.safetensors``) — the
    VAE phase (and the decoder phase, when the file has it) is skipped and the rest is what the whole build would
    do, so a build longer than one sitting can be made in two. Every build writes that file after its VAE phase and
    again after its decoder phase."""
    import torch
    from omegaconf import OmegaConf

    torch.set_num_threads(plan.threads)
    t0 = time.monotonic()
    cfg = OmegaConf.load(TEMPLATE)
    with tempfile.TemporaryDirectory(prefix="tilab-demo-build-") as tmp:
        model = build_model(cfg, Path(tmp), plan.seed)
    log(f"model: {sum(p.numel() for p in model.model.parameters()) / 1e6:.2f} M UNet, "
        f"{sum(p.numel() for p in model.cond_stage_model.parameters()) / 1e6:.2f} M text, "
        f"{sum(p.numel() for p in model.first_stage_model.parameters()) / 1e6:.2f} M VAE parameters")
    scenes, images = _images(plan)
    log(f"world: {len(scenes)} images drawn in {time.monotonic() - t0:.0f}s")
    if vae_from is None:
        vae_l1, vae_reading, vae_steps = train_vae(model, images, plan, log)
        stage = {"vae_steps_done": vae_steps, "vae_l1": vae_l1, "vae_round_trip": vae_reading}
        save_vae(model, out / VAE_FILE, stage)
        log(f"vae saved to {out / VAE_FILE} (a later build can start from it: --vae-from)")
    else:
        stage = load_vae(model, vae_from)
        log(f"vae from {vae_from} ({stage['vae_steps_done']} steps, decoder {stage.get('dec_steps_done', 'not')} "
            f"trained on whole pictures)")
    mean, std, scale = cache_latents(model, images)
    if plan.dec_steps and not stage.get("dec_steps_done"):  # a stage file without the decoder phase goes on here
        stage.update(dec_round_trip=train_decoder(model, images, mean, std, plan, log), dec_steps_done=plan.dec_steps)
        save_vae(model, out / VAE_FILE, stage)
        log(f"vae with its decoder phase saved to {out / VAE_FILE}")
    model.scale_factor = scale
    cfg.model.params.scale_factor = scale
    log(f"latents cached; scale_factor {scale:.4f}")
    rounded = lambda reading: {k: round(v, 3) for k, v in reading.items()}  # noqa: E731
    info = {"plan": asdict(plan), "vae_steps_done": stage["vae_steps_done"], "vae_l1": round(stage["vae_l1"], 4),
            "vae_round_trip": rounded(stage["vae_round_trip"]), "dec_steps_done": stage.get("dec_steps_done", 0),
            "dec_round_trip": rounded(stage.get("dec_round_trip") or {}), "scale_factor": round(scale, 5),
            "_t0": t0}
    if not plan.unet_steps:
        log(f"--unet-steps 0: only the VAE stage file {out / VAE_FILE} was built")
        return out / VAE_FILE
    train_diffusion(model, cfg, scenes, mean, std, plan, out, info, log)
    log(f"done in {(time.monotonic() - t0) / 60:.1f} min")
    return out / f"{NAME}.safetensors"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lib_ti.demo.build", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for tilab-demo.safetensors/.yaml")
    p.add_argument("--vae-from", type=Path, default=None,
                   help=f"skip the VAE (and decoder) phase: start from the {VAE_FILE} an earlier build of the same plan wrote")
    for name, value in asdict(Plan()).items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = p.parse_args(argv)
    plan = Plan(**{k: getattr(args, k) for k in asdict(Plan())})

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    build(args.out, plan, log, vae_from=args.vae_from)
    return 0


if __name__ == "__main__":
    sys.exit(main())
