"""Server-path guard for folders typed into the UI.

Folders typed into a text box are paths on the *server*. When the host is
reachable by others (``--listen``, ``--share``, ``--server-name`` ... without
``--enable-insecure-extension-access``) TI Lab reads and writes only under
allowed roots and refuses anything else with a message that names the path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence


class PathRefused(ValueError):
    """A path outside the allowed roots, or one that does not exist when it must."""


def split_roots(text: str) -> list[str]:
    """Parse the settings field: one root per line, or separated by ``;`` or ``,`` (``os.pathsep`` too)."""
    parts: list[str] = []
    for line in text.replace(";", "\n").replace(",", "\n").replace(os.pathsep, "\n").splitlines():
        line = line.strip()
        if line:
            parts.append(line)
    return parts


@dataclass
class PathGuard:
    """Resolves user-typed paths; ``roots=None`` means unrestricted (local, single-user use)."""

    roots: Optional[Sequence[Path]] = None
    reason: str = ""
    #: how to allow another folder where this guard is used (the host's setting, or serve's --allow)
    hint: str = ""
    _resolved: list[Path] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.roots is not None:
            self._resolved = [Path(os.path.expanduser(str(r))).resolve() for r in self.roots]

    @property
    def restricted(self) -> bool:
        return self.roots is not None

    @classmethod
    def restricted_to(cls, roots: Iterable[os.PathLike | str], reason: str = "", hint: str = "") -> "PathGuard":
        return cls(roots=[Path(r) for r in roots], reason=reason, hint=hint)

    def check(self, text: str | os.PathLike, *, must_exist: bool = False, kind: str = "folder") -> Path:
        """Return the resolved path or raise :class:`PathRefused` with a message naming it.

        Links are resolved before the roots are compared, so a link inside an allowed folder that
        points out of it is refused. Text no file system accepts (a NUL byte, a lone surrogate, a
        name too long) is refused with a message too, never an exception of another kind.
        """
        raw = str(text).strip()
        if not raw:
            raise PathRefused(f"No {kind} given.")
        shown = raw.encode("utf-8", "backslashreplace").decode("utf-8")
        if "\x00" in raw:
            shown = shown.replace("\x00", "\\0")
            raise PathRefused(f"Refused {kind} '{shown}': it contains a NUL character.")
        try:
            os.fsencode(raw)
            path = Path(os.path.expanduser(raw)).resolve()
        except (UnicodeError, ValueError) as exc:
            raise PathRefused(f"Refused {kind} '{shown}': not a valid path ({exc}).") from None
        except OSError as exc:
            raise PathRefused(f"Refused {kind} '{shown}': {exc.strerror or exc}.") from None
        if self.roots is not None:
            if not any(path == root or root in path.parents for root in self._resolved):
                allowed = ", ".join(str(r) for r in self._resolved) or "(none configured)"
                why = f" ({self.reason})" if self.reason else ""
                raise PathRefused(
                    f"Refused {kind} '{shown}': outside the allowed folders{why}. Allowed: {allowed}."
                    + (f" {self.hint}" if self.hint else "")
                )
        try:  # only after the roots: outside them nothing about the file is revealed
            exists = path.exists() if must_exist else True
        except OSError as exc:
            raise PathRefused(f"Refused {kind} '{shown}': {exc.strerror or exc}.") from None
        if not exists:
            raise PathRefused(f"The {kind} '{shown}' does not exist.")
        return path


def host_is_exposed(argv_flags: dict) -> bool:
    """Whether the host listens to others without having opted in to extension access.

    ``argv_flags`` holds the host's command-line options (``listen``, ``share``, ``ngrok``,
    ``server_name``, ``enable_insecure_extension_access``) - the same rule the host uses to
    lock its own Extensions tab.
    """
    exposed = bool(
        argv_flags.get("listen")
        or argv_flags.get("share")
        or argv_flags.get("ngrok")
        or argv_flags.get("server_name")
    )
    return exposed and not argv_flags.get("enable_insecure_extension_access")


class LivePathGuard(PathGuard):
    """A guard rebuilt on every check, for rules that change at runtime (allowed folders edited in settings)."""

    def __init__(self, provider: "Callable[[], PathGuard]") -> None:
        super().__init__(roots=None)
        self._provider = provider

    @property
    def restricted(self) -> bool:  # type: ignore[override]
        return self._provider().restricted

    def check(self, text: str | os.PathLike, *, must_exist: bool = False, kind: str = "folder") -> Path:
        return self._provider().check(text, must_exist=must_exist, kind=kind)


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only.

    ``""`` and ``0.0.0.0``/``::`` listen on every interface, and a host name other than
    ``localhost`` may resolve to anything: all of those count as shared.
    """
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        import ipaddress

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: What a shared server may hand out from its data folder: pictures and reports it made for display.
DISPLAY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".html"})


def served_file(requested: str, produced: Iterable[str], display_root: Optional[Path]) -> Optional[Path]:
    """The file a ``/file=`` request may be answered with, or None to refuse it.

    Allowed: a file the UI produced for display in this session (``produced``: the web framework's own
    copies of gallery and image outputs), or a picture/report under ``display_root`` (TI Lab's data
    folder) - both compared after resolving links, so a link never leads out. Never a dotfile, a
    folder, or anything else under the working directory.
    """
    if not requested or "\x00" in requested:
        return None
    try:
        real = Path(os.path.realpath(os.path.abspath(requested)))
        if not real.is_file() or any(part.startswith(".") for part in real.parts):
            return None
        if str(real) in {os.path.realpath(p) for p in produced}:
            return real
        if display_root is not None and real.suffix.lower() in DISPLAY_SUFFIXES:
            root = Path(os.path.realpath(display_root))
            if root in real.parents:
                return real
    except (OSError, ValueError):
        return None
    return None
