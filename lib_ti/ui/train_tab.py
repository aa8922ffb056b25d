"""Train sub-tab: pick, check and start a run, watch it, inspect the embedding, sweep its strength.

Thin by design: the inputs are derived from :class:`~lib_ti.training.config.TrainConfig`'s field specs; what a
click will do comes from :func:`lib_ti.training.session.plan_run`; runs and sweeps live in the session registry
(:mod:`lib_ti.training.session`), not in a page callback. Each page polls the registry with short calls (a
hidden button clicked once a second by a small script), so no request stays open while a run goes: a closed tab
leaves nothing for the host's "Reload UI" to wait on, and a reloaded page shows the live run and its end.

Module-level functions are what the callbacks call, so tests reach them without a browser.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..core.context import AppContext
from ..demo import default_checkpoint, demo_tab_note, is_demo_checkpoint, training_size

TRAIN, SWEEP = "train", "sweep"
#: seconds between plot redraws while a run is going: an SVG redraw costs milliseconds (bench/plot_speed.py), so
#: this only bounds the page's traffic (a few kB of SVG per redraw)
PLOT_INTERVAL_S = 2.0
#: model files listed from the standalone models folder
MODEL_SUFFIXES = (".safetensors", ".ckpt")
WORKING_MODELS = ("Works with SD 1.x (CLIP ViT-L), SD 2.x (OpenCLIP ViT-H, eps or v prediction) and SDXL base "
                  "and its fine-tunes (CLIP-L + OpenCLIP-bigG; a file of another size needs its config folder "
                  "beside it, named like the file); not the SDXL refiner, SD3 or inpainting models.")
_backends: dict[str, Any] = {}


# ----------------------------------------------------------------------------- what exists (lists, not typed paths)
def models_folder(ctx: AppContext) -> Path:
    """Standalone: checkpoints are listed from ``<data folder>/models``."""
    return ctx.data_dir / "models"


def in_host_model(ctx: AppContext) -> bool:
    return ctx.get_backend is not None


def list_models(ctx: AppContext) -> list[str]:
    """Checkpoint files in the models folder (names relative to it), plus the bundled demo model when present."""
    folder = models_folder(ctx)
    found = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in MODEL_SUFFIXES) \
        if folder.is_dir() else []
    demo = default_checkpoint()
    return found + ([str(demo)] if demo is not None else [])


def is_demo_choice(choice: Optional[str]) -> bool:
    """True when the Train tab's checkpoint choice is the bundled demo model (its note is shown then)."""
    return bool(str(choice or "").strip()) and is_demo_checkpoint(Path(str(choice)))


def model_problem(ctx: AppContext, choice: str) -> Optional[str]:
    """Why no model can be used (with what to do), or None."""
    if in_host_model(ctx):
        return None
    if str(choice or "").strip():
        return None
    return (f"No checkpoint chosen. Put a checkpoint (.safetensors or .ckpt) into {models_folder(ctx)} and press "
            f"↻, then pick it. {WORKING_MODELS}")


def model_path(ctx: AppContext, choice: str) -> Path:
    text = str(choice).strip()
    candidate = models_folder(ctx) / text
    if text and candidate.is_file():
        return candidate
    return ctx.guard.check(text, must_exist=True, kind="checkpoint file")


def get_backend(ctx: AppContext, choice: str = "") -> Any:
    """The model to train on: the host's loaded model, or a listed checkpoint loaded once (standalone)."""
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    if ctx.get_backend is not None:  # inside the host: lib_ti.host.host_sd_backend
        return ctx.get_backend()
    problem = model_problem(ctx, choice)
    if problem:
        raise ValueError(problem)
    ckpt = model_path(ctx, choice)
    key = str(ckpt)
    if key not in _backends:
        import torch

        from ..model.loader import load_backend
        from ..model.precision import decide_precision

        device = "cuda" if torch.cuda.is_available() else "cpu"
        _backends.clear()
        _backends[key] = load_backend(ckpt, None, device=device, dtype=decide_precision("auto", device).weights)
    return _backends[key]


def list_embeddings(ctx: AppContext) -> list[str]:
    """Embedding names in the embeddings folder (what prompts call them), sorted."""
    folder = ctx.embeddings_folder()
    if not folder.is_dir():
        return []
    return sorted({p.stem for p in folder.iterdir() if p.suffix in (".pt", ".safetensors", ".bin")})


