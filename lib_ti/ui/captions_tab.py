"""Captions sub-tab: a gallery beside a caption editor, bulk edits with preview and undo, BLIP.

Thin: every callback is a module-level function of ``ctx`` and the tab's values over
:mod:`lib_ti.captions` (the session does the saving, the edits module the editing), so tests call
them as gradio does. The ``render_*`` functions turn core results into HTML and never raise, so the
tab shows every problem as a message. Keyboard navigation (``javascript/tilab_captions.js``) only
clicks the Previous/Next buttons.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional, Sequence

from ..captions import edits, filters, stats, tokens
from ..captions.session import CaptionSession
from ..captions.sidecar import CaptionError, ConflictError
from ..captions.thumbs import thumbnail
from ..core.context import AppContext
from ..core.paths import PathRefused

PAGE = 36  # thumbnails per gallery page: 6 rows of 6, made on demand
JOB = "captions"
_FILTER_BY_LABEL = {label: kind for kind, label in filters.FILTERS.items()}
_OP_BY_LABEL = {label: kind for kind, label in edits.OPERATIONS.items()}
SCOPES = ("All images", "Only the filtered images")
#: existing-caption modes; the default keeps what a user corrected by hand (the others back it up first)
EXISTING = ("keep", "ignore", "prepend", "append")
BACKUPS = "caption-backups"

CSS = """
<style>
#tilab_captions_tab .tilab-cap-most { background: rgba(230, 126, 34, .25); font-weight: 600; }
#tilab_captions_tab .tilab-cap-freq td, #tilab_captions_tab .tilab-cap-freq th { padding: 1px 8px; }
#tilab_captions_tab .tilab-cap-chunk { border: 1px dashed #888; border-radius: 4px; padding: 2px 6px; margin: 2px 0;
  font-family: monospace; font-size: 0.85em; }
#tilab_captions_tab .tilab-cap-chunk.over { border-color: #c0392b; }
#tilab_captions_tab .tilab-cap-boundary { color: #c0392b; font-weight: 700; }
#tilab_captions_tab del { background: rgba(192, 57, 43, .25); }
#tilab_captions_tab ins { background: rgba(39, 174, 96, .3); text-decoration: none; }
#tilab_captions_tab .tilab-cap-preview td { padding: 2px 8px; vertical-align: top; }
#tilab_captions_tab .tilab-cap-conflict { color: #c0392b; font-weight: 600; }
#tilab_captions_tab .tilab-cap-ok { color: #27ae60; }
/* gradio keeps the last clicked thumbnail highlighted after Previous/Next; the ▶ label marks the current one */
#tilab_captions_gallery .thumbnail-item.selected { --ring-color: transparent; }
</style>
"""


# --- rendering (pure; tested without a browser) ----------------------------------------------------


def _esc(text: Any) -> str:
    return html.escape(str(text))


def render_tokens(text: str, budget: int = tokens.CHUNK) -> str:
    """Token count with the host's chunk boundary: one box per 75-token chunk."""
    if not tokens.ready():
        tokens.warm_up_in_background()
        return "<p>Token counter loading…</p>"
    tc = tokens.count_tokens(text or "")
    head = f"<b>{tc.label()}</b> CLIP tokens"
    if tc.over_first_chunk:
        head += (f' <span class="tilab-cap-boundary">· {len(tc.chunks)} chunks: the text after the boundary is '
                 "encoded separately</span>")
    if tc.parse_error:
        head += f" <i>(emphasis not parsed: {_esc(tc.parse_error)}; counted as plain text)</i>"
    if not tc.over_first_chunk:
        return f"<p>{head}</p>"
    boxes = "".join(
        f'<div class="tilab-cap-chunk{" over" if i else ""}">chunk {i + 1} ({len(c)}): {_esc(t)}</div>'
        for i, (c, t) in enumerate(zip(tc.chunks, tc.chunk_texts()))
    )
    return f"<p>{head}</p>{boxes}"


