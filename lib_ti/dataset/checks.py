"""The checks: each answers one question about the set with a measured figure and a threshold.

A :class:`Finding` carries the figure, the threshold it was compared with, a plain-language
text, the images involved, a severity and (when the set shares something the embedding
could learn instead of the subject) a *shared attribute* with the caption words that would
name it. Thresholds are module constants, named and documented, so tests and the report
quote the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from .duplicates import DuplicatePair, find_duplicates
from .features import ImageStats, background_similarity, hamming, hist_intersection

SEVERITIES = ("ok", "note", "warning", "critical")

# --- basics
MIN_IMAGES = 5  # fewer: TI has too little to separate subject from circumstance
CRITICAL_IMAGES = 2
MANY_IMAGES = 200  # more: slow epochs, and usually duplicates or mixed subjects
ASPECT_LIMIT = 1.5  # longer side / shorter side; beyond it a square crop loses a third of the picture
BLUR_THRESHOLD = 60.0  # variance of the Laplacian in the sharpest tile at 512 px
# --- zoom (fractions of the frame area)
FACE_CLOSEUP, FACE_WIDE = 0.12, 0.025  # face box ≥ 12 %: head and shoulders; < 2.5 %: full body
SUBJECT_CLOSEUP, SUBJECT_WIDE = 0.5, 0.12  # saliency box: fills the frame (runs off 3+ sides) / wide shot
CLOSEUP_SHARE = 0.7  # warn when at least this share of measured photos are close-ups
ONE_FRAMING_SPREAD = 0.12  # std of log10(fraction), without the most unusual photo, below this: one framing
# --- background
BACKGROUND_SAME = 0.56  # background similarity (0..1) at which two photos share a background
BACKGROUND_MAJORITY = 0.5  # a background group larger than this share of photos is a warning
PLAIN_LEVEL = 0.5  # plainness 0..1 above which a background counts as plain
PLAIN_SHARE = 0.6
# --- clothing / hair (histogram intersection of the regions under / above the face)
CLOTHING_SAME = 0.6
HAIR_SAME = 0.7
WORN_SHARE = 0.6
# --- near duplicates (hash and keypoint thresholds live in .duplicates)
PHASH_CONFIRM, DHASH_DUP = 9, 64  # looser hashes (of 64 / 256 bits) count when the feature similarity confirms
# --- lighting
BRIGHTNESS_SPREAD = 6.0  # std of mean L* (0..100)
CONTRAST_SPREAD = 3.0  # std of L* std
WARMTH_SPREAD = 3.0  # std of mean b*


@dataclass
class Finding:
    """One answer of one check; ``figure``/``threshold`` are the numbers behind ``text``."""

    check: str
    id: str
    title: str
    severity: str
    figure: float
    figure_text: str
    threshold: str
    text: str
    images: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    action: Optional[str] = None
    attribute: Optional[dict] = None  # {"kind", "description", "terms"} when the set shares something learnable
    caption_note: Optional[str] = None
    pairs: list[dict] = field(default_factory=list)  # near-duplicates: {"a", "b", "kind", "overlap", "evidence"}

    def to_dict(self) -> dict:
        return asdict(self)


def _groups(n: int, linked) -> list[list[int]]:
    """Connected components (size ≥ 2) of the graph where ``linked(i, j)`` is an edge."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if linked(i, j):
                parent[find(i)] = find(j)
    comp: dict[int, list[int]] = {}
    for i in range(n):
        comp.setdefault(find(i), []).append(i)
    return sorted((c for c in comp.values() if len(c) > 1), key=len, reverse=True)


def _star_group(n: int, sim: np.ndarray, thr: float) -> list[int]:
    """The largest set of images all similar to one central image (robust to chaining)."""
    best: list[int] = []
    for i in range(n):
        g = [j for j in range(n) if j == i or sim[i, j] >= thr]
        if len(g) > len(best):
            best = g
    return best


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _plural(k: int, word: str, plural: Optional[str] = None) -> str:
    """``1 group``, ``2 groups``; ``plural`` for irregular words (``copies``)."""
    return f"{k} {word}" if k == 1 else f"{k} {plural or word + 's'}"