def embedding_file(ctx: AppContext, name: str) -> Path:
    folder = ctx.embeddings_folder()
    for suffix in (".pt", ".safetensors", ".bin"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    raise ValueError(f"No embedding '{name}' in {folder}.")


def runs_root(ctx: AppContext) -> Path:
    return ctx.data_dir / "training"


def list_runs(ctx: AppContext, name: str) -> list[tuple[str, str]]:
    """(label, folder) for each run of embedding ``name``, newest first; the label says how far it got."""
    from ..training.session import runs_of
    from ..training.sweep import run_checkpoints

    out = []
    for run in runs_of(runs_root(ctx), str(name or "")):
        cks = run_checkpoints(run)
        last = cks[-1].stem.rsplit("-", 1)[-1] if cks else "-"
        out.append((f"{run.name} · {len(cks)} checkpoints · last step {last}", str(run)))
    return out


def run_folder_for(ctx: AppContext, name: str, label: str) -> str:
    """The folder behind a run label from :func:`list_runs` (gradio 3's dropdown shows and returns one string)."""
    for text, folder in list_runs(ctx, name):
        if text == label:
            return folder
    return str(label or "")


def run_checkpoint_names(run_folder: str) -> list[str]:
    from ..training.sweep import run_checkpoints

    return [p.name for p in run_checkpoints(Path(run_folder))] if str(run_folder or "").strip() else []


# ----------------------------------------------------------------------------- the form → a plan and a config
def schedule_message(text: str, steps: float) -> str:
    """One line saying whether the host accepts this learning-rate string."""
    from ..schedule.parse import ScheduleError, lint, trace

    try:
        tr = trace(text, int(steps))
        warnings = lint(text, int(steps))
    except (ScheduleError, TypeError, ValueError) as exc:
        return f"✗ {exc}"
    msg = f"✓ {tr.updates} updates"
    return msg + ("; " + " ".join(w.message for w in warnings) if warnings else "")


@dataclass
class FormCheck:
    """The whole form checked at once: every problem, and what Train would do."""

    problems: list[str] = field(default_factory=list)
    plan: Any = None
    cfg: Any = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.cfg is not None


def check_form(ctx: AppContext, values: Mapping[str, Any], *, mode: str = "auto", overwrite: bool = False,
               model_choice: str = "") -> FormCheck:
    """Check every field, the model choice and the start mode; never raises for user input."""
    from ..core.paths import PathRefused
    from ..model.embeddings import validate_name
    from ..training.config import TrainConfig
    from ..training.session import plan_run

    out = FormCheck()
    values = dict(values)
    problem = model_problem(ctx, model_choice)
    if problem:
        out.problems.append(problem)
    try:
        name = validate_name(values.get("name", ""))
    except ValueError as exc:
        out.problems.append(f"Embedding name: {exc}.")
        name = None
    data = None
    if not str(values.get("data_dir") or "").strip():
        out.problems.append("Dataset folder is empty: give the folder of training images.")
    else:
        try:
            data = ctx.guard.check(str(values["data_dir"]), must_exist=True, kind="dataset folder")
        except (ValueError, PathRefused, OSError) as exc:
            out.problems.append(str(exc))
    values.update(name=name or "unnamed", data_dir=data or Path("."), embeddings_dir=ctx.embeddings_folder(),
                  run_dir=runs_root(ctx))
    prompt_options = ctx.prompt_options  # inside the host: its Clip skip and emphasis mode
    if prompt_options is not None:
        opts = prompt_options()
        values.update(clip_skip=int(opts["clip_skip"]), emphasis=str(opts["emphasis"]))
    if int(float(values.get("preview_every") or 0)) > 0 and "eval_every" not in values:
        # the fixed-batch loss is plotted at the preview rhythm, so the plot has a point per preview
        values["eval_every"] = int(float(values["preview_every"]))
    try:
        cfg = TrainConfig.from_mapping(values)
    except (ValueError, TypeError) as exc:
        out.problems.append(str(exc))
        return out
    out.problems += cfg.problems()
    if name is None:
        return out
    compare = {k: v for k, v in cfg.to_dict().items() if data is not None or k != "data_dir"}
    out.plan = plan_run(name, runs_root(ctx), ctx.embeddings_folder(), mode, compare, overwrite=overwrite)
    out.problems += out.plan.problems
    if not out.problems:
        applied = out.plan.apply(cfg.to_dict())
        out.cfg = TrainConfig.from_mapping(applied)
    return out


def make_config(ctx: AppContext, values: Mapping[str, Any], *, mode: str = "auto", overwrite: bool = False,
                model_choice: str = "") -> Any:
    """A validated :class:`TrainConfig` for ``values`` (field name → value); ``ValueError`` lists every problem."""
    check = check_form(ctx, values, mode=mode, overwrite=overwrite, model_choice=model_choice)
    if not check.ok:
        raise ValueError("\n".join(check.problems))
    return check.cfg


def plan_html(check: FormCheck) -> str:
    """What Train will do (when the start point is known) and every problem in the way."""
    plan = check.plan.message if check.plan is not None else ""
    out = f'<div class="tilab-ok" id="tilab_train_plan">{html.escape(plan)}</div>' if plan else ""
    if check.problems:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in check.problems)
        out += f'<div class="tilab-error" id="tilab_train_problems"><b>Fix before training:</b><ul>{items}</ul></div>'
    return out


