"""The training loop: what is trained, what is cached, resume, failures and the schedule."""

from __future__ import annotations

import csv

import pytest
import torch

from lib_ti.core.jobs import Job
from lib_ti.schedule.parse import HostScheduler
from lib_ti.model.embeddings import load_embedding
from lib_ti.training.loop import Trainer


def run(backend, cfg, *, stop_at=None, events=None, **kw):
    """Train; ``stop_at`` presses Interrupt when that step completes; ``events`` collects (kind, data) of every
    event. Returns (trainer, result, step infos)."""
    job = Job()
    infos = []

    def on_event(kind, data):
        if events is not None:
            events.append((kind, data))
        if kind == "step":
            infos.append(data)
            if stop_at is not None and data.step == stop_at:
                job.interrupt()

    trainer = Trainer(backend, cfg, job=job, on_event=on_event, **kw)
    result = trainer.run()
    return trainer, result, infos


def test_only_the_vectors_are_trained(backend, make_config):
    trainer, result, infos = run(backend, make_config(steps=3))
    assert result.status == "finished" and result.step == 3
    params = [p for g in trainer.opt.param_groups for p in g["params"]]
    assert len(params) == 1 and params[0] is trainer.vec and tuple(trainer.vec.shape) == (2, 32)
    assert all(not p.requires_grad and p.grad is None for p in backend.model.parameters())
    assert set(trainer.opt.state) == {trainer.vec}
    saved = load_embedding(result.embedding_path)
    assert saved.step == 3 and torch.equal(saved.vec, trainer.vec.detach().cpu())


@pytest.mark.parametrize("method", ["once", "deterministic", "random"])
def test_vae_encoder_runs_once_per_image(backend, make_config, monkeypatch, method):
    calls = []
    real = backend.model.encode_first_stage
    monkeypatch.setattr(backend.model, "encode_first_stage", lambda x: calls.append(x.shape) or real(x))
    trainer, result, _ = run(backend, make_config(steps=5, latent_method=method, flip_p=0.5))
    assert result.step == 5
    assert len(calls) == 4  # four images, five steps of batch 2: never inside a step
    assert all(shape[-2:] == (64, 64) for shape in calls)  # 80x72 files trained at 64x64


