"""Embeddings: the host's creation rules, every file format it reads, its restricted ``.pt`` loader, safety."""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import save_file

from lib_ti.model.embeddings import (Embedding, budget_warning, create_embedding, load_embedding, save_embedding,
                                  scale_embedding, validate_name)


# ---------------------------------------------------------------------------- the host's safe.py rule, restated
def host_would_accept(path: Path) -> None:
    """Raise like the host's ``modules/safe.py`` check_pt would: zip entry names, then a restricted unpickle."""
    allowed_tail = ("data.pkl", "version", "byteorder", ".data/serialization_id")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        for name in names:
            folder, _, rest = name.partition("/")
            ok = folder and (rest in allowed_tail or (rest.startswith("data/") and rest[5:].isdigit()))
            if not ok:
                raise ValueError(f"bad file inside {path.name}: {name}")
        pkls = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkls) != 1:
            raise ValueError(f"{len(pkls)} data.pkl in {path.name}")

        class Restricted(pickle.Unpickler):
            def persistent_load(self, saved_id):
                assert saved_id[0] == "storage"
                return torch.storage.TypedStorage(_internal=True)

            def find_class(self, module, name):
                allowed = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
                           ("torch._utils", "_rebuild_parameter"), ("torch", "FloatStorage"),
                           ("torch", "HalfStorage"), ("torch.nn.modules.container", "ParameterDict")}
                if (module, name) not in allowed:
                    raise ValueError(f"global '{module}/{name}' is forbidden")
                import importlib

                return getattr(importlib.import_module(module), name)

        with z.open(pkls[0]) as fh:
            Restricted(fh).load()


def test_every_pt_we_write_passes_the_hosts_safe_loader(tmp_path):
    emb = Embedding("cat", torch.randn(4, 32), step=12, sd_checkpoint="0123456789", sd_checkpoint_name="model")
    path = save_embedding(emb, tmp_path / "cat.pt")
    host_would_accept(path)


def test_the_safe_loader_restatement_rejects_what_the_host_rejects(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"string_to_param": {"*": torch.zeros(1, 4)}}, plain)
    extra = [n for n in zipfile.ZipFile(plain).namelist() if n.rsplit("/", 1)[-1].startswith(".") and "/.data/" not in n]
    if extra:  # torch >= 2.x writes .format_version / .storage_alignment: the host refuses such files
        with pytest.raises(ValueError, match="bad file inside"):
            host_would_accept(plain)
    raw = io.BytesIO()
    torch.save({"x": Path("a")}, raw)  # a pickled pathlib object: a global outside the allow-list
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(evil, "w") as dst:  # only allowed entry names
        for name in src.namelist():
            if not name.rsplit("/", 1)[-1].startswith(".") or "/.data/" in name:
                dst.writestr(name, src.read(name))
    with pytest.raises(ValueError, match="forbidden"):
        host_would_accept(evil)


def test_pt_layout_is_the_hosts(tmp_path):
    vec = torch.randn(2, 32)
    path = save_embedding(Embedding("cat", vec, step=7, sd_checkpoint="abcdef0123", sd_checkpoint_name="m1"),
                          tmp_path / "cat.pt")
    data = torch.load(path, weights_only=True)
    assert set(data) == {"string_to_token", "string_to_param", "name", "step", "sd_checkpoint", "sd_checkpoint_name"}
    assert data["string_to_token"] == {"*": 265}
    assert torch.equal(data["string_to_param"]["*"], vec) and data["string_to_param"]["*"].dtype == torch.float32
    assert (data["name"], data["step"], data["sd_checkpoint"], data["sd_checkpoint_name"]) == ("cat", 7, "abcdef0123", "m1")


def test_a_view_is_saved_without_its_base_storage(tmp_path):
    big = torch.randn(1000, 32)
    path = save_embedding(Embedding("v", big[:2]), tmp_path / "v.pt")
    assert path.stat().st_size < 4 * 32 * 50


