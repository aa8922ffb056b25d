"""The one-framing note: a set is varied in distance only if it varies without its most unusual photo."""

from __future__ import annotations

import math

import pytest

from lib_ti.dataset.checks import SUBJECT_CLOSEUP, SUBJECT_WIDE, check_zoom, framing_spread

#: the subject-size fractions TI Lab's check measured on bench/learning.py's 16 small red triangles (saliency boxes,
#: 64 px): fifteen alike and one box that took in part of the background
SMALL_RED_TRIANGLES = [0.062, 0.07, 0.079, 0.08, 0.081, 0.083, 0.085, 0.087, 0.088, 0.098, 0.102, 0.107, 0.108,
                       0.11, 0.122, 0.26]


def _zoom(fractions: list[float]) -> dict:
    def cls(x: float) -> str:
        return "close-up" if x >= SUBJECT_CLOSEUP else "wide" if x < SUBJECT_WIDE else "medium"

    images = {f"{i:02d}.png": {"class": cls(x), "fraction": x, "reason": None} for i, x in enumerate(fractions)}
    counts = {k: sum(v["class"] == k for v in images.values()) for k in ("close-up", "medium", "wide")}
    return {"mode": "subject", "closeup_threshold": SUBJECT_CLOSEUP, "wide_threshold": SUBJECT_WIDE,
            "images": images, "counts": counts, "unmeasured": []}


@pytest.mark.parametrize("fractions, finding", [
    (SMALL_RED_TRIANGLES, "zoom.one_framing"),  # varied by the plain standard deviation (0.135): the odd box hid it
    (SMALL_RED_TRIANGLES[:-1], "zoom.one_framing"),
    ([0.1] * 15 + [0.45], "zoom.one_framing"),  # one medium-close shot among 15 equal ones is not "a few"
    ([0.1] * 14 + [0.45, 0.45], "zoom.ok"),  # two are
    ([0.08] * 6 + [0.2] * 6 + [0.45] * 4, "zoom.ok"),  # three framings
    ([0.05, 0.2, 0.45], "zoom.ok"),  # three photos, three distances
    ([0.1, 0.3, 0.45], "zoom.one_framing"),  # three photos, two alike (1.5x apart): varied only by the third
    ([0.6] * 12 + [0.1] * 4, "zoom.closeups"),  # the close-up warning comes first, as before
])
def test_one_framing_needs_variety_beyond_one_photo(fractions, finding):
    assert [f.id for f in check_zoom([], _zoom(fractions))] == [finding]


def test_the_note_names_the_photo_it_left_out_and_the_ratio_without_it():
    note = check_zoom([], _zoom(SMALL_RED_TRIANGLES))[0]
    assert "leaving out 15.png" in note.figure_text
    assert f"largest {0.122 / 0.062:.1f}× the smallest" in note.figure_text  # not 0.26 / 0.062


@pytest.mark.parametrize("logs", [[0.0, 0.0, 1.0], [-1.0, -1.2, -0.9, -1.1, -2.0], [-0.5, -0.4, -0.6, -0.5]])
def test_framing_spread_is_the_smallest_leave_one_out_deviation(logs):
    fractions = [10 ** x for x in logs]
    spread, odd = framing_spread(fractions)
    rest = logs[:odd] + logs[odd + 1:]
    mean = sum(rest) / len(rest)
    assert spread == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in rest) / len(rest)))
    for i in range(len(logs)):  # no other photo left out gives a smaller spread
        others = logs[:i] + logs[i + 1:]
        m = sum(others) / len(others)
        assert math.sqrt(sum((x - m) ** 2 for x in others) / len(others)) >= spread - 1e-12