RESUME_CASES = {
    "plain": dict(),
    "everything random": dict(latent_method="random", shuffle_tags=True, tag_dropout=0.3, flip_p=0.5,
                              grad_accum=2, batch_size=1, clip_grad_mode="norm", clip_grad_value="0.5:3,0.05"),
    "schedule changes after resume": dict(learn_rate="0.02:2,0.1:4,0.005", eval_every=2),
    # duplicate entries are consumed one per scheduler call: the interrupted call must not be counted twice
    "duplicate schedule steps": dict(learn_rate="0.01:3,0.02:3,0.005", batch_size=1),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resume_matches_uninterrupted_run(backend, make_config, tmp_path, case):
    kw = dict(steps=6, save_every=2, **RESUME_CASES[case])
    _, full, full_infos = run(backend, make_config(run_dir=tmp_path / "a", embeddings_dir=tmp_path / "ea", **kw))

    _, first, _ = run(backend, make_config(run_dir=tmp_path / "b", embeddings_dir=tmp_path / "eb", **kw), stop_at=3)
    assert first.status == "interrupted" and first.step == 3 and first.state_path.name == "zork-3.state.pt"
    # a fresh process would rebuild everything; a new Trainer over the same frozen model is the same thing
    resumed_t, resumed, resumed_infos = run(
        backend, make_config(run_dir=tmp_path / "b", embeddings_dir=tmp_path / "eb", resume=first.state_path, **kw))
    assert resumed.status == "finished" and resumed.step == 6
    assert [i.loss for i in resumed_infos] == [i.loss for i in full_infos[3:]]
    assert [i.learn_rate for i in resumed_infos] == [i.learn_rate for i in full_infos[3:]]
    assert torch.equal(load_embedding(resumed.embedding_path).vec, load_embedding(full.embedding_path).vec)
    csv_a, csv_b = (tmp_path / run / "textual_inversion_loss.csv" for run in ("a", "b"))
    with open(csv_a) as fa, open(csv_b) as fb:
        assert list(csv.reader(fa)) == list(csv.reader(fb))


def test_interrupt_saves_within_one_step(backend, make_config):
    _, result, infos = run(backend, make_config(steps=50, save_every=0), stop_at=2)
    assert result.status == "interrupted" and result.step == 2 and len(infos) == 2
    assert load_embedding(result.embedding_path).step == 2
    assert result.state_path.exists()



@pytest.mark.parametrize("save_every, steps, stop_at, saved", [
    (0, 3, None, [3]),        # "save every 0" = only at the end: the final step is still a run checkpoint
    (2, 5, None, [2, 4, 5]),  # the end between two periodic saves is saved too
    (2, 4, None, [2, 4]),     # ... but not twice when the rhythm just saved it
    (0, 50, 2, [2]),          # a stop saves its step, as before
])
def test_a_run_always_ends_with_a_checkpoint_the_sweep_lists(backend, make_config, save_every, steps, stop_at, saved):
    """Issue 13 leftover: a finished run with save_every=0 wrote no checkpoint, so the strength sweep saw none."""
    from lib_ti.training.sweep import pick_checkpoints, run_checkpoints

    events = []
    _, result, _ = run(backend, make_config(steps=steps, save_every=save_every), stop_at=stop_at, events=events)
    folder = result.run_dir / "checkpoints"
    assert sorted(int(p.name.split("-")[1].split(".")[0]) for p in folder.glob("*.state.pt")) == saved
    assert len([d for k, d in events if k == "checkpoint"]) == len(saved)  # each step saved once
    assert result.state_path == folder / f"zork-{result.step}.state.pt"
    listed = run_checkpoints(result.run_dir)
    assert [p.name for p in listed] == [f"zork-{s}.pt" for s in saved]
    assert pick_checkpoints(listed, [str(result.step)]) == [folder / f"zork-{result.step}.pt"]
    assert load_embedding(listed[-1]).step == result.step
    assert torch.equal(load_embedding(listed[-1]).vec, load_embedding(result.embedding_path).vec)


def _poison_after(backend, monkeypatch, n_ok, make):
    """Make the UNet misbehave after ``n_ok`` good forward passes (failure injection)."""
    real = backend.apply_model
    count = {"n": 0}

    def apply_model(x, t, c):
        count["n"] += 1
        out = real(x, t, c)
        return make(out) if count["n"] > n_ok else out

    monkeypatch.setattr(backend, "apply_model", apply_model)


def test_nan_loss_stops_and_keeps_last_good_embedding(backend, make_config, monkeypatch):
    _poison_after(backend, monkeypatch, 3, lambda out: out * float("nan"))
    trainer, result, infos = run(backend, make_config(steps=10))
    assert result.status == "nan" and result.step == 3 and "NaN" in result.message
    saved = load_embedding(result.embedding_path)
    assert saved.step == 3 and torch.isfinite(saved.vec).all()
    assert torch.equal(saved.vec, trainer.vec.detach().cpu())


def test_out_of_memory_names_remedies_and_loses_nothing(backend, make_config, monkeypatch):
    def boom(out):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    _poison_after(backend, monkeypatch, 4, boom)
    _, result, _ = run(backend, make_config(steps=10, save_every=2))
    assert result.status == "oom" and result.step == 4
    assert "while training step 5" in result.message
    for remedy in ("lower Batch size (now 2)", "turn on Gradient checkpointing", "turn on Low-memory mode"):
        assert remedy in result.message
    assert (result.run_dir / "checkpoints" / "zork-4.state.pt").exists()
    assert load_embedding(result.embedding_path).step == 4


def test_other_errors_save_then_raise(backend, make_config, monkeypatch):
    def bad(out):
        raise ValueError("shape mismatch somewhere")

    _poison_after(backend, monkeypatch, 2, bad)
    cfg = make_config(steps=10)
    with pytest.raises(ValueError, match="shape mismatch"):
        run(backend, cfg)
    assert load_embedding(cfg.embeddings_dir / "zork.pt").step == 2  # two good steps, the third failed


def _host_rates(text, max_steps, accum):
    """Rate of each update as the host's loop applies ``LearnRateScheduler`` (one call per micro-batch)."""
    sched, step, rates = HostScheduler(text, max_steps), 0, []
    while True:
        for _ in range(accum):
            sched.step(step)
            if sched.finished:
                return rates
        rates.append(sched.learn_rate)
        step += 1


@pytest.mark.parametrize("text, steps, accum", [
    ("0.05:2, 0.01:4, 0.002", 6, 1),
    ("0.05:2, 0.01:4, 0.002", 6, 2),
    ("0.1:2,0.2:2,0.3", 5, 1),        # duplicate steps: consumed one per call
    ("0.01:3", 10, 1),                # a final explicit step ends the run early
    ("0.01:2,0.02:6,0.03:6", 6, 1),   # two entries clamped to max steps: one extra update
])
def test_schedule_rates_match_host_scheduler(backend, make_config, text, steps, accum):
    _, result, infos = run(backend, make_config(learn_rate=text, steps=steps, grad_accum=accum, batch_size=1))
    expected = _host_rates(text, steps, accum)
    assert [i.learn_rate for i in infos] == expected
    assert result.step == len(expected)


def test_fixed_batch_loss_and_norms_are_logged(backend, make_config):
    _, result, infos = run(backend, make_config(steps=4, eval_every=2))
    assert [i.fixed_loss is not None for i in infos] == [False, True, False, True]
    with open(result.run_dir / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["step"] == "0" and rows[0]["fixed_batch_loss"]
    assert {"norm_0", "norm_1", "mean_norm"} <= set(rows[0])
    with open(result.run_dir / "textual_inversion_loss.csv") as fh:
        header = fh.readline().strip()
    assert header == "step,epoch,epoch_step,loss,learn_rate"


def test_resume_refuses_changed_settings(backend, make_config, tmp_path):
    _, first, _ = run(backend, make_config(steps=10), stop_at=2)
    cfg = make_config(steps=10, batch_size=1, resume=first.state_path)
    with pytest.raises(ValueError, match="batch_size was 2 in that run, now 1"):
        Trainer(backend, cfg).prepare()


def test_trains_a_v_prediction_sd2_model(tiny_workdir, make_config):
    from lib_ti.model.backend import SDBackend
    from sdkit import build_tiny_sd

    backend = SDBackend(build_tiny_sd("sd2", workdir=tiny_workdir, parameterization="v"))
    assert backend.family == "sd2" and backend.parameterization == "v"
    trainer, result, infos = run(backend, make_config(steps=3, eval_every=3))
    assert result.status == "finished" and all(i.loss > 0 for i in infos)
    assert tuple(load_embedding(result.embedding_path).vec.shape) == (2, backend.embedding_width)
