"""Entries that look like part of a set but cannot be images (issue 10, item 15): link loops, broken links, FIFOs and
folders named like images are listed as skipped with a reason that names them, in the listing, in ``check`` and in
``prepare`` - never left out silently, never followed round a loop, never opened (a FIFO would hang the run)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image

from lib_ti.cli import main
from lib_ti.dataset.loading import ImageSkipped, iter_images, load_image, scan_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and symlinks as on POSIX")


class Hung(Exception):
    """Not an OSError: code that passes over unreadable files must not swallow it."""


@pytest.fixture(autouse=True)
def _fails_instead_of_hanging():
    """A read of a FIFO blocks for ever: turn that into a failure after 20 s."""
    def hung(*_):
        raise Hung("hung: something waited on a FIFO or went round a link loop")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _loop_pair(d: Path) -> None:
    (d / "a.png").symlink_to("b.png")
    (d / "b.png").symlink_to("a.png")


def _self_loop(d: Path) -> None:
    (d / "a.png").symlink_to("a.png")


def _dangling(d: Path) -> None:
    (d / "a.png").symlink_to("gone.png")


def _fifo(d: Path) -> None:
    os.mkfifo(d / "a.png")


def _folder(d: Path) -> None:
    (d / "a.png").mkdir()


def _folder_link_back(d: Path) -> None:
    (d / "sub").mkdir()
    (d / "sub" / "a.png").symlink_to("..", target_is_directory=True)


def _fifo_in_sub(d: Path) -> None:
    (d / "sub").mkdir()
    os.mkfifo(d / "sub" / "a.png")


#: (case, builder, recursive, skipped names → reason fragment)
CASES: list[tuple[str, Callable[[Path], None], bool, dict[str, str]]] = [
    ("link loop", _loop_pair, False, {"a.png": "link loop: 'b.png'", "b.png": "link loop: 'a.png'"}),
    ("link to itself", _self_loop, False, {"a.png": "link loop: 'a.png' leads back"}),
    ("dangling link", _dangling, False, {"a.png": "broken link: it points to 'gone.png', which does not exist"}),
    ("FIFO", _fifo, False, {"a.png": "a named pipe (FIFO), not an image file; not opened"}),
    ("folder named like an image", _folder, False, {"a.png": "a folder named like an image, not an image file"}),
    ("folder link loop", _folder_link_back, True, {"sub/a.png": "link loop: it points back to '.', a folder it is in"}),
    ("FIFO in a sub-folder", _fifo_in_sub, True, {"sub/a.png": "a named pipe (FIFO)"}),
]
IDS = [c[0] for c in CASES]


def _set(tmp_path: Path, build: Callable[[Path], None]) -> Path:
    d = tmp_path / "set"
    d.mkdir()
    Image.new("RGB", (96, 96), (150, 60, 40)).save(d / "good.png")
    (d / "good.txt").write_text("a photo of a red square", encoding="utf-8")
    build(d)
    return d


def _matches(skipped: list[tuple[str, str]], expected: dict[str, str]) -> None:
    assert [name for name, _ in skipped] == sorted(expected), skipped
    for name, reason in skipped:
        assert expected[name] in reason, (name, reason)


@pytest.mark.parametrize("case,build,recursive,expected", CASES, ids=IDS)
def test_listing_reports_each_unusable_entry(tmp_path, case, build, recursive, expected):
    d = _set(tmp_path, build)
    listing = scan_folder(d, recursive)
    assert [p.name for p in listing.files] == ["good.png"]
    _matches([(s.name, s.reason) for s in listing.skipped], expected)
    skipped: list = []
    assert [li.name for li in iter_images(d, recursive=recursive, skipped=skipped)] == ["good.png"]
    _matches([(s.name, s.reason) for s in skipped], expected)


@pytest.mark.parametrize("case,build,recursive,expected", CASES, ids=IDS)
def test_check_lists_them_as_skipped(tmp_path, capsys, case, build, recursive, expected):
    d = _set(tmp_path, build)
    args = ["check", str(d), "--json", "--no-save", "--size", "64"] + (["--recursive"] if recursive else [])
    assert main(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    _matches([(s["name"], s["reason"]) for s in report["skipped"]], expected)
    assert report["counts"] == {"files": 1 + len(expected), "images": 1, "skipped": len(expected)}
    for name in expected:  # the plain-text summary names each one
        assert f"skipped {name}: " in captured.err


@pytest.mark.parametrize("case,build,recursive,expected", CASES, ids=IDS)
def test_prepare_lists_them_as_skipped(tmp_path, capsys, case, build, recursive, expected):
    d = _set(tmp_path, build)
    args = ["prepare", str(d), str(tmp_path / "out"), "--size", "64", "--crop", "centre"]
    assert main(args + (["--recursive"] if recursive else [])) == 0
    out = capsys.readouterr().out
    assert "wrote 1 images and 1 captions" in out
    lines = [line.removeprefix("skipped ").split(": ", 1) for line in out.splitlines() if line.startswith("skipped ")]
    _matches([(n, r) for n, r in lines], expected)


def test_a_fifo_is_refused_without_being_read(tmp_path):
    """Even handed over directly (a file swapped for a pipe after the listing), a FIFO is refused, not waited on."""
    os.mkfifo(tmp_path / "p.jpg")
    with pytest.raises(ImageSkipped, match="named pipe"):
        load_image(tmp_path / "p.jpg")


def test_a_fifo_named_like_a_caption_does_not_hang_the_check(tmp_path, capsys):
    d = tmp_path / "set"
    d.mkdir()
    Image.new("RGB", (96, 96), (150, 60, 40)).save(d / "good.png")
    os.mkfifo(d / "good.txt")
    assert main(["check", str(d), "--json", "--no-save", "--size", "64"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["images"] == 1 and report["images"][0]["caption"] is None


def test_a_plain_sub_folder_is_not_reported_and_sidecars_stay_silent(tmp_path):
    d = _set(tmp_path, lambda d: (d / "extras").mkdir())
    (d / "notes.txt").symlink_to("nowhere.txt")  # a broken sidecar is the caption reader's business, not an image
    assert scan_folder(d).skipped == []
    assert [p.name for p in scan_folder(d).files] == ["good.png"]
