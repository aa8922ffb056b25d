"""Schedule sub-tab: build, validate and plot learning-rate schedules in the host's syntax."""

from __future__ import annotations

import html
from typing import Any

from ..core.context import AppContext
from ..schedule.parse import ScheduleError, format_rate, lint, trace
from ..schedule.presets import PRESETS, PRESET_BY_KEY


def analyze(text: str, max_steps: float, start_step: float) -> tuple[str, Any, list[list[Any]]]:
    """Status HTML, plot (inline SVG; empty on an error) and segment rows for a schedule string. Never raises."""
    try:
        max_steps_i, start_i = int(max_steps), int(start_step)
        if max_steps_i <= 0:
            raise ValueError("Max steps must be positive.")
        if start_i < 0:
            raise ValueError("Start step can't be negative.")
        result = trace(text, max_steps_i, start_i)
        warnings = lint(text, max_steps_i, start_i)
    except ScheduleError as exc:
        caret = html.escape(text[: exc.position]) + '<mark class="tilab-fault">' + html.escape(
            text[exc.position: exc.position + 1] or " ") + "</mark>" + html.escape(text[exc.position + 1:])
        return (f'<div class="tilab-error"><b>Error at character {exc.position + 1}:</b> {html.escape(str(exc))}'
                f"<pre>{caret}</pre></div>", "", [])
    except (TypeError, ValueError) as exc:
        return f'<div class="tilab-error">{html.escape(str(exc))}</div>', "", []
    from ..schedule.plot import plot_trace

    rows = [[format_rate(s.rate), s.first, s.last, s.last - s.first + 1] for s in result.segments]
    end = start_i + result.updates
    summary = (f"<b>{result.updates}</b> updates from step {start_i} to {end}"
               + (" (max steps)" if end == max_steps_i else f" — max steps is {max_steps_i}"))
    items = "".join(f'<li class="tilab-warn-{w.code}">⚠ {html.escape(w.message)}</li>' for w in warnings)
    body = f"<ul class='tilab-warnings'>{items}</ul>" if items else "<p class='tilab-ok'>✓ No quirks: the host " \
                                                                  "reads this exactly as written.</p>"
    return f'<div class="tilab-status">{summary}{body}</div>', plot_trace(result, max_steps_i, start_i), rows


def build_preset(key: str, *values: Any) -> tuple[str, str]:
    """String for preset ``key`` from its parameter values (in declaration order); (string, error)."""
    preset = PRESET_BY_KEY[key]
    kwargs = {}
    for param, value in zip(preset.params, values):
        if value is None or value == "":
            continue
        kwargs[param.name] = value if param.kind == "text" else float(value)
    try:
        return preset.string(**kwargs), ""
    except ValueError as exc:
        return "", f'<div class="tilab-error">{html.escape(str(exc))}</div>'


def build(ctx: AppContext) -> None:  # noqa: ARG001 - same signature for every tab
    import gradio as gr

    from .compat import update

    gr.Markdown("Build a learning-rate schedule in the host's Train-tab syntax (`rate:step, …, rate`), "
                "see exactly which rate every step gets, and catch the host's silent quirks.")
    with gr.Row():
        with gr.Column(scale=2):
            text = gr.Textbox(label="Schedule string", value=PRESETS[0].string(), elem_id="tilab_schedule_text")
            with gr.Row():
                max_steps = gr.Number(label="Max steps", value=2000, precision=0, elem_id="tilab_schedule_max")
                start = gr.Number(label="Start (resume) step", value=0, precision=0, elem_id="tilab_schedule_start")
            status = gr.HTML(elem_id="tilab_schedule_status")
            plot = gr.HTML(elem_id="tilab_schedule_plot")  # rate by step, an inline SVG (answers in milliseconds)
            table = gr.Dataframe(headers=["rate", "first step", "last step", "updates"], interactive=False,
                                 elem_id="tilab_schedule_table")
            # wired to the Train tab by lib_ti.ui.workspace (string and max steps go over, the tab opens)
            gr.Button("Use in Train", variant="primary", elem_id="tilab_schedule_use_in_train")
        with gr.Column(scale=1):
            preset_key = gr.Radio([(p.title) for p in PRESETS], value=PRESETS[0].title, label="Preset",
                                  elem_id="tilab_schedule_preset")
            groups, inputs = [], {}
            for p in PRESETS:
                with gr.Group(visible=p is PRESETS[0]) as group:
                    gr.Markdown(p.description)
                    comps = []
                    for param in p.params:
                        eid = f"tilab_schedule_{p.key}_{param.name}"
                        if param.kind == "text":
                            comps.append(gr.Textbox(label=param.label, value=str(param.default), elem_id=eid))
                        else:
                            comps.append(gr.Number(label=param.label, value=param.default, elem_id=eid,
                                                   precision=0 if param.kind == "int" else None))
                    inputs[p.key] = comps
                groups.append(group)
            preset_error = gr.HTML()

    title_to_key = {p.title: p.key for p in PRESETS}

    def on_preset(title: str):
        key = title_to_key[title]
        string, err = build_preset(key, *[p.default for p in PRESET_BY_KEY[key].params])
        return [update(visible=title_to_key[title] == g.key) for g in PRESETS] + [string or update(), err]

    # Everything here is cheap and answers at once, even while a training run holds a queue worker.
    preset_key.change(on_preset, [preset_key], groups + [text, preset_error], queue=False)
    for p in PRESETS:
        def on_param(*values, _key=p.key):
            string, err = build_preset(_key, *values)
            return (string or update()), err

        for comp in inputs[p.key]:
            comp.change(on_param, inputs[p.key], [text, preset_error], queue=False)

    for comp in (text, max_steps, start):
        comp.change(analyze, [text, max_steps, start], [status, plot, table], queue=False)
    blocks = gr.context.Context.root_block
    if blocks is not None:
        blocks.load(analyze, [text, max_steps, start], [status, plot, table], queue=False)
