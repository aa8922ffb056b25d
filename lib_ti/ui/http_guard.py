"""What the standalone server answers over HTTP, checked before gradio sees a request.

The gates, all in one ASGI middleware so the request body can be read and handed on unchanged:

- **Origin.** gradio 3.41 answers every origin (``allow_origins=["*"]``, and its ``/queue/join`` websocket has no
  check at all), so any web page the user opens could drive a local TI Lab: write captions, start training. A
  request or websocket that a browser marks with another page's ``Origin`` is refused (403), and a server listening
  on loopback answers only to loopback host names, so a page whose own name is made to resolve to 127.0.0.1 (DNS
  rebinding) is refused too. Clients that send no ``Origin`` (scripts, ``curl``) are not browsers' pages and pass.

- **Files.** gradio 3.41's ``/file=`` route serves any file under the working directory and follows
  links out of it. Here it answers only for what the UI produced for display (gradio's own copies
  of gallery and image outputs) and for pictures and reports in TI Lab's data folder, after
  resolving links (:func:`lib_ti.core.paths.served_file`); anything else is 403.
- **Uploads.** No TI Lab component takes an upload, so gradio's ``/upload`` route is refused (403):
  a client cannot write files to the server's disk.
- **Event calls.** gradio answers a malformed call (unknown ``fn_index``, too few inputs, a string
  where a number belongs, a select event without its data) with HTTP 500 and a traceback in the
  log. The envelope and each input's basic type are checked here and refused with 400 and a
  message, so a 500 left over is a real defect, never a client's typo.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import urlsplit

from ..core.paths import is_loopback, served_file

#: gradio's file routes (``/file=PATH`` and the older ``/file/PATH``)
FILE_ROUTES = ("/file=", "/file/")
PREDICT_PREFIXES = ("/run/", "/api/")

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def _reply(send: Send, status: int, content: dict) -> None:
    body = json.dumps(content, ensure_ascii=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _netloc_part(url: str, part: str) -> Optional[str]:
    """``urlsplit(url).<part>``, or None for what does not parse (a hostile ``[`` in a header)."""
    try:
        return getattr(urlsplit(url), part)
    except ValueError:
        return None


def origin_problem(scope: Scope, loopback: bool) -> Optional[str]:
    """Why a request or websocket is refused as coming from another page or another host name, else None.

    ``loopback``: the server listens on loopback only, so a ``Host`` that is not a loopback name can only come
    from a page that rebound its own name to this machine.
    """
    host = _header(scope, b"host")
    if loopback and host is not None and not is_loopback(_netloc_part(f"//{host}", "hostname") or ""):
        return (f"Host '{host}' refused: this server listens on loopback and answers only to localhost or a "
                "loopback address.")
    origin = _header(scope, b"origin")
    if origin is not None and (host is None or (_netloc_part(origin, "netloc") or "").lower() != host.lower()):
        return f"Cross-origin request from '{origin}' refused: only TI Lab's own page may call this server."
    return None


def _kind(component: Any) -> str:
    """The JSON type an input component accepts: 'text', 'number', 'bool' or '' (not checked here)."""
    import gradio as gr

    if isinstance(component, (gr.Textbox, gr.Code)):
        return "text"
    if isinstance(component, (gr.Number, gr.Slider)):
        return "number"
    if isinstance(component, gr.Checkbox):
        return "bool"
    return ""


def _type_ok(kind: str, value: Any) -> bool:
    if value is None or kind == "":
        return True
    if kind == "text":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, bool)


class HttpGuard:
    """ASGI middleware applying both gates in front of the app (see the module docstring)."""

    def __init__(self, app: Any, blocks: Any, display_root: Optional[Path], loopback: bool = True) -> None:
        self.app, self.blocks, self.display_root, self.loopback = app, blocks, display_root, loopback
        import gradio as gr

        # plus what gradio 3.41's queue forwards for every queued event (``Queue.get_request_params``):
        # without these every queued event (a check, BLIP, training, Stop) was refused with a 400
        self._request_keys = (set(inspect.signature(gr.Request.__init__).parameters) - {"self", "kwargs"}) | {
            "url", "headers", "query_params", "path_params", "client", "session"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind in ("http", "websocket"):
            problem = origin_problem(scope, self.loopback)
            if problem is not None and kind == "websocket":
                await receive()  # the handshake's websocket.connect; closing before accepting answers it with 403
                return await send({"type": "websocket.close", "code": 1008, "reason": problem[:120]})
            if problem is not None:
                return await _reply(send, 403, {"error": problem})
        if kind != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        prefix = next((p for p in FILE_ROUTES if path.startswith(p)), None)
        if prefix is not None:
            produced = set().union(*getattr(self.blocks, "temp_file_sets", [set()]))
            if served_file(path[len(prefix):], produced, self.display_root) is None:
                return await _reply(send, 403, {"error": "File not allowed."})
            return await self.app(scope, receive, send)
        if path.rstrip("/") == "/upload":  # no TI Lab component takes uploads: nobody may fill the server's disk
            return await _reply(send, 403, {"error": "Uploads are not accepted."})
        if scope.get("method") == "POST" and path.startswith(PREDICT_PREFIXES):
            messages, body = [], b""
            while True:
                message = await receive()
                messages.append(message)
                body += message.get("body", b"")
                if message.get("type") != "http.request" or not message.get("more_body"):
                    break
            problem = self.check_call(path, body)
            if problem is not None:
                return await _reply(send, problem[0], {"error": problem[1]})

            async def replay() -> dict:
                return messages.pop(0) if messages else await receive()

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)

    def check_call(self, path: str, raw: bytes) -> Optional[tuple[int, str]]:
        """``(status, message)`` when an event call is malformed, else None (gradio handles it)."""
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=lambda name: _refuse(f"{name} is not JSON"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            return 400, f"The request body is not JSON: {why}"
        if not isinstance(body, dict):
            return 400, "The request body must be a JSON object."
        try:  # a browser never sends half a surrogate pair; the answer could not be encoded either
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            return 400, f"The request holds a lone surrogate (U+{ord(exc.object[exc.start]):04X}), which is not text."
        deps = self.blocks.dependencies
        index = body.get("fn_index")
        name = path.strip("/").split("/", 1)[1] if "/" in path.strip("/") else ""
        if index is None:
            index = next((i for i, d in enumerate(deps) if d.get("api_name") == name), None)
            if index is None:
                return 404, f"No endpoint '{name}'."
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(deps):
            return 400, f"'fn_index' must be a whole number 0..{len(deps) - 1}."
        dep = deps[index]
        if body.get("session_hash") is not None and not isinstance(body["session_hash"], str):
            return 400, "'session_hash' must be a string."
        request = body.get("request")
        if request is not None and (not isinstance(request, dict) or not set(request) <= self._request_keys):
            return 400, "'request' must be an object with the fields of a gradio request."
        event = body.get("event_data")
        if (event is not None or dep.get("collects_event_data")) and not (
                isinstance(event, dict) and {"index", "value"} <= set(event)):
            return 400, "'event_data' must be an object with 'index' and 'value' (this event is a selection)."
        if dep.get("cancels"):
            return None
        data = body.get("data")
        if not isinstance(data, list):
            return 400, "'data' must be a list of input values."
        if body.get("batched"):
            return 400, "Batched calls are not accepted."
        inputs = dep.get("inputs", [])
        if len(data) != len(inputs):
            return 400, f"This event takes {len(inputs)} input value(s), not {len(data)}."
        for position, (block_id, value) in enumerate(zip(inputs, data)):
            kind = _kind(self.blocks.blocks.get(block_id))
            if not _type_ok(kind, value):
                return 400, f"Input {position + 1} must be {kind or 'a value'} (got {type(value).__name__})."
        return None


def _refuse(message: str) -> Any:
    raise ValueError(message)
