"""A request that never ends must not hang the host's restart (issue 9, item 6).

The host's Reload UI is emulated exactly where it hangs: gradio 3.41's ``Server.close`` sets uvicorn's
``should_exit`` and joins the server thread without a timeout. A real uvicorn server runs a real app here; a client
starts a request whose handler never returns and goes away (a closed browser tab).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from lib_ti.core.server_shutdown import watch_shutdown


@pytest.fixture
def serve():
    """Start a uvicorn server in a thread, as gradio does; yields ``(server, thread, port, entered)``."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    entered = threading.Event()

    async def stuck(request):  # noqa: ARG001 - a handler that waits for something that never happens
        entered.set()
        await asyncio.Event().wait()

    async def ok(request):  # noqa: ARG001
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/stuck", stuck), Route("/ok", ok)])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield server, thread, port, entered
    server.force_exit = server.should_exit = True
    thread.join(10)


def _request(port: int, path: str, *, wait_for_answer: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        return conn.recv(4096) if wait_for_answer else b""


def _abandon_a_stuck_request(port: int, entered: threading.Event) -> None:
    """A client starts ``/stuck`` and goes away while its handler waits (its socket closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(10), "the stuck handler never started"


@pytest.mark.parametrize("stuck, watchdog, stopped_within_s, forced", [
    (True, False, None, False),   # the host's own close: still hanging after 3 s (the fault, emulated)
    (True, True, 5.0, True),      # the watchdog forces it after its grace
    (False, True, 5.0, False),    # a shutdown that finishes on its own is left alone
])
def test_a_request_that_never_ends_cannot_hang_the_restart(serve, stuck, watchdog, stopped_within_s, forced):
    server, thread, port, entered = serve
    assert _request(port, "/ok", wait_for_answer=True).startswith(b"HTTP/1.1 200")
    if stuck:
        _abandon_a_stuck_request(port, entered)
    logged: list[str] = []
    if watchdog:
        watch_shutdown(server, thread, grace_s=1.0, poll_s=0.05, log=logged.append)
    asked = time.monotonic()
    server.should_exit = True  # gradio's Server.close, then thread.join() with no timeout
    thread.join(stopped_within_s if stopped_within_s is not None else 3.0)
    if stopped_within_s is None:
        assert thread.is_alive(), "uvicorn finished a shutdown with a request still running: the emulation is wrong"
    else:
        assert not thread.is_alive(), f"the server thread was still alive {time.monotonic() - asked:.1f} s later"
    assert bool(logged) is forced and server.force_exit is forced
    if forced:
        assert "forcing the shutdown" in logged[0]
        assert "requests that never ended: GET /stuck" in logged[0]  # which handler to look at


def test_the_watchdog_leaves_a_running_server_alone(serve):
    server, thread, port, _ = serve
    logged: list[str] = []
    dog = watch_shutdown(server, thread, grace_s=0.1, poll_s=0.02, log=logged.append)
    time.sleep(0.3)
    assert dog.is_alive() and not server.force_exit and not logged
    assert _request(port, "/ok", wait_for_answer=True).startswith(b"HTTP/1.1 200")


class _Tasks:
    def __init__(self, tasks):
        self.tasks = tasks


class _Server:
    def __init__(self, tasks):
        self.server_state = _Tasks(tasks)


class _NotACycle:
    def get_coro(self):
        return None


@pytest.mark.parametrize("server", [object(), _Server(None), _Server(set()), _Server([_NotACycle()])],
                         ids=["no-state", "no-tasks", "idle", "foreign-task"])
def test_open_requests_names_nothing_it_cannot_read(server):
    """Best effort: what does not look like uvicorn's request tasks is skipped, never raised."""
    from lib_ti.core.server_shutdown import open_requests

    assert open_requests(server) == []
