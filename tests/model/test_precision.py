"""The one precision decision: weight dtype, autocast dtype, loss scaling and the sentence the status line shows."""

from __future__ import annotations

import pytest
import torch

from lib_ti.model.precision import PRECISIONS, autocast_for, decide_precision, grad_scaler

F16, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


@pytest.mark.parametrize("requested, device, loaded, bf16_ok, weights, autocast, scale, words", [
    # CPU: always full precision, whatever was asked
    ("auto", "cpu", None, False, F32, None, False, "fp32 on cpu"),
    ("fp16", "cpu", None, False, F32, None, False, "fp16 applies on CUDA only"),
    ("bf16", "cpu", None, False, F32, None, False, "bf16 applies on CUDA only"),
    # CUDA, TI Lab loads the weights: they follow the decision
    ("auto", "cuda", None, True, F16, F16, True, "auto: fp16 autocast"),
    ("fp16", "cuda", None, True, F16, F16, True, "fp16 autocast as asked"),
    ("fp32", "cuda", None, True, F32, None, False, "fp32 as asked"),
    ("bf16", "cuda", None, True, BF16, BF16, False, "bf16 autocast as asked"),
    ("bf16", "cuda", None, False, F16, F16, True, "does not support it"),
    # CUDA inside the host: its weights stay as loaded and the reason says what that overrides
    ("auto", "cuda", F16, True, F16, F16, True, "auto"),
    ("fp32", "cuda", F16, True, F16, F16, True, "--no-half"),
    ("fp32", "cuda", F32, True, F32, None, False, "fp32 as asked"),
    ("fp16", "cuda", F32, True, F32, F16, True, "fp16 autocast as asked"),
    ("bf16", "cuda", F16, True, F16, F16, True, "loaded in fp16"),
    ("bf16", "cuda", BF16, True, BF16, BF16, False, "bf16 autocast as asked"),
])
def test_decision_table(requested, device, loaded, bf16_ok, weights, autocast, scale, words):
    plan = decide_precision(requested, device, loaded, bf16_ok=bf16_ok)
    assert (plan.weights, plan.autocast, plan.scale_loss) == (weights, autocast, scale)
    assert words in plan.reason


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="Precision must be one of auto, fp32, fp16, bf16, not 'fp8'"):
        decide_precision("fp8", "cpu")


def test_every_choice_is_decided_on_every_device():
    for requested in PRECISIONS:
        for device in ("cpu", "cuda"):
            assert decide_precision(requested, device, bf16_ok=False).reason


def test_loss_scaler_is_the_current_api_and_only_for_fp16():
    import warnings

    assert grad_scaler(decide_precision("fp32", "cuda", bf16_ok=True)) is None
    assert grad_scaler(decide_precision("bf16", "cuda", bf16_ok=True)) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # torch.cuda.amp.GradScaler() warns as deprecated
        warnings.simplefilter("ignore", UserWarning)  # "CUDA is not available. Disabling." on this machine
        scaler = grad_scaler(decide_precision("fp16", "cuda", bf16_ok=True))
    assert type(scaler) is torch.amp.GradScaler


@pytest.mark.parametrize("device, enabled", [("cpu", False), ("cuda", True)])
def test_autocast_follows_the_plan_on_cuda_only(device, enabled, monkeypatch):
    entered = []

    class FakeAutocast:
        def __init__(self, kind, dtype):
            entered.append((kind, dtype))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch, "autocast", FakeAutocast)
    with autocast_for(device, decide_precision("fp16", "cuda", bf16_ok=True)):
        pass
    with autocast_for(device, decide_precision("fp32", "cuda", bf16_ok=True)):
        pass
    assert entered == ([("cuda", F16)] if enabled else [])
