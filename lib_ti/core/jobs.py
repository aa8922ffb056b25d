"""Progress and interruption for long jobs, independent of where they run.

A library function that takes a while accepts ``job: Job | None``. It reports
progress with :meth:`Job.advance` and stops cleanly (keeping finished work) when
:attr:`Job.interrupted` turns true. Where the progress goes is a *sink*: tqdm on
the command line, ``gr.Progress`` in the standalone app, the host's
``shared.state`` inside the host (see :mod:`lib_ti.host`).
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator, Optional, Protocol, TypeVar

T = TypeVar("T")


class ProgressSink(Protocol):
    """Where a job's progress is shown."""

    def begin(self, total: Optional[int], desc: str) -> None: ...

    def update(self, done: int, total: Optional[int], text: str) -> None: ...

    def end(self) -> None: ...

    def interrupted(self) -> bool:
        """True when the surrounding UI asked the job to stop (e.g. the host's Interrupt button)."""
        ...


class NullSink:
    """Shows nothing; used by tests and batch code that reports its own way."""

    def begin(self, total: Optional[int], desc: str) -> None:
        pass

    def update(self, done: int, total: Optional[int], text: str) -> None:
        pass

    def end(self) -> None:
        pass

    def interrupted(self) -> bool:
        return False


class TqdmSink:
    """Command-line progress bar; Ctrl+C is turned into a clean interrupt by :func:`run_cli_job`."""

    def __init__(self) -> None:
        self._bar = None

    def begin(self, total: Optional[int], desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, dynamic_ncols=True)

    def update(self, done: int, total: Optional[int], text: str) -> None:
        if self._bar is None:
            return
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        if text:
            self._bar.set_postfix_str(text, refresh=False)
        self._bar.refresh()

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def interrupted(self) -> bool:
        return False


class Interrupted(Exception):
    """Raised by :meth:`Job.check` so deep loops can unwind; finished work is already saved."""


class Job:
    """One long job: counts progress, forwards it to a sink, and carries the stop flag."""

    def __init__(self, sink: Optional[ProgressSink] = None) -> None:
        self.sink: ProgressSink = sink or NullSink()
        self.done = 0
        self.total: Optional[int] = None
        self.text = ""
        self._stop = threading.Event()
        self._open = False

    def begin(self, total: Optional[int], desc: str = "") -> None:
        self.done, self.total, self.text = 0, total, desc
        self.sink.begin(total, desc)
        self._open = True

    def advance(self, n: int = 1, text: str = "") -> None:
        self.done += n
        if text:
            self.text = text
        self.sink.update(self.done, self.total, text)

    def end(self) -> None:
        if self._open:
            self.sink.end()
            self._open = False

    def interrupt(self) -> None:
        self._stop.set()

    @property
    def interrupted(self) -> bool:
        return self._stop.is_set() or self.sink.interrupted()

    def check(self) -> None:
        if self.interrupted:
            raise Interrupted()

    def iterate(self, items: Iterable[T], total: Optional[int] = None, desc: str = "") -> Iterator[T]:
        """Yield items with progress; stop early (without error) once interrupted."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        self.begin(total, desc)
        try:
            for item in items:
                if self.interrupted:
                    break
                yield item
                self.advance(1)
        finally:
            self.end()


def cli_job() -> Job:
    """A job for the command line: tqdm bar, and the first Ctrl+C requests a clean stop."""
    import signal

    job = Job(TqdmSink())

    def _on_sigint(signum, frame):  # noqa: ARG001
        if job.interrupted:
            raise KeyboardInterrupt
        job.interrupt()

    try:
        signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread
        pass
    return job
