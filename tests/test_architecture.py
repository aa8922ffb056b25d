"""Layout rules: only lib_ti/host.py touches the host; the core imports without torch or gradio."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = sorted(p for p in (REPO / "lib_ti").rglob("*.py") if p.name != "host.py")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", CORE, ids=[str(p.relative_to(REPO)) for p in CORE])
def test_core_never_imports_the_host(path):
    assert "modules" not in _imported_roots(path)


def test_top_level_layout():
    for name in ("install.py", "scripts", "javascript", "lib_ti", "tests", "README.md"):
        assert (REPO / name).exists(), name


def test_scripts_entry_is_thin():
    for script in (REPO / "scripts").glob("*.py"):
        assert _imported_roots(script) <= {"lib_ti"}, script


def test_cli_help_starts_without_heavy_imports():
    code = ("import sys, lib_ti.cli as c; c.build_parser(); "
            "print(','.join(m for m in ('torch','gradio','cv2','transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
