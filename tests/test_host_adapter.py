"""lib_ti.host against a stand-in for the host's modules (the real host run is in the README's notes).

The stand-in records calls exactly where the host's API would receive them, so these
tests pin what TI Lab asks of the host: a tab per UI build, a settings section whose
floats carry an explicit component (the host raises "bad options item type" otherwise),
and the HTTP routes.
"""

import sys
import types
from pathlib import Path

import pytest

from lib_ti.core.settings import SECTION, SPECS


class _OptionInfo:
    def __init__(self, default=None, label="", component=None, component_args=None, section=None, **kw):
        self.default, self.label, self.component, self.component_args = default, label, component, component_args
        self.section, self.kw, self.comment = section, kw, None

    def info(self, text):
        self.comment = text
        return self


@pytest.fixture
def fake_host(monkeypatch, tmp_path):
    calls = {"ui_tabs": [], "ui_settings": [], "app_started": []}
    options = {}
    modules = types.ModuleType("modules")
    sc = types.ModuleType("modules.script_callbacks")
    sc.on_ui_tabs = calls["ui_tabs"].append
    sc.on_ui_settings = calls["ui_settings"].append
    sc.on_app_started = calls["app_started"].append
    shared = types.ModuleType("modules.shared")
    shared.OptionInfo = _OptionInfo
    shared.opts = types.SimpleNamespace(data={}, add_option=lambda k, info: options.__setitem__(k, info))
    shared.cmd_opts = types.SimpleNamespace(listen=False, share=False, ngrok=None, server_name=None,
                                            enable_insecure_extension_access=False,
                                            embeddings_dir=str(tmp_path / "embeddings"),
                                            textual_inversion_templates_dir=str(tmp_path / "templates"))
    paths_internal = types.ModuleType("modules.paths_internal")
    paths_internal.data_path = str(tmp_path)
    for name, mod in {"modules": modules, "modules.script_callbacks": sc, "modules.shared": shared,
                      "modules.paths_internal": paths_internal}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    modules.script_callbacks, modules.shared, modules.paths_internal = sc, shared, paths_internal
    return types.SimpleNamespace(calls=calls, options=options, shared=shared, data=tmp_path)


def test_register_hooks_the_three_callbacks(fake_host):
    from lib_ti import host

    host.register()
    assert [len(v) for v in fake_host.calls.values()] == [1, 1, 1]


def test_settings_section_components(fake_host):
    import gradio as gr

    from lib_ti import host

    host.register_settings()
    assert set(fake_host.options) == {s.key for s in SPECS}
    for spec in SPECS:
        info = fake_host.options[spec.key]
        assert info.section == SECTION and isinstance(info.section, tuple)
        if isinstance(spec.default, float):
            assert info.component is gr.Slider, spec.key
        if spec.kind == "choice":
            assert info.component is gr.Radio and info.component_args["choices"] == list(spec.choices)


def test_ui_tabs_builds_fresh_blocks_each_time(fake_host):
    from lib_ti import host

    first, second = host.ui_tabs(), host.ui_tabs()
    assert first[0][1:] == ("TI Lab", "tilab")
    assert first[0][0] is not second[0][0]


def test_guard_follows_host_flags_and_settings(fake_host, tmp_path_factory):
    from lib_ti import host
    from lib_ti.core.paths import PathRefused

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    ctx = host.host_context()
    assert ctx.guard.check(str(elsewhere))
    fake_host.shared.cmd_opts.listen = True
    with pytest.raises(PathRefused, match="shared with other machines") as err:
        ctx.guard.check(str(elsewhere))
    assert "'Allowed folders when the UI is shared'" in str(err.value)
    assert ctx.guard.check(str(fake_host.data / "x"))
    fake_host.shared.opts.data["tilab_allowed_roots"] = str(elsewhere)
    assert ctx.guard.check(str(elsewhere))


def test_app_started_adds_routes(fake_host):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_ti import host

    app = FastAPI()
    fake_host.shared.opts.data["tilab_preset_weights"] = "0.7"
    host.on_app_started(None, app)
    assert TestClient(app).get("/tilab/api/settings").json()["weights"] == [0.7]


def test_app_started_bounds_the_servers_shutdown(fake_host, monkeypatch):
    """Reload UI closes gradio's server and joins it with no timeout; TI Lab forces a shutdown stuck past its grace
    (the mechanism itself, on a real uvicorn server, is specified in tests/core/test_server_shutdown.py)."""
    import threading
    import time

    from fastapi import FastAPI

    from lib_ti import host
    from lib_ti.core import server_shutdown

    monkeypatch.setattr(server_shutdown, "SHUTDOWN_GRACE_S", 0.2)
    stop = threading.Event()
    server = types.SimpleNamespace(should_exit=False, force_exit=False)
    server.thread = threading.Thread(target=lambda: stop.wait(10) or None, daemon=True)  # a shutdown that hangs
    server.thread.start()
    host.on_app_started(types.SimpleNamespace(server=server), FastAPI())
    time.sleep(0.6)
    assert server.force_exit is False  # running: left alone
    server.should_exit = True
    deadline = time.monotonic() + 5
    while not server.force_exit and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    assert server.force_exit is True


