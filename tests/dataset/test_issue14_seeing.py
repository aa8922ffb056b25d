"""Checks that see what a person sees (issue 14), on the repo's photos and hard cases built from them
(each builder in conftest.py says how its photos were made)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lib_ti.dataset.checks import Finding, colour_phrase
from lib_ti.dataset.report import image_labels, top_actions, verdict, zoom_chart_html

REPO = Path(__file__).resolve().parents[2]


def _dups(report: dict) -> dict:
    found = [f for f in report["findings"] if f["id"] == "duplicates.groups"]
    return found[0] if found else {}


# --------------------------------------------------------------------------- 1. near-duplicates


@pytest.mark.parametrize("copy,original,kind,overlap", [
    ("01_mirror.jpg", "01.jpg", "mirror", (0.95, 1.0)),       # flipped left-right: pHash 30/64 apart
    ("04_crop.jpg", "04.jpg", "crop", (0.65, 0.85)),          # left quarter cut off
    ("02_mirror_crop.jpg", "02.jpg", "mirror", (0.5, 0.75)),  # flipped, then cropped 80 % × 80 % and rescaled
])
def test_mirrored_and_cropped_copies_are_found_with_kind_and_overlap(check_of, copy, original, kind, overlap):
    f = _dups(check_of("mirrors_and_crops"))
    assert f, "no near-duplicates reported"
    pair = next((p for p in f["pairs"] if {p["a"], p["b"]} == {copy, original}), None)
    assert pair is not None, f"{copy} not paired with {original}: {f['pairs']}"
    assert pair["kind"] == kind
    assert overlap[0] <= pair["overlap"] <= overlap[1]


def test_only_the_copies_are_grouped_and_the_set_is_not_ready(check_of):
    report = check_of("mirrors_and_crops")
    groups = sorted(map(sorted, _dups(report)["groups"]))
    assert groups == [["01.jpg", "01_mirror.jpg"], ["02.jpg", "02_mirror_crop.jpg"], ["04.jpg", "04_crop.jpg"]]
    assert report["verdict"]["level"] == "fix"
    assert report["actions"].count("Set aside 3 near-duplicate copies (keep one per group)") == 1


@pytest.mark.parametrize("name", ["dog", "backpack"])
def test_same_subject_in_the_same_place_is_not_a_copy(check_of, name):
    """dog/02+03 share one red wall, backpack/00+01 one sky and 04+05 one log: different photos, not copies."""
    assert not _dups(check_of(name))


# --------------------------------------------------------------------------- 2. zoom of animals and objects


def test_full_body_animals_are_never_called_close_ups(check_of):
    report = check_of("full_body_animals")
    assert [im["name"] for im in report["images"] if im["zoom_class"] == "close-up"] == []
    assert "zoom.closeups" not in [f["id"] for f in report["findings"]]


def test_real_dog_full_body_shots_are_not_close_ups(check_of):
    classes = {im["name"]: im["zoom_class"] for im in check_of("dog")["images"]}
    assert classes["02.jpg"] != "close-up" and classes["03.jpg"] != "close-up"


def test_frame_filling_object_is_a_close_up(check_of):
    im = check_of("frame_filling")["images"][0]
    assert im["zoom_class"] == "close-up" and im["zoom_source"] == "subject (fills the frame)"


@pytest.mark.parametrize("name", ["dog", "teapot", "backpack", "grey_sloth_plushie", "person", "full_body_animals",
                                  "mirrors_and_crops"])
def test_not_measured_always_says_why(check_of, name):
    report = check_of(name)
    for im in report["images"]:
        assert (im["zoom_class"] is None) == bool(im["zoom_reason"]), im
    assert "not measured: " in zoom_chart_html(report) or not report["zoom"]["unmeasured"]


def test_caption_class_word_stops_a_toy_face_being_taken_for_a_person(check_of):
    """Uncaptioned, the Haar face detector fires on the plush sloth's face (00 and 04); captioned "sloth plushie toy",
    no human face is searched and the zoom is measured on the subject."""
    assert any(im["face_box"] for im in check_of("grey_sloth_plushie")["images"])
    report = check_of("captioned_sloth")
    assert report["zoom"]["subject_kind"] == {"kind": "object", "word": "toy"}
    assert report["zoom"]["mode"] == "subject" and not any(im["face_box"] for im in report["images"])


def test_unsure_measurements_never_drive_a_warning(check_of):
    report = check_of("mirrors_and_crops")
    assert report["zoom"]["unmeasured"]
    assert not [f for f in report["findings"] if f["check"] == "zoom" and f["severity"] == "warning"]


# --------------------------------------------------------------------------- 3. OpenCV loaded before workers


def test_opencv_is_loaded_before_any_worker_thread_starts(tmp_path):
    """Run in a fresh interpreter: at the moment the pool starts, cv2 and cv2.data must already be imported."""
    from PIL import Image

    for k in range(3):
        Image.new("RGB", (64, 64), (40 * k, 90, 200)).save(tmp_path / f"{k}.png")
    code = textwrap.dedent(f"""
        import sys, concurrent.futures as cf
        from lib_ti.dataset import pipeline
        assert "cv2" not in sys.modules, "importing the pipeline should not need OpenCV yet"
        seen = []
        orig = cf.ThreadPoolExecutor.__init__
        def init(self, *a, **k):
            cv2 = sys.modules.get("cv2")
            seen.append(cv2 is not None and hasattr(cv2, "data") and hasattr(cv2.data, "haarcascades"))
            orig(self, *a, **k)
        pipeline.ThreadPoolExecutor.__init__ = init
        pipeline.check_folder({str(tmp_path)!r}, processes=False)
        assert seen == [True], seen
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


