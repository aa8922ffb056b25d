"""Learning-rate schedule strings, exactly as the host's Train tab reads them.

Grammar (host v1.10.1, ``modules/textual_inversion/learn_schedule.py``): items
separated by ``,``; blank items skipped; ``rate:step`` means "this rate until
``step`` (exclusive)"; a plain ``rate`` (or an item with other than one ``:``)
means "this rate until max steps" and ends parsing. Host quirks reproduced here
on purpose, and reported by :func:`lint`:

- an item after a plain rate, after ``step == -1`` or after a step beyond max steps is ignored;
- a step at or below the resume step (0, negatives other than -1, passed steps) is dropped;
- the scheduler advances one entry per update, so a step at or below the previous
  one is consumed one update later, and two entries clamped to max steps give one extra update;
- a final ``rate:step`` below max steps ends training at that step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

INVALID_MESSAGE = (
    'Invalid learning rate schedule. It should be a number or, for example, like '
    '"0.001:100, 0.00001:1000, 1e-5:10000" to have lr of 0.001 until step 100, '
    "0.00001 until 1000, and 1e-5 until 10000."
)


class ScheduleError(ValueError):
    """The host would refuse this string. ``position`` is the 0-based character index at fault."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Item:
    """One comma-separated item of the string, as written, with its character span."""

    text: str
    start: int
    end: int


@dataclass
class Parsed:
    """Entries the host keeps, plus what it silently did with the rest (for the linter)."""

    entries: list[tuple[float, int]]
    items: list[Item]
    #: index of the item at which parsing stopped early (its successors are ignored), or None
    stopped_at: Optional[int] = None
    #: indices of items dropped because their step is at or below the start step
    dropped: list[int] = field(default_factory=list)
    #: (item index, entry index) for every kept item
    kept: list[tuple[int, int]] = field(default_factory=list)
    #: indices of items with more than one ':' (read as a plain rate)
    multi_colon: list[int] = field(default_factory=list)


def _split_items(text: str) -> list[Item]:
    items, pos = [], 0
    for raw in text.split(","):
        items.append(Item(raw, pos, pos + len(raw)))
        pos += len(raw) + 1
    return items


def _float(part: str, at: int, what: str) -> float:
    try:
        return float(part)
    except ValueError:
        raise ScheduleError(f"{what} '{part.strip()}' at character {at + 1} is not a number. {INVALID_MESSAGE}", at) from None


def _int(part: str, at: int) -> int:
    try:
        return int(part)
    except ValueError:
        raise ScheduleError(
            f"Step '{part.strip()}' at character {at + 1} is not a whole number (the host reads steps with int(); "
            f"write 1000, not 1e3 or 1000.0). {INVALID_MESSAGE}",
            at,
        ) from None


def _offset(item: Item, part_index: int) -> int:
    """Character index of the first non-space character of ``part_index`` within ``item``."""
    parts = item.text.split(":")
    off = item.start + sum(len(p) + 1 for p in parts[:part_index])
    part = parts[part_index]
    return off + (len(part) - len(part.lstrip()))


def parse_detailed(text: str, max_steps: int, start_step: int = 0) -> Parsed:
    """Parse like the host and record what happened to each item. Raises :class:`ScheduleError`."""
    items = _split_items(text)
    parsed = Parsed(entries=[], items=items)
    for idx, item in enumerate(items):
        if not item.text.strip():
            continue
        parts = item.text.split(":")
        if len(parts) == 2:
            step = _int(parts[1], _offset(item, 1))
            rate = None
            if step > start_step:
                rate = _float(parts[0], _offset(item, 0), "Rate")
                parsed.entries.append((rate, min(step, max_steps)))
                parsed.kept.append((idx, len(parsed.entries) - 1))
                if step > max_steps:
                    parsed.stopped_at = idx
                    break
            elif step == -1:
                rate = _float(parts[0], _offset(item, 0), "Rate")
                parsed.entries.append((rate, max_steps))
                parsed.kept.append((idx, len(parsed.entries) - 1))
                parsed.stopped_at = idx
                break
            else:
                parsed.dropped.append(idx)
        else:
            if len(parts) > 2:
                parsed.multi_colon.append(idx)
            rate = _float(parts[0], _offset(item, 0), "Rate")
            parsed.entries.append((rate, max_steps))
            parsed.kept.append((idx, len(parsed.entries) - 1))
            parsed.stopped_at = idx
            break
    if not parsed.entries:
        raise ScheduleError(f"The schedule has no usable entry. {INVALID_MESSAGE}", 0)
    return parsed


