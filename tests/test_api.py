"""The prompt-box API: the JavaScript sends a selection, Python rewrites it."""

import pytest

from lib_ti.ui.api import PREFIX, add_routes, client_settings, rewrite_request
from lib_ti.core.settings import Settings


@pytest.mark.parametrize("body,settings,expected", [
    ({"prompt": "a cat sits", "start": 3, "end": 3, "weight": 0.62}, {}, "a (cat:0.62) sits"),
    ({"prompt": "a cat sits", "start": 2, "end": 5, "weight": 0.62}, {"tilab_emphasis_output": "brackets"},
     "a [[[[[cat]]]]] sits"),
    ({"prompt": "a cat sits", "start": 2, "end": 5, "weight": 1.1, "style": "brackets"}, {}, "a (cat) sits"),
])
def test_rewrite_request(body, settings, expected):
    assert rewrite_request(body, Settings(settings))["prompt"] == expected


@pytest.mark.parametrize("body,fragment", [
    ({"prompt": "a", "start": 0, "end": 0}, "weight"),
    ({"prompt": "a", "start": 5, "end": 9, "weight": 1}, "outside the prompt"),
    ({"prompt": "a", "weight": "heavy"}, "could not convert"),
    ({"prompt": "a", "weight": 1, "style": "bold"}, "Unknown style"),
])
def test_rewrite_request_errors(body, fragment):
    assert fragment in rewrite_request(body, Settings({}))["error"]


def test_client_settings_parse_weights():
    got = client_settings(Settings({"tilab_preset_weights": "0.8, x, 1.2, -1", "tilab_preset_shortcut": "false"}))
    assert got == {"weights": [0.8, 1.2], "style": "explicit", "shortcut": False}


def test_routes_on_a_fastapi_app():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    add_routes(app, lambda: Settings({}))
    client = TestClient(app)
    r = client.post(f"{PREFIX}/emphasis/rewrite", json={"prompt": "a cat", "start": 2, "end": 5, "weight": 0.5})
    assert r.json()["prompt"] == "a (cat:0.5)"
    assert client.get(f"{PREFIX}/settings").json()["weights"] == [0.5, 0.62, 0.75, 0.9, 1.1, 1.3]


def test_rewrite_route_answers_hostile_bodies_without_500():
    """Issue 10: a lone surrogate, NaN, deep JSON or a non-object body is an answer, not HTTP 500."""
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from lib_ti.core.settings import Settings
    from lib_ti.ui.api import PREFIX, add_routes

    app = FastAPI()
    add_routes(app, Settings)
    client = TestClient(app, raise_server_exceptions=False)
    for body in (b'{"prompt": "\\ud800 cat", "start": 6, "end": 9, "weight": 1.2}', b"[" * 50_000, b"[]", b"NaN",
                 b'{"prompt": "a cat", "start": 2, "end": 5, "weight": "nan"}', b"\xff", b'{"weight": 1e400}'):
        response = client.post(f"{PREFIX}/emphasis/rewrite", content=body)
        assert response.status_code == 200, body
        assert isinstance(response.json(), dict)
    answer = client.post(f"{PREFIX}/emphasis/rewrite", content=b'{"prompt": "a cat", "start": 2, "end": 5, "weight": "nan"}')
    assert "finite" in answer.json()["error"]
