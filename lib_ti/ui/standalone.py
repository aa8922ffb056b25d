"""The standalone app: TI Lab's tabs plus its small HTTP API on one local server.

What it hands out over HTTP is limited on purpose (see README, "What a shared server exposes"):
:class:`~lib_ti.ui.http_guard.HttpGuard` answers gradio's ``/file=`` route only for what TI Lab
produced for display, refuses malformed event calls with 400 before gradio turns them into 500s, and refuses
other web pages' requests (and, on loopback, other host names) with 403.
It applies on loopback too: nothing TI Lab shows needs more. Folders typed into the tabs are
confined when the server listens on anything but loopback (:func:`make_context`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..core.context import AppContext, standalone_context
from ..core.paths import PathGuard, is_loopback

__all__ = ["build_app", "is_loopback", "make_context", "serve"]


def make_context(host: str = "127.0.0.1", data_dir: Optional[Path] = None,
                 allowed_roots: Optional[list[str]] = None) -> AppContext:
    """Folders are unrestricted on loopback; reachable by others, only the data folder and ``allowed_roots``."""
    ctx = standalone_context(data_dir, allowed_roots or None)
    if not is_loopback(host) and not ctx.guard.restricted:
        ctx.guard = PathGuard.restricted_to([ctx.data_dir], f"listening on {host}",
                                            "To allow another folder, start serve with --allow FOLDER.")
    return ctx


def build_app(ctx: AppContext, *, loopback: bool = True) -> Any:
    """FastAPI app with ``/tilab/api/*`` routes and the Gradio UI mounted at ``/``.

    ``loopback``: the server listens on loopback only (:func:`is_loopback` of its address); it then answers only to
    loopback host names (see :func:`lib_ti.ui.http_guard.origin_problem`)."""
    import gradio as gr
    from fastapi import FastAPI

    from .api import add_routes
    from .http_guard import HttpGuard
    from .app import QUEUE_WORKERS, build_blocks
    from fastapi.responses import Response

    from .compat import javascript_bundle, queue_kwargs

    app = FastAPI()
    add_routes(app, lambda: ctx.settings)
    bundle = javascript_bundle()
    app.add_api_route("/tilab/static/tilab.js",
                      lambda: Response(bundle, media_type="text/javascript"), methods=["GET"])
    blocks = build_blocks(ctx, standalone=True)
    app.add_middleware(HttpGuard, blocks=blocks, display_root=ctx.data_dir, loopback=loopback)
    blocks.allowed_paths = [str(ctx.data_dir)]  # gradio's own gate; HttpGuard narrows it to display files
    blocks.queue(**queue_kwargs(QUEUE_WORKERS))
    return gr.mount_gradio_app(app, blocks, path="/")


def serve(host: str = "127.0.0.1", port: int = 7870, data_dir: Optional[Path] = None,
          allowed_roots: Optional[list[str]] = None, open_browser: bool = False) -> None:
    import uvicorn

    ctx = make_context(host, data_dir, allowed_roots)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(ctx, loopback=is_loopback(host))
    url = f"http://{host}:{port}/"
    print(f"TI Lab running on {url} (data: {ctx.data_dir})", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning")
