"""Token counts: the same BPE as CLIP-L's tokenizer, chunked the way the host chunks prompts."""

from __future__ import annotations

import pytest

from lib_ti.captions.tokens import count_tokens, tokenizer

PLAIN = [
    "a photo of a dog",
    "A Photo Of A DOG, sitting on grass!",
    "red collar,blue sky ,  green   grass",
    "close-up portrait of a man's face, 35mm, f/1.8, bokeh",
    "emoji \U0001F436 and caf\u00e9 and \u65e5\u672c\u8a9e",
    "tabs\tand\nnewlines",
    "",
    "supercalifragilisticexpialidocious photorealistic hyperdetailed",
    ", ".join(f"tag{i}" for i in range(40)),
]


@pytest.fixture(scope="module")
def hf_clip_tokenizer(tmp_path_factory):
    """The reference: transformers' CLIPTokenizer over the CLIP ViT-L/14 vocabulary, built offline."""
    from lib_ti.core.torch_compat import ensure_torchvision

    ensure_torchvision()
    from transformers import CLIPTokenizer

    from sdkit import write_clip_tokenizer_files

    folder = write_clip_tokenizer_files(tmp_path_factory.mktemp("clip-tok"))
    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)


@pytest.mark.parametrize("text", PLAIN)
def test_ids_match_the_reference_tokenizer(hf_clip_tokenizer, text):
    ref = hf_clip_tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
    assert tokenizer().encode(text) == ref
    tc = count_tokens(text)
    assert [t for chunk in tc.chunks for t in chunk] == ref  # every token kept, in order
    if len(ref) <= 75:
        assert tc.count == len(ref)  # one chunk: the count is the token count


@pytest.mark.parametrize(
    "text, count, limit, chunk_sizes",
    [
        ("", 0, 75, [0]),
        ("dog", 1, 75, [1]),
        ("dog " * 75, 75, 75, [75]),
        ("dog " * 76, 76, 150, [75, 1]),
        ("dog " * 151, 151, 225, [75, 75, 1]),
        # emphasis syntax is not tokens: "(dog:1.3)" counts like "dog"
        ("(dog:1.3) " * 10, 10, 75, [10]),
        ("((dog)) [[cat]]", 2, 75, [1 + 1]),
        (r"\(dog\)", 3, 75, [3]),  # escaped brackets are literal text: "(", "dog", ")"
        # BREAK closes the chunk: the first chunk counts as a full 75
        ("dog BREAK cat", 76, 150, [1, 1]),
        # comma backtrack: a comma within 20 tokens of the boundary moves the rest to the next chunk
        # (the full first chunk counts 75, so the count is 75 + 20)
        ("dog " * 60 + ", " + "cat " * 20, 95, 150, [61, 20]),
        # ... but not one further back than 20 tokens
        ("dog " * 50 + ", " + "cat " * 30, 81, 150, [75, 6]),
        # a weight that is not a number: counted as plain text, like the host's counter falls back
        ("(dog:1.2.3)", 9, 75, [9]),
    ],
)
def test_chunking_table(text, count, limit, chunk_sizes):
    tc = count_tokens(text)
    assert (tc.count, tc.limit, [len(c) for c in tc.chunks]) == (count, limit, chunk_sizes)
    assert tc.label() == f"{count}/{limit}"


def test_parse_error_is_reported():
    assert count_tokens("(dog:1.2.3)").parse_error
    assert count_tokens("(dog:1.2)").parse_error is None


def test_chunk_texts_show_where_the_boundary_falls():
    tc = count_tokens("dog " * 74 + "red collar on grass")
    texts = tc.chunk_texts()
    assert len(texts) == 2
    assert texts[0].endswith("dog red") and texts[1] == "collar on grass"
    assert tc.over_first_chunk
