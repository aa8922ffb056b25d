"""The Schedule tab's plot (lib_ti.schedule.plot): an inline SVG of the rate each step gets."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from lib_ti.schedule.parse import trace
from lib_ti.schedule.plot import plot_trace, schedule_chart

NS = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(NS + "text")]


def test_one_flat_piece_per_segment_with_its_rate_written_on_it():
    tr = trace("0.05:100, 0.005:1000, 0.0005", 2000, 0)
    chart = schedule_chart(tr, 2000)
    assert [n.text for n in chart.notes] == ["5e-2", "5e-3", "5e-4"]
    assert chart.lines[0].points == [(0, 0.05), (100, 0.05), (100, 0.005), (1000, 0.005), (1000, 0.0005),
                                     (2000, 0.0005)]
    svg = plot_trace(tr, 2000)
    assert {"5e-2", "5e-3", "5e-4", "end: max steps 2000", "learning rate (log)"} <= set(texts(svg))


@pytest.mark.parametrize("text, log", [("0.05:100, 0.005", True), ("0:100, 0.005", False)])
def test_log_scale_only_when_every_rate_is_positive(text, log):
    assert ("learning rate (log)" in texts(plot_trace(trace(text, 500, 0), 500))) is log


def test_an_early_end_and_max_steps_are_both_marked():
    svg = plot_trace(trace("0.01:300", 2000, 0), 2000)  # the host stops after the last entry's step
    assert {"training ends: 300 updates", "max steps 2000"} <= set(texts(svg))


def test_a_resumed_run_starts_at_its_step():
    chart = schedule_chart(trace("0.01:100, 0.001", 400, 150), 400, 150)
    assert chart.x_range[0] == 150 and chart.lines[0].points[0][0] == 150


@pytest.mark.parametrize("text", ["1e400:10, 0.001", "1e400", "0:10, 0", "1e-320:5, 1e308"])
def test_extreme_rates_draw_finite_coordinates(text):
    root = ET.fromstring(plot_trace(trace(text, 100, 0), 100))
    for el in root.iter():
        for name, value in el.attrib.items():
            if name in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy"):
                assert math.isfinite(float(value)), (name, value)
            if name == "points":
                assert all(math.isfinite(float(v)) for p in value.split() for v in p.split(",")), value
