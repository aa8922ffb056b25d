"""Bulk caption edits as pure functions: ``operation(text) -> text``, applied over a caption set.

Every operation is a small frozen dataclass with ``__call__(text) -> str``. :func:`plan` applies one
to all captions or to a subset and returns the changes for preview; nothing touches the disk here
(:mod:`.session` writes and keeps the undo step). Trailing whitespace (a final newline) is kept as
it was: operations see the caption body only.

Tag operations treat a caption as comma-separated tags, the way the host's training splits
captions for tag shuffling and dropout. They rewrite a caption only when its tag list changes,
and join tags with ``", "``.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Sequence


class EditError(ValueError):
    """An edit that cannot run (a bad regular expression, an empty search); the message says where."""


def _split_trailing(text: str) -> tuple[str, str]:
    body = text.rstrip()
    return body, text[len(body):]


def compile_regex(pattern: str, flags: int = 0) -> "re.Pattern[str]":
    """Compile a user's pattern, turning ``re.error`` into a message that points at the fault."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        pos = exc.pos if exc.pos is not None else 0
        raise EditError(
            f"Bad regular expression at position {pos}: {exc.msg}.\n  {pattern}\n  {' ' * pos}^"
        ) from None


def tidy(text: str) -> str:
    """Clean up after removing words: single spaces, no space before commas, no empty tags."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([,.;:!?])", r"\1", text)
    text = re.sub(r",(\s*,)+", ",", text)
    text = re.sub(r",(?=\S)", ", ", text)
    return text.strip(" ,\t")


def split_tags(text: str) -> list[str]:
    """Comma-separated tags, stripped, empty ones dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def join_tags(tags: Sequence[str]) -> str:
    return ", ".join(tags)


# --- text operations -----------------------------------------------------------------------------


#: The whole-word option of plain find/replace, written once for the Captions tab and ``captions replace``.
WHOLE_WORD_LABEL = "Whole words (shirt ≠ t-shirt)"
WHOLE_WORD_DEFAULT = True


@dataclass(frozen=True)
class Replace:
    """Find and replace, plain text or a regular expression (``\\1`` / ``\\g<name>`` in ``repl``)."""

    find: str
    repl: str
    regex: bool = False
    ignore_case: bool = False
    #: plain text only: match ``find`` as a whole word, where a hyphen or apostrophe joins words
    #: (``shirt`` does not match inside ``t-shirt``, so ``shirt``→``t-shirt`` cannot give ``t-t-shirt``)
    whole_word: bool = False

    def __post_init__(self) -> None:
        if not self.find:
            raise EditError("Nothing to find: the search text is empty.")
        if self.regex:
            compile_regex(self.find)  # fail at once, with the position, not on the first caption

    def __call__(self, text: str) -> str:
        body, tail = _split_trailing(text)
        if self.regex:
            pattern = compile_regex(self.find, re.IGNORECASE if self.ignore_case else 0)
            try:
                return pattern.sub(self.repl, body) + tail
            except (re.error, IndexError) as exc:
                raise EditError(f"Bad replacement {self.repl!r}: {exc}.") from None
        if self.whole_word:
            pattern = r"(?<![\w'-])" + re.escape(self.find) + r"(?![\w'-])"
            return re.sub(pattern, lambda _m: self.repl, body, flags=re.IGNORECASE if self.ignore_case else 0) + tail
        if self.ignore_case:
            return re.sub(re.escape(self.find), lambda _m: self.repl, body, flags=re.IGNORECASE) + tail
        return body.replace(self.find, self.repl) + tail


@dataclass(frozen=True)
class Prepend:
    """Put ``text`` (e.g. ``[name]``) in front; captions that already start with it are left alone."""

    text: str
    sep: str = ", "

    def __call__(self, caption: str) -> str:
        body, tail = _split_trailing(caption)
        if not self.text or body.startswith(self.text):
            return caption
        return (f"{self.text}{self.sep}{body.lstrip()}" if body.strip() else self.text) + tail


@dataclass(frozen=True)
class Append:
    """Put ``text`` at the end; captions that already end with it are left alone."""

    text: str
    sep: str = ", "

    def __call__(self, caption: str) -> str:
        body, tail = _split_trailing(caption)
        if not self.text or body.endswith(self.text):
            return caption
        return (f"{body}{self.sep}{self.text}" if body.strip() else self.text) + tail


@dataclass(frozen=True)
class RemovePhrase:
    """Remove a phrase as whole words (case-insensitive), then tidy spaces and commas around it."""

    phrase: str
    ignore_case: bool = True

    def __post_init__(self) -> None:
        if not self.phrase.strip():
            raise EditError("Nothing to remove: the phrase is empty.")

    def __call__(self, caption: str) -> str:
        body, tail = _split_trailing(caption)
        words = [re.escape(w) for w in self.phrase.split()]
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE if self.ignore_case else 0)
        if not pattern.search(body):
            return caption
        return tidy(pattern.sub("", body)) + tail


# --- tag operations ------------------------------------------------------------------------------


def _tag_op(fn: Callable[[list[str]], list[str]], caption: str) -> str:
    body, tail = _split_trailing(caption)
    tags = split_tags(body)
    new = fn(list(tags))
    if new == tags:
        return caption
    return join_tags(new) + tail


