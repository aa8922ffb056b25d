"""Each bad set built from the real photos is flagged for its fault; the varied real sets are not."""

from __future__ import annotations

import re

import pytest

VARIED = ("person", "dog", "backpack", "teapot", "grey_sloth_plushie")  # real, varied sets

#: (built set, the finding it must raise as a warning, why the set is bad)
BAD_SETS = [
    ("closeups", "zoom.closeups", "4 selfies + tight face crops of the wider shots"),
    ("shared_background", "background.shared", "the person pasted onto one outdoor photo"),
    ("shared_background_objects", "background.shared", "teapot/dog/sloth crops pasted onto one photo"),
    ("plain_background", "background.plain", "the person pasted onto a plain studio wall"),
    ("near_duplicates", "duplicates.groups", "re-encoded, resized and cropped copies"),
    ("uniform_lighting", "lighting.uniform", "every photo histogram-matched to one photo"),
    ("same_clothing", "clothing.shared", "one blue T-shirt patch under every face"),
    ("blurry", "basics.blur", "every photo Gaussian-blurred (radius 4)"),
    ("small", "basics.resolution", "256 px copies, below the 512 px training size"),
]
FAULTS = sorted({fid for _, fid, _ in BAD_SETS})


def _by_id(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        out.setdefault(f["id"], []).append(f)
    return out


@pytest.mark.parametrize("name,finding,why", BAD_SETS, ids=[b[0] for b in BAD_SETS])
def test_bad_set_is_flagged_for_its_fault(check_of, name, finding, why):
    found = _by_id(check_of(name)).get(finding)
    assert found, f"{name} ({why}) not flagged with {finding}"
    f = found[0]
    assert f["severity"] == "warning"
    assert f["images"] and f["text"] and f["threshold"] and f["figure_text"]
    assert check_of(name)["verdict"]["level"] == "fix"


@pytest.mark.parametrize("name", VARIED)
@pytest.mark.parametrize("fault", FAULTS)
def test_varied_real_set_is_not_flagged(check_of, name, fault):
    assert fault not in _by_id(check_of(name)), f"varied set {name} wrongly flagged with {fault}"


@pytest.mark.parametrize("name", ["person", "teapot", "grey_sloth_plushie", "dog", "backpack"])
def test_varied_real_sets_have_no_major_finding(check_of, name):
    report = check_of(name)
    assert report["verdict"]["level"] == "ready", [f["id"] for f in report["findings"] if f["severity"] != "ok"]


@pytest.mark.parametrize("name,pairs", [
    ("dog", [{"02.jpg", "03.jpg"}]),                                  # one red wall
    ("backpack", [{"00.jpg", "01.jpg"}, {"04.jpg", "05.jpg"}]),       # cloudy sky; mossy log
])
def test_known_background_sharing_pairs_are_noted(check_of, name, pairs):
    groups = [set(g) for f in check_of(name)["findings"] if f["check"] == "background" for g in f["groups"]]
    for pair in pairs:
        assert any(pair <= g for g in groups), f"{name}: {pair} not in {groups}"


def test_sloth_backgrounds_are_not_called_shared(check_of):
    ids = [f["id"] for f in check_of("grey_sloth_plushie")["findings"] if f["check"] == "background"]
    assert ids == ["background.ok"]


def test_near_duplicate_groups_are_exactly_the_copies(check_of):
    f = _by_id(check_of("near_duplicates"))["duplicates.groups"][0]
    assert sorted(map(sorted, f["groups"])) == [["00.jpg", "00_reencoded.jpg"], ["01.jpg", "01_resized.png"],
                                                 ["02.jpg", "02_cropped.jpg"]]
    assert f["figure"] == 3


def test_dog_has_no_duplicates_although_03_and_04_share_a_source_page(check_of):
    assert "duplicates.groups" not in _by_id(check_of("dog"))


def test_closeup_action_is_concrete(check_of):
    report = check_of("closeups")
    assert re.fullmatch(r"Replace \d of 7 close-ups with half-body or full-body shots", report["actions"][0])
    assert report["zoom"]["mode"] == "face" and report["zoom"]["counts"]["close-up"] == 7


def test_person_zoom_distribution_matches_framing_labels(check_of):
    """The source names give framing: 01-04 close-up selfies, 06-07 half body, 08 full body."""
    classes = {im["name"]: im["zoom_class"] for im in check_of("person")["images"]}
    assert [classes[f"0{i}.jpg"] for i in range(1, 5)] == ["close-up"] * 4
    assert classes["06.jpg"] == classes["07.jpg"] == "medium"
    assert classes["08.jpg"] == "wide"


def test_report_names_the_features_used(check_of):
    feats = check_of("person")["features"]
    assert feats["kind"] == "classical" and feats["similarity"] == "classical" and feats["clip_model"] is None
    assert "CLIP off" in feats["description"]