# --------------------------------------------------------------------------- 4. wording


@pytest.mark.parametrize("words,said", [
    (["orange", "orange", "orange", "orange", "orange"], "orange"),
    (["orange", "orange", "yellow"], "orange or yellow"),
    (["yellow", "orange", "yellow", "unknown"], "yellow or orange"),
])
def test_a_group_of_colours_is_said_as_it_is(words, said):
    assert colour_phrase(words)[0] == said


def _f(fid: str, severity: str, attribute=None, images=(), groups=(), action=None) -> Finding:
    return Finding(fid.split(".")[0], fid, fid, severity, 0, "", "", "", list(images), [list(g) for g in groups],
                   action=action, attribute=attribute)


@pytest.mark.parametrize("findings,text", [
    ([_f("basics.resolution", "warning")], "1 other problem needs fixing."),
    ([_f("background.shared", "warning", {"kind": "background"})], "1 shared trait will likely leak into the embedding."),
    ([_f("lighting.uniform", "warning", {"kind": "lighting"}), _f("basics.count", "warning"), _f("basics.blur", "warning")],
     "1 shared trait will likely leak into the embedding; 2 other problems need fixing."),
])
def test_only_shared_traits_are_said_to_leak(findings, text):
    assert verdict(findings)["text"] == text


def test_copies_get_one_action_not_two():
    dup = _f("duplicates.groups", "warning", images=["a.jpg", "b.jpg"], groups=[["a.jpg", "b.jpg"]], action="Set aside 1")
    bg = _f("background.group", "warning", {"kind": "background"}, images=["a.jpg", "b.jpg"], action="Replace 1")
    assert top_actions([dup, bg]) == ["Set aside 1"]


def test_one_group_is_singular(check_of):
    assert _dups(check_of("mirrors_and_crops"))["figure_text"] == "3 groups, 3 extra copies"
    f = next(f for f in check_of("near_duplicates")["findings"] if f["id"] == "duplicates.groups")
    assert "groups" in f["figure_text"] and "1 groups" not in f["figure_text"]


def test_one_framing_says_its_real_trigger(check_of):
    f = next(f for f in check_of("captioned_sloth")["findings"] if f["id"] == "zoom.one_framing")
    assert "measured photos are medium shots" in f["text"] and "log10" not in f["text"]


def test_zoom_bars_are_to_scale_beyond_half_the_frame():
    report = {"zoom": {"mode": "subject", "closeup_threshold": 0.5, "wide_threshold": 0.12},
              "images": [{"name": n, "zoom_fraction": x, "zoom_class": "medium", "zoom_reason": None,
                          "zoom_source": "subject"} for n, x in (("a", 0.61), ("b", 0.75))]}
    page = zoom_chart_html(report)
    assert "width:122px" in page and "width:150px" in page


@pytest.mark.parametrize("names,labels", [
    (["00.jpg", "01.jpg", "09.png"], ["00", "01", "09"]),
    (["02_mirror_crop.jpg", "zz-copy-of-00.jpg"], ["02_mirror_crop", "zz-copy-of-00"]),  # column headers are vertical
    (["sub/00.jpg", "01.png"], ["00", "01"]),
    (["a_long_file_name.jpg", "b.jpg"], ["1", "2"]),  # over 14 characters: numbers, with a key under the table
    (["a.jpg", "a.png"], ["1", "2"]),  # two photos, one stem
])
def test_heatmap_labels_match_file_names(names, labels):
    assert image_labels(names) == labels


# --------------------------------------------------------------------------- 5. hair and clothing per photo


@pytest.mark.parametrize("photo,words", [
    ("01.jpg", ["short", "hair", "red clothing"]),   # notes: red shirt
    ("07.jpg", ["short", "hair", "blue clothing"]),  # notes: blue T-shirt
    ("06.jpg", ["black clothing"]),                  # notes: black parka
])
def test_person_hair_and_clothing_per_photo(check_of, photo, words):
    im = next(im for im in check_of("person")["images"] if im["name"] == photo)
    for w in words:
        assert w in (im["person"] or ""), im["person"]
