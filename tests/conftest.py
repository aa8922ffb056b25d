"""Shared test set-up: offline model hubs, the torchvision fix, and the host's reference tables."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from lib_ti.torch_compat import ensure_torchvision  # noqa: E402

ensure_torchvision()

from host_reference import load_reference  # noqa: E402


@pytest.fixture(scope="session")
def reference() -> dict:
    return load_reference()
