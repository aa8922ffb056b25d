"""BLIP captioning of a folder, written to sidecars as each caption is made.

Two captioners, one interface (``load()``, ``caption(pil) -> str``, ``unload()``):

- :class:`TransformersBlip` (standalone): transformers' ``BlipForConditionalGeneration`` and
  ``BlipProcessor`` from a local folder, from the user's Hugging Face cache, or (where the
  network allows) downloaded by model id. Weights load from safetensors, or from a ``.bin``
  with ``torch.load(weights_only=True)``; never an unrestricted pickle.
- Inside the host, the host's own interrogator (``shared.interrogator``), adapted by
  :func:`as_captioner` from what ``ctx.get_captioner()`` returns (see :mod:`lib_ti.host`).

An existing caption is handled like the host's Extras "Caption" postprocessing
(``modules/postprocessing.py``, option ``postprocessing_existing_caption_action``):

==========  =================================================================
ignore      the new caption replaces the old one
keep        the old caption stays (TI Lab does not even run the model for it)
prepend     ``"{existing} {new}"``: the existing caption goes first
append      ``"{new} {existing}"``: the existing caption goes last
==========  =================================================================

Both captions are stripped first, and an empty result writes nothing, as in the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

from ..core.jobs import Job
from .sidecar import CaptionError, Sidecar

EXISTING_ACTIONS = ("ignore", "keep", "prepend", "append")
DEFAULT_MODEL = "Salesforce/blip-image-captioning-base"
_WEIGHT_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]


class Captioner(Protocol):
    def load(self) -> None: ...

    def caption(self, image: Any) -> str: ...

    def unload(self) -> None: ...


def combine_caption(existing: str, new: str, action: str) -> str:
    """The caption to write, given the existing one and the model's, per the host's rule."""
    action = action.lower()
    if action not in EXISTING_ACTIONS:
        raise ValueError(f"Unknown existing-caption action {action!r}; choose one of: {', '.join(EXISTING_ACTIONS)}.")
    existing = (existing or "").strip()
    new = (new or "").strip()
    if action == "prepend" and existing:
        out = f"{existing} {new}"
    elif action == "append" and existing:
        out = f"{new} {existing}"
    elif action == "keep" and existing:
        out = existing
    else:
        out = new
    return out.strip()


# --- loading a BLIP model with transformers ----------------------------------------------------------


def _has_weights(folder: Path) -> bool:
    return any((folder / n).is_file() for n in ("model.safetensors", "pytorch_model.bin")) or any(
        folder.glob("model-*.safetensors")
    )


def resolve_model_folder(source: str, allow_download: Optional[bool] = None) -> Path:
    """A local folder holding the BLIP model named by ``source``.

    ``source`` is a folder, or a Hugging Face model id looked up in the user's cache first and
    downloaded only when ``allow_download`` (default: unless ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``).
    """
    source = (source or "").strip() or DEFAULT_MODEL
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        if not (path / "config.json").is_file() or not _has_weights(path):
            raise CaptionError(
                f"'{source}' is a folder but not a BLIP model: it needs config.json and model.safetensors "
                "(or pytorch_model.bin), plus the processor files (preprocessor_config.json, vocab.txt, ...)."
            )
        return path
    if path.exists() or source.count("/") > 1 or os.sep in source.replace("/", "") or source.startswith("."):
        raise CaptionError(f"BLIP model folder '{source}' was not found.")
    if allow_download is None:
        allow_download = not (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"))
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, allow_patterns=_WEIGHT_PATTERNS, local_files_only=True))
    except Exception as cached_exc:  # noqa: BLE001 - any miss in the cache means "try the network"
        if not allow_download:
            raise CaptionError(
                f"BLIP model '{source}' is not in the Hugging Face cache and downloads are off. "
                "Give a local model folder instead."
            ) from cached_exc
    try:
        folder = Path(snapshot_download(source, allow_patterns=_WEIGHT_PATTERNS))
        if not _has_weights(folder):  # an older repository with only a .bin
            folder = Path(snapshot_download(source, allow_patterns=[*_WEIGHT_PATTERNS, "pytorch_model.bin"]))
        return folder
    except Exception as exc:  # noqa: BLE001 - network, auth, missing repo: all mean "not available"
        raise CaptionError(f"BLIP model '{source}' could not be downloaded: {exc}") from exc


def check_model_source(guard: Any, text: str) -> str:
    """A model typed into the UI: a folder goes through the path guard, a model id passes as it is.

    Anything that looks like a path (absolute, ``~``, ``.``-relative, or existing) is a server path and
    is refused outside the allowed folders when the UI is shared.
    """
    text = (text or "").strip()
    if not text:
        return ""
    expanded = os.path.expanduser(text)
    if os.path.isabs(expanded) or text.startswith((".", "~")) or os.path.exists(expanded) or "\\" in text:
        return str(guard.check(text, must_exist=True, kind="BLIP model folder"))
    return text


def load_blip(folder: Path, device: str = "cpu", dtype: Any = None) -> tuple[Any, Any]:
    """``(model, processor)`` from a local folder, weights from safetensors or a weights-only ``.bin``."""
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch
    from transformers import BlipForConditionalGeneration, BlipProcessor

    folder = Path(folder)
    try:
        processor = BlipProcessor.from_pretrained(str(folder), local_files_only=True)
        if (folder / "model.safetensors").is_file() or any(folder.glob("model-*.safetensors")):
            model = BlipForConditionalGeneration.from_pretrained(str(folder), local_files_only=True,
                                                                 use_safetensors=True)
        else:
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
            model = BlipForConditionalGeneration.from_pretrained(str(folder), local_files_only=True, state_dict=state)
    except (OSError, ValueError, KeyError) as exc:
        raise CaptionError(f"Cannot load the BLIP model in '{folder}': {exc}") from exc
    model.eval()
    model.to(device=device, dtype=dtype or torch.float32)
    return model, processor


class TransformersBlip:
    """BLIP captioning with transformers, for the standalone app and the CLI."""

    def __init__(self, source: str = DEFAULT_MODEL, *, num_beams: int = 3, min_length: int = 5,
                 max_length: int = 30, device: Optional[str] = None, allow_download: Optional[bool] = None) -> None:
        self.source = source
        self.num_beams, self.min_length, self.max_length = int(num_beams), int(min_length), int(max_length)
        if self.max_length < self.min_length:
            raise ValueError(f"BLIP maximum length {self.max_length} is below the minimum {self.min_length}.")
        self.device = device
        self.allow_download = allow_download
        self.model: Any = None
        self.processor: Any = None

    @classmethod
    def from_settings(cls, settings: Any, source: str = "", **kwargs: Any) -> "TransformersBlip":
        """Beams and lengths from TI Lab's settings; keyword arguments (e.g. from the CLI) win."""
        params = dict(num_beams=settings.get("tilab_blip_num_beams"), min_length=settings.get("tilab_blip_min_length"),
                      max_length=settings.get("tilab_blip_max_length"))
        params.update(kwargs)
        return cls(source or settings.get("tilab_blip_model") or DEFAULT_MODEL, **params)

    def load(self) -> None:
        if self.model is not None:
            return
        import torch

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.device = device
        self.model, self.processor = load_blip(resolve_model_folder(self.source, self.allow_download), device, dtype)

    def caption(self, image: Any) -> str:
        import torch

        self.load()
        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.model.device, dtype=next(self.model.parameters()).dtype)
        with torch.no_grad():
            out = self.model.generate(pixel_values=pixels, num_beams=self.num_beams,
                                      min_length=self.min_length, max_length=self.max_length)
        return self.processor.decode(out[0], skip_special_tokens=True).strip()

    def unload(self) -> None:
        self.model, self.processor = None, None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


