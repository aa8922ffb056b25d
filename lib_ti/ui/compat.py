"""Small differences between gradio 3.41 (the host's pin) and gradio 4/5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[2]


def gradio_major() -> int:
    import gradio as gr

    try:
        return int(gr.__version__.split(".")[0])
    except (AttributeError, ValueError):
        return 3


def blocks_kwargs(standalone: bool) -> dict[str, Any]:
    """Keyword arguments for ``gr.Blocks``: standalone pages carry TI Lab's CSS themselves."""
    kwargs: dict[str, Any] = {"analytics_enabled": False}
    if standalone:
        css_file = ASSETS / "style.css"
        if css_file.exists():
            kwargs["css"] = css_file.read_text(encoding="utf-8")
        kwargs["title"] = "TI Lab"
    return kwargs


def update(**kwargs: Any) -> Any:
    """``gr.update`` works on 3.x-5.x; one place to change if it ever goes."""
    import gradio as gr

    return gr.update(**kwargs)


def js_kwarg(fn: str) -> dict[str, str]:
    """Run a JavaScript function before the Python handler: ``_js=`` on gradio 3, ``js=`` on 4+."""
    return {"_js": fn} if gradio_major() < 4 else {"js": fn}


def queue_kwargs(workers: int) -> dict[str, int]:
    """How many queued events run at once: ``concurrency_count`` on gradio 3, ``default_concurrency_limit`` on 4+."""
    return {"concurrency_count": workers} if gradio_major() < 4 else {"default_concurrency_limit": workers}


def javascript_bundle() -> str:
    """All of ``javascript/*.js`` in sorted order (the host loads these itself; the standalone app serves this)."""
    folder = ASSETS / "javascript"
    if not folder.is_dir():
        return ""
    return "\n;\n".join(path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.js")))


LOAD_SCRIPT_JS = (
    "() => { if (!document.getElementById('tilab-bundle')) { const s = document.createElement('script');"
    " s.id = 'tilab-bundle'; s.src = 'tilab/static/tilab.js'; document.head.appendChild(s); } return []; }"
)
