"""Preview sampler: finite images, the same for the same seed, different for another seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib_ti.model.sampling import SAMPLERS, sample_images


def _arrays(images):
    return [np.asarray(im) for im in images]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampler_is_deterministic_per_seed(backend, sampler):
    vec = torch.randn(2, backend.embedding_width, generator=torch.Generator().manual_seed(0)) * 0.1
    kw = dict(embeddings={"zork": vec}, sampler=sampler, steps=4, cfg_scale=5.0, width=64, height=64)
    a = sample_images(backend, ["a photo of zork", "zork, (red:1.2)"], seed=7, **kw)
    b = sample_images(backend, ["a photo of zork", "zork, (red:1.2)"], seed=7, **kw)
    c = sample_images(backend, ["a photo of zork", "zork, (red:1.2)"], seed=8, **kw)
    assert [im.size for im in a] == [(64, 64), (64, 64)] and a[0].mode == "RGB"
    assert all(np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(b)))
    assert not np.array_equal(_arrays(a)[0], _arrays(c)[0])


def test_preview_depends_on_the_embedding(backend):
    g = torch.Generator().manual_seed(1)
    v1, v2 = torch.randn(2, backend.embedding_width, generator=g), torch.randn(2, backend.embedding_width, generator=g)
    kw = dict(sampler="DPM++ 2M Karras", steps=4, seed=3, width=64, height=64)
    a = sample_images(backend, ["a photo of zork"], embeddings={"zork": v1}, **kw)[0]
    b = sample_images(backend, ["a photo of zork"], embeddings={"zork": v2}, **kw)[0]
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_v_prediction_model_samples(tiny_workdir):
    from lib_ti.model.backend import SDBackend
    from sdkit import build_tiny_sd

    backend = SDBackend(build_tiny_sd("sd2", workdir=tiny_workdir, parameterization="v"))
    assert backend.parameterization == "v"
    img = sample_images(backend, ["a photo"], steps=3, seed=1, width=64, height=64)[0]
    pixels = np.asarray(img, dtype=float)
    # a sampler that returned NaN latents decodes to one flat colour; a real sample varies across the image
    assert img.size == (64, 64) and pixels.std() > 1.0


@pytest.mark.parametrize("kw, message", [
    (dict(sampler="DDIM"), "Unknown sampler"),
    (dict(width=60), "multiples of 8"),
])
def test_bad_sampler_arguments(backend, kw, message):
    with pytest.raises(ValueError, match=message):
        sample_images(backend, ["x"], **{"steps": 2, **kw})


# ----------------------------------------------------------------------------- the host's noise
def test_image_noise_is_the_hosts_per_image_streams():
    """Image i owns generator(seed + i): its first draw starts the image, later draws are its per-step noise;
    with eta_noise_seed_delta the per-step draws come from generator(seed + i + delta)."""
    from lib_ti.model.sampling import ImageNoise

    shape = (4, 3, 2)

    def draws(seed, k, start=None):
        g = torch.Generator().manual_seed(seed)
        out = [torch.randn(shape, generator=g) for _ in range(k)]
        if start is not None:
            g = torch.Generator().manual_seed(start)
            out = out[:1] + [torch.randn(shape, generator=g) for _ in range(k - 1)]
        return out

    plain = ImageNoise(shape, [5, 6])
    got = [plain.next() for _ in range(3)]
    for i, seed in enumerate((5, 6)):
        assert all(torch.equal(got[k][i], d) for k, d in enumerate(draws(seed, 3)))
    ensd = ImageNoise(shape, [5, 6], eta_noise_seed_delta=31337)
    got = [ensd.next() for _ in range(3)]
    for i, seed in enumerate((5, 6)):
        assert all(torch.equal(got[k][i], d) for k, d in enumerate(draws(seed, 3, start=seed + 31337)))


@pytest.mark.parametrize("source", ["CPU", "GPU"])
@pytest.mark.parametrize("delta", [0, 31337])
def test_image_noise_equals_the_hosts_image_rng(monkeypatch, source, delta):
    """Host tier: the host's own ``modules/rng.py`` (on a CPU device) draws exactly what ImageNoise draws."""
    import sys
    import types

    from host_source import read_host_file
    from lib_ti.model.sampling import ImageNoise

    code = read_host_file("modules/rng.py")
    modules = types.ModuleType("modules")
    devices = types.SimpleNamespace(device=torch.device("cpu"), cpu=torch.device("cpu"))
    shared = types.SimpleNamespace(opts=types.SimpleNamespace(randn_source=source, eta_noise_seed_delta=delta),
                                   device=torch.device("cpu"))
    modules.devices, modules.shared, modules.rng_philox = devices, shared, types.SimpleNamespace()
    for name, mod in {"modules": modules, "modules.devices": devices, "modules.shared": shared,
                      "modules.rng_philox": modules.rng_philox}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    host_rng = types.ModuleType("host_rng")
    exec(compile(code, "modules/rng.py", "exec"), host_rng.__dict__)
    theirs = host_rng.ImageRNG((4, 8, 8), [11, 12, 13])
    ours = ImageNoise((4, 8, 8), [11, 12, 13], eta_noise_seed_delta=delta)
    for _ in range(4):
        assert torch.equal(theirs.next(), ours.next())


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_batch_preview_equals_single_previews(backend, sampler):
    """The host's property (its TorchHijack's reason to exist): image i of a batch with seed s is the image made
    alone with seed s + i, for ancestral samplers too, because each image draws its own noise."""
    kw = dict(sampler=sampler, steps=4, cfg_scale=5.0, width=64, height=64)
    batch = _arrays(sample_images(backend, ["a photo of a cat", "a red square"], seed=7, **kw))
    alone = _arrays(sample_images(backend, ["a red square"], seed=8, **kw))
    diff = np.abs(batch[1].astype(float) - alone[0].astype(float))
    assert diff.mean() < 0.5 and diff.max() <= 2, (diff.mean(), diff.max())


def test_euler_a_draws_one_noise_per_step_from_the_backends_rng(tiny_model):
    from lib_ti.model.backend import SDBackend
    from lib_ti.model.sampling import ImageNoise

    made = []

    def factory(shape, seeds):
        made.append(ImageNoise(shape, seeds))
        real = made[-1].next
        made[-1].calls = 0

        def counted():
            made[-1].calls += 1
            return real()

        made[-1].next = counted
        return made[-1]

    backend = SDBackend(tiny_model, image_rng=factory)
    sample_images(backend, ["x", "y"], sampler="Euler a", steps=5, seed=3, width=64, height=64)
    assert len(made) == 1 and made[0].seeds == [3, 4] and made[0].calls == 5  # start + 4 steps with noise
