"""The Dataset tab's optional fields (issue 10, item 3): the CLIP model is built once and reused while its files are
unchanged, and the template field goes through the path guard before anything looks at the disk, so a client of a
shared server gets the same answer for a file outside the allowed folders whether or not it exists."""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from pathlib import Path

import pytest
from PIL import Image

from lib_ti.core.paths import PathGuard
from lib_ti.dataset import features
from lib_ti.dataset.captions_aware import looks_like_path
from lib_ti.dataset.store import load_last_report
from lib_ti.ui.dataset_tab import run_check
from lib_ti.ui.standalone import make_context


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    """Every CLIP model build (the real open_clip call, counted), with an empty cache."""
    import open_clip

    made: list[str] = []
    real_create = open_clip.create_model

    def counting(name, *args, **kwargs):
        made.append(name)
        return real_create(name, *args, **kwargs)

    monkeypatch.setattr(open_clip, "create_model", counting)
    monkeypatch.setattr(features, "_clip_cache", OrderedDict())
    return made


def _folder(root: Path) -> Path:
    folder = root / "set"
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64), (120, 30, 30)).save(folder / "a.png")
    Image.new("RGB", (64, 64), (30, 120, 30)).save(folder / "b.png")
    return folder


def test_second_check_does_not_build_clip_again(tmp_path, tiny_clip, builds):
    ctx = make_context("127.0.0.1", tmp_path / "data")
    folder = _folder(tmp_path)
    for _ in range(2):
        out = run_check(ctx, str(folder), 64, False, "", tiny_clip)
        assert out.status.startswith("<div class='tilab-status'>Checked 2 images"), out.status
        assert load_last_report(ctx.data_dir, folder)["features"]["similarity"] == "clip"
    assert builds == ["tilab-tiny-clip"]
    weights = Path(tiny_clip.partition("=")[2])
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the weights file was replaced
    run_check(ctx, str(folder), 64, False, "", tiny_clip)
    assert builds == ["tilab-tiny-clip"] * 2


#: requests in order (weights file names) → builds counted after each; the cache keeps CLIP_CACHE_SIZE = 2
SEQUENCES = [
    (["w.safetensors", "w.safetensors", "w.bin", "w.safetensors", "w.bin"], [1, 1, 2, 2, 2]),
    (["w.safetensors", "w.bin", "w2.safetensors", "w.bin", "w.safetensors"], [1, 2, 3, 3, 4]),  # LRU drop
]


@pytest.mark.parametrize("requests,expected", SEQUENCES)
def test_cache_is_small_and_least_recently_used(tiny_clip, builds, requests, expected):
    assert features.CLIP_CACHE_SIZE == 2
    cfg, _, weights = tiny_clip.partition("=")
    folder = Path(weights).parent
    shutil.copyfile(folder / "w.safetensors", folder / "w2.safetensors")
    counts = []
    for name in requests:
        embedder = features.cached_clip_embedder(f"{cfg}={folder / name}")
        assert embedder.name == f"tilab-tiny-clip ({name})"
        counts.append(len(builds))
    assert counts == expected


def test_a_spec_that_fails_is_not_kept(tiny_clip, builds):
    cfg, _, weights = tiny_clip.partition("=")
    with pytest.raises(ValueError, match="do not exist"):
        features.cached_clip_embedder(f"{cfg}={weights}.missing")
    assert len(features._clip_cache) == 0


def _restricted(tmp_path: Path):
    data = tmp_path / "data"
    ctx = make_context("127.0.0.1", data)
    ctx.guard = PathGuard.restricted_to([data], "shared server")
    return ctx, _folder(data)


@pytest.mark.parametrize("typed", ["{outside}/exists.txt", "{outside}/exists", "~/../{outside_rel}/exists.txt"])
def test_template_outside_is_refused_alike_whether_or_not_it_exists(tmp_path, typed):
    ctx, folder = _restricted(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "exists.txt").write_text("a photo of [name] by a white wall", encoding="utf-8")
    (outside / "exists").write_text("a photo of [name]", encoding="utf-8")
    home_rel = os.path.relpath(outside, Path.home().parent)
    answers = []
    for name in ("exists", "missing"):
        text = typed.format(outside=outside, outside_rel=home_rel).replace("exists", name)
        out = run_check(ctx, str(folder), 64, False, text, "")
        assert "outside the allowed folders" in out.status, out.status
        answers.append(out.status.replace(name, "X"))
    assert answers[0] == answers[1], "an existing and a missing file must get the same answer"


def test_template_inside_the_allowed_folders_is_read_and_text_is_text(tmp_path):
    ctx, folder = _restricted(tmp_path)
    tmpl = ctx.data_dir / "style.txt"
    tmpl.write_text("a photo of [name], red", encoding="utf-8")
    out = run_check(ctx, str(folder), 64, False, str(tmpl), "")
    assert out.status.startswith("<div class='tilab-status'>Checked 2 images"), out.status
    assert load_last_report(ctx.data_dir, folder)["options"]["template"] == str(tmpl.resolve())
    out = run_check(ctx, str(folder), 64, False, str(ctx.data_dir / "nope.txt"), "")
    assert "does not exist" in out.status and "nope.txt" in out.status
    out = run_check(ctx, str(folder), 64, False, "a photo of [name], red", "")
    assert out.status.startswith("<div class='tilab-status'>Checked 2 images"), out.status
    assert load_last_report(ctx.data_dir, folder)["options"]["template"] == "a photo of [name], red"


@pytest.mark.parametrize("text,is_path", [
    ("/srv/templates/style.txt", True),
    ("style.txt", True),
    ("~/templates/subject", True),
    ("templates\\style_filewords.txt", True),
    ("a photo of [name]", False),
    ("a photo of [name], [filewords]", False),
    ("/etc/[name]", False),  # placeholders: a template, whatever else it holds
    ("a photo of a dog/cat", True),  # a separator and no placeholder: read as a path (and guarded)
    ("a photo of [name]\n/srv/x.txt", False),
    ("close-up photo", False),
])
def test_whether_a_template_is_a_path_is_decided_from_the_text_alone(text, is_path):
    assert looks_like_path(text) is is_path
