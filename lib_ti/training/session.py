"""Training runs and strength sweeps in background threads, owned by a registry the UI polls.

Why a registry and polling: a page callback that loops until a run ends ties the run's display to one
browser tab and keeps a request open on the server, so a closed tab left a job the host's "Reload UI" waited
on, and a reloaded page could not see the run. Here a run belongs to :data:`REGISTRY` (module state, which
outlives any UI build); every page, old or new, asks :func:`current` for a :class:`Snapshot` with short calls,
and Stop calls :meth:`BackgroundRun.stop`. Nothing here imports gradio, so tests drive it directly.

:func:`plan_run` decides what a Train click will do — a new embedding, continuing an existing one from its
step, or an exact resume of the newest run — and says so in a sentence before anything starts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

from ..core.jobs import Job
from .config import TrainConfig, preview_texts, resume_problems
from .logs import TrainLog
from .loop import StepInfo, Trainer, TrainResult

#: steps of the moving window behind the speed and ETA figures
SPEED_WINDOW = 20


@dataclass
class Preview:
    """One preview image with what it shows: the step it was made at and its prompt (index into the prompts)."""

    path: Path
    step: int
    prompt_index: int
    prompt: str

    @property
    def caption(self) -> str:
        return f"step {self.step} · {self.prompt}"


@dataclass
class Snapshot:
    kind: str
    running: bool
    status: str
    step: int
    total: int
    series: dict
    previews: list[Preview]
    result: Optional[Any]
    error: Optional[str]
    #: seconds per step (the step itself) and seconds left (wall clock, previews and saves included); None = unknown
    seconds_per_step: Optional[float] = None
    eta_seconds: Optional[float] = None
    #: increases on every change, so a poller can skip redraws
    version: int = 0


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else (f"{m}m {s:02d}s" if m else f"{s}s")


class Speed:
    """Seconds per item over a moving window; the ETA counts wall-clock time between items, so periodic
    previews and saves are included and an ETA never promises less than the run will take."""

    def __init__(self, window: int = SPEED_WINDOW) -> None:
        self.window = window
        self.item_seconds: list[float] = []
        self.stamps: list[float] = []

    def add(self, item_seconds: Optional[float] = None, now: Optional[float] = None) -> None:
        now = time.monotonic() if now is None else now
        self.stamps = (self.stamps + [now])[-(self.window + 1):]
        if item_seconds is not None:
            self.item_seconds = (self.item_seconds + [item_seconds])[-self.window:]

    def per_item(self) -> Optional[float]:
        if self.item_seconds:
            return sum(self.item_seconds) / len(self.item_seconds)
        if len(self.stamps) >= 2:
            return (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)
        return None

    def eta(self, remaining: int) -> Optional[float]:
        if len(self.stamps) < 2:
            return None
        wall = (self.stamps[-1] - self.stamps[0]) / (len(self.stamps) - 1)
        return wall * max(0, remaining)


class BackgroundRun:
    """A job in a daemon thread with a status line, a stop flag and a change counter."""

    kind = "job"

    def __init__(self, job: Optional[Job] = None, lock: Optional[Callable[[], ContextManager]] = None) -> None:
        self.job = job or Job()
        self.lock = lock
        self.status = "Starting…"
        self.step = 0
        self.total = 0
        self.result: Any = None
        self.error: Optional[str] = None
        self.speed = Speed()
        self.version = 0
        self._thread: Optional[threading.Thread] = None
        self._mutex = threading.Lock()
        self._stop_requested = False

    # subclasses implement work() and may override describe()
    def work(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> "BackgroundRun":
        self._thread = threading.Thread(target=self._run, name=f"tilab-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _set(self, **values: Any) -> None:
        with self._mutex:
            for k, v in values.items():
                setattr(self, k, v)
            self.version += 1

    def _run(self) -> None:
        try:
            with (self.lock() if self.lock else contextlib.nullcontext()):
                result = self.work()
            self._set(result=result, status=self.final_status(result))
        except InterruptedError as exc:  # stopped before anything was trained: a status, not an error
            self._set(status=str(exc) or "Stopped.")
        except (ValueError, RuntimeError, OSError) as exc:
            msg = str(exc) or type(exc).__name__
            self._set(error=msg, status=f"Error: {msg}")
        except Exception as exc:  # noqa: BLE001 - shown in the tab, never raised into the UI
            msg = f"{type(exc).__name__}: {exc}"
            self._set(error=msg, status=f"Error: {msg}\n{traceback.format_exc(limit=3)}")

    def final_status(self, result: Any) -> str:
        return str(getattr(result, "message", result))

    def stop(self) -> str:
        """Ask the job to stop after its current step; the final status (with the resume path) follows."""
        if not self.running:
            return self.status
        self.job.interrupt()
        self._set(_stop_requested=True, status=self.status.split(" · stopping")[0] + " · stopping after this step…")
        return self.status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def series(self) -> dict:
        return {}

    def previews(self) -> list[Preview]:
        return []

    def snapshot(self) -> Snapshot:
        series = self.series()
        running = self.running
        with self._mutex:
            per = self.speed.per_item() if running else None
            eta = self.speed.eta(self.total - self.step) if running else None
            return Snapshot(self.kind, running, self.status, self.step, self.total, series, self.previews(),
                            self.result, self.error, per, eta, self.version + (0 if running else 1))


class TrainingSession(BackgroundRun):
    """One training run; ``lock`` is the host's GPU queue lock (a context manager factory) inside the host."""

    kind = "train"

    def __init__(self, backend: Any, cfg: TrainConfig, job: Optional[Job] = None,
                 lock: Optional[Callable[[], ContextManager]] = None,
                 on_embedding_saved: Optional[Callable[[Path], None]] = None, template_dirs: tuple = (),
                 plan: Optional["RunPlan"] = None) -> None:
        super().__init__(job, lock)
        self.backend, self.cfg, self.plan = backend, cfg, plan
        self.on_embedding_saved, self.template_dirs = on_embedding_saved, template_dirs
        self.total = cfg.steps
        self._trainer: Optional[Trainer] = None
        self._prompts = preview_texts(cfg.preview_prompts, cfg.name)
        # one run, one history: an exact resume (or a continued embedding) shows the previews made before it
        self._previews: list[Preview] = earlier_previews(cfg, plan)

    def work(self) -> TrainResult:
        if not hasattr(self.backend, "encode_prompts") and callable(self.backend):  # a factory: load in this thread
            self._set(status="Loading the model…")
            self.backend = self.backend()
        if self.plan is not None and self.plan.history_from is not None:
            carry_history(self.plan.history_from, self.cfg.run_dir, self.plan.start_step)
        self._trainer = Trainer(self.backend, self.cfg, job=self.job, on_event=self._on_event,
                                on_embedding_saved=self.on_embedding_saved, template_dirs=self.template_dirs)
        return self._trainer.run()

    def _on_event(self, kind: str, data: Any) -> None:
        if kind == "status":
            self._set(status=str(data))
        elif kind == "step":
            info: StepInfo = data
            with self._mutex:
                self.speed.add(info.seconds)
            self._set(step=info.step,
                      status=f"{self.cfg.name} · " + step_status(info, self.cfg.steps, self._stop_requested))
        elif kind == "preview":
            added = []
            for p in data:
                step, k = preview_index(Path(p))
                prompt = self._prompts[k] if k is not None and k < len(self._prompts) else ""
                added.append(Preview(Path(p), step if step is not None else self.step, k or 0, prompt))
            with self._mutex:
                self._previews.extend(added)
            self._set()
        elif kind == "checkpoint":
            self._set(status=self.status + f" · saved {Path(data).name}")

    def series(self) -> dict:
        trainer = self._trainer
        log: Optional[TrainLog] = getattr(trainer, "log", None) if trainer is not None else None
        return log.series() if log is not None else {}

    def previews(self) -> list[Preview]:
        return list(self._previews)


