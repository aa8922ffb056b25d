"""Textual Inversion embeddings: create, save, load and scale them exactly as the host does, safely.

Why each rule:
- Saved ``.pt`` files use the host's own layout (``string_to_token``/``string_to_param``/``name``/``step``/
  ``sd_checkpoint``/``sd_checkpoint_name``) and must pass the host's restricted loader (``modules/safe.py``), which
  rejects any zip entry but ``<dir>/data.pkl``, ``<dir>/data/<n>``, ``<dir>/version``, ``<dir>/byteorder`` and
  ``<dir>/.data/serialization_id``. Newer torch writes ``.format_version`` and ``.storage_alignment`` too, so every
  ``.pt`` is re-zipped without them (and read back to prove torch still loads it) whatever torch writes it.
- Files are never unpickled with code: ``torch.load(weights_only=True)``, ``safetensors``, or JSON for PNG
  embeddings. A pickle that needs anything else is refused with a message naming the file.
- Every write is atomic (:func:`lib_ti.core.fsutil.atomic_save`): a crash never leaves half an embedding.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from lib_ti.core.fsutil import atomic_save

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .backend import SDBackend

PathLike = Union[str, Path]

#: what the host's slider allows for "Number of vectors per token"
MAX_VECTORS = 75
#: extensions the host's embedding database reads (images carry the data in a text chunk or in their pixels)
LOADABLE_SUFFIXES = (".pt", ".bin", ".safetensors", ".png", ".webp")
#: zip entries the host's ``modules/safe.py`` accepts in a ``.pt`` (our own pattern, same rule)
HOST_ALLOWED_ZIP_ENTRY = re.compile(r"^[^/]+/(data\.pkl|data/\d+|version|byteorder|\.data/serialization_id)$")


@dataclass
class Embedding:
    """An embedding as the host stores it: ``vec`` (N, D) float32 plus the host's bookkeeping fields."""

    name: str
    vec: "torch.Tensor"
    step: Optional[int] = None
    sd_checkpoint: Optional[str] = None
    sd_checkpoint_name: Optional[str] = None
    #: SDXL: widths of the ``clip_l`` and ``clip_g`` column blocks of ``vec`` (see :func:`save_sdxl_embedding`);
    #: None for SD1/SD2
    split: Optional[tuple[int, int]] = None

    @property
    def vectors(self) -> int:
        return int(self.vec.shape[0])

    @property
    def width(self) -> int:
        return int(self.vec.shape[-1])


# ---------------------------------------------------------------------------- names and creation
def validate_name(name: str) -> str:
    """The host's file-name rule: keep letters, digits and ``._- ``; refuse a name that becomes empty."""
    cleaned = "".join(ch for ch in str(name) if ch.isalnum() or ch in "._- ")
    if not cleaned.strip(" ."):
        raise ValueError(f"embedding name {name!r} has no usable characters (letters, digits, '.', '_', '-', ' ')")
    return cleaned


def budget_warning(num_vectors: int) -> Optional[str]:
    """A warning when the vectors take much of the 75 tokens a prompt chunk holds, else None.

    Every use of the embedding costs ``num_vectors`` tokens of the chunk, and an embedding never straddles two
    chunks, so large embeddings crowd out the rest of the prompt.
    """
    n = int(num_vectors)
    if not 1 <= n <= MAX_VECTORS:
        raise ValueError(f"vectors per token must be 1 to {MAX_VECTORS}, not {num_vectors}")
    if n < 10:
        return None
    left = MAX_VECTORS - n
    share = round(100 * n / MAX_VECTORS)
    msg = (f"{n} vectors use {n} of the 75 tokens of a prompt chunk ({share}%), leaving {left} for the rest of "
           f"the prompt; each use of the embedding costs {n} tokens.")
    if n > MAX_VECTORS // 2:
        msg += " Prompts that mention it will spill into extra chunks; consider fewer vectors."
    return msg


