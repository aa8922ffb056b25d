"""The host's chunking rules on a toy word-level tokenizer, where every layout can be worked out by hand.

One word = one token; "," is the comma token; BOS 100, EOS 101 (pad = EOS as in SD1, or 0 as in SD2).
"""

from __future__ import annotations

import pytest
import torch

from lib_ti.model import conditioning as C

BOS, EOS = 100, 101


def toy_spec(pad: int = EOS) -> C.TokenizerSpec:
    vocab: dict[str, int] = {",": 1}

    def ids(text: str) -> list[int]:
        out = []
        for word in text.replace(",", " , ").split():
            out.append(vocab.setdefault(word.lower(), 1000 + len(vocab)))
        return out

    return C.TokenizerSpec(tokenize=lambda texts: [ids(t) for t in texts], id_start=BOS, id_end=EOS, id_pad=pad,
                           comma_token=1)


def lookup(spec: C.TokenizerSpec, **vectors: int) -> C.EmbeddingLookup:
    return C.EmbeddingLookup({name.replace("_", " "): (spec.tokenize([name.replace("_", " ")])[0], n)
                              for name, n in vectors.items()})


def words(n: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{i}" for i in range(n))


def layout(chunks: list[C.PromptChunk]) -> list[dict]:
    """A compact picture of chunks: number of real (non-padding) tokens, fixes, non-1 multipliers."""
    out = []
    for ch in chunks:
        assert len(ch.tokens) == 77 and len(ch.multipliers) == 77
        assert ch.tokens[0] == BOS
        body = ch.tokens[1:-1]
        real = len(body)
        while real and body[real - 1] == EOS:
            real -= 1
        weights = {i: w for i, w in enumerate(ch.multipliers) if w != 1.0}
        out.append({"tokens": real, "fixes": list(ch.fixes), "weights": weights})
    return out


CASES = [
    # (id, prompt, embeddings {name: vectors}, backtrack, expected layout per chunk, expected token count)
    ("plain", "a b c", {}, 20, [{"tokens": 3, "fixes": [], "weights": {}}], 3),
    ("weight", "(a:1.5) b [c]", {}, 20,
     [{"tokens": 3, "fixes": [], "weights": {1: 1.5, 3: 1 / 1.1}}], 3),
    ("embedding offset", "x emb y", {"emb": 3}, 20,
     [{"tokens": 5, "fixes": [(1, "emb")], "weights": {}}], 5),
    ("embedding carries weight", "x (emb:1.4)", {"emb": 2}, 20,
     [{"tokens": 3, "fixes": [(1, "emb")], "weights": {2: 1.4, 3: 1.4}}], 3),
    ("case-insensitive name", "EMB", {"emb": 1}, 20, [{"tokens": 1, "fixes": [(0, "emb")], "weights": {}}], 1),
    ("longest name first", "emb two x", {"emb": 1, "emb_two": 2}, 20,
     [{"tokens": 3, "fixes": [(0, "emb two")], "weights": {}}], 3),
    ("embedding never straddles", words(74) + " emb", {"emb": 3}, 20,
     [{"tokens": 74, "fixes": [], "weights": {}}, {"tokens": 3, "fixes": [(0, "emb")], "weights": {}}], 78),
    ("BREAK", "a BREAK b", {}, 20,
     [{"tokens": 1, "fixes": [], "weights": {}}, {"tokens": 1, "fixes": [], "weights": {}}], 76),
    ("comma backtrack", words(70) + " , " + words(10, "v"), {}, 20,
     [{"tokens": 71, "fixes": [], "weights": {}}, {"tokens": 10, "fixes": [], "weights": {}}], 85),
    ("backtrack off", words(70) + " , " + words(10, "v"), {}, 0,
     [{"tokens": 75, "fixes": [], "weights": {}}, {"tokens": 6, "fixes": [], "weights": {}}], 81),
    ("comma too far back", words(40) + " , " + words(40, "v"), {}, 20,
     [{"tokens": 75, "fixes": [], "weights": {}}, {"tokens": 6, "fixes": [], "weights": {}}], 81),
    # host quirk kept for parity: the relocated placeholders lose their fix, which stays in the first chunk
    ("backtrack moves embedding tokens, not its fix", words(60) + " , v emb " + words(20, "u"), {"emb": 3}, 20,
     [{"tokens": 61, "fixes": [(62, "emb")], "weights": {}}, {"tokens": 24, "fixes": [], "weights": {}}], 99),
    ("empty prompt", "", {}, 20, [{"tokens": 0, "fixes": [], "weights": {}}], 0),
]


@pytest.mark.parametrize("prompt,embs,backtrack,expected,count", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layout(prompt, embs, backtrack, expected, count):
    spec = toy_spec()
    chunks, n = C.tokenize_line(prompt, spec, lookup(spec, **embs), comma_padding_backtrack=backtrack)
    assert layout(chunks) == expected
    assert n == count


def test_placeholders_are_zero_ids_and_padding_is_eos():
    spec = toy_spec()
    (chunk,), _ = C.tokenize_line("x emb", spec, lookup(spec, emb=2))
    assert chunk.tokens[2:4] == [0, 0]
    assert chunk.tokens[4:] == [EOS] * 73


def test_sd2_pads_with_zero_after_first_eos():
    spec = toy_spec(pad=0)
    (chunk,), _ = C.tokenize_line("a b", spec, lookup(spec))
    (ids,) = C.chunk_ids([chunk], spec)
    assert ids[:4] == [BOS, chunk.tokens[1], chunk.tokens[2], EOS]
    assert ids[4:] == [0] * 73
    assert chunk.tokens[4:] == [EOS] * 73  # the chunk itself keeps EOS; only the encoder input is padded


@pytest.mark.parametrize("mode,expected_weight", [("Original", 1.5), ("Ignore", 1.5), ("No norm", 1.5)])
def test_emphasis_modes_parse_brackets(mode, expected_weight):
    spec = toy_spec()
    (chunk,), _ = C.tokenize_line("(a:1.5)", spec, lookup(spec), emphasis=mode)
    assert chunk.multipliers[1] == expected_weight


def test_emphasis_none_takes_brackets_literally():
    spec = toy_spec()
    (chunk,), n = C.tokenize_line("(a:1.5) BREAK b", spec, lookup(spec), emphasis="None")
    assert n == 3 and set(chunk.multipliers) == {1.0}


def test_unknown_emphasis_is_refused():
    with pytest.raises(ValueError, match="unknown emphasis mode 'Orignal'"):
        C.tokenize_line("a", toy_spec(), lookup(toy_spec()), emphasis="Orignal")


def test_empty_chunk_for_shorter_prompts_in_a_batch():
    ch = C.empty_chunk(toy_spec())
    assert ch.tokens == [BOS] + [EOS] * 76 and ch.multipliers == [1.0] * 77 and ch.fixes == []


def test_lookup_refuses_names_without_tokens_and_oversized_embeddings():
    with pytest.raises(ValueError, match="produces no tokens"):
        C.EmbeddingLookup({" ": ([], 1)})
    with pytest.raises(ValueError, match="76 vectors"):
        C.EmbeddingLookup({"big": ([5], 76)})


# ---------------------------------------------------------------------------- emphasis arithmetic
def host_original(z, m):
    """The host's "Original" arithmetic, unguarded."""
    original_mean = z.mean()
    z = z * m.reshape(m.shape + (1,)).expand(z.shape)
    return z * (original_mean / z.mean())


def test_original_matches_host_arithmetic_for_ordinary_values():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 77, 16, generator=g) + 0.3
    m = torch.ones(2, 77)
    m[0, 3:6] = 1.3
    m[1, 10] = 0.7
    torch.testing.assert_close(C.apply_emphasis(z, m, "Original"), host_original(z, m), rtol=0, atol=0)


def _zero_mean_pair():
    z = torch.zeros(1, 77, 8)
    z[0, 0:74:2, :] = 0.5  # 37 rows of +0.5 and 37 of -0.5: the mean is exactly 0
    z[0, 1:74:2, :] = -0.5
    return z, torch.ones(1, 77)


def _weights_cancel_mean():
    z = torch.zeros(1, 77, 8)
    z[0, 0, :] = 1.0
    z[0, 1, :] = -0.98
    m = torch.ones(1, 77)
    m[0, 0] = 0.98
    return z, m


@pytest.mark.parametrize("make", [_zero_mean_pair, _weights_cancel_mean], ids=["zero mean", "weights cancel mean"])
def test_original_guard_keeps_values_finite_where_host_divides_by_zero(make):
    z, m = make()
    weighted = z * m[..., None]
    assert float(weighted.mean()) == 0.0  # the case is real: the host divides by exactly zero here
    assert not torch.isfinite(host_original(z, m)).all()
    ours = C.apply_emphasis(z, m, "Original")
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, weighted)  # weights applied, mean restore skipped


def test_guarded_original_has_finite_gradients():
    z = torch.zeros(1, 77, 4, requires_grad=True)
    C.apply_emphasis(z, torch.ones(1, 77), "Original").sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("mode", ["No norm", "Ignore", "None"])
def test_other_modes(mode):
    z = torch.randn(1, 77, 4)
    m = torch.full((1, 77), 2.0)
    expected = z * 2 if mode == "No norm" else z
    torch.testing.assert_close(C.apply_emphasis(z, m, mode), expected)


def test_chunk_cache_is_bounded():
    cache = C.ChunkCache(size=2)
    made = []
    for key in ["a", "b", "a", "c", "b"]:
        cache.get(key, lambda key=key: made.append(key) or [key])
    assert made == ["a", "b", "c", "b"]  # "a" was a hit; "b" had been evicted by "c"