class _InterrogatorAdapter:
    """Wraps an object with the host interrogator's methods (``load``, ``generate_caption``, ...)."""

    def __init__(self, interrogator: Any) -> None:
        self.interrogator = interrogator

    def load(self) -> None:
        self.interrogator.load()

    def caption(self, image: Any) -> str:
        return self.interrogator.generate_caption(image)

    def unload(self) -> None:
        if hasattr(self.interrogator, "send_blip_to_ram"):
            self.interrogator.send_blip_to_ram()
        if hasattr(self.interrogator, "unload"):
            self.interrogator.unload()


def as_captioner(obj: Any) -> Captioner:
    """Accept a captioner, or the host's interrogator (``generate_caption``), as a :class:`Captioner`."""
    if hasattr(obj, "caption") and hasattr(obj, "load"):
        return obj
    if hasattr(obj, "generate_caption"):
        return _InterrogatorAdapter(obj)
    raise TypeError(f"{type(obj).__name__} is not a captioner (no caption() or generate_caption()).")


def captioner_for(ctx: Any, source: str = "") -> Captioner:
    """The host's BLIP inside the host (unless a model is named), transformers' BLIP otherwise."""
    if ctx.get_captioner is not None and not source:
        found = ctx.get_captioner()
        if found is not None:
            return as_captioner(found)
    return TransformersBlip.from_settings(ctx.settings, source)


# --- batch captioning --------------------------------------------------------------------------------


@dataclass
class BatchResult:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    interrupted: bool = False

    def message(self) -> str:
        parts = [f"Captioned {len(self.written)} image{'s' if len(self.written) != 1 else ''}"]
        if self.kept:
            parts.append(f"kept {len(self.kept)} existing caption{'s' if len(self.kept) != 1 else ''}")
        if self.errors:
            parts.append(f"{len(self.errors)} failed: " + " ".join(self.errors))
        msg = ", ".join(parts) + "."
        if self.interrupted:
            msg += " Stopped early; every caption written so far is kept."
        return msg


def caption_images(images: Sequence[Path], captioner: Captioner, action: str = "ignore", job: Optional[Job] = None,
                   on_written: Optional[Callable[[Path, str], None]] = None) -> BatchResult:
    """Caption ``images`` and write each sidecar as soon as its caption is ready.

    Interrupting (``job.interrupt()`` or the host's Interrupt) stops after the current image;
    everything written stays. An unreadable image or caption file is reported by name and skipped.
    """
    from PIL import Image

    action = action.lower()
    combine_caption("", "", action)  # validate the action before loading a model
    job = job or Job()
    result = BatchResult()
    loaded = False
    try:
        for image_path in job.iterate(list(images), desc="Captioning"):
            image_path = Path(image_path)
            sidecar = Sidecar.load(image_path)
            if sidecar.error:
                result.errors.append(sidecar.error)
                continue
            if action == "keep" and sidecar.text.strip():
                result.kept.append(image_path.name)
                continue
            try:
                with Image.open(image_path) as im:
                    im.load()
                    pil = im.convert("RGB")
            except (OSError, ValueError) as exc:
                result.errors.append(f"{image_path.name}: cannot be read as an image ({exc}).")
                continue
            if not loaded:
                captioner.load()
                loaded = True
            text = combine_caption(sidecar.text, captioner.caption(pil), action)
            if not text:
                continue
            try:
                sidecar.save(text)
            except CaptionError as exc:
                result.errors.append(str(exc))
                continue
            result.written.append(image_path.name)
            if on_written:
                on_written(image_path, text)
        result.interrupted = job.interrupted
    finally:
        if loaded:
            captioner.unload()
    return result