# --------------------------------------------------------------------------- basics

def check_basics(stats: list[ImageStats], skipped: list, size: int) -> list[Finding]:
    n = len(stats)
    out: list[Finding] = []
    if n < CRITICAL_IMAGES:
        sev, text = "critical", f"Only {n} usable image(s): nothing to learn from."
    elif n < MIN_IMAGES:
        sev, text = "warning", f"Only {n} usable images. Textual Inversion needs at least {MIN_IMAGES}, ideally 10–30."
    elif n > MANY_IMAGES:
        sev, text = "note", f"{n} images is a lot for one embedding: epochs are slow; check for duplicates or mixed subjects."
    else:
        sev, text = "ok", f"{n} usable images."
    out.append(Finding("basics", "basics.count", "Number of images", sev, n, str(n),
                       f"{MIN_IMAGES}–{MANY_IMAGES}", text, [],
                       action=f"Add {MIN_IMAGES - n} or more photos of the subject" if sev in ("critical", "warning") else None))
    if skipped:
        out.append(Finding("basics", "basics.skipped", "Files skipped", "note", len(skipped), str(len(skipped)), "0",
                           "Some files could not be used: " + "; ".join(f"{s.name}: {s.reason}" for s in skipped[:8])
                           + (" …" if len(skipped) > 8 else ""), [s.name for s in skipped],
                           action=f"Fix or remove {_plural(len(skipped), 'unreadable file')}"))
    small = [s.name for s in stats if min(s.size) < size]
    if small:
        sev = "warning" if len(small) > 0.3 * n else "note"
        out.append(Finding("basics", "basics.resolution", "Resolution below training size", sev, len(small),
                           f"{len(small)} of {n}", f"shorter side ≥ {size} px",
                           f"{len(small)} of {n} images have a shorter side under {size} px and will be upscaled (soft detail).",
                           small, action=f"Replace {len(small)} of {n} low-resolution images with ≥{size} px versions"))
    ratios = {s.name: max(s.size) / max(1, min(s.size)) for s in stats}
    odd = [k for k, r in ratios.items() if r > ASPECT_LIMIT]
    if odd:
        worst = max(ratios[k] for k in odd)
        out.append(Finding("basics", "basics.aspect", "Unusual aspect ratios", "note", round(worst, 2),
                           f"{len(odd)} of {n} (up to {worst:.2f}:1)", f"≤ {ASPECT_LIMIT}:1",
                           f"{len(odd)} images are elongated; a square crop loses up to {100 * (1 - 1 / worst):.0f}% of the picture. "
                           "Check the crop keeps the subject (use the face-aware crop for people).", odd))
    blurry = [s.name for s in stats if s.sharpness < BLUR_THRESHOLD]
    if blurry:
        sev = "warning" if len(blurry) > 0.2 * n else "note"
        out.append(Finding("basics", "basics.blur", "Blurry images", sev, len(blurry), f"{len(blurry)} of {n}",
                           f"sharpest-tile Laplacian variance ≥ {BLUR_THRESHOLD:g}",
                           f"{len(blurry)} of {n} images have no sharp region; the embedding learns the blur.",
                           blurry, action=f"Replace {len(blurry)} blurry {'image' if len(blurry) == 1 else 'images'} with sharp ones"))
    return out


# --------------------------------------------------------------------------- zoom

#: Caption words that name a framing, for people (face mode) and for objects (subject mode).
ZOOM_TERMS = {
    "face": {
        "close-up": ["close-up", "closeup", "close up", "headshot", "portrait", "face"],
        "medium": ["medium shot", "half body", "half-body", "upper body", "waist up", "cowboy shot"],
        "wide": ["full body", "full-body", "wide shot", "far away", "distant"],
    },
    "subject": {
        "close-up": ["close-up", "closeup", "close up", "macro", "detail shot"],
        "medium": ["medium shot", "mid shot", "centered", "centred"],
        "wide": ["wide shot", "far away", "distant", "in the distance", "small in frame"],
    },
}


