"""Captions decide whether a shared attribute is a risk.

Textual Inversion learns whatever the prompt does not explain. When the captions (sidecar
``.txt`` files, read through ``[filewords]``) or the prompt template name a shared attribute
("white wall", "blue shirt"), the embedding can attribute it to those words; when nothing
names it, the embedding absorbs it. This module reads captions and rewrites findings accordingly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .checks import SEVERITIES, Finding
from .loading import ImageSkipped, open_regular

#: A finding is explained when its words appear for at least this share of its images.
NAMED_SHARE = 0.5


def read_captions(folder: Path, names: list[str]) -> dict[str, str]:
    """Sidecar captions: ``photo.jpg`` → ``photo.txt`` next to it (the host's convention)."""
    out: dict[str, str] = {}
    for name in names:
        p = (Path(folder) / name).with_suffix(".txt")
        try:
            with open_regular(p) as fh:  # a FIFO named like a caption is passed over, never read (it would hang)
                out[name] = fh.read().decode("utf-8", errors="replace").strip()
        except (OSError, ImageSkipped):
            continue
    return out


def looks_like_path(text: str) -> bool:
    """Whether a template field names a file rather than holding the template itself, judged from the text alone.

    A shared server must decide this without looking at the disk: testing whether the typed path exists before
    the path guard sees it would tell a client which files exist outside the allowed folders. A path is one line
    without ``[name]``-style placeholders that has a folder separator, starts with ``~`` or ends in ``.txt``.
    """
    t = text.strip()
    if not t or "\n" in t or "[" in t or "]" in t:
        return False
    return "/" in t or "\\" in t or t.startswith("~") or t.lower().endswith(".txt")


def read_template(template: Optional[str], is_file: Optional[bool] = None) -> str:
    """The template text: a file path (the host's ``textual_inversion_templates/*.txt``) or the text itself.

    ``is_file`` None guesses (a file when one exists, as the CLI's ``--template``); True requires a file
    (a clear ValueError otherwise); False takes the text as it is and never looks on disk.
    """
    if not template:
        return ""
    if is_file is False:
        return template
    p = Path(template).expanduser()
    try:
        with open_regular(p) as fh:
            return fh.read().decode("utf-8", errors="replace")
    except (OSError, ValueError, ImageSkipped) as exc:  # ValueError: a NUL byte, so not a path
        if is_file:
            why = ("not a regular file" if isinstance(exc, ImageSkipped)
                   else exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
            raise ValueError(f"Template file '{template}' cannot be read ({why}).") from None
    return template


def names_term(text: str, terms: list[str]) -> Optional[str]:
    """The first term (most specific first) that ``text`` contains as whole words, case-insensitively
    (any run of spaces or underscores between words, as in booru-style tags)."""
    low = text.lower()
    for t in terms:
        words = r"[\s_]+".join(re.escape(w) for w in t.lower().split())
        if words and re.search(r"(?<![\w-])" + words + r"(?![\w-])", low):
            return t
    return None


def _downgrade(sev: str) -> str:
    i = SEVERITIES.index(sev)
    return SEVERITIES[max(1, i - 1)] if i >= 2 else sev


def apply_captions(findings: list[Finding], captions: dict[str, str], template_text: str = "") -> list[dict]:
    """Mark each finding's attribute as named or not; downgrade explained ones. Returns ``shared_attributes``."""
    shared: list[dict] = []
    for f in findings:
        if not f.attribute or f.severity == "ok":
            continue
        terms = f.attribute["terms"]
        hits: dict[str, str] = {}
        tmpl = names_term(template_text, terms) if template_text else None
        for name in f.images:
            t = tmpl or names_term(captions.get(name, ""), terms)
            if t:
                hits[name] = t
        named = bool(f.images) and len(hits) >= NAMED_SHARE * len(f.images)
        if named:
            words = sorted(set(hits.values()))
            where = "the template" if tmpl else f"the captions of {len(hits)} of {len(f.images)} images"
            f.caption_note = (f"Explained: {where} name it ({', '.join(repr(w) for w in words)}), so the embedding can "
                              "leave it to those words.")
            f.severity = _downgrade(f.severity)
        elif captions or template_text:
            f.caption_note = (f"Real risk: no caption names it (words that would: {', '.join(repr(t) for t in terms[:3])}). "
                              "The embedding will learn it as part of the subject unless you caption it or vary it.")
        else:
            f.caption_note = (f"No captions found. Unless the captions will name it ({', '.join(repr(t) for t in terms[:3])}), "
                              "the embedding will learn it as part of the subject.")
        shared.append({"kind": f.attribute["kind"], "description": f.attribute["description"], "terms": list(terms),
                       "images": list(f.images), "named_in_captions": named, "finding": f.id})
    return shared


#: Class words a caption uses for the subject, by kind (most specific kinds first: a "cat" is an animal).
KIND_WORDS = {
    "person": ["man", "woman", "person", "boy", "girl", "guy", "lady", "child", "kid", "people"],
    "cat": ["cat", "cats", "kitten", "kitty"],
    "animal": ["dog", "dogs", "puppy", "corgi", "horse", "bird", "rabbit", "bunny", "hamster", "fox", "animal", "pet"],
    "object": ["teapot", "pot", "bowl", "cup", "mug", "vase", "bottle", "backpack", "bag", "toy", "plushie", "plush",
               "stuffed animal", "figurine", "shoe", "chair", "car", "lamp", "clock", "object", "product"],
}


def subject_kind(captions: dict[str, str], template_text: str = "") -> tuple[Optional[str], Optional[str]]:
    """What the captions (or the template) call the subject: (kind, the word), or (None, None) when they do not say.

    A kind needs the word in at least half of the captions (or in the template). It steers the measurements:
    no human face is searched on a dog or a teapot, and the cat-face detector runs for cats.
    """
    texts = list(captions.values())
    for kind, words in KIND_WORDS.items():
        for word in words:
            if template_text and names_term(template_text, [word]):
                return kind, word
            if texts and sum(bool(names_term(t, [word])) for t in texts) >= NAMED_SHARE * len(texts):
                return kind, word
    return None, None
