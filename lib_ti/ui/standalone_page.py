"""Top of the standalone page: title, data folder, and a prompt box shaped like the host's txt2img box.

The prompt box has the host's ``txt2img_prompt`` id and structure so the prompt-box
presets (``javascript/tilab_emphasis.js``) behave - and are tested - exactly as in the host.
"""

from __future__ import annotations

from ..core.context import AppContext


def header(ctx: AppContext) -> None:
    import gradio as gr

    from .emphasis_tab import EXAMPLE_PROMPT

    gr.Markdown(
        "## TI Lab\nTeach Stable Diffusion your concept with Textual Inversion. "
        f"Data folder: `{ctx.data_dir}`" + ("" if not ctx.guard.restricted else " · folders restricted to allowed roots")
    )
    with gr.Row(elem_id="txt2img_toprow"):
        gr.Textbox(
            label="Prompt (scratch box, shared with the Emphasis tab; select a word and use the weight… control or "
                  "Alt+E, like in the host's txt2img)",
            elem_id="txt2img_prompt", elem_classes=["prompt"], lines=2, interactive=True,
            value=EXAMPLE_PROMPT,
        )
