"""Small HTTP API that the prompt-box JavaScript calls, so the rewrite logic stays in Python.

Mounted on the host's FastAPI app (``on_app_started``) and on the standalone app.
The routes are pure functions of their input: no file access, nothing to guard.
"""

from __future__ import annotations

from typing import Any, Callable

from ..emphasis.parse import EmphasisError
from ..emphasis.rewrite import STYLES, rewrite_span
from ..core.settings import Settings

PREFIX = "/tilab/api"


def rewrite_request(body: dict, settings: Settings) -> dict:
    """Apply a preset weight to a selection of a prompt. Body: prompt, start, end, weight, style (optional)."""
    try:
        prompt = str(body.get("prompt", ""))
        start = int(body.get("start", 0))
        end = int(body.get("end", start))
        weight = float(body["weight"])
        style = body.get("style") or settings.get("tilab_emphasis_output")
        if style not in STYLES:
            raise ValueError(f"Unknown style '{style}'.")
        result = rewrite_span(prompt, start, end, weight, style)
    except (KeyError, TypeError, ValueError, EmphasisError) as exc:
        return {"error": str(exc)}
    return {"prompt": result.prompt, "start": result.start, "end": result.end, "weight": result.weight,
            "message": result.message}


def client_settings(settings: Settings) -> dict:
    """What the prompt-box control needs: preset weights, output style, shortcut on/off."""
    return {
        "weights": settings.preset_weights(),
        "style": settings.get("tilab_emphasis_output"),
        "shortcut": settings.get("tilab_preset_shortcut"),
    }


def add_routes(app: Any, get_settings: Callable[[], Settings]) -> None:
    """Register the routes on a FastAPI app; ``get_settings`` is read per request (settings may change)."""
    from fastapi import Body

    def _rewrite(body: dict = Body(...)) -> dict:  # noqa: B008 - FastAPI idiom
        return rewrite_request(body, get_settings())

    def _settings() -> dict:
        return client_settings(get_settings())

    app.add_api_route(f"{PREFIX}/emphasis/rewrite", _rewrite, methods=["POST"])
    app.add_api_route(f"{PREFIX}/settings", _settings, methods=["GET"])
