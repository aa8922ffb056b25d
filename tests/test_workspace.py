"""The state the tabs share (lib_ti.ui.workspace): recent folders, embedding terms, and the cross-tab wiring."""

from __future__ import annotations

import os
import time

import pytest

from lib_ti.core.context import standalone_context
from lib_ti.ui import workspace


def test_recent_folders_newest_first_unique_and_bounded(tmp_path):
    assert workspace.recent_folders(tmp_path) == []
    for i in range(workspace.RECENT_LIMIT + 3):
        workspace.remember_folder(tmp_path, tmp_path / f"set{i}")
    got = workspace.remember_folder(tmp_path, f"{tmp_path}/set5/")  # again, with a trailing slash
    assert got[0] == str(tmp_path / "set5") and len(got) == workspace.RECENT_LIMIT
    assert got.count(str(tmp_path / "set5")) == 1
    assert workspace.recent_folders(tmp_path) == got


@pytest.mark.parametrize("content", ["not json", '{"a": 1}', "[1, 2]"])
def test_a_damaged_recent_list_is_empty(tmp_path, content):
    (tmp_path / workspace.RECENT_FILE).write_text(content)
    assert workspace.recent_folders(tmp_path) == []


def test_embedding_names_newest_first(tmp_path):
    for i, name in enumerate(["old.pt", "new.safetensors", "notes.txt"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (time.time() + i, time.time() + i))
    assert workspace.embedding_names(tmp_path) == ["new", "old"]
    assert workspace.embedding_names(tmp_path / "missing") == []


@pytest.mark.parametrize("name, weight, prompt, expected", [
    ("myface", 0.7, "a photo of", "a photo of, (myface:0.7)"),
    ("myface", 1, "a photo of,", "a photo of, myface"),
    ("myface", 0.62, "", "(myface:0.62)"),
])
def test_embedding_goes_into_the_prompt_at_its_weight(name, weight, prompt, expected):
    assert workspace.insert_term(prompt, workspace.embedding_term(name, weight)) == expected


def test_no_embedding_chosen_is_a_message():
    with pytest.raises(ValueError, match="Choose an embedding"):
        workspace.embedding_term("", 0.7)


def test_all_tabs_are_wired(tmp_path):
    """Folder boxes of Dataset, Captions and Train are linked; Use in Train and the model copy exist."""
    import gradio as gr

    from lib_ti.ui.app import build_tabs

    with gr.Blocks() as blocks:
        tabs = build_tabs(standalone_context(tmp_path))
        got = workspace.wire(blocks, tabs)
    assert got == {"folders": len(workspace.FOLDER_IDS), "schedule_to_train": True, "copies": len(workspace.COPIES)}
    use = next(d for d in blocks.fns if getattr(d.fn, "__name__", "") == "use_in_train")
    rate, steps, tab = use.fn("0.01:100, 0.001", 400)
    assert rate["value"] == "0.01:100, 0.001" and steps == 400 and tab["selected"] == workspace.TRAIN_TAB


def test_train_tab_offers_the_recent_folders_and_re_reads_them(tmp_path):
    """The Train tab's folder is a dropdown of the recent folders that takes typing; opening the tab (or entering
    the box) re-reads the list, so a folder checked in another tab a moment ago is offered; starting remembers."""
    import gradio as gr

    from lib_ti.ui.app import build_tabs

    ctx = standalone_context(tmp_path / "data")
    workspace.remember_folder(ctx.data_dir, tmp_path / "old")
    with gr.Blocks() as blocks:
        build_tabs(ctx)
    box = workspace.find(blocks, "tilab_train_data")
    assert type(box).__name__ == "Dropdown" and box.allow_custom_value
    example = str(ctx.data_dir / workspace.EXAMPLE_FOLDER)  # the standalone app offers the demo's example set last
    assert box.choices == [str(tmp_path / "old"), example]
    refreshes = [(fn, dep) for fn, dep in zip(blocks.fns, blocks.dependencies)
                 if getattr(fn.fn, "__name__", "") == "fresh_folders"]
    assert {dep["trigger"] for _, dep in refreshes} == {"focus", "select"}  # the box, and the Train tab itself
    assert all(dep["outputs"] == [box._id] for _, dep in refreshes)
    workspace.remember_folder(ctx.data_dir, tmp_path / "checked")  # e.g. the Dataset tab's check
    assert refreshes[0][0].fn()["choices"] == [str(tmp_path / "checked"), str(tmp_path / "old"), example]


def test_the_standalone_app_offers_a_copy_of_the_example_set_and_the_host_does_not(tmp_path, monkeypatch):
    """Why: a newcomer on a fresh machine has no folder of pictures yet; the copy keeps the shipped set as shipped
    when the Dataset check sets files aside or the Captions tab saves captions."""
    from lib_ti.demo import EXAMPLE_SET

    ctx = standalone_context(tmp_path / "data")
    choices = workspace.folder_choices(ctx)
    copy = ctx.data_dir / workspace.EXAMPLE_FOLDER
    assert choices == [str(copy)]
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in EXAMPLE_SET.iterdir())
    assert all((copy / p.name).read_bytes() == p.read_bytes() for p in EXAMPLE_SET.iterdir())
    (copy / "00-small-white.txt").write_text("edited", encoding="utf-8")  # the user's edit survives a reload
    assert workspace.folder_choices(ctx) == [str(copy)]
    assert (copy / "00-small-white.txt").read_text(encoding="utf-8") == "edited"
    workspace.remember_folder(ctx.data_dir, copy)  # picked once: listed once, first
    assert workspace.folder_choices(ctx) == [str(copy)]
    assert not [p for p in ctx.data_dir.iterdir() if p.name.startswith(".")]  # no temporary copy left behind

    monkeypatch.setattr(ctx, "in_host", True)
    assert workspace.folder_choices(ctx) == [str(copy)]  # the recent list only: the host has real checkpoints
    workspace.remember_folder(ctx.data_dir, tmp_path / "faces")
    assert str(tmp_path / "faces") in workspace.folder_choices(ctx)


