"""Real photos (``tests/data/photos``, licences in its LICENSE-NOTES.md) and sets built from them that are bad in one known way.

Each builder writes a folder and returns it; ``check_of(name)`` runs the dataset check once
per session and caches the report, so the tables below can ask many questions cheaply.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image, ImageFilter

DATASETS = Path(__file__).resolve().parents[1] / "data" / "photos"

VARIED = ("person", "dog", "backpack", "teapot", "grey_sloth_plushie")


def real(name: str) -> Path:
    p = DATASETS / name
    if not p.is_dir():
        pytest.fail(f"real photo set missing: {p} (it ships with the repository)")
    return p


def _open(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def _face(img: Image.Image):
    from lib_ti.dataset.faces import main_face

    return main_face(np.asarray(img.convert("L")))


def _crop_around(img: Image.Image, box, scale: float) -> Image.Image:
    w, h = img.size
    cx, cy = (box.x + box.w / 2) * w, (box.y + box.h / 2) * h
    side = min(max(box.w * w, box.h * h) * scale, w, h)
    x0 = min(max(0, cx - side / 2), w - side)
    y0 = min(max(0, cy - side / 2), h - side)
    return img.crop((int(x0), int(y0), int(x0 + side), int(y0 + side))).resize((512, 512), Image.LANCZOS)


def build_closeups(dst: Path) -> Path:
    """All close-ups: the 4 detected selfies plus tight face crops of the half- and full-body shots."""
    src = real("person")
    for n in ("01", "02", "03", "04"):
        _open(src / f"{n}.jpg").save(dst / f"{n}.jpg", quality=95)
    for n in ("06", "07", "08"):
        img = _open(src / f"{n}.jpg")
        _crop_around(img, _face(img), 2.2).save(dst / f"{n}_crop.jpg", quality=95)
    return dst


def _paste_people(dst: Path, background: Image.Image) -> Path:
    """Head-and-shoulders cut-outs of the person pasted at varied places on ONE background photo."""
    src = real("person")
    spots = [(0.08, 0.25), (0.45, 0.3), (0.2, 0.4), (0.5, 0.15), (0.3, 0.35), (0.1, 0.3)]
    for k, n in enumerate(("01", "02", "03", "04", "06", "07")):
        img = _open(src / f"{n}.jpg")
        cut = _crop_around(img, _face(img), 2.0).resize((230, 230), Image.LANCZOS)
        canvas = background.copy()
        x, y = spots[k]
        canvas.paste(cut, (int(x * 512), int(y * 512)))
        canvas.save(dst / f"{n}.jpg", quality=92)
    return dst


def build_shared_background(dst: Path) -> Path:
    """The person composited onto one outdoor scene (river and buildings above the plush toy in sloth/01)."""
    scene = _open(real("grey_sloth_plushie") / "01.jpg")
    side = int(scene.height * 0.4)
    return _paste_people(dst, scene.crop((0, 0, side, side)).resize((512, 512), Image.LANCZOS))


def build_plain_background(dst: Path) -> Path:
    """The person composited onto a plain light-grey studio wall (with a faint gradient, like a real wall)."""
    ramp = np.linspace(205, 225, 512)[None, :, None] * np.ones((512, 1, 3))
    return _paste_people(dst, Image.fromarray(ramp.astype(np.uint8)))


def build_shared_background_objects(dst: Path) -> Path:
    """Teapot, dog, backpack and sloth crops composited onto one background photo."""
    bg = _open(real("backpack") / "04.jpg").resize((512, 512))
    picks = [("teapot", "00"), ("dog", "00"), ("teapot", "04"), ("grey_sloth_plushie", "02"), ("dog", "01")]
    for k, (s, n) in enumerate(picks):
        img = _open(real(s) / f"{n}.jpg").resize((512, 512))
        cut = img.crop((128, 128, 384, 384)).resize((200, 200))
        canvas = bg.copy()
        canvas.paste(cut, (60 + 40 * k, 150 + 20 * (k % 3)))
        canvas.save(dst / f"{k:02d}.jpg", quality=92)
    return dst


def build_near_duplicates(dst: Path) -> Path:
    """The varied teapot set plus a re-encoded, a resized and a slightly cropped copy."""
    src = real("teapot")
    for p in sorted(src.glob("*.jpg")):
        _open(p).save(dst / p.name, quality=95)
    a = _open(src / "00.jpg")
    buf = io.BytesIO()
    a.save(buf, "JPEG", quality=40)
    (dst / "00_reencoded.jpg").write_bytes(buf.getvalue())
    b = _open(src / "01.jpg")
    b.resize((b.width * 6 // 10, b.height * 6 // 10), Image.BICUBIC).save(dst / "01_resized.png")
    c = _open(src / "02.jpg")
    m = c.width // 25
    c.crop((m, m, c.width - m, c.height - m)).save(dst / "02_cropped.jpg", quality=90)
    return dst


def build_uniform_lighting(dst: Path) -> Path:
    """The varied person set with every photo's colour histogram matched to one photo (one light)."""
    from skimage.exposure import match_histograms

    src = real("person")
    ref = np.asarray(_open(src / "07.jpg"))
    for p in sorted(src.glob("*.jpg")):
        out = match_histograms(np.asarray(_open(p)), ref, channel_axis=-1)
        Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).save(dst / p.name, quality=95)
    return dst


