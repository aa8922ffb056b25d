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


# The folder list is the feature list; each package may import only the packages below it (and itself).
LAYERS = {
    "core": 0,
    "schedule": 1, "emphasis": 1,
    "dataset": 2, "captions": 2,
    "model": 3,
    "training": 4, "demo": 4,
    "ui": 5,
    "commands": 6, "cli": 6,
    "host": 6, "__main__": 7,
}


def _lib_ti_targets(path: Path) -> set[str]:
    """The first-level ``lib_ti`` packages a module imports (relative imports resolved)."""
    rel = path.relative_to(REPO / "lib_ti").with_suffix("")
    pkg = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                parts = base + (node.module.split(".") if node.module else [])
                if not parts:  # from . import x (top-level)
                    parts = [alias.name for alias in node.names]
                targets |= {parts[0]}
            elif node.module and node.module.startswith("lib_ti."):
                targets.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            targets |= {a.name.split(".")[1] for a in node.names if a.name.startswith("lib_ti.")}
    return targets - {"__init__"}


def _package_of(path: Path) -> str:
    rel = path.relative_to(REPO / "lib_ti")
    return rel.parts[0].removesuffix(".py")


LIB = sorted(p for p in (REPO / "lib_ti").rglob("*.py") if p.name != "__init__.py" or p.parent != REPO / "lib_ti")


@pytest.mark.parametrize("path", LIB, ids=[str(p.relative_to(REPO)) for p in LIB])
def test_imports_point_down(path):
    own = _package_of(path)
    assert own in LAYERS, f"{own}: a new top-level package needs a layer in LAYERS"
    for target in _lib_ti_targets(path) - {own}:
        if target not in LAYERS:
            continue  # a module attribute such as __version__
        assert LAYERS[target] < LAYERS[own], f"{path.relative_to(REPO)} imports lib_ti.{target} (not below {own})"


def test_production_never_imports_test_helpers():
    helpers = {p.stem for p in (REPO / "tests").glob("*.py")} - {"conftest"}
    for path in (REPO / "lib_ti").rglob("*.py"):
        assert not (_imported_roots(path) & (helpers | {"tests"})), path


def test_top_level_of_lib_ti_is_the_feature_list():
    """Only packages (features) and the three entry modules sit at the top of lib_ti."""
    loose = sorted(p.name for p in (REPO / "lib_ti").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "cli.py", "host.py"]
