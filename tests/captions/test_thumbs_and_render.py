"""Thumbnails are made lazily and cached outside the dataset; the tab's HTML renderers never raise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import make_image
from lib_ti.captions import edits, stats
from lib_ti.captions.session import CaptionSession
from lib_ti.captions.thumbs import thumb_path, thumbnail
from lib_ti.ui import captions_tab


def test_thumbnail_is_cached_and_refreshed_when_the_image_changes(tmp_path: Path):
    img = make_image(tmp_path / "a.png", size=(1000, 500))
    cache = tmp_path / "cache"
    t1 = thumbnail(img, cache)
    from PIL import Image

    with Image.open(t1) as im:
        assert max(im.size) == 256 and im.size[0] == 2 * im.size[1]
    mtime = os.stat(t1).st_mtime_ns
    assert thumbnail(img, cache) == t1 and os.stat(t1).st_mtime_ns == mtime  # cached, not redone
    make_image(img, (1, 2, 3), size=(300, 300))
    st = os.stat(img)
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert thumb_path(img, cache) != t1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "cache"]  # nothing added beside the images


def test_rgba_and_palette_images_get_thumbnails(tmp_path: Path):
    from PIL import Image

    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(tmp_path / "t.png")
    Image.new("P", (64, 64)).save(tmp_path / "p.gif")
    for name in ("t.png", "p.gif"):
        with Image.open(thumbnail(tmp_path / name, tmp_path / "c")) as im:
            assert im.mode == "RGB"


def test_gallery_page_makes_only_the_page_it_shows(tmp_path: Path):
    d = tmp_path / "set"
    d.mkdir()
    for i in range(captions_tab.PAGE + 5):
        make_image(d / f"{i:03d}.png")
    (d / "zz.png").write_bytes(b"broken")
    s = CaptionSession.open(d)
    cache = tmp_path / "cache"
    items, label, problems = captions_tab.gallery_page(s, 0, cache)
    assert len(items) == captions_tab.PAGE and label.startswith("Page 1 of 2")
    assert len(list(cache.rglob("*.jpg"))) == captions_tab.PAGE
    items, label, problems = captions_tab.gallery_page(s, 1, cache)
    assert len(items) == 5 and problems and "zz.png" in problems[0]
    assert items[0][1] == f"{captions_tab.PAGE:03d}.png · no caption"
    assert captions_tab.gallery_page(s, 0, cache)[0][0][1] == "▶ 000.png · no caption"  # the current image


def test_render_tokens_marks_the_chunk_boundary():
    out = captions_tab.render_tokens_when_ready("dog " * 80)
    assert "80/150" in out and "2 chunks" in out and out.count("tilab-cap-chunk") == 2
    assert "1/75" in captions_tab.render_tokens("dog") and "chunk" not in captions_tab.render_tokens("dog")


def test_render_preview_escapes_and_limits():
    changes = [edits.Change(f"{i}.png", "<b>dog</b>", "<b>cat</b>") for i in range(3)]
    out = captions_tab.render_preview(changes, limit=2)
    assert "3 caption(s) will change" in out and "&lt;b&gt;" in out and "<b>dog" not in out and "1 more" in out
    assert "No caption would change" in captions_tab.render_preview([])


def test_render_stats_highlights_and_links_to_the_dataset_tab():
    report = {"shared_attributes": [{"kind": "background", "description": "white <wall>", "terms": ["white wall"],
                                     "images": ["a.png"], "named_in_captions": False}]}
    st = stats.caption_stats({"a.png": "corgi dog", "b.png": "corgi dog on grass", "c.png": "cat"}, report)
    out = captions_tab.render_stats(st)
    assert '<tr class="tilab-cap-most"><td>corgi dog</td>' in out
    assert "white &lt;wall&gt;" in out and "data-tilab-goto='Dataset'" in out


@pytest.mark.parametrize("text", ["", "(unclosed", "(dog:1.2.3)", "BREAK", "\u0000", "a" * 5000])
def test_render_tokens_never_raises(text):
    assert "CLIP tokens" in captions_tab.render_tokens_when_ready(text)


@pytest.mark.parametrize("major, kind", [(3, str), (4, str), (5, "PIL")])
def test_for_display_decodes_only_where_gradio_refuses_foreign_paths(tmp_path: Path, monkeypatch, major, kind):
    from lib_ti.ui import compat

    img = make_image(tmp_path / "a.png", size=(2000, 1000))
    monkeypatch.setattr(compat, "gradio_major", lambda: major)
    out = captions_tab.for_display(img, preview=True)
    if kind is str:
        assert out == str(img)
    else:
        assert out.mode == "RGB" and out.size == (1024, 512)