NO_FACE = "no frontal face found (head turned, too small or hidden)"


def _zoom_of(s: ImageStats, mode: str) -> tuple[Optional[float], Optional[str], Optional[str], str]:
    """(fraction, class, reason when not measured, what was measured) for one image.

    Faces (a person's, or a cat's when the captions say cat) give the fraction directly. Otherwise the
    saliency outline does, but only when it is clear (:func:`.subject.subject_outline`): a whole subject
    is never a close-up because of its area (a sitting cat filling 70 % of the frame is a full-body shot);
    a close-up is a subject that fills the frame, running off three or four sides.
    """
    if mode == "face":
        if s.face is None:
            return None, None, NO_FACE, "face"
        frac = s.face.area
        return frac, "close-up" if frac >= FACE_CLOSEUP else "medium" if frac >= FACE_WIDE else "wide", None, "face"
    if s.animal_face is not None:
        frac = s.animal_face.area
        return frac, "close-up" if frac >= FACE_CLOSEUP else "medium" if frac >= FACE_WIDE else "wide", None, "cat face"
    frac = s.saliency.area
    if s.subject_note:
        return None, None, s.subject_note, "subject"
    if s.subject_touches >= 3:
        return frac, "close-up", None, "subject (fills the frame)"
    return frac, "wide" if frac < SUBJECT_WIDE else "medium", None, "subject"


def zoom_measurements(stats: list[ImageStats], kind: Optional[str] = None) -> dict:
    """Mode (face or subject), per-image fraction, class and (when not measured) the reason, and the class counts.

    ``kind`` is what the captions call the subject: "person" forces face mode; an animal or an object
    forces subject mode (their photos are not measured by human faces); None decides by the faces found.
    """
    n = len(stats)
    with_face = sum(1 for s in stats if s.face is not None)
    if kind == "person":
        mode = "face"
    elif kind is not None:
        mode = "subject"
    else:
        mode = "face" if n and with_face >= max(1, math.ceil(n / 2)) else "subject"
    hi, lo = (FACE_CLOSEUP, FACE_WIDE) if mode == "face" else (SUBJECT_CLOSEUP, SUBJECT_WIDE)
    per = {}
    for s in stats:
        frac, cls, reason, source = _zoom_of(s, mode)
        per[s.name] = {"fraction": None if frac is None else round(frac, 4), "class": cls, "reason": reason,
                       "source": source}
    counts = Counter(v["class"] for v in per.values() if v["class"])
    return {"mode": mode, "closeup_threshold": hi, "wide_threshold": lo, "images": per,
            "counts": {k: counts.get(k, 0) for k in ("close-up", "medium", "wide")},
            "unmeasured": [k for k, v in per.items() if v["class"] is None]}


def _unmeasured_note(zoom: dict) -> str:
    k = len(zoom["unmeasured"])
    return f" ({k} not measured and not counted: see the zoom chart for why)" if k else ""


def framing_spread(fractions: np.ndarray) -> tuple[float, int]:
    """How much the framing varies: the standard deviation of log10(subject size) without the one photo whose
    removal lowers it most, and that photo's index. Why leave one out: a set counts as varied only if it varies
    without its most unusual photo — one odd or mismeasured photo must not hide a set of equal framings (measured
    on the demo world's 16 small red triangles: one saliency box took in part of the background, and the set read
    0.135, varied, with it; 0.08 without), and a single shot at another distance is not the variety the advice
    ("add a few shots at other distances") asks for."""
    logs = np.log10(np.maximum(np.asarray(fractions, dtype=np.float64), 1e-4))
    without = [float(np.std(np.delete(logs, i))) for i in range(len(logs))]
    odd = int(np.argmin(without))
    return without[odd], odd


