"""SDXL's prompt → conditioning rules, as the host computes them at inference, written anew.

Why a module of its own: SDXL conditions the UNet on two text encoders and on the image size, and an embedding
trained on anything else learns the wrong thing. What the host does at v1.10.1 (``modules/sd_models_xl.py``,
``sd_hijack_clip.py``, ``sd_hijack_open_clip.py`` over ``sgm``'s ``GeneralConditioner``):

- each text encoder chunks the prompt on its own with the SD1 rules (:mod:`lib_ti.model.conditioning`: 75-token
  chunks, ``BREAK``, comma backtrack, embedding positions) — CLIP-L pads with EOS, OpenCLIP-bigG with id 0 after
  the first EOS — and applies the emphasis mode to its own output (so "Original" restores each encoder's mean
  separately);
- CLIP-L gives the hidden state ``layer_idx`` of the sgm config (11 of 12: the penultimate layer, no final
  LayerNorm); the host's "Clip skip" applies only with its option ``sdxl_clip_l_skip``;
- OpenCLIP-bigG gives its penultimate block's output (no ``ln_final``) and a pooled vector: ``ln_final`` of the
  last block at the first EOS (the highest id), times ``text_projection``; the pooled vector of a multi-chunk
  prompt is the first chunk's, and emphasis never touches it;
- ``crossattn`` = CLIP-L ‖ bigG along the channels (768 + 1280 = 2048);
- ``vector`` = pooled ‖ emb(original height, width) ‖ emb(crop top, left) ‖ emb(target height, width), each number
  embedded with the 256-wide sinusoid of sgm's ``timestep_embedding`` (cos first): 1280 + 6·256 = 2816. The host
  passes the image size as both original and target size, and its crop options (0, 0 by default);
- a negative prompt that is empty for the whole batch gives zeros for ``crossattn`` and pooled (sgm's
  ``force_zero_embeddings``), which is what txt2img uses as the unconditional side by default.

TI Lab keeps an SDXL embedding as one (N, 768 + 1280) tensor, CLIP-L columns first (the host's "expected shape" is
that sum too); :data:`PARTS` says how it splits into the ``clip_l`` and ``clip_g`` tensors of the file format.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: (file key, width) of the two vector sets, in the column order of TI Lab's concatenated tensor.
PARTS = (("clip_l", 768), ("clip_g", 1280))
#: width of TI Lab's concatenated SDXL embedding tensor (the host's expected embedding shape for SDXL).
SDXL_WIDTH = sum(w for _, w in PARTS)
#: width of each size number's sinusoidal embedding (sgm ``ConcatTimestepEmbedderND(outdim=256)``)
SIZE_EMBED_DIM = 256


def part_slices(widths: Sequence[int]) -> list[slice]:
    """Column slices of the concatenated tensor for encoders of the given widths (CLIP-L first)."""
    out, start = [], 0
    for w in widths:
        out.append(slice(start, start + int(w)))
        start += int(w)
    return out


def size_embedding(values: "torch.Tensor", dim: int = SIZE_EMBED_DIM, max_period: float = 10000.0) -> "torch.Tensor":
    """sgm's ``timestep_embedding`` of every number of ``values`` (B, k) → (B, k·dim): cos half, then sin half."""
    import torch

    values = values.float()
    b, k = values.shape
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    args = values.reshape(-1, 1) * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return emb.reshape(b, k * dim)


def size_ids(batch: int, height: int, width: int, crop_top: int = 0, crop_left: int = 0,
             device: Any = "cpu") -> "torch.Tensor":
    """(B, 6) ``original (h, w), crop (top, left), target (h, w)`` as the host fills them for an image of that size."""
    import torch

    row = torch.tensor([height, width, crop_top, crop_left, height, width], dtype=torch.float32, device=device)
    return row.repeat(batch, 1)


def sdxl_vector(pooled: "torch.Tensor", sizes: "torch.Tensor") -> "torch.Tensor":
    """The UNet's ``y`` input (B, 2816): pooled bigG output ‖ the embedded size numbers."""
    import torch

    return torch.cat([pooled, size_embedding(sizes).to(pooled.device, pooled.dtype)], dim=1)