def render_tokens_when_ready(text: str) -> str:
    """:func:`render_tokens` after waiting for the tokenizer.

    Runs as a follow-up event after a folder load: the first load in a fresh process would otherwise
    wait seconds for ``import open_clip``, and a background import during the load slows the load itself.
    """
    tokens.tokenizer()
    return render_tokens(text)


def render_preview(changes: Sequence[edits.Change], limit: int = 200) -> str:
    if not changes:
        return "<p>No caption would change.</p>"
    rows = "".join(f"<tr><td>{_esc(c.key)}</td><td>{edits.diff_html(c.before, c.after)}</td></tr>"
                   for c in changes[:limit])
    more = f"<p>… and {len(changes) - limit} more.</p>" if len(changes) > limit else ""
    return (f"<p>{len(changes)} caption(s) will change:</p><table class='tilab-cap-preview'>{rows}</table>{more}")


def render_stats(st: stats.CaptionStats) -> str:
    """Frequency table (phrases in most captions highlighted) and the dataset's unnamed shared attributes."""
    if st.total == 0:
        return "<p>No images loaded.</p>"
    out = [f"<p>{st.captioned} of {st.total} images have a caption. Highlighted phrases are in most captions: "
           "what every caption names, the embedding does not learn.</p>"]
    if st.rows:
        most = ' class="tilab-cap-most"'
        rows = "".join(
            f"<tr{most if r.in_most else ''}><td>{_esc(r.phrase)}</td>"
            f"<td>{r.captions}</td><td>{r.share:.0%}</td></tr>" for r in st.rows)
        out.append("<table class='tilab-cap-freq'><thead><tr><th>phrase</th><th>captions</th><th>share</th></tr>"
                   f"</thead><tbody>{rows}</tbody></table>")
    if st.unnamed:
        items = "".join(
            f"<li class='tilab-cap-most'><b>{_esc(u.description)}</b> ({_esc(u.kind)}; "
            f"e.g. “{_esc(', '.join(u.terms[:3]))}”) in {len(u.images) or 'all'} image(s)</li>" for u in st.unnamed)
        out.append("<p><b>Shared by the images but named in no caption</b> (the embedding will learn these; "
                   "name them in the captions, or vary them in the photos). "
                   "<a href='#' data-tilab-goto='Dataset'>Open the Dataset tab's findings</a></p>"
                   f"<ul>{items}</ul>")
    return "".join(out)


def for_display(path: Any, preview: bool = False) -> Any:
    """What an Image or Gallery output gets: the file path on gradio 3/4 (served as is), a decoded image on
    gradio 5, which refuses to serve files outside its working and temporary folders (dataset folders and
    TI Lab's thumbnail cache are neither). A preview is decoded at reduced size (at most 1024 px a side)."""
    from .compat import gradio_major

    if gradio_major() < 5:
        return str(path)
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        if preview:
            im.draft("RGB", (1024, 1024))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((1024, 1024))
        return im.convert("RGB")


