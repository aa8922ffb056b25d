"""Training as it runs inside the host: an unfrozen model, the host's low-VRAM hooks, refused models, released state.

CPU tests with TI Lab's own (frozen) test models cannot show these faults; each test here recreates the host's
condition: ``shared.sd_model`` left trainable, ``modules/lowvram.py``'s forward pre-hooks moving parts between
devices, an inpainting checkpoint loaded, and a host progress state that must be released whatever fails.
"""

from __future__ import annotations

import pytest
import torch

from lib_ti.core.jobs import Job
from lib_ti.model.backend import SDBackend
from lib_ti.model.embeddings import load_embedding
from lib_ti.training.loop import Trainer, TrainingError


def _fresh_model(tiny_workdir, *, trainable: bool):
    from sdkit import build_tiny_sd

    model = build_tiny_sd("sd1", workdir=tiny_workdir, seed=0)
    return model.requires_grad_(trainable)


# ----------------------------------------------------------------------------- 1. only the vectors learn
@pytest.mark.parametrize("checkpointing", [False, True])
def test_unfrozen_host_model_gets_no_gradients_and_keeps_its_flags(tiny_workdir, make_config, checkpointing):
    """The host never freezes shared.sd_model: after training no weight holds a .grad and every flag is as before,
    and the vectors learned are exactly those learned on a frozen copy of the same weights."""
    unfrozen = _fresh_model(tiny_workdir, trainable=True)
    flags = [p.requires_grad for p in unfrozen.parameters()]
    assert all(flags) and len(flags) > 100
    cfg = make_config(steps=3, grad_accum=2, gradient_checkpointing=checkpointing)
    result = Trainer(SDBackend(unfrozen), cfg).run()
    assert result.status == "finished"
    assert [p.requires_grad for p in unfrozen.parameters()] == flags
    assert [n for n, p in unfrozen.named_parameters() if p.grad is not None] == []

    frozen = _fresh_model(tiny_workdir, trainable=False)
    reference = Trainer(SDBackend(frozen), make_config(steps=3, grad_accum=2, gradient_checkpointing=checkpointing,
                                                       run_dir=cfg.run_dir.parent / "ref",
                                                       embeddings_dir=cfg.embeddings_dir.parent / "ref-emb")).run()
    assert torch.allclose(load_embedding(result.embedding_path).vec, load_embedding(reference.embedding_path).vec,
                          atol=1e-6)


def test_flags_come_back_when_the_run_fails(tiny_workdir, make_config, monkeypatch):
    model = _fresh_model(tiny_workdir, trainable=True)
    backend = SDBackend(model)
    real = backend.apply_model
    seen = []

    def apply_model(x, t, c):
        seen.append(any(p.requires_grad for p in model.parameters()))
        if len(seen) > 2:
            raise ValueError("broken")
        return real(x, t, c)

    monkeypatch.setattr(backend, "apply_model", apply_model)
    with pytest.raises(ValueError, match="broken"):
        Trainer(backend, make_config(steps=5)).run()
    assert seen[0] is False  # autograd records no weight gradients during the run
    assert all(p.requires_grad for p in model.parameters())


