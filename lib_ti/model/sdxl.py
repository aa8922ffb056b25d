"""SDXL for Textual Inversion: the host's ``sgm`` ``DiffusionEngine`` or TI Lab's standalone :class:`SDXLModel`.

Why one backend over two model types: inside the host the loaded SDXL model is ``sgm``'s ``DiffusionEngine``
(``shared.sd_model.is_sdxl``); ``sgm`` (Stability-AI's generative-models) is not on PyPI, so standalone TI Lab builds
SDXL from libraries that are: the two text encoders with the very classes ``sgm`` wraps (transformers'
``CLIPTextModel`` for CLIP-L, open_clip's text tower for OpenCLIP-bigG) and the UNet and VAE with diffusers. The
training loop, the preview sampler and the embedding tools see both through :class:`SDXLBackend`, which has the
interface of :class:`~lib_ti.model.backend.SDBackend`; the conditioning rules are in
:mod:`lib_ti.model.sdxl_conditioning` and the same for both.

An SDXL embedding is one (N, 768 + 1280) tensor here, CLIP-L columns first; each encoder sees its own columns
(the host's ``vec['clip_l']`` / ``vec['clip_g']``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from . import conditioning as cond_rules
from . import sdxl_conditioning as xl
from .backend import CheckpointInfo, SDBackend, _plain_embedding

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: SDXL base's noise schedule (sgm ``LegacyDDPMDiscretization``) and latent scale
LINEAR_START, LINEAR_END, NUM_TIMESTEPS = 0.00085, 0.012, 1000
SCALE_FACTOR = 0.13025


def legacy_ddpm_alphas_cumprod(linear_start: float = LINEAR_START, linear_end: float = LINEAR_END,
                               timesteps: int = NUM_TIMESTEPS) -> "torch.Tensor":
    """``alphas_cumprod`` of sgm's ``LegacyDDPMDiscretization`` (the "linear" schedule in sqrt space), float32."""
    import torch

    betas = torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).to(torch.float32)


def is_sdxl(model: Any) -> bool:
    """True for an SDXL model: the host's flag, an ``sgm`` engine (it has a ``conditioner``), or :class:`SDXLModel`."""
    return bool(getattr(model, "is_sdxl", False)) or hasattr(model, "conditioner") or isinstance(model, SDXLModel)


def _module_base() -> Any:
    import torch

    return torch.nn.Module


class SDXLModel(_module_base()):  # type: ignore[misc]
    """Standalone SDXL: ``clip_l`` (transformers ``CLIPTextModel``) with ``tokenizer``, ``clip_g`` (open_clip CLIP
    text tower with ``text_projection``), ``model.diffusion_model`` (diffusers ``UNet2DConditionModel`` with SDXL's
    ``text_time`` added conditioning) and ``first_stage_model`` (diffusers ``AutoencoderKL``).

    Attribute names follow sgm's engine where the training code reads them (``model.diffusion_model``,
    ``first_stage_model``, ``scale_factor``, ``parameterization``, ``alphas_cumprod``).
    """

    def __init__(self, clip_l: Any, tokenizer: Any, clip_g: Any, unet: Any, vae: Any, *,
                 scale_factor: float = SCALE_FACTOR, parameterization: str = "eps", clip_l_layer: int = -2,
                 alphas_cumprod: "Optional[torch.Tensor]" = None) -> None:
        import torch

        super().__init__()
        if parameterization not in ("eps", "v"):
            raise ValueError(f"parameterization must be 'eps' or 'v', not {parameterization!r}")
        self.clip_l = clip_l
        self.tokenizer = tokenizer
        self.clip_g = clip_g
        self.model = torch.nn.Module()
        self.model.diffusion_model = unet
        self.first_stage_model = vae
        self.scale_factor = float(scale_factor)
        self.parameterization = parameterization
        self.clip_l_layer = int(clip_l_layer)
        acp = legacy_ddpm_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod.float()
        self.register_buffer("alphas_cumprod", acp, persistent=False)

    def denoise(self, x: "torch.Tensor", t: "torch.Tensor", crossattn: "torch.Tensor", pooled: "torch.Tensor",
                sizes: "torch.Tensor") -> "torch.Tensor":
        """UNet output; diffusers embeds ``sizes`` (B, 6) with the same sinusoid as sgm and prepends ``pooled``,
        so the UNet sees :func:`~lib_ti.model.sdxl_conditioning.sdxl_vector` (tested)."""
        unet = self.model.diffusion_model
        return unet(x, t, encoder_hidden_states=crossattn,
                    added_cond_kwargs={"text_embeds": pooled, "time_ids": sizes.to(pooled.dtype)}).sample

    def encode_first_stage(self, x: "torch.Tensor") -> Any:
        """VAE posterior (``.mean``, ``.std``) of images in [-1, 1]; unscaled, like ldm's."""
        return self.first_stage_model.encode(x).latent_dist

    def decode_first_stage(self, z: "torch.Tensor") -> "torch.Tensor":
        import torch

        with torch.no_grad():
            return self.first_stage_model.decode(z / self.scale_factor).sample


