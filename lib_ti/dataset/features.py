"""What each image looks like, measured with classical features (no model, no download).

Every image is reduced once to an :class:`ImageStats` record of a few kilobytes; the
checks compare records, never pixels, so memory stays flat however many images there are.
The optional CLIP path (:class:`ClipEmbedder`) adds one image embedding per record for the
global similarity; the report names the features used so the meaning never silently changes.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from .duplicates import LocalFeatures, local_features
from .faces import Box, main_cat_face, main_face
from .loading import LoadedImage
from .subject import SubjectOutline, subject_outline

#: Working resolution for the per-image measurements (faces are found on the 512 px copy).
FEATURE_SIDE = 256
THUMB_SIDE = 112
GRID = 8
#: Layout cells that must show background in both images for full confidence in their similarity.
MIN_COMMON_CELLS = 12


@dataclass
class ImageStats:
    """Measurements of one image; every field is small (no bitmaps except a thumbnail JPEG)."""

    name: str
    size: tuple[int, int]
    format: str
    mode: str
    face: Optional[Box]
    subject: Box
    subject_source: str  # "face" (body box around the face) or "saliency"
    saliency: Box  # saliency box, always measured (the zoom figure for sets without faces)
    phash: int
    dhash: int
    colour_hist: np.ndarray
    texture: np.ndarray
    layout: np.ndarray  # GRID×GRID×3 Lab cell means
    bg_cells: np.ndarray  # GRID×GRID fraction of each cell outside the subject
    bg_hist: np.ndarray
    bg_texture: np.ndarray
    bg_plainness: float  # 0 (busy) .. 1 (plain, uniform)
    bg_colour: str
    clothing_hist: Optional[np.ndarray]
    clothing_colour: Optional[str]
    hair_hist: Optional[np.ndarray]
    hair_colour: Optional[str]
    brightness: float  # mean L* 0..100
    contrast: float  # std of L*
    warmth: float  # mean b* (+ yellow/warm, - blue/cool)
    sharpness: float  # variance of the Laplacian in the sharpest tile, at 512 px
    thumb_jpeg: bytes
    clip: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)
    subject_note: Optional[str] = None  # why the saliency box is not a measurement (None: it is one)
    subject_touches: int = 0  # frame sides the salient region runs off
    animal_face: Optional[Box] = None  # a cat face (cat-face cascade, when the captions say cat)
    hair_length: Optional[str] = None  # "short" / "long" as the checker sees it (hair colour beside the jaw)
    phash_mirror: int = 0  # pHash of the left-right mirror image (mirrored copies)
    local: Optional[LocalFeatures] = None  # ORB keypoints for crops/shifts/mirrors (see .duplicates)

    @property
    def global_vector(self) -> np.ndarray:
        """Classical global descriptor (unit length): colour + texture + layout."""
        lay = (self.layout.reshape(-1) / 100.0).astype(np.float32)
        lay = lay - lay.mean()
        parts = [np.sqrt(self.colour_hist), np.sqrt(self.texture), lay / (np.linalg.norm(lay) + 1e-9)]
        v = np.concatenate([p / (np.linalg.norm(p) + 1e-9) for p in parts]).astype(np.float32)
        return v / (np.linalg.norm(v) + 1e-9)

    def thumb_data_uri(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.thumb_jpeg).decode("ascii")


_HUES = ((15, "red"), (40, "orange"), (70, "yellow"), (160, "green"), (200, "teal"), (255, "blue"), (290, "purple"),
         (335, "pink"), (360, "red"))


def colour_name(rgb_pixels: np.ndarray) -> str:
    """Plain colour word for the typical colour of some RGB pixels (N×3 uint8)."""
    import cv2

    if len(rgb_pixels) == 0:
        return "unknown"
    px = np.asarray(rgb_pixels, dtype=np.uint8).reshape(1, -1, 3)
    hsv = cv2.cvtColor(px, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32)
    v = float(np.median(hsv[:, 2])) / 255.0
    s = float(np.median(hsv[:, 1])) / 255.0
    if v < 0.2:
        return "black"
    if v < 0.35 and s < 0.4:
        return "dark"
    if s < 0.18:
        return "white" if v > 0.75 else "grey"
    sat = hsv[hsv[:, 1] > 0.18 * 255]
    ang = sat[:, 0] / 255.0 * 2 * np.pi
    hue = (np.degrees(np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())) + 360) % 360
    for limit, word in _HUES:
        if hue < limit:
            if word in ("orange", "red") and v < 0.5:
                return "brown"
            return word
    return "red"


def _hsv_hist(hsv: np.ndarray, mask: Optional[np.ndarray]) -> np.ndarray:
    import cv2

    m = None if mask is None else mask.astype(np.uint8)
    h = cv2.calcHist([hsv], [0, 1, 2], m, [8, 4, 4], [0, 256, 0, 256, 0, 256]).reshape(-1)
    return (h / max(float(h.sum()), 1e-9)).astype(np.float32)


def _uniform_lut() -> np.ndarray:
    """Map 8-bit LBP codes to the 10 rotation-invariant uniform classes (0..8 ones in a run, 9 = non-uniform)."""
    lut = np.empty(256, np.int64)
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        lut[code] = sum(bits) if transitions <= 2 else 9
    return lut


_LBP_LUT = _uniform_lut()
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def lbp_uniform(gray: np.ndarray) -> np.ndarray:
    """Uniform local binary patterns on the 8 square neighbours (radius 1, no interpolation), vectorised:
    about 15x faster than ``skimage.feature.local_binary_pattern`` and enough for a texture histogram."""
    g = gray.astype(np.int16)
    p = np.pad(g, 1, mode="edge")
    h, w = g.shape
    code = np.zeros((h, w), np.uint8)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        code |= ((p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] >= g).astype(np.uint8) << bit)
    return _LBP_LUT[code]


def texture_maps(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel uniform LBP class, gradient-orientation bin (9 × 20°) and gradient magnitude."""
    import cv2

    lbp = lbp_uniform(gray)
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    mag = cv2.magnitude(gx, gy)
    ang = (cv2.phase(gx, gy, angleInDegrees=True)) % 180.0
    bins = np.minimum((ang / 20.0).astype(np.int64), 8)
    return lbp, bins, mag


