"""The Dataset tab's CLIP field on a shared server (issue 10, item 3): a client can neither open a file outside the
allowed folders through it nor tell whether one exists (before: 500 for existing files, a message otherwise)."""

from __future__ import annotations

from PIL import Image

from lib_ti.ui.dataset_tab import run_check
from lib_ti.ui.standalone import make_context


def test_clip_weights_outside_the_allowed_folders_are_refused_alike(tmp_path):
    data = tmp_path / "data"
    folder = data / "set"
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64), (120, 30, 30)).save(folder / "a.png")
    (tmp_path / "exists.safetensors").write_bytes(b"secret")
    ctx = make_context("0.0.0.0", data)
    answers = []
    for spec in (f"ViT-B-32={tmp_path / 'exists.safetensors'}", f"ViT-B-32={tmp_path / 'missing.safetensors'}",
                 f"{tmp_path / 'exists.json'}=x.safetensors"):
        out = run_check(ctx, str(folder), 64, False, "", spec)
        assert "outside the allowed folders" in out.status, out.status
        answers.append(out.status.replace("exists", "X").replace("missing", "X"))
    assert answers[0] == answers[1], "existing and missing files must get the same answer"
