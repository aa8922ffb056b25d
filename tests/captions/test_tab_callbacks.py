"""The tab's callbacks, called as gradio calls them (no browser): bad input becomes a message in the tab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lib_ti.core.context import standalone_context
from lib_ti.ui import captions_tab as tab


@pytest.fixture
def ctx(tmp_path):
    """A context restricted to one allowed folder (as when the UI is shared)."""
    (tmp_path / "allowed").mkdir()
    return standalone_context(tmp_path / "data", allowed_roots=[str(tmp_path / "allowed")])


@pytest.fixture
def loaded(ctx, tmp_path, folder: Path):
    target = tmp_path / "allowed" / "set"
    shutil.copytree(folder, target)
    session, status, *view = tab.on_load(ctx, str(target))
    return session, status, view, target


def test_the_tab_builds_with_module_level_callbacks(ctx):
    """Every callback the tab registers is a module-level function (or a thin binding of one)."""
    from lib_ti.ui.app import build_blocks

    blocks = build_blocks(ctx)
    names = {getattr(getattr(dep.fn, "func", dep.fn), "__name__", "") for dep in blocks.fns}
    assert {"on_load", "on_blur", "on_step", "on_apply", "on_undo", "on_stop"} <= names


@pytest.mark.parametrize(
    "folder_text, message",
    [("{root}/elsewhere", "outside the allowed folders"), ("{root}/allowed/missing", "does not exist"),
     ("", "No folder")],
)
def test_load_refusals_are_shown_not_raised(ctx, tmp_path, folder_text, message):
    out = tab.on_load(ctx, folder_text.format(root=tmp_path))
    assert out[0] is None and message in out[1] and "tilab-error" in out[1]


def test_load_then_blur_save_by_key(ctx, loaded):
    session, status, view, target = loaded
    assert "4 images, 2 with a caption" in status
    assert view[2] == "a photo of a dog, red collar" and view[-2] == "img1.png"
    assert "Saved img2.txt" in tab.on_blur(session, "img2.jpg", "edited\n")
    assert "unchanged" in tab.on_blur(session, "img2.jpg", "edited\n")  # a save always confirms
    assert (target / "img2.txt").read_bytes() == b"edited\r\n"
    assert "not in the loaded folder" in tab.on_blur(session, "gone.png", "x")


def test_loaded_folders_are_listed_as_recent(ctx, loaded):
    *_, target = loaded
    from lib_ti.ui.workspace import recent_folders

    assert recent_folders(ctx.data_dir) == [str(target)]


def test_count_refreshes_after_a_bulk_edit_and_undo(ctx, loaded):
    session, _status, view, _target = loaded
    assert "2 of 4 with a caption" in view[6]
    fields = [tab.edits.OPERATIONS["append"], "sunny", "", False, False, True, ", ", 0, tab.SCOPES[0]]
    result, *nav, stats_html = tab.on_apply(ctx, session, 0, "img1.png", session.current().text, *fields)
    assert "Applied: changed 4 captions" in result and "4 of 4 with a caption" in nav[6]
    assert "4 of 4 images have a caption" in stats_html
    result, *nav, stats_html = tab.on_undo(ctx, session, 0)
    assert "Restored" in result and "2 of 4 with a caption" in nav[6]


@pytest.mark.parametrize("whole_word, expected", [(True, "a t-shirt and a t-shirt"),
                                                  (False, "a t-t-shirt and a t-shirt")])
def test_whole_word_replace(whole_word, expected):
    op = tab.operation(tab.edits.OPERATIONS["replace"], "shirt", "t-shirt", False, False, whole_word, ", ", 0)
    assert op("a t-shirt and a shirt") == expected


def test_blip_without_weights_says_what_is_missing(ctx, loaded, tmp_path):
    session, *_ = loaded
    not_a_model = tmp_path / "allowed" / "empty-model"
    not_a_model.mkdir()
    status, *nav, _stats = tab.on_caption(ctx, session, 0, str(not_a_model), "keep")
    assert "tilab-error" in status and "config.json and model.safetensors" in status


class _BrokenHostBlip:
    """What the host's interrogator does when its BLIP download failed (IndexError in modules/interrogate.py)."""

    def load(self):
        raise IndexError("list index out of range")

    def generate_caption(self, image):  # pragma: no cover - never reached
        return ""


def test_host_blip_failure_is_reported_not_raised(ctx, loaded):
    session, *_ = loaded
    ctx.in_host = True
    ctx.get_captioner = _BrokenHostBlip
    status, *_rest = tab.on_caption(ctx, session, 0, "", "ignore")
    assert "IndexError" in status and "models/BLIP" in status and "tilab-error" in status


def test_blip_replacing_captions_backs_them_up_and_undoes(ctx, loaded, tiny_blip):
    session, _status, _view, target = loaded
    shutil.copytree(tiny_blip, target.parent / "blip")
    before = (target / "img1.txt").read_text()
    status, *nav, _stats = tab.on_caption(ctx, session, 0, str(target.parent / "blip"), "ignore",
                                          only_current=True)
    assert "Captioned 1 image" in status and "backed up" in status
    backup = next((ctx.data_dir / tab.BACKUPS).glob("*.json"))
    assert json.loads(backup.read_text())["captions"] == {"img1.png": before}
    assert (target / "img1.txt").read_text() != before
    tab.on_undo(ctx, session, 0)
    assert (target / "img1.txt").read_text() == before


def test_keep_is_the_default_existing_mode():
    assert tab.EXISTING[0] == "keep"


def test_set_aside_and_put_back(ctx, loaded):
    session, _status, _view, target = loaded
    assert session.current().image.name == "img1.png"
    session, records, *nav, stats_html = tab.on_exclude(ctx, session, 0, "img1.png", "a photo of a dog, red collar",
                                                        [])
    assert "Set aside img1.png, img1.txt" in nav[4] and "1 of 3 with a caption" in nav[6]
    assert (target / "_excluded" / "img1.png").is_file() and not (target / "img1.png").exists()
    assert "img1.png" not in session.keys() and len(records) == 1
    session, records, *nav, _stats = tab.on_put_back(ctx, session, 0, records)
    assert "Put img1.png back" in nav[4] and records == []
    assert (target / "img1.txt").read_text() == "a photo of a dog, red collar"
    assert session.current().image.name == "img1.png"
    *_, nav4 = tab.on_put_back(ctx, session, 0, [])[:7]
    assert "Nothing set aside" in nav4