def run_settings(ctx: AppContext, name: str) -> dict:
    """The settings of embedding ``name``'s newest run (from its ``settings.json``), to fill the form for a resume
    after a page reload; empty when there is no run."""
    from ..training.session import saved_config, runs_of

    for run in runs_of(runs_root(ctx), str(name or "").strip()):
        saved = saved_config(run)
        if saved:
            return saved
    return {}


def start_training(ctx: AppContext, cfg: Any, plan: Any = None, model_choice: str = "", backend: Any = None) -> Any:
    """Register and start a run; the model is loaded inside the run's thread, so the click returns at once."""
    from ..training.session import TrainingSession, launch
    from .jobs_ui import start
    from .workspace import remember_folder

    job = start(ctx, TRAIN, exclusive=True)
    remember_folder(ctx.data_dir, cfg.data_dir)  # offered first in every tab's folder list from now on
    session = TrainingSession(backend if backend is not None else (lambda: get_backend(ctx, model_choice)), cfg,
                              job=job, lock=ctx.training_lock, on_embedding_saved=ctx.on_embedding_saved,
                              template_dirs=ctx.template_dirs, plan=plan)
    return launch(TRAIN, session)


def create_embedding_file(ctx: AppContext, name: str, num_vectors: float, init_text: str, overwrite: bool,
                          model_choice: str = "") -> str:
    """Create ``<embeddings folder>/<name>.pt`` (step 0) as the host does; returns a status line."""
    from ..model.embeddings import budget_warning, create_embedding, save_embedding

    backend = get_backend(ctx, model_choice)
    emb = create_embedding(backend, name, int(num_vectors), init_text)
    short_hash, model_name = backend.checkpoint_info()
    emb.sd_checkpoint, emb.sd_checkpoint_name = short_hash, model_name
    path = ctx.embeddings_folder() / f"{emb.name}.pt"
    if path.exists() and not overwrite:
        raise ValueError(f"'{path}' already exists; tick Overwrite to replace it.")
    save_embedding(emb, path)
    if ctx.on_embedding_saved is not None:
        ctx.on_embedding_saved(path)
    warn = budget_warning(int(num_vectors))
    return f"Created {path} ({emb.vectors}×{emb.width})." + (f" ⚠ {warn}" if warn else "")


def inspect_text(ctx: AppContext, name: str, model_choice: str = "") -> str:
    from ..model.embeddings import load_embedding
    from ..model.inspect import format_report, inspect_embedding

    emb = load_embedding(embedding_file(ctx, name))
    try:
        backend = get_backend(ctx, model_choice)
    except ValueError:
        backend = None
    return format_report(inspect_embedding(emb, backend))


def weaken_copy(ctx: AppContext, name: str, k: float) -> str:
    from ..model.embeddings import load_embedding, save_embedding, scale_embedding

    path = embedding_file(ctx, name)
    emb = scale_embedding(load_embedding(path), float(k))
    out = path.with_name(f"{path.stem}-x{float(k):g}{path.suffix if path.suffix in ('.pt', '.safetensors') else '.pt'}")
    emb.name = out.stem
    save_embedding(emb, out)
    if ctx.on_embedding_saved is not None:
        ctx.on_embedding_saved(out)
    return f"Saved weakened copy (×{float(k):g}) to {out}. Use it in prompts as '{out.stem}'."


