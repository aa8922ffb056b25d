"""A folder of images and their captions, as the Captions tab and the CLI work on it.

Holds the loaded sidecars, the current position, the active filter and the last bulk edit (the
one-step undo). All disk writes go through :class:`~lib_ti.captions.sidecar.Sidecar`, so the
encoding, line-ending and conflict rules hold for every path that saves a caption.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import edits, filters
from ..core.paths import PathGuard
from .sidecar import CaptionError, ConflictError, Sidecar

#: Image types the host's training can read, by extension (case-insensitive).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p.casefold() for p in re.split(r"(\d+)", name)]


def _is_regular_file(entry: "os.DirEntry[str]") -> bool:
    """A regular file (following links); a link loop, a dangling link, a FIFO or a folder is not."""
    try:
        return entry.is_file()
    except OSError:  # a link loop raises ELOOP on some systems
        return False


def list_images(folder: Path, confine: Optional[Callable[[Path], object]] = None) -> list[Path]:
    """Images directly in ``folder`` (not sub-folders), in natural name order (img2 before img10).

    With ``confine`` (a restricted guard's ``check``, which resolves links), an image that links
    out of the allowed folders is left out rather than shown.
    """
    with os.scandir(folder) as it:
        names = [e.name for e in it
                 if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS and _is_regular_file(e)]
    out = []
    for n in sorted(names, key=_natural_key):
        path = Path(folder) / n
        if confine is not None:
            try:
                confine(path)
            except ValueError:
                continue
        out.append(path)
    return out


@dataclass
class BulkResult:
    """What a bulk apply or an undo did: captions written, and those refused (with why)."""

    written: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def message(self, verb: str = "Changed") -> str:
        msg = f"{verb} {len(self.written)} caption{'s' if len(self.written) != 1 else ''}."
        if self.refused:
            msg += f" Not written ({len(self.refused)}): " + " ".join(self.refused)
        return msg


class CaptionSession:
    """One loaded folder. Keys are image file names (unique within a folder)."""

    def __init__(self, folder: Path, sidecars: Sequence[Sidecar]) -> None:
        self.folder = Path(folder)
        self.items: list[Sidecar] = list(sidecars)
        self.index = 0
        self.view: list[int] = list(range(len(self.items)))  # positions shown (the active filter)
        self.last_bulk: Optional[list[edits.Change]] = None
        self._created: set[str] = set()  # keys whose file the last bulk edit created (undo removes it)
        self._by_key = {sc.image.name: i for i, sc in enumerate(self.items)}
        self._lock = threading.RLock()
        # Images sharing a stem (a.png, a.jpg) share one caption file: a save through one updates the others,
        # so the next save through a sibling is not a false "changed on disk" conflict.
        by_path: dict[Path, list[int]] = {}
        for i, sc in enumerate(self.items):
            by_path.setdefault(sc.path, []).append(i)
        self._siblings = {i: [j for j in group if j != i] for group in by_path.values() if len(group) > 1
                          for i in group}

    @classmethod
    def open(cls, folder: Path, guard: Optional[PathGuard] = None) -> "CaptionSession":
        """Load a folder's images and captions. With a restricted ``guard`` every image and caption is
        checked after resolving links: one that links out of the allowed folders is never read."""
        folder = Path(folder)
        if not folder.is_dir():
            raise CaptionError(f"'{folder}' is not a folder.")
        confine = (lambda p: guard.check(p, kind="file")) if guard is not None and guard.restricted else None
        return cls(folder, [Sidecar.load(p, confine=confine) for p in list_images(folder, confine)])

    def _share(self, index: int) -> None:
        for j in self._siblings.get(index, ()):
            self.items[j].adopt(self.items[index])

    # --- views -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    def keys(self) -> list[str]:
        return [sc.image.name for sc in self.items]

    def captions(self) -> dict[str, str]:
        """Key -> caption text ('' when missing) for every image, in order."""
        return {sc.image.name: sc.text for sc in self.items}

    def problems(self) -> list[str]:
        """Unreadable caption files and encoding warnings, each naming its file."""
        out = []
        for sc in self.items:
            if sc.error:
                out.append(sc.error)
            out.extend(sc.warnings)
        return out

    def current(self) -> Optional[Sidecar]:
        return self.items[self.index] if self.items else None

    def position_in_view(self) -> int:
        return self.view.index(self.index) if self.index in self.view else -1

    def set_filter(self, kind: str, arg: str = "", budget: int = 75) -> int:
        """Show only matching images; returns how many match. The current image moves to the first match."""
        keys = set(filters.apply_filter(self.captions(), kind, arg, budget))
        self.view = [i for i, sc in enumerate(self.items) if sc.image.name in keys]
        if self.view and self.index not in self.view:
            self.index = self.view[0]
        return len(self.view)

    def filtered_keys(self) -> list[str]:
        return [self.items[i].image.name for i in self.view]

    # --- navigation and single edits ---------------------------------------------------------------

    def select(self, index: int) -> Sidecar:
        if not self.items:
            raise CaptionError("No images loaded.")
        self.index = max(0, min(index, len(self.items) - 1))
        return self.items[self.index]

    def select_in_view(self, position: int) -> Sidecar:
        if not self.view:
            raise CaptionError("No image matches the filter.")
        return self.select(self.view[max(0, min(position, len(self.view) - 1))])

    def step(self, delta: int) -> Sidecar:
        """Move ``delta`` images within the current view (wrapping around)."""
        if not self.view:
            raise CaptionError("No image matches the filter.")
        pos = self.position_in_view()
        pos = 0 if pos < 0 else (pos + delta) % len(self.view)
        return self.select(self.view[pos])

    def save(self, index: int, text: str, *, force: bool = False) -> str:
        """Save one caption (the editor's on-the-spot save); returns a status line.

        Raises :class:`ConflictError` when the file changed on disk (the UI offers reload/overwrite).
        """
        with self._lock:
            sc = self.items[index]
            saved = sc.save(text, force=force)
            self._share(index)
            return f"Saved {sc.name}." if saved else ""

    def save_key(self, key: str, text: str, *, force: bool = False) -> str:
        """Save by image name (what the UI sends with the editor's text); '' key means nothing shown."""
        if not key:
            return ""
        if key not in self._by_key:
            raise CaptionError(f"{key} is not in the loaded folder; load it again.")
        return self.save(self._by_key[key], text, force=force)

    def refresh(self, image: Path) -> None:
        """Re-read one caption written by someone else in this process (the BLIP batch)."""
        with self._lock:
            i = self._by_key.get(Path(image).name)
            if i is not None:
                self.items[i].reload()
                self._share(i)

    def reload(self, index: int) -> Sidecar:
        with self._lock:
            sc = self.items[index].reload()
            self._share(index)
            return sc

    # --- bulk edits --------------------------------------------------------------------------------

    def preview(self, op: edits.Operation, only_filtered: bool = False) -> list[edits.Change]:
        keys = self.filtered_keys() if only_filtered else None
        return edits.plan(op, self.captions(), keys)

    def _write_all(self, pairs: Sequence[tuple[str, str]]) -> BulkResult:
        result = BulkResult()
        for key, text in pairs:
            index = self._by_key[key]
            sc = self.items[index]
            try:
                sc.save(text)
                self._share(index)
                result.written.append(key)
            except CaptionError as exc:  # conflicts included: never overwrite silently
                result.refused.append(str(exc))
        return result

    def apply(self, op: edits.Operation, only_filtered: bool = False) -> tuple[list[edits.Change], BulkResult]:
        """Apply a bulk edit to all (or the filtered) captions; it becomes the undo step."""
        with self._lock:
            changes = self.preview(op, only_filtered)
            missing = {c.key for c in changes if not self.items[self._by_key[c.key]].exists}
            result = self._write_all([(c.key, c.after) for c in changes])
            done = set(result.written)
            self.last_bulk = [c for c in changes if c.key in done]
            self._created = missing & done
            return changes, result

    def undo(self) -> BulkResult:
        """Undo the last bulk edit. A caption edited again since then is left alone and reported."""
        with self._lock:
            if not self.last_bulk:
                raise CaptionError("Nothing to undo.")
            result = BulkResult()
            pairs = []
            for ch in self.last_bulk:
                sc = self.items[self._by_key[ch.key]]
                if sc.text != ch.after:
                    result.refused.append(f"{sc.name} was edited after the bulk edit; left as it is.")
                elif ch.key in self._created:
                    try:
                        sc.remove()
                        self._share(self._by_key[ch.key])
                        result.written.append(ch.key)
                    except CaptionError as exc:
                        result.refused.append(str(exc))
                else:
                    pairs.append((ch.key, ch.before))
            written = self._write_all(pairs)
            written.written = result.written + written.written
            result.written, result.refused = written.written, result.refused + written.refused
            self.last_bulk = None
            return result


__all__ = ["CaptionSession", "BulkResult", "ConflictError", "list_images", "IMAGE_EXTENSIONS"]
