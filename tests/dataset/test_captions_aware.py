"""A shared attribute the captions name is explained (downgraded); one no caption names is the real risk."""

from __future__ import annotations

import shutil

import pytest

from lib_ti.dataset.captions_aware import apply_captions, names_term
from lib_ti.dataset.checks import Finding
from lib_ti.dataset.pipeline import check_folder


def _finding(images=("a.jpg", "b.jpg", "c.jpg", "d.jpg")) -> Finding:
    return Finding("background", "background.shared", "One background", "warning", 0.9, "4 of 4", "< 0.56",
                   "4 of 4 share a white background", list(images), [list(images)],
                   attribute={"kind": "background", "description": "white background",
                              "terms": ["white background", "white wall", "wall", "background"]})


#: (captions per image, template, named?, severity after, note starts with)
CASES = [
    ({"a.jpg": "a man in front of a white wall", "b.jpg": "man, white wall", "c.jpg": "man", "d.jpg": "man"},
     "", True, "note", "Explained"),
    ({"a.jpg": "a man", "b.jpg": "a man smiling", "c.jpg": "man", "d.jpg": "portrait of a man"},
     "", False, "warning", "Real risk"),
    ({"a.jpg": "a man", "b.jpg": "man"}, "a photo of [name] against a white wall", True, "note", "Explained: the template"),
    ({}, "", False, "warning", "No captions found"),
    ({"a.jpg": "a wallet", "b.jpg": "walled garden", "c.jpg": "whitewall tyres", "d.jpg": "x"}, "", False, "warning",
     "Real risk"),  # whole words only
]


@pytest.mark.parametrize("captions,template,named,severity,note", CASES)
def test_caption_naming_decides_the_risk(captions, template, named, severity, note):
    f = _finding()
    shared = apply_captions([f], captions, template)
    assert shared == [{"kind": "background", "description": "white background", "terms": f.attribute["terms"],
                       "images": f.images, "named_in_captions": named, "finding": "background.shared"}]
    assert f.severity == severity
    assert f.caption_note.startswith(note)


@pytest.mark.parametrize("text,term", [("Blue Shirt, smiling", "blue shirt"), ("a t-shirt", "t-shirt"),
                                        ("a shirtless man", None), ("in a blue  shirt", "blue shirt"),
                                        ("blue_shirt, 1boy", "blue shirt")])
def test_terms_match_whole_words_case_insensitively(text, term):
    assert names_term(text, ["blue shirt", "t-shirt", "shirt"]) == term


def test_sidecar_captions_downgrade_the_real_shared_background(dataset_folder, tmp_path):
    """End to end: the composite set's shared background, first uncaptioned, then captioned with its words."""
    src = dataset_folder("plain_background")
    work = tmp_path / "set"
    shutil.copytree(src, work)
    first = check_folder(work).report
    attr = next(a for a in first["shared_attributes"] if a["kind"] == "background")
    assert attr["named_in_captions"] is False
    for p in work.glob("*.jpg"):
        p.with_suffix(".txt").write_text(f"a photo of a man, {attr['terms'][0]}", encoding="utf-8")
    second = check_folder(work).report
    attr2 = next(a for a in second["shared_attributes"] if a["description"] == attr["description"])
    assert attr2["named_in_captions"] is True
    sev = {f["id"]: f["severity"] for f in second["findings"]}
    assert sev[attr2["finding"]] == "note"
    assert second["images"][0]["caption"].startswith("a photo of a man")
