"""Every bulk edit, as a table of caption before -> after."""

from __future__ import annotations

import pytest

from lib_ti.captions import edits
from lib_ti.captions.edits import (AddTag, Append, DedupeTags, EditError, Prepend, RemovePhrase, RemoveTag,
                                   RenameTag, Replace, SortTags)

CASES = [
    # find / replace, plain
    (Replace("dog", "cat"), "a dog and a dog", "a cat and a cat"),
    (Replace("Dog", "cat"), "a dog", "a dog"),  # plain search is case-sensitive by default
    (Replace("Dog", "cat", ignore_case=True), "a DOG, a dog", "a cat, a cat"),
    (Replace("a.b", "x"), "a.b aab", "x aab"),  # plain text: '.' is not a wildcard
    (Replace("\\1", "x"), "keep \\1 literal", "keep x literal"),
    (Replace("collar", "scarf"), "red collar\n", "red scarf\n"),  # trailing newline kept
    # find / replace, regex
    (Replace(r"\bred (\w+)", r"crimson \1", regex=True), "red dog, red collar", "crimson dog, crimson collar"),
    (Replace(r"(?P<n>\d+) dogs", r"\g<n> cats", regex=True), "3 dogs", "3 cats"),
    (Replace(r"^a photo of ", "", regex=True), "a photo of a dog", "a dog"),
    (Replace(r"DOG", "cat", regex=True, ignore_case=True), "dog", "cat"),
    # prepend / append
    (Prepend("[name]"), "a dog on grass", "[name], a dog on grass"),
    (Prepend("[name]", " "), "a dog", "[name] a dog"),
    (Prepend("[name]"), "[name], a dog", "[name], a dog"),  # already there: unchanged
    (Prepend("[name]"), "", "[name]"),
    (Prepend("[name]"), "a dog\r\n", "[name], a dog\r\n"),
    (Append("photo"), "a dog", "a dog, photo"),
    (Append("photo", " "), "a dog\n", "a dog photo\n"),
    (Append("photo"), "a dog, photo", "a dog, photo"),
    (Append("photo"), "   ", "photo   "),
    # remove a phrase
    (RemovePhrase("red collar"), "a dog, red collar, grass", "a dog, grass"),
    (RemovePhrase("red collar"), "a dog with a Red  Collar", "a dog with a"),
    (RemovePhrase("dog"), "a hotdog and a dog", "a hotdog and a"),  # whole words only
    (RemovePhrase("collar"), "red collar, collar, grass", "red, grass"),
    (RemovePhrase("cat"), "a dog", "a dog"),
    # tags
    (AddTag("outdoors"), "dog, grass", "dog, grass, outdoors"),
    (AddTag("outdoors", at_start=True), "dog,grass", "outdoors, dog, grass"),
    (AddTag("dog"), "dog, grass", "dog, grass"),
    (AddTag("dog"), "", "dog"),
    (RemoveTag("grass"), "dog, grass, sky", "dog, sky"),
    (RemoveTag(" grass "), "dog,grass,grass", "dog"),
    (RemoveTag("gras"), "dog, grass", "dog, grass"),  # whole tags only; unchanged text untouched
    (RemoveTag("nothing"), "dog ,grass", "dog ,grass"),  # untouched when the tag list does not change
    (RenameTag("grass", "lawn"), "dog, grass, sky", "dog, lawn, sky"),
    (RenameTag("grass", "dog"), "dog, grass, sky", "dog, sky"),  # merges into an existing tag
    (RenameTag("cat", "kitten"), "dog, grass", "dog, grass"),
    (SortTags(), "sky, Dog, grass", "Dog, grass, sky"),
    (SortTags(keep_first=1), "[name], sky, dog", "[name], dog, sky"),
    (SortTags(), "a, b, c\n", "a, b, c\n"),
    (DedupeTags(), "dog, grass, dog, sky, grass", "dog, grass, sky"),
    (DedupeTags(), "dog, Dog", "dog, Dog"),  # exact tags only: case differences are left to the user
]


