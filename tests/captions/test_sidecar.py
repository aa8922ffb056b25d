"""The sidecar rules: encodings and line endings survive an edit, conflicts are never silent."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from lib_ti.captions.sidecar import CaptionError, ConflictError, Sidecar, decode_caption, detect_newline

# (file bytes, decoded editor text, encoding reported, newline kept)
ENCODINGS = [
    (b"a red dog", "a red dog", "utf-8", "\n"),
    ("caf\u00e9 au lait".encode("utf-8"), "caf\u00e9 au lait", "utf-8", "\n"),
    (b"\xef\xbb\xbfa red dog", "a red dog", "utf-8-sig", "\n"),
    (b"line one\r\nline two\r\n", "line one\nline two\n", "utf-8", "\r\n"),
    (b"\xef\xbb\xbfone\r\ntwo", "one\ntwo", "utf-8-sig", "\r\n"),
    (b"old mac\rline", "old mac\nline", "utf-8", "\r"),
    ("caf\u00e9 \u201cquoted\u201d".encode("cp1252"), "caf\u00e9 \u201cquoted\u201d", "cp1252", "\n"),
    (b"na\xefve \x81x", "na\u00efve \x81x", "latin-1", "\n"),  # 0x81 is undefined in cp1252
    (codecs.BOM_UTF16_LE + "wide \u00e9\r\n".encode("utf-16-le"), "wide \u00e9\n", "utf-16-le", "\r\n"),  # Notepad "Unicode"
    (codecs.BOM_UTF16_BE + "wide \u00e9 \U0001f525".encode("utf-16-be"), "wide \u00e9 \U0001f525", "utf-16-be", "\n"),
    (codecs.BOM_UTF32_LE + "thirty-two \u00e9\r\n".encode("utf-32-le"), "thirty-two \u00e9\n", "utf-32-le", "\r\n"),
    (codecs.BOM_UTF32_BE + "thirty-two \U0001f525".encode("utf-32-be"), "thirty-two \U0001f525", "utf-32-be", "\n"),
]
BOM = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
       "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}


@pytest.mark.parametrize("data, text, encoding, newline", ENCODINGS)
def test_decoding_table(data, text, encoding, newline):
    raw, enc = decode_caption(data)
    assert enc == encoding
    assert raw.replace("\r\n", "\n").replace("\r", "\n") == text
    assert detect_newline(raw) == newline


@pytest.mark.parametrize("data, text, encoding, newline", ENCODINGS)
def test_edit_keeps_encoding_and_line_endings(tmp_path: Path, data, text, encoding, newline):
    img = tmp_path / "x.png"
    (tmp_path / "x.txt").write_bytes(data)
    sc = Sidecar.load(img)
    assert (sc.text, sc.encoding, sc.newline) == (text, encoding, newline)
    assert sc.save(sc.text + "\nmore")
    written = (tmp_path / "x.txt").read_bytes()
    expected = BOM.get(encoding, b"") + (text + "\nmore").replace("\n", newline).encode(encoding)
    assert written == expected
    if encoding == "utf-8-sig":
        assert written.startswith(b"\xef\xbb\xbf")
    assert Sidecar.load(img).text == text + "\nmore"


def test_unchanged_text_is_not_rewritten(tmp_path: Path):
    (tmp_path / "x.txt").write_bytes(b"same")
    sc = Sidecar.load(tmp_path / "x.png")
    before = os.stat(tmp_path / "x.txt").st_mtime_ns
    assert sc.save("same") is False
    assert os.stat(tmp_path / "x.txt").st_mtime_ns == before


def test_empty_editor_does_not_create_a_caption_file(tmp_path: Path):
    sc = Sidecar.load(tmp_path / "x.png")
    assert sc.save("") is False
    assert not (tmp_path / "x.txt").exists()
    assert sc.save("new caption")
    assert (tmp_path / "x.txt").read_bytes() == b"new caption"


def _touch_later(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


@pytest.mark.parametrize(
    "start, change",
    [
        (b"original", lambda p: _touch_later(p, b"changed by another editor")),
        (b"original", lambda p: p.unlink()),
        (None, lambda p: p.write_bytes(b"created meanwhile")),
        (b"original", lambda p: _touch_later(p, b"original plus")),  # same mtime trick, new size
    ],
    ids=["rewritten", "deleted", "created", "grown"],
)
def test_conflict_is_refused_then_reload_or_overwrite(tmp_path: Path, start, change):
    cap = tmp_path / "x.txt"
    if start is not None:
        cap.write_bytes(start)
    sc = Sidecar.load(tmp_path / "x.png")
    change(cap)
    on_disk = cap.read_bytes() if cap.exists() else None
    with pytest.raises(ConflictError, match=r"x\.txt was changed on disk.*Reload.*overwrite"):
        sc.save("my edit")
    assert (cap.read_bytes() if cap.exists() else None) == on_disk  # nothing lost
    # reload: the editor now shows the disk's text, and saving works again
    sc.reload()
    assert sc.text == (on_disk or b"").decode()
    assert sc.save("my edit after reload")
    assert cap.read_bytes() == b"my edit after reload"


def test_overwrite_after_conflict(tmp_path: Path):
    cap = tmp_path / "x.txt"
    cap.write_bytes(b"original")
    sc = Sidecar.load(tmp_path / "x.png")
    _touch_later(cap, b"theirs")
    with pytest.raises(ConflictError):
        sc.save("mine")
    assert sc.save("mine", force=True)
    assert cap.read_bytes() == b"mine"
    assert sc.save("mine again")  # the loaded state follows the overwrite


def test_same_bytes_with_new_mtime_is_not_a_conflict(tmp_path: Path):
    cap = tmp_path / "x.txt"
    cap.write_bytes(b"original")
    sc = Sidecar.load(tmp_path / "x.png")
    _touch_later(cap, b"original")  # e.g. a sync tool touched it
    assert sc.save("edited")


def test_undecodable_file_is_named_and_left_alone(tmp_path: Path):
    cap = tmp_path / "bad.txt"
    cap.write_bytes(b"\x89PNG\x00\x00\xff\xfe")
    sc = Sidecar.load(tmp_path / "bad.png")
    assert sc.error and "bad.txt" in sc.error and "NUL" in sc.error
    with pytest.raises(CaptionError, match="bad.txt"):
        sc.save("anything")
    assert cap.read_bytes() == b"\x89PNG\x00\x00\xff\xfe"


def test_legacy_encoding_is_reported_by_name(tmp_path: Path):
    (tmp_path / "old.txt").write_bytes("na\u00efve".encode("cp1252"))
    sc = Sidecar.load(tmp_path / "old.png")
    assert sc.encoding == "cp1252"
    assert any("old.txt" in w and "cp1252" in w for w in sc.warnings)


def test_character_the_encoding_cannot_hold_is_named(tmp_path: Path):
    (tmp_path / "old.txt").write_bytes("caf\u00e9".encode("cp1252"))
    sc = Sidecar.load(tmp_path / "old.png")
    with pytest.raises(CaptionError, match=r"old\.txt.*'\u732b'.*U\+732B.*position 5"):
        sc.save("caf\u00e9 \u732b")
    assert (tmp_path / "old.txt").read_bytes() == "caf\u00e9".encode("cp1252")


def test_write_is_atomic_no_temp_files_left(tmp_path: Path):
    sc = Sidecar.load(tmp_path / "x.png")
    sc.save("one")
    sc.save("two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
