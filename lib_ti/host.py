"""The only module of TI Lab that touches the host (AUTOMATIC1111 WebUI ``modules.*``).

Everything here imports ``modules.*`` inside functions, so the rest of ``lib_ti``
(and the tests) import this file without a host. ``scripts/tilab.py`` calls
:func:`register` at the host's script-loading time. Each area keeps its host calls
in its own section below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

# --- foundation -----------------------------------------------------------------------------


def register() -> None:
    """Register TI Lab's tab, settings and HTTP routes with the host (called from ``scripts/tilab.py``)."""
    from modules import script_callbacks

    script_callbacks.on_ui_tabs(ui_tabs)
    script_callbacks.on_ui_settings(register_settings)
    script_callbacks.on_app_started(on_app_started)


def host_settings():
    """TI Lab's settings as a live view over the host's ``shared.opts``."""
    from modules import shared

    from .core.settings import Settings

    return Settings(values=shared.opts.data)


def host_cmd_flags() -> dict:
    from modules import shared

    opts = shared.cmd_opts
    return {name: getattr(opts, name, None) for name in
            ("listen", "share", "ngrok", "server_name", "enable_insecure_extension_access")}


def host_data_dir() -> Path:
    from modules import paths_internal

    return Path(paths_internal.data_path)


def current_guard():
    """Folder guard under the host's current flags and settings.

    Unrestricted when the host serves only this machine; when it is shared (``--listen``,
    ``--share``, ``--ngrok``, ``--server-name`` without ``--enable-insecure-extension-access``,
    the host's own rule for its Extensions tab) only the data folder and the folders listed
    in Settings → TI Lab are allowed.
    """
    from .core.paths import PathGuard, host_is_exposed, split_roots

    if not host_is_exposed(host_cmd_flags()):
        return PathGuard()
    roots = [host_data_dir(), *split_roots(host_settings().get("tilab_allowed_roots"))]
    return PathGuard.restricted_to(roots, "the WebUI is shared with other machines",
                                   "To allow another folder, add it in Settings → TI Lab → "
                                   "'Allowed folders when the UI is shared'.")


def host_context():
    """The :class:`~lib_ti.core.context.AppContext` for a UI build inside the host."""
    from .core.context import AppContext
    from .core.paths import LivePathGuard

    ctx = AppContext(
        in_host=True,
        data_dir=host_data_dir() / "ti-lab",
        guard=LivePathGuard(current_guard),
        settings=host_settings(),
        # Captions use the host's BLIP interrogator; training reports to the host's progress state.
        get_captioner=blip_captioner,
        progress_sink=training_progress_sink,
    )
    # Training runs on the model the host has loaded, under its queue lock and conditioning settings, and
    # writes where the host looks for embeddings and templates.
    ctx.embeddings_dir = host_embeddings_dir()
    ctx.on_embedding_saved = register_saved_embedding
    ctx.get_backend = host_sd_backend
    ctx.training_lock = training_queue_lock
    ctx.prompt_options = host_prompt_options
    ctx.template_dirs = host_template_dirs()
    return ctx


def ui_tabs() -> list:
    """``on_ui_tabs`` callback: a fresh Blocks on every UI build."""
    from .ui.app import build_blocks

    return [(build_blocks(host_context()), "TI Lab", "tilab")]


def register_settings() -> None:
    """``on_ui_settings`` callback: the "TI Lab" section (floats and choices get explicit components)."""
    import gradio as gr
    from modules import shared

    from .core.settings import SECTION, SPECS

    for spec in SPECS:
        component: Optional[Any] = None
        component_args: Optional[dict] = None
        if spec.kind == "float" or (spec.kind == "int" and spec.minimum is not None):
            component = gr.Slider
            component_args = {"minimum": spec.minimum, "maximum": spec.maximum, "step": spec.step}
        elif spec.kind == "choice":
            component = gr.Radio
            component_args = {"choices": list(spec.choices)}
        elif spec.kind == "text" and spec.key == "tilab_allowed_roots":
            component = gr.Textbox
            component_args = {"lines": 3}
        info = shared.OptionInfo(spec.default, spec.label, component=component, component_args=component_args,
                                 section=SECTION, category_id="training")
        if spec.info:
            info = info.info(spec.info)
        shared.opts.add_option(spec.key, info)


