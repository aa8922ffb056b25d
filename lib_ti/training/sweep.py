"""Strength sweep: saved checkpoints x emphasis weights on one seed, as one labelled grid.

Rows are checkpoints (training steps), columns are weights written into the prompt with
:func:`lib_ti.emphasis.rewrite.apply_weight` (the same text the prompt-box presets write), so a user
can pick the step and the weight that balance likeness and flexibility and paste that prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..model.sampling import DEFAULT_SAMPLER


@dataclass
class SweepCell:
    checkpoint: Path
    step: Optional[int]
    weight: float
    prompt: str
    image: Any


def checkpoint_step(path: Path) -> Optional[int]:
    """Step number from ``<name>-<step>.pt`` (None when the name carries none)."""
    m = re.search(r"-(\d+)$", Path(path).stem)
    return int(m.group(1)) if m else None


def list_checkpoints(folder: Path) -> list[Path]:
    """Embedding copies in a run's checkpoints folder (``*.pt`` except resume states), by step."""
    files = [p for p in Path(folder).iterdir() if p.suffix in (".pt", ".safetensors")  # SDXL: .safetensors
             and not p.name.endswith(".state.pt")]
    return sorted(files, key=lambda p: (checkpoint_step(p) is None, checkpoint_step(p) or 0, p.name))


def strength_sweep(
    backend: Any,
    checkpoints: Sequence[Path],
    weights: Sequence[float],
    *,
    prompt: str = "a photo of [name]",
    negative: str = "",
    name: Optional[str] = None,
    seed: int = 1,
    sampler: str = DEFAULT_SAMPLER,
    steps: int = 20,
    cfg_scale: float = 7.0,
    width: int = 512,
    height: int = 512,
    style: str = "explicit",
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] = lambda d, t: None,
) -> list[SweepCell]:
    """Sample every (checkpoint, weight) pair with the same seed; stops early (keeping done cells) when asked.

    ``[name]`` in ``prompt`` is the embedding's trigger; ``name`` defaults to the name trained into
    the files (the part before ``-<step>``), and all checkpoints are registered under it.
    """
    from ..emphasis.rewrite import apply_weight
    from ..model.sampling import sample_images
    from ..model.embeddings import load_embedding

    if not checkpoints:
        raise ValueError("Pick at least one checkpoint for the sweep.")
    if not weights:
        raise ValueError("Give at least one weight for the sweep.")
    if "[name]" not in prompt:
        raise ValueError("The sweep prompt must contain [name] (where the embedding goes).")
    cells: list[SweepCell] = []
    total = len(checkpoints) * len(weights)
    for path in checkpoints:
        emb = load_embedding(Path(path))
        trigger = name or re.sub(r"-\d+$", "", Path(path).stem)
        base = prompt.replace("[name]", trigger)
        prompts = [apply_weight(base, trigger, float(w), style=style).prompt for w in weights]
        for w, p in zip(weights, prompts):
            if should_stop():
                return cells
            img = sample_images(backend, [p], negative=negative, embeddings={trigger: emb.vec}, sampler=sampler,
                                steps=steps, cfg_scale=cfg_scale, seed=seed, width=width, height=height)[0]
            cells.append(SweepCell(Path(path), checkpoint_step(path), float(w), p, img))
            progress(len(cells), total)
    return cells


