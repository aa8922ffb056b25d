"""TI Lab's demo: a tiny text-to-image model trained by TI Lab on a drawn world, and an example set to train on.

Why: a newcomer without a Stable Diffusion checkpoint can still try the whole journey (Dataset → Captions →
Schedule → Train → previews → sweep → weakened copy) in minutes on a CPU, and TI Lab's tests and
``bench/learning.py`` get a model whose outputs can be checked (:mod:`lib_ti.demo.classifier`).
The model is *only* a demo: it draws coloured shapes at 64 px, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
MODEL_DIR = HERE / "model"
EXAMPLE_SET = HERE / "example_set"
#: the training size of the demo model; TI runs on it use this width and height
DEMO_SIZE = 64
#: what the demo model is, said wherever it is used (``python -m lib_ti train``'s note, the Train tab's note)
DEMO_MODEL = ("TI Lab's bundled demo model: a tiny model trained on coloured shapes at 64 px, for trying TI Lab out; "
              "it cannot draw anything else. Its example set (yellow squares) learns in about a minute with 2 "
              "vectors per token.")
#: said when ``python -m lib_ti train`` falls back to the demo model
DEMO_NOTE = (f"No checkpoint given: using {DEMO_MODEL} For real work point TI Lab at a Stable Diffusion 1.x/2.x "
             "checkpoint: `python -m lib_ti train --ckpt model.safetensors ...`, or pick one in the Train tab's "
             "checkpoint field.")


def demo_tab_note(models_folder: Path) -> str:
    """The Train tab's note while the demo model is the chosen checkpoint (Markdown)."""
    return (f"**Demo model.** {DEMO_MODEL} The example set is offered last in the folder lists. For real work put a "
            f"Stable Diffusion 1.x/2.x checkpoint in `{models_folder}` and pick it here (↻ re-reads the folder).")


def default_checkpoint() -> Optional[Path]:
    """The bundled demo model's ``.safetensors`` (its ``.yaml`` lies beside it, as the loader expects), or None.

    None only in a copy that lacks the model files; rebuild them with
    ``python -m lib_ti.demo.build --out lib_ti/demo/model``.
    """
    path = MODEL_DIR / "tilab-demo.safetensors"
    return path if path.is_file() and path.with_suffix(".yaml").is_file() else None


def is_demo_checkpoint(path: Path) -> bool:
    """True for the bundled demo model (callers then train at :data:`DEMO_SIZE`)."""
    demo = default_checkpoint()
    return demo is not None and Path(path).resolve() == demo.resolve()


def training_size(ckpt: Optional[Path]) -> Optional[int]:
    """:data:`DEMO_SIZE` when a run uses the demo model (``ckpt`` is it, or None: the fallback), else None.

    Why: the demo model only draws 64 px pictures; the usual 512 px default would train it on a size it never saw.
    The Train tab and ``python -m lib_ti train`` use this as their width/height default.
    """
    if ckpt is None:
        return DEMO_SIZE if default_checkpoint() is not None else None
    return DEMO_SIZE if is_demo_checkpoint(Path(ckpt)) else None
