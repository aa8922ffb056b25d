"""TI Lab's training loop vs the host's own trainer (``POST /sdapi/v1/train/embedding``), side by side in one run.

Needs a RUNNING AUTOMATIC1111 WebUI started with ``--api`` (so it is not part of the test suite) and the
checkpoint file that host has loaded (or can load: the bench selects it through ``/sdapi/v1/options``).
Both sides train a fresh 1-vector embedding (init text ``*``) on the same dataset, at the same size, batch
size, gradient accumulation, learning rate, template name and latent method, with previews and intermediate
saves off (the host needs ``create_image_every``/``save_embedding_every`` > 0, so they get a value above
the step count).

Set-up is subtracted: each side trains N and then 2N steps from scratch, and the step rate is
``N / (t(2N) - t(N))`` (dataset loading, latent caching and the final save are paid by both runs alike).
Host: wall time of the HTTP call. TI Lab: wall time of ``Trainer.run()`` on the checkpoint loaded
standalone (``lib_ti.model.loader.load_ldm``, loaded once before timing). Rounds are interleaved
(host N, ours N, host 2N, ours 2N) so load changes on a shared machine hit both sides alike; the median
over rounds is reported.

Threads: this process runs with OMP_NUM_THREADS=1 / ``torch.set_num_threads(1)``; the host's value is read
from its process environment when ``--host-pid-file`` names the host's pid file (the harness sets 1).

    python bench/host_train_compare.py http://127.0.0.1:7860 \
        --ckpt HOST/models/Stable-diffusion/tiny768.safetensors [--config ...yaml] \
        [--data tests/data/photos/teapot] [--host-pid-file HOST/logs/host-7860.pid] [--steps 10] [--rounds 2]
"""

from __future__ import annotations

import os

# before torch is imported anywhere: the same thread setting as the host harness (see its env.sh)
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def call(base: str, path: str, body=None, timeout: float = 3600) -> tuple[dict, float]:
    """JSON request to the host; returns (answer, seconds)."""
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    return out, time.perf_counter() - t0


def host_threads(pid_file: Path | None) -> str:
    """OMP_NUM_THREADS of the host process, read from /proc via its pid file (best effort)."""
    if pid_file is None:
        return "unknown (give --host-pid-file; set OMP_NUM_THREADS=1 when starting the host)"
    try:
        pid = pid_file.read_text().strip()
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        for item in env:
            if item.startswith(b"OMP_NUM_THREADS="):
                return item.split(b"=", 1)[1].decode() + f" (read from pid {pid}'s environment)"
        return f"not set in pid {pid}'s environment (torch default)"
    except OSError:
        return f"unknown (cannot read {pid_file}; set OMP_NUM_THREADS=1 when starting the host)"


def host_train(base: str, name: str, steps: int, a, log_dir: str) -> float:
    """Create a fresh embedding and train it ``steps`` steps with the host's trainer; returns wall seconds."""
    emb, _ = call(base, "/sdapi/v1/embeddings")
    if name in emb.get("loaded", {}):
        raise SystemExit(f"{name} already exists in the host; the bench needs a new name per run")
    call(base, "/sdapi/v1/create/embedding",
         {"name": name, "num_vectors_per_token": 1, "overwrite_old": True, "init_text": "*"})
    never = 10 ** 7  # > 0 (0 makes the host's trainer fail), far above the step count: no previews, no copies
    args = dict(
        id_task=f"bench-{name}", embedding_name=name, learn_rate=a.lr, batch_size=1, gradient_step=1,
        data_root=str(a.data), log_directory=log_dir, training_width=a.size, training_height=a.size, varsize=False,
        steps=steps, clip_grad_mode="disabled", clip_grad_value="0.1", shuffle_tags=False, tag_drop_out=0,
        latent_sampling_method="once", use_weight=False, create_image_every=never, save_embedding_every=never,
        template_filename=f"{a.template}.txt", save_image_with_stored_embedding=False, preview_from_txt2img=False,
        preview_prompt="", preview_negative_prompt="", preview_steps=20, preview_sampler_name="Euler a",
        preview_cfg_scale=7, preview_seed=-1, preview_width=a.size, preview_height=a.size,
    )
    out, seconds = call(base, "/sdapi/v1/train/embedding", args)
    info = str(out.get("info", out))
    if "error: None" not in info:
        raise SystemExit(f"host training failed: {info}")
    emb, _ = call(base, "/sdapi/v1/embeddings")
    got = emb.get("loaded", {}).get(name, {}).get("step")  # a new embedding starts at 0: proves steps ran
    if got != steps:
        raise SystemExit(f"host embedding {name} is at step {got}, expected {steps}: {info}")
    return seconds


