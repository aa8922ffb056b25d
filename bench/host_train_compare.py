"""TI Lab's trainer INSIDE the host vs the host's own trainer, same model, same settings, one run, interleaved.

Both sides run in the same WebUI process on the same loaded checkpoint (``shared.sd_model``, with whatever
``--medvram``/``--lowvram``/precision flags the host was started with), so faults that only exist inside the host
(an unfrozen model, low-VRAM hooks, the host's dtype) are part of what is measured:

- host: ``POST /sdapi/v1/train/embedding``. Its per-step timer is ``/sdapi/v1/progress`` polled from a second
  thread (the host sets ``state.job_no`` to the step after each update): the time between successive step numbers.
- TI Lab: ``POST /tilab/api/train`` (added by TI Lab when the host runs with ``--api``), which runs TI Lab's
  ``Trainer`` on ``shared.sd_model`` under the host's queue lock and answers with its own per-step timers.
- Peak memory: ``POST /tilab/api/memory`` resets the process's peak (CUDA allocated; resident set through
  ``/proc/self/clear_refs``) before each run, ``GET`` reads it after; both sides are measured the same way.

Each side trains a fresh 1-vector embedding (init ``*``) ``--steps`` steps (default 20) per round. Measured on
both sides: the time from the call to the end of step 1, each step, the wall time. Set-up (call to end of step 1
minus step 1) is exact for TI Lab (timed inside) and only an estimate for the host (step 1 taken as the median
step; it can come out negative under load, so it is shown, never used in a ratio). Nothing is subtracted between
runs. Every figure is checked before anything is reported: all steps ran, timers are positive, step 1 ends inside
the wall time, TI Lab's set-up is not negative, the steps fit in the wall time, the polled host timer agrees with
its wall time, and the ratios are plausible; a failed check stops the bench with the reason instead of a number.

Not part of the test suite: it needs a RUNNING host (``--api``) with TI Lab installed and a checkpoint loaded. The
dataset must be readable by the host (same machine); with ``--listen`` its folder must be allowed in TI Lab's
settings.

    python bench/host_train_compare.py http://127.0.0.1:7860 [--data tests/data/photos/teapot] [--steps 20] \
        [--rounds 2] [--size 512] [--lr 0.005] [--template style_filewords] [--poll 0.02]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.5


class BenchRefused(SystemExit):
    """A measurement that failed a sanity check: reported instead of a number."""

    def __init__(self, why: str) -> None:
        super().__init__(f"refused: {why}")


def call(base: str, path: str, body: Any = None, method: Optional[str] = None, timeout: float = 7200) -> Any:
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # the host's error body says why (e.g. its trainer refusing SDXL)
        raise BenchRefused(f"{req.method} {path} answered HTTP {exc.code}: {exc.read()[:500]!r}") from None


@dataclass
class RunTimes:
    """One training run, as both sides report it."""

    side: str
    wall_s: float
    setup_s: float
    step_s: list[float]
    first_step_s: float = float("nan")  # call → end of step 1, measured on both sides
    peak: dict = field(default_factory=dict)
    steps_seen: int = 0

    @property
    def step_median(self) -> float:
        return statistics.median(self.step_s)


def step_times_from_polls(polls: list[tuple[float, int]], t0: float) -> tuple[list[float], float, int]:
    """(per-step seconds, seconds to the end of step 1, distinct steps seen) from ``(time, job_no)`` samples of the
    host's progress (the host sets ``job_no`` to the steps done after each step).

    A step's time is the gap between the first sightings of two successive step numbers; when a poll skipped a
    number the gap is shared equally by the steps it covers. The end of step 1 is the first sighting of step 1 (or
    of the first step seen, less the median step for each step before it). The host's set-up itself cannot be
    seen from outside: step 1's own length is unknown, so :func:`host_run` estimates it with the median step.
    """
    firsts: list[tuple[float, int]] = []
    for t, n in polls:
        if n > 0 and (not firsts or n > firsts[-1][1]):
            firsts.append((t, n))
    steps: list[float] = []
    for (ta, na), (tb, nb) in zip(firsts, firsts[1:]):
        steps += [(tb - ta) / (nb - na)] * (nb - na)
    if not firsts or not steps:
        return steps, float("nan"), len(firsts)
    med = statistics.median(steps)
    first_end = firsts[0][0] - t0 - med * (firsts[0][1] - 1)
    return steps, first_end, len(firsts)


def host_run(base: str, name: str, a: argparse.Namespace) -> RunTimes:
    """The host's trainer, with its progress polled for per-step times."""
    call(base, "/sdapi/v1/create/embedding",
         {"name": name, "num_vectors_per_token": 1, "overwrite_old": True, "init_text": "*"})
    never = 10 ** 7  # > 0 (0 makes the host's trainer fail), far above the step count: no previews, no copies
    body = dict(
        id_task=f"bench-{name}", embedding_name=name, learn_rate=a.lr, batch_size=1, gradient_step=1,
        data_root=str(a.data), log_directory=str(a.log_dir), training_width=a.size, training_height=a.size,
        varsize=False, steps=a.steps, clip_grad_mode="disabled", clip_grad_value="0.1", shuffle_tags=False,
        tag_drop_out=0, latent_sampling_method="once", use_weight=False, create_image_every=never,
        save_embedding_every=never, template_filename=f"{a.template}.txt", save_image_with_stored_embedding=False,
        preview_from_txt2img=False, preview_prompt="", preview_negative_prompt="", preview_steps=20,
        preview_sampler_name="Euler a", preview_cfg_scale=7, preview_seed=-1, preview_width=a.size,
        preview_height=a.size,
    )
    call(base, "/tilab/api/memory", {}, method="POST")
    polls: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            try:
                state = call(base, "/sdapi/v1/progress?skip_current_image=true", timeout=10)["state"]
                polls.append((time.perf_counter(), int(state.get("job_no", 0))))
            except (urllib.error.URLError, KeyError, ValueError, OSError):
                pass
            done.wait(a.poll)

    poller = threading.Thread(target=poll, daemon=True)
    t0 = time.perf_counter()
    poller.start()
    out = call(base, "/sdapi/v1/train/embedding", body)
    wall = time.perf_counter() - t0
    done.set()
    poller.join()
    info = str(out.get("info", out))
    if "error: None" not in info:
        raise BenchRefused(f"the host's training failed: {info}")
    got = call(base, "/sdapi/v1/embeddings").get("loaded", {}).get(name, {}).get("step")
    if got != a.steps:
        raise BenchRefused(f"host embedding {name} is at step {got}, not {a.steps}: {info}")
    steps, first_end, seen = step_times_from_polls(polls, t0)
    # an estimate: step 1 taken as long as the median step (under load a single step varies by ±50 %)
    setup = first_end - statistics.median(steps) if steps else float("nan")
    return RunTimes("host", wall, setup, steps, first_end, call(base, "/tilab/api/memory"), seen)