@pytest.mark.parametrize("module, name", [
    ("tempfile", "mkdtemp"),   # a read-only data folder: no copy can start
    ("shutil", "copyfile"),    # a full disk: the copy fails half way
])
def test_a_data_folder_that_refuses_the_copy_costs_only_the_example_offer(tmp_path, monkeypatch, module, name):
    import errno
    import importlib

    def refuse(*_a, **_kw):
        raise OSError(errno.ENOSPC if name == "copyfile" else errno.EROFS, "refused")

    ctx = standalone_context(tmp_path / "data")
    monkeypatch.setattr(importlib.import_module(module), name, refuse)
    assert workspace.folder_choices(ctx) == []
    assert not (ctx.data_dir / workspace.EXAMPLE_FOLDER).exists()
    assert not [p for p in ctx.data_dir.iterdir() if p.name.startswith(".")]  # no half copy left behind


def test_suggested_weight_comes_from_the_inspector_on_the_loaded_model(tmp_path):
    """An embedding 4× longer than a typical token is suggested at the inspector's weakening; no model → a note."""
    import torch

    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from sdkit import build_tiny_sd

    from lib_ti.model.backend import SDBackend
    from lib_ti.model.embeddings import create_embedding, save_embedding, scale_embedding
    from lib_ti.model.inspect import inspect_embedding
    from lib_ti.ui.emphasis_tab import suggest_weight

    ctx = standalone_context(tmp_path / "data")
    weight, note = suggest_weight(ctx, "strong")
    assert "No suggestion" in note and "tilab-error" in note  # no embedding, no model: said, not raised
    backend = SDBackend(build_tiny_sd("sd1", workdir=tmp_path / "sd"))
    torch.manual_seed(0)
    emb = scale_embedding(create_embedding(backend, "strong", 1, "a photo"), 4.0)
    save_embedding(emb, ctx.embeddings_folder() / "strong.pt")
    ctx.get_backend = lambda: backend  # as inside the host: the loaded model
    expected = inspect_embedding(emb, backend)["suggested_scale"]
    weight, note = suggest_weight(ctx, "strong")
    assert expected < 0.5 and weight == round(expected, 2) and f"{expected:.2f}" in note, note
