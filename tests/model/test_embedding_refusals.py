"""Embedding files that are not what their name says: every loader refusal names the file (issue 10, item 14).

Before: a text file named ``.pt`` raised ``KeyError`` in every command that loads embeddings; a PNG embedding with
a string where a tensor belongs raised ``TypeError``, one with very deep JSON ``RecursionError``; a NaN input
embedding was blamed on the output file by ``embedding weaken``.
"""

from __future__ import annotations

import base64
import json

import pytest
import torch
from PIL import Image, PngImagePlugin

from lib_ti.cli import main
from lib_ti.model.embeddings import Embedding, load_embedding, save_embedding


def _png(path, text: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("sd-ti-embedding", text)
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)


def _b64(obj) -> str:
    return base64.b64encode(obj if isinstance(obj, bytes) else json.dumps(obj).encode()).decode()


BAD_FILES = [
    ("text.pt", lambda p: p.write_text("hello, I am a text file"), "not a PyTorch file"),
    ("empty.bin", lambda p: p.write_bytes(b""), "empty"),
    ("broken-zip.pt", lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "damaged or not a PyTorch"),
    ("string-tensor.png",
     lambda p: _png(p, _b64({"string_to_param": {"*": {"TORCHTENSOR": "abc"}}, "name": "x"})), "not valid embedding"),
    ("deep.png", lambda p: _png(p, _b64(b"[" * 100_000 + b"]" * 100_000)), "nested too deeply"),
    ("bad-step.png",
     lambda p: _png(p, _b64({"string_to_param": {"*": {"TORCHTENSOR": [[1.0, 2.0]]}}, "step": "soon"})),
     "not a whole number"),
]


@pytest.mark.parametrize("name, make, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_embedding_files_are_refused_by_name(tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError) as info:
        load_embedding(path)
    assert name in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("name, make, message", BAD_FILES[:2], ids=[b[0] for b in BAD_FILES[:2]])
def test_cli_commands_that_load_embeddings_say_which_file(tmp_path, capsys, name, make, message):
    path = tmp_path / name
    make(path)
    for argv in (["embedding", "inspect", str(path)], ["embedding", "weaken", str(path), "--scale", "0.5"],
                 ["embedding", "convert", str(path), "--to", "safetensors"]):
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err


def test_a_nan_input_embedding_is_blamed_on_the_input(tmp_path, capsys):
    src = tmp_path / "broken.safetensors"
    from safetensors.torch import save_file

    save_file({"emb_params": torch.tensor([[1.0, float("nan")]])}, str(src))
    assert main(["embedding", "weaken", str(src), "--scale", "0.5", "--out", str(tmp_path / "out.pt")]) == 1
    err = capsys.readouterr().err
    assert "broken.safetensors" in err and "out.pt" not in err
    assert not (tmp_path / "out.pt").exists()


def test_good_files_still_load(tmp_path):
    path = save_embedding(Embedding("ok", torch.ones(2, 4), step=3), tmp_path / "ok.pt")
    assert load_embedding(path).step == 3