def ours_train(backend, name: str, steps: int, a, workdir: Path) -> tuple[float, list[float]]:
    """Train a fresh embedding ``steps`` steps with TI Lab's Trainer; returns (wall seconds, per-step seconds)."""
    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    run = workdir / f"{name}-{time.time_ns()}"
    cfg = TrainConfig(name=name, data_dir=a.data, run_dir=run, embeddings_dir=run, template=a.template,
                      learn_rate=a.lr, steps=steps, batch_size=1, grad_accum=1, width=a.size, height=a.size,
                      latent_method="once", num_vectors=1, init_text="*", save_every=0, preview_every=0)
    per_step: list[float] = []
    trainer = Trainer(backend, cfg, on_event=lambda kind, d: per_step.append(d.seconds) if kind == "step" else None)
    t0 = time.perf_counter()
    result = trainer.run()
    seconds = time.perf_counter() - t0
    if result.status != "finished" or result.step != steps:
        raise SystemExit(f"TI Lab training ended {result.status} at step {result.step}: {result.message}")
    return seconds, per_step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="running host, e.g. http://127.0.0.1:7860 (started with --api)")
    ap.add_argument("--ckpt", type=Path, required=True, help="the checkpoint the host runs (same file)")
    ap.add_argument("--config", type=Path, default=None, help="its yaml (default: <ckpt>.yaml beside it)")
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data" / "photos" / "teapot",
                    help="training images (default: the repository's teapot photos)")
    ap.add_argument("--host-pid-file", type=Path, default=None,
                    help="the host's pid file, to report its thread setting (optional)")
    ap.add_argument("--steps", type=int, default=10, help="N: each side trains N and 2N steps")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lr", default="0.005")
    ap.add_argument("--template", default="style_filewords",
                    help="template name; both the host and TI Lab ship one by this name (prompts stay < 75 tokens)")
    a = ap.parse_args()
    base = a.url.rstrip("/")
    n = a.steps

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    torch.set_num_threads(1)

    # the host must run the same checkpoint
    opts, _ = call(base, "/sdapi/v1/options")
    if not str(opts.get("sd_model_checkpoint", "")).startswith(a.ckpt.name):
        print(f"host had {opts.get('sd_model_checkpoint')!r}; selecting {a.ckpt.name}")
        call(base, "/sdapi/v1/options", {"sd_model_checkpoint": a.ckpt.name})
        opts, _ = call(base, "/sdapi/v1/options")
    print(f"host: {base}, checkpoint {opts.get('sd_model_checkpoint')!r}, "
          f"training_xattention_optimizations={opts.get('training_xattention_optimizations')}, "
          f"OMP_NUM_THREADS={host_threads(a.host_pid_file)}")
    print(f"TI Lab: this process, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"torch.get_num_threads()={torch.get_num_threads()}, torch {torch.__version__}")

    from lib_ti.model.backend import SDBackend
    from lib_ti.model.loader import load_ldm

    t0 = time.perf_counter()
    backend = SDBackend(load_ldm(a.ckpt, a.config, device="cpu", dtype=torch.float32))
    print(f"TI Lab loaded {a.ckpt.name} standalone in {time.perf_counter() - t0:.1f} s "
          f"(width {backend.embedding_width}, {backend.family})")
    print(f"settings: dataset {a.data} ({sum(1 for p in a.data.iterdir() if p.is_file())} files), {a.size}x{a.size}, "
          f"batch 1, grad-accum 1, lr {a.lr}, template {a.template}, latents 'once', 1 vector init '*', "
          f"no previews, no intermediate saves; N={n}, 2N={2 * n}, rounds={a.rounds}")

    host_t: dict[int, list[float]] = {n: [], 2 * n: []}
    ours_t: dict[int, list[float]] = {n: [], 2 * n: []}
    ours_steps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tilab-bench-") as tmp:
        work = Path(tmp)
        log_dir = str(work / "host-log")
        for r in range(a.rounds):
            for steps in (n, 2 * n):
                # a new name each run: the host's create/embedding reloads its embedding database only when the
                # folder's mtime changes, so overwriting a file in place would leave the old (trained) step loaded
                # and the next train call would return at once
                h = host_train(base, f"benchhost{steps}r{r}t{time.time_ns() % 10**9}", steps, a, log_dir)
                o, per_step = ours_train(backend, f"benchours{steps}", steps, a, work)
                host_t[steps].append(h)
                ours_t[steps].append(o)
                ours_steps.extend(per_step)
                print(f"  round {r + 1}, {steps:4d} steps: host {h:7.2f} s | TI Lab {o:7.2f} s", flush=True)

    def rate(t: dict[int, list[float]]) -> tuple[float, list[float]]:
        diffs = [b - s for s, b in zip(t[n], t[2 * n])]
        return n / statistics.median(diffs), diffs

    host_rate, host_d = rate(host_t)
    ours_rate, ours_d = rate(ours_t)
    print()
    print(f"{'':28s}{'host train/embedding':>22s}{'TI Lab Trainer':>18s}")
    print(f"{'t(N) median, s':28s}{statistics.median(host_t[n]):22.2f}{statistics.median(ours_t[n]):18.2f}")
    print(f"{'t(2N) median, s':28s}{statistics.median(host_t[2 * n]):22.2f}{statistics.median(ours_t[2 * n]):18.2f}")
    print(f"{'t(2N)-t(N) per round, s':28s}{', '.join(f'{d:.2f}' for d in host_d):>22s}"
          f"{', '.join(f'{d:.2f}' for d in ours_d):>18s}")
    print(f"{'steps/s (set-up subtracted)':28s}{host_rate:22.3f}{ours_rate:18.3f}")
    print(f"{'steps/s end to end at 2N':28s}{2 * n / statistics.median(host_t[2 * n]):22.3f}"
          f"{2 * n / statistics.median(ours_t[2 * n]):18.3f}")
    print(f"TI Lab per-step timer (Trainer StepInfo.seconds), median: {statistics.median(ours_steps) * 1000:.0f} ms "
          f"= {1 / statistics.median(ours_steps):.3f} steps/s")
    ratio = ours_rate / host_rate
    print(f"ratio TI Lab / host step rate: {ratio:.2f}x (goal >= 1.5x: {'met' if ratio >= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