def start_sweep(ctx: AppContext, run_folder: str, checkpoint_names: list, weights_text: str, prompt: str,
                seed: float, steps: float, model_choice: str = "", backend: Any = None) -> Any:
    """Check the sweep's inputs and start it in the background; the checked checkpoints are all used."""
    from ..training.session import SweepSession, launch
    from ..training.sweep import parse_weights, pick_checkpoints, run_checkpoints

    if not str(run_folder or "").strip():
        raise ValueError("Pick a training run (runs of the chosen embedding are listed newest first).")
    run_dir = ctx.guard.check(str(run_folder), must_exist=True, kind="training run folder")
    every = run_checkpoints(run_dir)
    if not every:
        raise ValueError(f"No saved checkpoints (*.pt) in '{run_dir}': a run saves one when it finishes or "
                         "is stopped, and every 'Save every N steps' while it trains.")
    if not checkpoint_names:
        raise ValueError("Tick at least one checkpoint for the sweep.")
    checkpoints = pick_checkpoints(every, list(checkpoint_names))
    weights = parse_weights(weights_text)
    if "[name]" not in str(prompt):
        raise ValueError("The sweep prompt must contain [name] (where the embedding goes).")
    run = SweepSession(backend if backend is not None else get_backend(ctx, model_choice), run_dir, checkpoints,
                       weights, prompt=str(prompt), seed=int(seed), steps=int(steps),
                       style=str(ctx.settings.get("tilab_emphasis_output")), lock=ctx.training_lock)
    return launch(SWEEP, run)


# ----------------------------------------------------------------------------- what a page shows (poll)
def status_html(snap: Any) -> str:
    from ..training.session import progress_line

    bad = snap.error or (snap.result is not None and getattr(snap.result, "status", "") in ("nan", "oom"))
    extra = progress_line(snap)
    line = html.escape(snap.status) + (f' <span class="tilab-muted">· {html.escape(extra)}</span>' if extra else "")
    return f'<div class="{"tilab-error" if bad else "tilab-status"}" id="tilab_{snap.kind}_statusline">{line}</div>'


def gallery_items(previews: list) -> tuple[list[tuple[str, str]], int]:
    """Previews as (path, "step N · prompt") ordered step by step, and the column count (one per prompt)."""
    ordered = sorted(previews, key=lambda p: (p.step, p.prompt_index))
    columns = max(1, len({p.prompt_index for p in previews}))
    return [(str(p.path), p.caption) for p in ordered], columns


@dataclass
class PollState:
    """What one page has drawn, so a poll redraws only what changed."""

    version: int = -1
    plotted_at: float = 0.0
    previews: int = -1
    kind_seen: str = ""


def poll_train(state: Optional[PollState]) -> tuple:
    """(status html, loss plot, norm plot, gallery, state) for the current training run; gradio updates where
    nothing changed. Any page — the one that started the run or a reloaded one — gets the same view."""
    from ..training.session import current, plot_series
    from .compat import update

    state = state if isinstance(state, PollState) else PollState()
    run = current(TRAIN)
    if run is None:
        return update(), update(), update(), update(), state
    snap = run.snapshot()
    if snap.version == state.version and state.kind_seen == TRAIN:
        return update(), update(), update(), update(), state
    now = time.monotonic()
    redraw = (not snap.running or now - state.plotted_at >= PLOT_INTERVAL_S or len(snap.previews) != state.previews
              or state.version < 0)
    new_state = PollState(snap.version, now if redraw else state.plotted_at, len(snap.previews), TRAIN)
    if not redraw:
        return status_html(snap), update(), update(), update(), new_state
    loss_img, norm_img = plot_series(snap.series)
    items, columns = gallery_items(snap.previews)
    return status_html(snap), loss_img, norm_img, update(value=items, columns=columns), new_state


def poll_sweep(state: Optional[PollState]) -> tuple:
    """(status html, grid image, state) for the current sweep."""
    from ..training.session import current
    from .compat import update

    state = state if isinstance(state, PollState) else PollState()
    run = current(SWEEP)
    if run is None:
        return update(), update(), state
    snap = run.snapshot()
    if snap.version == state.version:
        return update(), update(), state
    grid = snap.result[0] if (not snap.running and snap.result) else update()
    return status_html(snap), grid, PollState(snap.version, kind_seen=SWEEP)


def stop_text(name: str) -> str:
    """Stop ``name``'s run; the status line keeps its last words (the final line with the resume path follows)."""
    from ..training.session import current, stop

    run = current(name)
    if run is None or not run.running:
        return html.escape("Nothing is running." if run is None else run.status)
    return f'<div class="tilab-status">{html.escape(stop(name))}</div>'


