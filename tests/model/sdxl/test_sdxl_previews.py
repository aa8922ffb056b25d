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


#: decoded value (VAE output in [-1, 1]) → the host's txt2img pixel: ``uint8(255 * clamp((x + 1) / 2, 0, 1))``
#: truncates; found in the real host, where the tiny SDXL's preview and txt2img differed by one level in about half
#: the pixels (mean |diff| 0.49, max 1) while the latents agreed
HOST_PIXELS = [(-1.0, 0), (-2.0, 0), (-0.5, 63), (0.0, 127), (0.5, 191), (0.999, 254), (1.0, 255), (3.0, 255)]


@pytest.mark.parametrize("decoded, pixel", HOST_PIXELS)
def test_preview_pixels_truncate_like_the_hosts_txt2img(decoded, pixel):
    from types import SimpleNamespace

    from lib_ti.model.sampling import latents_to_images

    vae_output = SimpleNamespace(decode=lambda z: z)  # the decoded image itself: only the conversion is under test
    (image,) = latents_to_images(vae_output, torch.full((1, 3, 2, 2), decoded))
    assert set(image.getdata()) == {(pixel, pixel, pixel)}


@pytest.mark.parametrize("sampler", ["Euler a", "DPM++ 2M Karras"])
def test_preview_unet_sees_the_hosts_unquantized_timesteps(xl_backend, sampler):
    """The host builds its k-diffusion wrapper with ``quantize=opts.enable_quantization``, off by default: at 6 steps
    the UNet gets fractional timesteps (e.g. 799.2), not the nearest of the 1000 training steps."""
    import k_diffusion as K

    from lib_ti.model.sampling import make_denoiser, sigmas_for

    ours = make_denoiser(xl_backend)
    hosts = K.external.CompVisDenoiser(xl_backend, quantize=False)
    sigmas = sigmas_for(ours, sampler, 6)[:-1]
    t = ours.sigma_to_t(sigmas)
    assert torch.equal(t, hosts.sigma_to_t(sigmas))
    assert not torch.equal(t, t.round())
