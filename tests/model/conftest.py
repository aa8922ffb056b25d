"""Tiny random SD1/SD2 models, built once per test session in a temporary folder (offline, ~1 s each)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sd_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sd-models")


@pytest.fixture(scope="session")
def tiny_models(sd_workdir):
    """kind -> frozen tiny LatentDiffusion ("sd1", "sd2" eps, "sd2v")."""
    from sdkit import build_tiny_sd

    return {
        "sd1": build_tiny_sd("sd1", workdir=sd_workdir),
        "sd2": build_tiny_sd("sd2", workdir=sd_workdir),
        "sd2v": build_tiny_sd("sd2", workdir=sd_workdir, parameterization="v"),
    }


@pytest.fixture(scope="session")
def backends(tiny_models):
    from lib_ti.model.backend import SDBackend

    return {kind: SDBackend(model) for kind, model in tiny_models.items()}


@pytest.fixture(scope="session")
def tiny_checkpoints(sd_workdir):
    """kind -> (checkpoint .safetensors, yaml beside it) written by the test kit."""
    from sdkit import write_tiny_checkpoint

    folder = sd_workdir / "checkpoints"
    return {kind: write_tiny_checkpoint(folder / f"tiny-{kind}.safetensors", kind, workdir=sd_workdir)
            for kind in ("sd1", "sd2")}
