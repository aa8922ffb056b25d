"""Dataset sub-tab: check a training folder and show the verdict, findings, zoom levels and similarity.

The callbacks only resolve the folder through ``ctx.guard`` and call :func:`run_check`, which
runs the library check as a job (Stop button / host Interrupt), stores the report for the
captions tab, writes the HTML and JSON files, and returns ready-to-show HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Optional

from ..core.context import AppContext
from ..core.jobs import Job

JOB_NAME = "dataset"
NOTHING_TO_STOP = " <span class='tilab-note'>(nothing to stop)</span>"


@dataclass
class TabOutput:
    """What the tab shows after a run (or an error)."""

    status: str
    verdict: str = ""
    findings: str = ""
    zoom: str = ""
    heatmap: str = ""
    gallery: str = ""
    files: Optional[list[str]] = None
    copies: list[str] = field(default_factory=list)  # near-duplicate copies the user may set aside (all but one per group)
    folder: Optional[str] = None


def _wrap(body: str) -> str:
    from ..dataset.report import FRAGMENT_CSS

    return f"<div class='tilab-ds'><style>{FRAGMENT_CSS}</style>{body}</div>" if body else ""


def _confined_clip(ctx: AppContext, clip: Optional[str]) -> Optional[str]:
    """The CLIP ``ARCH=WEIGHTS`` field with its files checked by the guard: on a shared server the client must
    not open (or probe the existence of) files outside the allowed folders through this field."""
    spec = (clip or "").strip()
    if not spec or not ctx.guard.restricted:
        return spec or None
    arch, sep, weights = spec.partition("=")
    if arch.strip().endswith(".json"):
        arch = str(ctx.guard.check(arch, must_exist=True, kind="CLIP model config"))
    if sep:
        weights = str(ctx.guard.check(weights, must_exist=True, kind="CLIP weights file"))
    return f"{arch.strip()}{sep}{weights}"


def _confined_template(ctx: AppContext, text: Optional[str]) -> tuple[Optional[str], Optional[bool]]:
    """(template, whether it is a file) for :func:`~lib_ti.dataset.pipeline.check_folder`.

    On a shared server, whether the field is a path is decided from the text alone and a path goes through the
    guard before anything looks at the disk: the answer for a file outside the allowed folders is the same whether
    or not it exists. Text is never looked up (it could name a file there). Locally, a file when one exists, else
    the text (as the CLI's ``--template``).
    """
    from ..dataset.captions_aware import looks_like_path

    tmpl = (text or "").strip()
    if not tmpl:
        return None, None
    if not ctx.guard.restricted:
        return tmpl, None
    if not looks_like_path(tmpl):
        return tmpl, False
    return str(ctx.guard.check(tmpl, must_exist=True, kind="template file")), True


def run_check(ctx: AppContext, folder_text: str, size: Any, recursive: bool, template: str, clip: str,
              job: Optional[Job] = None) -> TabOutput:
    """Check the folder typed in the tab; every expected error becomes a status line, never an exception."""
    from ..dataset.pipeline import check_folder
    from ..dataset.report import (GLOBAL_FLOOR, findings_html, gallery_html, heatmap_html, to_html, verdict_card_html,
                                  zoom_chart_html)
    from ..dataset.store import save_html, save_report
    from ..core.deps import MissingDependency
    from ..core.paths import PathRefused

    try:
        folder = ctx.guard.check(folder_text, must_exist=True, kind="dataset folder")
        size_i = int(size or 512)
        if not 64 <= size_i <= 4096:
            raise ValueError(f"Training size {size_i} is outside 64..4096.")
        tmpl, tmpl_is_file = _confined_template(ctx, template)
        res = check_folder(folder, size=size_i, recursive=bool(recursive), clip=_confined_clip(ctx, clip),
                           template=tmpl, template_is_file=tmpl_is_file,
                           dup_threshold=float(ctx.settings.get("tilab_dataset_dup_threshold")), job=job,
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
        gallery=_wrap(gallery_html(report, res.thumbs)),
        files=[str(html_path), str(json_path)],
        copies=suggested_copies(report),
        folder=str(folder),
    )


def suggested_copies(report: dict) -> list[str]:
    """The near-duplicate copies to set aside: every image of a duplicate group but its first."""
    return [name for f in report["findings"] if f["id"] == "duplicates.groups" for g in f["groups"] for name in g[1:]]


def set_aside_copies(ctx: AppContext, folder_text: str, names: list[str]) -> tuple[str, list]:
    """Set the chosen photos aside (:func:`lib_ti.dataset.exclude.set_aside`); returns (status HTML, records for undo).

    Each photo is handled on its own: one that cannot be moved is named in the status, the others still move.
    """
    from ..core.paths import PathRefused
    from ..dataset.exclude import ExcludeError, set_aside

    if not names:
        return "<div class='tilab-status'>Tick the copies to set aside first.</div>", []
    try:
        folder = ctx.guard.check(folder_text, must_exist=True, kind="dataset folder")
    except (PathRefused, ValueError, OSError) as exc:
        return f"<div class='tilab-error'>⚠ {html.escape(str(exc))}</div>", []
    records, problems = [], []
    for name in names:
        try:
            records.append(set_aside(folder, name))
        except (ExcludeError, OSError) as exc:
            problems.append(str(exc))
    done = ", ".join(f"{r.name} → _excluded/{r.excluded_name}" for r in records)
    text = (f"Set aside {len(records)} of {len(names)}: {done}. Run the check again to see the set without them."
            if records else "Nothing was set aside.")
    if problems:
        text += " Not moved: " + "; ".join(problems)
    return f"<div class='tilab-status'>{html.escape(text)}</div>", records


def undo_set_aside(records: list) -> tuple[str, list]:
    """Put back the photos of the last set-aside (:func:`lib_ti.dataset.exclude.put_back`); returns (status, left over)."""
    from ..dataset.exclude import ExcludeError, put_back

    if not records:
        return "<div class='tilab-status'>Nothing to undo.</div>", []
    back, left, problems = [], [], []
    for r in records:
        try:
            back.append(put_back(r).name)
        except (ExcludeError, OSError) as exc:
            left.append(r)
            problems.append(str(exc))
    text = f"Put back {len(back)}: {', '.join(back)}." if back else "Nothing was put back."
    if problems:
        text += " " + "; ".join(problems)
    return f"<div class='tilab-status'>{html.escape(text)}</div>", left


def stop_status(current: Optional[str]) -> str:
    """The status line after Stop: "Stopping…" while a check runs; after it has finished, its "Checked …" line
    stays (it names the report) with "nothing to stop" beside it, rather than being replaced by a bare
    "Nothing is running."."""
    from . import jobs_ui

    if jobs_ui.running(JOB_NAME):
        return f"<div class='tilab-status'>{html.escape(jobs_ui.interrupt(JOB_NAME))}</div>"
    current = str(current or "").replace(NOTHING_TO_STOP, "")
    if "Checked " in current and current.endswith("</div>"):
        return current[:-len("</div>")] + NOTHING_TO_STOP + "</div>"
    return current or "<div class='tilab-status'>Nothing is running.</div>"


def build(ctx: AppContext) -> None:
    import gradio as gr

    from . import jobs_ui
    from .compat import update
    from .workspace import folder_choices, remember_folder

    gr.Markdown("Check a training folder **before** training: photos that share a zoom level, a background, "
                "clothes or light teach the embedding those instead of the subject. Files are only read.")
    with gr.Row():
        with gr.Column(scale=3):
            folder = gr.Dropdown(folder_choices(ctx), label="Dataset folder (type a path or pick a recent one)",
                                 allow_custom_value=True, elem_id="tilab_dataset_folder")
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
            with gr.Group(visible=False, elem_id="tilab_dataset_exclude") as exclude_box:
                copies = gr.CheckboxGroup(label="Near-duplicate copies to set aside (moved to _excluded/ in the folder; undoable)",
                                          elem_id="tilab_dataset_copies")
                with gr.Row():
                    aside = gr.Button("Set aside ticked copies", elem_id="tilab_dataset_set_aside")
                    undo = gr.Button("Undo set aside", elem_id="tilab_dataset_undo")
                exclude_status = gr.HTML(elem_id="tilab_dataset_exclude_status")
            gr.Markdown("**Photos** (what the checker sees in each)")
            gallery = gr.HTML(elem_id="tilab_dataset_gallery")
        with gr.Column(scale=2):
            gr.Markdown("**Zoom levels**")
            zoom = gr.HTML(elem_id="tilab_dataset_zoom")
            gr.Markdown("**Similarity**")
            heatmap = gr.HTML(elem_id="tilab_dataset_heatmap")
            files = gr.File(label="Report files (HTML, JSON)", file_count="multiple", interactive=False,
                            elem_id="tilab_dataset_files")
    result = gr.State(None)
    records = gr.State([])
    checked_folder = gr.State("")

    def on_run(folder_text, size_v, rec, tmpl, clip_v, progress=gr.Progress()):
        job = jobs_ui.start(ctx, JOB_NAME, progress)
        try:
            out = run_check(ctx, folder_text, size_v, rec, tmpl, clip_v, job)
        finally:
            jobs_ui.finish(JOB_NAME, job)
        return out.status, out

    def show(out: Optional[TabOutput]):
        # Filled in a second step without a progress display: the progress bar shows once, on the status line.
        out = out or TabOutput(status="")
        if out.folder:
            remember_folder(ctx.data_dir, out.folder)
        recent = folder_choices(ctx)
        return (out.verdict, out.findings, out.gallery, out.zoom, out.heatmap, out.files,
                gr.update(choices=out.copies, value=out.copies), gr.update(visible=bool(out.copies)), "",
                out.folder or "", update(choices=recent))

    run.click(on_run, [folder, size, recursive, template, clip], [status, result]).then(
        show, [result], [verdict, findings, gallery, zoom, heatmap, files, copies, exclude_box, exclude_status,
                         checked_folder, folder], show_progress="hidden")
    stop.click(stop_status, [status], [status], queue=False)

    def on_aside(folder_text, names, held):
        text, new = set_aside_copies(ctx, folder_text, names or [])
        return text, (held or []) + new

    aside.click(on_aside, [checked_folder, copies, records], [exclude_status, records], show_progress="hidden")
    undo.click(undo_set_aside, [records], [exclude_status, records], show_progress="hidden")