def tilab_run(base: str, name: str, a: argparse.Namespace) -> RunTimes:
    """TI Lab's trainer inside the host (``/tilab/api/train``)."""
    body = {"name": name, "data_dir": str(a.data), "steps": a.steps, "batch_size": 1, "grad_accum": 1,
            "width": a.size, "height": a.size, "learn_rate": a.lr, "template": a.template, "latent_method": "once",
            "num_vectors": 1, "init_text": "*", "save_every": 0, "preview_every": 0, "eval_every": 0}
    call(base, "/tilab/api/memory", {}, method="POST")
    t0 = time.perf_counter()
    out = call(base, "/tilab/api/train", body)
    wall = time.perf_counter() - t0
    if "error" in out:
        raise BenchRefused(f"TI Lab's training failed: {out['error']}")
    if out.get("status") != "finished" or out.get("step") != a.steps:
        raise BenchRefused(f"TI Lab's run ended {out.get('status')} at step {out.get('step')}: {out.get('message')}")
    a.precision_line = out.get("precision", "")
    setup, step_s = float(out["setup_s"]), list(out["step_s"])
    return RunTimes("TI Lab", wall, setup, step_s, setup + (step_s[0] if step_s else float("nan")),
                    call(base, "/tilab/api/memory"), len(step_s))


