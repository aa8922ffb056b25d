"""One caption file: read it, edit it, write it back without surprises.

Rules (each is a user-visible promise):

- The file keeps its encoding (UTF-8 with or without BOM, UTF-16 or UTF-32 with a BOM in the byte
  order it had, or the legacy single-byte encoding it was decoded with) and its line endings (LF,
  CRLF or CR; a file that mixes them keeps each line's own). The editor works on ``\\n`` text; the
  original endings are restored on write. A file that is not edited is never written.
- Writes are atomic, and check-and-replace is one step (:func:`lib_ti.core.fsutil.replace_if_unchanged`).
- A file changed on disk since it was loaded is never overwritten silently: "changed" means its
  *content* differs (a hash; an edit of the same size with its time restored is still one).
  :meth:`Sidecar.save` raises :class:`ConflictError` and the caller offers *reload* or *overwrite*
  (``force=True``).
- A file that cannot be decoded as text (NUL bytes in a non-UTF-16 file) is reported by name and
  is read-only; nothing about it is guessed.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..core.fsutil import ChangedOnDisk, file_lock, replace_if_unchanged

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


#: Byte-order marks, longest first: a UTF-32 LE BOM starts with the UTF-16 LE one.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BOM_OF = {enc: bom for bom, enc in BOMS if enc != "utf-8-sig"}


def decode_caption(data: bytes, name: str = "caption") -> tuple[str, str]:
    """Decode caption bytes; returns ``(text, encoding)``.

    ``encoding`` is what :func:`encode_caption` must use to write the file back the same way:
    ``utf-8-sig`` keeps a UTF-8 BOM; ``utf-16-le``/``-be`` and ``utf-32-le``/``-be`` keep their BOM
    and byte order.
    """
    for bom, enc in BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), enc
            except UnicodeDecodeError as exc:
                raise UndecodableError(
                    f"{name}: starts with a {enc.upper()} byte-order mark but byte {exc.start + len(bom)} "
                    f"is not {enc.upper()}."
                ) from exc
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


def line_endings(raw: str) -> list[str]:
    """The ending of every line of ``raw`` in order (``\\r\\n``, ``\\n`` or ``\\r``)."""
    return re.findall(r"\r\n|\n|\r", raw)


def restore_endings(text: str, newline: str, endings: Optional[list[str]] = None) -> str:
    """``\\n`` text with the file's endings: line i gets ``endings[i]`` (a mixed file), others ``newline``."""
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    if not endings:
        return body if newline == "\n" else body.replace("\n", newline)
    lines = body.split("\n")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        out.append(endings[i] if i < len(endings) else newline)
        out.append(line)
    return "".join(out)


