"""One tiny random SDXL model per session (CLIP-L- and OpenCLIP-bigG-shaped text encoders with the real
tokenizers, an ``adm_in_channels`` UNet and an f=8 VAE), and a small image folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory):
    import torch

    from sdkit import build_tiny_sdxl

    torch.set_num_threads(1)
    return build_tiny_sdxl(workdir=tmp_path_factory.mktemp("sdxl"), seed=0)


@pytest.fixture(scope="session")
def xl_backend(tiny_sdxl):
    from lib_ti.model.sdxl import SDXLBackend

    return SDXLBackend(tiny_sdxl)


@pytest.fixture()
def xl_images(tmp_path) -> Path:
    """Three 64×64 images with captions (a gradient and a coloured square each)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "data"
    folder.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(3):
        img = np.stack([(xx * (i + 2) * 3) % 256, (yy * 4 + i * 50) % 256, ((xx + yy) + i * 70) % 256], -1)
        img[16:32, 10 + 8 * i:30 + 8 * i] = [240, 30 * i, 20]
        Image.fromarray(img.astype("uint8")).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"square {i}, gradient", encoding="utf-8")
    return folder
