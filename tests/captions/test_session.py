"""A loaded folder: order, navigation, filters, bulk apply with conflicts, and the one-step undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lib_ti.captions.edits import Prepend, Replace
from lib_ti.captions.session import CaptionSession
from lib_ti.captions.sidecar import CaptionError, ConflictError


def test_open_lists_images_in_natural_order(folder: Path):
    s = CaptionSession.open(folder)
    assert s.keys() == ["img1.png", "img2.jpg", "img3.webp", "img10.png"]
    assert s.captions() == {"img1.png": "a photo of a dog, red collar", "img2.jpg": "a dog on grass, red collar\n",
                            "img3.webp": "", "img10.png": ""}


def test_open_refuses_a_file(folder: Path):
    with pytest.raises(CaptionError, match="not a folder"):
        CaptionSession.open(folder / "img1.png")


@pytest.mark.parametrize("start, delta, expected", [(0, 1, 1), (3, 1, 0), (0, -1, 3), (2, -1, 1)])
def test_step_wraps_around(folder: Path, start, delta, expected):
    s = CaptionSession.open(folder)
    s.select(start)
    s.step(delta)
    assert s.index == expected


def test_filter_limits_navigation(folder: Path):
    s = CaptionSession.open(folder)
    assert s.set_filter("missing") == 2
    assert s.filtered_keys() == ["img3.webp", "img10.png"]
    assert s.index == 2
    assert s.step(1).image.name == "img10.png"
    assert s.step(1).image.name == "img3.webp"


def test_save_writes_and_keeps_crlf(folder: Path):
    s = CaptionSession.open(folder)
    assert s.save(1, "a dog on grass\n") == "Saved img2.txt."
    assert (folder / "img2.txt").read_bytes() == b"a dog on grass\r\n"
    assert s.save(1, "a dog on grass\n") == ""  # unchanged: no write


def test_bulk_apply_then_undo_restores_bytes(folder: Path):
    s = CaptionSession.open(folder)
    before = {p.name: p.read_bytes() for p in folder.glob("*.txt")}
    changes, result = s.apply(Replace("red collar", "blue scarf"))
    assert [c.key for c in changes] == ["img1.png", "img2.jpg"]
    assert result.written == ["img1.png", "img2.jpg"] and not result.refused
    assert (folder / "img2.txt").read_bytes() == b"a dog on grass, blue scarf\r\n"
    undo = s.undo()
    assert undo.written == ["img1.png", "img2.jpg"]
    assert {p.name: p.read_bytes() for p in folder.glob("*.txt")} == before
    with pytest.raises(CaptionError, match="Nothing to undo"):
        s.undo()


def test_undo_removes_caption_files_the_bulk_edit_created(folder: Path):
    s = CaptionSession.open(folder)
    s.apply(Prepend("[name]"))
    assert (folder / "img10.txt").read_text() == "[name]"
    assert (folder / "img3.txt").read_text() == "[name]"
    s.undo()
    assert not (folder / "img10.txt").exists()
    assert (folder / "img3.txt").read_bytes() == b""  # existed (empty) before: kept, not removed


def test_bulk_on_filtered_subset_only(folder: Path):
    s = CaptionSession.open(folder)
    s.set_filter("contains", "grass")
    changes, _ = s.apply(Prepend("[name]"), only_filtered=True)
    assert [c.key for c in changes] == ["img2.jpg"]
    assert (folder / "img1.txt").read_text() == "a photo of a dog, red collar"


def test_bulk_edit_never_overwrites_a_file_changed_on_disk(folder: Path):
    s = CaptionSession.open(folder)
    (folder / "img1.txt").write_text("edited elsewhere, red collar")
    st = os.stat(folder / "img1.txt")
    os.utime(folder / "img1.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changes, result = s.apply(Replace("red collar", "blue scarf"))
    assert result.written == ["img2.jpg"]
    assert len(result.refused) == 1 and "img1.txt was changed on disk" in result.refused[0]
    assert (folder / "img1.txt").read_text() == "edited elsewhere, red collar"
    assert "Not written (1)" in result.message()
    s.undo()  # undo touches only what the edit wrote
    assert (folder / "img1.txt").read_text() == "edited elsewhere, red collar"
    assert (folder / "img2.txt").read_bytes() == b"a dog on grass, red collar\r\n"


def test_undo_leaves_captions_edited_after_the_bulk_edit(folder: Path):
    s = CaptionSession.open(folder)
    s.apply(Replace("red", "blue"))
    s.save(0, "my own words")
    result = s.undo()
    assert result.written == ["img2.jpg"]
    assert "img1.txt was edited after the bulk edit" in result.refused[0]
    assert (folder / "img1.txt").read_text() == "my own words"


def test_single_save_conflict_then_reload(folder: Path):
    s = CaptionSession.open(folder)
    (folder / "img1.txt").write_text("theirs!")
    st = os.stat(folder / "img1.txt")
    os.utime(folder / "img1.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ConflictError):
        s.save(0, "mine")
    assert s.reload(0).text == "theirs!"


def test_problems_name_the_files(folder: Path):
    (folder / "img10.txt").write_bytes(b"\x00\x01binary")
    (folder / "img3.txt").write_bytes("caf\u00e9".encode("latin-1"))
    s = CaptionSession.open(folder)
    problems = " | ".join(s.problems())
    assert "img10.txt" in problems and "img3.txt" in problems
