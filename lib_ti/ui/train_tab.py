"""Train sub-tab: create an embedding, train it with live plots and previews, inspect it, sweep its strength.

Thin by design: every callback is a call into :mod:`lib_ti.training`, :mod:`lib_ti.model` or
:mod:`lib_ti.training.sweep`; errors come back as text in the tab. The run itself lives in a
:class:`~lib_ti.training.session.TrainingSession` thread polled by a generator callback, so the
page stays responsive and Stop (or the host's Interrupt) ends it within one step.
"""

from __future__ import annotations

import datetime as _dt
import html
import time
from typing import Any

from ..core.context import AppContext

JOB_NAME = "train"
#: seconds between plot redraws while a run is going
PLOT_INTERVAL_S = 5.0
_sessions: dict[str, Any] = {}
_backends: dict[str, Any] = {}


# ----------------------------------------------------------------------------- core glue (testable)
def get_backend(ctx: AppContext, ckpt_text: str = "", config_text: str = "") -> Any:
    """The model to train on: the host's loaded model, or a checkpoint file loaded once (standalone)."""
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from ..model.backend import SDBackend

    factory = ctx.extras.get("sd_backend")  # inside the host: lib_ti.host.host_sd_backend
    if factory is not None:
        return factory()
    if ctx.get_model is not None:
        model = ctx.get_model()
        if model is not None:
            if hasattr(model, "encode_prompts"):  # already a backend
                return model
            key = f"model:{id(model)}"
            if key not in _backends:
                _backends.clear()
                _backends[key] = SDBackend(model)
            return _backends[key]
    if not str(ckpt_text).strip():
        raise ValueError("No model loaded: give a checkpoint file (.safetensors or .ckpt).")
    ckpt = ctx.guard.check(ckpt_text, must_exist=True, kind="checkpoint file")
    config = ctx.guard.check(config_text, must_exist=True, kind="config file") if str(config_text).strip() else None
    key = f"{ckpt}|{config}"
    if key not in _backends:
        import torch

        from ..model.loader import load_ldm

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.float16 if device == "cuda" else torch.float32
        _backends.clear()
        _backends[key] = SDBackend(load_ldm(ckpt, config, device=device, dtype=dtype))
    return _backends[key]


def create_embedding_file(ctx: AppContext, name: str, num_vectors: float, init_text: str, overwrite: bool,
                          ckpt_text: str = "", config_text: str = "") -> str:
    """Create ``<embeddings folder>/<name>.pt`` (step 0) as the host does; returns a status line."""
    from ..model.embeddings import budget_warning, create_embedding, save_embedding

    backend = get_backend(ctx, ckpt_text, config_text)
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


def schedule_message(text: str, steps: float) -> str:
    """One line saying whether the host accepts this learning-rate string."""
    from ..schedule.parse import ScheduleError, lint, trace

    try:
        tr = trace(text, int(steps))
        warnings = lint(text, int(steps))
    except ScheduleError as exc:
        return f"✗ {exc}"
    except (TypeError, ValueError) as exc:
        return f"✗ {exc}"
    msg = f"✓ {tr.updates} updates"
    return msg + ("; " + " ".join(w.message for w in warnings) if warnings else "")


