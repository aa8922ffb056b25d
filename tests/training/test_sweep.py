"""Strength sweep: checkpoints x emphasis weights on one seed, as one labelled grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib_ti.emphasis.parse import effective_weight
from lib_ti.model.embeddings import Embedding, save_embedding
from lib_ti.training.sweep import checkpoint_step, grid_image, list_checkpoints, strength_sweep


@pytest.fixture()
def checkpoints(tmp_path, backend):
    folder = tmp_path / "checkpoints"
    g = torch.Generator().manual_seed(0)
    for step in (10, 2):
        vec = torch.randn(2, backend.embedding_width, generator=g)
        save_embedding(Embedding(f"zork-{step}", vec, step), folder / f"zork-{step}.pt")
    (folder / "zork-10.state.pt").write_bytes(b"not an embedding")
    return folder


def test_checkpoints_are_listed_by_step(checkpoints):
    assert [p.name for p in list_checkpoints(checkpoints)] == ["zork-2.pt", "zork-10.pt"]


@pytest.mark.parametrize("name, step", [("zork-10.pt", 10), ("zork.pt", None), ("my-emb-v2-300.safetensors", 300)])
def test_checkpoint_step(name, step):
    assert checkpoint_step(name) == step


def test_sweep_grid(backend, checkpoints):
    weights = [0.62, 1.0, 1.3]
    cells = strength_sweep(backend, list_checkpoints(checkpoints), weights, prompt="a photo of [name], outdoors",
                           seed=4, steps=3, width=64, height=64)
    assert [(c.step, c.weight) for c in cells] == [(2, 0.62), (2, 1.0), (2, 1.3), (10, 0.62), (10, 1.0), (10, 1.3)]
    for c in cells:
        assert effective_weight(c.prompt, "zork") == pytest.approx(c.weight)
    # same seed everywhere: the images differ only through checkpoint and weight
    assert not np.array_equal(np.asarray(cells[0].image), np.asarray(cells[1].image))
    assert not np.array_equal(np.asarray(cells[0].image), np.asarray(cells[3].image))
    grid = grid_image(cells, weights)
    assert grid.size == (64 + 3 * 64, 20 + 2 * 64)


@pytest.mark.parametrize("kw, message", [
    (dict(prompt="no placeholder"), r"\[name\]"),
    (dict(weights=[]), "at least one weight"),
])
def test_sweep_refuses_bad_input(backend, checkpoints, kw, message):
    args = dict(prompt="a photo of [name]", weights=[1.0])
    args.update(kw)
    with pytest.raises(ValueError, match=message):
        strength_sweep(backend, list_checkpoints(checkpoints), args.pop("weights"), steps=2, **args)
