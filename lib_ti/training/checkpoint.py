"""Resume checkpoints: everything needed to continue a run exactly where it stopped.

A ``<name>-<step>.state.pt`` file holds the vectors, AdamW state, both schedule
positions (learning rate and clip value), the batch queue, the private generators and the
global torch/numpy/random states. It contains only tensors, numbers, strings, lists and
dicts, so it loads with ``torch.load(weights_only=True)``; it is written atomically.

A save that fails (a full disk) or is killed never replaces a good file; a killed one may leave
its temporary file, which :func:`load_state` (every resume) removes. Refusals never repeat
torch's advice to reload with ``weights_only=False``: that would run the file's code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..core.fsutil import atomic_save, remove_stale_tmp

FORMAT = "ti-lab-train-state/1"


def python_rng_state(rng: random.Random | None = None) -> dict:
    import torch

    version, internal, gauss = (rng.getstate() if rng is not None else random.getstate())
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss}


def set_python_rng_state(state: dict, rng: random.Random | None = None) -> None:
    value = (int(state["version"]), tuple(int(x) for x in state["internal"].tolist()), state["gauss"])
    (rng.setstate if rng is not None else random.setstate)(value)


def numpy_rng_state() -> dict:
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def set_numpy_rng_state(state: dict) -> None:
    import numpy as np

    keys = state["keys"].numpy().astype("uint32")
    np.random.set_state((state["kind"], keys, state["pos"], state["has_gauss"], state["cached"]))


def global_rng_states() -> dict:
    import torch

    out = {"torch": torch.get_rng_state(), "numpy": numpy_rng_state(), "python": python_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_global_rng_states(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    set_numpy_rng_state(state["numpy"])
    set_python_rng_state(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(path: Path, state: dict[str, Any]) -> Path:
    """Write a resume checkpoint atomically."""
    import torch

    payload = {"format": FORMAT, **state}
    return atomic_save(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: Path) -> dict[str, Any]:
    """Read a resume checkpoint with the safe loader; ``ValueError`` names the file when it is not one."""
    import pickle

    import torch

    from ..model.embeddings import refusal_detail

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"Checkpoint '{path}' does not exist.") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, TypeError, AttributeError,
            OSError) as exc:
        detail = refusal_detail(exc)
        why = (f"it holds Python objects or code besides tensor data ({detail}), which TI Lab never loads"
               if detail else f"it is damaged or not a checkpoint ({type(exc).__name__})")
        raise ValueError(f"'{path}' is not a TI Lab training checkpoint: {why}.") from None
    remove_stale_tmp(path.parent)  # what killed saves left behind
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not a TI Lab training checkpoint ({FORMAT}).")
    return state


def latest_state(run_dir: Path) -> Path | None:
    """The newest ``*.state.pt`` in a run folder's checkpoints (by step number), or None."""
    folder = Path(run_dir) / "checkpoints"
    best: tuple[int, Path] | None = None
    for p in folder.glob("*.state.pt"):
        try:
            step = int(p.name[: -len(".state.pt")].rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if best is None or step > best[0]:
            best = (step, p)
    return best[1] if best else None


def disk_full_message(stage: str, run_dir: Path, name: str) -> str:
    """What to tell the user when a save found the disk full: what stopped, what is kept, how to go on."""
    state = latest_state(run_dir)
    kept = ""
    if state is not None:
        step = state.name[: -len(".state.pt")].rsplit("-", 1)[1]
        copies = [p for p in state.parent.glob(f"{name}-{step}.*") if not p.name.endswith(".state.pt")]
        kept = (f" The last good embedding is {copies[0] if copies else state} (step {step}); "
                f"free some space and resume from {state}.")
    return (f"The disk is full: training stopped while {stage}. Nothing was half-written and no earlier file "
            f"was replaced.{kept or ' No checkpoint was saved yet; free some space and start again.'}")
