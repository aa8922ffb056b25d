"""Turn findings into a verdict, top actions, a JSON document with a versioned schema, and HTML.

The JSON schema is ``tilab.dataset-report/1``: keys are only ever added within version 1;
renaming or removing one bumps the version. The captions area reads ``shared_attributes``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json

import numpy as np

from .checks import SEVERITIES, Finding
from .features import person_description

SCHEMA = "tilab.dataset-report/1"
#: Global similarities of unrelated photos of one subject sit around 0.5-0.8; colour only what is above.
GLOBAL_FLOOR = 0.5

VERDICTS = {
    "ok": ("ready", "Ready to train", "No finding needs action."),
    "note": ("ready", "Ready to train", "Only minor notes; read them if you have time."),
    "warning": ("fix", "Fix before training", "Some findings need fixing before training."),
    "critical": ("blocked", "Not trainable yet", "The set cannot train a useful embedding as it is."),
}


def verdict(findings: list[Finding]) -> dict:
    worst = max((f.severity for f in findings), key=SEVERITIES.index, default="ok")
    warnings = [f for f in findings if f.severity == "warning"]
    level, title, text = VERDICTS[worst]
    if worst == "warning":
        # Only a shared attribute (background, light, clothing, framing) can leak into the embedding;
        # too few images, low resolution, blur or copies are problems of another kind, said as such.
        leak = sum(1 for f in warnings if f.attribute)
        other = len(warnings) - leak
        parts = []
        if leak:
            parts.append(f"{leak} shared {'trait' if leak == 1 else 'traits'} will likely leak into the embedding")
        if other:
            parts.append(f"{other} other {'problem needs' if other == 1 else 'problems need'} fixing")
        text = "; ".join(parts) + "."
        text = text[0].upper() + text[1:]
    return {"level": level, "severity": worst, "title": title, "text": text}


def top_actions(findings: list[Finding], k: int = 3) -> list[str]:
    """The most severe findings' concrete actions, at most ``k``; duplicates dropped."""
    ranked = sorted((f for f in findings if f.action and f.severity != "ok"),
                    key=lambda f: -SEVERITIES.index(f.severity))
    copies = [set(g) for f in findings if f.id == "duplicates.groups" for g in f.groups]
    out: list[str] = []
    for f in ranked:
        if f.check != "duplicates" and f.images and any(set(f.images) <= g for g in copies):
            continue  # the copies' own action covers it: one action per problem
        if f.action not in out:
            out.append(f.action)
        if len(out) == k:
            break
    return out


def build_report(
    *, folder: str, options: dict, features: dict, stats: list, skipped: list, findings: list[Finding],
    shared: list[dict], zoom: dict, sim: np.ndarray, bg: np.ndarray, captions: dict, interrupted: bool,
    files_total: int,
) -> dict:
    """The report dict (JSON-serialisable)."""
    images = []
    for s in stats:
        z = zoom["images"].get(s.name, {})
        images.append({
            "name": s.name, "width": s.size[0], "height": s.size[1], "format": s.format, "mode": s.mode,
            "face_box": s.face.as_list() if s.face else None, "subject_box": s.subject.as_list(),
            "subject_source": s.subject_source, "saliency_box": s.saliency.as_list(),
            "zoom_fraction": z.get("fraction"), "zoom_class": z.get("class"), "zoom_reason": z.get("reason"),
            "zoom_source": z.get("source"), "hair_length": s.hair_length, "person": person_description(s),
            "brightness": round(s.brightness, 2), "contrast": round(s.contrast, 2), "warmth": round(s.warmth, 2),
            "sharpness": round(s.sharpness, 1), "background_colour": s.bg_colour,
            "background_plainness": round(s.bg_plainness, 3), "clothing_colour": s.clothing_colour,
            "hair_colour": s.hair_colour, "phash": f"{s.phash:016x}", "caption": captions.get(s.name),
        })
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "folder": folder,
        "options": options,
        "features": features,
        "complete": not interrupted,
        "counts": {"files": files_total, "images": len(stats), "skipped": len(skipped)},
        "skipped": [{"name": s.name, "reason": s.reason} for s in skipped],
        "verdict": verdict(findings),
        "actions": top_actions(findings),
        "findings": [f.to_dict() for f in findings],
        "shared_attributes": shared,
        "zoom": {k: v for k, v in zoom.items() if k != "images"},
        "images": images,
        "similarity": {"names": [s.name for s in stats], "features": features["similarity"],
                       "global": np.round(sim, 3).tolist(), "background": np.round(bg, 3).tolist()},
    }