def step_status(info: StepInfo, total: int, stopping: bool = False) -> str:
    text = f"Step {info.step}/{total} · loss {info.loss:.5f} · lr {info.learn_rate:g}"
    if info.fixed_loss is not None:
        text += f" · fixed-batch loss {info.fixed_loss:.5f}"
    return text + (" · stopping after this step…" if stopping else "")


def preview_index(path: Path) -> tuple[Optional[int], Optional[int]]:
    """(step, prompt index) from ``<name>-<step>-preview<k>.png``."""
    m = re.search(r"-(\d+)-preview(\d+)$", path.stem)
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def previews_in(folder: Path, name: str, upto: int, prompts: list[str]) -> list[Preview]:
    """The previews of embedding ``name`` in a checkpoints folder, up to step ``upto``, step by step.

    ``prompts`` are the preview prompts of the run that made them (``[name]`` filled in), for the labels. Files
    past ``upto`` are left out: they belong to steps the resumed run is about to train again.
    """
    out = []
    for path in Path(folder).glob("*-preview*.png"):
        step, k = preview_index(path)
        if step is None or k is None or step > upto or path.stem != f"{name}-{step}-preview{k}":
            continue
        out.append(Preview(path, step, k, prompts[k] if k < len(prompts) else ""))
    return sorted(out, key=lambda p: (p.step, p.prompt_index))