def make_config(ctx: AppContext, name: str, data_dir: str, template: str, learn_rate: str, steps: float,
                batch_size: float, grad_accum: float, width: float, height: float, latent_method: str,
                shuffle_tags: bool, tag_dropout: float, flip_p: float, clip_mode: str, clip_value: str,
                num_vectors: float, init_text: str, save_every: float, preview_every: float, preview_prompts: str,
                preview_sampler: str, preview_seed: float, precision: str, grad_ckpt: bool, low_memory: bool,
                resume: bool) -> Any:
    """A validated :class:`TrainConfig` from the tab's fields (paths through ``ctx.guard``)."""
    from ..model.embeddings import validate_name
    from ..training.checkpoint import latest_state
    from ..training.config import TrainConfig

    clean = validate_name(name)
    data = ctx.guard.check(data_dir, must_exist=True, kind="dataset folder")
    runs = ctx.data_dir / "training" / clean  # one timestamped folder per run, so runs never mix files
    existing = ctx.embeddings_folder() / f"{clean}.pt"
    state = None
    if resume:
        for folder in sorted((p for p in runs.glob("*") if p.is_dir()), reverse=True):
            state = latest_state(folder)
            if state is not None:
                break
        if state is None:
            raise ValueError(f"Nothing to resume: no checkpoint in any run under '{runs}'.")
    run_root = state.parent.parent if state is not None else runs / f"{_dt.datetime.now():%Y%m%d-%H%M%S}"
    cfg = TrainConfig(
        name=clean, data_dir=data, run_dir=run_root, embeddings_dir=ctx.embeddings_folder(), template=template,
        learn_rate=learn_rate, steps=int(steps), batch_size=int(batch_size), grad_accum=int(grad_accum),
        width=int(width), height=int(height), latent_method=latent_method, shuffle_tags=bool(shuffle_tags),
        tag_dropout=float(tag_dropout), flip_p=float(flip_p), clip_grad_mode=clip_mode, clip_grad_value=clip_value,
        num_vectors=int(num_vectors), init_text=init_text,
        init_embedding=existing if (existing.exists() and state is None) else None, resume=state,
        save_every=int(save_every), preview_every=int(preview_every),
        # the fixed-batch loss is plotted at the preview rhythm, so the plot has a point per preview
        eval_every=int(preview_every) if int(preview_every) > 0 else 50,
        preview_prompts=tuple(p.strip() for p in str(preview_prompts).splitlines() if p.strip()),
        preview_sampler=preview_sampler, seed=0, preview_seed=int(preview_seed), precision=precision,
        gradient_checkpointing=bool(grad_ckpt), low_memory=bool(low_memory),
    )
    prompt_options = ctx.extras.get("prompt_options")  # inside the host: its Clip skip and emphasis mode
    if prompt_options is not None:
        opts = prompt_options()
        cfg.clip_skip, cfg.emphasis = int(opts["clip_skip"]), str(opts["emphasis"])
    cfg.validate()
    return cfg


def start_training(ctx: AppContext, backend: Any, cfg: Any) -> Any:
    from ..training.session import TrainingSession
    from .jobs_ui import start

    current = _sessions.get(JOB_NAME)
    if current is not None and current.running:
        raise ValueError("A training run is already going; stop it first.")
    job = start(ctx, JOB_NAME, exclusive=True)
    lock = ctx.extras.get("training_lock")
    session = TrainingSession(backend, cfg, job=job, lock=lock, on_embedding_saved=ctx.on_embedding_saved,
                              template_dirs=tuple(ctx.extras.get("template_dirs", ())))
    _sessions[JOB_NAME] = session
    return session.start()


def status_html(snap: Any) -> str:
    cls = "tilab-error" if snap.error or (snap.result and snap.result.status in ("nan", "oom")) else "tilab-status"
    return f'<div class="{cls}" id="tilab_train_statusline">{html.escape(snap.status)}</div>'


def inspect_text(ctx: AppContext, path_text: str, ckpt_text: str = "", config_text: str = "") -> str:
    from ..model.embeddings import load_embedding
    from ..model.inspect import format_report, inspect_embedding

    path = ctx.guard.check(path_text, must_exist=True, kind="embedding file")
    emb = load_embedding(path)
    try:
        backend = get_backend(ctx, ckpt_text, config_text)
    except ValueError:
        backend = None
    return format_report(inspect_embedding(emb, backend))


def weaken_copy(ctx: AppContext, path_text: str, k: float) -> str:
    from ..model.embeddings import load_embedding, save_embedding, scale_embedding

    path = ctx.guard.check(path_text, must_exist=True, kind="embedding file")
    emb = scale_embedding(load_embedding(path), float(k))
    out = path.with_name(f"{path.stem}-x{float(k):g}{path.suffix if path.suffix in ('.pt', '.safetensors') else '.pt'}")
    emb.name = out.stem
    save_embedding(emb, out)
    if ctx.on_embedding_saved is not None:
        ctx.on_embedding_saved(out)
    return f"Saved weakened copy (×{float(k):g}) to {out}. Use it in prompts as '{out.stem}'."