def texture_hist(maps: tuple[np.ndarray, np.ndarray, np.ndarray], mask: Optional[np.ndarray]) -> np.ndarray:
    """LBP histogram (10 bins) + magnitude-weighted orientation histogram (9 bins, HOG-like), each summing to 1."""
    lbp, bins, mag = maps
    if mask is not None:
        lbp, bins, mag = lbp[mask], bins[mask], mag[mask]
    h1 = np.bincount(lbp.reshape(-1), minlength=10)[:10].astype(np.float32)
    h2 = np.bincount(bins.reshape(-1), weights=mag.reshape(-1), minlength=9)[:9].astype(np.float32)
    h1 /= max(float(h1.sum()), 1e-9)
    h2 /= max(float(h2.sum()), 1e-9)
    return np.concatenate([h1, h2])


def body_box(face: Box) -> Box:
    """Where the person probably is, from the face: 3 face-widths wide, down to the frame bottom."""
    x = face.x + face.w / 2 - 1.5 * face.w
    y = face.y - 0.35 * face.h
    return Box(max(0.0, x), max(0.0, y), min(1.0, 3.0 * face.w), min(1.0 - max(0.0, y), 8.0 * face.h))


def clothing_box(face: Box) -> Box:
    """The chest under the face: where a shirt or jacket shows in portraits and half-body shots."""
    return Box(face.x - 0.4 * face.w, face.y + 1.35 * face.h, 1.8 * face.w, 1.2 * face.h)


def hair_box(face: Box) -> Box:
    """The top of the head: above the face box (the Haar box starts around the eyebrows)."""
    return Box(face.x + 0.1 * face.w, face.y - 0.3 * face.h, 0.8 * face.w, 0.35 * face.h)


def beside_jaw_boxes(face: Box) -> tuple[Box, Box]:
    """Left and right of the face, from the jaw down to the shoulders: where long hair falls."""
    y = face.y + 0.75 * face.h
    return (Box(face.x - 0.35 * face.w, y, 0.3 * face.w, 0.8 * face.h),
            Box(face.x + 1.05 * face.w, y, 0.3 * face.w, 0.8 * face.h))


#: Hair-colour match beside the jaw (histogram intersection with the hair above the face) from which hair is long.
LONG_HAIR_MATCH = 0.45


