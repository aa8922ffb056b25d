"""Fixtures for the caption tests: small image folders with sidecars, and a tiny random BLIP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def make_image(path: Path, color=(120, 80, 40), size=(40, 30)) -> Path:
    from PIL import Image

    Image.new("RGB", size, color).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Four images: two captioned (one CRLF), one without a caption, one with an empty caption file."""
    d = tmp_path / "set"
    d.mkdir()
    make_image(d / "img1.png", (200, 0, 0))
    make_image(d / "img2.jpg", (0, 200, 0))
    make_image(d / "img10.png", (0, 0, 200))
    make_image(d / "img3.webp", (90, 90, 90))
    (d / "img1.txt").write_bytes(b"a photo of a dog, red collar")
    (d / "img2.txt").write_bytes(b"a dog on grass, red collar\r\n")
    (d / "img3.txt").write_bytes(b"")
    (d / "notes.md").write_text("not an image")
    return d


@pytest.fixture(scope="session")
def tiny_blip(tmp_path_factory) -> Path:
    from tiny_blip import write_tiny_blip

    return write_tiny_blip(tmp_path_factory.mktemp("blip") / "tiny-blip")