# ---------------------------------------------------------------------------- round trips and formats
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip(tmp_path, suffix):
    emb = Embedding("ignored-inside", torch.randn(3, 32), step=250, sd_checkpoint="0123456789",
                    sd_checkpoint_name="tiny")
    loaded = load_embedding(save_embedding(emb, tmp_path / f"my emb{suffix}"))
    assert loaded.name == "my emb"  # the host names .pt/.safetensors embeddings by file stem
    assert torch.equal(loaded.vec, emb.vec)
    assert (loaded.step, loaded.sd_checkpoint, loaded.sd_checkpoint_name) == (250, "0123456789", "tiny")


def _png_with_embedding(path: Path, data: dict) -> Path:
    def enc(o):
        if isinstance(o, torch.Tensor):
            return {"TORCHTENSOR": o.tolist()}
        raise TypeError

    info = PngImagePlugin.PngInfo()
    info.add_text("sd-ti-embedding", base64.b64encode(json.dumps(data, default=enc).encode()).decode())
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def _legacy_parameterdict(path: Path, vec: torch.Tensor) -> Path:
    pd = torch.nn.ParameterDict({"*": torch.nn.Parameter(vec.clone())})
    torch.save({"string_to_token": {"*": 265}, "string_to_param": pd, "name": "x", "step": 3}, path)
    return path


FORMATS = [
    ("format A .bin", "a.bin", lambda p, v: torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": v},
                                                          "step": 9}, p), 9),
    ("old ParameterDict", "b.pt", _legacy_parameterdict, 3),
    ("diffusers concept, 1-D", "c.bin", lambda p, v: torch.save({"<c>": v[0]}, p), None),
    ("emb_params .pt", "d.pt", lambda p, v: torch.save({"emb_params": v}, p), None),
    ("emb_params .safetensors", "e.safetensors", lambda p, v: save_file({"emb_params": v.contiguous()}, str(p)), None),
    ("other key .safetensors", "f.safetensors", lambda p, v: save_file({"foo": v.contiguous()}, str(p)), None),
]


@pytest.mark.parametrize("filename,write,step", [f[1:] for f in FORMATS], ids=[f[0] for f in FORMATS])
def test_loads_every_host_format(tmp_path, filename, write, step):
    vec = torch.randn(2, 32)
    path = tmp_path / filename
    write(path, vec)
    emb = load_embedding(path)
    expected = vec[:1] if filename == "c.bin" else vec  # a 1-D tensor is one vector
    assert torch.equal(emb.vec, expected) and emb.vec.dtype == torch.float32
    assert emb.name == path.stem and emb.step == step


def test_png_text_chunk_embedding(tmp_path):
    vec = torch.randn(2, 32)
    path = _png_with_embedding(tmp_path / "pic.png", {"string_to_token": {"*": 265}, "string_to_param": {"*": vec},
                                                      "name": "stored-name", "step": 40})
    emb = load_embedding(path)
    assert emb.name == "stored-name" and emb.step == 40
    torch.testing.assert_close(emb.vec, vec)


