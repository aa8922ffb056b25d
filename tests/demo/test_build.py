"""The demo model's build script, in miniature: reproducible, and the same model when made in two sittings."""

from __future__ import annotations

import hashlib

import pytest

from lib_ti.demo import build as demo_build

TINY = dict(images=16, vae_steps=3, vae_batch=2, vae_check_every=0, unet_steps=2, unet_batch=2, warmup=1,
            save_every=2, score_every=0)


def _digest(path) -> str:
    """The weights' digest (the file's metadata also records minutes taken)."""
    from safetensors.torch import load_file

    h = hashlib.sha256()
    for key, tensor in sorted(load_file(str(path)).items()):
        h.update(key.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    return demo_build.build(out, demo_build.Plan(**TINY), log=lambda _: None), out


def test_a_build_in_two_sittings_is_the_whole_build(whole, tmp_path):
    """Why: the quality bar needs more CPU than one sitting; the VAE stage file lets a build continue later."""
    model, out = whole
    assert (out / demo_build.VAE_FILE).exists()
    again = demo_build.build(tmp_path, demo_build.Plan(**TINY), log=lambda _: None, vae_from=out / demo_build.VAE_FILE)
    assert _digest(again) == _digest(model)


@pytest.mark.parametrize("content, says", [
    (b"not a safetensors file", "not a VAE stage file"),
    (None, "no tilab_demo_vae metadata"),  # a real safetensors file of something else
])
def test_vae_from_refuses_a_file_that_is_not_a_vae_stage(whole, tmp_path, content, says):
    model, _ = whole
    bad = tmp_path / "other.safetensors"
    if content is None:
        bad.write_bytes(model.read_bytes())  # the model file: safetensors, but not a VAE stage
    else:
        bad.write_bytes(content)
    with pytest.raises(SystemExit, match=says) as err:
        demo_build.build(tmp_path / "out", demo_build.Plan(**TINY), log=lambda _: None, vae_from=bad)
    assert str(bad) in str(err.value)
