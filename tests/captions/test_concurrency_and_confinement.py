"""Caption edits that lose nothing: concurrent writers, outside edits, odd encodings, links out of a folder.

Each test here failed on the code before issue 10: bulk edits from two sessions both reported saved while one
overwrote the other; an outside edit written between the check and the save was overwritten; a same-size
outside edit with its time restored was not seen; UTF-32 read as UTF-16; UTF-16 BE came back LE; mixed line
endings were normalised; a caption linking out of an allowed folder was read.
"""

from __future__ import annotations

import codecs
import os
import random
import threading
from pathlib import Path

import pytest

from lib_ti.captions import edits
from lib_ti.captions.session import CaptionSession
from lib_ti.captions.sidecar import ConflictError, Sidecar
from lib_ti.core import fsutil
from lib_ti.core.paths import PathGuard


def _folder(root: Path, n: int) -> Path:
    folder = root / "set"
    folder.mkdir()
    for i in range(n):
        (folder / f"img{i}.png").write_bytes(b"")
        (folder / f"img{i}.txt").write_text(f"photo {i}, base")
    return folder


def test_two_writers_and_an_outside_writer_lose_nothing(tmp_path):
    """Writers A and B bulk-add a tag on their own sessions of the same 120 captions while an outside writer
    replaces every third file. Invariant per file: an outside edit is never overwritten (no TI Lab writer
    saw it), and of A and B at most one reports a file saved, whose text is then exactly what is on disk."""
    n = 120
    folder = _folder(tmp_path, n)
    sessions = {"A": CaptionSession.open(folder), "B": CaptionSession.open(folder)}
    outside = {f"img{i}.txt" for i in range(0, n, 3)}
    reports: dict[str, list[str]] = {}
    start = threading.Barrier(3)

    def writer(tag: str) -> None:
        start.wait()
        _changes, result = sessions[tag].apply(edits.AddTag(tag))
        reports[tag] = result.written

    def outsider() -> None:
        rng = random.Random(0)
        start.wait()
        for name in sorted(outside, key=lambda _n: rng.random()):
            fsutil.atomic_write_text(folder / name, f"outside {name}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in "AB"] + [threading.Thread(target=outsider)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    for i in range(n):
        key, name = f"img{i}.png", f"img{i}.txt"
        final = (folder / name).read_text()
        saved_by = [tag for tag in "AB" if key in reports[tag]]
        if name in outside:
            assert final == f"outside {name}", f"{name}: an outside edit was overwritten"
            continue
        assert len(saved_by) <= 1, f"{name}: both writers reported saved, one of them was lost"
        expected = f"photo {i}, base, {saved_by[0]}" if saved_by else f"photo {i}, base"
        assert final == expected, f"{name}: reported {saved_by} but the file holds {final!r}"
    assert sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) == []


def test_outside_edit_between_check_and_replace_is_refused_and_kept(tmp_path, monkeypatch):
    """The race of item 8, made deterministic: the outside edit lands after the check, before the rename."""
    (tmp_path / "x.txt").write_text("mine")
    sc = Sidecar.load(tmp_path / "x.png")
    real_write_tmp = fsutil._write_tmp

    def write_tmp_then_outside_edit(target, writer):
        tmp = real_write_tmp(target, writer)
        (tmp_path / "x.txt").write_text("theirs")  # another program, in place, after our check
        return tmp

    monkeypatch.setattr(fsutil, "_write_tmp", write_tmp_then_outside_edit)
    if not fsutil._exchange(tmp_path / "x.txt", tmp_path / "x.txt"):
        pytest.skip("no atomic exchange on this filesystem: only the in-process lock guards the window")
    with pytest.raises(ConflictError):
        sc.save("edited")
    assert (tmp_path / "x.txt").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_same_size_outside_edit_with_restored_time_is_a_conflict(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("a cat")
    sc = Sidecar.load(tmp_path / "x.png")
    st = os.stat(path)
    path.write_text("a dog")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ConflictError):
        sc.save("a cat, sitting")
    assert path.read_text() == "a dog"


def test_a_new_caption_created_by_someone_else_meanwhile_is_not_replaced(tmp_path):
    sc = Sidecar.load(tmp_path / "x.png")
    (tmp_path / "x.txt").write_text("theirs")
    with pytest.raises(ConflictError):
        sc.save("mine")
    assert (tmp_path / "x.txt").read_text() == "theirs"


