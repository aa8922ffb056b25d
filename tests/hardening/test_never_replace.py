"""Nothing a user already has is replaced silently (issue 10, item 9): ``train --name X`` with an existing
``X.pt`` and ``prepare`` into a folder holding same-named files."""

from __future__ import annotations

import hashlib

import torch
from PIL import Image

from lib_ti.cli import main
from lib_ti.model.embeddings import Embedding, save_embedding


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_train_with_an_existing_name_refuses_and_keeps_the_file(tmp_path, capsys):
    root = tmp_path / "root"
    existing = save_embedding(Embedding("zork", torch.ones(1, 32), step=5), root / "embeddings" / "zork.pt")
    before = _digest(existing)
    (tmp_path / "data").mkdir()
    code = main(["train", "--name", "zork", "--data", str(tmp_path / "data"), "--ckpt", str(tmp_path / "none.ckpt"),
                 "--data-root", str(root)])
    err = capsys.readouterr().err
    assert code != 0 and "zork.pt already exists" in err
    assert _digest(existing) == before


def test_prepare_never_replaces_files_already_in_the_output_folder(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (96, 80), (200, 30, 30)).save(src / f"{name}.jpg")
        (src / f"{name}.txt").write_text(f"photo {name}")
    (dst / "a.png").write_bytes(b"my own picture")
    (dst / "b.txt").write_text("my own caption")
    assert main(["prepare", str(src), str(dst), "--size", "64", "--crop", "centre"]) == 0
    out = capsys.readouterr().out
    assert (dst / "a.png").read_bytes() == b"my own picture"
    assert (dst / "b.txt").read_text() == "my own caption"
    assert "skipped a.jpg: a.png already in the output folder; not replaced" in out
    assert "skipped b.jpg: b.txt already in the output folder; not replaced" in out