def to_json(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------- HTML

_SEV_COLOUR = {"ok": "#2e7d32", "note": "#1565c0", "warning": "#e65100", "critical": "#b71c1c"}
#: Classes only (no element rules), so the same fragments can sit inside the WebUI without restyling it.
FRAGMENT_CSS = """
.card{border-radius:10px;padding:16px 20px;margin:12px 0;color:#fff !important}
.card h1,.card li,.card div{color:#fff !important}
.card h1{margin:0 0 6px 0;font-size:24px}.card ol{margin:6px 0 0 18px}
.f{border:1px solid #ddd;border-left:6px solid #999;border-radius:6px;padding:10px 14px;margin:10px 0}
.f h3{margin:0 0 4px 0;font-size:16px}.meta{color:#555;font-size:13px}
.thumbs{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.thumbs figure{margin:0;text-align:center;font-size:11px;color:#444;max-width:120px}
.thumbs img{height:84px;border-radius:4px;display:block}
.hm-wrap{overflow-x:auto;max-width:100%;padding-bottom:4px;scrollbar-width:thin;scrollbar-color:#888 transparent}
.hm-wrap table.hm{border-collapse:collapse;font-size:10px;width:auto;margin:0}
.hm-wrap table.hm td,.hm-wrap table.hm th{padding:0;border:0;line-height:1;font-size:10px}
.hm-wrap table.hm td{width:24px;min-width:24px;max-width:24px;height:22px;text-align:center}
.hm-wrap table.hm th{font-weight:normal;white-space:nowrap}
.hm-wrap table.hm thead th{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left;padding:2px 0}
.hm-wrap table.hm tbody th{text-align:right;padding:0 4px 0 0;position:sticky;left:0;
  background:var(--background-fill-primary,#fff)}
.bar{display:inline-block;background:#5c6bc0;height:12px;vertical-align:middle}
"""
CSS = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}" + FRAGMENT_CSS


def _thumbs(names: list[str], thumbs: dict[str, str]) -> str:
    cells = "".join(
        f'<figure><img src="{thumbs[n]}" alt="{html.escape(n)}"><figcaption>{html.escape(n)}</figcaption></figure>'
        for n in names if n in thumbs)
    return f'<div class="thumbs">{cells}</div>' if cells else ""


#: Longest file stem used as a heatmap label; column headers are written vertically, so this costs height only.
LABEL_CHARS = 14


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def image_labels(names: list[str]) -> list[str]:
    """Labels that are the file names without extension (``00.jpg`` → ``00``), so the table and the folder agree;
    running numbers from 1, with a key under the table, only when a stem is too long or two stems clash."""
    stems = [_stem(n) for n in names]
    if all(len(x) <= LABEL_CHARS for x in stems) and len(set(stems)) == len(stems):
        return stems
    return [str(i + 1) for i in range(len(names))]


#: From this many photos a heatmap is likely wider than the Dataset tab's column: say that it scrolls.
SCROLL_HINT_FROM = 16


