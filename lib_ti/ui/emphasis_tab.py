"""Emphasis sub-tab: the host's weight math both ways, and presets that rewrite a term's weight."""

from __future__ import annotations

import html
from typing import Any

from ..core.context import AppContext
from ..emphasis.parse import EmphasisError, flag_prompt, parse_prompt_attention
from ..emphasis.rewrite import STYLES, apply_weight, inverse

#: One example prompt for the Emphasis tab and the standalone scratch box: they show the same prompt.
EXAMPLE_PROMPT = "A (((oil painting))) of [[[[[my_embedding]]]]] by (Leonardo da Vinci:1.2)"
#: JS: keep the prompt box being edited (standalone scratch box / host txt2img prompt) equal to this tab's.
MIRROR_JS = "(v) => { if (window.tilabEmphasis) window.tilabEmphasis.mirrorFromTab(v); return []; }"
#: JS: put an embedding term into the prompt box being edited (and, in the host, open txt2img).
PUT_JS = "(term) => { if (term && window.tilabEmphasis) window.tilabEmphasis.putInPrompt(term); return []; }"


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
    # the parser's own range warning for what is suggested (e.g. ten brackets = 2.59)
    warned = {f.message for form in (inv.explicit, inv.brackets) if form for f in flag_prompt(form)
              if f.kind == "overflow"}
    out += "".join(f'<p class="tilab-flag-overflow">⚠ {html.escape(m)}</p>' for m in sorted(warned))
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


def embedding_choices(ctx: AppContext) -> Any:
    """The embeddings folder's names, newest first (the one just trained is preselected)."""
    from .compat import update
    from .workspace import embedding_names

    names = embedding_names(ctx.embeddings_folder())
    return update(choices=names, value=names[0] if names else None)


def suggest_weight(ctx: AppContext, name: str, model_choice: str = "") -> tuple[Any, str]:
    """(weight, note): the inspector's suggested weakening for ``name`` on the loaded model, as a prompt weight.

    Needs the model (the suggestion compares the embedding's vectors with the model's typical token); without
    one the weight is left as it is and the note says why.
    """
    from .compat import update

    if not str(name or "").strip():
        return update(), _note("Choose an embedding first.", error=True)
    try:
        from ..model.embeddings import load_embedding
        from ..model.inspect import inspect_embedding
        from .train_tab import get_backend

        path = next((p for ext in (".pt", ".safetensors", ".bin")
                     if (p := ctx.embeddings_folder() / f"{name}{ext}").is_file()), None)
        if path is None:
            raise ValueError(f"No embedding file named '{name}' in {ctx.embeddings_folder()}.")
        report = inspect_embedding(load_embedding(path), get_backend(ctx, model_choice or ""))
    except (ValueError, RuntimeError, OSError) as exc:
        return update(), _note(f"No suggestion: {exc}", error=True)
    scale = float(report["suggested_scale"])
    return round(scale, 2), _note(f"'{name}' is ×{report['mean_ratio']} a typical token's length: "
                                  f"suggested weight {scale:.2f}.")


def put_term(name: str, weight: Any) -> tuple[str, str]:
    """(term for the JS to insert, status HTML)."""
    from .workspace import embedding_term

    try:
        term = embedding_term(name, weight)
    except (TypeError, ValueError) as exc:
        return "", _note(str(exc), error=True)
    return term, _note(f"Added {term} to the prompt.")


def _note(text: str, error: bool = False) -> str:
    return f'<div class="{"tilab-error" if error else "tilab-status"}">{html.escape(text)}</div>'


def build(ctx: AppContext) -> None:
    import gradio as gr

    from .compat import js_kwarg

    weights = ctx.settings.preset_weights()
    gr.Markdown("See each part of a prompt with the weight the host gives it; turn a weight into brackets and "
                "back; tame a too-strong embedding with a preset. This prompt is the one you are editing: "
                + ("the txt2img prompt." if ctx.in_host else "the prompt box at the top of the page."))
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="tilab_emphasis_prompt", elem_classes=["prompt"],
                                value="" if ctx.in_host else EXAMPLE_PROMPT)
            segments = gr.HTML(elem_id="tilab_emphasis_segments")
            with gr.Group():
                gr.Markdown("**Use an embedding in the prompt** (the newest first: the one you just trained)")
                with gr.Row():
                    emb = gr.Dropdown([], label="Embedding", elem_id="tilab_emphasis_embedding",
                                      allow_custom_value=True)
                    emb_weight = gr.Number(label="Weight", value=weights[0], elem_id="tilab_emphasis_embedding_weight")
                with gr.Row():
                    refresh_btn = gr.Button("↻ List", size="sm", elem_id="tilab_emphasis_embedding_refresh")
                    suggest_btn = gr.Button("Suggested weight", size="sm", elem_id="tilab_emphasis_embedding_suggest")
                    put_btn = gr.Button("Put in prompt", variant="primary", elem_id="tilab_emphasis_embedding_put")
                emb_status = gr.HTML(elem_id="tilab_emphasis_embedding_status")
                # the Train tab's checkpoint (copied here by lib_ti.ui.workspace), for the suggestion
                ckpt = gr.Textbox(visible=False, elem_id="tilab_emphasis_ckpt")
                term = gr.Textbox(visible=False, elem_id="tilab_emphasis_term_out")
        with gr.Column(scale=2):
            with gr.Group():
                gr.Markdown("**Preset for a term** (typically the embedding's name)")
                term_box = gr.Textbox(label="Term", value="my_embedding", elem_id="tilab_emphasis_term")
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

    # All cheap: none waits in the queue behind a training run.
    prompt.change(render_segments, [prompt], [segments], queue=False)
    prompt.change(None, [prompt], None, queue=False, **js_kwarg(MIRROR_JS))
    apply_btn.click(apply_preset, [prompt, term_box, preset, style], [prompt, apply_status], queue=False)
    inv_text.change(render_inverse, [inv_text, inv_weight], [inv_out], queue=False)
    inv_weight.change(render_inverse, [inv_text, inv_weight], [inv_out], queue=False)
    refresh_btn.click(lambda: embedding_choices(ctx), None, [emb], queue=False)
    suggest_btn.click(lambda n, c: suggest_weight(ctx, n, c), [emb, ckpt], [emb_weight, emb_status])
    put_btn.click(put_term, [emb, emb_weight], [term, emb_status], queue=False).then(
        None, [term], None, queue=False, **js_kwarg(PUT_JS))
    tab = gr.context.Context.block  # the Emphasis gr.Tab: list again when the user comes here after training
    if tab is not None and hasattr(tab, "select"):
        tab.select(lambda: embedding_choices(ctx), None, [emb], queue=False)
    blocks = gr.context.Context.root_block
    if blocks is not None:
        blocks.load(render_segments, [prompt], [segments], queue=False)
        blocks.load(render_inverse, [inv_text, inv_weight], [inv_out], queue=False)
        blocks.load(lambda: embedding_choices(ctx), None, [emb], queue=False)