def hair_length(rgb: np.ndarray, face: Box, hair_hist: np.ndarray) -> Optional[str]:
    """"long" when the hair's colours also fill the regions beside the jaw, "short" when they do not."""
    scores = []
    for box in beside_jaw_boxes(face):
        r = _region(rgb, box, min_px=24)
        if r is not None:
            scores.append(hist_intersection(_hs_hist(r), hair_hist))
    if not scores:
        return None
    return "long" if max(scores) >= LONG_HAIR_MATCH else "short"


def _darker_half(rgb: np.ndarray) -> np.ndarray:
    """The darker half of a region's pixels: the box above a face also catches sky or wall between
    strands and beside the head, which is usually lighter than the hair itself."""
    px = rgb.reshape(-1, 3)
    v = px.max(axis=1)
    return px[v <= np.median(v)]


def person_description(s: "ImageStats") -> Optional[str]:
    """Hair and clothing as the checker sees them, in caption words ("short brown hair, blue clothing"),
    so a user can check or correct captions from them. None when no face was found."""
    if s.face is None:
        return None
    parts = []
    if s.hair_colour:
        parts.append(" ".join(w for w in (s.hair_length, s.hair_colour, "hair") if w))
    if s.clothing_colour:
        parts.append(f"{s.clothing_colour} clothing")
    return ", ".join(parts) or None


def _region(arr: np.ndarray, box: Box, min_px: int = 64) -> Optional[np.ndarray]:
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = box.to_pixels(w, h)
    if (x1 - x0) * (y1 - y0) < min_px or (y1 - y0) < 4 or (x1 - x0) < 4:
        return None
    return arr[y0:y1, x0:x1]


