"""A bounded shutdown for the web server TI Lab runs inside: a request that never ends cannot block a restart.

Why: the host's "Reload UI" closes its gradio app (``Blocks.close`` → gradio's ``Server.close``), which sets
uvicorn's ``should_exit`` and joins the server thread with no timeout. uvicorn's graceful shutdown then waits for
every open connection and every request task to finish; gradio 3.41 gives it no ``timeout_graceful_shutdown``. One
request whose handler never returns (a client gone mid-request while its handler waits on something) therefore
hangs the whole WebUI at "Restarting UI..." with no HTTP answer until the process is killed — seen in the real host
after a TI Lab run whose browser tab was closed (issue 9, item 6).

:func:`watch_shutdown` starts a small daemon thread that waits until the server is asked to exit, gives the
graceful shutdown ``grace_s`` seconds, and then sets uvicorn's ``force_exit`` — the flag uvicorn's own second
Ctrl+C sets — so the wait for connections and tasks ends and the restart goes on. The watchdog changes nothing
while the server runs or when the shutdown finishes in time. Its message names the requests still running
(method and path, read from uvicorn's request tasks), so whoever reads the log knows which handler never ended.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

#: seconds the host's graceful shutdown may take before it is forced (a normal Reload UI goes down in 1-5 s)
SHUTDOWN_GRACE_S = 10.0


def open_requests(server: Any) -> list[str]:
    """``"METHOD /path"`` of every request ``server`` (a ``uvicorn.Server``) is still running, best effort.

    Read from uvicorn's request tasks (``server_state.tasks``: each runs a request cycle whose ``scope`` is the
    request); anything that does not look like that is skipped, and a task set that changes while it is read gives
    what was read so far — this only names requests in a log line.
    """
    found: list[str] = []
    try:
        tasks = list(getattr(getattr(server, "server_state", None), "tasks", None) or ())
    except RuntimeError:  # the server's loop changed the set while it was copied
        return found
    for task in tasks:
        try:
            frame = getattr(task.get_coro(), "cr_frame", None)
            scope = getattr(frame.f_locals.get("self"), "scope", None) if frame is not None else None
        except (AttributeError, RuntimeError):
            continue
        if isinstance(scope, dict) and scope.get("path"):
            found.append(f"{scope.get('method', '')} {scope['path']}".strip())
    return sorted(found)


def watch_shutdown(server: Any, server_thread: threading.Thread, *, grace_s: float = SHUTDOWN_GRACE_S,
                   poll_s: float = 0.5, log: Callable[[str], None] = print) -> threading.Thread:
    """Force ``server`` (a ``uvicorn.Server``: ``should_exit``/``force_exit``) to finish shutting down when its
    ``server_thread`` is still alive ``grace_s`` seconds after ``should_exit`` was set. Returns the watchdog thread
    (daemon; it ends with the server thread)."""

    def run() -> None:
        while server_thread.is_alive() and not getattr(server, "should_exit", False):
            time.sleep(poll_s)
        server_thread.join(grace_s)
        if server_thread.is_alive():
            running = open_requests(server)
            which = f"requests that never ended: {', '.join(running)}" if running else "a request that never ended"
            log(f"TI Lab: the web server was still finishing requests {grace_s:g} s after it was asked to stop "
                f"({which}); forcing the shutdown so the restart can go on.")
            server.force_exit = True

    watchdog = threading.Thread(target=run, name="tilab-shutdown-watchdog", daemon=True)
    watchdog.start()
    return watchdog
