"""Long jobs started from the UI: progress display and the Stop button.

Inside the host, training (an ``exclusive`` job) reports to the host's progress bar and the host's
Interrupt button stops the job (the sink from ``ctx.progress_sink``). Standalone,
progress goes to ``gr.Progress`` and each tab's Stop button calls
:func:`interrupt` with the tab's job name.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from ..core.context import AppContext
from ..core.jobs import Job

_lock = threading.Lock()
_running: dict[str, Job] = {}


class GradioSink:
    """Forwards progress to a ``gr.Progress`` tracker."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.desc = ""

    def begin(self, total: Optional[int], desc: str) -> None:
        self.desc = desc
        if self.progress is not None:
            self.progress(0.0, desc=desc)

    def update(self, done: int, total: Optional[int], text: str) -> None:
        if self.progress is None:
            return
        frac = (done / total) if total else 0.0
        self.progress(min(frac, 1.0), desc=f"{self.desc} {text}".strip())

    def end(self) -> None:
        pass

    def interrupted(self) -> bool:
        return False


def start(ctx: AppContext, name: str, progress: Any = None, *, exclusive: bool = False) -> Job:
    """Create and register the job ``name`` (one per tab).

    ``exclusive`` jobs (training, which holds the host's queue lock) report to the host's own
    progress bar and obey its Interrupt button; others use gradio's progress (``progress``), so they
    never reset the host's progress state under a running txt2img.
    """
    if exclusive and ctx.progress_sink is not None:
        job = Job(ctx.progress_sink(name))
    else:
        job = Job(GradioSink(progress))
    with _lock:
        _running[name] = job
    return job


def finish(name: str, job: Job) -> None:
    with _lock:
        if _running.get(name) is job:
            del _running[name]


def running(name: str) -> bool:
    """Whether the job ``name`` is registered (started and not yet finished)."""
    with _lock:
        return name in _running


def interrupt(name: str) -> str:
    """Ask the running job ``name`` to stop after its current item; returns a status line."""
    with _lock:
        job = _running.get(name)
    if job is None:
        return "Nothing is running."
    job.interrupt()
    return "Stopping after the current item…"