def gallery_page(session: CaptionSession, page: int, cache_dir: Path) -> tuple[list[tuple[str, str]], str, list[str]]:
    """Items of one gallery page (thumbnails made now, cached), its label, and unreadable-image messages."""
    pages = max(1, -(-len(session.view) // PAGE))
    page = max(0, min(page, pages - 1))
    shown = [session.items[i] for i in session.view[page * PAGE:(page + 1) * PAGE]]
    current = session.current()

    def make(sc):
        try:
            return str(thumbnail(sc.image, cache_dir)), None
        except (OSError, ValueError) as exc:
            return None, f"{sc.image.name}: cannot be read as an image ({exc})."

    # Decoding and the atomic write's fsync release the GIL: a few threads make a page several times faster.
    with ThreadPoolExecutor(max_workers=min(8, len(shown) or 1)) as pool:
        made = list(pool.map(make, shown))
    items, problems = [], []
    for sc, (thumb, problem) in zip(shown, made):
        if problem:
            problems.append(problem)
        else:
            mark = "▶ " if sc is current else ""
            items.append((for_display(thumb), mark + sc.image.name + ("" if sc.has_caption else " · no caption")))
    return items, f"Page {page + 1} of {pages} · {len(session.view)} shown", problems


# --- handlers (one-liners over the core, errors shown in the tab) ------------------------------------


def _message(text: str, kind: str = "") -> str:
    if not text:
        return ""
    cls = {"error": "tilab-error", "conflict": "tilab-cap-conflict", "ok": "tilab-cap-ok"}.get(kind, "")
    return f"<div class='{cls}'>{_esc(text)}</div>"


def _cache_dir(ctx: AppContext) -> Path:
    return ctx.data_dir / "cache" / "caption-thumbs"


def _editor_outputs(session: Optional[CaptionSession]) -> tuple[Any, str, str]:
    sc = session.current() if session else None
    if sc is None:
        return None, "", ""
    pos = session.position_in_view()
    where = f"{pos + 1} of {len(session.view)}" if pos >= 0 else "not in the filter"
    name = f"**{sc.image.name}** · {where} · `{sc.path.name}`"
    if sc.error:
        name += f" · ⚠ {sc.error}"
    elif sc.exists and sc.encoding != "utf-8":
        name += f" · {sc.encoding}"
    return for_display(sc.image, preview=True), name, sc.text


def show(ctx: AppContext, session: Optional[CaptionSession], page: int, message: str = "", kind: str = "") -> list:
    """Every view output (``NAV_OUTPUTS``) for the session's current image. The gallery page is always re-sent: the
    ▶ mark moves to the current image (and gradio drops its own highlight, which would go stale on key moves); the
    count of captioned images is recomputed, so it is never stale after an edit, a bulk edit or BLIP."""
    img, label, text = _editor_outputs(session)
    gal, plabel = [], ""  # no folder loaded (or the load failed): nothing stale stays on screen
    if session is not None:
        page = max(session.position_in_view(), 0) // PAGE
        gal, plabel, problems = gallery_page(session, page, _cache_dir(ctx))
        captioned = sum(1 for sc in session.items if sc.has_caption)
        plabel += f" · {captioned} of {len(session)} with a caption"
        if problems:
            message, kind = " ".join([message, *problems]).strip(), "error"
    sc = session.current() if session is not None else None
    return [img, label, text, render_tokens(text), _message(message, kind), gal, plabel, page,
            sc.image.name if sc else ""]


def _keep(n: int) -> list:
    from .compat import update

    return [update() for _ in range(n)]


def on_load(ctx: AppContext, folder_text: str) -> list:
    """[session, status, *NAV_OUTPUTS, folder dropdown]: open the folder and remember it among the recent ones."""
    from .compat import update
    from .workspace import folder_choices, remember_folder

    t0 = time.perf_counter()
    try:
        session = CaptionSession.open(ctx.guard.check(folder_text, must_exist=True, kind="folder"), ctx.guard)
    except (PathRefused, CaptionError, OSError) as exc:
        return [None, _message(str(exc), "error"), *show(ctx, None, 0), update()]
    out = show(ctx, session, -1)
    took = time.perf_counter() - t0
    captioned = sum(1 for sc in session.items if sc.has_caption)
    problems = session.problems()
    msg = (f"{len(session)} images, {captioned} with a caption ({took:.2f} s)."
           + (" " + " ".join(problems[:20]) + (" …" if len(problems) > 20 else "") if problems else ""))
    remember_folder(ctx.data_dir, session.folder)
    return [session, _message(msg, "error" if problems else "ok"), *out, update(choices=folder_choices(ctx))]


def save_then(ctx: AppContext, session: Optional[CaptionSession], page: int, key: str, text: str, move) -> list:
    """Save the editor's text to the image it belongs to, then move (unless the save was refused)."""
    if session is None or session.current() is None:
        return show(ctx, None, page, "Load a folder first.", "error")
    try:
        msg = session.save_key(key, text)
    except ConflictError as exc:
        return [*_keep(4), _message(str(exc), "conflict"), *_keep(2), page, key]
    except CaptionError as exc:
        return [*_keep(4), _message(str(exc), "error"), *_keep(2), page, key]
    try:
        move(session)
    except CaptionError as exc:
        return show(ctx, session, page, str(exc), "error")
    return show(ctx, session, page, msg, "ok")


def on_blur(session: Optional[CaptionSession], key: str, text: str) -> str:
    """Save on leaving the box; the line confirms it (or says nothing changed)."""
    if session is None or not key:
        return ""
    try:
        msg = session.save_key(key, text)
    except ConflictError as exc:
        return _message(str(exc), "conflict")
    except CaptionError as exc:
        return _message(str(exc), "error")
    return _message(msg or f"{key}: caption unchanged (nothing to save).", "ok")


def on_step(ctx: AppContext, delta: int, session, page, key, text) -> list:
    return save_then(ctx, session, page, key, text, lambda ss: ss.step(delta))


def on_page(ctx: AppContext, delta: int, session, page, key, text) -> list:
    return save_then(ctx, session, page, key, text, lambda ss: ss.select_in_view((page + delta) * PAGE))


def on_select(ctx: AppContext, session, page, key, text, evt) -> list:
    return save_then(ctx, session, page, key, text, lambda ss: ss.select_in_view(page * PAGE + evt.index))


def on_reload(ctx: AppContext, session, page) -> list:
    if session is None or session.current() is None:
        return show(ctx, None, page)
    session.reload(session.index)
    return show(ctx, session, page, "Reloaded from disk.", "ok")


def on_overwrite(ctx: AppContext, session, page, key, text) -> list:
    if session is None or session.current() is None:
        return show(ctx, None, page)
    try:
        session.save_key(key, text, force=True)
    except CaptionError as exc:
        return show(ctx, session, page, str(exc), "error")
    return show(ctx, session, page, f"Overwrote {session.current().name}.", "ok")


def on_filter(ctx: AppContext, session, page, key, text, label, arg) -> list:
    if session is None:
        return show(ctx, None, page, "Load a folder first.", "error")
    kind = _FILTER_BY_LABEL.get(label, "all")
    try:
        budget = int(arg) if kind == "over_budget" and str(arg).strip() else tokens.CHUNK
        session.save_key(key, text)
        n = session.set_filter(kind, arg, budget)
    except (CaptionError, ValueError) as exc:
        return show(ctx, session, page, str(exc), "error")
    return show(ctx, session, page, f"{n} image(s) shown.", "ok")


def operation(op_label: str, a: str, b: str, rx: bool, ic: bool, ww: bool, sp: Optional[str], kf: Any):
    """The bulk edit the form describes (``ww``: whole words, plain find/replace only)."""
    return edits.make_operation(_OP_BY_LABEL.get(op_label, "replace"), a or "", b or "", regex=bool(rx),
                                ignore_case=bool(ic), whole_word=bool(ww), sep=sp if sp is not None else ", ",
                                number=int(kf or 0))


def on_preview(session, key, text, *fields) -> str:
    """Diff of what the bulk edit (``fields``: the op inputs, scope last) would change."""
    if session is None:
        return _message("Load a folder first.", "error")
    try:
        session.save_key(key, text)
        return render_preview(session.preview(operation(*fields[:-1]), fields[-1] == SCOPES[1]))
    except (CaptionError, ValueError) as exc:
        return _message(str(exc), "error")


def on_apply(ctx: AppContext, session, page, key, text, *fields) -> list:
    """[bulk result, *NAV_OUTPUTS, stats]: apply, show what was written, refresh the view and the frequencies."""
    if session is None:
        return [_message("Load a folder first.", "error"), *show(ctx, None, page), _keep(1)[0]]
    try:
        session.save_key(key, text)
        changes, result = session.apply(operation(*fields[:-1]), fields[-1] == SCOPES[1])
    except (CaptionError, ValueError) as exc:
        return [_message(str(exc), "error"), *show(ctx, session, page), _keep(1)[0]]
    summary = _message(result.message("Applied: changed"), "error" if result.refused else "ok")
    done = set(result.written)
    return [summary + render_preview([c for c in changes if c.key in done]), *show(ctx, session, page),
            on_stats(ctx, session)]


def on_undo(ctx: AppContext, session, page) -> list:
    if session is None:
        return [_message("Load a folder first.", "error"), *show(ctx, None, page), _keep(1)[0]]
    try:
        result = session.undo()
    except CaptionError as exc:
        return [_message(str(exc), "error"), *show(ctx, session, page), _keep(1)[0]]
    return [_message(result.message("Restored"), "error" if result.refused else "ok"), *show(ctx, session, page),
            on_stats(ctx, session)]


def on_stats(ctx: AppContext, session) -> str:
    if session is None:
        return _message("Load a folder first.", "error")
    report = None
    try:
        from ..dataset.store import load_last_report

        report = load_last_report(ctx.data_dir, session.folder)
    except ImportError:
        pass
    return render_stats(stats.caption_stats(session.captions(), report))


def backup_captions(ctx: AppContext, session: CaptionSession, keys: Sequence[str]) -> Optional[Path]:
    """Write the current captions of ``keys`` (those that have one) to a JSON file in the data folder.

    Called before BLIP may replace or extend captions, so a caption corrected by hand is never lost.
    """
    from ..core.fsutil import atomic_write_text

    items = {sc.image.name: sc.text for sc in session.items if sc.image.name in set(keys) and sc.has_caption}
    if not items:
        return None
    out = ctx.data_dir / BACKUPS / f"{session.folder.name}-{_dt.datetime.now():%Y%m%d-%H%M%S-%f}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"folder": str(session.folder), "captions": items}, indent=1,
                                      ensure_ascii=False))
    return out