def switch_checkpoint(base: str, wanted: str) -> None:
    """Load ``wanted`` (a file name such as ``tiny768.safetensors``, a model name or a title) as the host's model."""
    stem = wanted.rsplit(".", 1)[0]
    for entry in call(base, "/sdapi/v1/sd-models", timeout=60):
        if Path(entry["filename"]).name == wanted or entry["model_name"] == stem or entry["title"] == wanted:
            call(base, "/sdapi/v1/options", {"sd_model_checkpoint": entry["title"]}, timeout=600)
            return
    raise BenchRefused(f"no checkpoint {wanted!r} in the host (GET /sdapi/v1/sd-models)")


def check(run: RunTimes, steps: int, poll: float) -> None:
    """Refuse a run whose timers cannot be right."""
    where = f"{run.side} run"
    if run.side == "host" and run.steps_seen < max(2, steps // 2):
        raise BenchRefused(f"{where}: the progress poll saw {run.steps_seen} of {steps} steps; steps are shorter "
                           f"than the poll interval ({poll} s). Lower --poll or use a larger --size.")
    if run.side != "host" and len(run.step_s) != steps:
        raise BenchRefused(f"{where}: {len(run.step_s)} step timers for {steps} steps")
    if not run.step_s or min(run.step_s) <= 0:
        raise BenchRefused(f"{where}: a step timer is not positive ({run.step_s[:5]}…)")
    if not 0 < run.first_step_s <= run.wall_s + poll:  # also catches NaN
        raise BenchRefused(f"{where}: step 1 ended {run.first_step_s:.3f} s after the call (wall {run.wall_s:.2f} s)")
    if run.side != "host" and not run.setup_s >= 0:  # TI Lab's set-up is timed inside; the host's is an estimate
        raise BenchRefused(f"{where}: negative set-up {run.setup_s:.3f} s")
    if sum(run.step_s) > run.wall_s * 1.01 + poll:
        raise BenchRefused(f"{where}: the steps ({sum(run.step_s):.2f} s) do not fit in the wall time "
                           f"({run.wall_s:.2f} s)")
    if run.side == "host":
        implied = (run.wall_s - run.first_step_s) / max(steps - 1, 1)
        if not 0.5 <= run.step_median / implied <= 2.0:
            raise BenchRefused(f"{where}: the polled step time ({run.step_median * 1000:.0f} ms) disagrees with "
                               f"the wall time ({implied * 1000:.0f} ms per step after set-up)")


def ratio(host: float, ours: float, what: str) -> float:
    r = host / ours
    if not 0.02 < r < 50:
        raise BenchRefused(f"implausible {what} ratio {r:.3f} (host {host:.3f}, TI Lab {ours:.3f})")
    return r


def fmt_peak(peak: dict) -> str:
    parts = []
    if peak.get("cuda_peak_bytes") is not None:
        parts.append(f"CUDA {peak['cuda_peak_bytes'] / 2**20:.0f} MiB")
    if peak.get("rss_peak_bytes"):
        parts.append(f"RSS {peak['rss_peak_bytes'] / 2**20:.0f} MiB")
    return ", ".join(parts) or "n/a"


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="running host with TI Lab installed, started with --api (e.g. http://127.0.0.1:7860)")
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data" / "photos" / "teapot",
                    help="training images readable by the host (default: the repository's teapot photos)")
    ap.add_argument("--steps", type=int, default=20, help="steps per run (the issue's goal is stated at 20)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the order alternates per round")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--lr", default="0.005")
    ap.add_argument("--template", default="style_filewords",
                    help="template name both the host and TI Lab ship (prompts stay < 75 tokens)")
    ap.add_argument("--checkpoint", default="",
                    help="checkpoint (file name or title) to switch the host to first; default: the loaded one. "
                         "The host's trainer cannot train SDXL (its create/embedding answers HTTP 500)")
    ap.add_argument("--poll", type=float, default=0.02, help="seconds between polls of the host's progress")
    a = ap.parse_args(argv)
    if a.steps < 4:
        ap.error("--steps must be at least 4 (per-step medians need a few steps)")
    a.data = a.data.resolve()
    return a