def check_zoom(stats: list[ImageStats], zoom: dict) -> list[Finding]:
    """Close-up share and framing variety, from the measured images only: an image whose zoom could not be
    measured with confidence (its reason is in ``zoom["images"]``) never counts towards a warning."""
    per = zoom["images"]
    measured = [k for k, v in per.items() if v["class"]]
    m = len(measured)
    what = "face size" if zoom["mode"] == "face" else "subject size"
    if m < 3:
        reasons = Counter(v["reason"] for v in per.values() if v["reason"])
        why = "; ".join(f"{r} ({c}×)" for r, c in reasons.most_common(3))
        return [Finding("zoom", "zoom.unmeasured", "Zoom level", "note", m, f"{m} of {len(per)} measured", "≥ 3 measured",
                        f"The zoom level was measured with confidence in only {m} of {len(per)} photos, so it is not "
                        f"judged." + (f" Why: {why}." if why else ""), zoom["unmeasured"])]
    closeups = [k for k in measured if per[k]["class"] == "close-up"]
    share = len(closeups) / m
    fr = np.array([per[k]["fraction"] for k in measured], dtype=np.float64)
    spread, odd = framing_spread(fr)
    out: list[Finding] = []
    dist = ", ".join(f"{v} {k}" for k, v in zoom["counts"].items())
    classes_used = [c for c, v in zoom["counts"].items() if v]
    if share >= CLOSEUP_SHARE:
        keep = math.floor(0.4 * m)
        replace = max(1, len(closeups) - keep)
        out.append(Finding(
            "zoom", "zoom.closeups", "Mostly close-ups", "warning", round(share, 3), f"{len(closeups)} of {m} close-ups",
            f"close-up share < {CLOSEUP_SHARE:.0%} ({what}: close-up from {zoom['closeup_threshold']:.0%} of the frame)",
            f"{len(closeups)} of {m} photos are close-ups ({dist}){_unmeasured_note(zoom)}. The embedding will tie the "
            f"subject to a tight framing and struggle to render it further away.", closeups,
            action=f"Replace {replace} of {len(closeups)} close-ups with "
                   + ("half-body or full-body shots" if zoom["mode"] == "face" else "wider shots showing more surroundings"),
            attribute={"kind": "zoom", "description": "close-up framing", "terms": ZOOM_TERMS[zoom["mode"]]["close-up"]}))
    elif len(classes_used) == 1 or spread < ONE_FRAMING_SPREAD:
        cls = Counter(per[k]["class"] for k in measured).most_common(1)[0][0]
        shots = {"close-up": "close-ups", "medium": "medium shots", "wide": "wide shots"}[cls]
        rest = np.delete(fr, odd)
        ratio = float(rest.max() / max(rest.min(), 1e-6))
        if len(classes_used) == 1:
            trigger = f"all {m} measured photos are {shots}"
            rule = "at least two framings (close-up, medium, wide) among the measured photos"
        else:
            trigger = (f"the {what} hardly changes between photos (largest {ratio:.1f}× the smallest, "
                       f"leaving out {measured[odd]}, the most unusual)")
            rule = (f"{what} varies (standard deviation of log10 size ≥ {ONE_FRAMING_SPREAD} without the most "
                    f"unusual photo; measured {spread:.2f})")
        out.append(Finding(
            "zoom", "zoom.one_framing", "One framing", "note", round(spread, 3), f"{trigger} ({dist})", rule,
            f"One framing: {trigger}{_unmeasured_note(zoom)}. Varying the distance helps the embedding generalise.",
            measured, action=f"Add a few {'close-ups and wider shots' if cls == 'medium' else 'shots at other distances'}",
            attribute={"kind": "zoom", "description": f"{cls} framing", "terms": ZOOM_TERMS[zoom["mode"]][cls]}))
    else:
        out.append(Finding("zoom", "zoom.ok", "Zoom level", "ok", round(share, 3), f"{dist}",
                           f"close-up share < {CLOSEUP_SHARE:.0%}", f"Framing varies ({dist}){_unmeasured_note(zoom)}.", []))
    return out


# --------------------------------------------------------------------------- background

