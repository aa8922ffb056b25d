"""One caption file: read it, edit it, write it back without surprises.

Rules (each is a user-visible promise):

- The file keeps its encoding (UTF-8 with or without BOM, UTF-16 with BOM, or the legacy
  single-byte encoding it was decoded with) and its line endings (LF, CRLF or CR).
  The editor works on ``\\n`` text; the original endings are restored on write.
- Writes are atomic (:func:`lib_ti.core.fsutil.atomic_write_bytes`).
- A file changed on disk since it was loaded is never overwritten silently: :meth:`Sidecar.save`
  raises :class:`ConflictError` and the caller offers *reload* or *overwrite* (``force=True``).
- A file that cannot be decoded as text (NUL bytes in a non-UTF-16 file) is reported by name and
  is read-only; nothing about it is guessed.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..core.fsutil import atomic_write_bytes

#: Encodings tried, in order, for a file without a BOM. cp1252 before latin-1 because Windows
#: editors write "smart quotes" as cp1252 bytes; latin-1 decodes anything else.
LEGACY_ENCODINGS = ("cp1252", "latin-1")


class CaptionError(ValueError):
    """A caption file that cannot be read or written; the message names the file."""


class ConflictError(CaptionError):
    """The file changed on disk since it was loaded; saving would lose someone else's edit."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class UndecodableError(CaptionError):
    """The file's bytes are not text in any encoding TI Lab accepts."""


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def detect_newline(text: str) -> str:
    """The file's dominant line ending (``\\n`` when it has none, the common case for captions)."""
    crlf = text.count("\r\n")
    cr = text.count("\r") - crlf
    lf = text.count("\n") - crlf
    best = max((crlf, "\r\n"), (lf, "\n"), (cr, "\r"), key=lambda pair: pair[0])
    return best[1] if best[0] > 0 else "\n"


def decode_caption(data: bytes, name: str = "caption") -> tuple[str, str]:
    """Decode caption bytes; returns ``(text, encoding)``.

    ``encoding`` is what :func:`encode_caption` must use to write the file back the same way:
    ``utf-8-sig`` keeps a UTF-8 BOM, ``utf-16`` keeps a UTF-16 BOM.
    """
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise UndecodableError(f"{name}: starts with a UTF-8 BOM but byte {exc.start} is not UTF-8.") from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise UndecodableError(f"{name}: starts with a UTF-16 BOM but is not valid UTF-16.") from exc
    if b"\x00" in data:  # binary, or UTF-16 without a BOM: either way not a caption to guess at
        raise UndecodableError(f"{name}: not a text file (contains NUL bytes at offset {data.index(0)}).")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for enc in LEGACY_ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise UndecodableError(f"{name}: not UTF-8 and not {' or '.join(LEGACY_ENCODINGS)}.")  # pragma: no cover


def encode_caption(text: str, encoding: str, newline: str, name: str = "caption") -> bytes:
    """Encode editor text (``\\n`` line endings) back to file bytes in ``encoding`` with ``newline``."""
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if newline != "\n":
        body = body.replace("\n", newline)
    try:
        return body.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        raise CaptionError(
            f"{name}: the character {bad!r} (U+{ord(bad):04X}) at position {exc.start} cannot be written in "
            f"{encoding}, the file's encoding. Remove it, or save the file as UTF-8."
        ) from exc


