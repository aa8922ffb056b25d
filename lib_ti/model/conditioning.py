"""The host's prompt → conditioning rules, reproduced so training sees what txt2img will see.

Why: an embedding trained on conditioning that differs from the host's (other token positions, other padding,
no emphasis weight, no clip skip) learns the wrong thing. Everything here follows the host's
``modules/sd_hijack_clip.py`` (``tokenize_line``/``process_tokens``), ``sd_hijack.EmbeddingsWithFixes``,
``sd_emphasis.py`` and ``sd_hijack_open_clip.py`` at v1.10.1, written anew:

- a prompt is split into ``[text, weight]`` segments (:func:`lib_ti.emphasis.parse.parse_prompt_attention`), unless the
  emphasis mode is "None" (the whole line is one segment of weight 1);
- embeddings are found by token-id sequence, longest first, so a name matches case-insensitively wherever it
  tokenizes the same inside a segment; each takes N placeholder positions carrying the segment's weight;
- 75-token chunks framed by BOS/EOS and padded with EOS (SD2 then overwrites everything after the first EOS
  with pad id 0); ``BREAK`` (weight exactly -1) starts a new chunk; text after a comma within
  ``comma_padding_backtrack`` tokens of the limit moves to the next chunk; an embedding never straddles chunks;
- emphasis after the text encoder: "Original" multiplies by the weights and restores the chunk's mean (the
  division is guarded, see :func:`apply_emphasis`), "No norm" only multiplies, "Ignore"/"None" do nothing.

This module is model-agnostic (token ids and tensors); :class:`lib_ti.model.backend.SDBackend` drives the encoder.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from lib_ti.emphasis.parse import parse_prompt_attention

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: tokens of prompt text per chunk (the host's ``chunk_length``); each chunk is 77 with BOS and EOS.
CHUNK_LENGTH = 75

#: the host's emphasis modes (setting ``emphasis``), default first.
EMPHASIS_MODES = ("Original", "No norm", "Ignore", "None")

#: the host's default ``comma_padding_backtrack``.
DEFAULT_COMMA_BACKTRACK = 20

#: "Original" emphasis skips the mean restore when ``|new mean| <= GUARD * mean(|z|)``: the host divides
#: unconditionally and went NaN on a text encoder whose output mean was ~1e-9.
MEAN_GUARD = 1e-3


@dataclass(frozen=True)
class TokenizerSpec:
    """What chunking needs to know about a text encoder's tokenizer."""

    tokenize: Callable[[list[str]], list[list[int]]]  # texts -> ids without BOS/EOS, no truncation
    id_start: int
    id_end: int
    id_pad: int  # == id_end for SD1 (HF CLIP); 0 for SD2 (open_clip)
    comma_token: Optional[int]


@dataclass
class PromptChunk:
    """77 token ids, one multiplier each, and where embeddings go: ``fixes`` = [(offset, name)].

    ``offset`` counts prompt tokens (BOS excluded), as in the host: the vectors land at rows
    ``offset + 1 … offset + N`` of the encoder input.
    """

    tokens: list[int] = field(default_factory=list)
    multipliers: list[float] = field(default_factory=list)
    fixes: list[tuple[int, str]] = field(default_factory=list)


class EmbeddingLookup:
    """Find embeddings in a token sequence by their names' token ids, like the host's ``ids_lookup``.

    ``entries`` maps name -> (token ids of the name, number of vectors). Candidates sharing a first token are
    tried longest first; equal lengths keep insertion order (the host sorts stably, too).
    """

    def __init__(self, entries: "OrderedDict[str, tuple[list[int], int]] | dict[str, tuple[list[int], int]]"):
        self.vectors: dict[str, int] = {}
        self._by_first: dict[int, list[tuple[list[int], str]]] = {}
        for name, (ids, n) in entries.items():
            if not ids:
                raise ValueError(f"embedding name {name!r} produces no tokens; it could never appear in a prompt")
            if not 1 <= int(n) <= CHUNK_LENGTH:
                raise ValueError(f"embedding {name!r} has {n} vectors; a prompt chunk holds 1 to {CHUNK_LENGTH}")
            self.vectors[name] = int(n)
            self._by_first.setdefault(ids[0], []).append((list(ids), name))
        for cands in self._by_first.values():
            cands.sort(key=lambda c: len(c[0]), reverse=True)

    def find(self, tokens: Sequence[int], offset: int) -> tuple[Optional[str], int]:
        """``(name, tokens consumed)`` of the embedding starting at ``offset``, or ``(None, 0)``."""
        for ids, name in self._by_first.get(tokens[offset], ()):
            if list(tokens[offset:offset + len(ids)]) == ids:
                return name, len(ids)
        return None, 0


def parse_segments(line: str, emphasis: str = "Original") -> list[list]:
    """``[text, weight]`` segments of ``line``; with emphasis "None" the line is taken literally."""
    check_emphasis(emphasis)
    if emphasis == "None":
        return [[line, 1.0]]
    return parse_prompt_attention(line)


def check_emphasis(mode: str) -> str:
    if mode not in EMPHASIS_MODES:
        raise ValueError(f"unknown emphasis mode {mode!r}; choose one of: {', '.join(EMPHASIS_MODES)}")
    return mode


