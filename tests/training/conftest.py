"""Shared fixtures for the training tests: one tiny random SD1 model per session and small datasets."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny-sd")


@pytest.fixture(scope="session")
def tiny_model(tiny_workdir):
    import torch

    from sdkit import build_tiny_sd

    torch.set_num_threads(1)  # tiny model: extra threads only add contention (35x slower on a loaded 2-core box)
    return build_tiny_sd("sd1", workdir=tiny_workdir, seed=0)


@pytest.fixture()
def backend(tiny_model):
    from lib_ti.model.backend import SDBackend

    return SDBackend(tiny_model)


def write_images(folder: Path, n: int = 4, size: tuple[int, int] = (80, 72), captions: bool = True) -> Path:
    """``n`` structured colour images (gradients + a square), larger than the training size, with captions."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        img = np.stack([(xx * (i + 1) * 3) % 256, (yy * 5 + i * 40) % 256, ((xx + yy) * 2 + i * 60) % 256], -1)
        img[h // 4: h // 2, w // 4 + i * 4: w // 2 + i * 4] = [250, 20 * i, 30]
        Image.fromarray(img.astype("uint8")).save(folder / f"{i:02d}-img.png")
        if captions:
            (folder / f"{i:02d}-img.txt").write_text(f"tag{i}, red square, gradient {i}", encoding="utf-8")
    (folder / "notes.md").write_text("not an image", encoding="utf-8")
    return folder


@pytest.fixture()
def dataset_dir(tmp_path) -> Path:
    return write_images(tmp_path / "data")


@pytest.fixture()
def make_config(tmp_path, dataset_dir):
    from lib_ti.training.config import TrainConfig

    def make(**kw):
        base = dict(name="zork", data_dir=dataset_dir, run_dir=tmp_path / "run", embeddings_dir=tmp_path / "emb",
                    template="subject_filewords", learn_rate="0.01", steps=6, batch_size=2, width=64, height=64,
                    save_every=0, preview_every=0, eval_every=0, eval_size=2, num_vectors=2, init_text="*", seed=3)
        base.update(kw)
        return TrainConfig(**base)

    return make