ENCODED = [
    ("utf-32-le", codecs.BOM_UTF32_LE + "a cat \u00e9\n".encode("utf-32-le")),
    ("utf-32-be", codecs.BOM_UTF32_BE + "a cat \U0001f525".encode("utf-32-be")),
    ("utf-16-be", codecs.BOM_UTF16_BE + "a cat \u00e9".encode("utf-16-be")),
    ("utf-16-le", codecs.BOM_UTF16_LE + "a cat \u00e9".encode("utf-16-le")),
]


@pytest.mark.parametrize("encoding, data", ENCODED, ids=[e for e, _ in ENCODED])
def test_bulk_edit_keeps_bom_and_byte_order_and_leaves_other_files_alone(tmp_path, encoding, data):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "a.txt").write_bytes(data)
    untouched = b"\xef\xbb\xbfno match here\r\nsecond\n"
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "b.txt").write_bytes(untouched)
    session = CaptionSession.open(tmp_path)
    _changes, result = session.apply(edits.Replace("a cat", "a dog"))
    assert result.written == ["a.png"]
    new = (tmp_path / "a.txt").read_bytes()
    bom = data[: 4 if encoding.startswith("utf-32") else 2]
    assert new.startswith(bom)
    assert new == data.replace("a cat".encode(encoding), "a dog".encode(encoding))
    assert (tmp_path / "b.txt").read_bytes() == untouched


def test_mixed_line_endings_are_kept_line_by_line(tmp_path):
    data = b"one\r\ntwo\nthree\rfour"
    (tmp_path / "x.txt").write_bytes(data)
    sc = Sidecar.load(tmp_path / "x.png")
    assert sc.save(sc.text.replace("two", "TWO"))
    assert (tmp_path / "x.txt").read_bytes() == b"one\r\nTWO\nthree\rfour"


def test_images_sharing_a_stem_share_their_caption_without_false_conflicts(tmp_path):
    for name in ("a.png", "a.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "a.txt").write_text("a cat")
    session = CaptionSession.open(tmp_path)
    _changes, result = session.apply(edits.AddTag("tabby"))
    assert result.refused == []
    assert (tmp_path / "a.txt").read_text() == "a cat, tabby"
    assert session.undo().refused == []
    assert (tmp_path / "a.txt").read_text() == "a cat"
    assert session.save_key("a.jpg", "a cat, sitting") == "Saved a.txt."
    assert session.save_key("a.png", "a cat, sitting, tabby") == "Saved a.txt."


def test_links_loops_fifos_and_folders_named_like_images_do_not_abort_a_folder(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"")
    (tmp_path / "ok.txt").write_text("fine")
    os.symlink("loop.png", tmp_path / "loop.png")
    os.symlink("missing.png", tmp_path / "dangling.png")
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "fifo.png").write_bytes(b"")
    os.mkfifo(tmp_path / "fifo.txt")  # a FIFO named like a caption must not hang the load
    session = CaptionSession.open(tmp_path)
    assert session.keys() == ["fifo.png", "ok.png"]
    assert any("fifo.txt: not a regular file" in p for p in session.problems())


def test_restricted_guard_refuses_captions_and_images_linking_out(tmp_path):
    allowed, secret = tmp_path / "allowed", tmp_path / "secret"
    allowed.mkdir()
    secret.mkdir()
    (secret / "passwd").write_text("root:x:0:0")
    (secret / "photo.png").write_bytes(b"")
    (allowed / "a.png").write_bytes(b"")
    os.symlink(secret / "passwd", allowed / "a.txt")
    os.symlink(secret / "photo.png", allowed / "b.png")
    (allowed / "c.png").write_bytes(b"")
    os.symlink("c.txt.real", allowed / "c.txt")  # a link that stays inside is fine
    (allowed / "c.txt.real").write_text("inside")
    guard = PathGuard.restricted_to([allowed])
    session = CaptionSession.open(allowed, guard)
    assert session.keys() == ["a.png", "c.png"]
    assert session.captions() == {"a.png": "", "c.png": "inside"}
    assert "root:x" not in " ".join(session.problems())
    assert any("outside the allowed folders" in p for p in session.problems())
    with pytest.raises(Exception, match="left untouched"):
        session.save_key("a.png", "overwrite the secret")
    assert (secret / "passwd").read_text() == "root:x:0:0"
    # unrestricted (local use) still follows links, as before
    assert CaptionSession.open(allowed).captions()["a.png"] == "root:x:0:0"