# ----------------------------------------------------------------------------- 2. the host's low-VRAM hooks
class HostLowVram:
    """``modules/lowvram.py``'s mechanism on one CPU: parked parts live on the ``meta`` device (standing for the
    host's CPU) and a forward pre-hook brings a part to the compute device (``cpu``, standing for CUDA), parking
    the one there before. As in the host, ``sd_model.lowvram`` is set, the VAE's encode/decode are wrapped, the
    text encoder's hook sits on ``cond_stage_model.transformer`` with its parent moved, and ``--lowvram`` hooks
    the UNet's blocks one by one while ``--medvram`` hooks the whole UNet.

    Two differences, forced by ``meta`` holding no values: the token table is kept readable while parked (on the
    host's CPU it is readable too), so creating an embedding can read its rows; and moving to or from ``meta``
    replaces a module's Parameter objects where CPU <-> CUDA keeps them (the model here is frozen, so nothing
    depends on their identity).
    """

    def __init__(self, model, *, medvram: bool) -> None:
        self.model, self.in_gpu, self.moves = model, None, 0
        self.parents = {model.cond_stage_model.transformer: model.cond_stage_model}
        fsm = model.first_stage_model
        parked = [fsm, model.cond_stage_model]
        hooked = [fsm, model.cond_stage_model.transformer]
        if medvram:
            parked.append(model.model)
            hooked.append(model.model)
        else:
            unet = model.model.diffusion_model
            blocks = [unet.time_embed, *unet.input_blocks, unet.middle_block, *unet.output_blocks]
            parked += blocks
            hooked += blocks
        self.stash = {m: {k: v.detach().clone() for k, v in m.state_dict().items()} for m in parked}
        self.token = model.cond_stage_model.transformer.text_model.embeddings.token_embedding
        for m in parked:
            self._park(m)
        for m in hooked:
            m.register_forward_pre_hook(self.send_me_to_gpu)
        encode, decode = fsm.encode, fsm.decode

        def encode_wrap(x):
            self.send_me_to_gpu(fsm, None)
            return encode(x)

        def decode_wrap(z):
            self.send_me_to_gpu(fsm, None)
            return decode(z)

        fsm.encode, fsm.decode = encode_wrap, decode_wrap
        model.lowvram = True

    def _park(self, module) -> None:
        module.to("meta")
        if module is self.model.cond_stage_model:
            self._fetch(self.token)

    def _fetch(self, module) -> None:
        owner = next(m for m in self.stash if m is module or any(c is module for c in m.modules()))
        prefix = next(n for n, c in owner.named_modules() if c is module)
        state = {k[len(prefix) + 1:] if prefix else k: v for k, v in self.stash[owner].items()
                 if not prefix or k.startswith(prefix + ".")}
        module.to_empty(device="cpu")
        module.load_state_dict(state)

    def send_me_to_gpu(self, module, _inputs) -> None:
        module = self.parents.get(module, module)
        if self.in_gpu is module:
            return
        if self.in_gpu is not None:
            self._park(self.in_gpu)
        self._fetch(module)
        self.in_gpu = module
        self.moves += 1


@pytest.mark.parametrize("medvram", [True, False], ids=["medvram", "lowvram"])
def test_training_previews_and_sweep_under_the_hosts_low_vram_hooks(tiny_workdir, make_config, medvram,
                                                                    tmp_path):
    from lib_ti.model.embeddings import save_embedding
    from lib_ti.training.sweep import strength_sweep

    model = _fresh_model(tiny_workdir, trainable=False)
    hooks = HostLowVram(model, medvram=medvram)
    backend = SDBackend(model, device="cpu")  # the host adapter passes modules.devices.device
    assert backend.host_offloads
    trainer = Trainer(backend, make_config(steps=2, preview_every=2, preview_steps=2, eval_every=2, low_memory=True))
    result = trainer.run()
    assert result.status == "finished" and len(result.previews) == 1 and hooks.moves > 3
    emb = load_embedding(result.embedding_path)
    path = save_embedding(emb, tmp_path / "ck" / "zork-2.pt")
    cells = strength_sweep(backend, [path], [1.0], prompt="[name]", steps=2, width=64, height=64)
    assert cells[0].image.size == (64, 64)


def test_backend_device_comes_from_the_host_not_the_parameters(tiny_workdir):
    model = _fresh_model(tiny_workdir, trainable=False)
    HostLowVram(model, medvram=True)
    assert next(model.model.parameters()).device.type == "meta"  # what reading the UNet's parameters would say
    assert SDBackend(model, device="cpu").device == torch.device("cpu")


# ----------------------------------------------------------------------------- 4. unsupported models refused
def _model_with(tiny_workdir, key: str, in_channels: int):
    from sdkit import _instantiate, tiny_config

    cfg = tiny_config("sd1", workdir=tiny_workdir)
    cfg.model.params.conditioning_key = key
    cfg.model.params.unet_config.params.in_channels = in_channels
    return _instantiate(cfg, 0)