def parse_schedule(text: str, max_steps: int, start_step: int = 0) -> list[tuple[float, int]]:
    """The host's ``(rate, end_step)`` entries for ``text``; raises :class:`ScheduleError` where the host refuses."""
    return parse_detailed(text, max_steps, start_step).entries


class HostScheduler:
    """Drop-in for the host's ``LearnRateScheduler``: same entries, same one-entry-per-call advance."""

    def __init__(self, text: str, max_steps: int, start_step: int = 0) -> None:
        self.entries = parse_schedule(text, max_steps, start_step)
        self.index = 0
        self.learn_rate, self.end_step = self.entries[0]
        self.finished = False

    def step(self, step_number: int) -> bool:
        """Called before each update with the number of completed updates; True when the rate changed."""
        if step_number < self.end_step:
            return False
        if self.index + 1 < len(self.entries):
            self.index += 1
            self.learn_rate, self.end_step = self.entries[self.index]
            return True
        self.finished = True
        return False

    def state_dict(self) -> dict:
        return {"index": self.index, "finished": self.finished}

    def load_state_dict(self, state: dict) -> None:
        self.index = int(state["index"])
        self.finished = bool(state["finished"])
        self.learn_rate, self.end_step = self.entries[self.index]


@dataclass(frozen=True)
class Segment:
    """Updates ``first..last`` (inclusive, numbered by completed steps) all use ``rate``."""

    rate: float
    first: int
    last: int


@dataclass(frozen=True)
class Trace:
    entries: list[tuple[float, int]]
    updates: int
    segments: list[Segment]

    def as_dict(self) -> dict:
        return {
            "entries": [[r, s] for r, s in self.entries],
            "updates": self.updates,
            "segments": [{"rate": s.rate, "first": s.first, "last": s.last} for s in self.segments],
        }

    def rate_at(self, step: int) -> Optional[float]:
        """The rate of the update made when ``step`` updates are complete; None outside training."""
        for seg in self.segments:
            if seg.first <= step <= seg.last:
                return seg.rate
        return None


def trace(text: str, max_steps: int, start_step: int = 0) -> Trace:
    """Which rate every update gets, as the host's training loop applies the schedule.

    Runs in O(entries): between changes the rate is constant, so whole runs of
    updates are counted at once instead of stepping one by one.
    """
    sched = HostScheduler(text, max_steps, start_step)
    segments: list[Segment] = []
    n = start_step
    while True:
        sched.step(n)
        if sched.finished:
            break
        # This rate holds for this update and every later one until n reaches end_step.
        last = max(n, sched.end_step - 1)
        rate = sched.learn_rate
        if segments and segments[-1].rate == rate and segments[-1].last == n - 1:
            segments[-1] = Segment(rate, segments[-1].first, last)
        else:
            segments.append(Segment(rate, n, last))
        n = last + 1
    return Trace(entries=sched.entries, updates=n - start_step, segments=segments)


# ---------------------------------------------------------------------------------------------
# Lint


@dataclass(frozen=True)
class Warning_:
    """A plain-language warning about a schedule string, with the character span it concerns."""

    code: str
    message: str
    start: int = -1
    end: int = -1


MIN_SANE_RATE = 1e-7
MAX_SANE_RATE = 1.0


