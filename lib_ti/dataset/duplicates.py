"""Near-duplicates as a person sees them: re-encodes, mirrors, crops, shifts, small rotations and rescales.

Perceptual hashes catch pixel-near copies (re-encoded, resized) but not a left-right mirror (pHash
about 30/64 bits away) or a copy cropped a quarter of the frame to the side (about 34/64), while two
different photos of one set can score closer than either on global features. So there are two stages:

1. **Hashes**, one of them mirror-aware: the pHash of each image is compared with the other image's
   pHash *and* with the pHash of its mirror image.
2. **Local features with a geometric check**: ORB keypoints (on the image and on its mirror) are
   matched between an image and its few most colour-alike images (colour histograms do not change
   under mirroring and change little under cropping, so copies rank near the top); a similarity
   transform (shift, uniform scale, rotation) is fitted with RANSAC, and the pair is a copy only if
   many matches agree with it **and** the pixels agree where the two frames overlap (normalised
   cross-correlation after warping). Two different photos of the same subject in the same room can
   share a wall that fits a transform, but the subject has moved, so the pixels of the overlap differ.

Each pair comes with its kind (``re-encode``, ``mirror``, ``crop``) and the overlap: the share of
the larger picture that the other one shows too (a copy cropped a quarter to the side: about 75 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: Hamming distance (of 64 bits) at or under which two pHashes are the same picture.
PHASH_DUP = 6
#: ORB keypoints kept per image (and per mirror image).
ORB_FEATURES = 160
#: Each image is compared, with local features, to this many of its most colour-alike images.
CANDIDATES = 4
#: Matches that must agree with one similarity transform (RANSAC inliers) ...
MIN_INLIERS = 12
#: ... and the share of the cross-checked matches they must be.
MIN_INLIER_SHARE = 0.3
#: Scale and rotation a copy may have (a crop to a quarter of the area is scale 2).
MAX_SCALE, MAX_ROTATION_DEG = 3.0, 20.0
#: Normalised cross-correlation of the overlapping pixels at or above which the overlap is the same picture.
MIN_NCC = 0.8
#: The overlap must cover at least this share of the larger frame (a crop to a quarter of the area is 0.25).
MIN_OVERLAP = 0.25
#: Side of the greyscale copy kept for the pixel check.
CHECK_SIDE = 96


@dataclass
class LocalFeatures:
    """ORB keypoints of one image and of its mirror image, in pixels of a ``size`` frame."""

    size: tuple[int, int]  # (w, h) of the frame the keypoints were found on
    xy: np.ndarray  # K×2 float32
    desc: Optional[np.ndarray]  # K×32 uint8, None when the image has no corners (a flat colour field)
    xy_mirror: np.ndarray
    desc_mirror: Optional[np.ndarray]
    gray: np.ndarray  # CHECK_SIDE greyscale copy (uint8) for the pixel check


def local_features(gray: np.ndarray) -> LocalFeatures:
    """ORB on a greyscale image and on its mirror image, plus the small copy the pixel check needs."""
    import cv2

    orb = cv2.ORB_create(nfeatures=ORB_FEATURES, fastThreshold=12, edgeThreshold=15, patchSize=15)
    h, w = gray.shape[:2]

    def detect(img: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
        kps, desc = orb.detectAndCompute(img, None)
        return np.array([k.pt for k in kps], np.float32).reshape(-1, 2), desc

    xy, desc = detect(gray)
    xy_m, desc_m = detect(np.ascontiguousarray(gray[:, ::-1]))
    s = CHECK_SIDE / max(h, w)
    small = cv2.resize(gray, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    return LocalFeatures((w, h), xy, desc, xy_m, desc_m, small)


@dataclass
class DuplicatePair:
    """Two images that show the same picture; ``overlap`` is the share of the larger frame both show."""

    i: int
    j: int
    kind: str  # "re-encode" | "mirror" | "crop"
    overlap: float
    evidence: str  # the figures behind the call, for the details view

    def describe(self, names: list[str]) -> str:
        a, b = names[self.i], names[self.j]
        if self.kind == "mirror":
            what = "a mirror image of" if self.overlap >= 0.9 else f"a mirrored crop of (shows {self.overlap:.0%} of)"
        elif self.kind == "crop":
            what = f"a crop of (shows {self.overlap:.0%} of)"
        else:
            what = "a re-encoded or resized copy of"
        return f"{b} is {what} {a}"


def hamming(a: int, b: int) -> int:
    return int(bin(a ^ b).count("1"))


def _transform(pa: np.ndarray, pb: np.ndarray) -> Optional[tuple[np.ndarray, int]]:
    """Similarity transform b→a by RANSAC, with its inlier count, or None when none fits a copy."""
    import cv2

    if len(pa) < MIN_INLIERS:
        return None
    m, inl = cv2.estimateAffinePartial2D(pb, pa, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=500,
                                         confidence=0.99)
    if m is None or inl is None:
        return None
    n_in = int(inl.sum())
    scale = math.hypot(m[0, 0], m[1, 0])
    angle = abs(math.degrees(math.atan2(m[1, 0], m[0, 0])))
    if n_in < MIN_INLIERS or n_in < MIN_INLIER_SHARE * len(pa):
        return None
    if not (1 / MAX_SCALE <= scale <= MAX_SCALE) or angle > MAX_ROTATION_DEG:
        return None
    return m, n_in


def _pixel_check(a: LocalFeatures, b_gray: np.ndarray, b_size: tuple[int, int], m: np.ndarray) -> tuple[float, float]:
    """(NCC of the overlapping pixels, overlap as a share of the larger frame) for transform ``m`` (b→a)."""
    import cv2

    ah, aw = a.gray.shape
    bh, bw = b_gray.shape
    # m maps b's feature frame to a's feature frame; rescale it to the small copies' frames.
    sa = aw / a.size[0]
    sb = bw / b_size[0]
    mm = m.copy().astype(np.float64)
    mm[:, :2] *= sa / sb
    mm[:, 2] *= sa
    warped = cv2.warpAffine(b_gray, mm, (aw, ah), flags=cv2.INTER_LINEAR, borderValue=0)
    cover = cv2.warpAffine(np.ones_like(b_gray), mm, (aw, ah), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    cover = cv2.erode(cover.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    n = int(cover.sum())
    if n < 64:
        return 0.0, 0.0
    scale2 = float(abs(np.linalg.det(mm[:, :2])))  # area of one b pixel in a pixels
    overlap = n / max(ah * aw, bh * bw * scale2)
    x = a.gray[cover].astype(np.float32)
    y = warped[cover].astype(np.float32)
    x -= x.mean()
    y -= y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return (float((x * y).sum()) / den if den > 1e-6 else 0.0), min(1.0, overlap)


def match_pair(a: LocalFeatures, b: LocalFeatures) -> Optional[tuple[str, float, str]]:
    """Whether b is a (possibly mirrored, cropped, shifted, rotated, rescaled) copy of a:
    (kind, overlap, evidence) or None."""
    import cv2

    if a.desc is None:
        return None
    bf = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    best = None
    for mirrored, bxy, bdesc in ((False, b.xy, b.desc), (True, b.xy_mirror, b.desc_mirror)):
        if bdesc is None:
            continue
        matches = [mt for mt in bf.match(a.desc, bdesc) if mt.distance <= 64]
        if len(matches) < MIN_INLIERS:
            continue
        pa = a.xy[[mt.queryIdx for mt in matches]]
        pb = bxy[[mt.trainIdx for mt in matches]]
        fit = _transform(pa, pb)
        if fit is None:
            continue
        m, n_in = fit
        b_gray = np.ascontiguousarray(b.gray[:, ::-1]) if mirrored else b.gray
        ncc, overlap = _pixel_check(a, b_gray, b.size, m)
        if ncc < MIN_NCC or overlap < MIN_OVERLAP:
            continue
        scale = math.hypot(m[0, 0], m[1, 0])
        kind = "mirror" if mirrored else ("crop" if overlap < 0.9 or abs(math.log(scale)) > 0.15 else "re-encode")
        evidence = (f"{n_in} of {len(matches)} keypoint matches fit one {'mirrored ' if mirrored else ''}transform "
                    f"(scale {scale:.2f}); overlapping pixels correlate {ncc:.2f}")
        if best is None or overlap > best[1]:
            best = (kind, overlap, evidence)
    return best


def candidate_pairs(colour_hists: np.ndarray, k: int = CANDIDATES) -> set[tuple[int, int]]:
    """Each image with its ``k`` most colour-alike images (histogram intersection), as (i<j) pairs."""
    n = len(colour_hists)
    if n < 2:
        return set()
    h = np.asarray(colour_hists, np.float32)
    sim = np.stack([np.minimum(h[i][None, :], h).sum(1) for i in range(n)])
    np.fill_diagonal(sim, -1.0)
    out: set[tuple[int, int]] = set()
    for i in range(n):
        for j in np.argsort(-sim[i])[:k]:
            out.add((min(i, int(j)), max(i, int(j))))
    return out


def find_duplicates(stats: list) -> list[DuplicatePair]:
    """All duplicate pairs among ``stats`` (records with ``phash``, ``phash_mirror``, ``colour_hist``, ``local``)."""
    found: dict[tuple[int, int], DuplicatePair] = {}
    n = len(stats)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = stats[i], stats[j]
            d = hamming(a.phash, b.phash)
            if d <= PHASH_DUP:
                found[(i, j)] = DuplicatePair(i, j, "re-encode", 1.0, f"perceptual hashes differ in {d} of 64 bits")
            else:
                dm = hamming(a.phash, b.phash_mirror)
                if dm <= PHASH_DUP:
                    found[(i, j)] = DuplicatePair(i, j, "mirror", 1.0,
                                                  f"perceptual hash of the mirror image differs in {dm} of 64 bits")
    for i, j in sorted(candidate_pairs(np.stack([s.colour_hist for s in stats])) if n >= 2 else []):
        if (i, j) in found or stats[i].local is None or stats[j].local is None:
            continue
        hit = match_pair(stats[i].local, stats[j].local)
        if hit is not None:
            found[(i, j)] = DuplicatePair(i, j, *hit)
    return [found[k] for k in sorted(found)]