def encode_caption(text: str, encoding: str, newline: str, name: str = "caption",
                   endings: Optional[list[str]] = None) -> bytes:
    """Encode editor text (``\\n`` line endings) back to file bytes in ``encoding`` with ``newline``
    (or each line's own ending from ``endings``), with the BOM the file had."""
    body = restore_endings(text, newline, endings)
    try:
        return _BOM_OF.get(encoding, b"") + body.encode(encoding)
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
    #: each line's ending, only for a file that mixes them (else ``newline`` holds for all)
    endings: Optional[list[str]] = None

    @property
    def has_caption(self) -> bool:
        return self.exists and self.error is None and bool(self.text.strip())

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def load(cls, image: Path, path: Optional[Path] = None,
             confine: Optional[Callable[[Path], object]] = None) -> "Sidecar":
        """Read the caption of ``image`` (``<stem>.txt`` beside it unless ``path`` is given).

        ``confine`` (a restricted :class:`~lib_ti.core.paths.PathGuard`'s ``check``) is called with the
        caption's path when it exists; it resolves links, so a caption that links out of the allowed
        folders is refused (read-only, its content never read) instead of followed.
        """
        image = Path(image)
        sc = cls(image=image, path=Path(path) if path else image.with_suffix(".txt"))
        sc._confine = confine
        sc._read()
        return sc

    _confine: Optional[Callable[[Path], object]] = field(default=None, repr=False, compare=False)

    def _refused(self) -> Optional[str]:
        if self._confine is None or not os.path.lexists(self.path):
            return None
        try:
            self._confine(self.path)
        except ValueError as exc:
            return f"{self.path.name}: {exc}"
        return None

    def _read(self) -> None:
        self.text, self.encoding, self.newline, self.endings = "", "utf-8", "\n", None
        self.exists, self.mtime_ns, self.size, self.digest, self.error = False, None, None, None, None
        self.warnings = []
        refused = self._refused()
        if refused:
            self.exists, self.error = True, refused
            return
        try:
            # O_NONBLOCK: a FIFO named like a caption must not hang the folder; it is refused below.
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            if os.path.islink(self.path):
                self.exists, self.error = True, f"{self.path.name}: a link to a file that does not exist."
            return
        except OSError as exc:
            self.exists, self.error = True, f"{self.path.name}: cannot be read ({exc.strerror or exc})."
            return
        with open(fd, "rb") as fh:  # one open + fstat: opening a folder reads a thousand of these
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                self.exists, self.error = True, f"{self.path.name}: not a regular file; left alone."
                return
            try:
                data = fh.read()
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
        endings = line_endings(raw)
        self.endings = endings if len(set(endings)) > 1 else None
        self.text = raw.replace("\r\n", "\n").replace("\r", "\n")

    def reload(self) -> "Sidecar":
        """Drop the loaded state and read the file again (the *reload* answer to a conflict)."""
        self._read()
        return self

    def is_loaded_content(self, data: Optional[bytes]) -> bool:
        """Whether ``data`` (None: no file) is what was loaded, by content, never by time or size."""
        if data is None:
            return not self.exists
        return self.exists and _digest(data) == self.digest

    def changed_on_disk(self) -> bool:
        """True when the file is not what was loaded (created, deleted or rewritten since)."""
        try:
            data: Optional[bytes] = self.path.read_bytes()
        except FileNotFoundError:
            data = None
        except OSError:
            return True
        return not self.is_loaded_content(data)

    def _conflict(self, verb: str = "overwritten") -> ConflictError:
        return ConflictError(
            self.path,
            f"{self.path.name} was changed on disk after it was loaded; not {verb}. "
            "Reload it to see the new text, or overwrite it with yours.",
        )

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
            raise self._conflict()
        if text == self.text and (self.exists or not text.strip()) and not force:
            return False  # nothing new; and an empty editor never creates an empty caption file
        data = encode_caption(text, self.encoding, self.newline, self.path.name, self.endings)
        if decode_caption(data, self.path.name)[0].replace("\r\n", "\n").replace("\r", "\n") != text:
            raise CaptionError(f"{self.path.name}: the text would not read back the same in {self.encoding}; "
                               "not written.")
        try:
            replace_if_unchanged(self.path, data, (lambda _d: True) if force else self.is_loaded_content)
        except ChangedOnDisk:
            raise self._conflict() from None
        self.text, self.exists = text, True
        self.size, self.digest = len(data), _digest(data)
        try:
            self.mtime_ns = os.stat(self.path).st_mtime_ns
        except OSError:
            self.mtime_ns = None
        return True

    def adopt(self, other: "Sidecar") -> None:
        """Take ``other``'s loaded state: two images sharing a stem share one caption file."""
        for name in ("text", "encoding", "newline", "endings", "exists", "mtime_ns", "size", "digest", "error"):
            setattr(self, name, getattr(other, name))

    def remove(self, *, force: bool = False) -> bool:
        """Delete the caption file (undo of a bulk edit that created it); same conflict rule as :meth:`save`."""
        with file_lock(self.path):
            if not force and self.changed_on_disk():
                raise self._conflict("removed")
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
        self.text, self.exists, self.mtime_ns, self.size, self.digest = "", False, None, None, None
        self.encoding, self.newline, self.endings = "utf-8", "\n", None
        return True