def create_embedding(backend: "SDBackend", name: str, num_vectors: int, init_text: str = "*") -> Embedding:
    """A new embedding as the host's ``create_embedding`` makes it (not saved; see :func:`save_embedding`).

    ``init_text`` "" gives zero vectors; otherwise its token-table rows are spread over the vectors
    (``vec[i] = rows[i * T // N]``); SD1 reads at most N tokens, SD2 all of them. Step is 0.
    """
    clean = validate_name(name)
    if not 1 <= int(num_vectors) <= MAX_VECTORS:
        raise ValueError(f"vectors per token must be 1 to {MAX_VECTORS}, not {num_vectors}")
    vec = backend.encode_init_text(init_text, int(num_vectors))
    return Embedding(clean, vec, step=0, split=getattr(backend, "embedding_split", None))


def scale_embedding(emb: Embedding, k: float) -> Embedding:
    """A copy with vectors multiplied by ``k`` ("save a weakened copy at ×k"; k < 1 tames a strong embedding)."""
    k = float(k)
    if not k > 0:
        raise ValueError(f"scale must be a positive number, not {k}")
    return replace(emb, vec=emb.vec.detach().float() * k)


# ---------------------------------------------------------------------------- saving
def weights_only_load(src: Any) -> Any:
    """``torch.load(src, weights_only=True)`` on CPU, always torch's own loader.

    Inside the host ``torch.load`` is replaced by ``modules/safe.py``'s loader, which reads a file object to its
    end before loading it (so a BytesIO fails) and rejects zips written by newer torch even when they hold only
    tensors; ``weights_only=True`` is TI Lab's own guarantee that no code runs.
    """
    import torch

    return torch.serialization.load(src, map_location="cpu", weights_only=True)


def host_safe_pt_bytes(obj: Any) -> bytes:
    """``torch.save(obj)`` as bytes the host's ``modules/safe.py`` accepts (see module docstring)."""
    import torch

    raw = io.BytesIO()
    torch.save(obj, raw)
    raw.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if HOST_ALLOWED_ZIP_ENTRY.match(info.filename):
                dst.writestr(info, src.read(info.filename))
    data = out.getvalue()
    weights_only_load(io.BytesIO(data))  # proves torch still reads the stripped zip
    return data


def host_pt_dict(emb: Embedding) -> dict:
    """The dict the host's ``Embedding.save`` writes (vectors as a fresh float32 CPU tensor, no shared storage)."""
    import torch

    return {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": emb.vec.detach().to("cpu", dtype=torch.float32).contiguous().clone()},
        "name": emb.name,
        "step": emb.step,
        "sd_checkpoint": emb.sd_checkpoint,
        "sd_checkpoint_name": emb.sd_checkpoint_name,
    }


def save_embedding(emb: Embedding, path: PathLike) -> Path:
    """Write ``emb`` atomically as ``.pt`` (host layout, passes the host's safe loader) or ``.safetensors``
    (``emb_params`` plus string metadata name/step/sd_checkpoint/sd_checkpoint_name)."""
    import torch

    path = Path(path)
    if emb.split is not None:
        return save_sdxl_embedding(emb, path)
    if emb.vec.dim() != 2:
        raise ValueError(f"{path.name}: embedding vectors must be (N, D), got shape {tuple(emb.vec.shape)}")
    if not torch.isfinite(emb.vec).all():
        raise ValueError(f"{path.name}: refusing to save an embedding with NaN or infinite values")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        data = host_safe_pt_bytes(host_pt_dict(emb))
        return atomic_save(path, lambda tmp: tmp.write_bytes(data))
    if suffix == ".safetensors":
        from safetensors.torch import save

        meta = {k: str(v) for k, v in (("name", emb.name), ("step", emb.step), ("sd_checkpoint", emb.sd_checkpoint),
                                       ("sd_checkpoint_name", emb.sd_checkpoint_name)) if v is not None}
        blob = save({"emb_params": emb.vec.detach().to("cpu", torch.float32).contiguous()}, metadata=meta)
        return atomic_save(path, lambda tmp: tmp.write_bytes(blob))
    raise ValueError(f"{path.name}: save embeddings as .pt (host format) or .safetensors")


# ---------------------------------------------------------------------------- loading
def refusal_detail(exc: BaseException) -> str:
    """What a refused pickle asked for (``GLOBAL os.system``), from torch's message, without torch's advice.

    Torch's message suggests reloading with ``weights_only=False``, which would run the file's code: that
    advice is never passed on to a user.
    """
    for line in str(exc).splitlines():
        found = re.search(r"GLOBAL [\w.]+|Unsupported global: [\w. ]+|Unsupported operand \d+", line)
        if found:
            return found.group(0).strip()
    return ""