def grid_image(cells: Sequence[SweepCell], weights: Sequence[float]) -> Any:
    """One image: a header row of weights and a label column of steps around the samples."""
    from PIL import Image, ImageDraw

    if not cells:
        raise ValueError("Nothing to draw: the sweep produced no images.")
    w, h = cells[0].image.size
    rows: list[Path] = []
    for c in cells:
        if c.checkpoint not in rows:
            rows.append(c.checkpoint)
    label_w, label_h = max(64, w // 2), 20
    grid = Image.new("RGB", (label_w + w * len(weights), label_h + h * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for j, wt in enumerate(weights):
        draw.text((label_w + j * w + 4, 4), f"weight {wt:g}", fill="black")
    for i, ck in enumerate(rows):
        step = checkpoint_step(ck)
        draw.text((4, label_h + i * h + h // 2 - 6), f"step {step}" if step is not None else ck.stem, fill="black")
    for c in cells:
        i = rows.index(c.checkpoint)
        j = [float(x) for x in weights].index(c.weight)
        grid.paste(c.image, (label_w + j * w, label_h + i * h))
    return grid


def pick_checkpoints(checkpoints: Sequence[Path], wanted: Optional[Sequence[str]] = None) -> list[Path]:
    """``wanted`` (file names or step numbers) from ``checkpoints``, in step order; all of them when None/empty.

    An unknown name raises ``ValueError`` naming it and listing what exists: a sweep never silently drops a
    checkpoint the user asked for, nor picks a subset the user did not.
    """
    checkpoints = list(checkpoints)
    if not wanted:
        return checkpoints
    by_key: dict[str, Path] = {}
    for p in checkpoints:
        by_key[p.name] = p
        by_key[p.stem] = p
        if checkpoint_step(p) is not None:
            by_key[str(checkpoint_step(p))] = p
    missing = [w for w in wanted if str(w).strip() not in by_key]
    if missing:
        raise ValueError(f"No checkpoint {', '.join(map(repr, missing))} in this run; it has: "
                         + ", ".join(p.name for p in checkpoints))
    chosen = {by_key[str(w).strip()] for w in wanted}
    return [p for p in checkpoints if p in chosen]


def run_checkpoints(run_dir: Path) -> list[Path]:
    """The embedding copies of a run folder (``<run>/checkpoints/*.pt``, or the folder itself), by step."""
    run_dir = Path(run_dir)
    return list_checkpoints(run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir)


def run_size(run_dir: Path, fallback: tuple[int, int] = (512, 512)) -> tuple[int, int]:
    """The run's training size from its ``settings.json``, so sweep images match the previews."""
    import json

    try:
        conf = json.loads((Path(run_dir) / "settings.json").read_text(encoding="utf-8"))["config"]
        return int(conf["width"]), int(conf["height"])
    except (OSError, ValueError, KeyError, TypeError):
        return fallback


def parse_weights(text: str) -> list[float]:
    """``"0.5, 0.75; 1"`` → ``[0.5, 0.75, 1.0]``; ``ValueError`` naming the item that is not a number."""
    out = []
    for item in str(text).replace(";", ",").split(","):
        if not item.strip():
            continue
        try:
            out.append(float(item))
        except ValueError:
            raise ValueError(f"Weight '{item.strip()}' is not a number (weights are numbers separated by "
                             "commas, e.g. 0.5, 0.75, 1).") from None
    if not out:
        raise ValueError("Give at least one weight for the sweep.")
    return out


def sweep_to_file(backend: Any, run_dir: Path, checkpoints: Sequence[Path], weights: Sequence[float], *,
                  prompt: str, seed: int, steps: int, style: str = "explicit", sampler: str = DEFAULT_SAMPLER,
                  should_stop: Callable[[], bool] = lambda: False,
                  progress: Callable[[int, int], None] = lambda d, t: None, stamp: str = "") -> tuple[Any, Path, str]:
    """Run a sweep over ``checkpoints`` × ``weights`` and save the grid into the run folder.

    Returns (grid image, its path, a sentence naming the checkpoints used). Shared by the Train tab and
    ``python -m lib_ti sweep``.
    """
    import datetime as _dt

    from ..core.fsutil import atomic_save

    width, height = run_size(run_dir)
    cells = strength_sweep(backend, checkpoints, weights, prompt=prompt, seed=seed, steps=steps, width=width,
                           height=height, style=style, sampler=sampler, should_stop=should_stop, progress=progress)
    grid = grid_image(cells, weights)
    out = Path(run_dir) / f"sweep-seed{seed}-{stamp or f'{_dt.datetime.now():%Y%m%d-%H%M%S}'}.png"
    atomic_save(out, lambda tmp: grid.save(tmp, format="PNG"))
    done = len({c.checkpoint for c in cells})
    names = ", ".join(p.name for p in checkpoints)
    partial = "" if len(cells) == len(checkpoints) * len(weights) else " (stopped early)"
    return grid, out, (f"{len(cells)} images from {done} of {len(checkpoints)} checkpoints ({names}) × "
                       f"{len(weights)} weights{partial}; grid saved to {out}")
