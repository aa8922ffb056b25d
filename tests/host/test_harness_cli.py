"""``tools/real_host/harness.py`` refuses missing or wrong folders with a message naming what to give.

These run in the normal suite (standard library only, no host needed): the harness is the one command the next
person runs, so its refusals are specified here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from browser_support import REPO

HARNESS = REPO / "tools" / "real_host" / "harness.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("tilab_real_host_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run(monkeypatch, capsys):
    """``run(args, env)`` → (exit code, stdout, stderr) of the harness's ``main`` with only ``env`` as TILAB_HOST_*."""
    harness = load_harness()
    for key in [k for k in os.environ if k.startswith("TILAB_HOST_")]:
        monkeypatch.delenv(key)

    def call(args: list[str], env: dict | None = None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        code = harness.main(args)
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)
    return call


def fake_webui(root: Path) -> Path:
    """Just the files the harness checks for, so its repository check can be reached."""
    for rel in ("launch.py", "modules/launch_utils.py", "requirements_versions.txt", "configs/v1-inference.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("", encoding="utf-8")
    (root / "CHANGELOG.md").write_text("## 1.10.1\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("args, expected", [
    (["setup", "--home", "H"], "set TILAB_HOST_WEBUI"),
    (["setup", "--webui", "W"], "set TILAB_HOST_HOME"),
    (["launch", "--home", "H"], "set TILAB_HOST_WEBUI"),
    (["stop"], "set TILAB_HOST_HOME"),
])
def test_missing_folder_names_its_variable(run, args, expected):
    done = run(args)
    assert done.returncode == 2 and expected in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_not_a_webui_checkout_names_the_missing_file(run, tmp_path):
    done = run(["setup", "--webui", str(tmp_path), "--home", str(tmp_path / "h")])
    assert done.returncode == 2 and "is not a WebUI checkout: launch.py is missing" in done.stderr, done.stderr


def test_missing_repositories_are_listed_with_their_commits(run, tmp_path):
    webui = fake_webui(tmp_path / "webui")
    repos = tmp_path / "repos"
    (repos / "k-diffusion" / "k_diffusion").mkdir(parents=True)
    (repos / "k-diffusion" / "k_diffusion" / "sampling.py").write_text("", encoding="utf-8")
    done = run(["setup", "--webui", str(webui), "--repos", str(repos), "--home", str(tmp_path / "h")])
    assert done.returncode == 2, done.stderr
    assert "stable-diffusion-stability-ai: Stability-AI/stablediffusion at cf1d67a6" in done.stderr
    assert "k-diffusion:" not in done.stderr  # present, so linked rather than listed
    assert (webui / "repositories" / "k-diffusion").resolve() == (repos / "k-diffusion").resolve()
    assert not (tmp_path / "h").exists()  # nothing is set up before every input is there


def test_launch_before_setup_says_to_run_setup(run, tmp_path):
    webui = fake_webui(tmp_path / "webui")
    done = run(["launch"], {"TILAB_HOST_WEBUI": str(webui), "TILAB_HOST_HOME": str(tmp_path / "h")})
    assert done.returncode == 2 and "is not set up" in done.stderr and "run 'setup' first" in done.stderr, done.stderr


def test_stop_without_a_running_host(run, tmp_path):
    done = run(["stop", "--home", str(tmp_path)])
    assert done.returncode == 0 and "nothing to stop" in done.stdout, done.stdout
