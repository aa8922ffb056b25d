"""Only TI Lab's own page may drive the standalone server: another web page the user has open is refused.

Why: gradio 3.41 answers every origin (``allow_origins=["*"]``) and its ``/queue/join`` websocket checks none, so
without this any site could write captions or start a run through a local TI Lab. On loopback the server also
answers only to loopback host names (a page that makes its own name resolve to 127.0.0.1 — DNS rebinding — would
otherwise be "same origin"). In-process, Starlette's test client: nothing listens on a network.
"""

from __future__ import annotations

import pytest

LOCAL = "127.0.0.1:7870"


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    from lib_ti.ui.standalone import build_app, make_context

    loopback = build_app(make_context("127.0.0.1", tmp_path_factory.mktemp("loopback")), loopback=True)
    shared = build_app(make_context("0.0.0.0", tmp_path_factory.mktemp("shared")), loopback=False)
    return {"loopback": loopback, "shared": shared}


def _client(app):
    from starlette.testclient import TestClient

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("server, host, origin, status", [
    ("loopback", LOCAL, None, 200),                                  # a script: no Origin
    ("loopback", LOCAL, f"http://{LOCAL}", 200),                     # TI Lab's own page
    ("loopback", "localhost:7870", "http://localhost:7870", 200),
    ("loopback", "[::1]:7870", "http://[::1]:7870", 200),
    ("loopback", LOCAL, "http://evil.example", 403),                 # another page
    ("loopback", LOCAL, "http://127.0.0.1:9999", 403),               # another local app's page
    ("loopback", LOCAL, "null", 403),                                # a sandboxed frame or a file:// page
    ("loopback", "evil.example:7870", "http://evil.example:7870", 403),  # DNS rebinding
    ("loopback", "evil.example:7870", None, 403),
    ("shared", "tilab.lan:7870", None, 200),                         # reachable by others: any name it has
    ("shared", "tilab.lan:7870", "http://tilab.lan:7870", 200),
    ("shared", "tilab.lan:7870", "http://evil.example", 403),
    ("loopback", "[::1", None, 403),                                 # hostile headers that do not parse
    ("shared", "tilab.lan:7870", "http://[", 403),
])
def test_requests_from_other_pages_and_host_names_are_refused(apps, server, host, origin, status):
    headers = {"host": host, **({"origin": origin} if origin else {})}
    response = _client(apps[server]).get("/tilab/api/settings", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        said = response.json()["error"]
        assert (host if not origin or host.startswith("evil.example") else origin) in said


def test_a_cross_origin_event_call_is_refused_before_gradio_runs_it(apps):
    response = _client(apps["loopback"]).post(
        "/run/predict", json={"fn_index": 0, "data": []},
        headers={"host": LOCAL, "origin": "http://evil.example"})
    assert response.status_code == 403
    assert response.json() == {"error": "Cross-origin request from 'http://evil.example' refused: only TI Lab's own "
                                        "page may call this server."}


@pytest.mark.parametrize("origin, accepted", [(f"http://{LOCAL}", True), ("http://evil.example", False)])
def test_the_queue_websocket_takes_only_ti_labs_own_page(apps, origin, accepted):
    from starlette.websockets import WebSocketDisconnect

    headers = {"host": LOCAL, "origin": origin}
    with _client(apps["loopback"]) as client:  # entered: the app's startup starts gradio's queue
        if accepted:
            with client.websocket_connect("/queue/join", headers=headers) as ws:
                assert ws.receive_json() == {"msg": "send_hash"}
        else:
            with pytest.raises(WebSocketDisconnect) as refused:
                with client.websocket_connect("/queue/join", headers=headers):
                    pass
            assert refused.value.code == 1008


def test_hostile_host_and_origin_headers_are_refused_never_raised():
    """Any bytes a client puts in ``Host`` or ``Origin`` (here the hostile strings, UTF-8 encoded) get an answer:
    on loopback, a host that is not a loopback name is refused; a differing origin always is."""
    from hardening.hostile import strings

    from lib_ti.ui.http_guard import origin_problem

    for text in strings(7, 150):
        raw = text.encode("utf-8", "surrogatepass")
        assert origin_problem({"headers": [(b"host", raw)]}, True) is not None or text.lower().startswith(
            ("localhost", "127.", "[::1]"))
        assert origin_problem({"headers": [(b"host", LOCAL.encode()), (b"origin", raw)]}, False) is not None