def blip_problem(exc: BaseException, in_host: bool) -> str:
    """What is missing and how to supply it, for a captioner that could not load or run."""
    if isinstance(exc, (CaptionError, PathRefused)):
        return str(exc)
    if in_host:
        return (f"The WebUI's BLIP captioner failed ({type(exc).__name__}: {exc}). Usually its weights are missing: "
                "the WebUI downloads model_base_caption_capfilt_large.pth into models/BLIP on first use, and the "
                "download failed (see the WebUI console). Put that file in models/BLIP, or type the folder of a "
                "transformers BLIP model (config.json, model.safetensors, preprocessor files) in "
                "'Model folder or id' above.")
    return f"BLIP could not caption ({type(exc).__name__}: {exc})."


def on_caption(ctx: AppContext, session, page, model_text, action, only_current: bool = False, progress=None) -> list:
    """[BLIP status, *NAV_OUTPUTS, stats]: caption the shown images (or only the current one).

    Captions that BLIP replaces or extends are backed up first and become the undo step ("Undo last bulk edit").
    Every failure, including the host's own BLIP failing to download, is a message here, never an exception.
    """
    from . import jobs_ui
    from ..captions.captioner import caption_images, captioner_for, check_model_source

    if session is None or session.current() is None:
        return [_message("Load a folder first.", "error"), *show(ctx, None, page), _keep(1)[0]]
    indices = [session.index] if only_current else list(session.view)
    images = [session.items[i].image for i in indices]
    before = {session.items[i].image.name: session.items[i].text for i in indices}
    job = jobs_ui.start(ctx, JOB, progress)
    backup = None
    try:
        source = check_model_source(ctx.guard, model_text)
        if action != "keep":
            backup = backup_captions(ctx, session, list(before))
        result = caption_images(images, captioner_for(ctx, source), action, job=job,
                                on_written=lambda path, _text: session.refresh(path))
    except Exception as exc:  # noqa: BLE001 - the UI boundary: a failing captioner is reported, never raised
        return [_message(blip_problem(exc, ctx.in_host), "error"), *show(ctx, session, page), _keep(1)[0]]
    finally:
        jobs_ui.finish(JOB, job)
    written = set(result.written)
    session.last_bulk = [edits.Change(sc.image.name, before[sc.image.name], sc.text)
                         for sc in session.items if sc.image.name in written]
    msg = result.message()
    if backup is not None and written & {k for k, v in before.items() if v.strip()}:
        msg += f" Earlier captions backed up to {backup}; 'Undo last bulk edit' restores them."
    return [_message(msg, "error" if result.errors else "ok"), *show(ctx, session, page), on_stats(ctx, session)]


