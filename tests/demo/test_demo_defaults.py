"""Runs on the demo model default to its 64 px size; any other checkpoint keeps the usual default.

Why: the demo model has only seen 64 px pictures, so training it at the general 512 px default would teach an
embedding on a size the model cannot draw (and take 64× longer per step).
"""

from __future__ import annotations

import pytest

from lib_ti.cli import build_parser
from lib_ti.commands.train import plan_from_args
from lib_ti.demo import DEMO_SIZE, EXAMPLE_SET, default_checkpoint, training_size
from lib_ti.training.config import defaults


@pytest.mark.parametrize("extra, expected", [
    ([], (DEMO_SIZE, DEMO_SIZE)),                                       # no checkpoint: the demo model
    (["--ckpt", "DEMO"], (DEMO_SIZE, DEMO_SIZE)),                       # the demo model named
    (["--width", "128"], (128, DEMO_SIZE)),                             # a size given wins
    (["--ckpt", "other.safetensors"], (defaults()["width"], defaults()["height"])),  # any other model
])
def test_train_cli_size_default_follows_the_model(tmp_path, extra, expected):
    extra = [str(default_checkpoint()) if a == "DEMO" else a for a in extra]
    args = build_parser().parse_args(["train", "--name", "glim", "--data", str(EXAMPLE_SET),
                                      "--data-root", str(tmp_path), *extra])
    cfg, problems, _ = plan_from_args(args)
    assert not problems, problems
    assert (cfg.width, cfg.height) == expected


@pytest.mark.parametrize("ckpt, expected", [(None, DEMO_SIZE), ("DEMO", DEMO_SIZE), ("other.safetensors", None)])
def test_training_size(ckpt, expected):
    from pathlib import Path

    path = default_checkpoint() if ckpt == "DEMO" else (Path(ckpt) if ckpt else None)
    assert training_size(path) == expected


@pytest.mark.parametrize("other_checkpoint, expected", [
    (False, DEMO_SIZE),                # only the demo model is listed, so it is preselected
    (True, defaults()["width"]),       # a real checkpoint is listed first
])
def test_standalone_train_tab_size_follows_the_preselected_model(tmp_path, other_checkpoint, expected):
    import gradio as gr

    from lib_ti.core.context import AppContext
    from lib_ti.ui import train_tab

    ctx = AppContext(data_dir=tmp_path / "tilab")  # standalone: no host model
    if other_checkpoint:
        (ctx.data_dir / "models").mkdir(parents=True)
        (ctx.data_dir / "models" / "real.safetensors").write_bytes(b"")
    with gr.Blocks():
        tab = train_tab.build(ctx)
    assert (tab.inputs["width"].value, tab.inputs["height"].value) == (expected, expected)


@pytest.mark.parametrize("other_checkpoint, shown", [(False, True), (True, False)])
def test_standalone_train_tab_says_plainly_when_the_demo_model_is_chosen(tmp_path, other_checkpoint, shown):
    """Why: a newcomer must know the preselected model is a toy, and where a real checkpoint goes."""
    import gradio as gr

    from lib_ti.core.context import AppContext
    from lib_ti.ui import train_tab, workspace

    ctx = AppContext(data_dir=tmp_path / "tilab")
    if other_checkpoint:
        (ctx.data_dir / "models").mkdir(parents=True)
        (ctx.data_dir / "models" / "real.safetensors").write_bytes(b"")
    with gr.Blocks() as blocks:
        train_tab.build(ctx)
    note = workspace.find(blocks, "tilab_train_demo_note")
    assert note.visible is shown
    assert "demo model" in note.value.lower() and str(ctx.data_dir / "models") in note.value
    on_model = next(fn.fn for fn in blocks.fns if getattr(fn.fn, "__name__", "") == "on_model")
    assert on_model(str(default_checkpoint()))[-1]["visible"] is True
    assert on_model("real.safetensors")[-1]["visible"] is False
