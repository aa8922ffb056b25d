"""The demo build's weight update: per-tensor AdamW + EMA loop vs fused AdamW + ``_foreach_lerp_`` EMA, side by side.

Why: ``lib_ti.demo.build`` must run on 2 CPU cores in about an hour. Its UNet step is forward + backward of a
4.2 M UNet and a 3.3 M text encoder (whose token table alone is 3.2 M), then clipping, AdamW and the EMA over all
7.5 M parameters. This bench times whole steps of the demo model (fresh, random weights: the time does not depend
on them) with the two update paths, alternating rounds on the same batches, and checks they compute the same update.

Prints median seconds a step for the UNet phase (batch 32 of 8×8 latents, real captions) and the VAE phase (batch
8 of 32 px crops) with each path, their ratio, and the largest parameter difference after the timed steps (both
paths start from the same weights; sanity check: below 1e-4, or the comparison is void).

    python bench/demo_build.py [--threads 2] [--steps 15] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def per_tensor_update(params, lr, **kw):
    """The build's update before this change: the default per-tensor AdamW and a Python loop for the EMA."""
    import torch

    opt = torch.optim.AdamW(params, lr=lr, foreach=False, weight_decay=0.0, **kw)

    def ema_step(ema, decay):
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)

    return opt, ema_step


def build_update(params, lr, **kw):
    """The build's update now (``lib_ti.demo.build._adam`` and ``ema_update``)."""
    from lib_ti.demo.build import _adam, ema_update

    return _adam(params, lr, **kw), lambda ema, decay: ema_update(ema, params, decay)


def unet_steps(model, make_update, batches) -> list[float]:
    import torch

    from lib_ti.demo.build import start_unet_phase

    params = start_unet_phase(model)
    enc = model.cond_stage_model
    ema = [p.detach().clone() for p in params]
    opt, ema_step = make_update(params, 1.5e-3, betas=(0.9, 0.99))
    times = []
    for z, t, noise, captions in batches:
        t0 = time.perf_counter()
        pred = model.apply_model(model.q_sample(z, t, noise), t, enc(captions))
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema_step(ema, 0.995)
        times.append(time.perf_counter() - t0)
    return times


def vae_steps(model, make_update, crops) -> list[float]:
    import torch

    vae = model.first_stage_model
    torch.nn.Module.train(vae, True)
    vae.requires_grad_(True)
    opt, _ = make_update(list(vae.parameters()), 2e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for x in crops:
        t0 = time.perf_counter()
        post = vae.encode(x)
        rec = vae.decode(post.mean + post.std * torch.randn(post.mean.shape, generator=gen))
        loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def max_difference(a, b) -> float:
    return max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=15, help="timed steps a round and path (plus one warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import torch
    from omegaconf import OmegaConf

    from lib_ti.demo import build

    torch.set_num_threads(args.threads)
    cfg = OmegaConf.load(build.TEMPLATE)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build.build_model(cfg, Path(tmp), 0)
    scenes, images = build._images(build.Plan(images=64))
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    batches = [(torch.randn(32, 4, 8, 8, generator=gen), torch.randint(0, 1000, (32,), generator=gen),
                torch.randn(32, 4, 8, 8, generator=gen), [scenes[rng.randrange(len(scenes))].caption(rng)
                                                          for _ in range(32)]) for _ in range(args.steps + 1)]
    crops = [build._to_float(images[torch.randint(0, len(images), (8,), generator=gen)])[..., 16:48, 16:48]
             for _ in range(args.steps + 1)]
    paths = {"per-tensor AdamW + EMA loop": per_tensor_update, "fused AdamW + foreach EMA": build_update}
    print(f"demo model, {args.threads} threads, {args.rounds} rounds x {args.steps} steps a path, alternating")
    for phase, run, data in (("UNet phase (batch 32)", unet_steps, batches), ("VAE phase (batch 8, 32 px)", vae_steps, crops)):
        times: dict[str, list[float]] = {name: [] for name in paths}
        finals = {}
        for _ in range(args.rounds):
            for name, make in paths.items():
                model = copy.deepcopy(fresh)
                times[name] += run(model, make, data)[1:]
                finals[name] = model
        old, new = (statistics.median(times[name]) for name in paths)
        diff = max_difference(*finals.values())
        verdict = "same update" if diff < 1e-4 else "DIFFERENT UPDATES: comparison void"
        print(f"{phase:<28} per-tensor {old:.3f} s/step   fused {new:.3f} s/step   ratio {old / new:.2f}x   "
              f"max weight difference after {len(data)} steps {diff:.1e} ({verdict})")
        if diff >= 1e-4:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