def on_app_started(demo: Any, app: Any) -> None:
    """``on_app_started`` callback: the small API the prompt-box presets call, and a bounded shutdown of the
    host's web server so that no request left behind (a closed tab's) can hang "Reload UI"
    (:mod:`lib_ti.core.server_shutdown`). Called again after every Reload UI, with the new server."""
    from modules import shared

    from .core import server_shutdown
    from .ui.api import add_routes

    add_routes(app, host_settings)
    if getattr(shared.cmd_opts, "api", False):  # the host's own rule for its /sdapi routes
        add_training_routes(app)
    server = getattr(demo, "server", None)  # gradio's Server (a uvicorn.Server); None with --nowebui
    thread = getattr(server, "thread", None)
    if server is not None and thread is not None:
        server_shutdown.watch_shutdown(server, thread, grace_s=server_shutdown.SHUTDOWN_GRACE_S)


# --- model & embeddings ---------------------------------------------------------------------


def host_sd_backend():
    """:class:`~lib_ti.model.backend.SDBackend` over the host's loaded model (``shared.sd_model``), or for SDXL
    (``is_sdxl``, sgm's ``DiffusionEngine``) :class:`~lib_ti.model.sdxl.SDXLBackend`.

    The backend reads the raw ldm text encoder from the host's wrapper (``cond_stage_model.wrapped``), the
    host's ``comma_padding_backtrack`` setting, and stamps the loaded checkpoint's short hash and model name
    into saved embeddings, as the host's trainer does. It computes on ``modules.devices.device`` (under
    ``--medvram``/``--lowvram`` the parameters sit on the CPU until the host's pre-hooks move them) and previews
    draw noise from the host's own ``modules.rng.ImageRNG``, so an ancestral preview is the host's txt2img image.
    """
    from modules import devices, shared

    from .model.backend import SDBackend

    model = shared.sd_model
    if model is None:
        raise ValueError("No Stable Diffusion checkpoint is loaded in the WebUI.")
    if getattr(model, "is_sd3", False):
        raise ValueError("The loaded checkpoint is SD3; TI Lab trains embeddings for SD 1.x, 2.x and SDXL models.")

    def info():
        ci = getattr(model, "sd_checkpoint_info", None)
        if ci is None:
            return None, None
        if not ci.shorthash and hasattr(ci, "calculate_shorthash"):
            ci.calculate_shorthash()
        return ci.shorthash, ci.model_name

    backtrack = int(getattr(shared.opts, "comma_padding_backtrack", 20))
    if getattr(model, "is_sdxl", False):  # sgm DiffusionEngine: both text encoders, the host's size/crop options
        from .model.sdxl import SDXLBackend

        opts = shared.opts
        return SDXLBackend(model, comma_padding_backtrack=backtrack, info=info, device=devices.device,
                           image_rng=host_image_rng,
                           crop=(int(getattr(opts, "sdxl_crop_top", 0)), int(getattr(opts, "sdxl_crop_left", 0))),
                           clip_l_skip=getattr(opts, "sdxl_clip_l_skip", False) is True)
    return SDBackend(model, comma_padding_backtrack=backtrack, info=info, device=devices.device,
                     image_rng=host_image_rng)


def host_image_rng(shape, seeds):
    """The host's per-image noise (``randn_source``, ``eta_noise_seed_delta`` and all) for the preview sampler."""
    from modules import rng

    return rng.ImageRNG(shape, list(seeds))


def host_prompt_options():
    """The host's current conditioning settings: ``clip_skip`` (Clip skip) and ``emphasis`` mode."""
    from modules import shared

    return {"clip_skip": int(getattr(shared.opts, "CLIP_stop_at_last_layers", 1)),
            "emphasis": str(getattr(shared.opts, "emphasis", "Original"))}


def host_embeddings_dir() -> Path:
    """The host's embeddings folder (``--embeddings-dir``, default ``<data-dir>/embeddings``)."""
    from modules import shared

    return Path(shared.cmd_opts.embeddings_dir)


