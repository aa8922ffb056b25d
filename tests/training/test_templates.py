"""Templates, captions and tag dropout/shuffle: filled exactly as the host's trainer fills them."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest
from host_source import host_skip_reason, read_host_file

from lib_ti.training.dataset import EpochSampler, effective_sizes, epoch_position
from lib_ti.training.templates import (
    PromptMaker, TEMPLATES_DIR, available_templates, caption_from_filename, read_caption, read_template,
    resolve_template,
)



@pytest.mark.parametrize("line, caption, expected", [
    ("a photo of [name], [filewords]", "red, cat", "a photo of zork, red, cat"),
    ("[filewords] in the style of [name]", " red ,cat ", " red ,cat  in the style of zork"),
    ("a photo of [name]", "ignored caption", "a photo of zork"),
    # host replaces [filewords] first, so a caption's own "[name]" becomes the name too
    ("[filewords]", "a [name] here", "a zork here"),
    ("[name] and [name]", "", "zork and zork"),
])
def test_fill_without_randomness(line, caption, expected):
    maker = PromptMaker([line], "zork", random.Random(0))
    assert not maker.per_sample
    assert maker.make(caption) == expected


@pytest.mark.parametrize("dropout, shuffle, caption, check", [
    (1.0, False, "a, b, c", lambda out: out == "x "),            # random() > 1.0 never: every tag dropped
    (0.0, True, "a, b, c", lambda out: sorted(out[2:].split(",")) == sorted("a, b, c".split(","))),
    (0.5, False, "a,b,c,d,e,f,g,h", lambda out: set(out[2:].split(",")) <= set("abcdefgh")),
])
def test_dropout_and_shuffle_tables(dropout, shuffle, caption, check):
    maker = PromptMaker(["x [filewords]"], "n", random.Random(3), shuffle_tags=shuffle, tag_dropout=dropout)
    assert maker.per_sample
    assert check(maker.make(caption))


def test_dropout_rate_is_the_probability_of_dropping():
    maker = PromptMaker(["[filewords]"], "n", random.Random(1), tag_dropout=0.3)
    tags = ",".join(str(i) for i in range(20))
    kept = sum(len([t for t in maker.make(tags).split(",") if t]) for _ in range(500))
    assert 0.65 < kept / (500 * 20) < 0.75


def _host_create_text():
    """The host's own ``create_text`` (read from the mirror, run in isolation) for parity checks."""
    src = read_host_file("modules/textual_inversion/dataset.py")
    tree = ast.parse(src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PersonalizedBase")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "create_text")
    ns = {"random": random}
    exec(compile(ast.Module([fn], []), "host_create_text", "exec"), ns)
    return ns["create_text"]


@pytest.mark.skipif(bool(host_skip_reason()), reason=host_skip_reason() or "host given")
@pytest.mark.parametrize("dropout, shuffle", [(0.0, False), (0.0, True), (0.4, False), (0.4, True), (0.9, True)])
def test_same_draws_as_host(dropout, shuffle):
    host = _host_create_text()
    lines = read_template(TEMPLATES_DIR / "subject_filewords.txt")

    class FakeSelf:
        pass

    me = FakeSelf()
    me.lines, me.tag_drop_out, me.shuffle_tags, me.placeholder_token = lines, dropout, shuffle, "zork"
    caption = "a cat, red collar, sitting, indoors, soft light, wooden floor"
    random.seed(11)
    expected = [host(me, caption) for _ in range(30)]
    maker = PromptMaker(lines, "zork", random.Random(11), shuffle_tags=shuffle, tag_dropout=dropout)
    assert [maker.make(caption) for _ in range(30)] == expected


@pytest.mark.parametrize("filename, regex, join, expected", [
    ("001-cat.png", "", " ", "cat"),
    ("12 a dog.jpg", "", " ", "a dog"),
    ("-5-x.png", "", " ", "x"),
    ("cat-01.png", "", " ", "cat-01"),
    ("3 red_fox-run.png", r"\w+", " ", "red_fox run"),
    ("3 red_fox-run.png", r"[a-z]+", "+", "red+fox+run"),
])
def test_caption_from_filename(filename, regex, join, expected):
    assert caption_from_filename(filename, regex, join) == expected


def test_sidecar_caption_is_read_raw(tmp_path):
    img = tmp_path / "01-thing.png"
    img.write_bytes(b"")
    assert read_caption(img) == "thing"
    (tmp_path / "01-thing.txt").write_text(" tag one, tag two\n", encoding="utf-8")
    assert read_caption(img) == " tag one, tag two\n"


@pytest.mark.parametrize("name", ["subject", "style", "subject_filewords", "style_filewords"])
def test_shipped_templates(name):
    path = resolve_template(name)
    assert path == resolve_template(name + ".txt")
    lines = read_template(path)
    assert len(lines) >= 10 and all(lines)
    assert all("[name]" in line for line in lines)
    assert all(("[filewords]" in line) == name.endswith("filewords") for line in lines)


def test_unknown_template_message_lists_choices():
    with pytest.raises(ValueError, match="not found. Available: .*subject"):
        resolve_template("nope")
    assert "subject" in available_templates()


@pytest.mark.parametrize("n, bs, gs, expected", [
    (10, 1, 1, (1, 1)), (3, 8, 1, (3, 1)), (10, 4, 5, (4, 2)), (5, 2, 2, (2, 2)), (1, 1, 4, (1, 1)),
])
def test_host_batch_and_accumulation_clamps(n, bs, gs, expected):
    assert effective_sizes(n, bs, gs) == expected


@pytest.mark.parametrize("n, bs, gs, per_epoch, steps_per_epoch", [
    (5, 2, 2, 2, 1), (10, 3, 1, 3, 3), (7, 1, 3, 6, 2),
])
def test_epoch_sampler_drops_like_host(n, bs, gs, per_epoch, steps_per_epoch):
    s = EpochSampler(n, bs, gs, random.Random(0))
    assert s.batches_per_epoch == per_epoch and s.steps_per_epoch == steps_per_epoch
    batches = [s.next() for _ in range(per_epoch)]
    assert s.epoch == 0 and not s.queue
    flat = [i for b in batches for i in b]
    assert all(len(b) == bs for b in batches) and len(set(flat)) == len(flat)
    s.next()
    assert s.epoch == 1


@pytest.mark.parametrize("step, per_epoch, expected", [(1, 5, (0, 0)), (5, 5, (0, 4)), (6, 5, (1, 0)), (7, 3, (2, 0))])
def test_csv_epoch_columns(step, per_epoch, expected):
    assert epoch_position(step, per_epoch) == expected