BG_GENERIC = ["background", "backdrop", "wall"]


def colour_phrase(words: list[str]) -> tuple[str, list[str]]:
    """How a group's colours are said, and the colour words: "orange" when (nearly) all agree, else the two
    commonest ("orange or yellow"), so a yellow backdrop is never listed as an orange one."""
    counts = Counter(w for w in words if w != "unknown") or Counter(words)
    top = [w for w, _ in counts.most_common(2)]
    if len(top) == 1 or counts[top[0]] >= 0.8 * sum(counts.values()):
        return top[0], top[:1]
    return f"{top[0]} or {top[1]}", top


def background_terms(colours, plain: bool) -> list[str]:
    colours = [colours] if isinstance(colours, str) else colours
    terms = [f"{c} {w}" for c in colours if c != "unknown" for w in ("background", "wall", "backdrop")]
    if plain:
        terms += ["plain background", "simple background", "studio background", "solid background", "uniform background"]
    return terms + BG_GENERIC


def background_matrix(stats: list[ImageStats]) -> np.ndarray:
    n = len(stats)
    m = np.eye(n, dtype=np.float32)
    for i in range(n):
        for j in range(i + 1, n):
            m[i, j] = m[j, i] = background_similarity(stats[i], stats[j])
    return m


def check_background(stats: list[ImageStats], bg: np.ndarray) -> list[Finding]:
    n = len(stats)
    out: list[Finding] = []
    groups = _groups(n, lambda i, j: bg[i, j] >= BACKGROUND_SAME) if n >= 2 else []
    for g in groups:
        names = [stats[i].name for i in g]
        colour, colours = colour_phrase([stats[i].bg_colour for i in g])
        pairs = [bg[i, j] for a, i in enumerate(g) for j in g[a + 1:]]
        fig = float(max(pairs))
        big = len(g) >= 3 and len(g) > BACKGROUND_MAJORITY * n
        out.append(Finding(
            "background", "background.shared" if big else "background.group",
            "One background in most photos" if big else "Photos sharing a background",
            "warning" if big else "note", round(fig, 3), f"{len(g)} of {n} photos, similarity up to {fig:.2f}",
            f"background similarity < {BACKGROUND_SAME}" + (f"; group ≤ {BACKGROUND_MAJORITY:.0%} of photos" if big else ""),
            (f"{len(g)} of {n} photos share one {colour} background. The embedding will learn it as part of the subject."
             if big else f"{len(g)} photos share {_a(colour)} background: fine in a varied set, but keep it a minority."),
            names, [names],
            action=f"Replace {len(g) - max(1, n // 4)} of the {len(g)} photos on the shared {colour} background with photos elsewhere" if big else None,
            attribute={"kind": "background", "description": f"{colour} background shared by {len(g)} photos",
                       "terms": background_terms(colours, False)}))
    plain = [s for s in stats if s.bg_plainness >= PLAIN_LEVEL]
    if n >= 3 and len(plain) >= PLAIN_SHARE * n:
        colour, colours = colour_phrase([s.bg_colour for s in plain])
        out.append(Finding(
            "background", "background.plain", "Plain background in most photos", "warning", round(len(plain) / n, 3),
            f"{len(plain)} of {n}", f"plain share < {PLAIN_SHARE:.0%} (plainness ≥ {PLAIN_LEVEL})",
            f"{len(plain)} of {n} photos have a plain, uniform {colour} background; generated images will tend to "
            "put the subject on it.", [s.name for s in plain],
            action=f"Replace {len(plain) - n // 3} of {len(plain)} plain-background photos with photos in varied places",
            attribute={"kind": "background", "description": f"plain {colour} background",
                       "terms": background_terms(colours, True)}))
    if not out:
        top = float(max((bg[i, j] for i in range(n) for j in range(i + 1, n)), default=0.0))
        out.append(Finding("background", "background.ok", "Background", "ok", round(top, 3),
                           f"highest pair similarity {top:.2f}", f"< {BACKGROUND_SAME}", "Backgrounds vary.", []))
    return out