def register_saved_embedding(path: Path) -> str:
    """Make a just-written embedding usable in txt2img at once; returns its name.

    Force-reloads the host's embedding database (a plain reload only looks at folder mtimes and misses files
    overwritten in place); a file outside the host's embedding folders is then registered on its own (adding
    its folder would also load every checkpoint copy beside it).
    """
    from modules import sd_hijack

    path = Path(path).resolve()
    db = sd_hijack.model_hijack.embedding_db
    db.load_textual_inversion_embeddings(force_reload=True)
    inside = any(Path(d).resolve() in path.parents for d in db.embedding_dirs)
    if not inside:
        db.load_from_file(str(path), path.name)
    name = path.stem
    if name in db.skipped_embeddings:
        raise ValueError(f"{path.name}: the WebUI skipped it: its width does not match the loaded checkpoint "
                         f"(expects {db.expected_shape}).")
    if name not in db.word_embeddings:
        raise ValueError(f"{path.name}: the WebUI did not load it (see the WebUI console for the reason).")
    return name


# --- captions -------------------------------------------------------------------------------

#: TI Lab setting -> the host option its BLIP ``generate_caption`` reads.
_BLIP_OPTION_FOR = {
    "tilab_blip_num_beams": "interrogate_clip_num_beams",
    "tilab_blip_min_length": "interrogate_clip_min_length",
    "tilab_blip_max_length": "interrogate_clip_max_length",
}


class HostBlipCaptioner:
    """The host's own BLIP (``shared.interrogator``) behind TI Lab's captioner interface.

    ``generate_caption`` reads beams and lengths from the host's Interrogate options; for the
    duration of each call they are set to TI Lab's BLIP settings and then restored (in memory
    only; the host's config file is not touched), so the same settings apply in and out of the host.
    """

    def load(self) -> None:
        from modules import devices, lowvram, shared

        lowvram.send_everything_to_cpu()  # as the host's interrogate(): make room for BLIP
        devices.torch_gc()
        shared.interrogator.load()

    def caption(self, image: Any) -> str:
        from modules import shared

        settings = host_settings()
        data = shared.opts.data
        missing = object()
        saved = {opt: data.get(opt, missing) for opt in _BLIP_OPTION_FOR.values()}
        try:
            for key, opt in _BLIP_OPTION_FOR.items():
                data[opt] = settings.get(key)
            return shared.interrogator.generate_caption(image)
        finally:
            for opt, value in saved.items():
                if value is missing:
                    data.pop(opt, None)
                else:
                    data[opt] = value

    def unload(self) -> None:
        from modules import shared

        shared.interrogator.send_blip_to_ram()
        shared.interrogator.unload()


def blip_captioner() -> HostBlipCaptioner:
    """``ctx.get_captioner`` inside the host."""
    return HostBlipCaptioner()



# --- training -------------------------------------------------------------------------------

class HostProgressSink:
    """A TI Lab job on the host's progress bar (``shared.state``); the host's Interrupt button stops it.

    ``begin`` starts a host job so the bar shows and ``state.interrupted`` is reset; ``end`` closes it.
    """

    def __init__(self, desc: str = "") -> None:
        self.desc = desc
        self._begun = False

    def begin(self, total, desc) -> None:
        from modules import shared

        if not self._begun:
            shared.state.begin(job=f"tilab-{self.desc or 'job'}")
            self._begun = True
        shared.state.job_count = int(total or 0)
        shared.state.job_no = 0
        shared.state.textinfo = desc or self.desc

    def update(self, done, total, text) -> None:
        from modules import shared

        shared.state.job_no = int(done)
        if total:
            shared.state.job_count = int(total)
        if text:
            shared.state.textinfo = text

    def end(self) -> None:
        from modules import shared

        if self._begun:
            shared.state.end()
            self._begun = False

    def interrupted(self) -> bool:
        from modules import shared

        # Before begin() the flag may be left over from an earlier job's Interrupt. The host's Interrupt
        # button sets only ``stopping_generation`` for multi-step jobs when "Don't Interrupt in the middle"
        # is on (its default), so both flags count.
        return self._begun and bool(shared.state.interrupted or getattr(shared.state, "stopping_generation", False))


def training_progress_sink(desc: str) -> "HostProgressSink":
    """Factory for ``AppContext.progress_sink`` used by the Train tab inside the host."""
    return HostProgressSink(desc)


def training_queue_lock():
    """Context manager holding the host's GPU queue lock while training, so txt2img waits instead of racing
    the trainer (the host's own Train tab runs under the same lock)."""
    from modules import call_queue

    return call_queue.queue_lock


