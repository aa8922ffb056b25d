"""The Train tab's core glue (what its callbacks call), the whole-form check and reattaching to a run."""

from __future__ import annotations

import time

import pytest

from lib_ti.core.context import AppContext
from lib_ti.core.paths import PathGuard
from lib_ti.model.embeddings import load_embedding
from lib_ti.training import session as S
from lib_ti.ui import train_tab


@pytest.fixture()
def ctx(tmp_path, backend):
    return AppContext(data_dir=tmp_path / "tilab", get_backend=lambda: backend)


@pytest.fixture(autouse=True)
def empty_registry():
    S.REGISTRY.clear()
    yield
    for run in list(S.REGISTRY.values()):
        run.stop()
        run.wait(60)
    S.REGISTRY.clear()


def values(folder, **kw):
    base = dict(name="zork", data_dir=str(folder), template="subject", learn_rate="0.005", steps=10, batch_size=1,
                grad_accum=1, width=64, height=64, latent_method="once", shuffle_tags=False, tag_dropout=0.0,
                flip_p=0.0, clip_grad_mode="disabled", clip_grad_value="0.1", num_vectors=1, init_text="*",
                save_every=5, preview_every=5, preview_prompts="a photo of [name]\n\n", preview_sampler="Euler a",
                preview_seed=1, precision="auto", gradient_checkpointing=False, low_memory=False, seed=0)
    base.update(kw)
    return base


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
    assert train_tab.list_embeddings(ctx) == ["my emb"]


@pytest.mark.parametrize("text, ok", [("0.005", True), ("5e-3:100, 1e-3", True), ("0.1:1e3", False), ("", False)])
def test_schedule_message(text, ok):
    assert train_tab.schedule_message(text, 500).startswith("✓" if ok else "✗")


def test_the_whole_form_is_checked_at_once(tmp_path):
    standalone = AppContext(data_dir=tmp_path / "tilab")
    check = train_tab.check_form(standalone, values("/definitely/not/here", name="", learn_rate="0.1:1e3", width=60))
    text = "\n".join(check.problems)
    for part in ("No checkpoint chosen", str(train_tab.models_folder(standalone)), "SD 1.x", "Embedding name",
                 "does not exist", "Learning rate", "Width"):
        assert part in text
    assert not check.ok and "<li>" in train_tab.plan_html(check)


def test_models_are_listed_from_the_models_folder(tmp_path):
    standalone = AppContext(data_dir=tmp_path / "tilab")
    folder = train_tab.models_folder(standalone)
    (folder / "sub").mkdir(parents=True)
    for name in ("b.safetensors", "sub/a.ckpt", "notes.txt"):
        (folder / name).write_bytes(b"")
    listed = train_tab.list_models(standalone)
    assert listed[:2] == ["b.safetensors", "sub/a.ckpt"] and "notes.txt" not in listed
    assert train_tab.model_path(standalone, "sub/a.ckpt") == folder / "sub" / "a.ckpt"


def test_plan_says_new_then_continue_then_resume(ctx, dataset_dir):
    check = train_tab.check_form(ctx, values(dataset_dir), mode="new")
    assert check.ok and check.plan.message.startswith("New embedding 'zork' from step 0")
    assert check.cfg.run_dir.parent == ctx.data_dir / "training" / "zork" and check.cfg.resume is None
    train_tab.create_embedding_file(ctx, "zork", 2, "*", False)
    check = train_tab.check_form(ctx, values(dataset_dir), mode="new")
    assert "already exists (step 0)" in "\n".join(check.problems)
    check = train_tab.check_form(ctx, values(dataset_dir), mode="continue")
    assert check.ok and "Continue zork.pt from step 0 to 10" in check.plan.message
    assert check.cfg.init_embedding == ctx.embeddings_folder() / "zork.pt"
    check = train_tab.check_form(ctx, values(dataset_dir), mode="resume")
    assert "Nothing to resume" in "\n".join(check.problems)


def run_to_end(ctx, cfg, plan, timeout=120):
    session = train_tab.start_training(ctx, cfg, plan)
    session.wait(timeout)
    assert not session.running and session.error is None, session.status
    return session


def test_exact_resume_after_a_finished_run_may_extend_max_steps(ctx, dataset_dir):
    v = values(dataset_dir, steps=4, save_every=2, preview_every=2, preview_steps=1)
    first = train_tab.check_form(ctx, v, mode="new")
    run_to_end(ctx, first.cfg, first.plan)
    same = train_tab.check_form(ctx, v, mode="resume")
    assert "stopped at step 4" in "\n".join(same.problems) and "raise max steps above 4" in "\n".join(same.problems)
    changed = train_tab.check_form(ctx, {**v, "steps": 6, "seed": 9}, mode="resume")
    assert "seed was 0 in that run, now 9" in "\n".join(changed.problems)
    saved = train_tab.run_settings(ctx, "zork")  # what "Fill in the settings of the newest run" puts in the form
    assert saved["steps"] == 4 and saved["width"] == 64 and train_tab.run_settings(ctx, "nobody") == {}
    html_text = train_tab.plan_html(same)
    assert "Resume run" in html_text and "raise max steps" in html_text  # the plan and what stands in its way
    longer = train_tab.check_form(ctx, {**v, "steps": 6}, mode="resume")
    assert longer.ok and "exactly from step 4" in longer.plan.message and "max steps 4 → 6" in longer.plan.message
    assert longer.cfg.run_dir == first.cfg.run_dir
    snap = run_to_end(ctx, longer.cfg, longer.plan).snapshot()
    assert snap.result.status == "finished" and snap.result.step == 6
    assert snap.series["step"] == [1, 2, 3, 4, 5, 6]  # one run, one continuous history
    gallery = train_tab.poll_train(None)[3]  # ... in the previews too: the first part's are still shown
    assert [c for _, c in gallery["value"]] == [f"step {s} · a photo of zork" for s in (2, 4, 6)]