#: how a torch file starts: a zip archive (torch >= 1.6) or a legacy pickle (protocol 2+ opcode)
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def _torch_load_weights_only(path: Path) -> Any:
    import pickle

    import torch

    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise ValueError(f"{path}: the file is empty")
    if not head.startswith(_TORCH_MAGIC):
        raise ValueError(f"{path}: not a PyTorch file (it starts with {head[:12].decode('ascii', 'replace')!r}); "
                         "an embedding .pt/.bin is a zip written by torch.save")
    allowed = [torch.nn.modules.container.ParameterDict]  # old TI files; the host's safe loader allows it too
    try:
        with torch.serialization.safe_globals(allowed):
            return weights_only_load(path)
    except pickle.UnpicklingError as exc:
        detail = refusal_detail(exc)
        raise ValueError(f"{path}: refused to load: the file holds Python objects or code besides tensor data, "
                         f"which TI Lab never unpickles{f' ({detail})' if detail else ''}") from None
    except (RuntimeError, AttributeError, TypeError, KeyError, EOFError, ValueError, OSError,
            zipfile.BadZipFile) as exc:
        detail = refusal_detail(exc)
        if detail:
            raise ValueError(f"{path}: refused to load: the file holds Python objects or code besides tensor "
                             f"data, which TI Lab never unpickles ({detail})") from None
        raise ValueError(f"{path}: damaged or not a PyTorch embedding file ({type(exc).__name__})") from None


def _image_embedding_data(path: Path) -> Optional[dict]:
    """Embedding data of an image, as the host reads it: the ``sd-ti-embedding`` text chunk (base64 JSON), else
    data hidden in the pixels (:func:`_pixel_embedding_data`); None for a plain image (a preview)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            blob = (getattr(im, "text", None) or {}).get("sd-ti-embedding")
            if blob is None:
                return _pixel_embedding_data(im)
    except OSError as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None
    try:
        return json.loads(base64.b64decode(blob), object_hook=_tensor_hook)
    except (ValueError, TypeError, RecursionError) as exc:
        why = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ValueError(f"{path}: its sd-ti-embedding text is not valid embedding data ({why})") from None


def _lcg_nibbles(count: int) -> "Any":
    """Key stream of the host's pixel format: an LCG (a=1664525, c=1013904223, m=2**32, seed 0), each value
    ``% 255``, low 4 bits."""
    import numpy as np

    out = np.empty(count, dtype=np.uint8)
    seed = 0
    for i in range(count):
        seed = (1664525 * seed + 1013904223) % 4294967296
        out[i] = (seed % 255) & 0x0F
    return out


def _pixel_embedding_data(im: Any) -> Optional[dict]:
    """The host's method 2: zlib-compressed JSON hidden in the low 4 bits of two side blocks of the image.

    After cropping the black border, the columns whose low nibbles are all zero separate a left block (low nibbles
    of the data) from a right block (high nibbles); each block is XORed with the LCG key stream. None when the
    image carries no such blocks.
    """
    import zlib

    import numpy as np

    arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    lit = (arr > 0).all(2)
    cols, rows = lit.any(0), lit.any(1)
    if not cols.any():
        return None
    c0, c1 = cols.argmax(), len(cols) - cols[::-1].argmax()
    r0, r1 = rows.argmax(), len(rows) - rows[::-1].argmax()
    nib = arr[r0:r1, c0:c1] & 0x0F
    black = np.where(nib.sum(axis=(0, 2)) == 0)[0]
    if black.shape[0] < 2:
        return None
    low, high = nib[:, :black.min()], nib[:, black.max() + 1:]
    if low.shape != high.shape or low.size == 0:
        return None
    low = low ^ _lcg_nibbles(low.size).reshape(low.shape)
    high = high ^ _lcg_nibbles(high.size).reshape(high.shape)
    try:
        raw = zlib.decompress(((high << 4) | low).astype(np.uint8).tobytes())
        return json.loads(raw, object_hook=_tensor_hook)
    except (zlib.error, ValueError, TypeError, RecursionError):
        return None


def _tensor_hook(d: dict) -> Any:
    """JSON object hook of the host's image formats: ``{"TORCHTENSOR": nested lists}`` is a tensor."""
    import torch

    if "TORCHTENSOR" in d:
        return torch.tensor(d["TORCHTENSOR"], dtype=torch.float32)
    return d