def lint(text: str, max_steps: int, start_step: int = 0) -> list[Warning_]:
    """Every quirk the host would apply silently, in plain words. Raises :class:`ScheduleError` if invalid."""
    parsed = parse_detailed(text, max_steps, start_step)
    out: list[Warning_] = []
    items = parsed.items
    if parsed.stopped_at is not None:
        later = [it for it in items[parsed.stopped_at + 1:] if it.text.strip()]
        if later:
            stop_item = items[parsed.stopped_at]
            parts = stop_item.text.split(":")
            if len(parts) != 2:
                why = f"'{stop_item.text.strip()}' is a plain rate, which runs until max steps"
            elif int(parts[1]) == -1:
                why = f"'{stop_item.text.strip()}' uses step -1, which means 'until max steps'"
            else:
                why = f"step {int(parts[1])} in '{stop_item.text.strip()}' is beyond max steps ({max_steps})"
            ignored = ", ".join(f"'{it.text.strip()}'" for it in later)
            out.append(Warning_("ignored-after-end",
                                f"{ignored} ignored: {why}, so the host stops reading there.",
                                later[0].start, later[-1].end))
    for idx in parsed.multi_colon:
        it = items[idx]
        out.append(Warning_("extra-colon",
                            f"'{it.text.strip()}' has more than one ':'; the host reads only its rate "
                            f"'{it.text.split(':')[0].strip()}' and uses it until max steps.", it.start, it.end))
    for idx in parsed.dropped:
        it = items[idx]
        step = int(it.text.split(":")[1])
        if step <= 0:
            why = f"step {step} is not a positive step number"
        else:
            why = f"step {step} is at or below the starting step {start_step}"
        out.append(Warning_("dropped", f"'{it.text.strip()}' dropped: {why}.", it.start, it.end))
    prev_end: Optional[int] = None
    for item_idx, entry_idx in parsed.kept:
        rate, end = parsed.entries[entry_idx]
        it = items[item_idx]
        if prev_end is not None and end <= prev_end:
            if end == prev_end == max_steps:
                msg = (f"'{it.text.strip()}' ends at max steps ({max_steps}) like the entry before it; "
                       f"the host then runs one extra update (to {max_steps + 1}) at rate {format_rate(rate)}.")
                out.append(Warning_("extra-update", msg, it.start, it.end))
            else:
                msg = (f"'{it.text.strip()}' ends at step {end}, not after the previous entry's step {prev_end}; "
                       f"the host uses it for exactly one update (at step {prev_end}) and moves on.")
                out.append(Warning_("out-of-order", msg, it.start, it.end))
        if rate == 0:
            out.append(Warning_("zero-rate", f"Rate {it.text.split(':')[0].strip()} is zero: those steps learn nothing.",
                                it.start, it.end))
        elif rate < 0:
            out.append(Warning_("negative-rate",
                                f"Rate {it.text.split(':')[0].strip()} is negative: it trains away from the data.",
                                it.start, it.end))
        elif not (MIN_SANE_RATE <= rate <= MAX_SANE_RATE) or math.isnan(rate):
            out.append(Warning_("rate-range",
                                f"Rate {it.text.split(':')[0].strip()} is outside the useful range "
                                f"{format_rate(MIN_SANE_RATE)}..{format_rate(MAX_SANE_RATE)} for embeddings.",
                                it.start, it.end))
        prev_end = end
    last_end = parsed.entries[-1][1]
    if last_end < max_steps:
        out.append(Warning_("ends-early",
                            f"Training ends at step {last_end}, before max steps ({max_steps}): the last entry has an "
                            f"explicit step. End with a plain rate (or ':-1') to train to max steps.",
                            items[parsed.kept[-1][0]].start, items[parsed.kept[-1][0]].end))
    return out


# ---------------------------------------------------------------------------------------------
# Formatting


def format_rate(rate: float) -> str:
    """Shortest text that reads back as exactly ``rate``: ``5e-2``, ``0.1``, ``1.5e-3``, ``2``."""
    if rate == 0:
        return "0"
    if math.isnan(rate) or math.isinf(rate):
        return repr(rate)
    for digits in range(1, 18):
        text = f"{rate:.{digits}g}"
        if float(text) == rate:
            break
    mantissa, _, exp = f"{float(text):.{digits - 1}e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    sci = f"{mantissa}e{int(exp)}"
    dec = f"{float(text):.{max(0, digits - 1 - int(exp))}f}" if int(exp) < digits else f"{float(text):.0f}"
    if "." in dec:
        dec = dec.rstrip("0").rstrip(".")
    candidates = [c for c in (sci, dec) if float(c) == rate]
    # Prefer scientific on ties for small rates (the way the host's docs and users write them).
    return min(candidates, key=lambda c: (len(c), 0 if "e" in c and rate < 0.1 else 1))


def format_schedule(entries: list[tuple[float, Optional[int]]]) -> str:
    """Host string for ``(rate, end_step)`` pairs; ``None`` as the last step writes a plain rate (to max steps)."""
    parts = []
    for rate, end in entries:
        parts.append(format_rate(rate) if end is None else f"{format_rate(rate)}:{int(end)}")
    return ",".join(parts)
