"""GPU training benchmark: TI Lab's real ``Trainer`` on an SD1.5-shaped model with random weights.

For each configuration (batch 1 and 8, fp16 and bf16, gradient checkpointing off and on, 512 and 256 px; SDPA on)
it reports the median step time, the peak CUDA memory of the training steps (reset after step 1, so latent caching
is not counted; set-up's own peak is shown beside it) and the fraction of the compute floor reached:

    floor FLOPs per step = 1.67 TFLOP x batch x (pixels / 512²)   (UNet forward + input-gradient backward)
    fraction = floor FLOPs / step time / peak FLOP/s

The peak is measured on the spot (a large matmul in the configuration's dtype), so the fraction does not depend
on a table of GPU specifications; ``--peak-tflops`` overrides it. Goals (issue 9): >= 40 % of the floor at batch 8,
peak under 4 GiB at 512 px, batch 1.

The model is the shipped ``v1-inference.yaml`` at full size (UNet 320 channels, CLIP-L-shaped 12-layer text
encoder, full VAE), random weights (no download). SDXL-shaped runs are not included yet.

Without CUDA it refuses with exit code 2; ``--dry-run`` prints the plan (configurations and floor FLOPs) anywhere.

    python bench/gpu_train.py [--steps 12] [--warmup 3] [--batch 1 8] [--precision fp16 bf16] [--size 512 256]
                              [--checkpointing off on] [--json results.json] [--dry-run]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
#: UNet forward + backward to its inputs for one 512x512 SD1.5 image (issue 9's figure).
FLOOR_TFLOP_512 = 1.67
GOAL_FRACTION_BATCH8 = 0.40
GOAL_PEAK_GIB_512_B1 = 4.0


@dataclass(frozen=True)
class Config:
    batch: int
    precision: str
    checkpointing: bool
    size: int

    @property
    def label(self) -> str:
        return f"b{self.batch} {self.precision} ckpt-{'on' if self.checkpointing else 'off'} {self.size}px"

    def floor_tflop(self) -> float:
        """The compute floor of one step of this configuration, in TFLOP."""
        return FLOOR_TFLOP_512 * self.batch * (self.size / 512) ** 2


@dataclass
class Result:
    config: Config
    step_ms: float
    peak_gib: float
    setup_peak_gib: float
    peak_tflops: float
    status: str = "finished"

    @property
    def fraction(self) -> float:
        """Fraction of the floor: useful FLOP/s over the device's measured peak FLOP/s."""
        return self.config.floor_tflop() / (self.step_ms / 1000) / self.peak_tflops


def plan(batches: list[int], precisions: list[str], checkpointing: list[str], sizes: list[int]) -> list[Config]:
    return [Config(b, p, c == "on", s) for s, b, p, c in itertools.product(sizes, batches, precisions, checkpointing)]


def goals(results: list[Result]) -> list[str]:
    """One line per goal, saying met / NOT met with the figure, or that the configuration was not run."""
    out = []
    b8 = [r for r in results if r.config.batch == 8 and r.status == "finished"]
    if b8:
        best = max(b8, key=lambda r: r.fraction)
        out.append(f"batch 8: best {best.fraction:.0%} of the floor ({best.config.label}); goal >= "
                   f"{GOAL_FRACTION_BATCH8:.0%}: {'met' if best.fraction >= GOAL_FRACTION_BATCH8 else 'NOT met'}")
    else:
        out.append("batch 8: not run")
    b1 = [r for r in results if r.config.batch == 1 and r.config.size == 512 and r.status == "finished"]
    if b1:
        low = min(b1, key=lambda r: r.peak_gib)
        out.append(f"512 px batch 1: lowest peak {low.peak_gib:.2f} GiB ({low.config.label}); goal < "
                   f"{GOAL_PEAK_GIB_512_B1} GiB: {'met' if low.peak_gib < GOAL_PEAK_GIB_512_B1 else 'NOT met'}")
    else:
        out.append("512 px batch 1: not run")
    return out


def table(results: list[Result]) -> str:
    lines = [f"{'configuration':28s}{'ms/step':>10s}{'peak GiB':>10s}{'set-up GiB':>12s}{'floor':>8s}{'status':>10s}"]
    for r in results:
        lines.append(f"{r.config.label:28s}{r.step_ms:10.1f}{r.peak_gib:10.2f}{r.setup_peak_gib:12.2f}"
                     f"{r.fraction:8.0%}{r.status:>10s}")
    return "\n".join(lines)


def require_cuda() -> Any:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_train.py needs a CUDA GPU and none is available here (torch.cuda.is_available() is "
                         "False). Use --dry-run to see the plan.")
    return torch.device("cuda")


def matmul_peak_tflops(dtype: Any, n: int = 8192, reps: int = 20) -> float:
    """Achieved dense matmul TFLOP/s in ``dtype``: the device's practical peak."""
    import torch

    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e12


