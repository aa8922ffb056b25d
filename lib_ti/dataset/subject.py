"""Where the subject is when it has no face: a classical saliency box, no model needed.

Two cues, both standard: the spectral residual of the image (Hou & Zhang, CVPR 2007),
which marks what stands out from the image's own statistics, and contrast with the
border colours (photographers rarely let the subject touch every edge, so the border
mostly shows background). A mild centre prior breaks ties. The box of the salient
pixels (5th-95th percentile of their coordinates, robust to stray specks) is the subject box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .faces import Box

WORK_SIDE = 64


def _norm(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def spectral_residual(gray: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency of a small float greyscale image, in 0..1."""
    import cv2

    f = np.fft.fft2(gray)
    log_amp = np.log(np.abs(f) + 1e-8)
    phase = np.angle(f)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * phase))) ** 2
    return _norm(cv2.GaussianBlur(sal, (0, 0), 2.5))


def border_contrast(lab: np.ndarray, ring: int = 3) -> np.ndarray:
    """Distance of every pixel's colour to the nearest typical border colour, in 0..1."""
    import cv2

    h, w = lab.shape[:2]
    border = np.concatenate(
        [lab[:ring].reshape(-1, 3), lab[-ring:].reshape(-1, 3), lab[:, :ring].reshape(-1, 3), lab[:, -ring:].reshape(-1, 3)]
    ).astype(np.float32)
    k = 6
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(1234)  # k-means++ seeding draws from OpenCV's per-thread RNG: same image, same box
    _, _, centres = cv2.kmeans(border, k, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    px = lab.reshape(-1, 1, 3).astype(np.float32)
    d = np.sqrt(((px - centres[None, :, :]) ** 2).sum(-1)).min(1).reshape(h, w)
    return _norm(cv2.GaussianBlur(d, (0, 0), 1.5))


def saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Combined saliency at ``WORK_SIDE`` resolution (rows, cols follow the image's aspect)."""
    import cv2

    h, w = rgb.shape[:2]
    s = WORK_SIDE / max(h, w)
    small = cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    sh, sw = gray.shape
    yy, xx = np.mgrid[0:sh, 0:sw]
    centre = np.exp(-(((xx - sw / 2) / (0.45 * sw)) ** 2 + ((yy - sh / 2) / (0.45 * sh)) ** 2))
    return _norm((0.4 * spectral_residual(gray) + 0.6 * border_contrast(lab)) * (0.5 + 0.5 * centre))


#: Saliency inside the subject mask minus outside, below which the subject does not stand out (unsure).
MIN_CONTRAST = 0.3
#: More separate salient blobs than this: no single subject outline (unsure).
MAX_BLOBS = 3
#: A frame side counts as touched when the subject covers this share of its outermost pixels.
TOUCH_SHARE = 0.2
#: A salient region that runs off 3+ sides and covers this much of the frame is a subject filling the frame.
FILL_AREA = 0.5


@dataclass(frozen=True)
class SubjectOutline:
    """The saliency subject box and how far to trust it.

    ``reason`` is None when the outline is clear, else why the box is not a measurement
    (said to the user as "not measured: <reason>").
    """

    box: Box
    touches: int  # frame sides the salient region runs off
    contrast: float
    blobs: int
    reason: Optional[str]


def subject_outline(rgb: np.ndarray) -> SubjectOutline:
    """Bounding box of the salient region, as frame fractions, with the figures that say whether to trust it."""
    import cv2

    sal = saliency_map(rgb)
    sh, sw = sal.shape
    u8 = (sal * 255).astype(np.uint8)
    _, mask = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        return SubjectOutline(Box(0.25, 0.25, 0.5, 0.5), 0, 0.0, 0, "nothing stands out from the background")
    x0, x1 = np.percentile(xs, [5, 95])
    y0, y1 = np.percentile(ys, [5, 95])
    box = Box(x0 / sw, y0 / sh, (x1 - x0 + 1) / sw, (y1 - y0 + 1) / sh)
    on = mask > 0
    contrast = float(sal[on].mean() - sal[~on].mean()) if (~on).any() else 0.0
    blobs = int(cv2.connectedComponents(on.astype(np.uint8))[0]) - 1
    touches = sum(float(edge.mean()) >= TOUCH_SHARE for edge in (on[:2], on[-2:], on[:, :2], on[:, -2:]))
    reason = None
    if touches >= 3 and box.area >= FILL_AREA:
        reason = None  # runs off three or four sides and covers most of the frame: it fills the frame
    elif touches >= 1:
        reason = (f"the salient region runs off {touches} side{'s' if touches > 1 else ''} of the frame, so the subject "
                  "may be larger than the box or the background may be taken for it")
    elif contrast < MIN_CONTRAST:
        reason = f"the subject does not stand out clearly from the background (saliency contrast {contrast:.2f} < {MIN_CONTRAST})"
    elif blobs > MAX_BLOBS:
        reason = f"no single subject outline ({blobs} separate salient regions)"
    return SubjectOutline(box, touches, contrast, blobs, reason)


def subject_box(rgb: np.ndarray) -> Box:
    """Bounding box of the salient region, as frame fractions."""
    return subject_outline(rgb).box
