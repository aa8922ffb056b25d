"""One backend over an ``ldm`` LatentDiffusion, inside the host or standalone.

Why one class: the training loop, the preview sampler and the embedding tools must see the same model the same
way whether it is the host's ``shared.sd_model`` (SD1/SD2 ``LatentDiffusion`` whose ``cond_stage_model`` the host
wrapped: the raw ldm embedder is ``.wrapped``) or a model :func:`lib_ti.model.loader.load_ldm` built from a file.

Embedding vectors reach the text encoder the way the host's ``EmbeddingsWithFixes`` puts them there: the token
embedding's output rows ``offset+1 … offset+N`` of each chunk are replaced by the vectors (a forward hook on the
token embedding module, present only during :meth:`SDBackend.encode_prompts`), so gradients flow into the vectors
and nothing else changes. Inside the host the hooked module is the host's own ``EmbeddingsWithFixes``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Optional

from . import conditioning as cond_rules

if TYPE_CHECKING:  # pragma: no cover
    import torch

LATENT_METHODS = ("once", "deterministic", "random")


class CheckpointInfo(NamedTuple):
    """What the host stamps into saved embeddings: ``sd_checkpoint`` (10-hex short hash) and model name."""

    short_hash: Optional[str]
    name: Optional[str]


def file_short_hash(path: Path) -> str:
    """The host's checkpoint short hash: the first 10 hex digits of the file's sha256."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def raw_text_encoder(model: Any) -> Any:
    """The ldm embedder of ``model``: the host's wrapper keeps it in ``.wrapped``."""
    cond = model.cond_stage_model
    inner = getattr(cond, "wrapped", None)
    if inner is not None and (hasattr(inner, "transformer") or hasattr(inner, "model")):
        return inner
    return cond


def _plain_embedding(module: Any) -> Any:
    """The ``nn.Embedding`` behind a token-embedding module (the host wraps it in ``EmbeddingsWithFixes``)."""
    import torch

    if isinstance(module, torch.nn.Embedding):
        return module
    inner = getattr(module, "wrapped", None)
    if isinstance(inner, torch.nn.Embedding):
        return inner
    raise TypeError(f"cannot find the token table behind {type(module).__name__}")


def check_supported(model: Any) -> None:
    """``ValueError`` naming the model type unless ``model`` is a text-to-image SD model TI Lab can train on.

    ldm keeps ``conditioning_key`` on the ``DiffusionWrapper`` (``model.model``), where the host's loaded
    inpainting (``hybrid``, 9 input channels), depth (``hybrid``) and instruct-pix2pix models have it.
    """
    key = getattr(getattr(model, "model", None), "conditioning_key", None)
    if key is None:
        key = getattr(model, "conditioning_key", None)
    key = key or "crossattn"
    unet = getattr(getattr(model, "model", None), "diffusion_model", None)
    in_ch = getattr(unet, "in_channels", 4)
    if key == "crossattn" and in_ch == 4:
        return
    kind = ("a depth model" if getattr(model, "depth_model", None) is not None
            else "an inpainting model" if in_ch == 9
            else "an instruct-pix2pix model" if in_ch == 8
            else f"a {type(model).__name__} with conditioning '{key}' and {in_ch} input channels")
    raise ValueError(f"The loaded checkpoint is {kind} ({type(model).__name__}, conditioning '{key}', {in_ch} input "
                     f"channels); TI Lab trains embeddings on text-to-image SD 1.x / 2.x models only. Load a "
                     f"text-to-image checkpoint and start again.")


