"""Picture of a schedule: rate (log scale when every rate is positive) against step, the end of training marked.

An inline SVG (:mod:`lib_ti.core.svg_chart`), not a rendered image: the Schedule tab redraws on every edit, also
while a training run shares the machine, and the picture has to come back in milliseconds.
"""

from __future__ import annotations

import math

from ..core.svg_chart import Chart, Line, Marker, Note, render
from .parse import Trace, format_rate

END_COLOR, MAX_COLOR, RATE_COLOR = "#c0392b", "#7f8c8d", "#e8702a"


def schedule_chart(trace: Trace, max_steps: int, start_step: int = 0) -> Chart:
    """What the plot shows, before drawing: the step line, a rate note per segment, the end and max-steps marks."""
    points: list[tuple[float, float]] = []
    for seg in trace.segments:
        points += [(seg.first, seg.rate), (seg.last + 1, seg.rate)]
    rates = [seg.rate for seg in trace.segments]
    end = start_step + trace.updates
    label = f"training ends: {end} updates" if end != max_steps else f"end: max steps {max_steps}"
    markers = [Marker(end, label, END_COLOR, "5 3", "top")]
    if max_steps != end:
        markers.append(Marker(max_steps, f"max steps {max_steps}", MAX_COLOR, "2 3", "bottom"))
    notes = [Note(seg.first, seg.rate, format_rate(seg.rate)) for seg in trace.segments]
    finite = [r for r in rates if math.isfinite(r)]
    return Chart(lines=[Line(points, RATE_COLOR, step=True)], markers=markers, notes=notes,
                 x_label="step (completed updates)", y_label="learning rate",
                 log_y=bool(finite) and all(r > 0 for r in finite),
                 x_range=(start_step, max(end, max_steps) * 1.02 + 1))


def plot_trace(trace: Trace, max_steps: int, start_step: int = 0, width: int = 760, height: int = 300) -> str:
    """``trace`` as an inline ``<svg>`` that scales to its box's width (text escaped, every coordinate finite)."""
    return render(schedule_chart(trace, max_steps, start_step), width, height, "tilab-chart tilab-schedule-chart")
