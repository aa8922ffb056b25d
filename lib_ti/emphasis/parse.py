"""The host's prompt-emphasis math, both ways.

:func:`parse_prompt_attention` reproduces the host's attention parser
(``modules/prompt_parser.py`` in v1.10.1) exactly, quirks included, so what this
module says a weight is, the host uses. The inverse direction (a target weight to
``(x:w)`` or the nearest pure-bracket form) and the term rewrite used by the
prompt-box presets live in :mod:`lib_ti.emphasis.rewrite`.

Weight rules: ``(x)`` multiplies by 1.1, ``[x]`` divides by 1.1, ``(x:w)``
multiplies by ``w``; nesting multiplies; unclosed brackets act as if closed at the
end; ``\\(``-style escapes are literal; ``BREAK`` starts a new 75-token chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

ROUND = 1.1
SQUARE = 1 / 1.1

# One token of the prompt per match, alternatives tried in this order (the host's order):
# escaped bracket or backslash, lone backslash, "(", "[", ":weight)" closing an explicit weight,
# ")", "]", a run of plain text, a lone ":".
_TOKEN = re.compile(
    r"""
      (?P<escaped>\\[()\[\]\\])
    | (?P<backslash>\\)
    | (?P<open_round>\()
    | (?P<open_square>\[)
    | :\s*(?P<weight>[+-]?[.\d]+)\s*\)
    | (?P<close_round>\))
    | (?P<close_square>\])
    | (?P<text>[^\\()\[\]:]+)
    | (?P<colon>:)
    """,
    re.VERBOSE,
)

_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)

Segment = list  # [text: str, weight: float] - a list, as the host returns, so callers may compare directly


class EmphasisError(ValueError):
    """The host would raise here (``float()`` of a weight such as ``1.2.3``); ``position`` is the character index."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


def parse_prompt_attention(prompt: str) -> list[Segment]:
    """Split ``prompt`` into ``[text, weight]`` segments exactly as the host does.

    Raises :class:`EmphasisError` (a ``ValueError``, as in the host) when an explicit
    weight is not a number, e.g. ``(x:1.2.3)``.
    """
    result: list[Segment] = []
    open_round: list[int] = []
    open_square: list[int] = []

    def scale(start: int, factor: float) -> None:
        for seg in result[start:]:
            seg[1] *= factor

    for match in _TOKEN.finditer(prompt):
        kind = match.lastgroup
        token = match.group(0)
        weight = match.group("weight")
        if kind == "escaped":
            result.append([token[1], 1.0])
        elif kind == "backslash":
            result.append(["", 1.0])
        elif kind == "open_round":
            open_round.append(len(result))
        elif kind == "open_square":
            open_square.append(len(result))
        elif weight is not None and open_round:
            try:
                value = float(weight)
            except ValueError:
                pos = match.start("weight")
                raise EmphasisError(
                    f"could not convert string to float: '{weight}' (weight at character {pos + 1})", pos
                ) from None
            scale(open_round.pop(), value)
        elif kind == "close_round" and open_round:
            scale(open_round.pop(), ROUND)
        elif kind == "close_square" and open_square:
            scale(open_square.pop(), SQUARE)
        else:
            for i, part in enumerate(_BREAK.split(token)):
                if i:
                    result.append(["BREAK", -1])
                result.append([part, 1.0])

    for start in open_round:
        scale(start, ROUND)
    for start in open_square:
        scale(start, SQUARE)

    if not result:
        result = [["", 1.0]]

    merged: list[Segment] = [result[0]]
    for seg in result[1:]:
        if seg[1] == merged[-1][1]:
            merged[-1][0] += seg[0]
        else:
            merged.append(seg)
    return merged


@dataclass(frozen=True)
class Flag:
    """A warning about a prompt, with the character span it concerns."""

    kind: str
    message: str
    start: int
    end: int


_PROMPT_EDIT = re.compile(r"\[([^\[\]():|]*?):\s*([+-]?[.\d]+)\s*\]")
_PROMPT_EDIT3 = re.compile(r"\[([^\[\]():|]*?):([^\[\]():|]*?):\s*([+-]?[.\d]+)\s*\]")


def flag_prompt(prompt: str, low: float = 0.0, high: float = 2.0) -> list[Flag]:
    """Warnings a user should see next to the weights.

    - ``[x:w]`` (and ``[a:b:w]``) is prompt editing, a schedule - never a weight - in the host.
    - Nesting that pushes a segment's weight outside ``low..high`` usually wrecks the image.
    - Unbalanced brackets: the host closes them at the end (or treats stray closers as text).
    """
    flags: list[Flag] = []
    for m in _PROMPT_EDIT3.finditer(prompt):
        flags.append(Flag(
            "prompt-editing",
            f"'{m.group(0)}' is prompt editing (swap '{m.group(1)}' for '{m.group(2)}' at step {m.group(3)}), "
            "not a weight. For a weight use '(text:w)'.",
            m.start(), m.end(),
        ))
    for m in _PROMPT_EDIT.finditer(prompt):
        if any(f.start <= m.start() < f.end for f in flags):
            continue
        flags.append(Flag(
            "prompt-editing",
            f"'{m.group(0)}' is prompt editing (add '{m.group(1)}' after step {m.group(2)}), not a weight. "
            f"For a weight use '({m.group(1)}:{m.group(2)})'.",
            m.start(), m.end(),
        ))
    depth_round = depth_square = 0
    for m in _TOKEN.finditer(prompt):
        kind = m.lastgroup
        if kind == "open_round":
            depth_round += 1
        elif kind == "open_square":
            depth_square += 1
        elif (kind == "close_round" or m.group("weight") is not None) and depth_round:
            depth_round -= 1
        elif kind == "close_square" and depth_square:
            depth_square -= 1
        elif kind in ("close_round", "close_square"):
            flags.append(Flag("unbalanced", f"Stray '{m.group(0)}' at character {m.start() + 1} is kept as text.",
                              m.start(), m.end()))
    if depth_round or depth_square:
        flags.append(Flag(
            "unbalanced",
            f"{depth_round} '(' and {depth_square} '[' are never closed; the host closes them at the end of the prompt.",
            len(prompt), len(prompt),
        ))
    try:
        segments = parse_prompt_attention(prompt)
    except EmphasisError:
        return flags
    for text, weight in segments:
        if text == "BREAK" and weight < 0:
            continue
        if text.strip() and not (low <= weight <= high):
            flags.append(Flag(
                "overflow", f"'{text.strip()}' has weight {weight:.3g}, outside {low:g}..{high:g}.", -1, -1,
            ))
    return flags


def effective_weight(prompt: str, term: str) -> Optional[float]:
    """The weight the host gives to the first segment containing ``term`` (None if absent)."""
    for text, weight in parse_prompt_attention(prompt):
        if term in text:
            return weight
    return None