@dataclass
class Posterior:
    """Diagonal Gaussian of the VAE encoder (unscaled mean and std), what :meth:`SDBackend.latent_from_dist` reads."""

    mean: "torch.Tensor"
    std: "torch.Tensor"

    @classmethod
    def from_moments(cls, moments: "torch.Tensor") -> "Posterior":
        import torch

        mean, logvar = torch.chunk(moments, 2, dim=1)
        return cls(mean, torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0)))


@dataclass
class TextEncoderView:
    """One of SDXL's text encoders as the conditioning needs it."""

    key: str  # "clip_l" / "clip_g" (file keys)
    tok: cond_rules.TokenizerSpec
    token_module_owner: Any
    token_attr: str
    run: Callable[["torch.Tensor"], tuple]  # ids -> (z, pooled or None)
    truncates_init: bool  # the HF path reads at most N init tokens, open_clip all (host behaviour)
    encoder: Any  # the text model (transformers CLIPTextModel / open_clip CLIP)
    layers: int  # its depth
    hf_tokenizer: Any = None

    @property
    def token_module(self) -> Any:
        return getattr(self.token_module_owner, self.token_attr)

    @property
    def token_table(self) -> "torch.Tensor":
        return _plain_embedding(self.token_module).weight

    @property
    def width(self) -> int:
        return int(self.token_table.shape[1])


def _hf_tok_spec(tk: Any) -> cond_rules.TokenizerSpec:
    return cond_rules.TokenizerSpec(
        tokenize=lambda texts: tk(texts, truncation=False, add_special_tokens=False)["input_ids"],
        id_start=tk.bos_token_id, id_end=tk.eos_token_id, id_pad=tk.eos_token_id,
        comma_token=tk.get_vocab().get(",</w>"))


def _open_clip_tok_spec() -> cond_rules.TokenizerSpec:
    import open_clip.tokenizer

    ot = open_clip.tokenizer._tokenizer
    return cond_rules.TokenizerSpec(
        tokenize=lambda texts: [ot.encode(t) for t in texts], id_start=ot.encoder["<start_of_text>"],
        id_end=ot.encoder["<end_of_text>"], id_pad=0, comma_token=ot.encoder.get(",</w>"))


def _clip_l_view(transformer: Any, tokenizer: Any, layer_idx: Optional[int]) -> TextEncoderView:
    text_model = getattr(transformer, "text_model", transformer)

    def run(ids: "torch.Tensor") -> tuple:
        if layer_idx is None:
            return transformer(input_ids=ids).last_hidden_state, None
        return xl.encode_clip_l(transformer, ids, layer_idx), None

    return TextEncoderView("clip_l", _hf_tok_spec(tokenizer), text_model.embeddings, "token_embedding", run, True,
                           transformer, int(transformer.config.num_hidden_layers), tokenizer)


def _clip_g_view(model: Any, layer: str = "penultimate") -> TextEncoderView:
    if layer not in ("penultimate", "last"):
        raise ValueError(f"unsupported OpenCLIP layer {layer!r} for SDXL (penultimate or last)")

    def run(ids: "torch.Tensor") -> tuple:
        penultimate, pooled, last = xl.encode_clip_g(model, ids, with_last=True)
        return (penultimate if layer == "penultimate" else last), pooled

    return TextEncoderView("clip_g", _open_clip_tok_spec(), model, "token_embedding", run, False, model,
                           len(model.transformer.resblocks))


