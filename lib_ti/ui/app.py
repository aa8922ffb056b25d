"""Assemble TI Lab's sub-tabs into one Blocks, for the host tab and the standalone app.

Each tab module exposes ``build(ctx)`` and is called inside a ``gr.Tab``. The host
calls :func:`build_blocks` on every UI build (fresh Blocks each time).
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.context import AppContext

#: (title, module, elem_id suffix) in the order a user works: check, caption, plan, train, use.
TABS: tuple[tuple[str, str, str], ...] = (
    ("Dataset", "lib_ti.ui.dataset_tab", "dataset"),
    ("Captions", "lib_ti.ui.captions_tab", "captions"),
    ("Schedule", "lib_ti.ui.schedule_tab", "schedule"),
    ("Emphasis", "lib_ti.ui.emphasis_tab", "emphasis"),
    ("Train", "lib_ti.ui.train_tab", "train"),
)

ROOT_ELEM_ID = "tilab"

#: Queue workers of the standalone app. Training, a dataset check and BLIP captioning each hold one worker
#: for as long as they run (their status is polled by a generator or reported through ``gr.Progress``);
#: with gradio's default of one worker, Stop and every other tab waited behind them. The host runs its
#: queue with 64 workers (``shared.demo.queue(64)`` in its ``webui.py``) and TI Lab inherits that there.
QUEUE_WORKERS = 16
HOST_QUEUE_WORKERS = 64


def build_tabs(ctx: AppContext) -> Any:
    """Create the sub-tabs inside the current Blocks context; returns the ``gr.Tabs`` (ids are the suffixes)."""
    import gradio as gr

    with gr.Tabs(elem_id=f"{ROOT_ELEM_ID}_tabs") as tabs:
        for title, module, suffix in TABS:
            with gr.Tab(title, id=suffix, elem_id=f"{ROOT_ELEM_ID}_{suffix}_tab"):
                importlib.import_module(module).build(ctx)
    return tabs


def build_blocks(ctx: AppContext, *, standalone: bool = False) -> Any:
    """A Blocks holding all TI Lab tabs; standalone adds a title and a txt2img-shaped prompt box."""
    import gradio as gr

    from . import workspace
    from .compat import LOAD_SCRIPT_JS, blocks_kwargs, js_kwarg

    with gr.Blocks(**blocks_kwargs(standalone)) as blocks:
        if standalone:
            from . import standalone_page

            standalone_page.header(ctx)
        tabs = build_tabs(ctx)
        workspace.wire(blocks, tabs)
        unsave_shared_labels(blocks)
        if standalone:
            # The host puts javascript/*.js in <head>; standalone, load the same bundle once the page is up.
            blocks.load(None, None, None, **js_kwarg(LOAD_SCRIPT_JS))
    return blocks


def unsave_shared_labels(blocks: Any) -> list[str]:
    """Keep the host from mixing up inputs that share a label.

    The host remembers every labelled input of an extension tab in ``ui-config.json`` under
    ``<tab>/<label>/value`` and restores it over the code's default at the next start; two
    inputs with one label (e.g. each preset's "Start rate") would share one saved value.
    Those inputs are marked ``do_not_save_to_config`` (honoured by the host, ignored elsewhere).
    Returns the labels so marked.
    """
    by_label: dict[str, list[Any]] = {}
    for block in getattr(blocks, "blocks", {}).values():
        label = getattr(block, "label", None)
        if label:
            by_label.setdefault(str(label), []).append(block)
    shared = sorted(label for label, comps in by_label.items() if len(comps) > 1)
    for label in shared:
        for comp in by_label[label]:
            comp.do_not_save_to_config = True
    return shared
