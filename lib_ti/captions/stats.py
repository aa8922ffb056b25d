"""Word and phrase frequencies across captions, and what they mean for training.

With Textual Inversion, what a caption names is explained by the words and not learned by the
embedding. Two signals follow:

- a phrase that appears in *most* captions probably describes the concept itself; naming it
  everywhere teaches the embedding less of it (highlighted);
- an attribute the dataset checks found shared by the images (same background, same clothes)
  but that no caption names will be baked into the embedding (listed, linked to the Dataset tab).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

#: Words too common to count as phrases on their own or to start/end a phrase.
STOPWORDS = frozenset(
    "a an the of and or with in on at to for from by is are was were be it its this that there "
    "his her their some".split()
)

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def words(text: str) -> list[str]:
    """Lower-cased words of a caption (emphasis brackets, punctuation and digits-only runs kept out)."""
    return [w.casefold() for w in _WORD.findall(text)]


def phrases(text: str, max_n: int = 3) -> set[str]:
    """Distinct 1..max_n word phrases within each comma-separated part, not starting or ending on a stopword."""
    out: set[str] = set()
    for part in text.split(","):
        ws = words(part)
        for n in range(1, max_n + 1):
            for i in range(len(ws) - n + 1):
                gram = ws[i:i + n]
                if gram[0] in STOPWORDS or gram[-1] in STOPWORDS:
                    continue
                out.add(" ".join(gram))
    return out


@dataclass(frozen=True)
class PhraseRow:
    """One phrase: in how many captions it appears (``captions``) and their share."""

    phrase: str
    n_words: int
    captions: int
    share: float
    in_most: bool


def frequencies(captions: Iterable[str], *, max_n: int = 3, most: float = 0.5, min_count: int = 2,
                top: int = 50) -> list[PhraseRow]:
    """Phrases by the number of captions containing them (most first).

    A longer phrase hides the shorter ones inside it when they occur in exactly the same
    captions ("red scarf" in 8 captions hides "scarf" in the same 8), so the table shows what
    was written, not every fragment of it. ``in_most``: present in more than ``most`` of the
    captions that have text.
    """
    texts = [t for t in captions if t and t.strip()]
    total = len(texts)
    if total == 0:
        return []
    doc: Counter[str] = Counter()
    for t in texts:
        doc.update(phrases(t, max_n))
    kept = {p: c for p, c in doc.items() if c >= min_count or total < min_count}
    longer_by_count: dict[int, list[str]] = {}
    for p, c in kept.items():
        if " " in p:
            longer_by_count.setdefault(c, []).append(p)
    rows = []
    for p, c in kept.items():
        covered = any(
            q != p and len(q) > len(p) and re.search(rf"(?<!\S){re.escape(p)}(?!\S)", q)
            for q in longer_by_count.get(c, ())
        )
        if covered:
            continue
        share = c / total
        rows.append(PhraseRow(p, p.count(" ") + 1, c, share, share > most))
    rows.sort(key=lambda r: (-r.captions, -r.n_words, r.phrase))
    return rows[:top]


def word_counts(captions: Iterable[str]) -> Counter[str]:
    """Total occurrences of each word (stopwords included): the plain word-frequency table."""
    out: Counter[str] = Counter()
    for t in captions:
        out.update(words(t or ""))
    return out


@dataclass(frozen=True)
class UnnamedAttribute:
    """A shared attribute from the dataset report that the captions do not name."""

    kind: str
    description: str
    terms: tuple[str, ...]
    images: tuple[str, ...]
    named_in: int  # captions of those images that name one of the terms now


def _names_term(text: str, terms: Sequence[str]) -> bool:
    low = " ".join(words(text))
    return any(re.search(rf"(?<!\S){re.escape(' '.join(words(t)))}(?!\S)", low) for t in terms if words(t))


def unnamed_shared_attributes(report: Optional[Mapping], captions: Mapping[str, str]) -> list[UnnamedAttribute]:
    """Attributes the dataset checks found shared that no caption of the affected images names.

    ``captions`` maps image file names (or paths) to caption text. The report's own
    ``named_in_captions`` may be stale (captions change after the check), so naming is
    re-checked against the current captions; an attribute counts as named once any caption of
    its images contains one of its terms.
    """
    if not report:
        return []
    by_name = {Path(k).name: v for k, v in captions.items()}
    by_stem = {Path(k).stem: v for k, v in captions.items()}
    out = []
    for attr in report.get("shared_attributes") or []:
        terms = [str(t) for t in attr.get("terms") or []]
        images = [str(i) for i in attr.get("images") or []]
        texts = [by_name.get(Path(i).name, by_stem.get(Path(i).stem, "")) for i in images] if images \
            else list(captions.values())
        named = sum(1 for t in texts if t and _names_term(t, terms))
        if named == 0:
            out.append(UnnamedAttribute(str(attr.get("kind", "")), str(attr.get("description", "")),
                                        tuple(terms), tuple(images), named))
    return out


@dataclass
class CaptionStats:
    """Everything the frequency panel shows."""

    total: int
    captioned: int
    rows: list[PhraseRow] = field(default_factory=list)
    unnamed: list[UnnamedAttribute] = field(default_factory=list)


def caption_stats(captions: Mapping[str, str], report: Optional[Mapping] = None, **kwargs) -> CaptionStats:
    texts = list(captions.values())
    return CaptionStats(
        total=len(texts),
        captioned=sum(1 for t in texts if t and t.strip()),
        rows=frequencies(texts, **kwargs),
        unnamed=unnamed_shared_attributes(report, captions),
    )