# ----------------------------------------------------------------------------- workspace hand-over
def apply_workspace(dataset_folder: Optional[str] = None, schedule: Optional[str] = None) -> tuple:
    """Updates for the Train tab's dataset folder and learning rate from the shared workspace.

    The app shell wires "Use in Train" (Schedule tab) and the chosen dataset folder here:
    ``event(fn=train_tab.apply_workspace, inputs=[folder, schedule], outputs=tab.workspace_targets())``.
    ``None`` or an empty string leaves that input as it is.
    """
    from .compat import update

    return (update(value=dataset_folder) if dataset_folder else update(),
            update(value=schedule) if schedule else update())


# ----------------------------------------------------------------------------- gradio
@dataclass
class TrainTab:
    """Handles to the built tab for the app shell (see :func:`apply_workspace`)."""

    inputs: dict
    data_dir: Any
    learn_rate: Any

    def workspace_targets(self) -> list:
        return [self.data_dir, self.learn_rate]


POLL_JS = (
    "() => { if (!window.tilabTrainPoll) { window.tilabTrainPoll = setInterval(() => {"
    " for (const id of ['tilab_train_poll', 'tilab_sweep_poll']) { const b = document.getElementById(id);"
    " if (!b) continue; b.style.display = 'none';"
    " if (document.hidden || b.closest('.tabitem') && b.closest('.tabitem').offsetParent === null) continue;"
    " b.click(); } }, 1000); } return []; }"
)


def field_input(name: str, spec: Any, default: Any, choices: Optional[list] = None) -> Any:
    """One gradio input for a config field, from its spec (label, help as info, choices, bounds)."""
    import gradio as gr

    common = dict(label=spec.label or name, info=spec.help, elem_id=f"tilab_train_{name}")
    if spec.widget == "checkbox":
        return gr.Checkbox(value=bool(default), **common)
    if spec.widget == "slider":
        return gr.Slider(spec.minimum, spec.maximum, value=default, step=spec.step, **common)
    if spec.widget == "radio":
        return gr.Radio(list(spec.choices), value=default, **common)
    if spec.widget == "dropdown":
        return gr.Dropdown(list(choices or spec.choices or []), value=default, **common)
    if spec.widget == "number":
        # no minimum/maximum here: gradio would raise on its own; check_form reports every problem at once
        return gr.Number(value=default, precision=None if isinstance(default, float) else 0, **common)
    if spec.widget == "lines":
        return gr.Textbox(value="\n".join(default) if isinstance(default, tuple) else default, lines=2, **common)
    return gr.Textbox(value=default, **common)