def build_sd15(workdir: Path) -> Any:
    """SD1.5 at full size with random weights, on the CPU in fp32 (moved per configuration)."""
    sys.path.insert(0, str(REPO / "tests"))
    from sdkit import _instantiate, _load_config, write_tiny_clip_folder

    cfg = _load_config("v1-inference.yaml")
    clip = write_tiny_clip_folder(workdir / "clip-l-shaped", width=768, layers=12, heads=12, intermediate=3072)
    cfg.model.params.cond_stage_config.params.version = str(clip)
    return _instantiate(cfg, 0)


def run_config(model: Any, c: Config, data: Path, workdir: Path, steps: int, warmup: int,
               peak_tflops: float) -> Result:
    import torch

    from lib_ti.model.backend import SDBackend
    from lib_ti.model.precision import decide_precision
    from lib_ti.training.config import TrainConfig
    from lib_ti.training.loop import Trainer

    device = torch.device("cuda")
    p = decide_precision(c.precision, device)
    model.to(device, p.weights)
    backend = SDBackend(model)
    cfg = TrainConfig(name="benchtok", data_dir=data, run_dir=workdir / f"run-{c.label.replace(' ', '-')}",
                      embeddings_dir=workdir / "emb", template="subject", learn_rate="0.005",
                      steps=warmup + steps, batch_size=c.batch, width=c.size, height=c.size, num_vectors=4,
                      save_every=0, preview_every=0, eval_every=0, precision=c.precision, sdpa=True,
                      gradient_checkpointing=c.checkpointing)
    times: list[float] = []
    peaks: dict = {}
    torch.cuda.reset_peak_memory_stats(device)

    def on_event(kind: str, data: Any) -> None:
        if kind != "step":
            return
        torch.cuda.synchronize()
        if data.step == 1:  # set-up (latent caching) and the first step's allocations are behind us
            peaks["setup"] = torch.cuda.max_memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        if data.step > warmup:
            times.append(data.seconds)

    status = "finished"
    try:
        result = Trainer(backend, cfg, on_event=on_event).run()
        status = result.status
    except Exception as exc:  # noqa: BLE001 - one configuration failing is a row, not the end of the bench
        status = type(exc).__name__
    peak = torch.cuda.max_memory_allocated(device)
    model.to("cpu", torch.float32)
    torch.cuda.empty_cache()
    step_ms = statistics.median(times) * 1000 if times else float("nan")
    return Result(c, step_ms, peak / 2**30, peaks.get("setup", 0) / 2**30, peak_tflops, status)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (kernels, allocator)")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--precision", nargs="+", choices=("fp16", "bf16"), default=["fp16", "bf16"])
    ap.add_argument("--checkpointing", nargs="+", choices=("off", "on"), default=["off", "on"])
    ap.add_argument("--size", type=int, nargs="+", default=[512, 256])
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak instead of the measured matmul")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--dry-run", action="store_true", help="print the plan; needs no GPU")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.warmup < 1:
        ap.error("--steps and --warmup must be at least 1")
    if any(s % 64 for s in a.size):
        ap.error("--size values must be multiples of 64")
    return a


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    configs = plan(a.batch, a.precision, a.checkpointing, a.size)
    if a.dry_run:
        for c in configs:
            print(f"{c.label:28s} floor {c.floor_tflop():6.2f} TFLOP/step, {a.warmup} + {a.steps} steps")
        return 0
    require_cuda()
    sys.path.insert(0, str(REPO))
    import torch

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    peaks = {p: a.peak_tflops or matmul_peak_tflops(getattr(torch, {"fp16": "float16", "bf16": "bfloat16"}[p]))
             for p in a.precision}
    print("peak (" + ("given" if a.peak_tflops else "measured 8192² matmul") + "): "
          + ", ".join(f"{p} {v:.0f} TFLOP/s" for p, v in peaks.items()))
    results = []
    with tempfile.TemporaryDirectory(prefix="tilab-gpu-bench-") as tmp:
        work = Path(tmp)
        sys.path.insert(0, str(REPO / "tests" / "training"))
        from conftest import write_images

        data = write_images(work / "data", n=16, size=(max(a.size) + 32, max(a.size)))
        t0 = time.perf_counter()
        model = build_sd15(work)
        print(f"SD1.5-shaped random model built in {time.perf_counter() - t0:.0f} s")
        for c in configs:
            r = run_config(model, c, data, work, a.steps, a.warmup, peaks[c.precision])
            results.append(r)
            print(f"  {c.label:28s} {r.step_ms:8.1f} ms/step, peak {r.peak_gib:.2f} GiB, {r.fraction:.0%} of floor, "
                  f"{r.status}", flush=True)
    print()
    print(table(results))
    for line in goals(results):
        print(line)
    if a.json:
        a.json.write_text(json.dumps([{**asdict(r), "fraction": r.fraction} for r in results], indent=2,
                                     default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