@pytest.mark.parametrize("op, before, after", CASES, ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)])
def test_operation_table(op, before, after):
    assert op(before) == after


@pytest.mark.parametrize(
    "kind, a, b, kwargs, before, after",
    [
        ("replace", "dog", "cat", {}, "a dog", "a cat"),
        ("replace", r"d(o)g", r"c\1t", {"regex": True}, "a dog", "a cot"),
        ("prepend", "[name]", "", {"sep": " "}, "a dog", "[name] a dog"),
        ("append", "[name]", "", {}, "a dog", "a dog, [name]"),
        ("remove_phrase", "a", "", {}, "a dog", "dog"),
        ("add_tag", "sky", "", {}, "dog", "dog, sky"),
        ("remove_tag", "dog", "", {}, "dog, sky", "sky"),
        ("rename_tag", "dog", "cat", {}, "dog, sky", "cat, sky"),
        ("sort_tags", "", "", {"number": 1}, "z, b, a", "z, a, b"),
        ("dedupe_tags", "", "", {}, "a, a", "a"),
    ],
)
def test_make_operation_by_name(kind, a, b, kwargs, before, after):
    assert kind in edits.OPERATIONS
    assert edits.make_operation(kind, a, b, **kwargs)(before) == after


@pytest.mark.parametrize(
    "pattern, position",
    [("red (dog", 4), ("a[b", 1), ("*dog", 0), (r"(?P<x>a)(?P=y)", 12)],
)
def test_bad_regex_message_points_at_the_fault(pattern, position):
    with pytest.raises(EditError) as err:
        Replace(pattern, "x", regex=True)
    msg = str(err.value)
    assert f"position {position}" in msg
    lines = msg.splitlines()
    assert lines[1].strip() == pattern
    assert lines[2].index("^") - lines[1].index(pattern[0]) == position


def test_bad_group_reference_in_replacement_is_reported():
    with pytest.raises(EditError, match=r"Bad replacement '\\\\2'"):
        Replace(r"(dog)", r"\2", regex=True)("a dog")


@pytest.mark.parametrize(
    "make",
    [lambda: Replace("", "x"), lambda: RemovePhrase("  "), lambda: AddTag("a, b"), lambda: RenameTag("a", ""),
     lambda: edits.make_operation("explode")],
)
def test_invalid_edits_are_refused(make):
    with pytest.raises(EditError):
        make()


CAPTIONS = {"1.png": "a dog, red collar", "2.png": "a cat", "3.png": "", "4.png": "a dog on grass"}


def test_plan_lists_only_changed_captions_in_order():
    changes = edits.plan(Replace("dog", "puppy"), CAPTIONS)
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("1.png", "a dog, red collar", "a puppy, red collar"),
        ("4.png", "a dog on grass", "a puppy on grass"),
    ]


def test_plan_on_a_subset_and_apply_then_undo_is_identity():
    changes = edits.plan(Prepend("[name]"), CAPTIONS, keys=["2.png", "3.png"])
    assert [c.key for c in changes] == ["2.png", "3.png"]
    applied = edits.apply_changes(CAPTIONS, changes)
    assert applied["2.png"] == "[name], a cat" and applied["3.png"] == "[name]"
    assert applied["1.png"] == CAPTIONS["1.png"]
    assert edits.undo_changes(applied, changes) == CAPTIONS
    assert CAPTIONS["2.png"] == "a cat"  # pure: the input was not modified


@pytest.mark.parametrize(
    "before, after, expected",
    [
        ("a dog", "a cat", [(" ", "a "), ("-", "dog"), ("+", "cat")]),
        ("a dog", "[name], a dog", [("+", "[name], "), (" ", "a dog")]),
        ("same", "same", [(" ", "same")]),
    ],
)
def test_word_diff(before, after, expected):
    assert edits.word_diff(before, after) == expected


def test_diff_html_escapes_and_marks():
    assert edits.diff_html("a <b>", "a <i>") == "a <del>&lt;b&gt;</del><ins>&lt;i&gt;</ins>"