class SDXLCond:
    """Text conditioning of an SDXL batch: ``crossattn`` (B, 77·k, 2048) and ``pooled`` (B, 1280).

    The size part of ``vector`` depends on the image being denoised, so it is added where the image size is known
    (:meth:`lib_ti.model.sdxl.SDXLBackend.apply_model`). ``torch.cat`` and ``.shape`` work on it as on the SD1
    conditioning tensor, so the preview sampler's classifier-free-guidance batch needs no SDXL branch.
    """

    def __init__(self, crossattn: "torch.Tensor", pooled: "torch.Tensor") -> None:
        self.crossattn = crossattn
        self.pooled = pooled

    @property
    def shape(self) -> "torch.Size":
        return self.crossattn.shape

    @property
    def device(self) -> "torch.device":
        return self.crossattn.device

    def to(self, *args: Any, **kwargs: Any) -> "SDXLCond":
        return SDXLCond(self.crossattn.to(*args, **kwargs), self.pooled.to(*args, **kwargs))

    def __getitem__(self, index: Any) -> "SDXLCond":
        return SDXLCond(self.crossattn[index], self.pooled[index])

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        import torch

        kwargs = kwargs or {}
        if func is torch.cat:
            items = list(args[0])
            dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
            if dim != 0:
                raise ValueError("SDXL conditionings are concatenated along the batch only")
            return SDXLCond(torch.cat([c.crossattn for c in items]), torch.cat([c.pooled for c in items]))
        return NotImplemented


# ---------------------------------------------------------------------------- text encoders
def encode_clip_l(transformer: Any, ids: "torch.Tensor", layer_idx: int) -> "torch.Tensor":
    """CLIP-L hidden state ``layer_idx`` (sgm layer "hidden": index into ``hidden_states``, no final LayerNorm)."""
    out = transformer(input_ids=ids, output_hidden_states=True)
    return out.hidden_states[layer_idx]


def encode_clip_g(model: Any, ids: "torch.Tensor", with_last: bool = False) -> tuple:
    """OpenCLIP-bigG penultimate output (B, 77, 1280) and pooled vector (B, proj), as sgm's
    ``FrozenOpenCLIPEmbedder2(layer="penultimate", legacy=False)`` computes them; ``with_last`` adds the last
    block's output (sgm's layer "last", before ``ln_final``)."""
    import torch

    x = model.token_embedding(ids)
    x = x + model.positional_embedding.to(x.dtype)
    x = x.permute(1, 0, 2)  # NLD -> LND (open_clip's resblocks are sequence-first)
    blocks = model.transformer.resblocks
    penultimate = None
    for i, block in enumerate(blocks):
        if i == len(blocks) - 1:
            penultimate = x.permute(1, 0, 2)
        x = block(x, attn_mask=model.attn_mask)
    last = x.permute(1, 0, 2)
    normed = model.ln_final(last)
    pooled = normed[torch.arange(normed.shape[0], device=normed.device), ids.argmax(dim=-1)] @ model.text_projection
    if penultimate is None:  # a one-block encoder has no penultimate block output: sgm would fail the same way
        raise ValueError("the OpenCLIP text encoder needs at least two blocks for the penultimate layer")
    return (penultimate, pooled, last) if with_last else (penultimate, pooled)


@contextlib.contextmanager
def injected(module: Any, fixes: list[tuple[int, int, str]], embeddings: Mapping[str, "torch.Tensor"],
             columns: slice) -> Iterator[list]:
    """While active, ``module``'s output rows ``offset+1 … offset+N`` of batch item ``b`` are the vectors
    ``embeddings[name][:, columns]`` for each ``(b, offset, name)`` in ``fixes`` — the host's ``EmbeddingsWithFixes``
    for dict vectors (``vec['clip_l']``/``vec['clip_g']``), differentiable. Yields a list that is non-empty once the
    module ran."""
    import torch

    fired: list = []

    def hook(_module: Any, _inputs: Any, out: "torch.Tensor") -> "torch.Tensor":
        fired.append(True)
        if not fixes:
            return out
        rows_b, rows_p, values = [], [], []
        for b, off, name in fixes:
            vec = embeddings[name][:, columns]
            n = min(out.shape[1] - off - 1, vec.shape[0])
            rows_b += [b] * n
            rows_p += range(off + 1, off + 1 + n)
            values.append(vec[:n])
        idx = (torch.tensor(rows_b, device=out.device), torch.tensor(rows_p, device=out.device))
        return out.index_put(idx, torch.cat(values).to(device=out.device, dtype=out.dtype))

    handle = module.register_forward_hook(hook)
    try:
        yield fired
    finally:
        handle.remove()