def earlier_previews(cfg: TrainConfig, plan: Optional["RunPlan"] = None) -> list[Preview]:
    """What a run shows before its first new preview: on an exact resume, the previews its folder holds up to the
    resumed step; when continuing an embedding, those of the run its history comes from; else none.

    Labels use the prompts of the run that made the files (its ``settings.json``), not today's form."""
    if cfg.resume is not None:
        folder = Path(cfg.resume).parent
        try:
            upto = state_step(Path(cfg.resume))
        except (IndexError, ValueError):
            return []  # a resume file not named <name>-<step>.state.pt: its step is unknown here
        run_dir = folder.parent
    elif plan is not None and plan.history_from is not None:
        run_dir, upto = Path(plan.history_from), plan.start_step
        folder = run_dir / "checkpoints"
    else:
        return []
    saved = saved_config(run_dir) or {}
    prompts = preview_texts(saved.get("preview_prompts") or cfg.preview_prompts, cfg.name)
    return previews_in(folder, cfg.name, upto, prompts)


def progress_line(snap: Snapshot) -> str:
    """Speed and time left, e.g. ``2.31 s/step · ETA 3m 10s``; empty when not running or unknown yet."""
    if not snap.running:
        return ""
    parts = []
    if snap.seconds_per_step is not None:
        unit = "step" if snap.kind == "train" else "image"
        parts.append(f"{snap.seconds_per_step:.2f} s/{unit}")
    if snap.eta_seconds is not None:
        parts.append(f"ETA {format_duration(snap.eta_seconds)}")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- registry
#: job name ("train", "sweep") → the newest run of that kind; module state, so it outlives UI builds
REGISTRY: dict[str, BackgroundRun] = {}
_registry_lock = threading.Lock()


def current(name: str) -> Optional[BackgroundRun]:
    """The newest run registered as ``name`` (running or finished), or None."""
    with _registry_lock:
        return REGISTRY.get(name)


def launch(name: str, run: BackgroundRun) -> BackgroundRun:
    """Register and start ``run`` as ``name``; ``ValueError`` while another run of that name is going."""
    with _registry_lock:
        existing = REGISTRY.get(name)
        if existing is not None and existing.running:
            raise ValueError(f"A {existing.kind} run is already going ({existing.status.splitlines()[0]}); "
                             "stop it first.")
        REGISTRY[name] = run
    return run.start()


def stop(name: str) -> str:
    run = current(name)
    return run.stop() if run is not None else "Nothing is running."


# ----------------------------------------------------------------------------- what a Train click will do
MODES = ("new", "continue", "resume")


@dataclass
class RunPlan:
    """What starting a run will do, decided before anything starts.

    ``mode`` is "new" (fresh vectors), "continue" (an existing embedding from its step, in a new run folder whose
    logs start with the earlier history) or "resume" (the newest run's newest checkpoint, exactly, in its folder).
    """

    mode: str
    run_dir: Path
    start_step: int = 0
    init_embedding: Optional[Path] = None
    resume: Optional[Path] = None
    history_from: Optional[Path] = None
    message: str = ""
    problems: list[str] = field(default_factory=list)

    def apply(self, values: dict) -> dict:
        """``values`` (config fields) with this plan's run folder and start point filled in."""
        return {**values, "run_dir": self.run_dir, "init_embedding": self.init_embedding, "resume": self.resume}