@dataclass
class Sidecar:
    """The caption file of one image, as loaded; :meth:`save` writes it back safely.

    Attributes:
        image: the image the caption belongs to.
        path: the ``.txt`` file (it may not exist yet).
        text: the caption with ``\\n`` line endings ('' when there is no file).
        encoding / newline: how the file was written; kept on save.
        exists: whether the file existed at load time.
        mtime_ns / size / digest: the file's state at load, for the conflict rule.
        error: why the file could not be read (then it is read-only), else None.
    """

    image: Path
    path: Path
    text: str = ""
    encoding: str = "utf-8"
    newline: str = "\n"
    exists: bool = False
    mtime_ns: Optional[int] = None
    size: Optional[int] = None
    digest: Optional[str] = None
    error: Optional[str] = None
    warnings: list[str] = field(default_factory=list)

    @property
    def has_caption(self) -> bool:
        return self.exists and self.error is None and bool(self.text.strip())

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, image: Path, path: Optional[Path] = None) -> "Sidecar":
        """Read the caption of ``image`` (``<stem>.txt`` beside it unless ``path`` is given)."""
        image = Path(image)
        sc = cls(image=image, path=Path(path) if path else image.with_suffix(".txt"))
        sc._read()
        return sc

    def _read(self) -> None:
        self.text, self.encoding, self.newline = "", "utf-8", "\n"
        self.exists, self.mtime_ns, self.size, self.digest, self.error = False, None, None, None, None
        self.warnings = []
        try:
            with open(self.path, "rb") as fh:  # one open + fstat: opening a folder reads a thousand of these
                st = os.fstat(fh.fileno())
                data = fh.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.exists, self.error = True, f"{self.path.name}: cannot be read ({exc.strerror or exc})."
            return
        self.exists, self.mtime_ns, self.size, self.digest = True, st.st_mtime_ns, st.st_size, _digest(data)
        try:
            raw, self.encoding = decode_caption(data, self.path.name)
        except UndecodableError as exc:
            self.error = str(exc)
            return
        if self.encoding in LEGACY_ENCODINGS:
            self.warnings.append(
                f"{self.path.name}: not UTF-8; read as {self.encoding} and will be saved as {self.encoding}. "
                "The host's training reads captions as UTF-8."
            )
        self.newline = detect_newline(raw)
        self.text = raw.replace("\r\n", "\n").replace("\r", "\n")

    def reload(self) -> "Sidecar":
        """Drop the loaded state and read the file again (the *reload* answer to a conflict)."""
        self._read()
        return self

    def changed_on_disk(self) -> bool:
        """True when the file is not what was loaded (created, deleted or rewritten since)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self.exists
        if not self.exists:
            return True
        if st.st_mtime_ns == self.mtime_ns and st.st_size == self.size:
            return False
        try:
            return _digest(self.path.read_bytes()) != self.digest
        except OSError:
            return True

    def save(self, text: str, *, force: bool = False) -> bool:
        """Write ``text`` to the file; returns False when there was nothing to write.

        Raises :class:`ConflictError` when the file changed on disk since it was loaded, unless
        ``force`` (the user chose *overwrite*). Raises :class:`CaptionError` for an unreadable
        file or a character the file's encoding cannot hold; nothing is written then.
        """
        if self.error:
            raise CaptionError(f"{self.error} It is left untouched.")
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not force and self.changed_on_disk():
            raise ConflictError(
                self.path,
                f"{self.path.name} was changed on disk after it was loaded; not overwritten. "
                "Reload it to see the new text, or overwrite it with yours.",
            )
        if text == self.text and (self.exists or not text.strip()) and not force:
            return False  # nothing new; and an empty editor never creates an empty caption file
        data = encode_caption(text, self.encoding, self.newline, self.path.name)
        atomic_write_bytes(self.path, data)
        st = os.stat(self.path)
        self.text, self.exists = text, True
        self.mtime_ns, self.size, self.digest = st.st_mtime_ns, st.st_size, _digest(data)
        return True

    def remove(self, *, force: bool = False) -> bool:
        """Delete the caption file (undo of a bulk edit that created it); same conflict rule as :meth:`save`."""
        if not force and self.changed_on_disk():
            raise ConflictError(self.path, f"{self.path.name} was changed on disk after it was loaded; not removed.")
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        self.text, self.exists, self.mtime_ns, self.size, self.digest = "", False, None, None, None
        self.encoding, self.newline = "utf-8", "\n"
        return True