# --------------------------------------------------------------------------- clothing and hair

def _worn(stats: list[ImageStats], attr: str, thr: float, kind: str, sev: str) -> list[Finding]:
    items = [(s.name, getattr(s, f"{attr}_hist"), getattr(s, f"{attr}_colour")) for s in stats
             if getattr(s, f"{attr}_hist") is not None]
    m = len(items)
    region = "under the face (clothing)" if kind == "clothing" else "above the face (hair)"
    if m < 3:
        return []
    sim = np.eye(m, dtype=np.float32)
    for i in range(m):
        for j in range(i + 1, m):
            sim[i, j] = sim[j, i] = hist_intersection(items[i][1], items[j][1])
    g = _star_group(m, sim, thr)
    share = len(g) / m
    names = [items[i][0] for i in g]
    colour, colours = colour_phrase([items[i][2] for i in g])
    if share >= WORN_SHARE and len(g) >= 3:
        if kind == "clothing":
            terms = [f"{c} {w}" for c in colours for w in ("shirt", "t-shirt", "top", "jacket", "hoodie", "sweater", "clothes")] + \
                    ["shirt", "t-shirt", "jacket", "hoodie", "sweater"]
            action = f"Replace {len(g) - m // 3} of {len(g)} photos in the {colour} clothing with photos in other clothes"
            text = f"{len(g)} of {m} photos show similar {colour} clothing {region}; the embedding may learn the outfit."
        else:
            terms = [f"{c} hair" for c in colours] + ["hair"] + [f"{c} hat" for c in colours] + ["hat", "beanie", "cap"]
            action = None
            text = (f"{len(g)} of {m} photos show similar {colour} {region}. Hair is usually part of the identity; "
                    "caption it if you want to change it in prompts.")
        return [Finding(kind, f"{kind}.shared", f"Same {kind} in most photos", sev, round(share, 3),
                        f"{len(g)} of {m} measured", f"share < {WORN_SHARE:.0%} (similarity ≥ {thr})", text, names,
                        [names], action=action,
                        attribute={"kind": kind, "description": f"{colour} {'clothing' if kind == 'clothing' else 'hair'}",
                                   "terms": terms})]
    return [Finding(kind, f"{kind}.ok", kind.capitalize(), "ok", round(share, 3), f"{len(g)} of {m} alike",
                    f"share < {WORN_SHARE:.0%}", f"The {kind} varies.", [])]


def check_clothing_hair(stats: list[ImageStats], mode: str) -> list[Finding]:
    if mode != "face":
        return []
    return _worn(stats, "clothing", CLOTHING_SAME, "clothing", "warning") + _worn(stats, "hair", HAIR_SAME, "hair", "note")


# --------------------------------------------------------------------------- near duplicates

DUPLICATE_RULE = ("the same picture: near-equal perceptual hashes (of the image or of its mirror), or keypoints that fit "
                  "one shift/scale/rotation/mirror with the overlapping pixels alike")


def duplicate_pairs(stats: list[ImageStats], sim: np.ndarray, feature_threshold: float) -> list[DuplicatePair]:
    """Pairs that show the same picture (see :mod:`.duplicates`), plus pixel-near pairs the global features confirm."""
    pairs = {(p.i, p.j): p for p in find_duplicates(stats)}
    for i in range(len(stats)):
        for j in range(i + 1, len(stats)):
            a, b = stats[i], stats[j]
            ph = hamming(a.phash, b.phash)
            if (i, j) not in pairs and ph <= PHASH_CONFIRM and hamming(a.dhash, b.dhash) <= DHASH_DUP \
                    and sim[i, j] >= feature_threshold:
                pairs[(i, j)] = DuplicatePair(i, j, "re-encode", 1.0,
                                              f"perceptual hashes differ in {ph} of 64 bits; similarity {sim[i, j]:.2f}")
    return [pairs[k] for k in sorted(pairs)]