def text_encoder_views(model: Any) -> list[TextEncoderView]:
    """CLIP-L and OpenCLIP-bigG of an sgm engine (raw or wrapped by the host) or of an :class:`SDXLModel`."""
    if isinstance(model, SDXLModel):
        return [_clip_l_view(model.clip_l, model.tokenizer, model.clip_l_layer), _clip_g_view(model.clip_g)]
    embedders = [e for e in model.conditioner.embedders if getattr(e, "input_key", "txt") == "txt"]
    inner = [getattr(e, "wrapped", e) for e in embedders]
    if len(inner) != 2 or not hasattr(inner[0], "transformer") or not hasattr(inner[1], "model"):
        names = ", ".join(type(e).__name__ for e in inner)
        raise ValueError(f"this SDXL model's text encoders are [{names}]; TI Lab trains embeddings for SDXL base "
                         "models and fine-tunes (CLIP-L + OpenCLIP-bigG), not for the refiner")
    l_enc, g_enc = inner
    layer_idx = None if getattr(l_enc, "layer", "hidden") == "last" else int(l_enc.layer_idx)
    return [_clip_l_view(l_enc.transformer, l_enc.tokenizer, layer_idx),
            _clip_g_view(g_enc.model, str(getattr(g_enc, "layer", "penultimate")))]