def build_same_clothing(dst: Path) -> Path:
    """The person's photos with one blue T-shirt patch painted under every face."""
    from lib_ti.dataset.features import clothing_box

    src = real("person")
    shirt = _open(src / "07.jpg").crop((200, 420, 330, 500))  # the blue T-shirt of 07
    for n in ("01", "02", "03", "04", "06", "07", "08"):
        img = _open(src / f"{n}.jpg")
        box = clothing_box(_face(img))
        x0, y0, x1, y1 = box.to_pixels(*img.size)
        x0, y0 = max(0, x0 - 10), max(0, y0 - 10)
        x1, y1 = min(img.width, x1 + 10), min(img.height, y1 + 10)
        if x1 - x0 > 4 and y1 - y0 > 4:
            img.paste(shirt.resize((x1 - x0, y1 - y0)), (x0, y0))
        img.save(dst / f"{n}.jpg", quality=95)
    return dst


def build_blurry(dst: Path) -> Path:
    """The teapot set, every photo blurred (as if out of focus)."""
    for p in sorted(real("teapot").glob("*.jpg")):
        _open(p).resize((512, 512)).filter(ImageFilter.GaussianBlur(4)).save(dst / p.name, quality=95)
    return dst


def build_small(dst: Path) -> Path:
    """The teapot set at 256 px: below the 512 px training size."""
    for p in sorted(real("teapot").glob("*.jpg")):
        _open(p).resize((256, 256), Image.LANCZOS).save(dst / p.name, quality=95)
    return dst


def _crop_frac(img: Image.Image, box: tuple[float, float, float, float]) -> Image.Image:
    w, h = img.size
    return img.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))


