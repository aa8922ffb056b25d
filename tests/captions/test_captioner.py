"""BLIP captioning end to end with a tiny random BLIP written to disk, and the host's existing-caption rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_image
from lib_ti.captions.captioner import (TransformersBlip, as_captioner, caption_images, combine_caption,
                                       resolve_model_folder)
from lib_ti.captions.sidecar import CaptionError
from lib_ti.core.jobs import Job
from lib_ti.core.settings import Settings


@pytest.mark.parametrize(
    "existing, new, action, expected",
    [  # the host's postprocessing rule (modules/postprocessing.py)
        ("old words", "new words", "ignore", "new words"),
        ("old words", "new words", "keep", "old words"),
        ("old words", "new words", "prepend", "old words new words"),
        ("old words", "new words", "append", "new words old words"),
        ("", "new words", "keep", "new words"),
        ("", "new words", "prepend", "new words"),
        ("  \n", "new words", "append", "new words"),
        ("old\n", " new ", "Prepend", "old new"),  # both stripped; action names in any case
        ("old", "", "ignore", ""),  # nothing to write
    ],
)
def test_existing_caption_rule(existing, new, action, expected):
    assert combine_caption(existing, new, action) == expected


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="copy.*ignore, keep, prepend, append"):
        combine_caption("", "x", "copy")


def _weights_only_bin_copy(src: Path, dst: Path) -> Path:
    """The same model saved the older way: pytorch_model.bin instead of model.safetensors."""
    import shutil

    import torch
    from safetensors.torch import load_file

    shutil.copytree(src, dst)
    torch.save(load_file(str(dst / "model.safetensors")), dst / "pytorch_model.bin")
    (dst / "model.safetensors").unlink()
    return dst


def test_tiny_blip_loads_through_real_loader_and_captions(tmp_path: Path, tiny_blip: Path):
    from PIL import Image

    from tiny_blip import WORDS

    image = Image.new("RGB", (50, 40), (200, 10, 10))
    cap = TransformersBlip(str(tiny_blip), num_beams=2, min_length=3, max_length=10, device="cpu")
    text = cap.caption(image)
    assert text and set(text.split()) <= set(WORDS)  # decoded through the folder's own vocabulary
    # the same weights from a .bin (read with weights_only=True) give the same caption
    bin_folder = _weights_only_bin_copy(tiny_blip, tmp_path / "bin")
    assert TransformersBlip(str(bin_folder), num_beams=2, min_length=3, max_length=10).caption(image) == text


def test_settings_drive_beams_and_lengths(tiny_blip: Path):
    s = Settings({"tilab_blip_num_beams": 4, "tilab_blip_min_length": 2, "tilab_blip_max_length": 9,
                  "tilab_blip_model": str(tiny_blip)})
    cap = TransformersBlip.from_settings(s)
    assert (cap.source, cap.num_beams, cap.min_length, cap.max_length) == (str(tiny_blip), 4, 2, 9)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing" / "model", "was not found"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "not a BLIP model"),
        (lambda d: "nobody/no-such-blip", "not in the Hugging Face cache and downloads are off"),
    ],
)
def test_model_not_available_is_a_clear_message(tmp_path: Path, monkeypatch, make, message):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CaptionError, match=message):
        resolve_model_folder(str(make(tmp_path)))


def _images(d: Path, n: int) -> list[Path]:
    d.mkdir(exist_ok=True)
    return [make_image(d / f"im{i}.png", (i * 40 % 255, 90, 200 - i * 30)) for i in range(n)]


def test_batch_writes_sidecars_and_respects_existing(tmp_path: Path, tiny_blip: Path):
    imgs = _images(tmp_path / "set", 4)
    (tmp_path / "set" / "im1.txt").write_bytes(b"\xef\xbb\xbfmy caption\r\n")  # BOM + CRLF kept
    (tmp_path / "set" / "im2.txt").write_bytes(b"keep me")
    cap = TransformersBlip(str(tiny_blip), num_beams=1, min_length=3, max_length=8)
    res = caption_images(imgs, cap, "prepend")
    assert res.written == ["im0.png", "im1.png", "im2.png", "im3.png"] and not res.errors
    blip0 = (tmp_path / "set" / "im0.txt").read_text("utf-8")
    assert blip0 and blip0 == blip0.strip()
    raw1 = (tmp_path / "set" / "im1.txt").read_bytes()
    assert raw1.startswith(b"\xef\xbb\xbfmy caption ") and len(raw1) > len(b"\xef\xbb\xbfmy caption ")
    assert (tmp_path / "set" / "im2.txt").read_text().startswith("keep me ")
    assert cap.model is None  # unloaded after the batch


def test_keep_skips_captioned_images_without_loading_the_model(tmp_path: Path):
    imgs = _images(tmp_path / "set", 2)
    for p in imgs:
        p.with_suffix(".txt").write_text("mine")
    cap = TransformersBlip(str(tmp_path / "no-model-here"))
    res = caption_images(imgs, cap, "keep")  # would raise if it tried to load
    assert res.kept == ["im0.png", "im1.png"] and res.written == []


def test_interrupt_keeps_every_caption_written_so_far(tmp_path: Path, tiny_blip: Path):
    imgs = _images(tmp_path / "set", 5)
    job = Job()
    cap = TransformersBlip(str(tiny_blip), num_beams=1, min_length=2, max_length=6)

    def stop_after_two(path: Path, text: str) -> None:
        if path.name == "im1.png":
            job.interrupt()

    res = caption_images(imgs, cap, "ignore", job=job, on_written=stop_after_two)
    assert res.interrupted and res.written == ["im0.png", "im1.png"]
    assert [p.with_suffix(".txt").exists() for p in imgs] == [True, True, False, False, False]
    assert "Stopped early" in res.message()


def test_unreadable_image_is_named_and_the_batch_goes_on(tmp_path: Path, tiny_blip: Path):
    imgs = _images(tmp_path / "set", 2)
    broken = tmp_path / "set" / "broken.png"
    broken.write_bytes(b"not a png")
    blip = TransformersBlip(str(tiny_blip), num_beams=1, max_length=6)
    res = caption_images([imgs[0], broken, imgs[1]], blip, "ignore")
    assert res.written == ["im0.png", "im1.png"]
    assert len(res.errors) == 1 and "broken.png" in res.errors[0]
    assert not broken.with_suffix(".txt").exists()


class _RecordingInterrogator:
    """Stands in for the host's ``shared.interrogator`` API shape (load/generate_caption/send_blip_to_ram/unload),
    backed by the tiny BLIP so the caption is still a real model output."""

    def __init__(self, blip: TransformersBlip) -> None:
        self.blip, self.calls = blip, []

    def load(self):
        self.calls.append("load")
        self.blip.load()

    def generate_caption(self, pil):
        self.calls.append("generate_caption")
        return self.blip.caption(pil)

    def send_blip_to_ram(self):
        self.calls.append("send_blip_to_ram")

    def unload(self):
        self.calls.append("unload")


def test_host_interrogator_shape_is_adapted(tmp_path: Path, tiny_blip: Path):
    imgs = _images(tmp_path / "set", 2)
    host_like = _RecordingInterrogator(TransformersBlip(str(tiny_blip), num_beams=1, max_length=6))
    res = caption_images(imgs, as_captioner(host_like), "ignore")
    assert res.written == ["im0.png", "im1.png"]
    assert host_like.calls == ["load", "generate_caption", "generate_caption", "send_blip_to_ram", "unload"]
    with pytest.raises(TypeError):
        as_captioner(object())


@pytest.mark.parametrize(
    "text, allowed",
    [("Salesforce/blip-image-captioning-base", True), ("", True), ("{inside}", True), ("{outside}", False),
     ("~/../../etc", False)],
)
def test_model_folder_typed_in_the_ui_goes_through_the_path_guard(tmp_path: Path, text, allowed):
    from lib_ti.captions.captioner import check_model_source
    from lib_ti.core.paths import PathGuard, PathRefused

    (tmp_path / "inside").mkdir()
    (tmp_path / "outside").mkdir()
    guard = PathGuard.restricted_to([tmp_path / "inside"], "shared UI")
    text = text.format(inside=tmp_path / "inside", outside=tmp_path / "outside")
    if allowed:
        assert check_model_source(guard, text) in (text, str((tmp_path / "inside").resolve()))
    else:
        with pytest.raises(PathRefused):
            check_model_source(guard, text)
