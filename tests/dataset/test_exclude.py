"""Set a photo aside and put it back: moves image + caption together, atomically, never overwriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_ti.dataset.exclude import ExcludeError, put_back, put_back_by_name, set_aside
from lib_ti.dataset.loading import list_files


def _folder(tmp_path: Path, names=("a.jpg", "b.jpg")) -> Path:
    for n in names:
        (tmp_path / n).write_bytes(b"image " + n.encode())
        (tmp_path / n).with_suffix(".txt").write_text(f"caption of {n}", encoding="utf-8")
    return tmp_path


def test_set_aside_moves_image_and_caption_and_undo_restores(tmp_path):
    folder = _folder(tmp_path)
    rec = set_aside(folder, "a.jpg")
    assert not (folder / "a.jpg").exists() and not (folder / "a.txt").exists()
    assert (folder / "_excluded" / "a.jpg").read_bytes() == b"image a.jpg"
    assert (folder / "_excluded" / "a.txt").read_text() == "caption of a.jpg"
    assert [p.name for p in list_files(folder, recursive=True)] == ["b.jpg"]  # set-aside photos are not in the set
    put_back(rec)
    assert (folder / "a.jpg").read_bytes() == b"image a.jpg" and (folder / "a.txt").exists()
    assert not any((folder / "_excluded").iterdir())


def test_a_taken_name_gets_a_suffix_never_an_overwrite(tmp_path):
    folder = _folder(tmp_path)
    (folder / "_excluded").mkdir()
    (folder / "_excluded" / "a.jpg").write_bytes(b"older")
    rec = set_aside(folder, "a.jpg")
    assert rec.excluded_name == "a-2.jpg"
    assert (folder / "_excluded" / "a.jpg").read_bytes() == b"older"
    assert (folder / "_excluded" / "a-2.txt").read_text() == "caption of a.jpg"


@pytest.mark.parametrize("name,message", [
    ("missing.jpg", "does not exist"),
    ("../outside.jpg", "not inside the dataset folder"),
])
def test_bad_names_are_refused_with_the_name(tmp_path, name, message):
    ds = tmp_path / "ds"
    ds.mkdir()
    (tmp_path / "outside.jpg").write_bytes(b"not part of the set")
    with pytest.raises(ExcludeError, match=message):
        set_aside(_folder(ds), name)
    assert (tmp_path / "outside.jpg").exists()


def test_put_back_refuses_when_the_name_was_taken_again(tmp_path):
    folder = _folder(tmp_path)
    rec = set_aside(folder, "a.jpg")
    (folder / "a.jpg").write_bytes(b"new photo")
    with pytest.raises(ExcludeError, match="exists again"):
        put_back(rec)
    assert (folder / "a.jpg").read_bytes() == b"new photo" and (folder / "_excluded" / "a.jpg").exists()


def test_put_back_by_name_after_a_restart(tmp_path):
    folder = _folder(tmp_path)
    set_aside(folder, "b.jpg")
    put_back_by_name(folder, "b.jpg")
    assert (folder / "b.jpg").exists() and (folder / "b.txt").exists()
