"""``SDXLBackend`` conditioning equals the host's code path on a tiny SDXL model.

The reference below is written in this test from the host's and sgm's code at v1.10.1 and shares no code with
``lib_ti.model``: per text encoder, ``sd_hijack_clip.tokenize_line`` (prompts here stay within one chunk per
``BREAK`` part), an ``EmbeddingsWithFixes``-style module swapped into the token table (``torch.cat`` rows at
offset+1 from ``vec['clip_l']`` / ``vec['clip_g']``), CLIP-L ``hidden_states[-2]``, sgm's bigG
``text_transformer_forward`` (penultimate; pooled = ``ln_final`` at the argmax token times ``text_projection``),
the unguarded "Original" emphasis per encoder, pooled of the first chunk, and ``vector`` = pooled ‖ diffusers'
own size embedding (``add_time_proj``) — so the test also proves that the UNet sees sgm's ``vector``.
"""

from __future__ import annotations

import pytest
import torch

from lib_ti.emphasis.parse import parse_prompt_attention


class HostStyleFixes(torch.nn.Module):
    def __init__(self, wrapped, key):
        super().__init__()
        self.wrapped, self.key, self.fixes = wrapped, key, None

    def forward(self, input_ids):
        embeds = self.wrapped(input_ids)
        rows = []
        for item_fixes, tensor in zip(self.fixes or [[] for _ in embeds], embeds):
            for offset, vec in item_fixes:
                v = vec[self.key]
                n = min(tensor.shape[0] - offset - 1, v.shape[0])
                tensor = torch.cat([tensor[:offset + 1], v[:n].to(tensor.dtype), tensor[offset + 1 + n:]])
            rows.append(tensor)
        return torch.stack(rows)


def host_chunks(prompt, tokenize, id_start, id_end, names):
    """tokenize_line for prompts whose BREAK parts fit one chunk: (tokens, multipliers, fixes) per chunk."""
    chunks, tokens, mults, fixes = [], [], [], []

    def close():
        nonlocal tokens, mults, fixes
        pad = 75 - len(tokens)
        chunks.append(([id_start] + tokens + [id_end] * (pad + 1), [1.0] + mults + [1.0] * (pad + 1), fixes))
        tokens, mults, fixes = [], [], []

    for text, weight in parse_prompt_attention(prompt):
        if text == "BREAK" and weight == -1:
            close()
            continue
        ids = tokenize(text)
        i = 0
        while i < len(ids):
            hit = next(((n, nid) for n, nid in names.items() if ids[i:i + len(nid)] == nid), None)
            if hit is None:
                tokens.append(ids[i])
                mults.append(weight)
                i += 1
            else:
                n, nid = hit
                fixes.append((len(tokens), n))
                tokens += [0] * VECTORS
                mults += [weight] * VECTORS
                i += len(nid)
    close()
    return chunks


VECTORS = 2