class SDBackend:
    """The frozen SD1/SD2 model as the training loop, sampler and embedding tools need it.

    Args:
        model: an ldm ``LatentDiffusion`` (SD1: ``FrozenCLIPEmbedder``; SD2: ``FrozenOpenCLIPEmbedder``), raw or
            hijacked by the host.
        comma_padding_backtrack: the host's setting of that name (default 20).
        info: returns ``(short_hash, name)`` of the checkpoint; default: from ``model.tilab_checkpoint`` (set by
            the loader), hashed on first use.
        device: where the model computes. Inside the host this is ``modules.devices.device``: under ``--medvram`` /
            ``--lowvram`` the host keeps parts on the CPU and moves them in forward pre-hooks, so the parameters do
            not say where inputs belong. Default: the UNet's device (TI Lab loaded the model itself).
        image_rng: ``(shape, seeds) -> rng`` with ``next()``, the noise the preview sampler draws (the host's
            ``ImageRNG`` inside the host); default :class:`~lib_ti.model.sampling.ImageNoise`.
    """

    def __init__(self, model: Any, *, comma_padding_backtrack: int = cond_rules.DEFAULT_COMMA_BACKTRACK,
                 info: Optional[Callable[[], tuple[Optional[str], Optional[str]]]] = None,
                 device: Any = None, image_rng: Optional[Callable[..., Any]] = None) -> None:
        import torch

        self.model = model
        check_supported(model)
        self._device = torch.device(device) if device is not None else None
        self._image_rng = image_rng
        self.encoder = raw_text_encoder(model)
        if hasattr(self.encoder, "transformer") and hasattr(self.encoder, "tokenizer"):
            self.family = "sd1"
            text_model = getattr(self.encoder.transformer, "text_model", self.encoder.transformer)
            self._token_module_owner, self._token_attr = text_model.embeddings, "token_embedding"
            tk = self.encoder.tokenizer
            self.tok = cond_rules.TokenizerSpec(
                tokenize=lambda texts: tk(texts, truncation=False, add_special_tokens=False)["input_ids"],
                id_start=tk.bos_token_id, id_end=tk.eos_token_id, id_pad=tk.eos_token_id,
                comma_token=tk.get_vocab().get(",</w>"),
            )
        elif hasattr(self.encoder, "model") and hasattr(self.encoder.model, "token_embedding"):
            import open_clip.tokenizer

            self.family = "sd2"
            self._token_module_owner, self._token_attr = self.encoder.model, "token_embedding"
            ot = open_clip.tokenizer._tokenizer
            self.tok = cond_rules.TokenizerSpec(
                tokenize=lambda texts: [ot.encode(t) for t in texts],
                id_start=ot.encoder["<start_of_text>"], id_end=ot.encoder["<end_of_text>"], id_pad=0,
                comma_token=ot.encoder.get(",</w>"),
            )
        else:
            raise ValueError(f"unsupported text encoder {type(self.encoder).__name__}: TI Lab trains on SD 1.x "
                             "(CLIP) and SD 2.x (OpenCLIP) models")
        self.token_table = _plain_embedding(self._token_module).weight
        self.embedding_width: int = int(self.token_table.shape[1])
        self.parameterization: str = str(getattr(model, "parameterization", "eps"))
        acp = getattr(model, "alphas_cumprod_original", None)
        if acp is None:
            acp = model.alphas_cumprod
        self.alphas_cumprod: "torch.Tensor" = torch.as_tensor(acp).detach().to(torch.float32)
        self.comma_padding_backtrack = int(comma_padding_backtrack)
        self._info = info
        self._info_cache: Optional[CheckpointInfo] = None
        self._name_ids: dict[str, list[int]] = {}
        self._chunks = cond_rules.ChunkCache()

    # ------------------------------------------------------------------ basics
    @property
    def _token_module(self) -> Any:
        return getattr(self._token_module_owner, self._token_attr)

    @property
    def device(self) -> "torch.device":
        """Where the model computes: the host's device, else where the UNet lives."""
        if self._device is not None:
            return self._device
        return next(self.model.model.parameters()).device

    @property
    def host_offloads(self) -> bool:
        """True when the host's ``--medvram``/``--lowvram`` hooks move model parts (leave placement to them)."""
        return bool(getattr(self.model, "lowvram", False))

    def precision(self, requested: str = "auto") -> Any:
        """The :class:`~lib_ti.model.precision.PrecisionPlan` for this model's loaded weights on its device."""
        from .precision import decide_precision, weights_dtype

        return decide_precision(requested, self.device, weights_dtype(self.model))

    def image_rng(self, shape: Any, seeds: Any) -> Any:
        """Per-image noise streams for the preview sampler (the host's own inside the host)."""
        if self._image_rng is not None:
            return self._image_rng(shape, seeds)
        from .sampling import ImageNoise

        return ImageNoise(shape, seeds, device=self.device)

    @property
    def num_layers(self) -> int:
        """Text encoder depth (clip skip may go up to this + 1, the token embeddings, as the host indexes)."""
        if self.family == "sd1":
            return int(self.encoder.transformer.config.num_hidden_layers)
        return len(self.encoder.model.transformer.resblocks)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without BOS/EOS and without truncation (the host's ``tokenize``)."""
        return list(self.tok.tokenize([text])[0])

    def checkpoint_info(self) -> CheckpointInfo:
        """``(short_hash, name)`` of the loaded checkpoint (either may be None when unknown)."""
        if self._info_cache is None:
            if self._info is not None:
                sh, name = self._info()
                self._info_cache = CheckpointInfo(sh, name)
            else:
                path = getattr(self.model, "tilab_checkpoint", None)
                if path is None:
                    self._info_cache = CheckpointInfo(None, None)
                else:
                    path = Path(path)
                    self._info_cache = CheckpointInfo(file_short_hash(path), path.stem)
        return self._info_cache

    # ------------------------------------------------------------------ conditioning
    def _check_vectors(self, embeddings: Mapping[str, "torch.Tensor"]) -> None:
        for name, vec in embeddings.items():
            if vec.dim() != 2 or vec.shape[1] != self.embedding_width:
                raise ValueError(f"embedding {name!r} has shape {tuple(vec.shape)}; this {self.family} model needs "
                                 f"(N, {self.embedding_width})")

    def _lookup(self, embeddings: Mapping[str, "torch.Tensor"]) -> cond_rules.EmbeddingLookup:
        entries = {}
        for name, vec in embeddings.items():
            ids = self._name_ids.get(name)
            if ids is None:
                ids = self._name_ids[name] = self.tokenize(name)
            entries[name] = (ids, int(vec.shape[0]))
        return cond_rules.EmbeddingLookup(entries)

    def prompt_chunks(self, prompt: str, embeddings: Mapping[str, "torch.Tensor"], *,
                      emphasis: str = "Original") -> list[cond_rules.PromptChunk]:
        """The host's 77-token chunks of ``prompt`` (cached: prompts repeat every epoch)."""
        cond_rules.check_emphasis(emphasis)
        self._check_vectors(embeddings)
        sig = tuple((name, int(vec.shape[0])) for name, vec in embeddings.items())
        key = (prompt, emphasis, sig, self.comma_padding_backtrack)
        return self._chunks.get(key, lambda: cond_rules.tokenize_line(
            prompt, self.tok, self._lookup(embeddings), emphasis=emphasis,
            comma_padding_backtrack=self.comma_padding_backtrack)[0])

    def token_count(self, prompt: str, embeddings: Mapping[str, "torch.Tensor"], *, emphasis: str = "Original") -> int:
        """The host's prompt token count (what its counter shows as ``n/75``)."""
        self._check_vectors(embeddings)
        return cond_rules.tokenize_line(prompt, self.tok, self._lookup(embeddings), emphasis=emphasis,
                                        comma_padding_backtrack=self.comma_padding_backtrack)[1]

    def encode_prompts(self, prompts: list[str], embeddings: Mapping[str, "torch.Tensor"], *, clip_skip: int = 1,
                       emphasis: str = "Original") -> "torch.Tensor":
        """Conditioning (B, 77·k, C) for ``prompts`` exactly as the host computes it, differentiable w.r.t. the
        tensors in ``embeddings`` (name -> (N, D)).

        ``clip_skip`` is the host's "Clip skip" (1 = last layer). The host ignores it for SD2 (OpenCLIP, always
        the config's layer, penultimate), so does this. Emphasis "Original" couples the items of a batch (the
        mean is over the whole chunk tensor), as in the host's trainer, which encodes a batch's prompts together.
        """
        import torch

        if not prompts:
            raise ValueError("no prompts to encode")
        if self.family == "sd1" and not 1 <= int(clip_skip) <= self.num_layers + 1:
            raise ValueError(f"clip skip must be 1 to {self.num_layers + 1} for this text encoder, not {clip_skip}")
        per_prompt = [self.prompt_chunks(p, embeddings, emphasis=emphasis) for p in prompts]
        n_chunks = max(len(c) for c in per_prompt)
        empty = cond_rules.empty_chunk(self.tok)
        # the host's device: under --medvram the text encoder is on the CPU until its pre-hook moves it
        device = self._device if self._device is not None else self.token_table.device
        zs = []
        for i in range(n_chunks):
            batch = [c[i] if i < len(c) else empty for c in per_prompt]
            ids = torch.tensor(cond_rules.chunk_ids(batch, self.tok), dtype=torch.long, device=device)
            fixes = [(b, off, name) for b, ch in enumerate(batch) for off, name in ch.fixes]
            z = self._encode_chunk(ids, fixes, embeddings, int(clip_skip))
            mult = torch.tensor([ch.multipliers for ch in batch], dtype=torch.float32, device=z.device)
            zs.append(cond_rules.apply_emphasis(z, mult, emphasis))
        # on the UNet's device: with the host's --medvram the text encoder may sit elsewhere
        return torch.cat(zs, dim=1).to(self.device)

    def _encode_chunk(self, ids: "torch.Tensor", fixes: list[tuple[int, int, str]],
                      embeddings: Mapping[str, "torch.Tensor"], clip_skip: int) -> "torch.Tensor":
        import torch

        fired = []

        def inject(_module: Any, _inputs: Any, out: "torch.Tensor") -> "torch.Tensor":
            fired.append(True)
            if not fixes:
                return out
            rows_b, rows_p, values = [], [], []
            for b, off, name in fixes:
                vec = embeddings[name]
                n = min(out.shape[1] - off - 1, vec.shape[0])
                rows_b += [b] * n
                rows_p += range(off + 1, off + 1 + n)
                values.append(vec[:n])
            idx_b = torch.tensor(rows_b, device=out.device)
            idx_p = torch.tensor(rows_p, device=out.device)
            vals = torch.cat(values).to(device=out.device, dtype=out.dtype)
            return out.index_put((idx_b, idx_p), vals)

        handle = self._token_module.register_forward_hook(inject)
        try:
            if self.family == "sd1":
                tr = self.encoder.transformer
                out = tr(input_ids=ids, output_hidden_states=clip_skip > 1)
                if clip_skip > 1:
                    z = getattr(tr, "text_model", tr).final_layer_norm(out.hidden_states[-clip_skip])
                else:
                    z = out.last_hidden_state
            else:
                z = self.encoder.encode_with_transformer(ids)
        finally:
            handle.remove()
        if not fired:
            raise RuntimeError("the text encoder did not call its token embedding; embeddings could not be injected")
        return z

    # ------------------------------------------------------------------ embeddings
    def init_token_embeddings(self, text: str, n: int) -> "torch.Tensor":
        """Token-table rows of ``text`` (T, D), as the host's ``encode_embedding_init_text``.

        SD1 (HF tokenizer) keeps at most ``n`` tokens; SD2 (open_clip) keeps all of them (host behaviour).
        """
        import torch

        if self.family == "sd1":
            ids = self.encoder.tokenizer(text, max_length=n, truncation=True, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenize(text)
        with torch.no_grad():
            idx = torch.tensor(ids, dtype=torch.long, device=self.token_table.device)
            return self.token_table[idx].detach().float()

    def encode_init_text(self, text: str, n: int) -> "torch.Tensor":
        """Initial vectors (n, D) for an embedding, by the host's rules.

        Empty ``text`` gives zeros; otherwise ``vec[i] = tokens[i * T // n]`` over the T init tokens, so tokens repeat
        when T < n (2 tokens, n=4 → 0,0,1,1) and are picked evenly when T > n (SD2 does not truncate).
        """
        import torch

        if not 1 <= int(n) <= cond_rules.CHUNK_LENGTH:
            raise ValueError(f"vectors per token must be 1 to {cond_rules.CHUNK_LENGTH}, not {n}")
        vec = torch.zeros((n, self.embedding_width), dtype=torch.float32)
        if not text:
            return vec
        rows = self.init_token_embeddings(text, n).cpu()
        t = int(rows.shape[0])
        if t == 0:
            raise ValueError(f"initialization text {text!r} has no tokens; use other words or leave it empty for zeros")
        for i in range(n):
            vec[i] = rows[i * t // n]
        return vec

    # ------------------------------------------------------------------ images and UNet
    def _vae_dtype(self) -> "torch.dtype":
        return next(self.model.first_stage_model.parameters()).dtype

    def _vae_device(self) -> "torch.device":
        if self.host_offloads:  # the host's encode/decode wrappers move the VAE to its device first
            return self.device
        return next(self.model.first_stage_model.parameters()).device

    def encode_images(self, x: "torch.Tensor") -> Any:
        """VAE posterior (ldm ``DiagonalGaussianDistribution``) of images ``x`` in [-1, 1], B×3×H×W."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be B×3×H×W, got {tuple(x.shape)}")
        return self.model.encode_first_stage(x.to(self._vae_device(), self._vae_dtype()))

    def latent_from_dist(self, dist: Any, method: str, *, generator: "Optional[torch.Generator]" = None) -> "torch.Tensor":
        """Scaled latent from a posterior: "once"/"random" draw a sample (the host's ``get_first_stage_encoding``),
        "deterministic" takes the mean (the host sets ``std = 0``). A non-Gaussian encoder output is returned
        scaled as is, as the host falls back to "once" for it."""
        import torch

        if method not in LATENT_METHODS:
            raise ValueError(f"latent sampling method must be one of {', '.join(LATENT_METHODS)}, not {method!r}")
        scale = float(self.model.scale_factor)
        mean = getattr(dist, "mean", None)
        if mean is None or not hasattr(dist, "std"):
            return dist * scale
        if method == "deterministic":
            return mean * scale
        # drawn on the generator's device (CPU by default, like ldm's sample()), then moved
        noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32,
                            device=generator.device if generator is not None else "cpu")
        return (mean + dist.std * noise.to(mean.device, mean.dtype)) * scale

    def apply_model(self, x_noisy: "torch.Tensor", t: "torch.Tensor", cond: "torch.Tensor") -> "torch.Tensor":
        """UNet output (eps or v, see :attr:`parameterization`) for noisy latents at integer timesteps ``t``."""
        return self.model.apply_model(x_noisy, t, cond)

    def decode(self, z: "torch.Tensor") -> "torch.Tensor":
        """Images in about [-1, 1] from scaled latents (no gradients, as ldm's ``decode_first_stage``)."""
        return self.model.decode_first_stage(z.to(self._vae_device(), self._vae_dtype()))