def test_continuing_an_embedding_carries_its_history(ctx, dataset_dir):
    v = values(dataset_dir, steps=3, save_every=0, preview_every=0)
    first = train_tab.check_form(ctx, v, mode="new")
    run_to_end(ctx, first.cfg, first.plan)
    cont = train_tab.check_form(ctx, {**v, "steps": 5}, mode="continue")
    assert cont.ok and "from step 3 to 5" in cont.plan.message and first.cfg.run_dir.name in cont.plan.message
    assert cont.cfg.run_dir != first.cfg.run_dir
    snap = run_to_end(ctx, cont.cfg, cont.plan).snapshot()
    assert snap.series["step"] == [1, 2, 3, 4, 5]


def test_folders_go_through_the_guard(ctx, dataset_dir, tmp_path):
    ctx.guard = PathGuard.restricted_to([tmp_path / "elsewhere"], "shared")
    check = train_tab.check_form(ctx, values(dataset_dir))
    assert "outside the allowed folders" in "\n".join(check.problems)


def built_page(ctx):
    import gradio as gr

    with gr.Blocks() as demo:
        tab = train_tab.build(ctx)
    return demo, tab


def test_tab_builds_from_the_config_specs(ctx):
    from lib_ti.training.config import specs

    demo, tab = built_page(ctx)
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    assert {"tilab_train_start", "tilab_train_stop", "tilab_train_poll", "tilab_train_loss_plot",
            "tilab_train_gallery", "tilab_train_inspect_btn", "tilab_train_weaken_btn", "tilab_train_sweep_btn",
            "tilab_train_mode", "tilab_train_sweep_cks"} <= ids
    for name, spec in specs().items():
        if spec.group:
            assert tab.inputs[name].label == spec.label
    assert tab.inputs["steps"].value == 500 and tab.inputs["preview_every"].value == 500
    assert tab.workspace_targets() == [tab.inputs["data_dir"], tab.inputs["learn_rate"]]
    folder, lr = train_tab.apply_workspace("/photos", "5e-3:100,1e-3")
    assert folder["value"] == "/photos" and lr["value"] == "5e-3:100,1e-3"
    assert "value" not in train_tab.apply_workspace(None, "")[1]


def test_a_rebuilt_page_reattaches_to_the_running_training_and_sees_its_end(ctx, dataset_dir):
    v = values(dataset_dir, steps=100000, save_every=0, preview_every=2, preview_prompts="a [name]\nb [name]",
               preview_steps=2)
    built_page(ctx)
    check = train_tab.check_form(ctx, v, mode="new")
    train_tab.start_training(ctx, check.cfg, check.plan)
    assert "already going" in "\n".join(check.problems + [_second_start(ctx, check)])
    built_page(ctx)  # "Reload UI": new Blocks; the new page knows nothing but the registry
    state, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        status, loss, norm, gallery, state = train_tab.poll_train(state)
        if S.current("train").snapshot().step >= 4 and len(S.current("train").snapshot().previews) >= 4:
            break
        time.sleep(0.05)
    status, loss, norm, gallery, state = train_tab.poll_train(None)  # a fresh page draws everything
    assert "zork · Step" in status and loss is not None and gallery["columns"] == 2
    captions = [c for _, c in gallery["value"][:4]]
    assert captions == ["step 2 · a zork", "step 2 · b zork", "step 4 · a zork", "step 4 · b zork"]
    assert "stopping" in train_tab.stop_text("train")
    S.current("train").wait(60)
    status, *_ = train_tab.poll_train(state)
    assert "Interrupted at step" in status and "resume from" in status
    assert train_tab.stop_text("train").startswith("Interrupted")  # a late Stop keeps the final line


def _second_start(ctx, check):
    try:
        train_tab.start_training(ctx, check.cfg, check.plan)
    except ValueError as exc:
        return str(exc)
    return "started twice"


def test_sweep_uses_every_ticked_checkpoint_and_says_which(ctx, dataset_dir):
    v = values(dataset_dir, steps=6, save_every=1, preview_every=0)
    first = train_tab.check_form(ctx, v, mode="new")
    run_to_end(ctx, first.cfg, first.plan)
    runs = train_tab.list_runs(ctx, "zork")
    assert len(runs) == 1 and "6 checkpoints" in runs[0][0]
    names = train_tab.run_checkpoint_names(runs[0][1])
    assert len(names) == 6
    run = train_tab.start_sweep(ctx, runs[0][1], names, "0.5, 1", "a photo of [name]", 1, 2)
    run.wait(120)
    status, grid, _ = train_tab.poll_sweep(None)
    assert "12 images from 6 of 6 checkpoints" in status and grid.size[1] > 6 * 64
    with pytest.raises(ValueError, match="not a number"):
        train_tab.start_sweep(ctx, runs[0][1], names, "0.5, x", "a photo of [name]", 1, 2)
