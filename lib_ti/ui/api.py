"""Small HTTP API that the prompt-box JavaScript calls, so the rewrite logic stays in Python.

Mounted on the host's FastAPI app (``on_app_started``) and on the standalone app.
The routes are pure functions of their input: no file access, nothing to guard. Any request
body gets an answer, never a 500: the body is parsed here (not by the framework), so JSON that
is not an object, nested too deep, or carrying ``NaN`` becomes an ``{"error": ...}`` answer, and
answers are written as ASCII JSON so a lone surrogate in a prompt cannot break the response.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from ..emphasis.parse import EmphasisError
from ..emphasis.rewrite import STYLES, rewrite_span
from ..core.settings import Settings

PREFIX = "/tilab/api"


def rewrite_request(body: dict, settings: Settings) -> dict:
    """Apply a preset weight to a selection of a prompt. Body: prompt, start, end, weight, style (optional)."""
    try:
        if not isinstance(body, dict):
            raise ValueError("The request body must be a JSON object.")
        prompt = str(body.get("prompt", ""))
        start = int(body.get("start", 0))
        end = int(body.get("end", start))
        weight = float(body["weight"])
        if not math.isfinite(weight):
            raise ValueError("The weight must be a finite number.")
        style = body.get("style") or settings.get("tilab_emphasis_output")
        if style not in STYLES:
            raise ValueError(f"Unknown style '{style}'.")
        result = rewrite_span(prompt, start, end, weight, style)
    except KeyError as exc:
        return {"error": f"Missing field {exc.args[0]!r}."}
    except (TypeError, ValueError, OverflowError, RecursionError, EmphasisError) as exc:
        return {"error": str(exc) or type(exc).__name__}
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
    from fastapi import Request
    from fastapi.responses import Response

    def answer(content: dict) -> Response:
        text = json.dumps(content, ensure_ascii=True, allow_nan=False)
        return Response(text, media_type="application/json")

    async def _rewrite(request):  # type: ignore[no-untyped-def]
        raw = await request.body()
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            return answer({"error": f"The request body is not JSON: {what}"})
        try:
            return answer(rewrite_request(body, get_settings()))
        except ValueError as exc:  # allow_nan=False on a non-finite result
            return answer({"error": str(exc)})

    def _settings():  # type: ignore[no-untyped-def]
        return answer(client_settings(get_settings()))

    # FastAPI injects the request by the annotation's class; this module's annotations are strings.
    _rewrite.__annotations__ = {"request": Request}

    app.add_api_route(f"{PREFIX}/emphasis/rewrite", _rewrite, methods=["POST"])
    app.add_api_route(f"{PREFIX}/settings", _settings, methods=["GET"])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