def embedding_from_data(data: Any, name: str, filename: str = "embedding file") -> Embedding:
    """Interpret loaded data like the host's ``create_embedding_from_data`` (formats A and C; SDXL refused)."""
    import torch

    if not isinstance(data, dict):
        raise ValueError(f"{filename}: not an embedding (the file holds a {type(data).__name__}, not a dict)")
    if "string_to_param" in data:
        params = data["string_to_param"]
        params = getattr(params, "_parameters", params)
        if len(params) != 1:
            raise ValueError(f"{filename}: embedding file has multiple terms in it ({len(params)})")
        vec = next(iter(params.values()))
    elif "clip_g" in data and "clip_l" in data:
        return sdxl_embedding_from_data(data, name, filename)
    elif data and isinstance(next(iter(data.values())), torch.Tensor):
        if len(data) != 1:
            raise ValueError(f"{filename}: embedding file has multiple terms in it ({', '.join(map(str, data))})")
        vec = next(iter(data.values()))
        if vec.dim() == 1:
            vec = vec.unsqueeze(0)
    else:
        raise ValueError(f"{filename}: couldn't identify it as a textual inversion embedding or diffusers concept")
    if not isinstance(vec, torch.Tensor) or vec.dim() != 2:
        raise ValueError(f"{filename}: embedding vectors must be a (N, D) tensor")
    step = data.get("step")
    try:
        step = int(step) if step is not None else None
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{filename}: its step {str(step)[:40]!r} is not a whole number") from None
    text = {k: (None if data.get(k) is None else str(data.get(k))) for k in ("sd_checkpoint", "sd_checkpoint_name")}
    return Embedding(name, vec.detach().to("cpu", torch.float32), step=step, **text)


def load_embedding(path: PathLike) -> Embedding:
    """Read an embedding in any format the host reads: ``.pt``/``.bin`` (original TI dict, old ``ParameterDict``
    files, single-tensor dicts), ``.safetensors`` (``emb_params`` or any single tensor) and PNG/WebP images with an
    ``sd-ti-embedding`` text chunk or data hidden in their pixels.

    The name is the file stem, as in the host (PNG: the ``name`` stored in it). For ``.safetensors`` written by
    TI Lab the step and checkpoint are read back from the metadata (the host ignores them).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such embedding file")
    suffix = path.suffix.lower()
    name = path.stem
    if suffix in (".pt", ".bin"):
        data = _torch_load_weights_only(path)
    elif suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            data = load_file(str(path), device="cpu")
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
        except Exception as exc:  # safetensors raises its own error types for bad headers
            raise ValueError(f"{path}: not a readable .safetensors file ({exc})") from None
        emb = embedding_from_data(data, name, str(path))
        if emb.step is None and str(meta.get("step", "")).isdigit():
            emb.step = int(meta["step"])
        emb.sd_checkpoint = emb.sd_checkpoint or meta.get("sd_checkpoint")
        emb.sd_checkpoint_name = emb.sd_checkpoint_name or meta.get("sd_checkpoint_name")
        return emb
    elif suffix in (".png", ".webp"):
        data = _image_embedding_data(path)
        if data is None:
            raise ValueError(f"{path}: this image carries no embedding (no sd-ti-embedding text, no data in pixels)")
        name = str(data.get("name", name))
    else:
        raise ValueError(f"{path}: unknown embedding file type; TI Lab reads {', '.join(LOADABLE_SUFFIXES)}")
    return embedding_from_data(data, name, str(path))


# ---------------------------------------------------------------------------- SDXL (clip_l + clip_g)
SDXL_KEYS = ("clip_l", "clip_g")


def sdxl_tensors(emb: Embedding) -> dict:
    """``{'clip_l': (N, Dl), 'clip_g': (N, Dg)}`` float32 CPU tensors from TI Lab's (N, Dl + Dg) SDXL tensor."""
    import torch

    if emb.split is None or emb.vec.dim() != 2 or sum(emb.split) != emb.vec.shape[1]:
        raise ValueError(f"{emb.name}: not an SDXL embedding of widths {emb.split} (vectors {tuple(emb.vec.shape)})")
    vec = emb.vec.detach().to("cpu", torch.float32)
    wl = int(emb.split[0])
    return {"clip_l": vec[:, :wl].contiguous().clone(), "clip_g": vec[:, wl:].contiguous().clone()}


