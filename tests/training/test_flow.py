"""End to end: a planted concept is learned, and create -> train -> save -> preview runs from the CLI."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lib_ti.model.sampling import sample_images
from lib_ti.model.embeddings import load_embedding
from lib_ti.training.config import TrainConfig
from lib_ti.training.loop import Trainer

REPO = Path(__file__).resolve().parents[2]

#: Training must close at least this share of the gap between zero vectors and the hidden embedding.
PLANTED_MARGIN = 0.5


def test_planted_concept_is_learned(backend, tmp_path):
    """Images made with a hidden embedding; training from zeros must reach (nearly) the hidden one's loss.

    The fixed batch (the run's own cached latents, fixed timesteps and noise) measures loss L. With the hidden
    vectors h the images are explained better than with zeros (L(h) < L(0)); after 20 steps from zeros the loss
    must be within ``PLANTED_MARGIN`` of the gap: L(trained) <= L(h) + margin * (L(0) - L(h)).
    """
    g = torch.Generator().manual_seed(5)
    hidden = torch.randn(2, backend.embedding_width, generator=g)
    data = tmp_path / "concept"
    data.mkdir()
    images = sample_images(backend, ["a photo of zork"] * 6, embeddings={"zork": hidden}, sampler="DPM++ 2M Karras",
                           steps=8, cfg_scale=1.0, seed=11, width=64, height=64)
    for i, im in enumerate(images):
        im.save(data / f"{i}.png")
    template = tmp_path / "one.txt"
    template.write_text("a photo of [name]\n", encoding="utf-8")
    cfg = TrainConfig(name="zork", data_dir=data, run_dir=tmp_path / "run", embeddings_dir=tmp_path / "emb",
                      template=str(template), learn_rate="0.05", steps=20, batch_size=3, width=64, height=64,
                      latent_method="deterministic", save_every=0, preview_every=0, eval_every=20, eval_size=6,
                      num_vectors=2, init_text="")
    trainer = Trainer(backend, cfg)
    trainer.prepare()
    assert float(trainer.vec.abs().sum()) == 0.0  # empty init text: zero vectors, as in the host

    # the same measure the run logs at step 20
    l_hidden, l_zero = trainer.fixed_loss(hidden), trainer.fixed_loss(torch.zeros_like(hidden))
    assert l_hidden < l_zero
    result = trainer.run()
    l_trained = [r.fixed_loss for r in trainer.log.metric_rows if r.step == 20][0]
    assert result.status == "finished"
    assert l_trained <= l_hidden + PLANTED_MARGIN * (l_zero - l_hidden), (l_zero, l_hidden, l_trained)


def test_create_train_save_preview_from_the_cli(tmp_path, tiny_workdir):
    """The whole loop on CPU from a checkpoint file: embeddings, checkpoints, log and previews where the host puts them."""
    from lib_ti.cli import main
    from sdkit import write_tiny_checkpoint

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_images

    ckpt, yaml = write_tiny_checkpoint(tmp_path / "tiny.safetensors", workdir=tiny_workdir)
    data = write_images(tmp_path / "data", n=3, size=(96, 64))
    out = tmp_path / "run"
    previous = signal.getsignal(signal.SIGINT)
    try:
        rc = main(["train", "--ckpt", str(ckpt), "--config", str(yaml), "--data", str(data), "--name", "cli-zork",
                   "--out", str(out), "--steps", "4", "--batch-size", "2", "--width", "64", "--height", "64",
                   "--save-every", "2", "--preview-every", "2", "--preview-steps", "3", "--vectors", "3",
                   "--lr", "0.01:2,0.005", "--device", "cpu", "--data-root", str(tmp_path / "tilab")])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert rc == 0
    emb = load_embedding(tmp_path / "tilab" / "embeddings" / "cli-zork.pt")  # where the app's Train tab lists it
    assert emb.step == 4 and tuple(emb.vec.shape) == (3, 32) and emb.sd_checkpoint and emb.sd_checkpoint_name == "tiny"
    ck = out / "checkpoints"
    assert {p.name for p in ck.iterdir()} >= {"cli-zork-2.pt", "cli-zork-2.state.pt", "cli-zork-2-preview0.png",
                                              "cli-zork-4.pt", "cli-zork-4.state.pt", "cli-zork-4-preview0.png"}
    with open(out / "textual_inversion_loss.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert [float(r["learn_rate"]) for r in rows] == [0.01, 0.01, 0.005, 0.005]
    from PIL import Image

    preview = Image.open(ck / "cli-zork-4-preview0.png")
    assert preview.size == (64, 64) and np.asarray(preview, dtype=float).std() > 1.0  # not a flat (NaN) decode


def test_ctrl_c_saves_and_stops(tmp_path, tiny_workdir):
    """A real Ctrl+C (SIGINT) to the command: it stops after the current step with everything saved."""
    from sdkit import write_tiny_checkpoint

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import write_images

    ckpt, yaml = write_tiny_checkpoint(tmp_path / "tiny.safetensors", workdir=tiny_workdir)
    data = write_images(tmp_path / "data", n=2)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lib_ti", "train", "--ckpt", str(ckpt), "--config", str(yaml), "--data", str(data),
         "--name", "stopme", "--out", str(out), "--steps", "100000", "--width", "64", "--height", "64",
         "--save-every", "0", "--preview-every", "0", "--device", "cpu", "--data-root", str(tmp_path / "tilab")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "settings.json").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0)  # a few steps
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Interrupted at step" in stdout
    emb = load_embedding(tmp_path / "tilab" / "embeddings" / "stopme.pt")
    assert 0 < emb.step < 100000
    assert (out / "checkpoints" / f"stopme-{emb.step}.state.pt").exists()
