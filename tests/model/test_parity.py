"""``SDBackend.encode_prompts`` equals the host's conditioning on tiny SD1 and SD2 models.

The reference below is written in this test from the host's rules (``sd_hijack_clip.tokenize_line`` /
``process_tokens``, ``EmbeddingsWithFixes``, ``sd_emphasis``) and shares no code with ``lib_ti.model``: it tokenizes
with the ldm embedder's own tokenizer, chunks, swaps a host-style ``EmbeddingsWithFixes`` module into the text
encoder (``torch.cat`` row replacement at offset+1), applies clip skip and the unguarded "Original" mean restore.
"""

from __future__ import annotations

import pytest
import torch

from lib_ti.emphasis.parse import parse_prompt_attention

NAMES = {"zzcat": 3, "zzcat style": 2, "pixl": 1}


class HostStyleFixes(torch.nn.Module):
    """Like the host's EmbeddingsWithFixes: rows offset+1 … replaced by the vectors, per batch item."""

    def __init__(self, wrapped):
        super().__init__()
        self.wrapped = wrapped
        self.fixes = None

    def forward(self, input_ids):
        fixes, self.fixes = self.fixes, None
        embeds = self.wrapped(input_ids)
        if not fixes or not any(fixes):
            return embeds
        rows = []
        for item_fixes, tensor in zip(fixes, embeds):
            for offset, vec in item_fixes:
                n = min(tensor.shape[0] - offset - 1, vec.shape[0])
                tensor = torch.cat([tensor[:offset + 1], vec[:n].to(tensor.dtype), tensor[offset + 1 + n:]])
            rows.append(tensor)
        return torch.stack(rows)


def host_tokenizer(model, kind):
    enc = model.cond_stage_model
    if kind == "sd1":
        tk = enc.tokenizer
        return (lambda texts: tk(texts, truncation=False, add_special_tokens=False)["input_ids"],
                tk.bos_token_id, tk.eos_token_id, tk.eos_token_id, tk.get_vocab()[",</w>"])
    import open_clip.tokenizer

    ot = open_clip.tokenizer._tokenizer
    return (lambda texts: [ot.encode(t) for t in texts], ot.encoder["<start_of_text>"], ot.encoder["<end_of_text>"], 0,
            ot.encoder[",</w>"])


def host_chunks(line, tokenize, start, end, comma, names, emphasis, backtrack=20):
    """Returns [(tokens, multipliers, [(offset, name)])] for one prompt."""
    parsed = [[line, 1.0]] if emphasis == "None" else parse_prompt_attention(line)
    candidates = sorted(((tokenize([n])[0], n) for n in names), key=lambda c: len(c[0]), reverse=True)
    done, toks, mults, fixes = [], [], [], []
    last_comma = -1

    def close():
        nonlocal toks, mults, fixes, last_comma
        pad = 75 - len(toks)
        done.append(([start] + toks + [end] * pad + [end], [1.0] + mults + [1.0] * pad + [1.0], fixes))
        toks, mults, fixes, last_comma = [], [], [], -1

    for ids, (text, weight) in zip(tokenize([t for t, _ in parsed]), parsed):
        if text == "BREAK" and weight == -1:
            close()
            continue
        i = 0
        while i < len(ids):
            if ids[i] == comma:
                last_comma = len(toks)
            elif backtrack and len(toks) == 75 and last_comma != -1 and 75 - last_comma <= backtrack:
                keep = last_comma + 1
                moved_t, moved_m = toks[keep:], mults[keep:]
                toks, mults = toks[:keep], mults[:keep]
                close()
                toks, mults = moved_t, moved_m
            if len(toks) == 75:
                close()
            hit = next(((c, n) for c, n in candidates if ids[i:i + len(c)] == c), None)
            if hit is None:
                toks.append(ids[i])
                mults.append(weight)
                i += 1
                continue
            cand, name = hit
            if len(toks) + names[name] > 75:
                close()
            fixes.append((len(toks), name))
            toks += [0] * names[name]
            mults += [weight] * names[name]
            i += len(cand)
    if toks or not done:
        close()
    return done


def host_conditioning(model, kind, prompts, vecs, clip_skip=1, emphasis="Original"):
    tokenize, start, end, pad, comma = host_tokenizer(model, kind)
    names = {n: v.shape[0] for n, v in vecs.items()}
    per_prompt = [host_chunks(p, tokenize, start, end, comma, names, emphasis) for p in prompts]
    empty = ([start] + [end] * 76, [1.0] * 77, [])
    enc = model.cond_stage_model
    owner = enc.transformer.text_model.embeddings if kind == "sd1" else enc.model
    fixer = HostStyleFixes(owner.token_embedding)
    owner.token_embedding = fixer
    try:
        zs = []
        for i in range(max(len(c) for c in per_prompt)):
            batch = [c[i] if i < len(c) else empty for c in per_prompt]
            ids = torch.tensor([b[0] for b in batch])
            if pad != end:
                for row, b in enumerate(batch):
                    ids[row, b[0].index(end) + 1:] = pad
            fixer.fixes = [[(off, vecs[name]) for off, name in b[2]] for b in batch]
            if kind == "sd1":
                out = enc.transformer(input_ids=ids, output_hidden_states=True)
                z = (out.last_hidden_state if clip_skip == 1
                     else enc.transformer.text_model.final_layer_norm(out.hidden_states[-clip_skip]))
            else:
                z = enc.encode_with_transformer(ids)  # the host ignores clip skip for OpenCLIP
            m = torch.tensor([b[1] for b in batch])
            if emphasis in ("Original", "No norm"):
                before = z.mean()
                z = z * m.reshape(m.shape + (1,)).expand(z.shape)
                if emphasis == "Original":
                    z = z * (before / z.mean())
            zs.append(z)
    finally:
        owner.token_embedding = fixer.wrapped
    return torch.hstack(zs)


