"""Face boxes with OpenCV's bundled Haar cascade (ships inside opencv-python 4.x; no download).

The face box is what the zoom check measures for people and what the clothing and hair
regions are placed around. OpenCV's documented defaults are scale 1.1, 5 neighbours, 24 px minimum (used for the
face fractions noted in ``shared/datasets/LICENSE-NOTES.md``). We use scale 1.2 and a
32 px minimum on a 512 px copy: 1.4-1.8x faster on ``person/`` (timed on the shared 2-core box), the same faces
are found with box fractions within 0.01 of the defaults (tests/dataset/test_faces_subject.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Faces are searched on a copy at most this large (the cascade's cost grows with the pixel count).
DETECT_SIDE = 512
SCALE_FACTOR = 1.2
MIN_SIZE = 32


@dataclass(frozen=True)
class Box:
    """A box in fractions of the frame (0..1), so it is independent of the working resolution."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return self.w * self.h

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) clipped to a ``width``×``height`` frame."""
        x0 = int(round(max(0.0, self.x) * width))
        y0 = int(round(max(0.0, self.y) * height))
        x1 = int(round(min(1.0, self.x + self.w) * width))
        y1 = int(round(min(1.0, self.y + self.h) * height))
        return x0, y0, max(x0, x1), max(y0, y1)

    def as_list(self) -> list[float]:
        return [round(self.x, 4), round(self.y, 4), round(self.w, 4), round(self.h, 4)]


#: OpenCV's bundled cat-face cascade: used only when the captions say the subject is a cat.
CAT_CASCADE_FILE = "haarcascade_frontalcatface_extended.xml"
#: Cat faces are searched on a copy this large (the cascade is slow; cat faces are large in cat photos).
CAT_DETECT_SIDE = 256

_local = threading.local()
_cascade_dir: Optional[str] = None
_dir_lock = threading.Lock()


def load_opencv() -> str:
    """Import OpenCV and resolve its cascade folder, once, in the calling thread.

    Call it before worker threads start: a first ``import cv2`` racing across threads can leave a
    half-initialised module in which ``cv2.data`` does not exist yet (seen about once in a hundred runs).
    """
    global _cascade_dir
    with _dir_lock:
        if _cascade_dir is None:
            import cv2
            import cv2.data

            _cascade_dir = cv2.data.haarcascades
    return _cascade_dir


def _cascade(file: str = CASCADE_FILE):
    """One classifier per thread and file (``CascadeClassifier`` is not safe to share between threads)."""
    cache = getattr(_local, "clfs", None)
    if cache is None:
        cache = _local.clfs = {}
    clf = cache.get(file)
    if clf is None:
        import cv2

        path = load_opencv() + file
        clf = cv2.CascadeClassifier(path)
        if clf.empty():
            raise RuntimeError(f"OpenCV could not load its bundled detector {path}")
        cache[file] = clf
    return clf


def detect_faces(gray: np.ndarray) -> list[Box]:
    """All frontal faces in a uint8 greyscale image, largest first, as frame fractions."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    img = gray if scale >= 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    rects = _cascade().detectMultiScale(img, scaleFactor=SCALE_FACTOR, minNeighbors=5, minSize=(MIN_SIZE, MIN_SIZE))
    boxes = [Box(x / iw, y / ih, bw / iw, bh / ih) for (x, y, bw, bh) in (rects if len(rects) else [])]
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def main_cat_face(gray: np.ndarray) -> Optional[Box]:
    """The largest cat face (OpenCV's bundled cat-face cascade), or None."""
    import cv2

    h, w = gray.shape[:2]
    scale = min(1.0, CAT_DETECT_SIDE / max(h, w))
    img = gray if scale >= 1.0 else cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    rects = _cascade(CAT_CASCADE_FILE).detectMultiScale(img, scaleFactor=1.1, minNeighbors=4, minSize=(24, 24))
    boxes = [Box(x / iw, y / ih, bw / iw, bh / ih) for (x, y, bw, bh) in (rects if len(rects) else [])]
    return max(boxes, key=lambda b: b.area) if boxes else None


def main_face(gray: np.ndarray) -> Optional[Box]:
    """The largest face (the subject in a portrait set), or None."""
    faces = detect_faces(gray)
    return faces[0] if faces else None
