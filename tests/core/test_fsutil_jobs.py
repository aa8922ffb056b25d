"""Atomic writes never leave half a file; jobs stop cleanly and keep finished work."""

import pytest

from lib_ti.core.fsutil import atomic_save, atomic_write_text
from lib_ti.core.jobs import Interrupted, Job


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one\r\n")
    atomic_write_text(target, "two\r\n")
    assert target.read_bytes() == b"two\r\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("good")

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_save(target, broken)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_iterate_stops_on_interrupt_and_keeps_done_items():
    job, done = Job(), []
    for item in job.iterate(range(10), desc="x"):
        done.append(item)
        if item == 3:
            job.interrupt()
    assert done == [0, 1, 2, 3] and job.done == 4


def test_check_raises_when_interrupted():
    job = Job()
    job.check()
    job.interrupt()
    with pytest.raises(Interrupted):
        job.check()


class _Sink:
    def __init__(self):
        self.events = []

    def begin(self, total, desc):
        self.events.append(("begin", total, desc))

    def update(self, done, total, text):
        self.events.append(("update", done, total))

    def end(self):
        self.events.append(("end",))

    def interrupted(self):
        return len(self.events) > 3  # the host's Interrupt button, pressed after two items


def test_sink_sees_progress_and_can_interrupt():
    sink = _Sink()
    job = Job(sink)
    assert list(job.iterate([1, 2, 3, 4], desc="d")) == [1, 2, 3]
    assert sink.events[0] == ("begin", 4, "d") and sink.events[-1] == ("end",)
