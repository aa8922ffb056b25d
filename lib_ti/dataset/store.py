"""The last check report of each dataset folder, kept in TI Lab's data folder.

Contract with the captions area: ``save_report`` / ``load_last_report`` and the
``shared_attributes`` list of the report dict (see :mod:`lib_ti.dataset.report`).
Reports live under ``data_dir/checks/`` and never inside the user's dataset folder,
so checking a folder never adds files to it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Optional

from ..core.fsutil import atomic_write_text


def _folder_key(folder: Path) -> str:
    """Readable and unique: the folder's name plus a hash of its resolved path."""
    resolved = str(Path(folder).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(resolved).name)[:40] or "root"
    return f"{name}-{digest}"


def report_path(data_dir: Path, folder: Path) -> Path:
    """Where the last report of ``folder`` is stored."""
    return Path(data_dir) / "checks" / f"{_folder_key(folder)}.json"


def save_report(data_dir: Path, folder: Path, report: dict) -> Path:
    """Atomically store ``report`` as the last report of ``folder``; returns the file written."""
    target = report_path(data_dir, folder)
    src = Path(folder).expanduser().resolve()
    if src == target.parent.resolve() or src in target.resolve().parents:
        raise ValueError(f"Refusing to store the report inside the dataset folder '{folder}'.")
    atomic_write_text(target, json.dumps(report, ensure_ascii=False, indent=1))
    return target


def load_last_report(data_dir: Path, folder: Path) -> Optional[dict]:
    """The last stored report of ``folder``, or None if there is none or it is unreadable."""
    path = report_path(data_dir, folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def save_html(data_dir: Path, folder: Path, page: str) -> Path:
    """Store the HTML report beside the JSON one (same name, ``.html``)."""
    target = report_path(data_dir, folder).with_suffix(".html")
    atomic_write_text(target, page)
    return target
