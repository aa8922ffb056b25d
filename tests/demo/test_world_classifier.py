"""The demo world draws what its captions say, and the classifier reads it back — the yardstick of every demo score."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from lib_ti.demo import classifier, examples, world


@pytest.mark.parametrize("scene", world.all_scenes(include_held_back=True), ids=lambda s: "-".join(asdict(s).values()))
def test_classifier_reads_every_drawn_scene(scene):
    rng = random.Random(hash(scene) & 0xFFFF)
    for _ in range(2):  # positions, exact sizes and colours jitter
        assert classifier.read(world.draw(scene, rng)) == classifier.Reading(**asdict(scene))


@pytest.mark.parametrize("scene", world.all_scenes(include_held_back=True), ids=lambda s: "-".join(asdict(s).values()))
def test_classifier_reads_drawn_scenes_through_a_blur(scene):
    """Why: a 64 px model's decoder softens every edge (small triangles come back with rounded corners); the reader
    must still read what was drawn. A Gaussian blur of 2 px rounds corners about as much."""
    from PIL import Image, ImageFilter

    img = Image.fromarray(world.draw(scene, random.Random(hash(scene) & 0xFFFF))).filter(ImageFilter.GaussianBlur(2))
    assert classifier.read(img) == classifier.Reading(**asdict(scene))


@pytest.mark.parametrize("shape, share", [("triangle", 0.25), ("square", 0.5), ("circle", 0.5)])
def test_an_upright_triangle_has_a_quarter_of_its_area_in_the_top_half(shape, share):
    mask = world._shape_mask(shape, 32, 32, 40) > 0.5
    rows, cols = np.where(mask.any(axis=1))[0], np.where(mask.any(axis=0))[0]
    box = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert classifier.top_share(box) == pytest.approx(share, abs=0.02)


READ_BY_EYE = sorted((Path(__file__).parent / "data" / "read_by_eye").glob("*.png"))


def test_classifier_reads_the_models_own_pictures_as_a_person_does():
    """35 small pictures the bundled model drew, named by the shape a person sees in them (``<shape>-NN.png``;
    see ``data/read_by_eye/README.md``). Why: every demo score is this reader's; on the model's soft, rounded
    output it must agree with the eye at least as often as the model must be right (0.9). Reading triangles by
    template overlap alone agreed on 26 of 35."""
    from PIL import Image

    assert len(READ_BY_EYE) == 35
    agree = [classifier.read(Image.open(p)).shape == p.stem.split("-")[0] for p in READ_BY_EYE]
    assert sum(agree) >= 0.9 * len(agree), [p.name for p, ok in zip(READ_BY_EYE, agree) if not ok]


def test_an_empty_picture_has_no_object():
    img = np.full((64, 64, 3), world.BACKGROUNDS["gray"], np.uint8)
    assert classifier.read(img) == classifier.Reading("gray", None, None, None)


@pytest.mark.parametrize("wanted, expected", [
    (dict(colour="blue"), True),
    (dict(colour="blue", shape="circle", size=None), True),
    (dict(colour="blue", shape="square"), False),
    (dict(background="white"), False),
])
def test_matches_checks_only_what_the_prompt_names(wanted, expected):
    img = world.draw(world.Scene("blue", "circle", "large", "black"), random.Random(0))
    assert classifier.read(img).matches(wanted) is expected


def test_score_and_share_count_pictures():
    rng = random.Random(1)
    imgs = [world.draw(world.Scene("red", "square", "small", bg), rng) for bg in ("white", "white", "black", "gray")]
    assert classifier.score(imgs, dict(colour="red", shape="square")) == 1.0
    assert classifier.share(imgs, "background", "white") == 0.5
    assert classifier.score([], dict(colour="red")) == 0.0


def test_world_is_seeded_and_holds_back_the_concept():
    first = [(s, im.tobytes()) for s, im in world.samples(20, seed=3)]
    again = [(s, im.tobytes()) for s, im in world.samples(20, seed=3)]
    assert first == again
    assert all((s.colour, s.shape) != world.HELD_BACK for s, _ in world.samples(300, seed=4))


@pytest.mark.parametrize("scene, rng, caption", [
    (world.Scene("red", "circle", "large", "white"), None, "a photo of a large red circle on a white background"),
    (world.Scene("blue", "square", "small", "gray"), None, "a photo of a small blue square on a gray background"),
])
def test_captions_name_what_is_drawn(scene, rng, caption):
    assert scene.caption(rng) == caption


def test_random_captions_leave_attributes_out_but_always_name_the_shape():
    rng = random.Random(0)
    scene = world.Scene("green", "triangle", "small", "brown")
    captions = {scene.caption(rng) for _ in range(200)}
    assert all("triangle" in c for c in captions)
    assert "a photo of a green triangle" in captions and len(captions) > 4


def test_example_sets_caption_everything_but_the_concept(tmp_path):
    folder = examples.write_set(tmp_path / "set", examples.concept_scenes(backgrounds=["white"]), 4, seed=0)
    pngs, txts = sorted(folder.glob("*.png")), sorted(folder.glob("*.txt"))
    assert len(pngs) == len(txts) == 4
    assert {t.read_text(encoding="utf-8").strip() for t in txts} == {"small, on a white background",
                                                                     "large, on a white background"}
    from PIL import Image

    for png in pngs:
        r = classifier.read(Image.open(png))
        assert (r.colour, r.shape, r.background) == (*world.HELD_BACK, "white")


def test_the_bundled_example_set_is_what_the_writer_writes(tmp_path):
    """Why: the example set is committed; it must stay the reproducible set of a concept the model can draw."""
    import numpy as np
    from PIL import Image

    from lib_ti.demo import EXAMPLE_SET

    fresh = examples.write_example_set(tmp_path / "set")
    assert sorted(p.name for p in EXAMPLE_SET.iterdir()) == sorted(p.name for p in fresh.iterdir())
    for png in sorted(EXAMPLE_SET.glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(fresh / png.name))), png.name
        assert classifier.read(Image.open(png)).colour == examples.EXAMPLE_CONCEPT[0]
        assert classifier.read(Image.open(png)).shape == examples.EXAMPLE_CONCEPT[1]
    for txt in sorted(EXAMPLE_SET.glob("*.txt")):
        assert txt.read_text(encoding="utf-8") == (fresh / txt.name).read_text(encoding="utf-8")


class _Posterior:
    def __init__(self, x):
        self.x = x

    def mode(self):
        return self.x


class _RoundTrip:
    """A VAE-shaped pair of functions: ``encode`` keeps the picture, ``decode`` applies ``damage`` to it."""

    def __init__(self, damage):
        self.damage = damage

    def encode(self, x):
        return _Posterior(x)

    def decode(self, z):
        return self.damage(z)


@pytest.mark.parametrize("damage, expected", [
    (lambda x: x, dict(colour=1.0, shape=1.0, size=1.0, background=1.0, all=1.0)),  # a perfect round trip
    (lambda x: x * 0.0, dict(colour=0.0, shape=0.0, size=0.0, all=0.0)),             # all gray: no object left
])
def test_vae_round_trip_reads_back_what_the_vae_returns(damage, expected):
    from lib_ti.demo.evaluate import vae_round_trip

    reading = vae_round_trip(_RoundTrip(damage), count=12, seed=3)
    assert {k: reading[k] for k in expected} == expected