def _hide_in_pixels(image: Image.Image, data: dict) -> Image.Image:
    """The host's pixel format, written here from its description: zlib JSON, low nibbles in a left block, high
    nibbles in a right block, each XORed with an LCG key stream, black columns around the picture."""
    import zlib

    import numpy as np

    def enc(o):
        if isinstance(o, torch.Tensor):
            return {"TORCHTENSOR": o.tolist()}
        raise TypeError

    def key(n):
        seed, out = 0, []
        for _ in range(n):
            seed = (1664525 * seed + 1013904223) % 2**32
            out.append((seed % 255) & 0x0F)
        return np.array(out, dtype=np.uint8)

    raw = np.frombuffer(zlib.compress(json.dumps(data, default=enc).encode(), 9), np.uint8)
    h = image.height
    w = -(-raw.size // (h * 3))
    n = h * w * 3
    low = (np.resize(raw & 0x0F, n) ^ key(n)).reshape(h, w, 3) | 0x80  # a visible high nibble: not cropped
    high = (np.resize(raw >> 4, n) ^ key(n)).reshape(h, w, 3) | 0x80
    canvas = Image.new("RGB", (2 * w + image.width + 2, h))
    canvas.paste(Image.fromarray(low.astype(np.uint8)), (0, 0))
    canvas.paste(image, (w + 1, 0))
    canvas.paste(Image.fromarray(high.astype(np.uint8)), (w + 1 + image.width + 1, 0))
    return canvas


def test_embedding_hidden_in_pixels(tmp_path):
    vec = torch.randn(2, 32)
    data = {"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": "hidden", "step": 77}
    path = tmp_path / "card.png"
    _hide_in_pixels(Image.new("RGB", (24, 24), (200, 120, 60)), data).save(path)
    emb = load_embedding(path)
    assert emb.name == "hidden" and emb.step == 77
    torch.testing.assert_close(emb.vec, vec)


REFUSED = [
    ("sdxl, vector counts differ", "x.safetensors",
     lambda p: save_file({"clip_l": torch.zeros(1, 768), "clip_g": torch.zeros(2, 1280)}, str(p)),
     "clip_l and clip_g must be"),
    ("sdxl, a third tensor", "x2.safetensors",
     lambda p: save_file({"clip_l": torch.zeros(1, 768), "clip_g": torch.zeros(1, 1280), "t5": torch.zeros(1, 8)},
                         str(p)), "only clip_l and clip_g"),
    ("two terms", "y.pt", lambda p: torch.save({"string_to_param": {"a": torch.zeros(1, 4), "b": torch.zeros(1, 4)}}, p),
     "multiple terms"),
    ("two tensors", "z.pt", lambda p: torch.save({"a": torch.zeros(1, 4), "b": torch.zeros(1, 4)}, p), "multiple terms"),
    ("not a dict", "w.pt", lambda p: torch.save([torch.zeros(1, 4)], p), "not an embedding"),
    ("no tensors", "v.pt", lambda p: torch.save({"name": "x"}, p), "couldn't identify"),
    ("png without data", "u.png", lambda p: Image.new("RGB", (16, 16), (90, 140, 30)).save(p), "carries no embedding"),
    ("black png", "s.png", lambda p: Image.new("RGB", (4, 4)).save(p), "carries no embedding"),
    ("unknown type", "t.txt", lambda p: p.write_text("hi"), "unknown embedding file type"),
]


@pytest.mark.parametrize("filename,write,message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused_files_name_the_file_and_the_reason(tmp_path, filename, write, message):
    path = tmp_path / filename
    write(path)
    with pytest.raises(ValueError, match=message) as err:
        load_embedding(path)
    assert str(path) in str(err.value)


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", [".pt", ".bin"])
def test_a_pickle_carrying_code_is_refused_and_never_run(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"string_to_param": {"*": torch.zeros(1, 4)}, "x": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="refused to load") as err:
        load_embedding(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_save_is_atomic_and_refuses_bad_vectors(tmp_path):
    good = save_embedding(Embedding("a", torch.ones(1, 4)), tmp_path / "a.pt")
    before = good.read_bytes()
    with pytest.raises(ValueError, match="NaN"):
        save_embedding(Embedding("a", torch.tensor([[float("nan"), 0, 0, 0]])), good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]  # no temporary file left behind
    with pytest.raises(ValueError, match=r"\.pt \(host format\) or \.safetensors"):
        save_embedding(Embedding("a", torch.ones(1, 4)), tmp_path / "a.bin")


# ---------------------------------------------------------------------------- names, budget, scale
@pytest.mark.parametrize("name,expected", [
    ("my cat", "my cat"), ("cat!?/\\:*", "cat"), ("v1.5_style-x", "v1.5_style-x"), ("ネコ", "ネコ"),
    ("<zzcat>", "zzcat"),
])
def test_name_rules_are_the_hosts(name, expected):
    assert validate_name(name) == expected


@pytest.mark.parametrize("name", ["", "!!!", "<>", " . "])
def test_names_without_usable_characters_are_refused(name):
    with pytest.raises(ValueError, match="no usable characters"):
        validate_name(name)


@pytest.mark.parametrize("n,warns,mentions", [(1, False, ""), (9, False, ""), (10, True, "65 for the rest"),
                                              (40, True, "spill into extra chunks"), (75, True, "(100%)")])
def test_budget_warning(n, warns, mentions):
    msg = budget_warning(n)
    assert (msg is not None) is warns
    if warns:
        assert mentions in msg


@pytest.mark.parametrize("n", [0, 76, -1])
def test_budget_warning_refuses_impossible_counts(n):
    with pytest.raises(ValueError, match="1 to 75"):
        budget_warning(n)


def test_scale_makes_a_weakened_copy():
    emb = Embedding("a", torch.ones(2, 4), step=5, sd_checkpoint="h", sd_checkpoint_name="n")
    weak = scale_embedding(emb, 0.7)
    assert torch.allclose(weak.vec, torch.full((2, 4), 0.7))
    assert (weak.name, weak.step, weak.sd_checkpoint, weak.sd_checkpoint_name) == ("a", 5, "h", "n")
    assert torch.equal(emb.vec, torch.ones(2, 4))
    with pytest.raises(ValueError, match="positive"):
        scale_embedding(emb, 0)


# ---------------------------------------------------------------------------- creation on real tiny models
def token_rows(backend, text):
    """The host's init rows: the token table at the ids of ``text`` (HF path truncated by the caller)."""
    return backend.token_table[torch.tensor(backend.tokenize(text))]


@pytest.mark.parametrize("kind,init,n,rows", [
    ("sd1", "cat dog", 4, [0, 0, 1, 1]),           # fewer tokens than vectors: repeated
    ("sd1", "cat", 3, [0, 0, 0]),
    ("sd1", "a red cat sitting", 4, [0, 1, 2, 3]),
    ("sd1", "a red cat sitting down", 2, [0, 1]),  # HF tokenizer truncates to N tokens first
    ("sd2", "a red cat sitting down", 2, [0, 2]),  # open_clip does not: evenly spaced tokens 0 and 2 of 5
    ("sd2", "cat dog", 3, [0, 0, 1]),
])
def test_init_text_is_spread_over_vectors_like_the_host(backends, kind, init, n, rows):
    b = backends[kind]
    emb = create_embedding(b, "new", n, init)
    expected = token_rows(b, init)[rows]
    assert torch.equal(emb.vec, expected)
    assert emb.step == 0 and emb.name == "new"


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_empty_init_text_gives_zeros_and_star_is_token_265(backends, kind):
    b = backends[kind]
    assert torch.equal(create_embedding(b, "z", 3, "").vec, torch.zeros(3, b.embedding_width))
    assert torch.equal(create_embedding(b, "s", 1).vec[0], b.token_table[265])


def test_create_refuses_bad_counts_and_token_less_init_text(backends):
    with pytest.raises(ValueError, match="1 to 75"):
        create_embedding(backends["sd1"], "a", 76)
    with pytest.raises(ValueError, match="has no tokens"):
        create_embedding(backends["sd1"], "a", 2, "   ")


def test_created_embedding_is_usable_at_once(backends, tmp_path):
    b = backends["sd1"]
    emb = load_embedding(save_embedding(create_embedding(b, "fresh", 2, "cat"), tmp_path / "fresh.pt"))
    cond = b.encode_prompts(["a photo of fresh"], {emb.name: emb.vec})
    assert cond.shape == (1, 77, b.embedding_width) and torch.isfinite(cond).all()


def test_placeholder_id_in_host_layout_is_the_star_token(sd_workdir):
    from transformers import CLIPTokenizer

    tk = CLIPTokenizer.from_pretrained(str(next(sd_workdir.glob("tiny-clip-*"))))
    assert tk.convert_tokens_to_ids("*</w>") == 265


def test_works_when_the_host_has_replaced_torch_load(tmp_path, monkeypatch):
    """Inside the host ``torch.load`` is modules/safe.py's loader (it rejects new torch zips, drains BytesIO)."""

    def host_replacement(*args, **kwargs):
        raise AssertionError("torch.load was called; inside the host it is the safe.py replacement")

    monkeypatch.setattr(torch, "load", host_replacement)
    for suffix in (".pt", ".safetensors"):
        emb = load_embedding(save_embedding(Embedding("a", torch.ones(2, 4), step=1), tmp_path / f"a{suffix}"))
        assert torch.equal(emb.vec, torch.ones(2, 4))