@pytest.mark.parametrize("key, channels, words", [
    ("hybrid", 9, "an inpainting model"),
    ("hybrid", 8, "an instruct-pix2pix model"),
])
def test_unsupported_checkpoint_is_refused_before_anything_starts(tiny_workdir, key, channels, words):
    model = _model_with(tiny_workdir, key, channels)
    assert model.model.conditioning_key == key  # where ldm (and the host) keep it
    with pytest.raises(ValueError, match=f"The loaded checkpoint is {words} .*conditioning '{key}'"):
        SDBackend(model)


def test_refused_model_leaves_no_run_folder_through_the_train_tab(tiny_workdir, tmp_path, dataset_dir):
    from lib_ti.core.context import AppContext
    from lib_ti.ui import train_tab

    model = _model_with(tiny_workdir, "hybrid", 9)
    ctx = AppContext(data_dir=tmp_path / "tilab", get_backend=lambda: SDBackend(model))
    with pytest.raises(ValueError, match="inpainting model"):
        train_tab.get_backend(ctx)
    assert not (tmp_path / "tilab" / "training").exists()


# ----------------------------------------------------------------------------- 5. the host's state is released
class RecordingSink:
    """A progress sink like the host's (``shared.state`` begin/end), recording what the run did to it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin(self, total, desc) -> None:
        self.calls.append("begin")

    def update(self, done, total, text) -> None:
        pass

    def end(self) -> None:
        self.calls.append("end")

    def interrupted(self) -> bool:
        return False


def _fail(exc):
    def raiser(*_a, **_k):
        raise exc

    return raiser


@pytest.mark.parametrize("stage, target, trained", [
    ("caching latents", "encode_images", None),
    ("evaluating the fixed batch", "fixed_loss", 2),
    ("making the previews", "make_previews", 2),
    ("saving the checkpoint", "save_checkpoint", 2),
])
@pytest.mark.parametrize("oom", [False, True], ids=["error", "oom"])
def test_every_stage_releases_the_hosts_state(backend, make_config, monkeypatch, stage, target, trained, oom):
    exc = RuntimeError("CUDA out of memory. Tried to allocate 1 GiB") if oom else OSError("disk full")
    cfg = make_config(steps=4, eval_every=2, preview_every=2, save_every=2, width=128, height=128)
    sink = RecordingSink()
    trainer = Trainer(backend, cfg, job=Job(sink))
    if target == "encode_images":
        monkeypatch.setattr(backend, "encode_images", _fail(exc))
    else:
        monkeypatch.setattr(trainer, target, _fail(exc))
    if oom and trained is not None:
        result = trainer.run()
        assert result.status == "oom" and result.step == trained
        assert f"while {stage}" in result.message and "Try: " in result.message
        assert load_embedding(result.embedding_path).step == trained
    else:
        with pytest.raises(TrainingError if oom else OSError) as err:
            trainer.run()
        if oom:
            assert "nothing was trained yet" in str(err.value) and "lower Width/Height (now 128×128" in str(err.value)
        if trained is not None:  # the last good embedding is kept
            assert load_embedding(cfg.embeddings_dir / "zork.pt").step == trained
        else:
            assert not cfg.run_dir.exists()  # nothing written when set-up failed
    assert sink.calls == ["begin", "end"]


# ----------------------------------------------------------------------------- 9. set-up before step 1
def test_set_up_runs_no_model_call_beyond_the_vae(backend, make_config, monkeypatch):
    """The step-0 fixed-batch loss no longer runs before step 1; it is computed at the first evaluation."""
    calls = []
    real = backend.apply_model
    monkeypatch.setattr(backend, "apply_model", lambda *a: calls.append(1) or real(*a))
    trainer = Trainer(backend, make_config(steps=4, eval_every=2))
    trainer.prepare()
    assert calls == []
    result = trainer.run()
    import csv

    with open(result.run_dir / "metrics.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["fixed_batch_loss"]]
    assert [r["step"] for r in rows] == ["0", "2", "4"]


def test_a_run_shorter_than_the_evaluation_rhythm_never_evaluates(backend, make_config, monkeypatch):
    trainer = Trainer(backend, make_config(steps=2, eval_every=50))
    monkeypatch.setattr(trainer, "fixed_loss", _fail(AssertionError("fixed loss computed")))
    assert trainer.run().status == "finished"