def runs_of(runs_root: Path, name: str) -> list[Path]:
    """Run folders of embedding ``name`` (``<runs_root>/<name>/<timestamp>``), newest first."""
    folder = Path(runs_root) / name
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)


def fresh_run_dir(folder: Path, now: _dt.datetime) -> Path:
    """``<folder>/<timestamp>``, suffixed ``-2``, ``-3``… when a run already took that second.

    Two runs started within one second (a quick continue after a short run) must not share a folder; the suffix
    keeps :func:`runs_of`'s name order newest first.
    """
    base = Path(folder) / f"{now:%Y%m%d-%H%M%S}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def state_step(path: Path) -> int:
    return int(path.name[: -len(".state.pt")].rsplit("-", 1)[1])


def _embedding_step(path: Path) -> int:
    from ..model.embeddings import load_embedding

    return int(load_embedding(path).step or 0)


def saved_config(run_dir: Path) -> Optional[dict]:
    try:
        return json.loads((run_dir / "settings.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plan_run(name: str, runs_root: Path, embeddings_dir: Path, mode: str, values: Optional[dict] = None, *,
             overwrite: bool = False, now: Optional[_dt.datetime] = None) -> RunPlan:
    """Decide a run's start point for ``mode`` ("new", "continue", "resume" or "auto") and say it in a sentence.

    ``values`` are the other settings (for the exact-resume comparison and the step check); "auto" picks resume
    when the newest run's checkpoint is where the embedding file stands, else continue when the file exists, else
    new.
    """
    from .checkpoint import latest_state

    values = values or {}
    steps = int(values.get("steps") or 0)
    runs = runs_of(runs_root, name)
    existing = Path(embeddings_dir) / f"{name}.pt"
    emb_step = _embedding_step(existing) if existing.exists() else None
    state, state_run = None, None
    for run in runs:
        state = latest_state(run)
        if state is not None:
            state_run = run
            break
    if mode == "auto":
        if state is not None and (emb_step is None or state_step(state) >= emb_step):
            mode = "resume"
        else:
            mode = "continue" if emb_step is not None else "new"
    fresh = fresh_run_dir(Path(runs_root) / name, now or _dt.datetime.now())
    plan = RunPlan(mode, fresh)
    if mode == "new":
        plan.message = f"New embedding '{name}' from step 0, in a new run folder {fresh.name}."
        if emb_step is not None:
            if overwrite:
                plan.message += f" The existing {existing.name} (step {emb_step}) will be replaced."
            else:
                plan.problems.append(f"{existing} already exists (step {emb_step}): choose 'continue' or 'resume', "
                                     "another name, or allow replacing it.")
    elif mode == "continue":
        if emb_step is None:
            plan.problems.append(f"Nothing to continue: {existing} does not exist. Choose 'new'.")
        else:
            plan.start_step, plan.init_embedding = emb_step, existing
            plan.history_from = next((r for r in runs if _reaches(r, emb_step)), None)
            plan.message = (f"Continue {existing.name} from step {emb_step} to {steps} in a new run folder "
                            f"{fresh.name}; vectors and init text come from the file.")
            if plan.history_from is not None:
                plan.message += f" Loss history up to step {emb_step} comes from run {plan.history_from.name}."
            if steps and emb_step >= steps:
                plan.problems.append(f"{existing.name} is already at step {emb_step}: raise max steps above "
                                     f"{emb_step} to continue it.")
    elif mode == "resume":
        if state is None:
            plan.problems.append(f"Nothing to resume: no checkpoint in any run under '{Path(runs_root) / name}'. "
                                 "Choose 'new' or 'continue'.")
        else:
            at = state_step(state)
            plan.run_dir, plan.resume, plan.start_step = state_run, state, at
            saved = saved_config(state_run) or {}
            before = saved.get("steps")
            plan.message = f"Resume run {state_run.name} exactly from step {at} ({state.name})"
            if before is not None and steps and int(before) != steps:
                plan.message += f", max steps {before} → {steps}"
            plan.message += "; its logs and previews continue in the same folder."
            if steps and at >= steps:
                plan.problems.append(f"Run {state_run.name} stopped at step {at} (max steps {before or steps}): "
                                     f"raise max steps above {at} to resume it.")
            if saved and values:
                current_values = {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}
                current_values["name"] = name
                diff = [d for d in resume_problems(saved, current_values) if not d.startswith("data_dir")
                        or "data_dir" in values]
                if diff:
                    plan.problems.append("An exact resume needs the run's settings: " + "; ".join(diff) + ".")
    else:
        plan.problems.append(f"Unknown start mode {mode!r}: use one of {', '.join(MODES)}.")
    return plan


def _reaches(run: Path, step: int) -> bool:
    """True when the run's loss log has a row at ``step`` (its history leads up to that step)."""
    log = TrainLog.read(run)
    return any(int(r["step"]) == step for r in log.loss_rows)


def carry_history(source: Path, run_dir: Path, step: int) -> None:
    """Start ``run_dir``'s logs with ``source``'s rows up to ``step``, so a continued embedding's plots are whole."""
    log = TrainLog.read(source)
    log.truncate(step)
    log.run_dir = Path(run_dir)
    log.flush()


def plot_series(series: dict, title_loss: str = "Loss", title_norm: str = "Mean vector norm") -> tuple[str, str]:
    """Two inline SVG charts: loss (per step, plus the fixed-batch loss) and mean vector norm by step.

    SVG text rather than rendered images: the Train tab redraws these on its poll while the run trains, and
    drawing them must not take the training's CPU (a long run's step loss is thinned to a few hundred points)."""
    from ..core.svg_chart import Chart, Line, render, thin

    def pairs(xs_key: str, ys_key: str) -> list[tuple[float, float]]:
        return [(s, v) for s, v in zip(series.get(xs_key, []), series.get(ys_key, [])) if v == v]

    loss = Chart(title=title_loss, x_label="step", log_y=False)
    if series.get("step"):
        loss.lines.append(Line(thin(pairs("step", "loss")), "#1f77b4", "step loss", width=1, opacity=0.6))
    fixed = pairs("metric_step", "fixed_loss")
    if fixed:
        loss.lines.append(Line(fixed, "#ff7f0e", "fixed-batch loss", width=1.5, markers=True))
    norm = Chart([Line(pairs("metric_step", "mean_norm"), "#1f77b4", width=1.5)], title=title_norm, x_label="step",
                 log_y=False)
    size = dict(width=400, height=230)  # drawn in the narrow right column: a small viewBox keeps the text legible
    return (render(loss, **size, elem_class="tilab-chart tilab-loss-chart"),
            render(norm, **size, elem_class="tilab-chart tilab-norm-chart"))


class SweepSession(BackgroundRun):
    """A strength sweep (checkpoints × weights) in the background; ``result`` is (grid, path, message)."""

    kind = "sweep"

    def __init__(self, backend: Any, run_dir: Path, checkpoints: list[Path], weights: list[float], *, prompt: str,
                 seed: int, steps: int, style: str = "explicit", job: Optional[Job] = None,
                 lock: Optional[Callable[[], ContextManager]] = None) -> None:
        super().__init__(job, lock)
        self.backend, self.run_dir, self.checkpoints, self.weights = backend, Path(run_dir), checkpoints, weights
        self.prompt, self.seed, self.steps, self.style = prompt, seed, steps, style
        self.total = len(checkpoints) * len(weights)
        self.status = f"Sweeping {len(checkpoints)} checkpoints × {len(weights)} weights…"

    def work(self) -> tuple:
        from .sweep import sweep_to_file

        with self._mutex:
            self.speed.add()
        return sweep_to_file(self.backend, self.run_dir, self.checkpoints, self.weights, prompt=self.prompt,
                             seed=self.seed, steps=self.steps, style=self.style,
                             should_stop=lambda: self.job.interrupted, progress=self._progress)

    def _progress(self, done: int, total: int) -> None:
        with self._mutex:
            self.speed.add()
        self._set(step=done, total=total, status=f"Image {done}/{total}")

    def final_status(self, result: Any) -> str:
        return result[2]