def heatmap_html(names: list[str], matrix: list[list[float]], floor: float = 0.0) -> str:
    """A similarity table coloured from white (``floor`` or less) to red (1), readable without scripts.

    Cells are fixed and narrow (24 px; the host's and gradio's table padding is overridden, which used to make
    the table twice as wide) and column headers are vertical, so a set of a dozen photos fits a narrow column;
    a wider table scrolls sideways inside its box with the row labels kept in view, and says so, rather than
    clipping its last column without a sign.
    """
    if not names:
        return ""
    labels = image_labels(names)
    head = "".join(f"<th title='{html.escape(n)}'>{html.escape(x)}</th>" for x, n in zip(labels, names))
    rows = []
    for i, row in enumerate(matrix):
        cells = []
        for j, v in enumerate(row):
            x = max(0.0, min(1.0, float(v)))
            t = max(0.0, (x - floor) / (1.0 - floor))
            r, g, b = 255, int(255 * (1 - t)), int(255 * (1 - t))
            fg = "#fff" if t > 0.6 else "#000"
            tip = html.escape(f"{names[i]} ↔ {names[j]}: {int(round(x * 100))}")
            cells.append(f'<td title="{tip}" style="background:rgb({r},{g},{b});color:{fg}">{int(round(x * 100))}</td>')
        rows.append(f"<tr><th title='{html.escape(names[i])}'>{html.escape(labels[i])}</th>{''.join(cells)}</tr>")
    key = "" if labels == [_stem(n) for n in names] else \
        "<p class='meta'>" + ", ".join(f"{x}={html.escape(n)}" for x, n in zip(labels, names)) + "</p>"
    hint = (f"<p class='meta hm-scroll-hint'>{len(names)} × {len(names)}: scroll sideways to see every column.</p>"
            if len(names) >= SCROLL_HINT_FROM else "")
    return (f'{hint}<div class="hm-wrap"><table class="hm"><thead><tr><th></th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>{key}')


def zoom_chart_html(report: dict) -> str:
    """One bar per photo, to scale (0-100 % of the frame), with the class, or "not measured" and why."""
    rows = []
    for im in report["images"]:
        frac, cls = im["zoom_fraction"], im["zoom_class"]
        width = 0 if frac is None or cls is None else max(2, int(200 * min(1.0, frac)))
        if cls is None:
            label = "not measured: " + html.escape(im.get("zoom_reason") or "no measurement")
        else:
            label = f"{frac:.0%} · {cls}" + (f" <span class='meta'>({html.escape(im['zoom_source'])})</span>"
                                             if im.get("zoom_source") not in (None, "face", "subject") else "")
        rows.append(f'<tr><td>{html.escape(im["name"])}</td><td><span class="bar" style="width:{width}px"></span> {label}</td></tr>')
    z = report["zoom"]
    what = "face box" if z["mode"] == "face" else "subject box"
    rule = (f"close-up ≥ {z['closeup_threshold']:.1%}, wide &lt; {z['wide_threshold']:.1%}" if z["mode"] == "face" else
            f"close-up when the subject fills the frame, wide &lt; {z['wide_threshold']:.0%}")
    return f'<p class="meta">{what} area / frame area (bar: 0–100 %); {rule}</p><table>{"".join(rows)}</table>'


def gallery_html(report: dict, thumbs: dict[str, str]) -> str:
    """Every photo with what the checker sees in it (zoom; hair and clothing for a person), shown on any set,
    passing or not, so the user can see what was checked and correct captions from it."""
    cells = []
    for im in report["images"]:
        if im["name"] not in thumbs:
            continue
        seen = [im["zoom_class"] or "zoom not measured"]
        if im.get("person"):
            seen.append(im["person"])
        cells.append(f'<figure><img src="{thumbs[im["name"]]}" alt="{html.escape(im["name"])}">'
                     f'<figcaption><b>{html.escape(im["name"])}</b><br>{html.escape("; ".join(seen))}</figcaption></figure>')
    return f'<div class="thumbs tilab-gallery">{"".join(cells)}</div>' if cells else ""


