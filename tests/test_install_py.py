"""install.py asks the host to pip-install only what is missing, and never torch."""

import runpy
import sys
import types
from pathlib import Path

import pytest

INSTALL = Path(__file__).resolve().parents[1] / "install.py"


@pytest.mark.parametrize("installed,expected", [
    ({"imagehash"}, []),
    (set(), ["install ImageHash"]),
])
def test_installs_only_missing(monkeypatch, installed, expected):
    pips = []
    launch = types.ModuleType("launch")
    launch.is_installed = lambda name: name in installed
    launch.run_pip = lambda cmd, desc: pips.append(cmd)
    monkeypatch.setitem(sys.modules, "launch", launch)
    runpy.run_path(str(INSTALL))
    assert pips == expected
    assert not any("torch" in cmd for cmd in pips)
