"""Dataset sub-tab: check a training folder and show the verdict, findings, zoom levels and similarity.

The callbacks only resolve the folder through ``ctx.guard`` and call :func:`run_check`, which
runs the library check as a job (Stop button / host Interrupt), stores the report for the
captions tab, writes the HTML and JSON files, and returns ready-to-show HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..core.context import AppContext
from ..core.jobs import Job

JOB_NAME = "dataset"


@dataclass
class TabOutput:
    """What the tab shows after a run (or an error)."""

    status: str
    verdict: str = ""
    findings: str = ""
    zoom: str = ""
    heatmap: str = ""
    files: Optional[list[str]] = None


def _wrap(body: str) -> str:
    from ..dataset.report import FRAGMENT_CSS

    return f"<div class='tilab-ds'><style>{FRAGMENT_CSS}</style>{body}</div>" if body else ""


def run_check(ctx: AppContext, folder_text: str, size: Any, recursive: bool, template: str, clip: str,
              job: Optional[Job] = None) -> TabOutput:
    """Check the folder typed in the tab; every expected error becomes a status line, never an exception."""
    from ..dataset.pipeline import check_folder
    from ..dataset.report import GLOBAL_FLOOR, findings_html, heatmap_html, to_html, verdict_card_html, zoom_chart_html
    from ..dataset.store import save_html, save_report
    from ..core.deps import MissingDependency
    from ..core.paths import PathRefused

    try:
        folder = ctx.guard.check(folder_text, must_exist=True, kind="dataset folder")
        size_i = int(size or 512)
        if not 64 <= size_i <= 4096:
            raise ValueError(f"Training size {size_i} is outside 64..4096.")
        tmpl = (template or "").strip() or None
        if tmpl and Path(tmpl).expanduser().is_file():
            tmpl = str(ctx.guard.check(tmpl, must_exist=True, kind="template file"))
        res = check_folder(folder, size=size_i, recursive=bool(recursive), clip=(clip or "").strip() or None,
                           template=tmpl, dup_threshold=float(ctx.settings.get("tilab_dataset_dup_threshold")), job=job,
                           processes=not ctx.in_host)
    except (PathRefused, ValueError, OSError, MissingDependency) as exc:
        return TabOutput(status=f"<div class='tilab-error' style='color:#b71c1c;font-weight:600'>⚠ {html.escape(str(exc))}</div>")
    report = res.report
    json_path = save_report(ctx.data_dir, folder, report)
    html_path = save_html(ctx.data_dir, folder, to_html(report, res.thumbs))
    sim = report["similarity"]
    status = (f"Checked {report['counts']['images']} images in {html.escape(str(folder))}"
              + ("" if report["complete"] else " (stopped early)") + f". Report: {html.escape(str(html_path))}")
    return TabOutput(
        status=f"<div class='tilab-status'>{status}</div>",
        verdict=_wrap(verdict_card_html(report)),
        findings=_wrap(findings_html(report, res.thumbs)),
        zoom=_wrap(zoom_chart_html(report)),
        heatmap=_wrap(f"<p class='meta'>{html.escape(sim['features'])} features · 100 = identical</p>"
                      + heatmap_html(sim["names"], sim["global"], floor=GLOBAL_FLOOR)
                      + "<p class='meta'>Background similarity (outside the subject)</p>"
                      + heatmap_html(sim["names"], sim["background"])),
        files=[str(html_path), str(json_path)],
    )


def build(ctx: AppContext) -> None:
    import gradio as gr

    from . import jobs_ui

    gr.Markdown("Check a training folder **before** training: photos that share a zoom level, a background, "
                "clothes or light teach the embedding those instead of the subject. Files are only read.")
    with gr.Row():
        with gr.Column(scale=3):
            folder = gr.Textbox(label="Dataset folder", placeholder="/path/to/training/images",
                                elem_id="tilab_dataset_folder")
            with gr.Row():
                run = gr.Button("Run check", variant="primary", elem_id="tilab_dataset_run")
                stop = gr.Button("Stop", elem_id="tilab_dataset_stop")
        with gr.Column(scale=2):
            with gr.Row():
                size = gr.Number(label="Training size (px)", value=512, precision=0, elem_id="tilab_dataset_size")
                recursive = gr.Checkbox(label="Include sub-folders", value=False, elem_id="tilab_dataset_recursive")
            template = gr.Textbox(label="Prompt template (file or text, optional)", elem_id="tilab_dataset_template",
                                  placeholder="a photo of [name], [filewords]")
            clip = gr.Textbox(label="CLIP features (optional: ARCH=WEIGHTS file you have)", elem_id="tilab_dataset_clip",
                              placeholder="ViT-B-32=/models/clip/vit-b-32.safetensors")
    status = gr.HTML(elem_id="tilab_dataset_status")
    verdict = gr.HTML(elem_id="tilab_dataset_verdict")
    with gr.Row():
        with gr.Column(scale=3):
            findings = gr.HTML(elem_id="tilab_dataset_findings")
        with gr.Column(scale=2):
            gr.Markdown("**Zoom levels**")
            zoom = gr.HTML(elem_id="tilab_dataset_zoom")
            gr.Markdown("**Similarity**")
            heatmap = gr.HTML(elem_id="tilab_dataset_heatmap")
            files = gr.File(label="Report files (HTML, JSON)", file_count="multiple", interactive=False,
                            elem_id="tilab_dataset_files")

    def on_run(folder_text, size_v, rec, tmpl, clip_v, progress=gr.Progress()):
        job = jobs_ui.start(ctx, JOB_NAME, progress)
        try:
            out = run_check(ctx, folder_text, size_v, rec, tmpl, clip_v, job)
        finally:
            jobs_ui.finish(JOB_NAME, job)
        return out.status, out.verdict, out.findings, out.zoom, out.heatmap, out.files

    run.click(on_run, [folder, size, recursive, template, clip], [status, verdict, findings, zoom, heatmap, files])
    stop.click(lambda: f"<div class='tilab-status'>{jobs_ui.interrupt(JOB_NAME)}</div>", None, [status])
