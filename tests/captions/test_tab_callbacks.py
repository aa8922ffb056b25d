"""The tab's callbacks, called as gradio calls them (no browser): bad input becomes a message in the tab."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_ti.core.context import standalone_context


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    """The built Blocks, restricted to one allowed folder, and its callbacks by name."""
    from lib_ti.ui.app import build_blocks

    root = tmp_path_factory.mktemp("tab")
    (root / "allowed").mkdir()
    ctx = standalone_context(root / "data", allowed_roots=[str(root / "allowed")])
    blocks = build_blocks(ctx)
    fns = {}
    for dep in blocks.fns:
        fns.setdefault(getattr(dep.fn, "__name__", ""), dep.fn)
    return root, fns


@pytest.mark.parametrize(
    "folder, message",
    [("{root}/elsewhere", "outside the allowed folders"), ("{root}/allowed/missing", "does not exist"),
     ("", "No folder")],
)
def test_load_refusals_are_shown_not_raised(tab, folder, message):
    root, fns = tab
    out = fns["on_load"](folder.format(root=root))
    assert out[0] is None and message in out[1] and "tilab-error" in out[1]


def test_load_then_blur_save_by_key(tab, folder: Path):
    import shutil

    root, fns = tab
    target = root / "allowed" / "set"
    shutil.copytree(folder, target)
    session, status, *view = fns["on_load"](str(target))
    assert "4 images, 2 with a caption" in status
    assert view[2] == "a photo of a dog, red collar" and view[-1] == "img1.png"
    assert "Saved img2.txt" in fns["on_blur"](session, "img2.jpg", "edited\n")
    assert (target / "img2.txt").read_bytes() == b"edited\r\n"
    assert "not in the loaded folder" in fns["on_blur"](session, "gone.png", "x")
