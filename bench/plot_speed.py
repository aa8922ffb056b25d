"""How long one Schedule-tab answer and one Train-tab plot redraw take: inline SVG vs the matplotlib PNG they
replaced, side by side in one run (same schedule, same loss series, same process).

The PNG path is what the tabs did before: a matplotlib figure saved as PNG, opened with PIL, then encoded again
by gradio's ``gr.Image`` for the browser. The SVG path is what they do now: ``lib_ti.core.svg_chart`` text through
``gr.HTML``. matplotlib is not a TI Lab dependency any more (gradio 3 still installs it); without it only the SVG
figures are printed.

Usage: ``.venv/bin/python bench/plot_speed.py [REPEATS]``  (load on the machine inflates both sides alike)
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lib_ti.schedule.parse import trace  # noqa: E402
from lib_ti.schedule.plot import plot_trace  # noqa: E402
from lib_ti.training.session import plot_series  # noqa: E402

SCHEDULE = "0.05:100, 0.01:500, 0.005:1000, 0.001"
SERIES = {"step": list(range(1, 1001)), "loss": [0.2 + 0.3 / (1 + s / 50) + 0.05 * ((s * 7919) % 13) / 13
                                                  for s in range(1, 1001)],
          "metric_step": list(range(50, 1001, 50)),
          "fixed_loss": [0.2 + 0.3 / (1 + s / 50) for s in range(50, 1001, 50)],
          "mean_norm": [0.3 + 0.0005 * s for s in range(50, 1001, 50)]}


def png_schedule(tr, max_steps: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, ax = plt.subplots(figsize=(7.6, 3.0), dpi=100)
    xs, ys = [], []
    for seg in tr.segments:
        xs += [seg.first, seg.last + 1]
        ys += [seg.rate, seg.rate]
    ax.step(xs, ys, where="post", color="#e8702a", linewidth=2)
    ax.set_yscale("log")
    ax.axvline(tr.updates, color="#c0392b", linestyle="--")
    for seg in tr.segments:
        ax.annotate(f"{seg.rate:g}", xy=(seg.first, seg.rate), xytext=(2, 3), textcoords="offset points", fontsize=7)
    ax.set_xlabel("step (completed updates)")
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def png_series(series: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    out = []
    for keys in ((("step", "loss"), ("metric_step", "fixed_loss")), (("metric_step", "mean_norm"),)):
        fig, ax = plt.subplots(figsize=(5, 2.6))
        for xk, yk in keys:
            ax.plot(series[xk], series[yk], lw=1)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        buf.seek(0)
        out.append(Image.open(buf).convert("RGB"))
    return out


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(repeats: int = 10) -> None:
    import gradio as gr

    html, image = gr.HTML(), gr.Image(type="pil")
    tr = trace(SCHEDULE, 2000, 0)
    rows = {
        "schedule answer, SVG": lambda: html.postprocess(plot_trace(tr, 2000)),
        "train plots, SVG": lambda: [html.postprocess(s) for s in plot_series(SERIES)],
    }
    try:
        import matplotlib  # noqa: F401

        rows["schedule answer, matplotlib PNG"] = lambda: image.postprocess(png_schedule(tr, 2000))
        rows["train plots, matplotlib PNG"] = lambda: [image.postprocess(i) for i in png_series(SERIES)]
        for fn in rows.values():
            fn()  # warm-up: imports, fonts
    except ImportError:
        print("matplotlib is not installed: SVG figures only")
    figures = {name: timed(fn, repeats) for name, fn in rows.items()}
    for name, seconds in figures.items():
        print(f"{name:34s} {seconds * 1000:9.2f} ms (median of {repeats})")
    for what in ("schedule answer", "train plots"):
        png = figures.get(f"{what}, matplotlib PNG")
        if png:
            print(f"{what}: SVG is {png / figures[f'{what}, SVG']:.0f}x faster")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
