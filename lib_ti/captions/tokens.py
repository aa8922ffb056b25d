"""CLIP token counts with the host's 75-token chunks.

The host encodes a prompt in chunks of 75 tokens (77 with start/end), so a caption of 76 tokens
costs a whole second chunk, and the words after the boundary are encoded without the context of
the words before it. This module counts tokens the way the host's ``tokenize_line``
(``modules/sd_hijack_clip.py``) does for SD-1.x text: emphasis syntax stripped with the host's
parser, ``BREAK`` starting a new chunk, and the comma backtrack (``comma_padding_backtrack``,
default 20: text after the last comma within 20 tokens of the boundary moves to the next chunk).

The BPE is open_clip's ``SimpleTokenizer`` with its bundled vocabulary: offline, and the same
tokens as CLIP ViT-L/14's tokenizer that SD-1.x uses.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any, Optional

CHUNK = 75
COMMA_BACKTRACK = 20

_lock = threading.Lock()
_tokenizer: Any = None


def tokenizer() -> Any:
    """The shared open_clip ``SimpleTokenizer`` (loaded once, about 0.1 s)."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            from ..core.torch_compat import ensure_torchvision

            ensure_torchvision()
            import warnings

            with warnings.catch_warnings():  # open_clip's import of timm warns about timm's own layout
                warnings.simplefilter("ignore", FutureWarning)
                from open_clip.tokenizer import SimpleTokenizer

            _tokenizer = SimpleTokenizer()
        return _tokenizer


def ready() -> bool:
    """Whether the tokenizer is loaded (the UI shows counts only once it is, never blocking a folder load)."""
    return _tokenizer is not None


def warm_up_in_background() -> None:
    """Load the tokenizer on a daemon thread (importing open_clip takes seconds on a cold start)."""
    if _tokenizer is None:
        threading.Thread(target=tokenizer, name="tilab-clip-tokenizer", daemon=True).start()


def comma_token() -> int:
    return tokenizer().encoder[",</w>"]


@dataclass(frozen=True)
class TokenCount:
    """How the host would chunk one caption.

    Attributes:
        count: tokens the host counts (full chunks count 75, the last its real length).
        limit: the length the host pads to, a multiple of 75 (what its counter shows after the slash).
        chunks: token ids per chunk, without start/end/padding.
        parse_error: the emphasis parse error, if the text was counted as plain text instead.
    """

    count: int
    limit: int
    chunks: tuple[tuple[int, ...], ...]
    parse_error: Optional[str] = None

    @property
    def over_first_chunk(self) -> bool:
        return len(self.chunks) > 1

    def chunk_texts(self) -> list[str]:
        """Each chunk decoded back to text (lower-cased, as CLIP sees it), to show the boundary."""
        tok = tokenizer()
        return [re.sub(r"\s+([,.;:!?])", r"\1", tok.decode(list(c))).strip() for c in self.chunks]

    def label(self) -> str:
        return f"{self.count}/{self.limit}"


def _segments(text: str) -> tuple[list[tuple[str, bool]], Optional[str]]:
    """(text, is_break) pieces after stripping emphasis; on a parse error, the whole text as one piece."""
    from ..emphasis.parse import parse_prompt_attention

    try:
        parsed = parse_prompt_attention(text)
    except ValueError as exc:
        return [(text, False)], str(exc)
    return [(seg_text, seg_text == "BREAK" and weight == -1) for seg_text, weight in parsed], None


def count_tokens(text: str, *, chunk_length: int = CHUNK, comma_backtrack: int = COMMA_BACKTRACK) -> TokenCount:
    """Count ``text``'s tokens and split them into chunks exactly as the host's ``tokenize_line``."""
    tok = tokenizer()
    comma = comma_token()
    pieces, error = _segments(text)
    chunks: list[list[int]] = []
    chunk: list[int] = []
    count = 0
    last_comma = -1

    def next_chunk(is_last: bool = False) -> None:
        nonlocal chunk, count, last_comma
        count += len(chunk) if is_last else chunk_length
        chunks.append(chunk)
        chunk, last_comma = [], -1

    for piece, is_break in pieces:
        if is_break:
            next_chunk()
            continue
        for token in tok.encode(piece):
            if token == comma:
                last_comma = len(chunk)
            elif (comma_backtrack and len(chunk) == chunk_length and last_comma != -1
                  and len(chunk) - last_comma <= comma_backtrack):
                moved = chunk[last_comma + 1:]
                chunk = chunk[:last_comma + 1]
                next_chunk()
                chunk = moved
            if len(chunk) == chunk_length:
                next_chunk()
            chunk.append(token)
    if chunk or not chunks:
        next_chunk(is_last=True)
    limit = math.ceil(max(count, 1) / chunk_length) * chunk_length
    return TokenCount(count, limit, tuple(tuple(c) for c in chunks), error)
