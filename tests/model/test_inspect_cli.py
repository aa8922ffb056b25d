"""The Inspect report and ``python -m lib_ti embedding create|inspect|weaken|convert``."""

from __future__ import annotations

import json

import pytest
import torch

from lib_ti.cli import main
from lib_ti.model.embeddings import Embedding, create_embedding, load_embedding, scale_embedding
from lib_ti.model.inspect import inspect_embedding


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_nearest_token_of_an_embedding_made_from_a_word_is_that_word(backends, kind):
    emb = create_embedding(backends[kind], "x", 2, "cat dog")
    report = inspect_embedding(emb, backends[kind], top_k=3)
    assert [r["nearest"][0]["token"] for r in report["rows"]] == ["cat", "dog"]
    assert report["rows"][0]["nearest"][0]["cosine"] == pytest.approx(1.0, abs=1e-4)
    assert report["typical_token_norm"] > 0 and report["warnings"] == []


def test_strong_embedding_is_flagged_with_a_weakening_factor(backends):
    b = backends["sd1"]
    emb = scale_embedding(create_embedding(b, "x", 1, "cat"), 10)
    report = inspect_embedding(emb, b)
    assert report["rows"][0]["ratio"] > 3 and report["suggested_scale"] < 0.5
    assert any("overpower" in w for w in report["warnings"])


def test_zero_vectors_and_no_model(backends):
    emb = Embedding("z", torch.zeros(2, 32), step=0)
    report = inspect_embedding(emb, backends["sd1"])
    assert any("all zero" in w for w in report["warnings"]) and report["rows"][0]["nearest"] == []
    plain = inspect_embedding(Embedding("z", torch.ones(1, 4)))
    assert plain["rows"] == [{"index": 0, "norm": 2.0}] and "typical_token_norm" not in plain
    with pytest.raises(ValueError, match="4 wide"):
        inspect_embedding(Embedding("z", torch.ones(1, 4)), backends["sd1"])


def test_cli_create_inspect_weaken_convert(tiny_checkpoints, tmp_path, capsys):
    ckpt, _ = tiny_checkpoints["sd1"]
    out = tmp_path / "embs"
    assert main(["embedding", "create", "my cat!", "--ckpt", str(ckpt), "--vectors", "12", "--init-text", "cat",
                 "--out", str(out)]) == 0
    made = out / "my cat.pt"
    err = capsys.readouterr().err
    assert made.is_file() and "12 vectors use 12 of the 75 tokens" in err
    assert load_embedding(made).vec.shape == (12, 32)

    assert main(["embedding", "inspect", str(made), "--ckpt", str(ckpt), "--json", "--top", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["vectors"] == 12 and report["rows"][0]["nearest"][0]["token"] == "cat"

    assert main(["embedding", "weaken", str(made), "--scale", "0.5"]) == 0
    weak = load_embedding(out / "my cat-x0.5.pt")
    torch.testing.assert_close(weak.vec, load_embedding(made).vec * 0.5)

    assert main(["embedding", "convert", str(made), "--to", "safetensors"]) == 0
    assert torch.equal(load_embedding(out / "my cat.safetensors").vec, load_embedding(made).vec)

    capsys.readouterr()
    assert main(["embedding", "convert", str(made), "--to", "safetensors"]) == 1
    assert "already exists (use --overwrite" in capsys.readouterr().err
    assert main(["embedding", "inspect", str(tmp_path / "missing.pt")]) == 1
    assert "no such embedding file" in capsys.readouterr().err
