"""Resume checkpoints load safely; the Train tab's background session runs, reports and stops."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pytest
import torch

from lib_ti.training import checkpoint as ckpt
from lib_ti.training import session as S
from lib_ti.training.session import TrainingSession, plot_series


def test_state_file_is_weights_only_and_restores_every_rng(tmp_path):
    rng = random.Random(5)
    rng.random()
    np.random.seed(3)
    state = {"python_private": ckpt.python_rng_state(rng), "global_rng": ckpt.global_rng_states(), "step": 7}
    path = ckpt.save_state(tmp_path / "x-7.state.pt", state)
    expected = (rng.random(), torch.rand(3), np.random.rand(2), random.random())
    loaded = ckpt.load_state(path)  # torch.load(weights_only=True) inside
    other = random.Random(0)
    ckpt.set_python_rng_state(loaded["python_private"], other)
    ckpt.set_global_rng_states(loaded["global_rng"])
    assert other.random() == expected[0]
    assert torch.equal(torch.rand(3), expected[1])
    assert np.array_equal(np.random.rand(2), expected[2]) and random.random() == expected[3]
    assert ckpt.latest_state(tmp_path.parent / tmp_path.name) is None  # only looks in <run>/checkpoints


@pytest.mark.parametrize("content, message", [
    (pickle.dumps({"format": "something else"}), "not a TI Lab training checkpoint"),
    (b"garbage", "not a TI Lab training checkpoint"),
])
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.state.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        ckpt.load_state(path)


def test_latest_state_picks_highest_step(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for step in (5, 40, 12):
        (folder / f"n-{step}.state.pt").write_bytes(b"")
    assert ckpt.latest_state(tmp_path).name == "n-40.state.pt"


def test_session_runs_in_background_and_stops(backend, make_config):
    import threading

    locked = []
    lock = threading.Lock()

    class Recording:
        def __enter__(self):
            lock.acquire()
            locked.append(True)

        def __exit__(self, *exc):
            lock.release()

    cfg = make_config(steps=10000, eval_every=3, preview_every=0)
    session = TrainingSession(backend, cfg, lock=Recording).start()
    for _ in range(600):
        if session.snapshot().step >= 4:
            break
        session.wait(0.05)
    session.stop()
    session.wait(60)
    snap = session.snapshot()
    assert not snap.running and snap.error is None and locked == [True] and not lock.locked()
    assert snap.result.status == "interrupted" and snap.result.step >= 4 and "Interrupted" in snap.status
    assert len(snap.series["step"]) == snap.result.step
    loss_svg, norm_svg = plot_series(snap.series)
    assert loss_svg.count("<polyline") >= 1 and "step loss" in loss_svg  # the step loss and its fixed-batch twin
    assert norm_svg.startswith("<svg") and "Mean vector norm" in norm_svg


def test_session_reports_errors_as_text(backend, make_config, tmp_path):
    session = TrainingSession(backend, make_config(data_dir=tmp_path / "missing")).start()
    session.wait(60)
    snap = session.snapshot()
    assert snap.result is None and "doesn't exist" in snap.error and snap.status.startswith("Error")


def test_exact_resume_with_raised_max_steps_equals_the_longer_run(backend, make_config, tmp_path):
    """Stop a 4-step run at its end, resume it with max steps 7: same vectors as a 7-step run from the start."""
    from lib_ti.training.loop import Trainer

    sched = "0.02:2, 0.01:5, 0.004"
    full = Trainer(backend, make_config(steps=7, learn_rate=sched, run_dir=tmp_path / "a",
                                        embeddings_dir=tmp_path / "ea", save_every=2)).run()
    short = Trainer(backend, make_config(steps=4, learn_rate=sched, run_dir=tmp_path / "b",
                                         embeddings_dir=tmp_path / "eb", save_every=2)).run()
    assert short.status == "finished" and short.state_path.name == "zork-4.state.pt"
    longer = Trainer(backend, make_config(steps=7, learn_rate=sched, run_dir=tmp_path / "b",
                                          embeddings_dir=tmp_path / "eb", save_every=2, resume=short.state_path))
    resumed = longer.run()
    assert resumed.step == 7
    assert torch.equal(load(full.embedding_path), load(resumed.embedding_path))


def load(path):
    from lib_ti.model.embeddings import load_embedding

    return load_embedding(path).vec


@pytest.mark.parametrize("stamps, item_seconds, remaining, per, eta", [
    ([0.0], [1.0], 10, 1.0, None),                       # one step: speed known, no wall-clock span yet
    ([0.0, 2.0, 4.0], [1.5, 1.5, 1.5], 10, 1.5, 20.0),   # previews/saves make wall time 2 s per step
    ([0.0, 1.0, 2.0], [], 3, 1.0, 3.0),                  # sweeps: no per-item timer, the wall clock alone
])
def test_speed_and_eta(stamps, item_seconds, remaining, per, eta):
    speed = S.Speed()
    for i, t in enumerate(stamps):
        speed.add(item_seconds[i] if i < len(item_seconds) else None, now=t)
    assert speed.per_item() == pytest.approx(per)
    assert speed.eta(remaining) == (None if eta is None else pytest.approx(eta))


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (65, "1m 05s"), (3700, "1h 01m")])
def test_format_duration(seconds, text):
    assert S.format_duration(seconds) == text


def test_registry_refuses_a_second_run_and_keeps_the_finished_one(backend, make_config):
    S.REGISTRY.clear()
    first = S.launch("train", TrainingSession(backend, make_config(steps=10000)))
    with pytest.raises(ValueError, match="already going"):
        S.launch("train", TrainingSession(backend, make_config(steps=3)))
    while first.running and first.snapshot().step < 1:
        first.wait(0.05)
    assert S.stop("train").endswith("stopping after this step…")
    first.wait(60)
    snap = first.snapshot()
    assert S.current("train") is first and not first.running and snap.result is not None, snap.status
    assert snap.result.status == "interrupted"
    assert S.stop("train") == first.snapshot().status  # a late Stop does not replace the final line
    S.REGISTRY.clear()


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    import datetime as dt

    from lib_ti.training.session import fresh_run_dir, runs_of

    now = dt.datetime(2026, 12, 1, 23, 59, 14)
    made = []
    for _ in range(3):
        d = fresh_run_dir(tmp_path / "zork", now)
        d.mkdir(parents=True)
        made.append(d)
    assert [p.name for p in made] == ["20261201-235914", "20261201-235914-2", "20261201-235914-3"]
    assert runs_of(tmp_path, "zork") == made[::-1]  # newest first


def test_an_exact_resume_shows_the_runs_earlier_previews(backend, make_config, tmp_path):
    """Issue 13 item 5 ("one run's history"): after Stop and an exact resume the gallery kept only the resumed
    part's previews. The resumed session shows the folder's earlier ones too, labelled prompt × step with the
    prompts of the run that made them; a preview past the resumed step (an attempt killed after it) is not shown."""
    import shutil

    from lib_ti.training.loop import Trainer
    from lib_ti.ui.train_tab import gallery_items

    kw = dict(save_every=2, preview_every=2, preview_prompts=("a [name]", "b [name]"), preview_steps=1)
    first = Trainer(backend, make_config(steps=4, **kw)).run()
    folder = first.run_dir / "checkpoints"
    shutil.copy(folder / "zork-4-preview0.png", folder / "zork-5-preview0.png")  # past the checkpoint: stale
    session = TrainingSession(backend, make_config(steps=6, resume=first.state_path, **kw))
    shown = [(p.step, p.caption) for p in session.snapshot().previews]  # before it runs: the history is there
    assert shown == [(2, "step 2 · a zork"), (2, "step 2 · b zork"), (4, "step 4 · a zork"), (4, "step 4 · b zork")]
    session.start().wait(120)
    snap = session.snapshot()
    assert snap.result.status == "finished" and snap.result.step == 6, snap.status
    items, columns = gallery_items(snap.previews)
    assert columns == 2 and [c for _, c in items] == [f"step {s} · {p} zork" for s in (2, 4, 6) for p in "ab"]
    assert all(path.startswith(str(folder)) for path, _ in items)


@pytest.mark.parametrize("prompts_then, prompts_now, caption", [
    (("a [name]",), ("a [name]",), "step 2 · a zork"),
    (("then [name]",), ("now [name]",), "step 2 · then zork"),  # labels from the run that made the picture
])
def test_continuing_an_embedding_shows_the_previews_of_its_history_run(tmp_path, make_config, prompts_then,
                                                                     prompts_now, caption):
    import json

    old = tmp_path / "runs" / "zork" / "20261201-120000"
    (old / "checkpoints").mkdir(parents=True)
    (old / "settings.json").write_text(json.dumps({"config": {"preview_prompts": list(prompts_then)}}))
    for name in ("zork-2-preview0.png", "zork-4-preview0.png", "other-2-preview0.png", "zork-2.pt"):
        (old / "checkpoints" / name).write_bytes(b"")
    plan = S.RunPlan("continue", tmp_path / "runs" / "zork" / "new", start_step=2, history_from=old)
    shown = S.earlier_previews(make_config(preview_prompts=prompts_now), plan)
    assert [(p.path.name, p.caption) for p in shown] == [("zork-2-preview0.png", caption)]
    assert S.earlier_previews(make_config(), None) == []  # a new run starts with an empty gallery
