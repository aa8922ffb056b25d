"""Which captions to look at: missing ones, ones containing a word, ones over the token budget.

Each filter takes the caption set as a mapping ``key -> text`` (``None`` or ``''`` for an image
without a caption) and returns the matching keys in the set's order, so the same subset can be
shown in the gallery and handed to a bulk edit.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

from .tokens import CHUNK, count_tokens

#: Filter names shown in the UI and accepted by the CLI.
FILTERS: dict[str, str] = {
    "all": "All images",
    "missing": "Without a caption",
    "contains": "Caption contains…",
    "lacks": "Caption does not contain…",
    "over_budget": "Over the token budget",
}


def without_caption(captions: Mapping[str, Optional[str]]) -> list[str]:
    """Images whose caption file is missing or holds only whitespace (the host then uses the file name)."""
    return [k for k, t in captions.items() if not (t and t.strip())]


def _word_pattern(word: str) -> "re.Pattern[str]":
    word = word.strip()
    if not word:
        raise ValueError("Type a word or phrase to filter by.")
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in word.split()) + r"(?!\w)", re.IGNORECASE)


def containing(captions: Mapping[str, Optional[str]], word: str) -> list[str]:
    """Captions containing ``word`` (a whole word or phrase, any case)."""
    pattern = _word_pattern(word)
    return [k for k, t in captions.items() if t and pattern.search(t)]


def lacking(captions: Mapping[str, Optional[str]], word: str) -> list[str]:
    """Captions (including missing ones) that do not contain ``word``."""
    pattern = _word_pattern(word)
    return [k for k, t in captions.items() if not (t and pattern.search(t))]


def over_budget(captions: Mapping[str, Optional[str]], budget: int = CHUNK,
                counter: Callable[[str], int] = lambda t: count_tokens(t).count) -> list[str]:
    """Captions with more than ``budget`` CLIP tokens (75 = one host chunk)."""
    return [k for k, t in captions.items() if t and counter(t) > budget]


def apply_filter(captions: Mapping[str, Optional[str]], kind: str, arg: str = "", budget: int = CHUNK) -> list[str]:
    """Dispatch by filter name (see :data:`FILTERS`)."""
    if kind == "all":
        return list(captions)
    if kind == "missing":
        return without_caption(captions)
    if kind == "contains":
        return containing(captions, arg)
    if kind == "lacks":
        return lacking(captions, arg)
    if kind == "over_budget":
        return over_budget(captions, budget)
    raise ValueError(f"Unknown filter {kind!r}; choose one of: {', '.join(FILTERS)}.")
