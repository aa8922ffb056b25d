"""From a target weight back to prompt syntax, and rewriting a term's weight in a prompt.

Used by the Emphasis tab, the prompt-box presets (through :mod:`lib_ti.ui.api`) and the
strength sweep. Every rewrite is checked by re-parsing with the host's parser.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from .parse import ROUND, parse_prompt_attention

#: Preset weights offered by default: weaken a too-strong embedding, or strengthen a weak one.
DEFAULT_PRESETS: tuple[float, ...] = (0.5, 0.62, 0.75, 0.9, 1.1, 1.3)

STYLES = ("explicit", "brackets")

_WEIGHT_CLOSE = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
_WORD = re.compile(r"[^\s,()\[\]:|<>{}]+")
# Private-use characters mark the rewritten term while measuring its effective weight.
_MARK_L, _MARK_R = "\ue000", "\ue001"


def format_weight(weight: float, decimals: int = 3) -> str:
    """Short decimal for ``(x:w)``: at most ``decimals`` decimals, no trailing zeros (``0.62``, ``1.3``, ``1``)."""
    text = f"{weight:.{decimals}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def bracket_depth(weight: float) -> int:
    """Signed count of ``( )`` (positive) or ``[ ]`` (negative) pairs nearest to ``weight`` in log space."""
    if weight <= 0:
        raise ValueError(f"Brackets can only make positive weights; {weight:g} needs the explicit form.")
    return round(math.log(weight) / math.log(ROUND))


def bracket_form(text: str, depth: int) -> str:
    if depth >= 0:
        return "(" * depth + text + ")" * depth
    return "[" * -depth + text + "]" * -depth


def weight_of_form(form: str) -> float:
    """Weight the host gives a one-term form such as ``[[[x]]]`` or ``(x:0.62)``."""
    segments = [s for s in parse_prompt_attention(form) if s[0]]
    return segments[0][1] if segments else 1.0


@dataclass(frozen=True)
class Inverse:
    """Ways to write ``text`` at ``target`` weight."""

    target: float
    explicit: str
    explicit_weight: float
    brackets: Optional[str]
    brackets_weight: Optional[float]
    depth: Optional[int]

    @property
    def brackets_error(self) -> Optional[float]:
        return None if self.brackets_weight is None else self.brackets_weight - self.target


def inverse(text: str, target: float) -> Inverse:
    """Explicit ``(text:w)`` and the nearest pure-bracket form for a target weight."""
    if not math.isfinite(target):
        raise ValueError("The target weight must be a finite number.")
    explicit = text if format_weight(target) == "1" else f"({text}:{format_weight(target)})"
    brackets = depth = bw = None
    if target > 0:
        depth = bracket_depth(target)
        brackets = bracket_form(text, depth)
        bw = weight_of_form(brackets)
    return Inverse(target, explicit, weight_of_form(explicit), brackets, bw, depth)


def _is_escaped(prompt: str, pos: int) -> bool:
    """True when the character at ``pos`` is preceded by an odd number of backslashes."""
    n = 0
    while pos - 1 - n >= 0 and prompt[pos - 1 - n] == "\\":
        n += 1
    return n % 2 == 1


def _strip_own_brackets(prompt: str, start: int, end: int) -> tuple[int, int]:
    """Grow ``[start, end)`` over brackets that enclose exactly this span (``((x))``, ``[x]``, ``(x:1.2)``)."""
    while start > 0:
        opener = prompt[start - 1]
        if opener not in "([" or _is_escaped(prompt, start - 1):
            break
        if opener == "(":
            m = _WEIGHT_CLOSE.match(prompt, end)
            if m:
                start, end = start - 1, m.end()
                continue
            if end < len(prompt) and prompt[end] == ")":
                start, end = start - 1, end + 1
                continue
        elif end < len(prompt) and prompt[end] == "]":
            start, end = start - 1, end + 1
            continue
        break
    return start, end


def _marked_weight(prompt: str) -> float:
    """Weight of the marked term (between the private-use marks) in ``prompt``."""
    for text, weight in parse_prompt_attention(prompt):
        if _MARK_L in text:
            return weight
    raise ValueError("internal: marker lost")  # pragma: no cover


@dataclass(frozen=True)
class Rewrite:
    prompt: str
    start: int
    end: int
    weight: float
    message: str = ""


def word_at(prompt: str, pos: int) -> tuple[int, int]:
    """Span of the word at ``pos`` (a cursor), bounded by spaces, commas, brackets, ':' and '|'."""
    for m in _WORD.finditer(prompt):
        if m.start() <= pos <= m.end():
            return m.start(), m.end()
    return pos, pos


def rewrite_span(prompt: str, start: int, end: int, weight: float, style: str = "explicit") -> Rewrite:
    """Set the effective weight of ``prompt[start:end]`` (the word at the cursor if empty).

    The span's own brackets are replaced, outer groups are taken into account (inside
    ``(a photo of x)`` the local weight becomes ``w / 1.1``), the rest of the prompt is
    untouched. Returns the new prompt, the new span of the rewritten form, and the weight
    the host will actually use (exact for explicit, nearest for brackets).
    """
    if style not in STYLES:
        raise ValueError(f"Unknown style '{style}'; use one of {', '.join(STYLES)}.")
    if not (0 <= start <= end <= len(prompt)):
        raise ValueError(f"Selection {start}..{end} is outside the prompt (length {len(prompt)}).")
    if start == end:
        start, end = word_at(prompt, start)
    # Trim spaces the user selected around the term.
    while start < end and prompt[start].isspace():
        start += 1
    while end > start and prompt[end - 1].isspace():
        end -= 1
    if start == end:
        return Rewrite(prompt, start, end, 1.0, "Nothing selected: put the cursor on a word or select text.")
    inner = prompt[start:end]
    # An explicit weight selected whole, e.g. "(x:1.2)": reduce it to its text first.
    m = re.fullmatch(r"\((.*?):\s*[+-]?[.\d]+\s*\)", inner, re.S)
    if m:
        inner = m.group(1)
    inner = inner.strip("()[]") if re.fullmatch(r"[(\[]+[^()\[\]]*[)\]]+", inner) else inner
    start, end = _strip_own_brackets(prompt, start, end)
    before, after = prompt[:start], prompt[end:]
    outer = _marked_weight(before + _MARK_L + inner + _MARK_R + after)
    if outer == 0:
        raise ValueError("The term sits in a group with weight 0; no local weight can change that.")
    local = weight / outer
    if style == "brackets" and local > 0:
        form = bracket_form(inner, bracket_depth(local))
    else:
        # Inside an outer group the local weight is a quotient: one more decimal keeps the result within 1e-4.
        text = format_weight(local, 3 if outer == 1 else 4)
        form = inner if text == "1" else f"({inner}:{text})"
    new_prompt = before + form + after
    marked_form = form.replace(inner, _MARK_L + inner + _MARK_R, 1)
    got = _marked_weight(before + marked_form + after)
    return Rewrite(new_prompt, len(before), len(before) + len(form), got)


def term_spans(prompt: str, term: str) -> list[tuple[int, int]]:
    """Occurrences of ``term`` as a whole word (case-insensitive, like CLIP's tokenizer)."""
    if not term:
        return []
    pattern = re.compile(r"(?<![\w])" + re.escape(term) + r"(?![\w])", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(prompt)]


def apply_weight(prompt: str, term: str, weight: float, style: str = "explicit") -> Rewrite:
    """Give every occurrence of ``term`` the effective ``weight``; the rest of the prompt is untouched."""
    spans = term_spans(prompt, term)
    if not spans:
        return Rewrite(prompt, 0, 0, 1.0, f"'{term}' does not occur in the prompt.")
    # Right to left, so earlier spans stay valid; the last rewrite is the first occurrence's.
    result = Rewrite(prompt, 0, 0, 1.0)
    for start, end in reversed(spans):
        result = rewrite_span(result.prompt, start, end, weight, style)
    return result