def run_sweep(ctx: AppContext, run_text: str, weights_text: str, prompt: str, seed: float, steps: float,
              ckpt_text: str = "", config_text: str = "", limit: int = 4) -> tuple[Any, str]:
    from ..core.fsutil import atomic_save
    from ..training.sweep import grid_image, list_checkpoints, strength_sweep

    run_dir = ctx.guard.check(run_text, must_exist=True, kind="training run folder")
    checkpoints = list_checkpoints(run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir)
    if not checkpoints:
        raise ValueError(f"No saved checkpoints (*.pt) in '{run_dir}'.")
    if len(checkpoints) > limit:  # spread the picks over the run
        idx = [round(i * (len(checkpoints) - 1) / (limit - 1)) for i in range(limit)]
        checkpoints = [checkpoints[i] for i in sorted(set(idx))]
    try:
        weights = [float(w) for w in str(weights_text).replace(";", ",").split(",") if w.strip()]
    except ValueError:
        raise ValueError(f"Weights must be numbers separated by commas, not '{weights_text}'.") from None
    backend = get_backend(ctx, ckpt_text, config_text)
    width = height = 512
    settings_file = run_dir / "settings.json"
    if settings_file.exists():  # sample at the run's training size
        import json

        try:
            conf = json.loads(settings_file.read_text(encoding="utf-8"))["config"]
            width, height = int(conf["width"]), int(conf["height"])
        except (ValueError, KeyError, TypeError):
            pass
    cells = strength_sweep(backend, checkpoints, weights, prompt=prompt, seed=int(seed), steps=int(steps),
                           width=width, height=height, style=str(ctx.settings.get("tilab_emphasis_output")))
    grid = grid_image(cells, weights)
    out = run_dir / f"sweep-seed{int(seed)}-{_dt.datetime.now():%Y%m%d-%H%M%S}.png"
    atomic_save(out, lambda tmp: grid.save(tmp, format="PNG"))
    return grid, f"{len(cells)} images; grid saved to {out}"


