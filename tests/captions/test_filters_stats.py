"""Filters, frequencies, and the dataset report's unnamed shared attributes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib_ti.captions import filters, stats

CAPS = {
    "a.png": "a photo of a dog, red collar",
    "b.png": "a dog on grass, red collar",
    "c.png": "",
    "d.png": "hotdog stand",
    "e.png": "  \n",
    "f.png": ", ".join(["tag"] * 40),  # 79 tokens
}


@pytest.mark.parametrize(
    "kind, arg, expected",
    [
        ("all", "", ["a.png", "b.png", "c.png", "d.png", "e.png", "f.png"]),
        ("missing", "", ["c.png", "e.png"]),
        ("contains", "dog", ["a.png", "b.png"]),  # whole word: not "hotdog"
        ("contains", "RED  Collar", ["a.png", "b.png"]),
        ("lacks", "dog", ["c.png", "d.png", "e.png", "f.png"]),
        ("over_budget", "", ["f.png"]),
    ],
)
def test_filter_table(kind, arg, expected):
    assert filters.apply_filter(CAPS, kind, arg) == expected


def test_budget_is_configurable():
    assert filters.over_budget(CAPS, budget=5) == ["a.png", "b.png", "f.png"]


@pytest.mark.parametrize("kind, arg", [("contains", "  "), ("bogus", "")])
def test_bad_filter_is_a_message(kind, arg):
    with pytest.raises(ValueError):
        filters.apply_filter(CAPS, kind, arg)


def test_frequencies_highlight_phrases_in_most_captions():
    caps = ["a dog wearing a red collar", "red collar, dog on grass", "dog with red collar, sky", "a cat"]
    rows = {r.phrase: r for r in stats.frequencies(caps)}
    assert rows["red collar"].captions == 3 and rows["red collar"].in_most
    assert rows["dog"].captions == 3 and rows["dog"].in_most
    assert "collar" not in rows and "red" not in rows  # hidden inside "red collar" (same captions)
    assert "a" not in rows and "with" not in rows  # stopwords
    assert all(not r.in_most for p, r in rows.items() if r.captions <= 2)


def test_phrases_do_not_cross_commas():
    assert "collar dog" not in stats.phrases("red collar, dog")
    assert stats.phrases("A Red-Collar") == {"red-collar"}


def test_word_counts_count_every_occurrence():
    assert stats.word_counts(["dog dog cat", "Dog"])["dog"] == 3


REPORT = {
    "shared_attributes": [
        {"kind": "background", "description": "same white background", "terms": ["white background", "studio"],
         "images": ["a.png", "b.png"], "named_in_captions": False},
        {"kind": "color", "description": "red collar in every photo", "terms": ["red collar"],
         "images": ["/data/set/a.png", "/data/set/b.png"], "named_in_captions": True},
        {"kind": "clothing", "description": "same blue scarf", "terms": ["blue scarf", "scarf"],
         "images": ["a.png"], "named_in_captions": True},  # stale report: the caption was edited since
    ]
}


def test_unnamed_shared_attributes_are_rechecked_against_current_captions():
    unnamed = stats.unnamed_shared_attributes(REPORT, CAPS)
    assert [u.description for u in unnamed] == ["same white background", "same blue scarf"]
    named = dict(CAPS, **{"b.png": "a dog in a studio"})
    assert [u.description for u in stats.unnamed_shared_attributes(REPORT, named)] == ["same blue scarf"]


def test_no_report_means_no_findings():
    assert stats.unnamed_shared_attributes(None, CAPS) == []
    assert stats.caption_stats(CAPS).unnamed == []


def test_report_round_trip_through_the_dataset_store(tmp_path: Path):
    from lib_ti.dataset import store
    folder = tmp_path / "set"
    folder.mkdir()
    store.save_report(tmp_path / "data", folder, REPORT)
    report = store.load_last_report(tmp_path / "data", folder)
    st = stats.caption_stats(CAPS, report)
    assert (st.total, st.captioned) == (6, 4)
    assert [u.kind for u in st.unnamed] == ["background", "clothing"]
