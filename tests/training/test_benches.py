"""The benchmarks' own logic, on CPU: what they refuse, how they turn timers into figures.

The benchmarks themselves need a running host (``bench/host_train_compare.py``) or a CUDA GPU
(``bench/gpu_train.py``); these tests pin the parts that decide whether a reported figure can be trusted.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def compare():
    return _load("host_train_compare")


@pytest.fixture(scope="module")
def gpu():
    return _load("gpu_train")


# ----------------------------------------------------------------------------- host_train_compare
@pytest.mark.parametrize("polls, steps, first_end, seen", [
    # step 1 seen at 2.0 s, then one step per 0.5 s: step 1 ended by 2.0 s (the host's set-up is not visible)
    ([(0.1, 0), (2.0, 1), (2.5, 2), (3.0, 3), (3.5, 4)], [0.5, 0.5, 0.5], 2.0, 4),
    # a poll missed step 3: the 1.0 s gap is shared by steps 3 and 4
    ([(2.0, 1), (2.5, 2), (3.5, 4), (4.0, 5)], [0.5, 0.5, 0.5, 0.5], 2.0, 4),
    # repeated sightings count once; a stale lower number is ignored
    ([(2.0, 1), (2.2, 1), (2.5, 2), (2.6, 1), (3.0, 3)], [0.5, 0.5], 2.0, 3),
    # step 1 never seen: its end is the first sighting less one median step per step before it
    ([(2.5, 2), (3.0, 3), (3.5, 4)], [0.5, 0.5], 2.0, 3),
])
def test_host_step_times_from_progress_polls(compare, polls, steps, first_end, seen):
    got, got_first_end, got_seen = compare.step_times_from_polls(polls, 0.0)
    assert got == pytest.approx(steps) and got_first_end == pytest.approx(first_end) and got_seen == seen


def _run(compare, side="TI Lab", wall=10.0, setup=2.0, steps=None, seen=None, first_step=2.4):
    steps = [0.4] * 20 if steps is None else steps
    return compare.RunTimes(side, wall, setup, steps, first_step_s=first_step, peak={},
                            steps_seen=len(steps) if seen is None else seen)


@pytest.mark.parametrize("kw, why", [
    (dict(setup=-1.0), "negative set-up"),
    (dict(first_step=-0.5), "step 1 ended"),
    (dict(first_step=float("nan")), "step 1 ended"),
    (dict(setup=float("nan")), "negative set-up"),
    (dict(steps=[0.4] * 19 + [0.0]), "not positive"),
    (dict(steps=[0.4] * 19), "19 step timers for 20 steps"),
    (dict(wall=5.0), "do not fit in the wall time"),
    (dict(side="host", seen=3), "saw 3 of 20 steps"),
    (dict(side="host", wall=40.0), "disagrees with the wall time"),
])
def test_implausible_runs_are_refused(compare, kw, why):
    with pytest.raises(compare.BenchRefused, match=why):
        compare.check(_run(compare, **kw), 20, 0.02)


def test_a_sound_run_passes(compare):
    compare.check(_run(compare), 20, 0.02)
    compare.check(_run(compare, side="host"), 20, 0.02)


@pytest.mark.parametrize("host, ours, ok", [(3.0, 1.0, True), (1.0, 100.0, False), (-1.0, 1.0, False)])
def test_ratio_refuses_implausible_values(compare, host, ours, ok):
    if ok:
        assert compare.ratio(host, ours, "per-step") == pytest.approx(host / ours)
    else:
        with pytest.raises(compare.BenchRefused, match="implausible per-step ratio"):
            compare.ratio(host, ours, "per-step")


def test_compare_needs_no_machine_paths(compare):
    a = compare.parse_args(["http://127.0.0.1:7860"])
    assert a.steps == 20 and a.data == (BENCH.parent / "tests" / "data" / "photos" / "teapot").resolve()
    with pytest.raises(SystemExit):
        compare.parse_args(["http://x", "--steps", "2"])


def test_compare_says_when_no_host_answers(compare):
    with pytest.raises(SystemExit, match="no WebUI at http://127.0.0.1:9"):
        compare.main(["http://127.0.0.1:9"])


# ----------------------------------------------------------------------------- gpu_train
def test_gpu_bench_refuses_without_cuda(gpu, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="needs a CUDA GPU and none is available"):
        gpu.main(["--steps", "1"])


def test_gpu_bench_plan_and_floor(gpu, capsys):
    configs = gpu.plan([1, 8], ["fp16", "bf16"], ["off", "on"], [512, 256])
    assert len(configs) == 16 and len(set(configs)) == 16
    assert gpu.Config(8, "fp16", False, 512).floor_tflop() == pytest.approx(8 * 1.67)
    assert gpu.Config(1, "bf16", True, 256).floor_tflop() == pytest.approx(1.67 / 4)
    assert gpu.main(["--dry-run", "--batch", "8", "--precision", "bf16", "--checkpointing", "on", "--size", "256"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("b8 bf16 ckpt-on 256px") and "floor   3.34 TFLOP/step, 3 + 12 steps" in out


@pytest.mark.parametrize("step_ms, peak, fraction_text, peak_text", [
    (100.0, 3.5, "met", "met"),      # 8 x 1.67 TFLOP in 0.1 s on a 300 TFLOP/s device: 45 %
    (200.0, 4.5, "NOT met", "NOT met"),
])
def test_gpu_bench_goals(gpu, step_ms, peak, fraction_text, peak_text):
    results = [gpu.Result(gpu.Config(8, "fp16", False, 512), step_ms, 20.0, 21.0, 300.0),
               gpu.Result(gpu.Config(1, "fp16", True, 512), 30.0, peak, 5.0, 300.0)]
    assert results[0].fraction == pytest.approx(8 * 1.67 / (step_ms / 1000) / 300)
    lines = gpu.goals(results)
    assert lines[0].endswith(f": {fraction_text}") and lines[1].endswith(f": {peak_text}")
    assert "b8 fp16 ckpt-off 512px" in gpu.table(results)


def test_gpu_bench_goals_say_what_was_not_run(gpu):
    assert gpu.goals([]) == ["batch 8: not run", "512 px batch 1: not run"]
