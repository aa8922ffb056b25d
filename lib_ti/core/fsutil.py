"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an interrupted job can then never leave a half-written caption,
embedding or report where a good one used to be. A failed write (a full disk)
removes its temporary file; :func:`remove_stale_tmp` removes those a killed
process left behind.

:func:`replace_if_unchanged` is the check-and-replace used for files other people
edit too (captions): within this process it holds a per-file lock across the check
and the rename, so two writers cannot interleave; against other processes it swaps
the new file in atomically and checks what it swapped out, putting that back and
refusing when it was not the content the caller saw.
"""

from __future__ import annotations

import ctypes
import errno
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}."


def _write_tmp(target: Path, writer: Callable[[Path], None]) -> Path:
    """A finished, fsynced temporary file beside ``target`` with the target's permissions."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_tmp_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            mode = target.stat().st_mode & 0o7777 if target.exists() else 0o644
            os.chmod(tmp, mode)
        except OSError:
            pass
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_save(path: PathLike, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` to produce the file, then move it over ``path``.

    The temporary file lives in the target's folder so the final ``os.replace``
    is a same-filesystem rename (atomic on POSIX and Windows).
    """
    target = Path(path)
    tmp = _write_tmp(target, writer)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``."""
    return atomic_save(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomically replace ``path`` with ``text``; line endings are written as given (no translation)."""
    return atomic_write_bytes(path, text.encode(encoding))


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def remove_stale_tmp(folder: PathLike, name: str = "*") -> list[Path]:
    """Delete the temporary files that killed atomic writes of ``name`` left in ``folder``; returns them."""
    removed = []
    for p in Path(folder).glob(f".{name}.*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


# --------------------------------------------------------------------------- check-and-replace
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def file_lock(path: PathLike) -> Iterator[None]:
    """An in-process lock per real file path (the same file reached by two names is one lock)."""
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


class ChangedOnDisk(Exception):
    """The file is not what the caller loaded; nothing was replaced (the other version is kept)."""


def _read_or_none(path: Path) -> Optional[bytes]:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def replace_if_unchanged(path: PathLike, data: bytes, same: Callable[[Optional[bytes]], bool]) -> None:
    """Write ``data`` to ``path`` only if its current content passes ``same`` (None: the file is absent).

    Raises :class:`ChangedOnDisk` and leaves the file as it is when it does not. Within this
    process the check and the rename are one step (:func:`file_lock`). Another process may write
    between them; on Linux the new file is swapped in with ``RENAME_EXCHANGE`` and the swapped-out
    content checked again, so such a write is put back and refused rather than lost. A new file
    is created with a hard link, which fails if someone created it meanwhile.
    """
    target = Path(path)
    with file_lock(target):
        if not same(_read_or_none(target)):
            raise ChangedOnDisk(str(target))
        tmp = _write_tmp(target, lambda t: t.write_bytes(data))
        try:
            if not target.exists():
                try:
                    os.link(tmp, target)  # fails if another writer created it since the check
                except FileExistsError:
                    raise ChangedOnDisk(str(target)) from None
                except OSError:  # no hard links on this filesystem
                    os.replace(tmp, target)
                return
            if not _exchange(tmp, target):
                os.replace(tmp, target)  # no atomic swap here: the check above is the guard
                return
            if not same(_read_or_none(tmp)):  # another process wrote in between: put its file back
                _exchange(tmp, target)
                raise ChangedOnDisk(str(target))
        finally:
            tmp.unlink(missing_ok=True)