def _reopen(session: CaptionSession, select_name: Optional[str] = None, index: int = 0) -> CaptionSession:
    """The folder read again after a file moved (the session's key index is fixed at load)."""
    fresh = CaptionSession.open(session.folder)
    names = fresh.keys()
    if fresh.items:
        fresh.select(names.index(select_name) if select_name in names else min(index, len(names) - 1))
    return fresh


def on_exclude(ctx: AppContext, session, page, key, text, records) -> list:
    """[session, records, *NAV_OUTPUTS, stats]: move the shown photo and its captions to ``_excluded/``.

    Undoable with :func:`on_put_back`; nothing is deleted. The caption in the editor is saved first.
    """
    from ..dataset.exclude import ExcludeError, set_aside

    records = list(records or [])
    if session is None or session.current() is None or not key:
        return [session, records, *show(ctx, session, page, "Load a folder first.", "error"), _keep(1)[0]]
    try:
        session.save_key(key, text)
        record = set_aside(session.folder, key)
    except (CaptionError, ExcludeError, OSError) as exc:
        return [session, records, *show(ctx, session, page, str(exc), "error"), _keep(1)[0]]
    fresh = _reopen(session, index=session.index)
    moved = ", ".join(dst.name for _src, dst in record.moved)
    msg = f"Set aside {moved} in {record.moved[0][1].parent}; 'Put back' undoes it."
    return [fresh, [*records, record], *show(ctx, fresh, page, msg, "ok"), on_stats(ctx, fresh)]