def verdict_card_html(report: dict) -> str:
    """The verdict card: title, one line, the top three actions, and which features were used."""
    v = report["verdict"]
    colour = _SEV_COLOUR[v["severity"]]
    actions = "".join(f"<li>{html.escape(a)}</li>" for a in report["actions"])
    partial = "" if report["complete"] else "<div><b>Interrupted: result covers the images checked so far.</b></div>"
    return (f"<div class='card tilab-verdict tilab-verdict-{v['level']}' style='background:{colour}'>"
            f"<h1>{html.escape(v['title'])}</h1><div>{html.escape(v['text'])}</div>{partial}"
            + (f"<ol>{actions}</ol>" if actions else "")
            + f"<div style='opacity:.85;font-size:12px;margin-top:6px'>{report['counts']['images']} images · "
              f"{report['counts']['skipped']} skipped · features: {html.escape(report['features']['description'])}</div></div>")


def findings_html(report: dict, thumbs: dict[str, str]) -> str:
    """One block per finding, worst first, with the thumbnails of the images involved."""
    parts = []
    order = sorted(report["findings"], key=lambda f: -SEVERITIES.index(f["severity"]))
    for f in order:
        c = _SEV_COLOUR[f["severity"]]
        parts.append(
            f"<div class='f' style='border-left-color:{c}'><h3>{html.escape(f['title'])} "
            f"<span style='color:{c}'>[{f['severity']}]</span></h3><div>{html.escape(f['text'])}</div>"
            + (f"<div><i>{html.escape(f['caption_note'])}</i></div>" if f.get("caption_note") else "")
            + f"<details class='meta'><summary>Details</summary>Measured: {html.escape(str(f['figure_text']))} · "
              f"rule: {html.escape(f['threshold'])}"
            + "".join(f"<br>{html.escape(p['b'])} ↔ {html.escape(p['a'])}: {html.escape(p['kind'])}, overlap "
                      f"{p['overlap']:.0%}; {html.escape(p['evidence'])}" for p in f.get("pairs") or [])
            + "</details>"
            + (_thumbs(f["images"], thumbs) if f["severity"] != "ok" else "") + "</div>")
    return "".join(parts)


def to_html(report: dict, thumbs: dict[str, str]) -> str:
    """Self-contained HTML (thumbnails embedded as data URIs, no external files or scripts)."""
    sim = report["similarity"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>TI Lab dataset check</title><style>{CSS}</style></head><body>",
        f"<p class='meta'>{html.escape(report['folder'])} · {html.escape(report['created'])}</p>",
        verdict_card_html(report),
        findings_html(report, thumbs),
        "<h2>Photos</h2>" + gallery_html(report, thumbs),
        "<h2>Zoom levels</h2>" + zoom_chart_html(report),
        f"<h2>Similarity ({html.escape(sim['features'])} features)</h2>" + heatmap_html(sim["names"], sim["global"], floor=GLOBAL_FLOOR),
        "<h2>Background similarity</h2>" + heatmap_html(sim["names"], sim["background"]),
    ]
    if report["skipped"]:
        parts.append("<h2>Skipped files</h2><ul>" + "".join(
            f"<li>{html.escape(s['name'])}: {html.escape(s['reason'])}</li>" for s in report["skipped"]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summary_text(report: dict) -> str:
    """Plain-text summary for the command line."""
    v = report["verdict"]
    lines = [f"{v['title']}: {v['text']}  ({report['counts']['images']} images, {report['counts']['skipped']} skipped; "
             f"features: {report['features']['description']})"]
    for i, a in enumerate(report["actions"], 1):
        lines.append(f"  {i}. {a}")
    for f in report["findings"]:
        if f["severity"] == "ok":
            continue
        lines.append(f"[{f['severity']}] {f['title']}: {f['text']} (measured {f['figure_text']}; threshold {f['threshold']})")
        if f.get("caption_note"):
            lines.append(f"    {f['caption_note']}")
    for s in report["skipped"]:
        lines.append(f"skipped {s['name']}: {s['reason']}")
    return "\n".join(lines)


