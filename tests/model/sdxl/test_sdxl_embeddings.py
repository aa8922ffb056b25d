"""SDXL embeddings: created per encoder like the host's SD1/SD2 create, written in the host's SDXL format, read
back, inspected per encoder, weakened, and refused with a clear message by a model of another family."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open


def test_saved_file_is_the_hosts_sdxl_format(tmp_path, xl_backend):
    from lib_ti.model.embeddings import create_embedding, load_embedding, save_embedding

    emb = create_embedding(xl_backend, "xlthing", 3, "red square")
    emb.step, emb.sd_checkpoint, emb.sd_checkpoint_name = 12, "0123456789", "tiny-xl"
    path = save_embedding(emb, tmp_path / "xlthing.safetensors")
    with safe_open(str(path), framework="pt") as fh:
        assert sorted(fh.keys()) == ["clip_g", "clip_l"]
        assert fh.get_tensor("clip_l").shape == (3, 32) and fh.get_tensor("clip_g").shape == (3, 48)
        assert fh.get_tensor("clip_l").dtype == torch.float32
        assert fh.metadata() == {"name": "xlthing", "step": "12", "sd_checkpoint": "0123456789",
                                 "sd_checkpoint_name": "tiny-xl"}
    back = load_embedding(path)
    assert back.split == (32, 48) and back.step == 12 and back.sd_checkpoint_name == "tiny-xl"
    torch.testing.assert_close(back.vec, emb.vec)
    with pytest.raises(ValueError, match=r"xlthing\.pt: SDXL embeddings are saved as \.safetensors"):
        save_embedding(emb, tmp_path / "xlthing.pt")


INIT = [
    # (init text, N, expected token index per row: tokens repeat or spread like the host's create_embedding)
    ("red square", 4, [0, 0, 1, 1]),
    ("red", 3, [0, 0, 0]),
    ("a red square", 2, None),  # CLIP-L reads 2 tokens (rows 0, 1); bigG reads all 3 (rows 0, 1)
]


@pytest.mark.parametrize("text,n,rows", INIT, ids=["repeat", "one token", "truncation differs"])
def test_init_per_encoder_like_the_host(xl_backend, text, n, rows):
    vec = xl_backend.encode_init_text(text, n)
    for enc, cols in zip(xl_backend.encoders, xl_backend.columns):
        ids = enc.tok.tokenize([text])[0]
        if enc.truncates_init:
            ids = ids[:n]
        t = len(ids)
        expect = [ids[i * t // n] for i in range(n)]
        if rows is not None:
            assert expect == [ids[r] for r in rows]
        torch.testing.assert_close(vec[:, cols], enc.token_table[torch.tensor(expect)].float())


def test_empty_init_text_gives_zeros(xl_backend):
    assert not xl_backend.encode_init_text("", 2).any()


def test_weakened_copy_keeps_both_sets(tmp_path, xl_backend):
    from lib_ti.model.embeddings import create_embedding, load_embedding, save_embedding, scale_embedding

    emb = create_embedding(xl_backend, "weak", 2, "square")
    path = save_embedding(scale_embedding(emb, 0.5), tmp_path / "weak-x0.5.safetensors")
    back = load_embedding(path)
    assert back.split == (32, 48)
    torch.testing.assert_close(back.vec, emb.vec * 0.5)


def test_inspect_shows_the_two_encoders_separately(xl_backend):
    from lib_ti.model.embeddings import create_embedding
    from lib_ti.model.inspect import format_report, inspect_embedding

    emb = create_embedding(xl_backend, "look", 2, "square")
    report = inspect_embedding(emb, xl_backend, top_k=3)
    assert list(report["encoders"]) == ["clip_l", "clip_g"]
    for key, width in (("clip_l", 32), ("clip_g", 48)):
        part = report["encoders"][key]
        assert part["width"] == width and len(part["rows"]) == 2
        # initialised from the token "square": that token is each row's nearest, at cosine 1
        assert part["rows"][0]["nearest"][0]["token"] == "square" and part["rows"][0]["nearest"][0]["cosine"] == 1.0
    text = format_report(report)
    assert "clip_l (32 wide):" in text and "clip_g (48 wide):" in text


def test_sdxl_embedding_offered_to_sd1_names_file_and_shapes(tmp_path, xl_backend, backends):
    from lib_ti.model.embeddings import check_embedding_fits, create_embedding, load_embedding, save_embedding

    path = save_embedding(create_embedding(xl_backend, "xlonly", 2, "square"), tmp_path / "xlonly.safetensors")
    with pytest.raises(ValueError) as err:
        check_embedding_fits(load_embedding(path), backends["sd1"], path)
    msg = str(err.value)
    assert str(path) in msg and "clip_l (2, 32) + clip_g (2, 48)" in msg and "(N, 32)" in msg