def main(argv: Optional[list[str]] = None) -> int:
    a = parse_args(argv)
    base = a.url.rstrip("/")
    try:
        mem = call(base, "/tilab/api/memory", timeout=10)
        if a.checkpoint:
            switch_checkpoint(base, a.checkpoint)
        opts = call(base, "/sdapi/v1/options", timeout=30)
    except BenchRefused as exc:
        raise SystemExit(f"{exc}: start the WebUI with --api and TI Lab installed") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SystemExit(f"no WebUI at {base}: {exc}") from None
    a.log_dir = Path(tempfile.mkdtemp(prefix="tilab-bench-host-log-"))  # the host's trainer writes its logs here
    a.precision_line = ""
    print(f"host {base}: checkpoint {opts.get('sd_model_checkpoint')!r}, device {mem.get('device')}, "
          f"training_xattention_optimizations={opts.get('training_xattention_optimizations')}")
    print(f"settings: {a.data} ({sum(1 for p in a.data.iterdir() if p.is_file())} files), {a.size}x{a.size}, "
          f"batch 1, accumulation 1, lr {a.lr}, template {a.template}, latents 'once', 1 vector init '*', "
          f"no previews or intermediate saves; {a.steps} steps, {a.rounds} rounds, poll {a.poll} s")
    runs: dict[str, list[RunTimes]] = {"host": [], "TI Lab": []}
    stamp = time.time_ns() % 10 ** 9
    for r in range(a.rounds):
        order = (host_run, tilab_run) if r % 2 == 0 else (tilab_run, host_run)
        for fn in order:
            # a new name each run: the host reloads its embedding database only when the folder's mtime changes
            run = fn(base, f"bench{'host' if fn is host_run else 'tilab'}{stamp}r{r}", a)
            check(run, a.steps, a.poll)
            runs[run.side].append(run)
            print(f"  round {r + 1} {run.side:7s}: wall {run.wall_s:7.2f} s, step 1 done at {run.first_step_s:6.2f} s, "
                  f"set-up {'≈' if run.side == 'host' else ' '}{run.setup_s:6.2f} s, "
                  f"step median {run.step_median * 1000:7.1f} ms, peak {fmt_peak(run.peak)}", flush=True)

    def med(side: str, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in runs[side])

    per_step = ratio(med("host", "step_median"), med("TI Lab", "step_median"), "per-step")
    end_to_end = ratio(med("host", "wall_s"), med("TI Lab", "wall_s"), "end-to-end")
    print()
    print(f"{'median over rounds':30s}{'host trainer':>16s}{'TI Lab in host':>16s}")
    for label, attr, scale, unit in (("call to end of step 1", "first_step_s", 1, "s"),
                                     ("set-up (host: estimate)", "setup_s", 1, "s"), ("per step", "step_median", 1000,
                                                                                    "ms"),
                                     (f"end to end, {a.steps} steps", "wall_s", 1, "s")):
        print(f"{label + ', ' + unit:30s}{med('host', attr) * scale:16.2f}{med('TI Lab', attr) * scale:16.2f}")
    print(f"{'peak memory (last round)':30s}{fmt_peak(runs['host'][-1].peak):>16s}"
          f"{fmt_peak(runs['TI Lab'][-1].peak):>16s}")
    print(f"TI Lab {a.precision_line}")
    for what, value in (("per step", per_step), (f"end to end at {a.steps} steps", end_to_end)):
        print(f"speed-up {what}: {value:.2f}x (goal >= {GOAL}x: {'met' if value >= GOAL else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
