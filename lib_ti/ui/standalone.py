"""The standalone app: TI Lab's tabs plus its small HTTP API on one local server."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Optional

from ..core.context import AppContext, standalone_context
from ..core.paths import PathGuard


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_context(host: str = "127.0.0.1", data_dir: Optional[Path] = None,
                 allowed_roots: Optional[list[str]] = None) -> AppContext:
    """Folders are unrestricted on loopback; reachable by others, only the data folder and ``allowed_roots``."""
    ctx = standalone_context(data_dir, allowed_roots or None)
    if not is_loopback(host) and not ctx.guard.restricted:
        ctx.guard = PathGuard.restricted_to([ctx.data_dir], f"listening on {host}",
                                            "To allow another folder, start serve with --allow FOLDER.")
    return ctx


def build_app(ctx: AppContext) -> Any:
    """FastAPI app with ``/tilab/api/*`` routes and the Gradio UI mounted at ``/``."""
    import gradio as gr
    from fastapi import FastAPI

    from .api import add_routes
    from .app import QUEUE_WORKERS, build_blocks
    from fastapi.responses import Response

    from .compat import javascript_bundle, queue_kwargs

    app = FastAPI()
    add_routes(app, lambda: ctx.settings)
    bundle = javascript_bundle()
    app.add_api_route("/tilab/static/tilab.js",
                      lambda: Response(bundle, media_type="text/javascript"), methods=["GET"])
    blocks = build_blocks(ctx, standalone=True)
    blocks.queue(**queue_kwargs(QUEUE_WORKERS))
    return gr.mount_gradio_app(app, blocks, path="/")


def serve(host: str = "127.0.0.1", port: int = 7870, data_dir: Optional[Path] = None,
          allowed_roots: Optional[list[str]] = None, open_browser: bool = False) -> None:
    import uvicorn

    ctx = make_context(host, data_dir, allowed_roots)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(ctx)
    url = f"http://{host}:{port}/"
    print(f"TI Lab running on {url} (data: {ctx.data_dir})", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    uvicorn.run(app, host=host, port=port, log_level="warning")
