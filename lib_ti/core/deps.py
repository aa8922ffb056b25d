"""Optional third-party modules, imported with a message that says what to install and why."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependency(RuntimeError):
    """A package TI Lab needs for one feature is not installed."""


def require(module: str, pip_name: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the pip package to install.

    Inside the host, ``install.py`` installs these at start-up; on a host without access to the
    package index that step fails, and this message is what the user sees instead of a traceback.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{purpose} needs the Python package '{pip_name}', which is not installed ({exc}). "
            f"Install it into the WebUI's environment: pip install {pip_name}"
        ) from exc
