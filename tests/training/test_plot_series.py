"""The Train tab's loss and norm charts (lib_ti.training.session.plot_series): inline SVG from a run's series."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from lib_ti.training.session import plot_series

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    root = ET.fromstring(svg)
    lines = [pl.attrib["points"].split() for pl in root.iter(NS + "polyline")]
    dots = list(root.iter(NS + "circle"))
    return root, lines, dots, [t.text for t in root.iter(NS + "text")]


def test_step_loss_fixed_batch_loss_and_norm():
    series = {"step": list(range(1, 41)), "loss": [1 / s for s in range(1, 41)],
              "metric_step": [10, 20, 30, 40], "fixed_loss": [0.5, math.nan, 0.3, 0.2],
              "mean_norm": [0.4, 0.5, 0.55, 0.6]}
    loss_svg, norm_svg = plot_series(series)
    _, lines, dots, words = parse(loss_svg)
    assert [len(pl) for pl in lines] == [40, 3]  # the step loss; the fixed-batch loss without its NaN point
    assert len(dots) == 3  # a dot per fixed-batch measurement
    assert {"Loss", "step loss", "fixed-batch loss", "step"} <= set(words)
    _, lines, _, words = parse(norm_svg)
    assert [len(pl) for pl in lines] == [4] and "Mean vector norm" in words


def test_a_long_run_is_thinned_and_an_empty_one_still_draws():
    n = 20000
    series = {"step": list(range(n)), "loss": [1.0] * n, "metric_step": [], "fixed_loss": [], "mean_norm": []}
    loss_svg, _ = plot_series(series)
    _, lines, _, _ = parse(loss_svg)
    assert sum(len(pl) for pl in lines) <= 700 and len(loss_svg) < 20000
    loss_svg, norm_svg = plot_series({})
    assert parse(loss_svg)[1] == [] and parse(norm_svg)[1] == []
