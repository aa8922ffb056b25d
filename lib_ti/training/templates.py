"""Prompt templates and captions, filled exactly as the host's trainer fills them.

Host rules (``modules/textual_inversion/dataset.py`` at v1.10.1), reproduced here:

- a template file's lines are read with ``strip()`` each; one is picked with ``random.choice``;
- the caption is the sidecar ``<stem>.txt`` read raw (not stripped), else the file stem
  with leading ``[-\\d]+\\s*`` removed (optionally reduced by a word regex and re-joined);
- tags are ``caption.split(',')``; dropout keeps a tag when ``random() > p``; shuffle is
  ``random.shuffle``; the rejoin is ``','.join(tags)`` (spaces stay attached to tags);
- ``[filewords]`` is replaced first, then ``[name]``;
- the random draws happen in that order: template line, dropout draws, shuffle.

We draw from a private ``random.Random`` instead of the global one, so a checkpoint can
store and restore it for exact resume.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

TEMPLATES_DIR = Path(__file__).resolve().parent / "template_files"

_numbers_at_start = re.compile(r"^[-\d]+\s*")


def available_templates(extra_dirs: Iterable[Path] = ()) -> dict[str, Path]:
    """Template files by stem: ours first, then any extra folder (the host's templates dir), recursively."""
    found: dict[str, Path] = {}
    for folder in (TEMPLATES_DIR, *extra_dirs):
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.txt")):
            found.setdefault(path.stem, path)
    return found


def resolve_template(name_or_path: str, extra_dirs: Iterable[Path] = ()) -> Path:
    """A template by name (``subject``, ``subject.txt``) or by path; ``ValueError`` names what was asked."""
    text = str(name_or_path).strip()
    if not text:
        raise ValueError("No prompt template selected.")
    as_path = Path(text)
    if as_path.suffix == ".txt" and as_path.is_file():
        return as_path
    stem = text[:-4] if text.endswith(".txt") else text
    templates = available_templates(extra_dirs)
    if stem not in templates:
        raise ValueError(f"Prompt template '{text}' not found. Available: {', '.join(sorted(templates))}.")
    return templates[stem]


def read_template(path: Path) -> list[str]:
    """The template's lines, each stripped (blank lines are kept, as the host keeps them)."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            lines = [line.strip() for line in fh.readlines()]
    except OSError as exc:
        raise ValueError(f"Cannot read prompt template '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"Prompt template '{path}' is not UTF-8 text (byte {exc.start}).") from None
    if not lines:
        raise ValueError(f"Prompt template '{path}' is empty.")
    return lines


def caption_from_filename(filename: str, word_regex: str = "", join: str = " ") -> str:
    """The host's caption for an image without a ``.txt``: stem minus leading numbers/dashes."""
    stem = Path(filename).stem
    text = _numbers_at_start.sub("", stem)
    if word_regex:
        text = (join or "").join(re.compile(word_regex).findall(text))
    return text


def read_caption(image_path: Path, word_regex: str = "", join: str = " ") -> str:
    """Sidecar ``<stem>.txt`` read raw (UTF-8, not stripped), else the filename caption."""
    image_path = Path(image_path)
    sidecar = image_path.with_suffix(".txt")
    if sidecar.exists():
        try:
            with open(sidecar, "r", encoding="utf8") as fh:
                return fh.read()
        except UnicodeDecodeError as exc:
            raise ValueError(f"Caption '{sidecar}' is not UTF-8 text (byte {exc.start}).") from None
    return caption_from_filename(image_path.name, word_regex, join)


class PromptMaker:
    """Turns a caption into a training prompt; draws from its own ``random.Random``."""

    def __init__(
        self,
        lines: Sequence[str],
        name: str,
        rng: Optional[random.Random] = None,
        shuffle_tags: bool = False,
        tag_dropout: float = 0.0,
    ) -> None:
        if not lines:
            raise ValueError("A prompt template needs at least one line.")
        self.lines = list(lines)
        self.name = name
        self.rng = rng or random.Random()
        self.shuffle_tags = shuffle_tags
        self.tag_dropout = tag_dropout

    @property
    def per_sample(self) -> bool:
        """The host re-makes the prompt per sample only when tags are shuffled or dropped."""
        return self.tag_dropout != 0 or self.shuffle_tags

    def make(self, caption: str) -> str:
        text = self.rng.choice(self.lines)
        tags = caption.split(",")
        if self.tag_dropout != 0:
            tags = [t for t in tags if self.rng.random() > self.tag_dropout]
        if self.shuffle_tags:
            self.rng.shuffle(tags)
        text = text.replace("[filewords]", ",".join(tags))
        return text.replace("[name]", self.name)
