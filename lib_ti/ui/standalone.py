"""The standalone app: TI Lab's tabs plus its small HTTP API on one local server.

What it hands out over HTTP is limited on purpose (see README, "What a shared server exposes"):
gradio 3.41's ``/file=`` route would serve any file under the working directory, following links
out of it; here that route answers only for files the UI produced for display (gradio's own copies
of gallery and image outputs) and for pictures and reports in TI Lab's data folder, after resolving
links. Everything else is 403, on loopback too: nothing TI Lab shows needs more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..core.context import AppContext, standalone_context
from ..core.paths import PathGuard, is_loopback, served_file

#: gradio's file routes (``/file=PATH`` and the older ``/file/PATH``)
FILE_ROUTES = ("/file=", "/file/")


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
    confine_file_route(app, blocks, ctx.data_dir)
    blocks.queue(**queue_kwargs(QUEUE_WORKERS))
    return gr.mount_gradio_app(app, blocks, path="/")


def confine_file_route(app: Any, blocks: Any, display_root: Path) -> None:
    """Answer gradio's file routes only with :func:`~lib_ti.core.paths.served_file`'s choice, else 403."""
    from fastapi.responses import PlainTextResponse

    @app.middleware("http")
    async def _file_guard(request: Any, call_next: Any) -> Any:
        path = request.scope.get("path", "")
        prefix = next((p for p in FILE_ROUTES if path.startswith(p)), None)
        if prefix is None:
            return await call_next(request)
        produced = set().union(*getattr(blocks, "temp_file_sets", [set()]))
        if served_file(path[len(prefix):], produced, display_root) is None:
            return PlainTextResponse("File not allowed.", status_code=403)
        return await call_next(request)


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