def host_conditioning(model, prompts, vec, name, width, height):
    import open_clip.tokenizer

    tk = model.tokenizer
    ot = open_clip.tokenizer._tokenizer
    l_tok = lambda t: tk(t, truncation=False, add_special_tokens=False)["input_ids"]  # noqa: E731
    g_tok = ot.encode
    emb = {"clip_l": vec[:, :32], "clip_g": vec[:, 32:]}
    l_emb = model.clip_l.text_model.embeddings
    outs, pooled = [], None
    for key, tok, start, end, pad in (("clip_l", l_tok, tk.bos_token_id, tk.eos_token_id, tk.eos_token_id),
                                      ("clip_g", g_tok, ot.encoder["<start_of_text>"], ot.encoder["<end_of_text>"], 0)):
        owner, attr = (l_emb, "token_embedding") if key == "clip_l" else (model.clip_g, "token_embedding")
        plain = getattr(owner, attr)
        fixer = HostStyleFixes(plain, key)
        setattr(owner, attr, fixer)
        try:
            per_prompt = [host_chunks(p, tok, start, end, {name: tok(name)}) for p in prompts]
            zs = []
            empty = ([start] + [end] * 76, [1.0] * 77, [])  # the host's empty_chunk for shorter prompts
            for i in range(max(len(c) for c in per_prompt)):
                rows = [c[i] if i < len(c) else empty for c in per_prompt]
                ids = torch.tensor([r[0] for r in rows])
                if pad != end:
                    for b in range(ids.shape[0]):
                        first = rows[b][0].index(end)
                        ids[b, first + 1:] = pad
                fixer.fixes = [[(off, emb) for off, _ in r[2]] for r in rows]
                if key == "clip_l":
                    z = model.clip_l(input_ids=ids, output_hidden_states=True).hidden_states[-2]
                else:
                    m = model.clip_g
                    x = (m.token_embedding(ids) + m.positional_embedding).permute(1, 0, 2)
                    for j, r in enumerate(m.transformer.resblocks):
                        if j == len(m.transformer.resblocks) - 1:
                            z = x.permute(1, 0, 2)
                        x = r(x, attn_mask=m.attn_mask)
                    o = m.ln_final(x.permute(1, 0, 2))
                    if i == 0:
                        pooled = o[torch.arange(o.shape[0]), ids.argmax(dim=-1)] @ m.text_projection
                mult = torch.tensor([r[1] for r in rows])
                before = z.mean()
                z = z * mult.reshape(mult.shape + (1,)).expand(z.shape)
                zs.append(z * (before / z.mean()))
            outs.append(torch.hstack(zs))
        finally:
            setattr(owner, attr, plain)
    sizes = torch.tensor([[height, width, 0, 0, height, width]] * len(prompts), dtype=torch.float32)
    unet = model.model.diffusion_model
    vector = torch.cat([pooled, unet.add_time_proj(sizes.flatten()).reshape(len(prompts), -1)], dim=1)
    return torch.cat(outs, dim=2), vector


PROMPTS = [
    ["a photo of xlcat"],
    ["xlcat, (red hat:1.3) on a [table]", "a painting BREAK of xlcat in (snow)"],
    ["XLCAT riding a horse, masterpiece"],
]


@pytest.mark.parametrize("prompts", PROMPTS, ids=["plain", "emphasis+break batch", "upper case"])
@pytest.mark.parametrize("size", [(64, 64), (96, 48)], ids=["square", "portrait"])
def test_conditioning_equals_host(xl_backend, tiny_sdxl, prompts, size):
    width, height = size
    vec = torch.randn(VECTORS, 80, generator=torch.Generator().manual_seed(1)) * 0.05
    with torch.no_grad():
        ours = xl_backend.conditioning(prompts, {"xlcat": vec}, width=width, height=height)
        crossattn, vector = host_conditioning(tiny_sdxl, prompts, vec, "xlcat", width, height)
    assert ours["crossattn"].shape == crossattn.shape
    torch.testing.assert_close(ours["crossattn"], crossattn, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours["vector"], vector, rtol=1e-5, atol=1e-5)


def test_unet_receives_the_vector(xl_backend, tiny_sdxl):
    """apply_model gives the UNet exactly ``add_embedding(vector)`` for the latent's image size."""
    vec = torch.zeros(1, 80)
    x = torch.randn(1, 4, 12, 8)
    with torch.no_grad():
        c = xl_backend.encode_prompts(["xlcat"], {"xlcat": vec})
        vector = xl_backend.conditioning(["xlcat"], {"xlcat": vec}, width=64, height=96)["vector"]
        unet = tiny_sdxl.model.diffusion_model
        seen = []
        handle = unet.add_embedding.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
        try:
            xl_backend.apply_model(x, torch.tensor([300]), c)
        finally:
            handle.remove()
    torch.testing.assert_close(seen[0], vector)


def test_empty_negative_prompt_is_zero_like_the_host(xl_backend):
    neg = xl_backend.encode_prompts(["", ""], {}, negative=True)
    pos = xl_backend.encode_prompts(["", ""], {})
    assert not neg.crossattn.any() and not neg.pooled.any()
    assert pos.crossattn.abs().sum() > 0 and pos.pooled.abs().sum() > 0


def test_only_the_vectors_get_gradients(xl_backend):
    vec = (torch.randn(VECTORS, 80) * 0.05).requires_grad_(True)
    c = xl_backend.encode_prompts(["a photo of xlcat"], {"xlcat": vec})
    out = xl_backend.apply_model(torch.randn(1, 4, 8, 8), torch.tensor([500]), c)
    out.pow(2).mean().backward()
    assert vec.grad[:, :32].abs().sum() > 0 and vec.grad[:, 32:].abs().sum() > 0
    assert all(p.grad is None for p in xl_backend.model.parameters())