def build(ctx: AppContext) -> TrainTab:
    import gradio as gr
    from gradio.context import Context

    from ..training.config import defaults, specs
    from ..training.session import MODES
    from ..training.templates import available_templates
    from .compat import js_kwarg, update
    from .workspace import folder_choices

    spec, default = specs(), defaults()
    enclosing_tab = Context.block  # the app shell builds each tab inside its gr.Tab
    host_model = in_host_model(ctx)
    gr.Markdown("Train a Textual Inversion embedding: only the embedding's vectors learn. Previews use fixed seeds, "
                "so they compare across steps. " + WORKING_MODELS)
    with gr.Row():
        if host_model:
            gr.Markdown("**Model:** the checkpoint loaded in the WebUI (change it at the top of the page).")
            model = gr.Textbox(value="", visible=False)
            model_refresh = None
        else:
            models = list_models(ctx)
            model = gr.Dropdown(models, value=models[0] if models else None, label="Checkpoint", scale=4,
                                info=f"SD 1.x / 2.x checkpoints in {models_folder(ctx)}", elem_id="tilab_train_model")
            model_refresh = gr.Button("↻", scale=0, min_width=40, elem_id="tilab_train_model_refresh")
    demo_note = None if host_model else gr.Markdown(
        demo_tab_note(models_folder(ctx)), visible=is_demo_choice(model.value), elem_id="tilab_train_demo_note")

    inputs: dict[str, Any] = {}
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                inputs["name"] = gr.Textbox(label=spec["name"].label, info=spec["name"].help,
                                             elem_id="tilab_train_name")
                existing = gr.Dropdown(list_embeddings(ctx), label="…or an existing embedding",
                                       elem_id="tilab_train_existing")
                name_refresh = gr.Button("↻", scale=0, min_width=40, elem_id="tilab_train_name_refresh")
                # the recent folders (workspace's list, newest first), refreshed each time the box is entered
                inputs["data_dir"] = gr.Dropdown(folder_choices(ctx), label=spec["data_dir"].label,
                                                 info=spec["data_dir"].help + " (type a path or pick a recent one)",
                                                 allow_custom_value=True, elem_id="tilab_train_data")
            with gr.Row():
                mode = gr.Radio(list(MODES), value="new", label="Start",
                                info="new embedding · continue the existing file from its step · resume the newest "
                                     "run exactly", elem_id="tilab_train_mode")
                overwrite = gr.Checkbox(label="Replace an existing embedding (new)", value=False,
                                        elem_id="tilab_train_overwrite")
            for group in ("main",):
                with gr.Row():
                    for fname, s in spec.items():
                        if s.group == group:
                            choices = sorted(available_templates()) if fname == "template" else None
                            inputs[fname] = field_input(fname, s, default[fname], choices)
            lr_msg = gr.HTML(elem_id="tilab_train_lr_msg")
            with gr.Accordion("More options", open=False, elem_id="tilab_train_more"):
                with gr.Row():
                    for fname, s in spec.items():
                        if s.group == "more":
                            inputs[fname] = field_input(fname, s, default[fname])
            with gr.Accordion("Previews", open=False, elem_id="tilab_train_preview_acc"):
                with gr.Row():
                    for fname, s in spec.items():
                        if s.group == "preview":
                            inputs[fname] = field_input(fname, s, default[fname])
            plan = gr.HTML(elem_id="tilab_train_plan_box")
            load_run = gr.Button("Fill in the settings of this embedding's newest run", size="sm",
                                 elem_id="tilab_train_load_run")
            with gr.Row():
                check_btn = gr.Button("Check", elem_id="tilab_train_check")
                train_btn = gr.Button("Train", variant="primary", elem_id="tilab_train_start")
                stop_btn = gr.Button("Stop", elem_id="tilab_train_stop")
            status = gr.HTML(elem_id="tilab_train_status")
            poll_btn = gr.Button("poll", elem_id="tilab_train_poll")
            poll_state = gr.State(None)
        with gr.Column(scale=2):
            # inline SVG charts: redrawn on the poll while training, so they must cost the run next to nothing
            loss_plot = gr.HTML(elem_id="tilab_train_loss_plot")
            norm_plot = gr.HTML(elem_id="tilab_train_norm_plot")
            gallery = gr.Gallery(label="Previews (rows: steps, columns: prompts)", elem_id="tilab_train_gallery",
                                 columns=1, height="auto")

    with gr.Accordion("Create an embedding file only", open=False, elem_id="tilab_train_create_acc"):
        with gr.Row():
            c_name = gr.Textbox(label="Name", elem_id="tilab_train_create_name")
            c_vectors = gr.Slider(1, 75, value=1, step=1, label="Vectors per token", elem_id="tilab_train_create_n")
            c_init = gr.Textbox(label="Initialization text", value="*", elem_id="tilab_train_create_init")
            c_over = gr.Checkbox(label="Overwrite", value=False, elem_id="tilab_train_create_overwrite")
        c_btn = gr.Button("Create embedding", elem_id="tilab_train_create_btn")
        c_out = gr.HTML(elem_id="tilab_train_create_out")

    with gr.Accordion("Inspect an embedding", open=False, elem_id="tilab_train_inspect_acc"):
        with gr.Row():
            i_name = gr.Dropdown(list_embeddings(ctx), label="Embedding", elem_id="tilab_train_inspect_name")
            i_refresh = gr.Button("↻", scale=0, min_width=40, elem_id="tilab_train_inspect_refresh")
            i_btn = gr.Button("Inspect", elem_id="tilab_train_inspect_btn")
        i_out = gr.Textbox(label="Report", lines=8, interactive=False, elem_id="tilab_train_inspect_out")
        with gr.Row():
            k = gr.Slider(0.1, 1.0, value=0.7, step=0.05, label="Weaken ×k", elem_id="tilab_train_weaken_k")
            w_btn = gr.Button("Save a weakened copy", elem_id="tilab_train_weaken_btn")
        w_out = gr.HTML(elem_id="tilab_train_weaken_out")

    with gr.Accordion("Strength sweep", open=False, elem_id="tilab_train_sweep_acc"):
        with gr.Row():
            s_name = gr.Dropdown(list_embeddings(ctx), label="Embedding", elem_id="tilab_train_sweep_name")
            s_refresh = gr.Button("↻", scale=0, min_width=40, elem_id="tilab_train_sweep_refresh")
            s_run = gr.Dropdown([], label="Run (newest first)", elem_id="tilab_train_sweep_run", scale=2)
        s_cks = gr.CheckboxGroup([], label="Checkpoints (all ticked are used)", elem_id="tilab_train_sweep_cks")
        s_weights = gr.Textbox(label="Weights (comma-separated)",
                               value=", ".join(f"{w:g}" for w in ctx.settings.preset_weights()),
                               elem_id="tilab_train_sweep_weights")
        with gr.Row():
            s_prompt = gr.Textbox(label="Prompt", value="a photo of [name]", elem_id="tilab_train_sweep_prompt",
                                  scale=3)
            s_seed = gr.Number(label="Seed", value=1, precision=0, elem_id="tilab_train_sweep_seed")
            s_steps = gr.Number(label="Sampling steps", value=20, precision=0, elem_id="tilab_train_sweep_steps")
        with gr.Row():
            s_btn = gr.Button("Run sweep", elem_id="tilab_train_sweep_btn")
            s_stop = gr.Button("Stop sweep", elem_id="tilab_train_sweep_stop")
        s_status = gr.HTML(elem_id="tilab_train_sweep_out")
        s_img = gr.Image(label="Checkpoints × weights", type="pil", interactive=False, elem_id="tilab_train_sweep_img")
        s_poll = gr.Button("poll", elem_id="tilab_sweep_poll")
        s_poll_state = gr.State(None)

    # ------------------------------------------------------------------ wiring
    names = list(inputs)

    def error_html(exc: Exception) -> str:
        return f'<div class="tilab-error">{html.escape(str(exc))}</div>'

    def form_check(model_choice, mode_value, overwrite_value, *values) -> FormCheck:
        return check_form(ctx, dict(zip(names, values)), mode=mode_value, overwrite=bool(overwrite_value),
                          model_choice=model_choice)

    def on_check(model_choice, mode_value, overwrite_value, *values):
        return plan_html(form_check(model_choice, mode_value, overwrite_value, *values))

    def suggest_mode(name_value):
        from ..training.session import plan_run

        name_value = str(name_value or "").strip()
        if not name_value:
            return update()
        guess = plan_run(name_value, runs_root(ctx), ctx.embeddings_folder(), "auto")
        return update(value=guess.mode)

    def on_train(model_choice, mode_value, overwrite_value, *values):
        check = form_check(model_choice, mode_value, overwrite_value, *values)
        if not check.ok:
            return plan_html(check), update()
        try:
            start_training(ctx, check.cfg, check.plan, model_choice)
        except (ValueError, RuntimeError, OSError) as exc:
            return plan_html(check), error_html(exc)
        return plan_html(check), f'<div class="tilab-status">Starting: {html.escape(check.plan.message)}</div>'

    form = [model, mode, overwrite, *inputs.values()]

    def on_load_run(name_value):
        saved = run_settings(ctx, name_value)
        if not saved:
            return [update() for _ in names] + [plan_html(FormCheck([f"No run of '{name_value}' to read settings "
                                                                       "from."]))]
        out = []
        for n in names:
            value = saved.get(n)
            if value is None or n == "name":
                out.append(update())
            else:
                out.append(update(value="\n".join(value) if isinstance(value, list) else value))
        return out + [update()]

    # The list is re-read when the Train tab is opened (a folder checked in Dataset a moment ago is offered) and
    # when the box is entered. Gradio 3.41's dropdown re-filters its open list only as the text changes, so new
    # choices that arrive while it is open show from its next opening: the tab's select is what makes them current.
    def fresh_folders():
        return update(choices=folder_choices(ctx))

    triggers = [inputs["data_dir"].focus]
    if type(enclosing_tab).__name__ == "Tab":
        triggers.append(enclosing_tab.select)
    for trigger in triggers:
        trigger(fresh_folders, [], [inputs["data_dir"]], queue=False, show_progress="hidden")
    load_run.click(on_load_run, [inputs["name"]], [*inputs.values(), plan], queue=False)
    check_btn.click(on_check, form, [plan], queue=False)
    for comp in (inputs["name"], mode, inputs["steps"]):
        comp.change(on_check, form, [plan], queue=False, show_progress="hidden")
    inputs["name"].change(suggest_mode, [inputs["name"]], [mode], queue=False, show_progress="hidden")
    name_refresh.click(lambda: update(choices=list_embeddings(ctx)), [], [existing], queue=False)
    existing.change(lambda picked: update(value=picked) if picked else update(), [existing], [inputs["name"]],
                    queue=False, show_progress="hidden")
    if model_refresh is not None:
        model_refresh.click(lambda: update(choices=list_models(ctx)), [], [model], queue=False)
        size_inputs = [inputs[k] for k in ("width", "height") if k in inputs]

        def demo_size(choice: Optional[str]) -> Optional[int]:  # the demo model draws at 64 px: train it there
            return training_size(Path(choice)) if str(choice or "").strip() else None

        def on_model(choice: Optional[str]) -> list:
            size = demo_size(choice)
            return [*(update(value=size) if size else update() for _ in size_inputs),
                    update(visible=is_demo_choice(choice))]

        size = demo_size(model.value)
        if size is not None:
            for comp in size_inputs:
                comp.value = size
        model.change(on_model, [model], [*size_inputs, demo_note], queue=False, show_progress="hidden")
    lr_inputs = [inputs["learn_rate"], inputs["steps"]]
    inputs["learn_rate"].change(lambda t, s: html.escape(schedule_message(t, s)), lr_inputs, [lr_msg], queue=False,
                                show_progress="hidden")
    inputs["steps"].change(lambda t, s: html.escape(schedule_message(t, s)), lr_inputs, [lr_msg], queue=False,
                           show_progress="hidden")
    train_btn.click(on_train, form, [plan, status], queue=False, **js_kwarg(_start_js(POLL_JS, len(form))))
    stop_btn.click(lambda: stop_text(TRAIN), [], [status], queue=False)
    poll_btn.click(poll_train, [poll_state], [status, loss_plot, norm_plot, gallery, poll_state], queue=False,
                   show_progress="hidden")

    def guarded(fn):
        def call(*args):
            try:
                return fn(*args)
            except (ValueError, RuntimeError, OSError) as exc:
                return error_html(exc)
        return call

    c_btn.click(guarded(lambda *a: f"<div class='tilab-ok'>{html.escape(create_embedding_file(ctx, *a))}</div>"),
                [c_name, c_vectors, c_init, c_over, model], [c_out])
    i_btn.click(lambda n, m: _text_or_error(inspect_text, ctx, n, m), [i_name, model], [i_out])
    w_btn.click(guarded(lambda n, kk: f"<div class='tilab-ok'>{html.escape(weaken_copy(ctx, n, kk))}</div>"),
                [i_name, k], [w_out], queue=False)

    def on_sweep_name(name_value):
        labels = [label for label, _ in list_runs(ctx, name_value)]
        return update(choices=labels, value=labels[0] if labels else None)

    def on_sweep_run(name_value, run_label):
        cks = run_checkpoint_names(run_folder_for(ctx, name_value, run_label))
        return update(choices=cks, value=cks)

    s_name.change(on_sweep_name, [s_name], [s_run], queue=False)
    for button, dropdown in ((s_refresh, s_name), (i_refresh, i_name)):
        button.click(lambda: update(choices=list_embeddings(ctx)), [], [dropdown], queue=False)
    s_run.change(on_sweep_run, [s_name, s_run], [s_cks], queue=False)

    def on_sweep(name_value, run_label, *args):
        try:
            run = start_sweep(ctx, run_folder_for(ctx, name_value, run_label), *args)
        except (ValueError, RuntimeError, OSError) as exc:
            return error_html(exc)
        return f'<div class="tilab-status">{html.escape(run.status)}</div>'

    sweep_inputs = [s_name, s_run, s_cks, s_weights, s_prompt, s_seed, s_steps, model]
    s_btn.click(on_sweep, sweep_inputs, [s_status], queue=False, **js_kwarg(_start_js(POLL_JS, len(sweep_inputs))))
    s_stop.click(lambda: stop_text(SWEEP), [], [s_status], queue=False)
    s_poll.click(poll_sweep, [s_poll_state], [s_status, s_img, s_poll_state], queue=False, show_progress="hidden")
    root = Context.root_block
    if root is not None:  # every page starts polling on load, so a reloaded page finds a running job
        root.load(None, None, None, **js_kwarg(POLL_JS))
    return TrainTab(inputs, inputs["data_dir"], inputs["learn_rate"])


def _start_js(poll_js: str, n_inputs: int) -> str:
    """Start the poll loop (as on load), then pass the inputs through unchanged (gradio 3 hands a ``_js`` function
    the input values followed by the output values; only the inputs go back)."""
    return f"(...args) => {{ ({poll_js})(); return args.slice(0, {n_inputs}); }}"


def _text_or_error(fn, *args) -> str:
    try:
        return fn(*args)
    except (ValueError, RuntimeError, OSError) as exc:
        return f"Error: {exc}"
