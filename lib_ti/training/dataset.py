"""Training images: which files count, how they are read, and the order batches come in.

As in the host, every file in the folder (not recursive) that opens as an image is a
training image; it is EXIF-transposed, converted to RGB and resized to the training size
with BICUBIC (no crop), so the training resolution never depends on the files' size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .templates import read_caption

#: Host's dataset reader tries every file; we skip the obvious non-images without opening them.
_NOT_IMAGES = {".txt", ".json", ".csv", ".md", ".npz", ".pt", ".safetensors", ".yaml", ".yml"}


@dataclass
class ImageItem:
    path: Path
    caption: str


@dataclass
class DatasetScan:
    items: list[ImageItem]
    #: files that could not be opened as images, with the reason (shown to the user)
    skipped: list[tuple[Path, str]]


def scan_folder(folder: Path, word_regex: str = "", join: str = " ") -> DatasetScan:
    """Images in ``folder`` (sorted by name, so runs are reproducible) and their captions."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Dataset folder '{folder}' doesn't exist.")
    items: list[ImageItem] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() in _NOT_IMAGES or path.name.startswith("."):
            continue
        try:
            with Image.open(path) as im:
                im.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            skipped.append((path, str(exc) or type(exc).__name__))
            continue
        items.append(ImageItem(path, read_caption(path, word_regex, join)))
    if not items:
        raise ValueError(f"No images found in dataset folder '{folder}'.")
    return DatasetScan(items, skipped)


def load_pixels(path: Path, width: int, height: int):
    """(3, H, W) float32 tensor in [-1, 1], resized to the training size as the host does."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB").resize((width, height), Image.BICUBIC)
            arr = np.asarray(im).astype(np.uint8)
    except OSError as exc:
        raise ValueError(f"Cannot read image '{path}': {exc}") from None
    arr = (arr / 127.5 - 1.0).astype(np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def effective_sizes(n_images: int, batch_size: int, grad_accum: int) -> tuple[int, int]:
    """The host's clamps: ``batch = min(bs, N)``, ``accum = min(gs, N // batch)``."""
    batch = min(batch_size, n_images)
    return batch, max(1, min(grad_accum, n_images // batch))


class EpochSampler:
    """Batches of image indices in the host's order (shuffle, chunk, shuffle batches, drop the rest).

    With one size bucket (we resize everything) the host's ``GroupedBatchSampler`` shuffles
    the indices, cuts ``N // batch`` batches, shuffles the batches, and the loop stops each
    epoch at a multiple of the accumulation steps. The remaining queue is part of the
    checkpoint, so a resumed run draws the same batches.
    """

    def __init__(self, n: int, batch_size: int, grad_accum: int, rng: random.Random) -> None:
        self.n, self.batch_size, self.grad_accum, self.rng = n, batch_size, grad_accum, rng
        per_epoch = n // batch_size
        self.batches_per_epoch = per_epoch - per_epoch % grad_accum
        self.steps_per_epoch = n // batch_size // grad_accum
        self.queue: list[list[int]] = []
        self.epoch = -1

    def _refill(self) -> None:
        order = list(range(self.n))
        self.rng.shuffle(order)
        b = self.batch_size
        batches = [order[i * b:(i + 1) * b] for i in range(self.n // b)]
        self.rng.shuffle(batches)
        self.queue = batches[: self.batches_per_epoch]
        self.epoch += 1

    def next(self) -> list[int]:
        if not self.queue:
            self._refill()
        return self.queue.pop(0)

    def state_dict(self) -> dict:
        return {"queue": [list(b) for b in self.queue], "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.queue = [list(map(int, b)) for b in state["queue"]]
        self.epoch = int(state["epoch"])


def epoch_position(step: int, steps_per_epoch: int) -> tuple[int, int]:
    """The host CSV's ``epoch, epoch_step`` for a completed step count (``(step-1) // len``)."""
    return (step - 1) // steps_per_epoch, (step - 1) % steps_per_epoch


def first_item_prompt(lines: list[str], caption: str, name: str) -> Optional[str]:
    """Deterministic prompt for the fixed evaluation batch: first template line, caption as is."""
    return lines[0].replace("[filewords]", caption).replace("[name]", name) if lines else None
