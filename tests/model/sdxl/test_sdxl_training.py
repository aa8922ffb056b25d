"""Textual Inversion on a tiny SDXL model end to end: create → train → save → load → preview → sweep; only the
clip_l and clip_g vectors change; a resumed run equals an uninterrupted one."""

from __future__ import annotations

import pytest
import torch


def _config(tmp_path, data, **kw):
    from lib_ti.training.config import TrainConfig

    base = dict(name="xlzork", data_dir=data, run_dir=tmp_path / "run", embeddings_dir=tmp_path / "emb",
                template="subject_filewords", learn_rate="0.02", steps=4, batch_size=2, width=64, height=64,
                save_every=0, preview_every=0, eval_every=0, eval_size=2, num_vectors=2, init_text="square", seed=5)
    base.update(kw)
    return TrainConfig(**base)


def _run(backend, cfg):
    from lib_ti.training.loop import Trainer

    return Trainer(backend, cfg).run()


def test_train_save_load_preview_sweep(tmp_path, xl_backend, xl_images):
    from lib_ti.model.embeddings import load_embedding
    from lib_ti.training.sweep import list_checkpoints, strength_sweep

    model_before = {k: v.clone() for k, v in xl_backend.model.state_dict().items()}
    cfg = _config(tmp_path, xl_images, save_every=2, preview_every=4, preview_prompts=["a photo of [name]"],
                  preview_steps=2, eval_every=2)
    result = _run(xl_backend, cfg)

    assert result.status == "finished" and result.step == 4
    assert result.embedding_path.suffix == ".safetensors"
    emb = load_embedding(result.embedding_path)
    assert emb.split == (32, 48) and emb.vec.shape == (2, 80) and emb.step == 4
    start = xl_backend.encode_init_text("square", 2)
    moved = (emb.vec - start).abs()
    assert moved[:, :32].sum() > 0 and moved[:, 32:].sum() > 0  # both vector sets learned
    after = xl_backend.model.state_dict()
    assert all(torch.equal(model_before[k], after[k]) for k in model_before)  # nothing else changed
    assert not any(p.requires_grad for p in xl_backend.model.parameters())

    previews = result.previews
    assert previews and all(p.is_file() for p in previews)
    checkpoints = list_checkpoints(tmp_path / "run" / "checkpoints")
    assert [c.name for c in checkpoints] == ["xlzork-2.safetensors", "xlzork-4.safetensors"]
    cells = strength_sweep(xl_backend, checkpoints, [0.8, 1.2], prompt="a photo of [name]", steps=2, width=64,
                           height=64)
    assert len(cells) == 4
    pixels = [torch.tensor(list(c.image.getdata()), dtype=torch.float32) for c in cells]
    assert any(not torch.equal(pixels[0], p) for p in pixels[1:])  # weights and steps change the image


def test_resume_is_exact(tmp_path, xl_backend, xl_images):
    from lib_ti.model.embeddings import load_embedding

    full = _run(xl_backend, _config(tmp_path / "a", xl_images, steps=4))
    first = _run(xl_backend, _config(tmp_path / "b", xl_images, steps=2, save_every=2))
    resumed = _run(xl_backend, _config(tmp_path / "b", xl_images, steps=4, save_every=2, resume=first.state_path))
    assert resumed.step == 4
    assert torch.equal(load_embedding(full.embedding_path).vec, load_embedding(resumed.embedding_path).vec)


def test_sd1_embedding_refused_with_file_and_shapes(tmp_path, xl_backend, xl_images):
    from lib_ti.model.embeddings import Embedding, save_embedding

    sd1 = save_embedding(Embedding("old", torch.randn(2, 768)), tmp_path / "old.pt")
    with pytest.raises(ValueError) as err:
        _run(xl_backend, _config(tmp_path, xl_images, init_embedding=sd1))
    msg = str(err.value)
    assert "old.pt" in msg and "(2, 768)" in msg and "clip_l (N, 32) + clip_g (N, 48)" in msg