@dataclass(frozen=True)
class AddTag:
    """Add a tag at the start or the end unless the caption already has it."""

    tag: str
    at_start: bool = False

    def __post_init__(self) -> None:
        if not self.tag.strip() or "," in self.tag:
            raise EditError(f"Not a single tag: {self.tag!r} (empty, or contains a comma).")

    def __call__(self, caption: str) -> str:
        tag = self.tag.strip()

        def add(tags: list[str]) -> list[str]:
            if tag in tags:
                return tags
            return [tag, *tags] if self.at_start else [*tags, tag]

        return _tag_op(add, caption)


@dataclass(frozen=True)
class RemoveTag:
    """Remove every tag equal to ``tag`` (after stripping spaces)."""

    tag: str

    def __call__(self, caption: str) -> str:
        tag = self.tag.strip()
        return _tag_op(lambda tags: [t for t in tags if t != tag], caption)


@dataclass(frozen=True)
class RenameTag:
    """Rename a tag in place; if the new name is already there, the duplicate is dropped."""

    old: str
    new: str

    def __post_init__(self) -> None:
        if not self.new.strip() or "," in self.new:
            raise EditError(f"Not a single tag: {self.new!r} (empty, or contains a comma).")

    def __call__(self, caption: str) -> str:
        old, new = self.old.strip(), self.new.strip()

        def rename(tags: list[str]) -> list[str]:
            if old not in tags:
                return tags
            return _dedupe([new if t == old else t for t in tags])

        return _tag_op(rename, caption)


@dataclass(frozen=True)
class SortTags:
    """Sort tags alphabetically (case-insensitive), keeping the first ``keep_first`` in place."""

    keep_first: int = 0

    def __call__(self, caption: str) -> str:
        k = max(0, self.keep_first)
        return _tag_op(lambda tags: tags[:k] + sorted(tags[k:], key=lambda t: (t.casefold(), t)), caption)


def _dedupe(tags: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in tags:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


@dataclass(frozen=True)
class DedupeTags:
    """Drop repeated tags, keeping the first occurrence."""

    def __call__(self, caption: str) -> str:
        return _tag_op(_dedupe, caption)


Operation = Callable[[str], str]

#: Names the UI and the CLI use for each operation, with the fields each needs.
OPERATIONS: dict[str, str] = {
    "replace": "Find and replace",
    "prepend": "Prepend text",
    "append": "Append text",
    "remove_phrase": "Remove phrase",
    "add_tag": "Add tag",
    "remove_tag": "Remove tag",
    "rename_tag": "Rename tag",
    "sort_tags": "Sort tags",
    "dedupe_tags": "Remove duplicate tags",
}


def make_operation(kind: str, a: str = "", b: str = "", *, regex: bool = False, ignore_case: bool = False,
                   sep: str = ", ", number: int = 0, whole_word: bool = False) -> Operation:
    """Build an operation from UI/CLI fields: ``a`` is find/text/tag/old, ``b`` is repl/new."""
    if kind == "replace":
        return Replace(a, b, regex=regex, ignore_case=ignore_case, whole_word=whole_word and not regex)
    if kind == "prepend":
        return Prepend(a, sep)
    if kind == "append":
        return Append(a, sep)
    if kind == "remove_phrase":
        return RemovePhrase(a, ignore_case=True)
    if kind == "add_tag":
        return AddTag(a)
    if kind == "remove_tag":
        return RemoveTag(a)
    if kind == "rename_tag":
        return RenameTag(a, b)
    if kind == "sort_tags":
        return SortTags(number)
    if kind == "dedupe_tags":
        return DedupeTags()
    raise EditError(f"Unknown edit {kind!r}; choose one of: {', '.join(OPERATIONS)}.")


@dataclass(frozen=True)
class Change:
    """One caption a bulk edit would change."""

    key: str
    before: str
    after: str


def plan(op: Operation, captions: Mapping[str, str], keys: Optional[Iterable[str]] = None) -> list[Change]:
    """The changes ``op`` makes to ``captions`` (all, or only ``keys``), in the set's order."""
    chosen = set(captions) if keys is None else set(keys)
    out = []
    for key, text in captions.items():
        if key not in chosen:
            continue
        after = op(text)
        if after != text:
            out.append(Change(key, text, after))
    return out


def apply_changes(captions: Mapping[str, str], changes: Iterable[Change]) -> dict[str, str]:
    """A new caption set with ``changes`` applied (pure; the input is not modified)."""
    out = dict(captions)
    for ch in changes:
        out[ch.key] = ch.after
    return out


def undo_changes(captions: Mapping[str, str], changes: Iterable[Change]) -> dict[str, str]:
    """The caption set before ``changes``: the one-step undo."""
    out = dict(captions)
    for ch in changes:
        out[ch.key] = ch.before
    return out


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff as ``(op, text)`` pairs, op in ``' '``, ``'-'``, ``'+'``."""
    a = re.findall(r"\s+|[^\s]+", before)
    b = re.findall(r"\s+|[^\s]+", after)
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append((" ", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("-", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("+", "".join(b[j1:j2])))
    return out


def diff_html(before: str, after: str) -> str:
    """The diff for the preview: removed words struck through, added words highlighted."""
    parts = []
    for op, text in word_diff(before, after):
        t = html.escape(text)
        parts.append(t if op == " " else f"<del>{t}</del>" if op == "-" else f"<ins>{t}</ins>")
    return "".join(parts)