def _hs_hist(rgb: np.ndarray) -> np.ndarray:
    """Hue-saturation-value histogram of a region (colour identity of clothes or hair)."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV_FULL)
    h = cv2.calcHist([hsv], [0, 1, 2], None, [12, 3, 3], [0, 256, 0, 256, 0, 256]).reshape(-1)
    return (h / max(float(h.sum()), 1e-9)).astype(np.float32)


def sharpness(gray512: np.ndarray, tiles: int = 4) -> float:
    """Variance of the Laplacian in the sharpest of tiles×tiles tiles (a sharp subject on bokeh is sharp)."""
    import cv2

    lap = cv2.Laplacian(gray512, cv2.CV_32F)
    h, w = lap.shape
    best = 0.0
    for i in range(tiles):
        for j in range(tiles):
            t = lap[i * h // tiles:(i + 1) * h // tiles, j * w // tiles:(j + 1) * w // tiles]
            if t.size:
                best = max(best, float(t.var()))
    return best


#: What the captions say the subject is (see :func:`.captions_aware.subject_kind`); None: unknown.
SUBJECT_KINDS = ("person", "cat", "animal", "object")


def measure(li: LoadedImage, kind: Optional[str] = None) -> ImageStats:
    """All per-image measurements of one loaded image (the image itself is not kept).

    ``kind`` is what the captions call the subject: for an animal or an object no human face is
    searched (a dog's face is not a person's), and for a cat the cat-face cascade runs.
    """
    import cv2

    from ..core.deps import require

    imagehash = require("imagehash", "ImageHash", "Near-duplicate detection")
    rgb512 = np.asarray(li.image)
    gray512 = cv2.cvtColor(rgb512, cv2.COLOR_RGB2GRAY)
    face = main_face(gray512) if kind in (None, "person") else None
    animal_face = main_cat_face(gray512) if kind == "cat" else None
    outline: SubjectOutline = subject_outline(rgb512)
    sal = outline.box
    subj, source = (body_box(face), "face") if face is not None else (sal, "saliency")
    h0, w0 = rgb512.shape[:2]
    s = FEATURE_SIDE / max(h0, w0)
    rgb = cv2.resize(rgb512, (max(8, round(w0 * s)), max(8, round(h0 * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb512
    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0

    # background mask: outside the (slightly enlarged) subject box
    bx = Box(subj.x - 0.05, subj.y - 0.05, subj.w + 0.1, subj.h + 0.1)
    x0, y0, x1, y1 = bx.to_pixels(w, h)
    bg = np.ones((h, w), bool)
    bg[y0:y1, x0:x1] = False
    if bg.mean() < 0.12:  # subject fills the frame: the outer ring is the best background sample
        bg[:] = False
        r = max(2, round(0.08 * min(h, w)))
        bg[:r], bg[-r:], bg[:, :r], bg[:, -r:] = True, True, True, True

    layout = cv2.resize(lab, (GRID, GRID), interpolation=cv2.INTER_AREA)
    bg_cells = cv2.resize(bg.astype(np.float32), (GRID, GRID), interpolation=cv2.INTER_AREA)
    lum = lab[..., 0][bg]
    edges = cv2.Canny(gray, 60, 150)
    edge_density = float((edges[bg] > 0).mean()) if bg.any() else 0.0
    bg_std = float(lum.std()) if lum.size else 0.0
    plain = float(np.clip(1.0 - bg_std / 20.0, 0, 1) * np.clip(1.0 - edge_density / 0.06, 0, 1))

    cloth_hist = hair_hist = None
    cloth_col = hair_col = hair_len = None
    if face is not None:
        c = _region(rgb, clothing_box(face))
        if c is not None:
            cloth_hist, cloth_col = _hs_hist(c), colour_name(c.reshape(-1, 3))
        hr = _region(rgb, hair_box(face), min_px=24)
        if hr is not None:
            hair_hist, hair_col = _hs_hist(hr), colour_name(_darker_half(hr))
            hair_len = hair_length(rgb, face, hair_hist)

    L = lab[..., 0]
    maps = texture_maps(gray)
    thumb = li.image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=80)
    small = Image.fromarray(rgb)
    return ImageStats(
        name=li.name, size=li.size, format=li.format, mode=li.mode, face=face, subject=subj, subject_source=source, saliency=sal,
        phash=int(str(imagehash.phash(small)), 16), dhash=int(str(imagehash.dhash(small, 16)), 16),
        phash_mirror=int(str(imagehash.phash(small.transpose(Image.Transpose.FLIP_LEFT_RIGHT))), 16),
        local=local_features(gray),
        colour_hist=_hsv_hist(hsv, None), texture=texture_hist(maps, None), layout=layout, bg_cells=bg_cells,
        bg_hist=_hsv_hist(hsv, bg), bg_texture=texture_hist(maps, bg), bg_plainness=plain,
        bg_colour=colour_name(rgb[bg]) if bg.any() else "unknown",
        clothing_hist=cloth_hist, clothing_colour=cloth_col, hair_hist=hair_hist, hair_colour=hair_col,
        brightness=float(L.mean()), contrast=float(L.std()), warmth=float(lab[..., 2].mean()),
        sharpness=sharpness(gray512), thumb_jpeg=buf.getvalue(),
        hair_length=hair_len, subject_note=outline.reason, subject_touches=outline.touches, animal_face=animal_face,
    )


# --------------------------------------------------------------------------- pairwise similarities

def hist_intersection(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum())


def background_similarity(a: ImageStats, b: ImageStats) -> float:
    """0..1: how alike the two backgrounds are (colour distribution, layout where both show background, texture)."""
    hist = hist_intersection(a.bg_hist, b.bg_hist)
    tex = hist_intersection(a.bg_texture, b.bg_texture) / 2.0
    common = np.minimum(a.bg_cells, b.bg_cells) > 0.6
    n = int(common.sum())
    if n >= 6:
        de = np.sqrt(((a.layout[common] - b.layout[common]) ** 2).sum(-1)).mean()
        sim = 0.4 * hist + 0.4 * float(np.exp(-de / 15.0)) + 0.2 * tex
    else:
        sim = 0.7 * hist + 0.3 * tex
    # Little background visible in both (close-ups): weaker evidence, so a weaker score.
    return sim * min(1.0, n / MIN_COMMON_CELLS) if n < MIN_COMMON_CELLS else sim


def hamming(a: int, b: int) -> int:
    return int(bin(a ^ b).count("1"))


def similarity_matrix(stats: list[ImageStats], use_clip: bool) -> np.ndarray:
    """Cosine similarity of the global descriptors (CLIP embeddings when ``use_clip``)."""
    if not stats:
        return np.zeros((0, 0), np.float32)
    if use_clip:
        m = np.stack([s.clip for s in stats]).astype(np.float32)
    else:
        m = np.stack([s.global_vector for s in stats])
    m = m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-9)
    return np.clip(m @ m.T, -1.0, 1.0)


# --------------------------------------------------------------------------- optional CLIP

class ClipEmbedder:
    """Image embeddings from an open_clip model whose weights the user already has.

    ``spec`` is ``ARCH=WEIGHTS``: ``ARCH`` an open_clip model name (``ViT-B-32``) or a
    model-config JSON file; ``WEIGHTS`` a ``.safetensors`` file or a ``.bin``/``.pt`` state
    dict (loaded with ``weights_only=True``; never an arbitrary pickle). Nothing is downloaded.
    """

    def __init__(self, spec: str, device: str = "cpu") -> None:
        from ..core.torch_compat import ensure_torchvision

        ensure_torchvision()
        import open_clip
        import torch

        arch, sep, weights = spec.partition("=")
        if not sep or not arch.strip() or not weights.strip():
            raise ValueError(f"CLIP model '{spec}': expected ARCH=WEIGHTS, e.g. ViT-B-32=/models/clip/vit-b-32.safetensors")
        arch, wpath = arch.strip(), Path(weights.strip()).expanduser()
        if arch.endswith(".json"):
            cfg = Path(arch).expanduser()
            if not cfg.is_file():
                raise ValueError(f"CLIP config '{cfg}' does not exist")
            open_clip.add_model_config(cfg)
            arch = cfg.stem
        if arch not in open_clip.list_models():
            raise ValueError(f"Unknown open_clip architecture '{arch}'")
        if not wpath.is_file():
            raise ValueError(f"CLIP weights '{wpath}' do not exist")
        model = open_clip.create_model(arch, pretrained=None, device=device)
        if wpath.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(wpath))
        else:
            sd = torch.load(str(wpath), map_location="cpu", weights_only=True)
            if isinstance(sd, dict) and "state_dict" in sd:
                sd = sd["state_dict"]
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
        missing, _ = model.load_state_dict(sd, strict=False)
        visual_missing = [k for k in missing if k.startswith("visual.")]
        if visual_missing:
            raise ValueError(f"CLIP weights '{wpath}' lack {len(visual_missing)} image-tower tensors, e.g. {visual_missing[0]}")
        model.eval()
        self.model = model
        self.device = device
        self.name = f"{arch} ({wpath.name})"
        size = model.visual.image_size
        self.size = size if isinstance(size, int) else size[0]
        mean = getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def embed(self, image: Image.Image) -> np.ndarray:
        """Unit-length embedding of an RGB image (centre crop, CLIP normalisation)."""
        import torch
        from PIL import ImageOps

        im = ImageOps.fit(image.convert("RGB"), (self.size, self.size), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
        x = ((x - self.mean) / self.std).unsqueeze(0).to(self.device)
        with torch.no_grad():
            f = self.model.encode_image(x).float()[0]
        f = f / (f.norm() + 1e-9)
        return f.cpu().numpy()


#: Built CLIP embedders kept for the next check (a real model is hundreds of MB, so only a few).
CLIP_CACHE_SIZE = 2
_clip_cache: "OrderedDict[tuple, ClipEmbedder]" = OrderedDict()
_clip_lock = threading.Lock()


def _file_key(text: str) -> tuple[str, int, int]:
    """A file as a cache key: its real path, modification time and size (a replaced file is a new key)."""
    st = (p := Path(text.strip()).expanduser().resolve()).stat()
    return str(p), st.st_mtime_ns, st.st_size


def cached_clip_embedder(spec: str, device: str = "cpu") -> ClipEmbedder:
    """The :class:`ClipEmbedder` for ``spec``, built once and reused while its files are unchanged.

    Each Dataset-tab check used to build the model from its weights again (seconds, and the memory of a second
    copy while the first was still referenced). The key is the architecture (or the config file's path, mtime
    and size) with the weights file's path, mtime and size: editing or replacing either builds afresh. At most
    :data:`CLIP_CACHE_SIZE` are kept, least recently used dropped first. Built under a lock, so two requests at
    once build one model. A spec that cannot be built raises as :class:`ClipEmbedder` does and is not kept.
    """
    arch, _, weights = spec.partition("=")
    try:
        key = (_file_key(arch) if arch.strip().endswith(".json") else arch.strip(), _file_key(weights), device)
    except (OSError, ValueError):
        return ClipEmbedder(spec, device)  # a missing or unreadable file: its own clear message
    with _clip_lock:
        embedder = _clip_cache.get(key)
        if embedder is None:
            embedder = ClipEmbedder(spec, device)
            _clip_cache[key] = embedder
            while len(_clip_cache) > CLIP_CACHE_SIZE:
                _clip_cache.popitem(last=False)
        _clip_cache.move_to_end(key)
        return embedder