def long_commas(n):
    return ", ".join(f"red{i} hat" for i in range(n))


PROMPTS = [
    ("plain", ["a photo of a dog"]),
    ("embedding", ["a photo of zzcat"]),
    ("weights and brackets", ["a (photo:1.3) of [zzcat], ((red)) hat"]),
    ("case-insensitive, longest name", ["ZZCAT Style painting of zzcat"]),
    ("weighted embedding", ["(zzcat:1.5) in a garden with pixl"]),
    ("BREAK", ["zzcat BREAK on a (beach:0.8)"]),
    ("long prompt with commas", [long_commas(30) + ", zzcat"]),
    ("embedding at a chunk boundary", ["red " * 73 + "zzcat blue"]),
    ("embedding moved by comma backtrack", ["red " * 60 + ", blue zzcat green " + "red " * 20]),
    ("empty", [""]),
    ("batch with different chunk counts", ["zzcat", "red " * 80 + "pixl", "(a:0.5) pixl BREAK zzcat"]),
]


@pytest.fixture(scope="module")
def vecs(backends):
    g = torch.Generator().manual_seed(3)
    return {name: torch.randn(n, backends["sd1"].embedding_width, generator=g) * 0.05 for name, n in NAMES.items()}


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
@pytest.mark.parametrize("prompts", [p for _, p in PROMPTS], ids=[i for i, _ in PROMPTS])
def test_original_emphasis_matches_host(kind, prompts, tiny_models, backends, vecs):
    with torch.no_grad():
        ours = backends[kind].encode_prompts(prompts, vecs)
        ref = host_conditioning(tiny_models[kind], kind, prompts, vecs)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


SETTINGS = [
    ("sd1", 2, "Original"), ("sd1", 3, "Original"), ("sd1", 2, "No norm"), ("sd1", 1, "Ignore"),
    ("sd1", 1, "None"), ("sd2", 2, "Original"), ("sd2", 1, "No norm"), ("sd2", 1, "None"),
]


@pytest.mark.parametrize("kind,clip_skip,emphasis", SETTINGS)
def test_clip_skip_and_emphasis_modes_match_host(kind, clip_skip, emphasis, tiny_models, backends, vecs):
    prompts = ["a (photo:1.3) of [zzcat], ((red)) hat BREAK (pixl:0.7)", "zzcat style"]
    with torch.no_grad():
        ours = backends[kind].encode_prompts(prompts, vecs, clip_skip=clip_skip, emphasis=emphasis)
        ref = host_conditioning(tiny_models[kind], kind, prompts, vecs, clip_skip, emphasis)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_clip_skip_changes_sd1_and_is_ignored_for_sd2_like_the_host(backends, vecs):
    with torch.no_grad():
        for kind, changes in (("sd1", True), ("sd2", False)):
            one = backends[kind].encode_prompts(["a photo of zzcat"], vecs, clip_skip=1)
            two = backends[kind].encode_prompts(["a photo of zzcat"], vecs, clip_skip=2)
            assert (not torch.equal(one, two)) is changes


def test_clip_skip_beyond_the_encoder_depth_is_refused(backends, vecs):
    with pytest.raises(ValueError, match="clip skip must be 1 to 3"):
        backends["sd1"].encode_prompts(["x"], vecs, clip_skip=5)


@pytest.mark.parametrize("kind", ["sd1", "sd2"])
def test_gradients_reach_only_the_vectors(kind, tiny_models, backends):
    vec = (torch.randn(3, backends[kind].embedding_width) * 0.05).requires_grad_(True)
    cond = backends[kind].encode_prompts(["a photo of zzcat", "zzcat"], {"zzcat": vec})
    (cond ** 2).mean().backward()
    assert vec.grad is not None and vec.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_models[kind].parameters())


def test_vectors_change_the_conditioning_only_where_the_prompt_uses_them(backends):
    b = backends["sd1"]
    v1 = torch.randn(3, 32) * 0.05
    v2 = v1 + 0.1
    with torch.no_grad():
        a = b.encode_prompts(["a dog", "zzcat"], {"zzcat": v1}, emphasis="No norm")
        c = b.encode_prompts(["a dog", "zzcat"], {"zzcat": v2}, emphasis="No norm")
    assert torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_wrong_width_is_refused_with_the_embedding_name(backends):
    with pytest.raises(ValueError, match="'zzcat' has shape \\(2, 768\\)"):
        backends["sd1"].encode_prompts(["zzcat"], {"zzcat": torch.zeros(2, 768)})
