"""The bundled OpenCV face detector finds the faces in person/, with the box sizes the notes give."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_ti.dataset.faces import main_face
from lib_ti.dataset.subject import subject_box

#: LICENSE-NOTES.md: face box / frame with OpenCV's Haar defaults; None = not detected there.
NOTED_FRACTIONS = {"00": None, "01": 0.32, "02": 0.29, "03": 0.19, "04": 0.19, "05": None, "06": 0.045,
                   "07": 0.11, "08": 0.012, "09": None}
TOLERANCE = 0.015  # absolute, in frame fractions (the notes round to two figures; our scale step is 1.2)


@pytest.mark.parametrize("stem,expected", sorted(NOTED_FRACTIONS.items()))
def test_face_fraction_agrees_with_notes(real_dir, stem, expected):
    gray = np.asarray(Image.open(real_dir("person") / f"{stem}.jpg").convert("L"))
    face = main_face(gray)
    if expected is None:
        assert face is None
    else:
        assert face is not None, f"no face found in person/{stem}.jpg"
        assert face.area == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize("box", [(0.1, 0.2, 0.3, 0.3), (0.5, 0.4, 0.4, 0.5), (0.3, 0.3, 0.4, 0.4)])
def test_subject_box_finds_an_object_on_a_plain_textured_background(box):
    rng = np.random.default_rng(1)
    img = np.full((384, 512, 3), 170, np.uint8) + rng.integers(0, 12, (384, 512, 3), dtype=np.uint8)
    x, y, w, h = box
    img[int(y * 384):int((y + h) * 384), int(x * 512):int((x + w) * 512)] = (200, 40, 30)
    found = subject_box(img)
    assert found.x == pytest.approx(x, abs=0.06) and found.y == pytest.approx(y, abs=0.06)
    assert found.area == pytest.approx(w * h, rel=0.35)
