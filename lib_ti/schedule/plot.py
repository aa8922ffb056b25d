"""Picture of a schedule: rate (log scale) against step, with the end of training marked."""

from __future__ import annotations

import io
import math
from typing import Any

from .parse import Trace, format_rate


def plot_trace(trace: Trace, max_steps: int, start_step: int = 0, width: int = 760, height: int = 300) -> Any:
    """Render ``trace`` as a PIL image (matplotlib's Agg backend; no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from PIL import Image

    dpi = 100
    fig, ax = plt.subplots(figsize=(width / dpi, height / dpi), dpi=dpi)
    try:
        xs: list[float] = []
        ys: list[float] = []
        for seg in trace.segments:
            xs += [seg.first, seg.last + 1]
            ys += [seg.rate, seg.rate]
        ys = [y if math.isfinite(y) else math.nan for y in ys]  # a rate of 1e400 is inf: a gap, not a crash
        finite = [y for y in ys if not math.isnan(y)]
        positive = bool(finite) and all(y > 0 for y in finite)
        ax.step(xs, ys, where="post", color="#e8702a", linewidth=2)
        ax.plot(xs, ys, color="#e8702a", linewidth=2)
        if positive:
            ax.set_yscale("log")
            ax.set_ylim(min(finite) / 2, max(finite) * 3)  # headroom for the rate labels
        end = start_step + trace.updates
        ax.axvline(end, color="#c0392b", linestyle="--", linewidth=1)
        label = f"training ends: {end} updates" if end != max_steps else f"end: max steps {max_steps}"
        ax.annotate(label, xy=(end, max(ys)), xytext=(-6, -4), textcoords="offset points",
                    ha="right", va="top", fontsize=8, color="#c0392b")
        if max_steps != end:
            ax.axvline(max_steps, color="#7f8c8d", linestyle=":", linewidth=1)
            ax.annotate(f"max steps {max_steps}", xy=(max_steps, min(ys)), xytext=(-4, 4),
                        textcoords="offset points", ha="right", fontsize=8, color="#7f8c8d")
        for seg in trace.segments:
            ax.annotate(format_rate(seg.rate), xy=(seg.first, seg.rate), xytext=(2, 3),
                        textcoords="offset points", fontsize=7)
        ax.set_xlim(start_step, max(end, max_steps) * 1.02 + 1)
        ax.set_xlabel("step (completed updates)")
        ax.set_ylabel("learning rate" + (" (log)" if positive else ""))
        ax.grid(True, which="both", alpha=0.25)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
