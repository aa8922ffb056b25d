"""A training run in a background thread, polled by the Train tab.

The tab stays thin: Train starts a :class:`TrainingSession`, a generator callback polls
:meth:`TrainingSession.snapshot` about once a second for the status line, plots and previews, and
Stop calls :meth:`TrainingSession.stop`. Everything here runs without gradio, so tests drive it.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

from ..core.jobs import Job
from .config import TrainConfig
from .logs import TrainLog
from .loop import StepInfo, Trainer, TrainResult


@dataclass
class Snapshot:
    running: bool
    status: str
    step: int
    total: int
    series: dict
    previews: list[Path]
    result: Optional[TrainResult]
    error: Optional[str]


@dataclass
class TrainingSession:
    """One run; ``lock`` is the host's GPU queue lock (a context manager factory) inside the host."""

    backend: Any
    cfg: TrainConfig
    job: Job = field(default_factory=Job)
    lock: Optional[Callable[[], ContextManager]] = None
    on_embedding_saved: Optional[Callable[[Path], None]] = None
    template_dirs: tuple = ()
    status: str = "Starting…"
    step: int = 0
    previews: list[Path] = field(default_factory=list)
    result: Optional[TrainResult] = None
    error: Optional[str] = None
    _thread: Optional[threading.Thread] = None
    _trainer: Optional[Trainer] = None
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "TrainingSession":
        self._thread = threading.Thread(target=self._run, name=f"tilab-train-{self.cfg.name}", daemon=True)
        self._thread.start()
        return self

    def _on_event(self, kind: str, data: Any) -> None:
        with self._mutex:
            if kind == "status":
                self.status = str(data)
            elif kind == "step":
                info: StepInfo = data
                self.step = info.step
                self.status = (f"Step {info.step}/{self.cfg.steps} · loss {info.loss:.5f} · lr {info.learn_rate:g}"
                               + (f" · fixed-batch loss {info.fixed_loss:.5f}" if info.fixed_loss is not None else ""))
            elif kind == "preview":
                self.previews.extend(data)
            elif kind == "checkpoint":
                self.status += f" · saved {Path(data).name}"

    def _run(self) -> None:
        try:
            with (self.lock() if self.lock else contextlib.nullcontext()):
                self._trainer = Trainer(self.backend, self.cfg, job=self.job, on_event=self._on_event,
                                        on_embedding_saved=self.on_embedding_saved, template_dirs=self.template_dirs)
                result = self._trainer.run()
            with self._mutex:
                self.result = result
                self.status = result.message
        except (ValueError, RuntimeError, OSError, InterruptedError) as exc:
            with self._mutex:
                self.error = str(exc) or type(exc).__name__
                self.status = f"Error: {self.error}"
        except Exception as exc:  # noqa: BLE001 - shown in the tab, never raised into gradio
            with self._mutex:
                self.error = f"{type(exc).__name__}: {exc}"
                self.status = f"Error: {self.error}\n{traceback.format_exc(limit=3)}"

    def stop(self) -> str:
        self.job.interrupt()
        return "Stopping after the current step…"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> Snapshot:
        trainer = self._trainer
        log: TrainLog = trainer.log if trainer is not None and hasattr(trainer, "log") else None
        series = log.series() if log is not None else {}
        with self._mutex:
            return Snapshot(self.running, self.status, self.step, self.cfg.steps, series, list(self.previews),
                            self.result, self.error)


def plot_series(series: dict, title_loss: str = "Loss", title_norm: str = "Mean vector norm") -> tuple[Any, Any]:
    """Two PIL images: loss (per step, plus fixed-batch loss) and mean vector norm by step."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    def render(fig) -> Any:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    fig, ax = plt.subplots(figsize=(5, 2.6))
    if series.get("step"):
        ax.plot(series["step"], series["loss"], lw=0.8, alpha=0.6, label="step loss")
    fixed = [(s, v) for s, v in zip(series.get("metric_step", []), series.get("fixed_loss", [])) if v == v]
    if fixed:
        ax.plot(*zip(*fixed), "o-", ms=3, label="fixed-batch loss")
    ax.set_xlabel("step")
    ax.set_title(title_loss)
    if ax.lines:
        ax.legend(fontsize=7)
    loss_img = render(fig)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    norms = [(s, v) for s, v in zip(series.get("metric_step", []), series.get("mean_norm", [])) if v == v]
    if norms:
        ax.plot(*zip(*norms), lw=1)
    ax.set_xlabel("step")
    ax.set_title(title_norm)
    return loss_img, render(fig)