def test_host_context_uses_the_hosts_folders(fake_host):
    """Embeddings land in the host's --embeddings-dir; the host's own templates are found by name."""
    from lib_ti import host
    from lib_ti.training.templates import resolve_template

    tdir = fake_host.data / "templates"
    tdir.mkdir()
    (tdir / "my_host_style.txt").write_text("a painting in the style of [name]\n", encoding="utf-8")
    ctx = host.host_context()
    assert ctx.in_host and ctx.embeddings_folder() == fake_host.data / "embeddings"
    assert resolve_template("my_host_style", ctx.template_dirs) == tdir / "my_host_style.txt"


@pytest.mark.parametrize("inside, registered_alone", [(True, False), (False, True)])
def test_a_saved_embedding_is_usable_in_txt2img_at_once(fake_host, monkeypatch, tmp_path, inside, registered_alone):
    """The host's database is force-reloaded; a file outside its folders is registered on its own."""
    from lib_ti import host

    calls = []
    loaded: dict = {}

    def reload(force_reload=False):  # the host loads what its folders hold
        calls.append(("reload", force_reload))
        for d in db.embedding_dirs:
            loaded.update({p.stem: p for p in Path(d).glob("*.pt")})

    def load_from_file(path, name):
        calls.append(("file", name))
        loaded[Path(path).stem] = path

    db = types.SimpleNamespace(embedding_dirs=[str(fake_host.data / "embeddings")], word_embeddings=loaded,
                               skipped_embeddings={}, load_textual_inversion_embeddings=reload,
                               load_from_file=load_from_file)
    hijack = types.ModuleType("modules.sd_hijack")
    hijack.model_hijack = types.SimpleNamespace(embedding_db=db)
    monkeypatch.setitem(sys.modules, "modules.sd_hijack", hijack)
    monkeypatch.setattr(sys.modules["modules"], "sd_hijack", hijack, raising=False)
    folder = fake_host.data / "embeddings" if inside else tmp_path / "elsewhere"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zork.pt").write_bytes(b"")
    ctx = host.host_context()
    assert ctx.on_embedding_saved(folder / "zork.pt") == "zork"
    assert calls[0] == ("reload", True)
    assert (("file", "zork.pt") in calls) is registered_alone


def test_only_exclusive_jobs_use_the_hosts_progress_bar(fake_host):
    from lib_ti import host
    from lib_ti.ui import jobs_ui

    ctx = host.host_context()
    assert isinstance(jobs_ui.start(ctx, "check").sink, jobs_ui.GradioSink)
    assert isinstance(jobs_ui.start(ctx, "train", exclusive=True).sink, host.HostProgressSink)


@pytest.mark.parametrize("interrupted,stopping,expected", [
    (False, False, False),
    (True, False, True),
    (False, True, True),   # the host's Interrupt for multi-step jobs with "Don't Interrupt in the middle" on
])
def test_host_progress_sink_obeys_the_hosts_interrupt(fake_host, interrupted, stopping, expected):
    from lib_ti import host

    calls = []
    fake_host.shared.state = types.SimpleNamespace(
        interrupted=False, stopping_generation=False, job_count=0, job_no=0, textinfo="",
        begin=lambda job: calls.append(("begin", job)), end=lambda: calls.append(("end",)))
    sink = host.training_progress_sink("train")
    assert sink.interrupted() is False  # flags left over from an earlier job don't count before begin
    sink.begin(40, "Training")
    fake_host.shared.state.interrupted, fake_host.shared.state.stopping_generation = interrupted, stopping
    assert sink.interrupted() is expected
    sink.update(3, 40, "loss 1.0")
    assert fake_host.shared.state.job_no == 3 and fake_host.shared.state.job_count == 40
    sink.end()
    assert calls == [("begin", "tilab-train"), ("end",)]


@pytest.fixture()
def host_with_model(fake_host, monkeypatch, tiny_sd_model):
    """The fake host with a loaded model, ``modules.devices`` and ``modules.rng`` (the host's names)."""
    import torch

    devices = types.ModuleType("modules.devices")
    devices.device = torch.device("cpu")
    rng = types.ModuleType("modules.rng")
    made = []

    class ImageRNG:  # records what the preview sampler asks the host's rng for
        def __init__(self, shape, seeds):
            made.append((tuple(shape), list(seeds)))
            self.gens = [torch.Generator().manual_seed(s) for s in seeds]

        def next(self):
            return torch.stack([torch.randn(made[0][0], generator=g) for g in self.gens])

    rng.ImageRNG = ImageRNG
    for name, mod in {"modules.devices": devices, "modules.rng": rng}.items():
        monkeypatch.setitem(sys.modules, name, mod)
        setattr(sys.modules["modules"], name.split(".")[1], mod)
    fake_host.shared.sd_model = tiny_sd_model
    fake_host.shared.opts.comma_padding_backtrack = 20
    return types.SimpleNamespace(devices=devices, made=made)


