"""Emphasis sub-tab: the host's weight math both ways, and presets that rewrite a term's weight."""

from __future__ import annotations

import html
from typing import Any

from ..core.context import AppContext
from ..emphasis.parse import EmphasisError, flag_prompt, parse_prompt_attention
from ..emphasis.rewrite import STYLES, apply_weight, inverse


def _weight_class(weight: float) -> str:
    if weight < 0:
        return "tilab-w-break"
    if weight < 1:
        return "tilab-w-low"
    if weight > 1:
        return "tilab-w-high"
    return "tilab-w-one"


def render_segments(prompt: str) -> str:
    """HTML table of each segment with its effective weight, and the prompt's warnings. Never raises."""
    try:
        segments = parse_prompt_attention(prompt)
    except EmphasisError as exc:
        pos = exc.position
        return (f'<div class="tilab-error"><b>Error at character {pos + 1}:</b> {html.escape(str(exc))}<pre>'
                f'{html.escape(prompt[:pos])}<mark class="tilab-fault">{html.escape(prompt[pos:pos + 1])}</mark>'
                f"{html.escape(prompt[pos + 1:])}</pre></div>")
    rows = []
    for text, weight in segments:
        shown = "BREAK (new 75-token chunk)" if text == "BREAK" and weight == -1 else text
        rows.append(f'<tr class="{_weight_class(weight)}"><td><code>{html.escape(shown) or "&nbsp;"}</code></td>'
                    f"<td>{weight:.4g}</td></tr>")
    flags = "".join(f'<li class="tilab-flag-{f.kind}">⚠ {html.escape(f.message)}</li>' for f in flag_prompt(prompt))
    return (f'<table class="tilab-segments"><thead><tr><th>text</th><th>weight</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>' + (f"<ul class='tilab-warnings'>{flags}</ul>" if flags else ""))


def render_inverse(text: str, target: Any) -> str:
    try:
        inv = inverse(text or "x", float(target))
    except (TypeError, ValueError) as exc:
        return f'<div class="tilab-error">{html.escape(str(exc))}</div>'
    out = f"<p>Explicit: <code>{html.escape(inv.explicit)}</code> = {inv.explicit_weight:.4g}</p>"
    if inv.brackets is not None:
        out += (f"<p>Nearest brackets: <code>{html.escape(inv.brackets)}</code> = {inv.brackets_weight:.4g} "
                f"(error {inv.brackets_error:+.4f})</p>")
    else:
        out += "<p>Brackets can only make positive weights.</p>"
    return f'<div class="tilab-inverse">{out}</div>'


def apply_preset(prompt: str, term: str, weight: Any, style: str) -> tuple[str, str]:
    """(new prompt, status HTML) for giving ``term`` the preset weight."""
    try:
        result = apply_weight(prompt, term.strip(), float(weight), style)
    except (TypeError, ValueError) as exc:
        return prompt, f'<div class="tilab-error">{html.escape(str(exc))}</div>'
    if result.message:
        return prompt, f'<div class="tilab-error">{html.escape(result.message)}</div>'
    return result.prompt, f"<p>'{html.escape(term)}' now weighs {result.weight:.4g}.</p>"


def build(ctx: AppContext) -> None:
    import gradio as gr

    weights = ctx.settings.preset_weights()
    gr.Markdown("See each part of a prompt with the weight the host gives it; turn a weight into brackets and "
                "back; tame a too-strong embedding with a preset.")
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="tilab_emphasis_prompt", elem_classes=["prompt"],
                                value="A (((oil painting))) of [[[[[my_embedding]]]]] by (Leonardo da Vinci:1.2)")
            segments = gr.HTML(elem_id="tilab_emphasis_segments")
        with gr.Column(scale=2):
            with gr.Group():
                gr.Markdown("**Preset for a term** (typically the embedding's name)")
                term = gr.Textbox(label="Term", value="my_embedding", elem_id="tilab_emphasis_term")
                preset = gr.Radio([str(w) for w in weights], value=str(weights[0]), label="Weight",
                                  elem_id="tilab_emphasis_preset")
                style = gr.Radio(list(STYLES), value=ctx.settings.get("tilab_emphasis_output"), label="Write as",
                                 elem_id="tilab_emphasis_style")
                apply_btn = gr.Button("Apply to prompt", elem_id="tilab_emphasis_apply")
                apply_status = gr.HTML(elem_id="tilab_emphasis_apply_status")
            with gr.Group():
                gr.Markdown("**Weight → syntax**")
                with gr.Row():
                    inv_text = gr.Textbox(label="Text", value="my_embedding", elem_id="tilab_emphasis_inv_text")
                    inv_weight = gr.Number(label="Target weight", value=0.62, elem_id="tilab_emphasis_inv_weight")
                inv_out = gr.HTML(elem_id="tilab_emphasis_inverse")

    prompt.change(render_segments, [prompt], [segments])
    apply_btn.click(apply_preset, [prompt, term, preset, style], [prompt, apply_status])
    inv_text.change(render_inverse, [inv_text, inv_weight], [inv_out])
    inv_weight.change(render_inverse, [inv_text, inv_weight], [inv_out])
    blocks = gr.context.Context.root_block
    if blocks is not None:
        blocks.load(render_segments, [prompt], [segments])
        blocks.load(render_inverse, [inv_text, inv_weight], [inv_out])