def tokenize_line(line: str, tok: TokenizerSpec, lookup: EmbeddingLookup, *, emphasis: str = "Original",
                  comma_padding_backtrack: int = DEFAULT_COMMA_BACKTRACK) -> tuple[list[PromptChunk], int]:
    """Split one prompt into 77-token chunks exactly as the host's ``tokenize_line``; returns (chunks, token count).

    The token count is what the host's prompt counter shows (75 per full chunk, real length for the last one).
    """
    parsed = parse_segments(line, emphasis)
    tokenized = tok.tokenize([text for text, _ in parsed])

    chunks: list[PromptChunk] = []
    chunk = PromptChunk()
    token_count = 0
    last_comma = -1

    def next_chunk(is_last: bool = False) -> None:
        nonlocal chunk, token_count, last_comma
        token_count += len(chunk.tokens) if is_last else CHUNK_LENGTH
        to_add = CHUNK_LENGTH - len(chunk.tokens)
        if to_add > 0:
            chunk.tokens += [tok.id_end] * to_add
            chunk.multipliers += [1.0] * to_add
        chunk.tokens = [tok.id_start] + chunk.tokens + [tok.id_end]
        chunk.multipliers = [1.0] + chunk.multipliers + [1.0]
        last_comma = -1
        chunks.append(chunk)
        chunk = PromptChunk()

    for tokens, (text, weight) in zip(tokenized, parsed):
        if text == "BREAK" and weight == -1:
            next_chunk()
            continue
        position = 0
        while position < len(tokens):
            token = tokens[position]
            if token == tok.comma_token:
                last_comma = len(chunk.tokens)
            elif (comma_padding_backtrack != 0 and len(chunk.tokens) == CHUNK_LENGTH and last_comma != -1
                  and len(chunk.tokens) - last_comma <= comma_padding_backtrack):
                # Host quirk, kept for parity: only tokens and multipliers move; an embedding's fix stays with
                # the old chunk (its vectors land in that chunk's EOS padding) and its placeholder ids (0)
                # move on as ordinary tokens.
                cut = last_comma + 1
                moved_tokens, moved_mults = chunk.tokens[cut:], chunk.multipliers[cut:]
                chunk.tokens, chunk.multipliers = chunk.tokens[:cut], chunk.multipliers[:cut]
                next_chunk()
                chunk.tokens, chunk.multipliers = moved_tokens, moved_mults
            if len(chunk.tokens) == CHUNK_LENGTH:
                next_chunk()

            name, consumed = lookup.find(tokens, position)
            if name is None:
                chunk.tokens.append(token)
                chunk.multipliers.append(weight)
                position += 1
                continue
            n = lookup.vectors[name]
            if len(chunk.tokens) + n > CHUNK_LENGTH:
                next_chunk()
            chunk.fixes.append((len(chunk.tokens), name))
            chunk.tokens += [0] * n
            chunk.multipliers += [weight] * n
            position += consumed

    if chunk.tokens or not chunks:
        next_chunk(is_last=True)
    return chunks, token_count


def empty_chunk(tok: TokenizerSpec) -> PromptChunk:
    """The chunk the host gives a prompt that has fewer chunks than others in its batch."""
    return PromptChunk([tok.id_start] + [tok.id_end] * (CHUNK_LENGTH + 1), [1.0] * (CHUNK_LENGTH + 2), [])


def chunk_ids(batch: Sequence[PromptChunk], tok: TokenizerSpec) -> list[list[int]]:
    """Token ids sent to the encoder for one chunk position of a batch (SD2: pad id after the first EOS)."""
    rows = []
    for ch in batch:
        ids = list(ch.tokens)
        if tok.id_end != tok.id_pad:
            first_end = ids.index(tok.id_end)
            ids[first_end + 1:] = [tok.id_pad] * (len(ids) - first_end - 1)
        rows.append(ids)
    return rows


def apply_emphasis(z: "torch.Tensor", multipliers: "torch.Tensor", mode: str) -> "torch.Tensor":
    """Apply the emphasis ``mode`` to one chunk's encoder output ``z`` (B, 77, C) with ``multipliers`` (B, 77).

    "Original" is the host's ``z * m`` followed by ``z * (mean_before / mean_after)`` over the whole chunk tensor
    (all batch items together, as the host does), except that the restore is skipped when the new mean is ~0
    relative to the values (``MEAN_GUARD``): the host would divide by ~0 and produce inf/NaN. The guard is a
    ``torch.where``, so it costs no host sync and keeps gradients finite.
    """
    import torch

    check_emphasis(mode)
    if mode in ("Ignore", "None"):
        return z
    # float32 multipliers as in the host: under fp16 autocast z is promoted to float32 here, as there
    weighted = z * multipliers.reshape(multipliers.shape + (1,)).expand(z.shape)
    if mode == "No norm":
        return weighted
    original_mean = z.mean()
    new_mean = weighted.mean()
    ok = new_mean.abs() > MEAN_GUARD * weighted.detach().abs().mean()
    one = torch.ones((), dtype=new_mean.dtype, device=new_mean.device)
    ratio = torch.where(ok, original_mean / torch.where(ok, new_mean, one), one)
    return weighted * ratio


class ChunkCache:
    """Bounded LRU of ``tokenize_line`` results: prompts repeat every epoch, tokenizing them is pure Python."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()

    def get(self, key, make: Callable[[], list[PromptChunk]]) -> list[PromptChunk]:
        hit = self._data.get(key)
        if hit is not None:
            self._data.move_to_end(key)
            return hit
        value = make()
        self._data[key] = value
        if len(self._data) > self.size:
            self._data.popitem(last=False)
        return value