@pytest.fixture(scope="module")
def tiny_sd_model(tmp_path_factory):
    from sdkit import build_tiny_sd

    return build_tiny_sd("sd1", workdir=tmp_path_factory.mktemp("tiny"), seed=0)


def test_host_backend_computes_on_the_hosts_device_with_the_hosts_noise(host_with_model):
    from lib_ti import host
    from lib_ti.model.sampling import sample_images

    backend = host.host_sd_backend()
    assert backend.device is not None and backend.device == host_with_model.devices.device
    host_with_model.devices.device = __import__("torch").device("meta")  # the host's device, whatever it is
    assert host.host_sd_backend().device.type == "meta"
    sample_images(backend, ["a photo"], steps=2, seed=5, width=64, height=64)
    assert host_with_model.made == [((4, 8, 8), [5])]


def test_host_backend_refuses_an_inpainting_model(host_with_model, tmp_path):
    from lib_ti import host
    from sdkit import _instantiate, tiny_config

    cfg = tiny_config("sd1", workdir=tmp_path)
    cfg.model.params.conditioning_key = "hybrid"
    cfg.model.params.unet_config.params.in_channels = 9
    sys.modules["modules.shared"].sd_model = _instantiate(cfg, 0)
    with pytest.raises(ValueError, match="an inpainting model"):
        host.host_sd_backend()


def test_train_route_trains_inside_the_host_and_reports_timers(host_with_model, fake_host, monkeypatch, tmp_path):
    """``POST /tilab/api/train`` (with ``--api``): the host's model, lock and progress state; timers and memory."""
    import threading

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from lib_ti import host

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "training"))
    from conftest import write_images

    states = []
    fake_host.shared.state = types.SimpleNamespace(
        interrupted=False, stopping_generation=False, job_count=0, job_no=0, textinfo="",
        begin=lambda job: states.append(("begin", job)), end=lambda: states.append(("end",)))
    call_queue = types.ModuleType("modules.call_queue")
    call_queue.queue_lock = threading.Lock()
    monkeypatch.setitem(sys.modules, "modules.call_queue", call_queue)
    sys.modules["modules"].call_queue = call_queue
    emb_dir = fake_host.data / "embeddings"
    db = types.SimpleNamespace(embedding_dirs=[str(emb_dir)], skipped_embeddings={}, word_embeddings={})
    db.load_textual_inversion_embeddings = lambda force_reload: db.word_embeddings.update(
        {p.stem: p for p in emb_dir.glob("*.pt")})
    sd_hijack = types.ModuleType("modules.sd_hijack")
    sd_hijack.model_hijack = types.SimpleNamespace(embedding_db=db)
    monkeypatch.setitem(sys.modules, "modules.sd_hijack", sd_hijack)
    sys.modules["modules"].sd_hijack = sd_hijack
    fake_host.shared.cmd_opts.api = True
    app = FastAPI()
    host.on_app_started(None, app)
    client = TestClient(app)
    data = write_images(tmp_path / "data", n=2)
    body = {"name": "routezork", "data_dir": str(data), "steps": 3, "width": 64, "height": 64,
            "learn_rate": "0.01", "save_every": 0, "preview_every": 0, "eval_every": 0}
    out = client.post("/tilab/api/train", json=body).json()
    assert out["status"] == "finished" and out["step"] == 3, out
    assert len(out["step_s"]) == 3 and all(s > 0 for s in out["step_s"])
    assert 0 <= out["setup_s"] < out["total_s"] and sum(out["step_s"]) < out["total_s"]
    assert out["precision"].startswith("Precision: fp32 on cpu") and out["rss_peak_bytes"] > 0
    assert (emb_dir / "routezork.pt").is_file() and "routezork" in db.word_embeddings  # usable in txt2img at once
    assert states == [("begin", "tilab-train"), ("end",)] and not call_queue.queue_lock.locked()
    refused = client.post("/tilab/api/train", json={**body, "embeddings_dir": "/elsewhere"}).json()
    assert "cannot be set over HTTP" in refused["error"]
    assert "Unknown training settings: bogus" in client.post("/tilab/api/train", json={**body, "bogus": 1}).json()["error"]
    assert client.post("/tilab/api/memory").json()["rss_peak_bytes"] > 0
