"""The CLIP BPE tokenizer's files, written offline from open_clip's bundled vocabulary.

Why: ldm and transformers look for ``openai/clip-vit-large-patch14`` on the hub; a machine with no network (and
every test) still needs the exact tokenizer. open_clip ships the same BPE merges, so the files are rebuilt from it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    """The byte → printable-unicode table of the OpenAI CLIP BPE (same construction as open_clip's)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def write_clip_tokenizer_files(path: Path) -> Path:
    """Write ``vocab.json``/``merges.txt``/configs of the CLIP ViT-L/14 tokenizer into ``path``.

    Built from open_clip's bundled ``bpe_simple_vocab_16e6.txt.gz`` (found without importing open_clip),
    giving the same 49408 ids as ``openai/clip-vit-large-patch14``: bos 49406, eos/pad 49407.
    """
    import importlib.util

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip is not installed; it carries the CLIP BPE vocabulary TI Lab needs offline")
    bpe = Path(list(spec.submodule_search_locations)[0]) / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(bpe).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    units = list(_bytes_to_unicode().values())
    vocab = units + [u + "</w>" for u in units] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    (path / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    tok_cfg = dict(special, model_max_length=77, do_lower_case=True, errors="replace", add_prefix_space=False,
                   tokenizer_class="CLIPTokenizer")
    (path / "tokenizer_config.json").write_text(json.dumps(tok_cfg), encoding="utf-8")
    return path