class SDXLBackend(SDBackend):
    """The frozen SDXL model as the training loop, sampler and embedding tools need it (SDBackend's interface).

    ``encode_prompts`` returns an :class:`~lib_ti.model.sdxl_conditioning.SDXLCond`; :meth:`apply_model` adds the
    size conditioning of the latents it denoises (original = target = the image size, crop = ``crop``), as the
    host's txt2img does for that size.

    Args:
        model: sgm ``DiffusionEngine`` (the host's ``shared.sd_model``) or :class:`SDXLModel`.
        crop: the host's ``sdxl_crop_top`` / ``sdxl_crop_left`` options.
        clip_l_skip: the host's ``sdxl_clip_l_skip`` option (then "Clip skip" picks CLIP-L's layer).
    """

    family = "sdxl"
    embedding_suffix = ".safetensors"
    #: ``encode_prompts(..., negative=True)`` gives zeros for an all-empty batch, as the host's SDXL txt2img does;
    #: the preview sampler asks for it by this flag (SD1/SD2 encode the empty negative as text, like the host)
    zeroes_empty_negative = True

    def __init__(self, model: Any, *, comma_padding_backtrack: int = cond_rules.DEFAULT_COMMA_BACKTRACK,
                 info: Optional[Callable[[], tuple[Optional[str], Optional[str]]]] = None,
                 device: Any = None, image_rng: Optional[Callable[..., Any]] = None,
                 crop: tuple[int, int] = (0, 0), clip_l_skip: bool = False) -> None:
        import torch

        self.model = model
        self._device = torch.device(device) if device is not None else None
        self._image_rng = image_rng
        self.encoders = text_encoder_views(model)
        self.columns = xl.part_slices([e.width for e in self.encoders])
        self.embedding_width = sum(e.width for e in self.encoders)
        self.parameterization = str(getattr(model, "parameterization", "eps"))
        acp = getattr(model, "alphas_cumprod_original", None)
        if acp is None:
            acp = getattr(model, "alphas_cumprod", None)
        self.alphas_cumprod = (torch.as_tensor(acp).detach().to(torch.float32) if acp is not None
                               else legacy_ddpm_alphas_cumprod())
        self.crop = (int(crop[0]), int(crop[1]))
        self.clip_l_skip = bool(clip_l_skip)
        self.comma_padding_backtrack = int(comma_padding_backtrack)
        self._info = info
        self._info_cache: Optional[CheckpointInfo] = None
        self._name_ids: dict[tuple[str, str], list[int]] = {}
        self._chunks = cond_rules.ChunkCache()
        # what SD1 code paths read: the first encoder's tokenizer and table (token counts, the prompt box)
        self.tok = self.encoders[0].tok
        self._token_module_owner, self._token_attr = self.encoders[0].token_module_owner, "token_embedding"
        self.token_table = self.encoders[0].token_table

    @property
    def embedding_split(self) -> tuple[int, int]:
        """Widths of the clip_l and clip_g column blocks of an embedding tensor (768, 1280 for SDXL base)."""
        return (self.encoders[0].width, self.encoders[1].width)

    @property
    def num_layers(self) -> int:
        """CLIP-L's depth (what "Clip skip" indexes when ``clip_l_skip`` is on)."""
        return self.encoders[0].layers

    # ------------------------------------------------------------------ conditioning
    def _check_vectors(self, embeddings: Mapping[str, "torch.Tensor"]) -> None:
        widths = " + ".join(str(e.width) for e in self.encoders)
        for name, vec in embeddings.items():
            if vec.dim() != 2 or vec.shape[1] != self.embedding_width:
                raise ValueError(f"embedding {name!r} has shape {tuple(vec.shape)}; this SDXL model needs "
                                 f"(N, {widths} = {self.embedding_width}): clip_l and clip_g vectors")

    def _lookup_for(self, enc: TextEncoderView, embeddings: Mapping[str, "torch.Tensor"]) -> cond_rules.EmbeddingLookup:
        entries = {}
        for name, vec in embeddings.items():
            ids = self._name_ids.get((enc.key, name))
            if ids is None:
                ids = self._name_ids[(enc.key, name)] = list(enc.tok.tokenize([name])[0])
            entries[name] = (ids, int(vec.shape[0]))
        return cond_rules.EmbeddingLookup(entries)

    def _lookup(self, embeddings: Mapping[str, "torch.Tensor"]) -> cond_rules.EmbeddingLookup:
        return self._lookup_for(self.encoders[0], embeddings)

    def encoder_chunks(self, enc: TextEncoderView, prompt: str, embeddings: Mapping[str, "torch.Tensor"], *,
                       emphasis: str = "Original") -> list[cond_rules.PromptChunk]:
        """One encoder's 77-token chunks of ``prompt`` (each encoder chunks with its own tokenizer, as the host)."""
        cond_rules.check_emphasis(emphasis)
        sig = tuple((name, int(vec.shape[0])) for name, vec in embeddings.items())
        key = (enc.key, prompt, emphasis, sig, self.comma_padding_backtrack)
        return self._chunks.get(key, lambda: cond_rules.tokenize_line(
            prompt, enc.tok, self._lookup_for(enc, embeddings), emphasis=emphasis,
            comma_padding_backtrack=self.comma_padding_backtrack)[0])

    def encode_prompts(self, prompts: list[str], embeddings: Mapping[str, "torch.Tensor"], *, clip_skip: int = 1,
                       emphasis: str = "Original", negative: bool = False) -> xl.SDXLCond:
        """``SDXLCond`` (crossattn (B, 77·k, 2048), pooled (B, 1280)) for ``prompts`` as the host computes it,
        differentiable w.r.t. the (N, 2048) tensors in ``embeddings``.

        ``negative``: the prompts are txt2img's negative prompts; all empty then gives zeros (the host's rule).
        ``clip_skip`` acts on CLIP-L only with ``clip_l_skip`` (the host's ``sdxl_clip_l_skip``), as in the host.
        """
        import torch

        if not prompts:
            raise ValueError("no prompts to encode")
        self._check_vectors(embeddings)
        zs, pooled = [], None
        for enc, columns in zip(self.encoders, self.columns):
            per_prompt = [self.encoder_chunks(enc, p, embeddings, emphasis=emphasis) for p in prompts]
            n_chunks = max(len(c) for c in per_prompt)
            empty = cond_rules.empty_chunk(enc.tok)
            device = enc.token_table.device
            parts = []
            for i in range(n_chunks):
                batch = [c[i] if i < len(c) else empty for c in per_prompt]
                ids = torch.tensor(cond_rules.chunk_ids(batch, enc.tok), dtype=torch.long, device=device)
                fixes = [(b, off, name) for b, ch in enumerate(batch) for off, name in ch.fixes]
                with xl.injected(enc.token_module, fixes, embeddings, columns) as fired:
                    z, pool = self._run_encoder(enc, ids, int(clip_skip))
                if not fired:
                    raise RuntimeError(f"the {enc.key} text encoder did not call its token embedding; embeddings "
                                       "could not be injected")
                if i == 0 and pool is not None:
                    pooled = pool
                mult = torch.tensor([ch.multipliers for ch in batch], dtype=torch.float32, device=z.device)
                parts.append(cond_rules.apply_emphasis(z, mult, emphasis))
            zs.append(torch.cat(parts, dim=1).to(self.device))
        if zs[0].shape[1] != zs[1].shape[1]:
            raise ValueError(f"the two text encoders split the prompt into different numbers of 75-token chunks "
                             f"({zs[0].shape[1] // 77} and {zs[1].shape[1] // 77}); shorten the prompt")
        crossattn = torch.cat([z.to(zs[1].dtype) for z in zs], dim=2)
        pooled = pooled.to(self.device)
        if negative and all(p == "" for p in prompts):
            crossattn, pooled = torch.zeros_like(crossattn), torch.zeros_like(pooled)
        return xl.SDXLCond(crossattn, pooled)

    def _run_encoder(self, enc: TextEncoderView, ids: "torch.Tensor", clip_skip: int) -> tuple:
        if enc.key == "clip_l" and self.clip_l_skip:
            if not 1 <= clip_skip <= enc.layers + 1:
                raise ValueError(f"clip skip must be 1 to {enc.layers + 1} for CLIP-L, not {clip_skip}")
            return xl.encode_clip_l(enc.encoder, ids, -clip_skip), None
        return enc.run(ids)

    # ------------------------------------------------------------------ embeddings
    def encode_init_text(self, text: str, n: int) -> "torch.Tensor":
        """Initial (n, 2048) vectors: per encoder the host's rule (``vec[i] = rows[i * T // n]`` over its T init
        tokens; CLIP-L reads at most n tokens, bigG all); empty ``text`` gives zeros."""
        import torch

        if not 1 <= int(n) <= cond_rules.CHUNK_LENGTH:
            raise ValueError(f"vectors per token must be 1 to {cond_rules.CHUNK_LENGTH}, not {n}")
        vec = torch.zeros((n, self.embedding_width), dtype=torch.float32)
        if not text:
            return vec
        for enc, columns in zip(self.encoders, self.columns):
            if enc.truncates_init:
                ids = enc.hf_tokenizer(text, max_length=n, truncation=True, add_special_tokens=False)["input_ids"]
            else:
                ids = list(enc.tok.tokenize([text])[0])
            if not ids:
                raise ValueError(f"initialization text {text!r} has no tokens; use other words or leave it empty "
                                 "for zeros")
            with torch.no_grad():
                rows = enc.token_table[torch.tensor(ids, dtype=torch.long, device=enc.token_table.device)]
            rows = rows.detach().float().cpu()
            t = int(rows.shape[0])
            for i in range(n):
                vec[i, columns] = rows[i * t // n]
        return vec

    def init_token_embeddings(self, text: str, n: int) -> "torch.Tensor":
        raise NotImplementedError("SDXL initialises each encoder's columns separately: use encode_init_text")

    # ------------------------------------------------------------------ images and UNet
    def encode_images(self, x: "torch.Tensor") -> Posterior:
        """VAE posterior of images ``x`` in [-1, 1] (B×3×H×W); scaled by :meth:`latent_from_dist`."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be B×3×H×W, got {tuple(x.shape)}")
        x = x.to(self._vae_device(), self._vae_dtype())
        if isinstance(self.model, SDXLModel):
            dist = self.model.encode_first_stage(x)
            return Posterior(dist.mean, dist.std)
        fsm = self.model.first_stage_model  # sgm AutoencoderKL(Legacy): encoder → quant_conv → Gaussian moments
        h = fsm.encoder(x)
        quant = getattr(fsm, "quant_conv", None)
        return Posterior.from_moments(quant(h) if quant is not None else h)

    def sizes_for(self, x: "torch.Tensor") -> "torch.Tensor":
        """(B, 6) size conditioning for latents ``x``: the image size (latent × 8) as original and target size."""
        h, w = int(x.shape[-2]) * 8, int(x.shape[-1]) * 8
        return xl.size_ids(x.shape[0], h, w, self.crop[0], self.crop[1], device=x.device)

    def apply_model(self, x_noisy: "torch.Tensor", t: "torch.Tensor", cond: xl.SDXLCond) -> "torch.Tensor":
        """UNet output (eps or v) for noisy latents at timesteps ``t`` under ``cond`` plus the size conditioning."""
        sizes = self.sizes_for(x_noisy)
        if isinstance(self.model, SDXLModel):
            return self.model.denoise(x_noisy, t, cond.crossattn, cond.pooled, sizes)
        vector = xl.sdxl_vector(cond.pooled, sizes)
        return self.model.model(x_noisy, t, {"crossattn": cond.crossattn, "vector": vector})

    def conditioning(self, prompts: list[str], embeddings: Mapping[str, "torch.Tensor"], *, width: int, height: int,
                     emphasis: str = "Original", negative: bool = False) -> dict:
        """The host's ``get_learned_conditioning`` dict for an image of ``width``×``height``: ``crossattn`` and
        ``vector`` (what the UNet receives)."""
        c = self.encode_prompts(prompts, embeddings, emphasis=emphasis, negative=negative)
        sizes = xl.size_ids(len(prompts), height, width, self.crop[0], self.crop[1], device=c.pooled.device)
        return {"crossattn": c.crossattn, "vector": xl.sdxl_vector(c.pooled, sizes)}
