"""The Train tab's core glue (what its callbacks call) and that the tab builds."""

from __future__ import annotations

import pytest

from lib_ti.core.context import AppContext
from lib_ti.core.paths import PathGuard, PathRefused
from lib_ti.model.embeddings import load_embedding
from lib_ti.ui import train_tab


@pytest.fixture()
def ctx(tmp_path, tiny_model):
    return AppContext(data_dir=tmp_path / "tilab", get_model=lambda: tiny_model)


def test_create_embedding_file(ctx):
    saved = []
    ctx.on_embedding_saved = saved.append
    msg = train_tab.create_embedding_file(ctx, "my emb!", 12, "red cat", False)
    path = ctx.embeddings_folder() / "my emb.pt"
    assert "Created" in msg and "12 of the 75 tokens" in msg and saved == [path]
    emb = load_embedding(path)
    assert emb.step == 0 and tuple(emb.vec.shape) == (12, 32)
    with pytest.raises(ValueError, match="already exists"):
        train_tab.create_embedding_file(ctx, "my emb", 1, "", False)


@pytest.mark.parametrize("text, ok", [("0.005", True), ("5e-3:100, 1e-3", True), ("0.1:1e3", False), ("", False)])
def test_schedule_message(text, ok):
    assert train_tab.schedule_message(text, 500).startswith("✓" if ok else "✗")


def _fields(folder, **kw):
    values = dict(name="zork", data_dir=str(folder), template="subject", learn_rate="0.005", steps=10, batch_size=1,
                  grad_accum=1, width=64, height=64, latent_method="once", shuffle_tags=False, tag_dropout=0.0,
                  flip_p=0.0, clip_mode="disabled", clip_value="0.1", num_vectors=1, init_text="*", save_every=5,
                  preview_every=5, preview_prompts="a photo of [name]\n\n", preview_sampler="Euler a",
                  preview_seed=1, precision="auto", grad_ckpt=False, low_memory=False, resume=False)
    values.update(kw)
    return list(values.values())


def test_make_config_continues_an_existing_embedding(ctx, dataset_dir):
    cfg = train_tab.make_config(ctx, *_fields(dataset_dir))
    assert cfg.init_embedding is None and cfg.preview_prompts == ("a photo of [name]",)
    train_tab.create_embedding_file(ctx, "zork", 2, "*", False)
    cfg = train_tab.make_config(ctx, *_fields(dataset_dir))
    assert cfg.init_embedding == ctx.embeddings_folder() / "zork.pt"
    with pytest.raises(ValueError, match="Nothing to resume"):
        train_tab.make_config(ctx, *_fields(dataset_dir, resume=True))


@pytest.mark.parametrize("kw, error", [
    (dict(learn_rate="0.1:1e3"), "Learning rate"),
    (dict(width=60), "Width"),
    (dict(data_dir="/definitely/not/here"), "does not exist"),
])
def test_make_config_rejects_bad_fields(ctx, dataset_dir, kw, error):
    with pytest.raises(ValueError, match=error):
        train_tab.make_config(ctx, *_fields(dataset_dir, **kw))


def test_folders_go_through_the_guard(ctx, dataset_dir, tmp_path):
    ctx.guard = PathGuard.restricted_to([tmp_path / "elsewhere"], "shared")
    with pytest.raises(PathRefused, match="outside the allowed folders"):
        train_tab.make_config(ctx, *_fields(dataset_dir))


def test_tab_builds(ctx):
    import gradio as gr

    with gr.Blocks() as demo:
        train_tab.build(ctx)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"tilab_train_start", "tilab_train_stop", "tilab_train_loss_plot", "tilab_train_gallery",
            "tilab_train_inspect_btn", "tilab_train_weaken_btn", "tilab_train_sweep_btn"} <= ids


def test_each_run_gets_its_own_folder_and_resume_finds_the_newest(ctx, dataset_dir):
    cfg = train_tab.make_config(ctx, *_fields(dataset_dir))
    assert cfg.run_dir.parent == ctx.data_dir / "training" / "zork" and cfg.resume is None
    for run, step in (("20260101-000000", 90), ("20260102-000000", 20)):
        folder = ctx.data_dir / "training" / "zork" / run / "checkpoints"
        folder.mkdir(parents=True)
        (folder / f"zork-{step}.state.pt").write_bytes(b"")
    cfg = train_tab.make_config(ctx, *_fields(dataset_dir, resume=True))
    assert cfg.resume.name == "zork-20.state.pt" and cfg.run_dir.name == "20260102-000000"