def duplicate_groups(stats: list[ImageStats], sim: np.ndarray, feature_threshold: float) -> list[list[int]]:
    linked = {(p.i, p.j) for p in duplicate_pairs(stats, sim, feature_threshold)}
    return _groups(len(stats), lambda i, j: (i, j) in linked)


def check_duplicates(stats: list[ImageStats], sim: np.ndarray, feature_threshold: float) -> list[Finding]:
    pairs = duplicate_pairs(stats, sim, feature_threshold)
    linked = {(p.i, p.j) for p in pairs}
    groups = _groups(len(stats), lambda i, j: (i, j) in linked)
    n = len(stats)
    if not groups:
        return [Finding("duplicates", "duplicates.none", "Near-duplicates", "ok", 0, "none found", DUPLICATE_RULE,
                        "No near-duplicates: no two photos show the same picture (mirrored, cropped or re-encoded).", [])]
    names = [s.name for s in stats]
    extra = sum(len(g) - 1 for g in groups)
    gnames = [[names[i] for i in g] for g in groups]
    described = [p.describe(names) for p in pairs]
    kinds = Counter(p.kind for p in pairs)
    return [Finding("duplicates", "duplicates.groups", "Near-duplicates", "warning" if extra > 0.1 * n or extra >= 2 else "note",
                    extra, f"{_plural(len(groups), 'group')}, {_plural(extra, 'extra copy', 'extra copies')}",
                    DUPLICATE_RULE,
                    f"{extra} of {n} images show the same picture as another: " + "; ".join(described[:6])
                    + (" …" if len(described) > 6 else "") + ". Copies weigh those shots more and add nothing new"
                    + (" (a mirrored copy also teaches a symmetric subject)." if kinds.get("mirror") else "."),
                    [x for g in gnames for x in g], gnames,
                    action=f"Set aside {extra} near-duplicate {'copy' if extra == 1 else 'copies'} (keep one per group)",
                    pairs=[{"a": names[p.i], "b": names[p.j], "kind": p.kind, "overlap": round(p.overlap, 3),
                            "evidence": p.evidence} for p in pairs])]


# --------------------------------------------------------------------------- lighting

def check_lighting(stats: list[ImageStats]) -> list[Finding]:
    n = len(stats)
    if n < 3:
        return []
    b = np.array([s.brightness for s in stats])
    c = np.array([s.contrast for s in stats])
    w = np.array([s.warmth for s in stats])
    sb, sc, sw = float(b.std()), float(c.std()), float(w.std())
    fig = f"brightness spread {sb:.1f}, contrast spread {sc:.1f}, colour-temperature spread {sw:.1f}"
    thr = f"brightness ≥ {BRIGHTNESS_SPREAD}, contrast ≥ {CONTRAST_SPREAD}, colour temperature ≥ {WARMTH_SPREAD}"
    if sb < BRIGHTNESS_SPREAD and sc < CONTRAST_SPREAD and sw < WARMTH_SPREAD:
        mw = float(w.mean())
        tone = "warm" if mw > 8 else "cool" if mw < -3 else "neutral"
        terms = {"warm": ["warm light", "warm lighting", "golden hour", "orange light", "sunset"],
                 "cool": ["cool light", "blue light", "cold light", "overcast"],
                 "neutral": ["daylight", "natural light", "studio lighting", "soft light"]}[tone]
        terms += ["dark", "low light", "night"] if b.mean() < 35 else ["bright"] if b.mean() > 70 else []
        return [Finding("lighting", "lighting.uniform", "Uniform lighting", "warning", round(sb, 2), fig, thr,
                        f"All {n} photos have the same {tone} light and exposure; the embedding will carry that light "
                        "into every picture.", [s.name for s in stats],
                        action="Add photos in other light (daylight, indoor, evening)",
                        attribute={"kind": "lighting", "description": f"the same {tone} lighting", "terms": terms})]
    return [Finding("lighting", "lighting.ok", "Lighting and colour", "ok", round(sb, 2), fig, thr, "Lighting varies.", [])]
