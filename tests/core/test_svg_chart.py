"""Inline SVG line charts (lib_ti.core.svg_chart): well-formed, escaped, every coordinate finite, log or linear."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from lib_ti.core.svg_chart import Chart, Line, Marker, Note, fmt_num, nice_ticks, render, thin

NS = "{http://www.w3.org/2000/svg}"
COORD_ATTRS = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything a browser's XML parser would refuse


def coordinates(root: ET.Element) -> list[float]:
    """Every number the chart places: positions and polyline points (text like "nan" would fail float() or isfinite)."""
    out = []
    for el in root.iter():
        out += [float(el.attrib[a]) for a in COORD_ATTRS if a in el.attrib]
        out += [float(v) for v in re.split(r"[ ,]+", el.attrib.get("points", "").strip()) if v]
    return out


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, p.split(","))) for p in pl.attrib["points"].split()] for pl in root.iter(NS + "polyline")]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(NS + "text")]


@pytest.mark.parametrize("ys", [
    [1.0, 2.0, 3.0],
    [0.0, 0.0, 0.0],
    [1e308, -1e308, 5.0],            # a span that overflows a plain subtraction
    [5e-324, 1e-3, 1.0],             # a subnormal on a log axis
    [math.inf, 1.0, math.nan, 2.0],  # gaps
    [math.nan, math.nan, math.nan],  # nothing drawable at all
    [-math.inf, 1e-320],
])
@pytest.mark.parametrize("log_y", [None, True, False])
def test_every_coordinate_is_finite_and_inside_the_view(ys, log_y):
    chart = Chart([Line(list(enumerate(ys)), step=True), Line([(0, 1.0)], markers=True)],
                  markers=[Marker(1.5, "end"), Marker(math.inf, "never")], notes=[Note(1, y, "r") for y in ys],
                  log_y=log_y, title="t", x_label="step", y_label="rate")
    root = parse(render(chart, 760, 300))
    assert root.attrib["viewBox"] == "0 0 760 300"
    for v in coordinates(root):
        assert math.isfinite(v) and -40 <= v <= 800, v


def test_a_non_drawable_value_is_a_gap_not_a_joined_line():
    root = parse(render(Chart([Line([(0, 1.0), (1, 2.0), (2, math.inf), (3, 2.0), (4, 1.0)])], log_y=False)))
    assert [len(run) for run in polylines(root)] == [2, 2]


def test_log_axis_spaces_decades_evenly_and_says_so():
    root = parse(render(Chart([Line([(0, 1e-2), (1, 1e-3), (2, 1e-4)])], y_label="rate", log_y=True)))
    (run,) = polylines(root)
    ys = [y for _, y in run]
    assert ys[0] < ys[1] < ys[2]  # smaller values lower (SVG y grows downwards)
    assert ys[1] - ys[0] == pytest.approx(ys[2] - ys[1], abs=0.2)
    assert "rate (log)" in texts(root) and {"1e-3", "1e-4", "0.01"} <= set(texts(root))


@pytest.mark.parametrize("ys, expect_log", [
    ([1e-2, 1e-4], True),     # positive, more than a factor 10 apart
    ([1.0, 2.0], False),      # positive but close: linear reads better
    ([0.0, 1e-3], False),     # zero has no logarithm
    ([-1.0, 1.0], False),
])
def test_automatic_scale(ys, expect_log):
    root = parse(render(Chart([Line(list(enumerate(ys)))], y_label="v")))
    assert ("v (log)" in texts(root)) is expect_log


def test_a_forced_log_axis_falls_back_to_linear_without_positive_values():
    root = parse(render(Chart([Line([(0, 0.0), (1, -1.0)])], y_label="v", log_y=True)))
    assert "v" in texts(root) and len(polylines(root)) == 1


def test_step_lines_run_flat_then_drop():
    root = parse(render(Chart([Line([(0, 4.0), (10, 4.0), (10, 1.0), (20, 1.0)], step=True)], log_y=False)))
    (run,) = polylines(root)
    for (xa, ya), (xb, yb) in zip(run, run[1:]):
        assert xa == xb or ya == yb  # only horizontal and vertical pieces


EVIL = '<script>alert("x")</script> & \'quotes\''


def test_all_text_is_escaped():
    chart = Chart([Line([(0, 1), (1, 2)], label=EVIL), Line([(0, 2), (1, 3)], label="b")],
                  markers=[Marker(0.5, EVIL, color='red" onload="x')], notes=[Note(0, 1, EVIL)],
                  title=EVIL, x_label=EVIL, y_label=EVIL)
    svg = render(chart, elem_class='c" onclick="x')
    root = parse(svg)
    assert "<script" not in svg and 'onload="' not in svg and 'onclick="' not in svg
    assert texts(root).count(EVIL) == 6  # title, both axis labels, marker, note, legend: shown as written
    assert root.find(NS + "title").text == EVIL
    assert not list(root.iter(NS + "script"))


def test_the_chart_fills_its_box_width():
    root = parse(render(Chart([Line([(0, 1), (1, 2)])]), 500, 260))
    assert root.attrib["width"] == "100%" and root.attrib["viewBox"] == "0 0 500 260"
    assert "height:auto" in root.attrib["style"]


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 2000, [0, 500, 1000, 1500, 2000]),
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (3, 3, [3]),
])
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)


@pytest.mark.parametrize("value, text", [(0, "0"), (2000, "2000"), (0.25, "0.25"), (1e-3, "1e-3"),
                                         (2.5e-4, "2.5e-4"), (1e6, "1e6")])
def test_tick_labels_are_short(value, text):
    assert fmt_num(value) == text


def test_thin_bounds_the_points_and_keeps_spikes():
    pts = [(i, 1.0) for i in range(10000)]
    pts[7777] = (7777, 50.0)
    pts[4242] = (4242, -3.0)
    out = thin(pts, 600)
    assert len(out) <= 620 and (7777, 50.0) in out and (4242, -3.0) in out
    assert [x for x, _ in out] == sorted(x for x, _ in out)
    assert thin(pts[:100], 600) == pts[:100]
