"""Preparing a training folder, the command line, and the optional CLIP feature path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_ti.cli import main
from lib_ti.dataset.faces import main_face
from lib_ti.dataset.prepare import crop_box, prepare_folder


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("w,h,face,box", [
    (800, 600, None, (100, 0, 700, 600)),                         # centre
    (600, 800, None, (0, 100, 600, 700)),
    (600, 800, (0.4, 0.05, 0.2, 0.15), (0, 0, 600, 600)),         # face near the top: window clamped at the top
    (1000, 500, (0.8, 0.3, 0.1, 0.2), (500, 0, 1000, 500)),      # face on the right: window clamped right
])
def test_crop_box(w, h, face, box):
    assert crop_box(w, h, face) == box


def test_prepare_writes_face_crops_flips_and_captions_without_touching_sources(real_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for n in ("01", "06", "08"):
        Image.open(real_dir("person") / f"{n}.jpg").save(src / f"{n}.jpg", quality=95)
    Image.open(real_dir("teapot") / "00.jpg").resize((700, 500)).save(src / "wide.png")
    (src / "06.txt").write_text("a man at night, black parka", encoding="utf-8")
    (src / "broken.jpg").write_bytes(b"nope")
    before = _digest(src)
    res = prepare_folder(src, tmp_path / "out", size=256, crop="face", flip=True)
    assert _digest(src) == before
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["01.png", "01_flipped.png", "06.png", "06.txt", "06_flipped.png", "06_flipped.txt", "08.png",
                     "08_flipped.png", "wide.png", "wide_flipped.png"]
    assert [s.name for s in res.skipped] == ["broken.jpg"] and res.faces_found == 3
    for n in names:
        if n.endswith(".png"):
            assert Image.open(tmp_path / "out" / n).size == (256, 256)
    a = np.asarray(Image.open(tmp_path / "out" / "06.png"))
    assert np.array_equal(a[:, ::-1], np.asarray(Image.open(tmp_path / "out" / "06_flipped.png")))
    assert (tmp_path / "out" / "06_flipped.txt").read_text(encoding="utf-8") == "a man at night, black parka"


@pytest.mark.parametrize("crop,face_kept", [("face", True), ("centre", False)])
def test_face_crop_follows_the_face_off_centre(real_dir, tmp_path, crop, face_kept):
    src = tmp_path / "src"
    src.mkdir()
    wide = Image.new("RGB", (1200, 512), (120, 120, 120))
    person = Image.open(real_dir("person") / "07.jpg").convert("RGB")
    wide.paste(person, (688, 0))  # the person at the far right
    wide.save(src / "wide.png")
    prepare_folder(src, tmp_path / "out", size=512, crop=crop)
    out = np.asarray(Image.open(tmp_path / "out" / "wide.png").convert("RGB")).astype(int)
    assert (main_face(np.asarray(Image.fromarray(out.astype(np.uint8)).convert("L"))) is not None) is face_kept
    if face_kept:
        assert np.abs(out - np.asarray(person).astype(int)).mean() < 3  # exactly the right-hand square


@pytest.mark.parametrize("dst", [".", "inside"])
def test_prepare_refuses_to_write_over_sources(tmp_path, dst):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match="must not be the source folder"):
        prepare_folder(tmp_path, tmp_path / dst)


def test_cli_check_writes_json_html_and_last_report(dataset_folder, tmp_path, capsys):
    folder = dataset_folder("closeups")
    rc = main(["check", str(folder), "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"),
               "--data-dir", str(tmp_path / "data")])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("Fix before training") and "Replace" in out
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["schema"] == "tilab.dataset-report/1"
    assert "data:image/jpeg;base64," in (tmp_path / "r.html").read_text(encoding="utf-8")
    from lib_ti.dataset.store import load_last_report

    assert load_last_report(tmp_path / "data", folder)["verdict"] == report["verdict"]


def test_cli_json_to_stdout_and_bad_folder(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing"), "--no-save"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"")
    assert main(["check", str(tmp_path), "--json", "--no-save"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == [{"name": "x.png", "reason": "empty file (0 bytes)"}]
    assert report["verdict"]["level"] == "blocked"


def test_cli_prepare(real_dir, tmp_path, capsys):
    assert main(["prepare", str(real_dir("teapot")), str(tmp_path / "o"), "--size", "128", "--crop", "centre"]) == 0
    assert "wrote 5 images" in capsys.readouterr().out
    assert len(list((tmp_path / "o").glob("*.png"))) == 5


@pytest.mark.parametrize("weights", ["w.safetensors", "w.bin"])
def test_clip_features_are_used_and_named(dataset_folder, tiny_clip, weights):
    from lib_ti.dataset.pipeline import check_folder

    spec = tiny_clip.replace("w.safetensors", weights)
    report = check_folder(dataset_folder("near_duplicates"), clip=spec).report
    feats = report["features"]
    assert feats["kind"] == "classical+clip" and feats["similarity"] == "clip"
    assert feats["clip_model"] == f"tilab-tiny-clip ({weights})" and "CLIP" in feats["description"]
    classical = check_folder(dataset_folder("near_duplicates")).report["similarity"]["global"]
    assert report["similarity"]["global"] != classical
    m = np.array(report["similarity"]["global"])
    assert np.allclose(np.diag(m), 1.0, atol=1e-3)


@pytest.mark.parametrize("spec,message", [
    ("ViT-B-32", "expected ARCH=WEIGHTS"),
    ("No-Such-Arch=/x.safetensors", "Unknown open_clip architecture"),
    ("ViT-B-32=/nowhere/w.safetensors", "do not exist"),
])
def test_clip_spec_errors_are_clear(spec, message):
    from lib_ti.dataset.features import ClipEmbedder

    with pytest.raises(ValueError, match=message):
        ClipEmbedder(spec)
