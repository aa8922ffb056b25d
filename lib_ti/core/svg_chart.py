"""Line charts as inline SVG text, in pure Python.

Why not matplotlib: drawing a figure and encoding it as PNG cost about a second per answer, and the Schedule tab
redraws on every keystroke while the Train tab redraws its loss plots on its poll; on a small machine that time was
taken from a training run. An SVG string is built in milliseconds, scales to the width of its box (fixed viewBox),
and its text stays text (escaped here, once).

Every coordinate written is finite: non-finite or (on a log axis) non-positive values are gaps in a line, and the
axis range is computed so that even values near the float limits map inside the plot area.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

Point = tuple[float, float]

#: plot area margins inside the viewBox (left for the y tick labels, bottom for the x ticks and axis label)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 62, 14, 24, 40
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
GRID_COLOR, AXIS_COLOR, TEXT_COLOR = "#8884", "#888", "currentColor"


@dataclass
class Line:
    """A data series. ``step``: horizontal runs with vertical joins (a schedule); ``markers``: dots at the points."""

    points: Sequence[Point]
    color: str = "#e8702a"
    label: str = ""
    width: float = 2.0
    opacity: float = 1.0
    step: bool = False
    markers: bool = False


@dataclass
class Marker:
    """A vertical line at ``x`` with a label at the top (``where="top"``) or bottom of the plot area."""

    x: float
    label: str
    color: str = "#c0392b"
    dash: str = "5 3"
    where: str = "top"


@dataclass
class Note:
    """A small text at a data point (e.g. a segment's rate), drawn just above and right of it."""

    x: float
    y: float
    text: str
    color: str = TEXT_COLOR


@dataclass
class Chart:
    lines: list[Line] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    #: None: log when every finite value is > 0 and they span more than a factor of 10
    log_y: Optional[bool] = None
    x_range: Optional[tuple[float, float]] = None
    #: a linear axis is padded by this share of its span (a log axis gets a factor 2 below, 3 above)
    headroom: float = 0.08


def esc(text: object) -> str:
    """Text for an SVG text node or attribute (quotes included)."""
    return html.escape(str(text), quote=True)


def _finite(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def fmt_num(v: float) -> str:
    """Short tick label: ``0.001`` → ``1e-3``, ``2000`` → ``2000``, ``0.25`` → ``0.25``."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-2:
        mant, _, exp = f"{v:.2e}".partition("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)}"
    return f"{v:.4g}"


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round-numbered ticks (1, 2, 5 × 10^k) covering ``lo..hi``."""
    if not (_finite(lo) and _finite(hi)) or hi <= lo:
        return [lo] if _finite(lo) else []
    raw = (hi / target - lo / target)
    if not _finite(raw) or raw <= 0:
        return [lo, hi]
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step)
    ticks = []
    k = first
    while len(ticks) < 4 * target:
        t = k * step
        if t > hi + step * 1e-9:
            break
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        k += 1
    return ticks


class _Axis:
    """Maps values to viewBox pixels; log or linear. Works in log10 space for log axes, in halves for linear ones
    (``hi/2 - lo/2`` cannot overflow where ``hi - lo`` would)."""

    def __init__(self, lo: float, hi: float, px0: float, px1: float, log: bool) -> None:
        self.log, self.px0, self.px1 = log, px0, px1
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        if not self.hi > self.lo:
            self.lo, self.hi = self.lo - 1, self.hi + 1

    def __call__(self, v: float) -> Optional[float]:
        if not _finite(v) or (self.log and v <= 0):
            return None
        u = math.log10(v) if self.log else v
        t = (u / 2 - self.lo / 2) / (self.hi / 2 - self.lo / 2)
        t = min(max(t, -0.05), 1.05)  # a value outside the range is drawn at the edge, never far away
        return self.px0 + t * (self.px1 - self.px0)

    def ticks(self) -> list[float]:
        if not self.log:
            return nice_ticks(self.lo, self.hi)
        decades = range(math.ceil(self.lo - 1e-9), math.floor(self.hi + 1e-9) + 1)
        if len(decades) >= 2:
            every = max(1, math.ceil(len(decades) / 7))
            return [10.0 ** d for d in decades if d % every == 0]
        # less than two decades in view: 1, 2, 5 of each decade, so the axis still has numbers
        lo, hi = 10 ** self.lo, 10 ** self.hi
        near = [m * 10.0 ** d for d in range(math.floor(self.lo) - 1, math.ceil(self.hi) + 1) for m in (1, 2, 5)]
        return [t for t in near if lo <= t <= hi] or nice_ticks(lo, hi, 3)


    def placed_ticks(self) -> list[tuple[float, float]]:
        """(value, pixel) of each tick inside the plot area."""
        lo, hi = sorted((self.px0, self.px1))
        placed = [(t, self(t)) for t in self.ticks()]
        return [(t, p) for t, p in placed if p is not None and lo - 0.5 <= p <= hi + 0.5]


def _value_range(values: list[float], log: bool, headroom: float) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if log:  # a factor below and more above: room for the labels written over the top line
        return (lo / 2 if lo / 2 > 0 else lo), (hi * 3 if _finite(hi * 3) else hi)
    pad = (hi / 2 - lo / 2) * 2 * headroom if hi > lo else (abs(hi) * 0.1 or 1.0)
    lo2, hi2 = lo - pad, hi + pad
    if lo >= 0 > lo2:
        lo2 = 0.0  # a loss or a norm never dips below zero: the axis shouldn't either
    return (lo2 if _finite(lo2) else lo), (hi2 if _finite(hi2) else hi)


def _runs(points: Iterable[Point], xa: _Axis, ya: _Axis, step: bool) -> list[list[Point]]:
    """Pixel polylines, split where a value cannot be drawn (a gap, not a crash)."""
    runs: list[list[Point]] = [[]]
    for x, y in points:
        px, py = xa(x), ya(y)
        if px is None or py is None:
            if runs[-1]:
                runs.append([])
            continue
        if step and runs[-1]:
            runs[-1].append((px, runs[-1][-1][1]))
        runs[-1].append((px, py))
    return [r for r in runs if r]


def _pts(run: list[Point]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in run)


def render(chart: Chart, width: int = 760, height: int = 300, elem_class: str = "tilab-chart") -> str:
    """The chart as an ``<svg>`` element that fills its container's width."""
    x0, x1 = MARGIN_LEFT, width - MARGIN_RIGHT
    y0, y1 = height - MARGIN_BOTTOM, MARGIN_TOP
    xs = [p[0] for ln in chart.lines for p in ln.points if _finite(p[0])] + [m.x for m in chart.markers
                                                                            if _finite(m.x)]
    ys = [p[1] for ln in chart.lines for p in ln.points if _finite(p[1])]
    log = chart.log_y
    if log is None:
        log = bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 10
    if log and not (ys and min(ys) > 0):
        log = False
    x_lo, x_hi = chart.x_range or ((min(xs), max(xs)) if xs else (0.0, 1.0))
    y_lo, y_hi = _value_range(ys, log, chart.headroom) if ys else (0.0, 1.0)
    xa, ya = _Axis(x_lo, x_hi, x0, x1, False), _Axis(y_lo, y_hi, y0, y1, log)
    out = [f'<svg class="{esc(elem_class)}" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg" '
           f'style="max-width:{width * 1.5:.0f}px;height:auto;font-family:{FONT};font-size:11px">']
    if chart.title:
        out.append(f'<title>{esc(chart.title)}</title>'
                   f'<text x="{x0}" y="{MARGIN_TOP - 6}" font-weight="600" '
                   f'fill="{TEXT_COLOR}">{esc(chart.title)}</text>')
    for t, py in ya.placed_ticks():
        out.append(f'<line x1="{x0}" x2="{x1}" y1="{py:.1f}" y2="{py:.1f}" stroke="{GRID_COLOR}"/><text x="{x0 - 5}" '
                   f'y="{py + 4:.1f}" text-anchor="end" fill="{TEXT_COLOR}">{esc(fmt_num(t))}</text>')
    for t, px in xa.placed_ticks():
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y1}" y2="{y0}" stroke="{GRID_COLOR}"/><text x="{px:.1f}" '
                   f'y="{y0 + 14}" text-anchor="middle" fill="{TEXT_COLOR}">{esc(fmt_num(t))}</text>')
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" stroke="{AXIS_COLOR}"/>')
    if chart.x_label:
        out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{TEXT_COLOR}">'
                   f'{esc(chart.x_label)}</text>')
    if chart.y_label:
        cy = (y0 + y1) / 2
        out.append(f'<text x="12" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 12 {cy:.1f})" '
                   f'fill="{TEXT_COLOR}">{esc(chart.y_label + (" (log)" if log else ""))}</text>')
    for m in chart.markers:
        px = xa(m.x)
        if px is None:
            continue
        ty = y1 + 12 if m.where == "top" else y0 - 6
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y1}" y2="{y0}" stroke="{esc(m.color)}" '
                   f'stroke-dasharray="{esc(m.dash)}" stroke-width="1.2"/>'
                   f'<text x="{px - 4:.1f}" y="{ty:.1f}" text-anchor="end" fill="{esc(m.color)}">'
                   f'{esc(m.label)}</text>')
    for ln in chart.lines:
        attrs = (f'fill="none" stroke="{esc(ln.color)}" stroke-width="{ln.width}" stroke-opacity="{ln.opacity}" '
                 f'stroke-linejoin="round"')
        for run in _runs(ln.points, xa, ya, ln.step):
            out.append(f'<polyline points="{_pts(run)}" {attrs}/>' if len(run) > 1 else "")
            if ln.markers or len(run) == 1:
                out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{esc(ln.color)}"/>' for x, y in run)
    for n in chart.notes:
        px, py = xa(n.x), ya(n.y)
        if px is not None and py is not None:
            out.append(f'<text x="{px + 3:.1f}" y="{py - 4:.1f}" font-size="10" fill="{esc(n.color)}">'
                       f'{esc(n.text)}</text>')
    # legend: one row in the top margin, right-aligned, so it never covers the data
    right = x1
    for ln in reversed([ln for ln in chart.lines if ln.label]):
        left = right - 6.2 * len(ln.label) - 20
        out.append(f'<line x1="{left:.1f}" x2="{left + 14:.1f}" y1="{MARGIN_TOP - 8}" y2="{MARGIN_TOP - 8}" '
                   f'stroke="{esc(ln.color)}" stroke-width="2"/><text x="{left + 17:.1f}" y="{MARGIN_TOP - 4}" '
                   f'fill="{TEXT_COLOR}">{esc(ln.label)}</text>')
        right = left - 10
    out.append("</svg>")
    return "".join(out)


def thin(points: Sequence[Point], limit: int = 600) -> list[Point]:
    """At most about ``limit`` points, keeping each bucket's lowest and highest value (spikes stay visible) so a
    long run's plot stays a few kilobytes."""
    pts = list(points)
    if len(pts) <= limit:
        return pts
    size = math.ceil(len(pts) / (limit // 2))
    out: list[Point] = []
    for i in range(0, len(pts), size):
        bucket = pts[i:i + size]
        finite = [p for p in bucket if _finite(p[1])]
        if not finite:
            out.append(bucket[0])
            continue
        lo, hi = min(finite, key=lambda p: p[1]), max(finite, key=lambda p: p[1])
        out.extend(sorted({lo, hi}, key=lambda p: p[0]))
    return out