def on_put_back(ctx: AppContext, session, page, records) -> list:
    """Undo the last :func:`on_exclude` of this page (the photo returns under its name, with its captions)."""
    from ..dataset.exclude import ExcludeError, put_back

    records = list(records or [])
    if session is None or not records:
        return [session, records, *show(ctx, session, page, "Nothing set aside from this page.", "error"),
                _keep(1)[0]]
    try:
        image = put_back(records[-1])
    except (ExcludeError, OSError) as exc:
        return [session, records, *show(ctx, session, page, str(exc), "error"), _keep(1)[0]]
    fresh = _reopen(session, select_name=image.name)
    return [fresh, records[:-1], *show(ctx, fresh, page, f"Put {image.name} back.", "ok"), on_stats(ctx, fresh)]


def on_stop() -> str:
    from . import jobs_ui

    return _message(jobs_ui.interrupt(JOB))


def build(ctx: AppContext) -> None:
    import gradio as gr

    from .workspace import folder_choices

    session_state = gr.State(None)
    page_state = gr.State(0)
    set_aside_state = gr.State([])  # this page's set-aside records, newest last (Put back undoes the last)
    bind = functools.partial

    gr.HTML(CSS + "<p>Caption the images, then review the captions beside them. What a caption names is what the "
            "embedding does <i>not</i> learn: describe what changes between photos, not the concept itself.</p>")
    with gr.Row():
        folder = gr.Dropdown(folder_choices(ctx), label="Folder of images (type a path or pick a recent one; "
                             "captions are the .txt files beside the images)", allow_custom_value=True,
                             elem_id="tilab_captions_folder", scale=5)
        load_btn = gr.Button("Load", elem_id="tilab_captions_load", variant="primary", scale=1)
    status = gr.HTML(elem_id="tilab_captions_status")
    # BLIP first: it is the first step on a fresh folder
    with gr.Accordion("Caption with BLIP", open=True, elem_id="tilab_captions_blip"):
        with gr.Row():
            model = gr.Textbox(label="Model folder or id (empty: the host's BLIP inside the WebUI, else "
                               "Salesforce/blip-image-captioning-base from your Hugging Face cache)",
                               elem_id="tilab_captions_model", scale=3)
            existing = gr.Radio(list(EXISTING), value=EXISTING[0], label="Existing caption (replaced ones are "
                                "backed up first)", elem_id="tilab_captions_existing", scale=2)
        with gr.Row():
            caption_btn = gr.Button("Caption the shown images", variant="primary", elem_id="tilab_captions_blip_run")
            one_btn = gr.Button("Caption this one", elem_id="tilab_captions_blip_one")
            stop_btn = gr.Button("Stop", elem_id="tilab_captions_blip_stop")
        blip_html = gr.HTML(elem_id="tilab_captions_blip_status")
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                filter_kind = gr.Dropdown(list(_FILTER_BY_LABEL), value=filters.FILTERS["all"], label="Show",
                                          elem_id="tilab_captions_filter")
                filter_arg = gr.Textbox(label="Word (or token budget)", elem_id="tilab_captions_filter_arg")
                filter_btn = gr.Button("Apply filter", elem_id="tilab_captions_filter_apply")
            gallery = gr.Gallery(label="Images", elem_id="tilab_captions_gallery", columns=6, height=420,
                                 allow_preview=False, object_fit="cover")
            with gr.Row():
                page_prev = gr.Button("◀ Page", elem_id="tilab_captions_page_prev", size="sm")
                page_label = gr.Markdown(elem_id="tilab_captions_page_label")
                page_next = gr.Button("Page ▶", elem_id="tilab_captions_page_next", size="sm")
        with gr.Column(scale=2):
            image = gr.Image(label="Image", type="filepath", interactive=False, height=300,
                             elem_id="tilab_captions_image")
            name = gr.Markdown(elem_id="tilab_captions_name")
            editor = gr.Textbox(label="Caption (saved when you leave the box or move to another image)", lines=4,
                                elem_id="tilab_captions_editor")
            token_html = gr.HTML(elem_id="tilab_captions_tokens")
            with gr.Row():
                prev_btn = gr.Button("◀ Previous", elem_id="tilab_captions_prev")
                next_btn = gr.Button("Next ▶", elem_id="tilab_captions_next")
            save_status = gr.HTML(elem_id="tilab_captions_save_status")
            with gr.Row():
                reload_btn = gr.Button("Reload from disk", elem_id="tilab_captions_reload", size="sm")
                overwrite_btn = gr.Button("Overwrite with my text", elem_id="tilab_captions_overwrite", size="sm")
            with gr.Row():
                exclude_btn = gr.Button("Set this photo aside (_excluded/)", elem_id="tilab_captions_exclude",
                                        size="sm")
                put_back_btn = gr.Button("Put back", elem_id="tilab_captions_put_back", size="sm")
    with gr.Accordion("Bulk edit", open=True, elem_id="tilab_captions_bulk"):
        with gr.Row():
            op = gr.Dropdown(list(_OP_BY_LABEL), value=edits.OPERATIONS["replace"], label="Edit",
                             elem_id="tilab_captions_op")
            arg_a = gr.Textbox(label="Find / text / tag / old tag", elem_id="tilab_captions_arg_a")
            arg_b = gr.Textbox(label="Replace with / new tag", elem_id="tilab_captions_arg_b")
            sep = gr.Textbox(label="Separator (prepend/append)", value=", ", elem_id="tilab_captions_sep")
        with gr.Row():
            regex = gr.Checkbox(label="Regular expression", elem_id="tilab_captions_regex")
            ignore_case = gr.Checkbox(label="Ignore case", elem_id="tilab_captions_ignore_case")
            whole_word = gr.Checkbox(label=edits.WHOLE_WORD_LABEL, value=edits.WHOLE_WORD_DEFAULT,
                                     elem_id="tilab_captions_whole_word")
            keep_first = gr.Number(label="Sort: keep first N tags", value=0, precision=0,
                                   elem_id="tilab_captions_keep_first")
            scope = gr.Radio(list(SCOPES), value=SCOPES[0], label="Apply to", elem_id="tilab_captions_scope")
        with gr.Row():
            preview_btn = gr.Button("Preview", elem_id="tilab_captions_preview")
            apply_btn = gr.Button("Apply", variant="primary", elem_id="tilab_captions_apply")
            undo_btn = gr.Button("Undo last bulk edit", elem_id="tilab_captions_undo")
        bulk_html = gr.HTML(elem_id="tilab_captions_bulk_result")
    with gr.Accordion("Word and phrase frequencies", open=False, elem_id="tilab_captions_freq"):
        stats_btn = gr.Button("Refresh", elem_id="tilab_captions_stats_refresh", size="sm")
        stats_html = gr.HTML(elem_id="tilab_captions_stats")

    # The key of the image whose caption is in the editor travels with the editor's text from the browser,
    # so a save racing a move (blur and click fire together) always writes to the right file.
    shown_key = gr.Textbox(visible=False, elem_id="tilab_captions_key")
    nav_outputs = [image, name, editor, token_html, save_status, gallery, page_label, page_state, shown_key]
    nav_inputs = [session_state, page_state, shown_key, editor]
    op_inputs = [op, arg_a, arg_b, regex, ignore_case, whole_word, sep, keep_first, scope]

    # Everything but BLIP is quick and unqueued: it answers at once even while a long job holds the queue.
    for trigger in (load_btn.click, folder.select):
        trigger(bind(on_load, ctx), [folder], [session_state, status, *nav_outputs, folder], queue=False).then(
            render_tokens_when_ready, [editor], [token_html], queue=False)
    editor.blur(on_blur, [session_state, shown_key, editor], [save_status], queue=False)
    editor.change(render_tokens, [editor], [token_html], queue=False)
    prev_btn.click(bind(on_step, ctx, -1), nav_inputs, nav_outputs, queue=False)
    next_btn.click(bind(on_step, ctx, 1), nav_inputs, nav_outputs, queue=False)
    page_prev.click(bind(on_page, ctx, -1), nav_inputs, nav_outputs, queue=False)
    page_next.click(bind(on_page, ctx, 1), nav_inputs, nav_outputs, queue=False)

    def select(session, page, key, text, evt):
        return on_select(ctx, session, page, key, text, evt)

    select.__annotations__ = {"evt": gr.SelectData}  # a real class (not a string): gradio reads it to pass the event

    gallery.select(select, nav_inputs, nav_outputs, queue=False)
    reload_btn.click(bind(on_reload, ctx), [session_state, page_state], nav_outputs, queue=False)
    overwrite_btn.click(bind(on_overwrite, ctx), nav_inputs, nav_outputs, queue=False)
    filter_btn.click(bind(on_filter, ctx), [*nav_inputs, filter_kind, filter_arg], nav_outputs, queue=False)
    preview_btn.click(on_preview, [session_state, shown_key, editor, *op_inputs], [bulk_html], queue=False)
    apply_btn.click(bind(on_apply, ctx), [*nav_inputs, *op_inputs], [bulk_html, *nav_outputs, stats_html],
                    queue=False)
    undo_btn.click(bind(on_undo, ctx), [session_state, page_state], [bulk_html, *nav_outputs, stats_html],
                   queue=False)
    stats_btn.click(bind(on_stats, ctx), [session_state], [stats_html], queue=False)
    exclude_btn.click(bind(on_exclude, ctx), [*nav_inputs, set_aside_state],
                      [session_state, set_aside_state, *nav_outputs, stats_html], queue=False)
    put_back_btn.click(bind(on_put_back, ctx), [session_state, page_state, set_aside_state],
                       [session_state, set_aside_state, *nav_outputs, stats_html], queue=False)

    def caption(session, page, model_text, action, progress=gr.Progress()):
        return on_caption(ctx, session, page, model_text, action, False, progress)

    def caption_one(session, page, model_text, action, progress=gr.Progress()):
        return on_caption(ctx, session, page, model_text, action, True, progress)

    blip_outputs = [blip_html, *nav_outputs, stats_html]
    caption_btn.click(caption, [session_state, page_state, model, existing], blip_outputs)
    one_btn.click(caption_one, [session_state, page_state, model, existing], blip_outputs)
    stop_btn.click(on_stop, None, [blip_html], queue=False)
