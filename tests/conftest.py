"""Shared test set-up: offline model hubs, the torchvision fix, and the host's reference tables."""

from __future__ import annotations

import os

import pytest

# One BLAS/OpenMP thread per process: the suite runs a server, a browser and pytest side by side on
# 2 cores, and OpenMP's spin-waiting under that contention made torch steps tens of times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from lib_ti.core.torch_compat import ensure_torchvision  # noqa: E402

ensure_torchvision()

from host_reference import load_reference  # noqa: E402


@pytest.fixture(scope="session")
def reference() -> dict:
    return load_reference()
