"""The host's own source, for tests that compare TI Lab with the host's code (the real-host tier).

Set ``TILAB_HOST_DIR`` to a stable-diffusion-webui v1.10.1 checkout (or a bare git mirror of it: the file is then
read at commit ``82a973c0``). Without it these tests are skipped with that reason; everything else runs without a host.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HOST_ENV = "TILAB_HOST_DIR"
HOST_COMMIT = "82a973c0"


def host_dir() -> Path | None:
    value = os.environ.get(HOST_ENV, "").strip()
    return Path(value) if value else None


def host_skip_reason() -> str:
    d = host_dir()
    if d is None:
        return f"no host given: set {HOST_ENV} to a stable-diffusion-webui v1.10.1 checkout to run it"
    if not d.is_dir():
        return f"{HOST_ENV}={d} is not a folder"
    return ""


def read_host_file(rel: str) -> str:
    """A file of the host's source: from a checkout's work tree, else from a bare mirror at the pinned commit."""
    reason = host_skip_reason()
    if reason:
        pytest.skip(reason)
    d = host_dir()
    assert d is not None
    if (d / rel).is_file():
        return (d / rel).read_text(encoding="utf-8")
    out = subprocess.run(["git", "-C", str(d), "show", f"{HOST_COMMIT}:{rel}"], capture_output=True, text=True)
    if out.returncode:
        pytest.fail(f"{rel} not found in {HOST_ENV}={d} (work tree or commit {HOST_COMMIT}): {out.stderr.strip()}")
    return out.stdout