def build_mirrors_and_crops(dst: Path) -> Path:
    """The teapot set plus three copies a person would call duplicates: ``01_mirror`` (01 flipped left-right),
    ``04_crop`` (04 with the left quarter of the frame cut off, not resized) and ``02_mirror_crop`` (02 flipped,
    then the outer fifth cut off the top and left and the rest scaled back to 768 px)."""
    src = real("teapot")
    for p in sorted(src.glob("*.jpg")):
        _open(p).save(dst / p.name, quality=95)
    _open(src / "01.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dst / "01_mirror.jpg", quality=90)
    _crop_frac(_open(src / "04.jpg"), (0.25, 0, 1, 1)).save(dst / "04_crop.jpg", quality=90)
    m = _crop_frac(_open(src / "02.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT), (0.2, 0.2, 1, 1))
    m.resize((768, 768), Image.LANCZOS).save(dst / "02_mirror_crop.jpg", quality=90)
    return dst


#: Hand-measured boxes (frame fractions) around whole bodies, with about 5 % margin: full-body shots in which
#: the animal or toy fills 60-80 % of the frame (the sitting-cat case of issue 14), none cut by the frame.
FULL_BODY_CROPS = {
    ("dog", "02"): (0.12, 0.12, 0.92, 0.92),
    ("dog", "03"): (0.08, 0.15, 0.95, 0.95),
    ("grey_sloth_plushie", "00"): (0.03, 0.28, 0.58, 0.98),
    ("grey_sloth_plushie", "03"): (0.15, 0.1, 0.85, 0.95),
    ("grey_sloth_plushie", "04"): (0.15, 0.15, 0.8, 0.9),
}


def build_full_body_animals(dst: Path) -> Path:
    """Tight crops around whole animals and toys (``FULL_BODY_CROPS``), saved at 768 px: full-body shots, no close-up."""
    for (s, n), box in FULL_BODY_CROPS.items():
        _crop_frac(_open(real(s) / f"{n}.jpg"), box).resize((768, 768), Image.LANCZOS).save(dst / f"{s}_{n}.jpg", quality=92)
    return dst


def build_frame_filling(dst: Path) -> Path:
    """Objects filling the frame: the middle of teapot/00 (the pot runs off three sides) at 768 px."""
    _crop_frac(_open(real("teapot") / "00.jpg"), (0.3, 0.2, 0.65, 0.55)).resize((768, 768), Image.LANCZOS).save(
        dst / "teapot_00_fill.jpg", quality=92)
    return dst


def build_captioned_sloth(dst: Path) -> Path:
    """The sloth set with a caption naming the class ("a grey sloth plushie toy ...") beside every photo."""
    for p in sorted(real("grey_sloth_plushie").glob("*.jpg")):
        _open(p).save(dst / p.name, quality=95)
        (dst / f"{p.stem}.txt").write_text("a grey sloth plushie toy sitting outdoors", encoding="utf-8")
    return dst


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "mirrors_and_crops": build_mirrors_and_crops,
    "full_body_animals": build_full_body_animals,
    "frame_filling": build_frame_filling,
    "captioned_sloth": build_captioned_sloth,
    "closeups": build_closeups,
    "shared_background": build_shared_background,
    "plain_background": build_plain_background,
    "shared_background_objects": build_shared_background_objects,
    "near_duplicates": build_near_duplicates,
    "uniform_lighting": build_uniform_lighting,
    "same_clothing": build_same_clothing,
    "blurry": build_blurry,
    "small": build_small,
}


@pytest.fixture(scope="session")
def real_dir() -> Callable[[str], Path]:
    return real


@pytest.fixture(scope="session")
def dataset_folder(tmp_path_factory) -> Callable[[str], Path]:
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name in VARIED:
            return real(name)
        if name not in made:
            made[name] = BUILDERS[name](tmp_path_factory.mktemp(name))
        return made[name]

    return get


@pytest.fixture(scope="session")
def check_of(dataset_folder) -> Callable[[str], dict]:
    from lib_ti.dataset.pipeline import check_folder

    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = check_folder(dataset_folder(name)).report
        return cache[name]

    return get


TINY_CLIP = {"embed_dim": 16,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """A random-weight open_clip model saved as safetensors: proves the code path, not the meaning."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("clip")
    cfg = d / "tilab-tiny-clip.json"
    cfg.write_text(json.dumps(TINY_CLIP), encoding="utf-8")
    open_clip.add_model_config(cfg)
    torch.manual_seed(0)
    model = open_clip.create_model("tilab-tiny-clip", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "w.safetensors"))
    torch.save(model.state_dict(), d / "w.bin")
    return f"{cfg}={d / 'w.safetensors'}"
