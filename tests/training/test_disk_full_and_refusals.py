"""A full disk during training, stale temporary files and hostile training states (issue 10, items 6 and 11).

Before: a full disk ended in a raw "No space left on device" traceback; a killed save's ``.tmp`` stayed forever;
refusing a malicious state repeated torch's advice to reload with ``weights_only=False`` (which runs its code).
"""

from __future__ import annotations

import errno
import pickle

import pytest
import torch

from lib_ti.core import fsutil
from lib_ti.training import checkpoint as ckpt
from lib_ti.training.loop import Trainer, TrainingError


def test_full_disk_stops_with_a_message_keeps_the_last_good_embedding_and_leaves_no_tmp(
        backend, make_config, tmp_path, monkeypatch):
    cfg = make_config(steps=6, save_every=2)
    real = ckpt.atomic_save

    def disk_fills_at_step_4(path, writer):
        if path.name.endswith("-4.state.pt"):
            def half_then_full(tmp):
                tmp.write_bytes(b"half a checkpoint")
                raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
            return real(path, half_then_full)
        return real(path, writer)

    monkeypatch.setattr(ckpt, "atomic_save", disk_fills_at_step_4)
    with pytest.raises(TrainingError) as info:
        Trainer(backend, cfg).run()
    message = str(info.value)
    checkpoints = cfg.run_dir / "checkpoints"
    assert "disk is full" in message and "saving the checkpoint of step 4" in message
    assert str(checkpoints / "zork-2.pt") in message and str(checkpoints / "zork-2.state.pt") in message
    assert "Errno" not in message
    leftovers = [p.name for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []
    assert ckpt.load_state(checkpoints / "zork-2.state.pt")["step"] == 2


def test_resume_removes_temporary_files_of_killed_saves(tmp_path):
    folder = tmp_path / "checkpoints"
    state = ckpt.save_state(folder / "zork-2.state.pt", {"step": 2})
    stale = [folder / ".zork-4.state.pt.k1ll3d.tmp", folder / ".zork-4.pt.x.tmp"]
    for p in stale:
        p.write_bytes(b"killed mid-save")
    assert ckpt.load_state(state)["step"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["zork-2.state.pt"]


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [
    lambda: {"format": ckpt.FORMAT, "evil": _RunsCode()},
    lambda: _RunsCode(),
], ids=["inside-a-state", "bare"])
def test_a_malicious_state_is_refused_without_torch_advice(tmp_path, payload):
    path = tmp_path / "evil.state.pt"
    torch.save(payload(), path, pickle_module=pickle)
    with pytest.raises(ValueError) as info:
        ckpt.load_state(path)
    message = str(info.value)
    assert "evil.state.pt" in message and "system" in message  # os.system pickles as posix.system
    assert "weights_only" not in message and "trust" not in message


def test_a_text_file_named_like_a_state_is_named_in_the_message(tmp_path):
    path = tmp_path / "notes.state.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.state.pt"):
        ckpt.load_state(path)


def test_stale_tmp_helper_only_touches_temporary_files(tmp_path):
    (tmp_path / "keep.pt").write_bytes(b"x")
    (tmp_path / ".keep.pt.abc.tmp").write_bytes(b"x")
    assert [p.name for p in fsutil.remove_stale_tmp(tmp_path)] == [".keep.pt.abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


@pytest.mark.parametrize("error, says", [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
])
def test_a_failed_last_checkpoint_keeps_the_finished_run_and_says_what_is_missing(
        backend, make_config, monkeypatch, error, says):
    """The final embedding is saved before the run's last checkpoint; when only the checkpoint fails, the run still
    finished: its status and embedding stand and the message names what is missing (it used to end in an error)."""
    cfg = make_config(steps=3, save_every=0)
    real = ckpt.atomic_save

    def fails_on_the_state(path, writer):
        if path.name.endswith(".state.pt"):
            raise error
        return real(path, writer)

    monkeypatch.setattr(ckpt, "atomic_save", fails_on_the_state)
    result = Trainer(backend, cfg).run()
    assert result.status == "finished" and result.embedding_path.is_file()
    assert result.message.startswith("Finished at step 3. Embedding saved to")
    assert f"The checkpoint of step 3 could not be saved: {says}" in result.message, result.message
    assert result.state_path is None  # nothing half-written is offered for a resume