def host_template_dirs() -> tuple:
    """The host's prompt-template folder (``--textual-inversion-templates-dir``), searched after TI Lab's own."""
    from modules import shared

    folder = getattr(shared.cmd_opts, "textual_inversion_templates_dir", None)
    return (Path(folder),) if folder else ()


# --- training over HTTP (scripts and bench/host_train_compare.py) -----------------------------

def add_training_routes(app: Any) -> None:
    """``POST /tilab/api/train`` trains on the host's loaded model inside the host and answers with timings;
    ``GET/POST /tilab/api/memory`` reads / resets the process's peak memory, so a script can measure the host's
    own trainer and TI Lab's the same way. Registered only when the host runs with ``--api``."""
    from fastapi import Body

    def _train(body: dict = Body(...)) -> dict:  # noqa: B008 - FastAPI's idiom
        return train_over_http(body)

    def _memory() -> dict:
        return peak_memory()

    def _reset() -> dict:
        return peak_memory(reset=True)

    app.add_api_route("/tilab/api/train", _train, methods=["POST"])
    app.add_api_route("/tilab/api/memory", _memory, methods=["GET"])
    app.add_api_route("/tilab/api/memory", _reset, methods=["POST"])


def train_over_http(values: dict) -> dict:
    """Run one training on ``shared.sd_model`` under the host's queue lock and progress state; answer with the
    result and the timers: set-up seconds (call to the end of step 1 minus step 1), each step's seconds, total.

    ``values`` are :class:`~lib_ti.training.config.TrainConfig` fields; ``data_dir`` goes through the folder guard,
    the run folder and embeddings folder are the host's (a caller cannot choose where files are written).
    """
    import datetime as _dt
    import time

    from .training.config import TrainConfig
    from .training.loop import Trainer, TrainingError

    values = dict(values)
    for key in ("run_dir", "embeddings_dir", "resume", "init_embedding"):
        if key in values:
            return {"error": f"'{key}' cannot be set over HTTP; the host's folders are used."}
    try:
        name = str(values.get("name", ""))
        values["data_dir"] = str(current_guard().check(str(values.get("data_dir", "")), must_exist=True,
                                                       kind="dataset folder"))
        values["run_dir"] = str(host_data_dir() / "ti-lab" / "training" / name / f"{_dt.datetime.now():%Y%m%d-%H%M%S}")
        values["embeddings_dir"] = str(host_embeddings_dir())
        cfg = TrainConfig.from_mapping(values)
        cfg.validate()
        backend = host_sd_backend()
    except (KeyError, ValueError, TypeError, OSError) as exc:
        return {"error": str(exc).strip("'\"")}
    marks: dict = {"steps": []}
    t0 = time.perf_counter()

    def on_event(kind: str, data: Any) -> None:
        if kind == "step":
            marks["steps"].append(float(data.seconds))
            marks.setdefault("first_step_end", time.perf_counter())
        elif kind == "status" and str(data).startswith("Precision:"):
            marks["precision"] = str(data)

    from .core.jobs import Job

    job = Job(training_progress_sink("train"))
    try:
        with training_queue_lock():
            result = Trainer(backend, cfg, job=job, on_event=on_event,
                             on_embedding_saved=register_saved_embedding, template_dirs=host_template_dirs()).run()
    except (TrainingError, ValueError, OSError, InterruptedError) as exc:
        return {"error": str(exc)}
    total = time.perf_counter() - t0
    steps = marks["steps"]
    setup = (marks["first_step_end"] - t0 - steps[0]) if steps else total
    return {"status": result.status, "step": result.step, "message": result.message, "setup_s": setup,
            "step_s": steps, "total_s": total, "precision": marks.get("precision", ""),
            "embedding": str(result.embedding_path) if result.embedding_path else None, **peak_memory()}


def peak_memory(reset: bool = False) -> dict:
    """Peak memory of the host process since the last reset: CUDA allocated bytes (when on CUDA) and resident
    set (Linux ``VmHWM``; reset through ``/proc/self/clear_refs``)."""
    import torch
    from modules import devices

    out: dict = {"device": str(devices.device)}
    if torch.device(devices.device).type == "cuda":
        if reset:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(devices.device)
        out["cuda_peak_bytes"] = int(torch.cuda.max_memory_allocated(devices.device))
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["rss_peak_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        out["rss_peak_bytes"] = None
    return out
