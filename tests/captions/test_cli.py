"""``python -m lib_ti captions ...`` over a folder (in-process, through the real parser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lib_ti.cli import main


def test_replace_dry_run_writes_nothing(folder: Path, capsys):
    assert main(["captions", "replace", str(folder), "red collar", "blue scarf", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "img1.png" in out.out and "+ a photo of a dog, blue scarf" in out.out
    assert "2 caption(s) would change" in out.err
    assert (folder / "img1.txt").read_text() == "a photo of a dog, red collar"


@pytest.mark.parametrize(
    "argv, file, expected",
    [
        (["replace", "{d}", r"\bred (\w+)", r"blue \1", "--regex"], "img2.txt", b"a dog on grass, blue collar\r\n"),
        (["prepend", "{d}", "[name]"], "img10.txt", b"[name]"),
        (["append", "{d}", "photo", "--sep", " "], "img1.txt", b"a photo of a dog, red collar photo"),
        (["remove", "{d}", "red collar"], "img2.txt", b"a dog on grass\r\n"),
        (["tags", "{d}", "add", "outdoors"], "img1.txt", b"a photo of a dog, red collar, outdoors"),
        (["tags", "{d}", "rename", "red collar", "collar"], "img2.txt", b"a dog on grass, collar\r\n"),
        (["tags", "{d}", "sort"], "img1.txt", b"a photo of a dog, red collar"),
        (["prepend", "{d}", "[name]", "--only", "contains:grass"], "img1.txt", b"a photo of a dog, red collar"),
        (["prepend", "{d}", "[name]", "--only", "contains:grass"], "img2.txt",
         b"[name], a dog on grass, red collar\r\n"),
    ],
)
def test_edit_commands(folder: Path, argv, file, expected):
    assert main(["captions", *[a.format(d=folder) for a in argv]]) == 0
    assert (folder / file).read_bytes() == expected


@pytest.mark.parametrize("flags, expected", [
    ([], "a man in a t-shirt and a t-shirt"),  # whole words by default, as the Captions tab
    (["--whole-word"], "a man in a t-shirt and a t-shirt"),
    (["--no-whole-word"], "a man in a t-t-shirt and a t-shirt"),  # the plain substring replace of issue 13
    (["--ignore-case"], "a man in a t-shirt and a t-shirt"),
])
def test_replace_whole_words(folder: Path, flags, expected):
    """``shirt``→``t-shirt`` leaves an existing ``t-shirt`` alone: a hyphen joins words."""
    (folder / "img1.txt").write_text("a man in a t-shirt and a Shirt" if "--ignore-case" in flags
                                     else "a man in a t-shirt and a shirt")
    assert main(["captions", "replace", str(folder), "shirt", "t-shirt", *flags]) == 0
    assert (folder / "img1.txt").read_text() == expected


def test_whole_word_default_and_label_are_the_captions_tabs(folder: Path, capsys):
    """One source of truth: the CLI's default and help come from the option the Captions tab shows."""
    from lib_ti.captions import edits
    from lib_ti.cli import build_parser

    args = build_parser().parse_args(["captions", "replace", str(folder), "a", "b"])
    assert args.whole_word is edits.WHOLE_WORD_DEFAULT
    with pytest.raises(SystemExit):
        build_parser().parse_args(["captions", "replace", "--help"])
    assert edits.WHOLE_WORD_LABEL in " ".join(capsys.readouterr().out.split())


def test_bad_regex_is_a_message_not_a_traceback(folder: Path, capsys):
    assert main(["captions", "replace", str(folder), "red (", "x", "--regex"]) == 2
    err = capsys.readouterr().err
    assert "position 4" in err and "^" in err


def test_missing_folder(tmp_path: Path, capsys):
    assert main(["captions", "stats", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_stats_json_reads_the_dataset_report(folder: Path, tmp_path: Path, capsys):
    from lib_ti.dataset import store
    store.save_report(tmp_path / "data", folder, {"shared_attributes": [
        {"kind": "background", "description": "white background", "terms": ["white background"],
         "images": ["img1.png", "img2.jpg"], "named_in_captions": False}]})
    assert main(["captions", "stats", str(folder), "--json", "--data-dir", str(tmp_path / "data")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images"] == 4 and data["captioned"] == 2
    phrases = {p["phrase"]: p for p in data["phrases"]}
    assert phrases["red collar"]["in_most"] is True and phrases["red collar"]["captions"] == 2  # 2 of 2 captioned
    assert data["unnamed_shared_attributes"][0]["description"] == "white background"


def test_list_and_tokens(folder: Path, capsys):
    assert main(["captions", "list", str(folder), "missing"]) == 0
    assert capsys.readouterr().out.split() == ["img3.webp", "img10.png"]
    (folder / "img3.txt").write_text(", ".join(["tag"] * 40))
    assert main(["captions", "tokens", str(folder)]) == 0
    out = capsys.readouterr()
    assert "79/150  img3.webp" in out.out and "1 caption(s) over 75 tokens" in out.err


def test_caption_command_with_tiny_blip(folder: Path, tiny_blip: Path, capsys):
    assert main(["captions", "caption", str(folder), "--model", str(tiny_blip), "--existing", "keep",
                 "--beams", "1", "--max-length", "6"]) == 0
    out = capsys.readouterr()
    assert "Captioned 2 images, kept 2 existing captions" in out.err
    assert (folder / "img1.txt").read_text() == "a photo of a dog, red collar"
    assert (folder / "img10.txt").read_text().strip()
