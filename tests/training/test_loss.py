"""``Trainer.loss_on`` is the model's own training loss: ldm's ``p_losses`` on the same inputs, eps and v."""

from __future__ import annotations

import pytest
import torch

from lib_ti.model.backend import SDBackend
from lib_ti.training.loop import Trainer, TrainingError


def _inputs(backend, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, 4, 8, 8, generator=g)
    noise = torch.randn(n, 4, 8, 8, generator=g)
    t = torch.tensor([37, 801][:n])
    vec = torch.randn(2, backend.embedding_width, generator=g) * 0.1
    return x0, noise, t, vec


@pytest.fixture(scope="module")
def v_model(tiny_workdir):
    from sdkit import build_tiny_sd

    return build_tiny_sd("sd2", workdir=tiny_workdir, parameterization="v")


@pytest.mark.parametrize("kind", ["eps", "v"])
def test_loss_on_equals_ldm_p_losses(request, make_config, kind):
    model = request.getfixturevalue("tiny_model" if kind == "eps" else "v_model")
    backend = SDBackend(model)
    assert backend.parameterization == kind
    trainer = Trainer(backend, make_config())
    trainer.prepare()
    x0, noise, t, vec = _inputs(backend)
    prompts = ["a photo of zork", "zork, red"]
    ours = trainer.loss_on(x0, noise, t, prompts, vec)
    cond = backend.encode_prompts(prompts, {"zork": vec})
    with torch.no_grad():
        theirs, parts = model.p_losses(x0, cond, t, noise=noise)
    assert model.l_simple_weight == 1.0 and model.original_elbo_weight == 0.0  # p_losses is then the plain MSE
    assert torch.allclose(ours.detach(), theirs, rtol=1e-5, atol=1e-7), (float(ours), float(theirs))


def test_unknown_parameterization_raises(backend, make_config):
    trainer = Trainer(backend, make_config())
    trainer.prepare()
    x0, noise, t, vec = _inputs(backend)
    backend.parameterization = "x0"
    try:
        with pytest.raises(TrainingError, match="Unknown parameterization 'x0'"):
            trainer.loss_on(x0, noise, t, ["zork", "zork"], vec)
    finally:
        backend.parameterization = "eps"