def save_sdxl_embedding(emb: Embedding, path: PathLike) -> Path:
    """Write the host's SDXL format atomically: a ``.safetensors`` holding exactly ``clip_l`` and ``clip_g`` (the
    host's loader reads every tensor of such a file as a vector set), with name/step/checkpoint as string metadata
    (safetensors' header; the host ignores it, TI Lab reads the step back)."""
    import torch
    from safetensors.torch import save

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"{path.name}: SDXL embeddings are saved as .safetensors with clip_l and clip_g (the "
                         "host's SDXL format)")
    tensors = sdxl_tensors(emb)
    if not all(bool(torch.isfinite(t).all()) for t in tensors.values()):
        raise ValueError(f"{path.name}: refusing to save an embedding with NaN or infinite values")
    meta = {k: str(v) for k, v in (("name", emb.name), ("step", emb.step), ("sd_checkpoint", emb.sd_checkpoint),
                                   ("sd_checkpoint_name", emb.sd_checkpoint_name)) if v is not None}
    blob = save(tensors, metadata=meta)
    return atomic_save(path, lambda tmp: tmp.write_bytes(blob))


def sdxl_embedding_from_data(data: dict, name: str, filename: str = "embedding file") -> Embedding:
    """An SDXL embedding (``clip_l`` (N, Dl) + ``clip_g`` (N, Dg)) as one (N, Dl + Dg) tensor, CLIP-L first."""
    import torch

    l_vec, g_vec = data["clip_l"], data["clip_g"]
    if not (isinstance(l_vec, torch.Tensor) and isinstance(g_vec, torch.Tensor)) or l_vec.dim() != 2 \
            or g_vec.dim() != 2 or l_vec.shape[0] != g_vec.shape[0]:
        shapes = [tuple(getattr(v, "shape", ())) for v in (l_vec, g_vec)]
        raise ValueError(f"{filename}: clip_l and clip_g must be (N, D) tensors with the same N, got {shapes[0]} "
                         f"and {shapes[1]}")
    extra = [k for k in data if k not in SDXL_KEYS and isinstance(data[k], torch.Tensor)]
    if extra:
        raise ValueError(f"{filename}: an SDXL embedding holds only clip_l and clip_g, this one also {', '.join(extra)}")
    vec = torch.cat([l_vec.detach().float(), g_vec.detach().float()], dim=1).cpu()
    step = data.get("step")
    return Embedding(name, vec, step=int(step) if isinstance(step, int) else None,
                     split=(int(l_vec.shape[1]), int(g_vec.shape[1])))


def describe_shape(emb: Embedding) -> str:
    """``clip_l (N, 768) + clip_g (N, 1280)`` for SDXL, ``(N, D)`` otherwise."""
    if emb.split is not None:
        n = emb.vectors
        return f"clip_l ({n}, {emb.split[0]}) + clip_g ({n}, {emb.split[1]})"
    return str(tuple(emb.vec.shape))


def check_embedding_fits(emb: Embedding, backend: Any, source: Any) -> None:
    """``ValueError`` naming ``source`` (the file) and both shapes when ``emb`` is for another model family
    (an SD1/SD2 embedding offered to SDXL, an SDXL one to SD1/SD2, or another width)."""
    model_split = getattr(backend, "embedding_split", None)
    fits = (emb.split is None and model_split is None and emb.width == backend.embedding_width) or (
        emb.split is not None and model_split is not None and tuple(emb.split) == tuple(model_split))
    if fits:
        return
    family = getattr(backend, "family", "loaded")
    if model_split is not None:
        wants = f"clip_l (N, {model_split[0]}) + clip_g (N, {model_split[1]})"
    else:
        wants = f"(N, {backend.embedding_width})"
    kind = "an SDXL embedding" if emb.split is not None else "an SD 1.x/2.x embedding"
    raise ValueError(f"{source}: {kind} of shape {describe_shape(emb)} does not fit the loaded {family} model, which "
                     f"needs {wants}; use an embedding trained for this model family")
