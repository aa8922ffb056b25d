"""SDXL previews use the host's unconditional side: an empty negative prompt is zeros (sgm's
``force_zero_embeddings``, what txt2img does for SDXL), a written one is encoded as text."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.parametrize("negative, zeroed", [("", True), ("blurry", False)])
def test_preview_negative_is_the_hosts(xl_backend, negative, zeroed):
    from lib_ti.model.sampling import latents_to_images, sample_images, sample_latents

    b = xl_backend
    emb = {"xlzork": b.encode_init_text("square", 2)}
    prompts = ["a photo of xlzork", "xlzork"]
    kw = dict(steps=2, cfg_scale=5.0, seed=3, width=64, height=64)
    images = sample_images(b, prompts, negative=negative, embeddings=emb, **kw)

    with torch.no_grad():
        cond = b.encode_prompts(prompts, emb)
        text = b.encode_prompts([negative] * 2, emb)
        hosts = b.encode_prompts([negative] * 2, emb, negative=True)
    assert (not hosts.crossattn.any() and not hosts.pooled.any()) is zeroed
    assert torch.equal(hosts.crossattn, text.crossattn) is not zeroed
    pixels = [torch.tensor(list(im.getdata())) for im in images]
    expected = latents_to_images(b, sample_latents(b, cond, hosts, **kw))
    assert all(torch.equal(p, torch.tensor(list(e.getdata()))) for p, e in zip(pixels, expected))
    if zeroed:  # and not what encoding "" as text would give
        as_text = latents_to_images(b, sample_latents(b, cond, text, **kw))
        assert any(not torch.equal(p, torch.tensor(list(e.getdata()))) for p, e in zip(pixels, as_text))