# ----------------------------------------------------------------------------- gradio
def build(ctx: AppContext) -> None:
    import gradio as gr

    from ..training.config import LATENT_METHODS, PRECISIONS, SAMPLERS
    from ..training.session import plot_series
    from ..training.templates import available_templates
    from .jobs_ui import interrupt

    standalone_model = ctx.get_model is None and "sd_backend" not in ctx.extras
    gr.Markdown("Train a Textual Inversion embedding on the loaded model: only the embedding's vectors learn. "
                "Previews use fixed seeds, so they are comparable across steps.")
    with gr.Row(visible=standalone_model):
        ckpt = gr.Textbox(label="Checkpoint file (standalone)", placeholder="/models/model.safetensors",
                          elem_id="tilab_train_ckpt")
        config = gr.Textbox(label="Config yaml (optional)", elem_id="tilab_train_config")
    with gr.Accordion("Create embedding", open=False, elem_id="tilab_train_create_acc"):
        with gr.Row():
            c_name = gr.Textbox(label="Name", elem_id="tilab_train_create_name")
            c_vectors = gr.Slider(1, 75, value=1, step=1, label="Vectors per token", elem_id="tilab_train_create_n")
            c_init = gr.Textbox(label="Initialization text", value="*", elem_id="tilab_train_create_init")
            c_over = gr.Checkbox(label="Overwrite", value=False, elem_id="tilab_train_create_overwrite")
        c_btn = gr.Button("Create embedding", elem_id="tilab_train_create_btn")
        c_out = gr.HTML(elem_id="tilab_train_create_out")

    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                name = gr.Textbox(label="Embedding name", elem_id="tilab_train_name")
                data_dir = gr.Textbox(label="Dataset folder (images + .txt captions)", elem_id="tilab_train_data")
                template = gr.Dropdown(sorted(available_templates()), value="subject_filewords",
                                       label="Prompt template", elem_id="tilab_train_template")
            with gr.Row():
                lr = gr.Textbox(label="Learning rate (schedule string)", value="0.005", elem_id="tilab_train_lr")
                steps = gr.Number(label="Max steps", value=1000, precision=0, elem_id="tilab_train_steps")
            lr_msg = gr.HTML(elem_id="tilab_train_lr_msg")
            with gr.Row():
                batch = gr.Number(label="Batch size", value=1, precision=0, elem_id="tilab_train_batch")
                accum = gr.Number(label="Gradient accumulation", value=1, precision=0, elem_id="tilab_train_accum")
                width = gr.Slider(64, 1024, value=512, step=64, label="Width", elem_id="tilab_train_width")
                height = gr.Slider(64, 1024, value=512, step=64, label="Height", elem_id="tilab_train_height")
            with gr.Row():
                latents = gr.Radio(list(LATENT_METHODS), value="once", label="Latent sampling",
                                   elem_id="tilab_train_latents")
                preview_every = gr.Number(label="Preview every N steps", value=100, precision=0,
                                          elem_id="tilab_train_preview_every")
                save_every = gr.Number(label="Save every N steps", value=100, precision=0,
                                       elem_id="tilab_train_save_every")
            with gr.Accordion("More options", open=False, elem_id="tilab_train_more"):
                with gr.Row():
                    shuffle = gr.Checkbox(label="Shuffle tags", value=False, elem_id="tilab_train_shuffle")
                    dropout = gr.Slider(0, 1, value=0, step=0.05, label="Tag dropout", elem_id="tilab_train_dropout")
                    flip = gr.Slider(0, 1, value=0, step=0.05, label="Horizontal flip probability",
                                     elem_id="tilab_train_flip")
                with gr.Row():
                    clip_mode = gr.Radio(["disabled", "value", "norm"], value="disabled", label="Gradient clipping",
                                         elem_id="tilab_train_clip_mode")
                    clip_value = gr.Textbox(label="Clip value (schedule string)", value="0.1",
                                            elem_id="tilab_train_clip_value")
                with gr.Row():
                    n_vec = gr.Number(label="Vectors (new embedding)", value=1, precision=0, elem_id="tilab_train_nvec")
                    init_text = gr.Textbox(label="Init text (new embedding)", value="*", elem_id="tilab_train_init")
                    precision = gr.Radio(list(PRECISIONS), value="auto", label="Precision (GPU)",
                                         elem_id="tilab_train_precision")
                with gr.Row():
                    grad_ckpt = gr.Checkbox(label="Gradient checkpointing", value=False, elem_id="tilab_train_gc")
                    low_mem = gr.Checkbox(label="Low-memory mode", value=False, elem_id="tilab_train_lowmem")
                    resume = gr.Checkbox(label="Resume the last run exactly", value=False,
                                         elem_id="tilab_train_resume")
                with gr.Row():
                    prompts = gr.Textbox(label="Preview prompts (one per line)", value="a photo of [name]", lines=2,
                                         elem_id="tilab_train_prompts")
                    sampler = gr.Dropdown(list(SAMPLERS), value="Euler a", label="Preview sampler",
                                          elem_id="tilab_train_sampler")
                    seed = gr.Number(label="Preview seed", value=1, precision=0, elem_id="tilab_train_seed")
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary", elem_id="tilab_train_start")
                stop_btn = gr.Button("Stop", elem_id="tilab_train_stop")
            status = gr.HTML(elem_id="tilab_train_status")
        with gr.Column(scale=2):
            loss_plot = gr.Image(label="Loss", type="pil", interactive=False, elem_id="tilab_train_loss_plot")
            norm_plot = gr.Image(label="Vector norm", type="pil", interactive=False, elem_id="tilab_train_norm_plot")
            gallery = gr.Gallery(label="Previews", elem_id="tilab_train_gallery", columns=4, height="auto")

    with gr.Accordion("Inspect an embedding", open=False, elem_id="tilab_train_inspect_acc"):
        with gr.Row():
            i_path = gr.Textbox(label="Embedding file", elem_id="tilab_train_inspect_path")
            i_btn = gr.Button("Inspect", elem_id="tilab_train_inspect_btn")
        i_out = gr.Textbox(label="Report", lines=8, interactive=False, elem_id="tilab_train_inspect_out")
        with gr.Row():
            k = gr.Slider(0.1, 1.0, value=0.7, step=0.05, label="Weaken ×k", elem_id="tilab_train_weaken_k")
            w_btn = gr.Button("Save a weakened copy", elem_id="tilab_train_weaken_btn")
        w_out = gr.HTML(elem_id="tilab_train_weaken_out")

    with gr.Accordion("Strength sweep", open=False, elem_id="tilab_train_sweep_acc"):
        with gr.Row():
            s_run = gr.Textbox(label="Training run folder", elem_id="tilab_train_sweep_run")
            s_weights = gr.Textbox(label="Weights", value=", ".join(f"{w:g}" for w in ctx.settings.preset_weights()),
                                   elem_id="tilab_train_sweep_weights")
            s_prompt = gr.Textbox(label="Prompt", value="a photo of [name]", elem_id="tilab_train_sweep_prompt")
            s_seed = gr.Number(label="Seed", value=1, precision=0, elem_id="tilab_train_sweep_seed")
            s_steps = gr.Number(label="Sampling steps", value=20, precision=0, elem_id="tilab_train_sweep_steps")
        s_btn = gr.Button("Run sweep", elem_id="tilab_train_sweep_btn")
        s_img = gr.Image(label="Checkpoints × weights", type="pil", interactive=False, elem_id="tilab_train_sweep_img")
        s_out = gr.HTML(elem_id="tilab_train_sweep_out")

    def guarded(fn, n_out=1):
        """Run ``fn``; a user-facing error becomes a message in the last output, never an exception."""
        def call(*args):
            try:
                return fn(*args)
            except (ValueError, RuntimeError, OSError) as exc:
                err = f'<div class="tilab-error">{html.escape(str(exc))}</div>'
                return err if n_out == 1 else tuple([None] * (n_out - 1) + [err])
        return call

    c_btn.click(guarded(lambda *a: f"<div class='tilab-ok'>{html.escape(create_embedding_file(ctx, *a))}</div>"),
                [c_name, c_vectors, c_init, c_over, ckpt, config], [c_out])
    lr.change(lambda t, s: html.escape(schedule_message(t, s)), [lr, steps], [lr_msg])
    steps.change(lambda t, s: html.escape(schedule_message(t, s)), [lr, steps], [lr_msg])

    fields = [name, data_dir, template, lr, steps, batch, accum, width, height, latents, shuffle, dropout, flip,
              clip_mode, clip_value, n_vec, init_text, save_every, preview_every, prompts, sampler, seed, precision,
              grad_ckpt, low_mem, resume]

    def train(ckpt_text, config_text, *values):
        try:
            backend = get_backend(ctx, ckpt_text, config_text)
            session = start_training(ctx, backend, make_config(ctx, *values))
        except (ValueError, RuntimeError, OSError) as exc:
            yield f'<div class="tilab-error">{html.escape(str(exc))}</div>', None, None, []
            return
        from .compat import update

        last, plotted_at, n_previews = None, 0.0, -1
        while True:
            snap = session.snapshot()
            key = (snap.step, snap.status, len(snap.previews), snap.running)
            if key != last:
                last = key
                # Drawing plots costs CPU the training step needs (2-3x slower steps in the host when
                # redrawn every second): the status line updates each second, plots every few seconds.
                now = time.monotonic()
                if not snap.running or now - plotted_at >= PLOT_INTERVAL_S or len(snap.previews) != n_previews:
                    plotted_at, n_previews = now, len(snap.previews)
                    loss_img, norm_img = plot_series(snap.series)
                    yield status_html(snap), loss_img, norm_img, [str(p) for p in snap.previews]
                else:
                    yield status_html(snap), update(), update(), update()
            if not snap.running:
                break
            time.sleep(1.0)

    train_btn.click(train, [ckpt, config, *fields], [status, loss_plot, norm_plot, gallery])
    stop_btn.click(lambda: html.escape(interrupt(JOB_NAME)), [], [status])
    i_btn.click(guarded(lambda p, c, y: inspect_text(ctx, p, c, y)), [i_path, ckpt, config], [i_out])
    w_btn.click(guarded(lambda p, kk: f"<div class='tilab-ok'>{html.escape(weaken_copy(ctx, p, kk))}</div>"),
                [i_path, k], [w_out])
    s_btn.click(guarded(lambda *a: run_sweep(ctx, *a), 2), [s_run, s_weights, s_prompt, s_seed, s_steps, ckpt, config],
                [s_img, s_out])
