"""Every HTTP endpoint of the standalone server, as a shared server (``--host 0.0.0.0``), against a hostile client.

In-process (Starlette's test client: nothing listens on a network). Passes when no request gets a 500 and
``/file=`` serves only what TI Lab produced for display: never a file of the working directory, never a
link's target outside the data folder, never the settings file.
"""

from __future__ import annotations

import json
import os
import random
from urllib.parse import quote

import pytest

from hardening.hostile import json_value, strings

SEED = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from starlette.testclient import TestClient

    from lib_ti.ui.standalone import build_app, make_context

    root = tmp_path_factory.mktemp("shared")
    data = root / "data"
    (data / "checks").mkdir(parents=True)
    (data / "checks" / "report.html").write_text("<p>report</p>")
    (data / "tilab-settings.json").write_text("{}")
    (root / "secret.txt").write_text("root:x:0:0")
    os.symlink(root / "secret.txt", data / "checks" / "leak.html")  # a display name linking out
    os.symlink(root / "secret.txt", data / "checks" / "link.png")
    ctx = make_context("0.0.0.0", data)
    assert ctx.guard.restricted
    app = build_app(ctx, loopback=False)
    client = TestClient(app, raise_server_exceptions=False)
    return client, app, root, data


def _no_500(response, what) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:300])


def test_file_route_serves_only_display_files_of_the_data_folder(server, monkeypatch):
    client, _app, root, data = server
    monkeypatch.chdir(root)  # gradio would serve anything under the working directory
    allowed = client.get(f"/file={data / 'checks' / 'report.html'}")
    assert allowed.status_code == 200 and "report" in allowed.text
    refused = [str(root / "secret.txt"), "secret.txt", "./secret.txt", str(data / "tilab-settings.json"),
               str(data / "checks" / "leak.html"), str(data / "checks" / "link.png"), "/etc/passwd",
               f"{data}/checks/../../secret.txt", str(data), "pyproject.toml"]
    for path in refused:
        for prefix in ("/file=", "/file/"):
            response = client.get(prefix + path)
            assert response.status_code in (403, 404), (path, response.status_code)
            assert "root:x" not in response.text


def test_file_route_fuzz(server):
    client, _app, root, data = server
    rng = random.Random(SEED)
    cases = 0
    for s in strings(SEED, 300):
        for path in (s, f"{data}/{s}", f"{root}/{s}"):
            if rng.random() < 0.3:
                path = path.replace("/", "%2F")
            response = client.get("/file=" + quote(path.encode("utf-8", "surrogatepass"), safe="/%"))
            _no_500(response, path)
            assert "root:x" not in response.text
            cases += 1
    assert cases >= 900


def test_api_routes_fuzz(server):
    client, _app, _root, _data = server
    rng = random.Random(SEED)
    bodies = [json.dumps(json_value(rng), ensure_ascii=False).encode("utf-8", "surrogatepass") for _ in range(500)]
    bodies += [json.dumps({"prompt": s, "start": 0, "end": len(s), "weight": 1.2}).encode() for s in strings(SEED, 200)]
    bodies += [b"[" * 100_000, b"\xff\xfe", b"", b"NaN", b'{"prompt": "a", "weight": NaN}',
               b'{"prompt": "a cat", "start": 1e400, "weight": 1}', b'{"prompt": "a", "weight": "nan"}']
    for body in bodies:
        response = client.post("/tilab/api/emphasis/rewrite", content=body)
        _no_500(response, body[:80])
        assert response.status_code == 200 and isinstance(response.json(), dict)
    nan = client.post("/tilab/api/emphasis/rewrite", json={"prompt": "a cat", "start": 2, "end": 5, "weight": "nan"})
    assert "finite" in nan.json()["error"]
    for path in ("/tilab/api/settings", "/tilab/static/tilab.js", "/config", "/info", "/", "/theme.css"):
        _no_500(client.get(path), path)
    upload = client.post("/upload", files={"files": ("x.png", b"\x89PNG fill the disk", "image/png")})
    assert upload.status_code == 403
    assert len(bodies) >= 700


def _envelopes(app_blocks, rng):
    n = len(app_blocks.dependencies)
    yield {"fn_index": n + 5, "data": []}
    yield {"fn_index": -1, "data": []}
    yield {"fn_index": "0", "data": []}
    yield {"fn_index": True, "data": []}
    yield {"data": []}
    yield {"fn_index": 0, "data": "not a list"}
    yield {"fn_index": 0, "data": [None] * 99}
    yield {"fn_index": 0, "data": [], "request": {"evil": 1}}
    yield {"fn_index": 0, "data": [], "event_data": {"no": "index"}}
    yield {"fn_index": 0, "data": [], "batched": True}
    for _ in range(40):
        yield json_value(rng)


def test_event_calls_with_malformed_envelopes_are_400_not_500(server):
    client, app, _root, _data = server
    blocks = _blocks(app)
    rng = random.Random(SEED)
    for body in _envelopes(blocks, rng):
        for path in ("/run/predict", "/api/predict", "/run/nope"):
            response = client.post(path, content=json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"))
            _no_500(response, (path, body))
    assert client.post("/run/predict", content=b"[" * 100_000).status_code == 400


def _blocks(app):
    from gradio.routes import App

    for route in app.routes:
        sub = getattr(route, "app", None)
        if isinstance(sub, App):
            return sub.get_blocks()
    raise AssertionError("gradio app not mounted")


def test_every_event_handler_with_hostile_text_inputs(server):
    """Each event of every tab, called with hostile strings in its text inputs and defaults elsewhere: the
    callbacks must answer with a message (or refuse the types with 400), never fail with a 500."""
    import gradio as gr

    client, app, root, _data = server
    blocks = _blocks(app)
    hostile = [s for s in strings(SEED, 0)] + [str(root / "secret.txt"), str(root), "/", str(root / "nowhere")]
    calls = 0
    for index, dep in enumerate(blocks.dependencies):
        if dep.get("cancels") or dep.get("js") and not dep.get("backend_fn", True):
            continue
        comps = [blocks.blocks[i] for i in dep["inputs"]]
        for s in hostile[:: max(1, len(hostile) // 6)]:
            data = [s if isinstance(c, gr.Textbox) else getattr(c, "value", None) for c in comps]
            response = client.post("/run/predict", json={"fn_index": index, "data": data, "session_hash": "fz"})
            _no_500(response, (index, [type(c).__name__ for c in comps], s))
            assert "root:x" not in response.text
            calls += 1
    assert calls > 0
