"""Training-step overhead: TI Lab's loop step vs a bare reference step, side by side in one run.

Reference step = what any TI step must do and nothing else: text encoder forward with the vectors put
into the token embedding output, UNet forward, MSE, backward to the vectors, AdamW update. Latents,
prompt ids, noise and timesteps are prepared beforehand. Our step is a real :class:`Trainer` run
(dataset sampling, host-identical prompt chunking and emphasis, schedule, logging, norms) with
checkpoints, previews and fixed-batch evaluation switched off, timed between step events.

Prints, per model (tiny SD1 and a larger SD1-shaped random model): median ms/step for both, the
ratio (target <= 1.10x), peak memory and VAE encoder calls during the timed steps (must be 0).

    python bench/train_step.py [--device cuda] [--steps 30] [--rounds 3]
    python bench/train_step.py --setup [--rounds 2]     # set-up before step 1 vs one fixed-batch evaluation
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the tiny-model kit (sdkit) lives with the tests
sys.path.insert(0, str(REPO / "tests" / "training"))


def peak_memory(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB (CUDA peak allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (process peak RSS)"


def reference_steps(backend, x0s, prompt: str, n_vec: int, steps: int, plan) -> list[float]:
    """Bare TI steps; returns per-step seconds."""
    import torch
    import torch.nn.functional as F

    from lib_ti.model.precision import autocast_for

    dev = backend.device
    vec = torch.zeros(n_vec, backend.embedding_width, device=dev, requires_grad=True)
    opt = torch.optim.AdamW([vec], lr=1e-3, weight_decay=0.0)
    tok = backend.encoder.tokenizer
    ids = tok([prompt] * x0s.shape[0], padding="max_length", max_length=77, return_tensors="pt").input_ids.to(dev)
    pos = 4  # BOS + "a photo of": the vectors replace the next rows
    module = backend._token_module
    tr = backend.encoder.transformer
    acp = backend.alphas_cumprod.to(dev)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        noise = torch.randn(x0s.shape, generator=gen).to(dev)
        t = torch.randint(0, 1000, (x0s.shape[0],), generator=gen).to(dev)
        a = acp[t].view(-1, 1, 1, 1)
        x_noisy = a.sqrt() * x0s + (1 - a).sqrt() * noise

        def inject(_m, _i, out):
            return torch.cat([out[:, :pos], vec.to(out.dtype).expand(out.shape[0], -1, -1),
                              out[:, pos + n_vec:]], 1)

        h = module.register_forward_hook(inject)
        with autocast_for(dev, plan):
            cond = tr(input_ids=ids).last_hidden_state
            out = backend.apply_model(x_noisy, t, cond)
        h.remove()
        loss = F.mse_loss(out.float(), noise)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def our_steps(backend, data: Path, work: Path, res: int, batch: int, n_vec: int, steps: int):
    """A Trainer run; returns (per-step seconds between step events, VAE calls during the steps)."""
    import torch

    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    calls = {"n": 0}
    stamps: list[float] = []
    model = backend.model
    real = model.encode_first_stage
    model.encode_first_stage = lambda x: calls.__setitem__("n", calls["n"] + 1) or real(x)
    try:
        cfg = TrainConfig(name="benchtok", data_dir=data, run_dir=work / "run", embeddings_dir=work / "emb",
                          template="subject", learn_rate="0.001", steps=steps + 1, batch_size=batch, width=res,
                          height=res, save_every=0, preview_every=0, eval_every=0, num_vectors=n_vec, seed=0)

        def on_event(kind, _data):
            if kind == "step":
                if backend.device.type == "cuda":
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())

        trainer = Trainer(backend, cfg, on_event=on_event)
        trainer.prepare()
        before = calls["n"]
        trainer.run()
        during = calls["n"] - before
    finally:
        del model.encode_first_stage
    return [b - a for a, b in zip(stamps, stamps[1:])], during


def bench_model(label: str, model, device, res: int, batch: int, steps: int, rounds: int) -> None:
    import torch

    from conftest import write_images
    from lib_ti.model.backend import SDBackend
    from lib_ti.training.accel import sdpa_attention

    model.to(device)
    backend = SDBackend(model)
    plan = backend.precision("auto")
    n_vec = 4
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_images(tmp / "data", n=max(4, batch * 2), size=(res + 16, res))
        # reference latents come from the same VAE once, outside the timing
        from lib_ti.training.dataset import load_pixels

        with torch.no_grad():
            px = torch.stack([load_pixels(p, res, res) for p in sorted(data.glob("*.png"))[:batch]]).to(device)
            x0s = backend.latent_from_dist(backend.encode_images(px), "deterministic").float()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        ref, ours, vae = [], [], 0
        for r in range(rounds):
            with sdpa_attention(model, device):  # the same attention kernel for both
                ref += reference_steps(backend, x0s, "a photo of benchtok", n_vec, steps + 1, plan)[1:]
            t, calls = our_steps(backend, data, tmp / f"r{r}", res, batch, n_vec, steps + 1)
            ours += t[1:]
            vae += calls
    ref_ms, our_ms = statistics.median(ref) * 1000, statistics.median(ours) * 1000
    print(f"{label:<34} {res:>4}px b{batch}  reference {ref_ms:9.1f} ms/step   TI Lab {our_ms:9.1f} ms/step   "
          f"ratio {our_ms / ref_ms:5.3f}x   peak {peak_memory(device)}   VAE calls/step {vae / max(1, len(ours)):.0f}")


def bench_setup(label: str, model, device, res: int, rounds: int) -> None:
    """Set-up before step 1 (call to the end of step 1, minus step 1) beside one fixed-batch evaluation, the cost
    set-up paid before the step-0 evaluation became lazy."""
    from conftest import write_images
    from lib_ti.model.backend import SDBackend
    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    model.to(device)
    backend = SDBackend(model)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_images(Path(tmp) / "data", n=4, size=(res + 32, res))
        for r in range(rounds):
            cfg = TrainConfig(name="benchtok", data_dir=data, run_dir=Path(tmp) / f"run{r}", embeddings_dir=Path(tmp),
                              steps=3, width=res, height=res, num_vectors=2, save_every=0, preview_every=0)
            marks: dict = {}
            t0 = time.perf_counter()

            def on_event(kind, d, marks=marks, t0=t0):
                if kind == "step" and d.step == 1:
                    marks["setup"], marks["step"] = time.perf_counter() - t0 - d.seconds, d.seconds

            trainer = Trainer(backend, cfg, on_event=on_event)
            trainer.run()
            t1 = time.perf_counter()
            trainer.fixed_loss()
            evaluation = time.perf_counter() - t1
            print(f"{label:<34} {res:>4}px round {r + 1}: set-up before step 1 {marks['setup']:6.2f} s, step 1 "
                  f"{marks['step']:6.2f} s, one fixed-batch evaluation (eval_size {cfg.eval_size} x 5 timesteps, "
                  f"formerly part of set-up) {evaluation:6.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids contention on small boxes)")
    ap.add_argument("--only", choices=("tiny", "larger"), default=None)
    ap.add_argument("--setup", action="store_true", help="measure set-up before step 1 instead of step time")
    args = ap.parse_args()

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    from sdkit import build_larger_sd1, build_tiny_sd

    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {args.rounds} rounds x {args.steps} steps, medians")
    with tempfile.TemporaryDirectory() as work:
        if args.setup:
            bench_setup("larger SD1-shaped (768 ctx)", build_larger_sd1(workdir=Path(work)), device,
                        512 if device.type == "cuda" else 256, args.rounds)
            return 0
        if args.only in (None, "tiny"):
            bench_model("tiny SD1 (3 M params)", build_tiny_sd("sd1", workdir=Path(work)), device, 64, 2,
                        args.steps, args.rounds)
        if args.only in (None, "larger"):
            res = 512 if device.type == "cuda" else 128
            batch = 4 if device.type == "cuda" else 1
            bench_model("larger SD1-shaped (768 ctx)", build_larger_sd1(workdir=Path(work)), device, res, batch,
                        args.steps, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
