"""Fixtures of the real-host tier: one Chromium page on the host per test module, a small licensed dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from browser_support import REPO, browser_page, require_chromium
from host.host_support import goto_host

PHOTOS = REPO / "tests" / "data" / "photos" / "teapot"


@pytest.fixture(scope="module")
def page():
    require_chromium()
    with browser_page(width=1400, height=1100) as pg:
        goto_host(pg)
        yield pg


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Five licensed test photos in a folder of their own (the host reads it from this machine's disk)."""
    folder = tmp_path_factory.mktemp("host-dataset")
    for image in sorted(PHOTOS.glob("*.jpg")):
        shutil.copyfile(image, folder / image.name)
    return folder
