"""Set a photo aside, and put it back: the undoable "exclude" of the Dataset and Captions tabs.

A photo is never deleted. :func:`set_aside` moves the image and its caption sidecars (same stem:
``photo.txt``, ``photo.caption``) into the ``_excluded/`` sub-folder of the dataset folder, where
training and the checks do not look (:func:`.loading.list_files` skips it); :func:`put_back` moves
them back. Each move is atomic (a hard link under the new name, then the old name removed; a plain
``rename`` only where links are not possible, after checking the target is free) and never
overwrites: a name already taken in ``_excluded/`` gets a ``-2``, ``-3`` … suffix, and putting back
over a file that has appeared meanwhile is refused with a message naming it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

from .loading import EXCLUDED_DIR

#: Sidecars that travel with their image (the caption conventions the host and TI Lab read).
SIDECAR_SUFFIXES = (".txt", ".caption")


class ExcludeError(ValueError):
    """A set-aside or put-back that cannot be done; the message names the file."""


@dataclass
class SetAside:
    """What one :func:`set_aside` moved; pass it to :func:`put_back` to undo.

    ``moved`` holds (original path, path in ``_excluded/``) pairs, the image first.
    """

    folder: Path
    name: str  # the image's name relative to the folder, as the reports use it
    moved: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def excluded_name(self) -> str:
        """The image's name inside ``_excluded/`` (differs from ``name`` when a suffix was added)."""
        return self.moved[0][1].name


def _move_no_replace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` atomically, failing with FileExistsError when ``dst`` exists."""
    try:
        os.link(src, dst)  # atomic create-or-fail: never replaces dst
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise FileExistsError(str(dst)) from exc
        if dst.exists():  # a file system without hard links: check, then rename (same folder tree, atomic)
            raise FileExistsError(str(dst)) from exc
        os.rename(src, dst)
        return
    os.unlink(src)


def _sidecars(image: Path) -> list[Path]:
    return [image.with_suffix(sfx) for sfx in SIDECAR_SUFFIXES if image.with_suffix(sfx).is_file()]


def _resolve_inside(folder: Path, name: str) -> Path:
    path = (folder / name).resolve()
    if folder not in path.parents:
        raise ExcludeError(f"'{name}' is not inside the dataset folder '{folder}'")
    return path


def set_aside(folder: Path | str, name: str) -> SetAside:
    """Move image ``name`` (relative to ``folder``) and its caption sidecars to ``folder/_excluded/``.

    Returns the record :func:`put_back` needs to undo it. Never overwrites: when ``_excluded/`` already
    holds that name, the moved files get a ``-2`` (``-3``, …) suffix, the image and its captions alike.
    Raises :class:`ExcludeError` when the image does not exist or lies outside the folder.
    """
    folder = Path(folder).expanduser().resolve()
    image = _resolve_inside(folder, name)
    if not image.is_file():
        raise ExcludeError(f"'{name}' does not exist in '{folder}'")
    if EXCLUDED_DIR in image.relative_to(folder).parts:
        raise ExcludeError(f"'{name}' is already set aside")
    target_dir = folder / EXCLUDED_DIR
    target_dir.mkdir(exist_ok=True)
    files = [image] + _sidecars(image)
    for k in range(1, 1000):
        stem = image.stem if k == 1 else f"{image.stem}-{k}"
        targets = [target_dir / (stem + f.suffix) for f in files]
        if any(t.exists() for t in targets):
            continue
        record = SetAside(folder, name)
        try:
            for f, t in zip(files, targets):
                _move_no_replace(f, t)
                record.moved.append((f, t))
        except FileExistsError:  # someone took the name between the check and the move: undo, try the next
            _undo(record)
            continue
        return record
    raise ExcludeError(f"no free name for '{name}' in '{target_dir}'")


def _undo(record: SetAside) -> None:
    for original, moved in reversed(record.moved):
        _move_no_replace(moved, original)
    record.moved.clear()


def put_back(record: SetAside) -> Path:
    """Undo a :func:`set_aside`: move the image and its sidecars back to where they were.

    Refuses (:class:`ExcludeError`, naming the file) when a file of the same name has appeared in the
    dataset folder since: nothing is overwritten and nothing is moved. Returns the image's path.
    """
    for original, moved in record.moved:
        if original.exists():
            raise ExcludeError(f"cannot put '{moved.name}' back: '{original}' exists again; rename one of them first")
        if not moved.exists():
            raise ExcludeError(f"cannot put '{original.name}' back: '{moved}' is no longer there")
    image = record.moved[0][0]
    _undo(record)
    return image


def put_back_by_name(folder: Path | str, excluded_name: str) -> Path:
    """Undo by name, without the record (e.g. after a restart): move ``_excluded/<excluded_name>`` and its
    sidecars back into ``folder`` under the name they had (a ``-N`` suffix added by :func:`set_aside` is
    kept, since the original name cannot be known for sure). Same refusals as :func:`put_back`."""
    folder = Path(folder).expanduser().resolve()
    moved = _resolve_inside(folder / EXCLUDED_DIR, excluded_name)
    if not moved.is_file():
        raise ExcludeError(f"'{excluded_name}' is not in '{folder / EXCLUDED_DIR}'")
    files = [moved] + _sidecars(moved)
    record = SetAside(folder, excluded_name, [(folder / f.name, f) for f in files])
    return put_back(record)
