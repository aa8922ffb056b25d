"""What the tabs share: the dataset folder, the schedule, the prompt being edited, the embedding just trained.

A user teaching the model a face goes Dataset → Captions → Schedule → Train → a prompt. Each tab is
built on its own (``build(ctx)``), so the journey is wired here, once, after all tabs exist:
components are found by their ``elem_id`` (the ids are the tabs' public contract), which keeps each
tab unaware of the others and lets a tab's owner change its layout freely.

- **Folder**: a folder chosen in one tab fills the folder box of the others and is remembered in
  ``recent-folders.json`` in the data folder, newest first, for the folder dropdowns (Dataset, Captions, Train;
  a check, a caption load and a training start remember their folder; the Train tab re-reads the list when its
  box is entered). A text box passes it on blur/submit; a folder dropdown on change, which gradio 3 fires as it
  takes a typed value (on each key release; ``javascript/tilab_folders.js`` also on blur, for a pasted path). Only the
  other tabs' boxes are written, never the one being typed in.
- **Schedule → Train**: "Use in Train" copies the schedule string and max steps into the Train tab and
  opens it.
- **Prompt**: the Emphasis tab's prompt and the prompt box being edited (the standalone scratch box, or the
  host's txt2img prompt) are kept equal by ``javascript/tilab_emphasis.js``; an embedding goes into that
  prompt at a chosen weight with :func:`embedding_term` (the JS inserts it and, in the host, opens txt2img).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional

from ..core.fsutil import atomic_write_text

#: elem_ids of the dataset-folder inputs, in journey order (Dataset, Captions, Train).
FOLDER_IDS = ("tilab_dataset_folder", "tilab_captions_folder", "tilab_train_data")
#: Schedule tab → Train tab: (source elem_id, target elem_id).
SCHEDULE_TO_TRAIN = (("tilab_schedule_text", "tilab_train_learn_rate"), ("tilab_schedule_max", "tilab_train_steps"))
#: one-way copies (source elem_id, target elem_id): the Train tab's model, for the Emphasis tab's weight suggestion.
COPIES = (("tilab_train_model", "tilab_emphasis_ckpt"),)
USE_IN_TRAIN_ID = "tilab_schedule_use_in_train"
TRAIN_TAB = "train"
RECENT_FILE = "recent-folders.json"
RECENT_LIMIT = 12
#: the copy of the demo's bundled example set in the data folder, offered in the standalone app's folder lists
EXAMPLE_FOLDER = "example-set"


# --- recent folders (pure file logic; tested without gradio) -----------------------------------------


def recent_folders(data_dir: Path) -> list[str]:
    """Folders used before, newest first; a missing or damaged list is an empty one (it is only a convenience)."""
    try:
        items = json.loads((Path(data_dir) / RECENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(x) for x in items if isinstance(x, str)][:RECENT_LIMIT] if isinstance(items, list) else []


def remember_folder(data_dir: Path, folder: Any) -> list[str]:
    """Put ``folder`` first in the recent list (once, normalised) and return the new list."""
    text = os.path.normpath(str(folder).strip()) if str(folder or "").strip() else ""
    items = recent_folders(data_dir)
    if not text:
        return items
    items = [text, *[x for x in items if x != text]][:RECENT_LIMIT]
    try:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(data_dir) / RECENT_FILE, json.dumps(items, indent=1))
    except OSError:  # a read-only data folder costs the list, never the action that used the folder
        pass
    return items


def example_folder(data_dir: Path) -> Optional[str]:
    """A copy of the demo model's example set in the data folder (made once, atomically), or None if it cannot be.

    Why a copy: the Dataset check sets files aside and the Captions tab saves captions, and the set shipped inside
    TI Lab's own folder must stay as shipped (and a served app touches only its data folder).
    """
    import shutil
    import tempfile

    from ..demo import EXAMPLE_SET

    target = Path(data_dir) / EXAMPLE_FOLDER
    if not target.is_dir():
        tmp = None
        try:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{EXAMPLE_FOLDER}-", dir=data_dir))
            for f in sorted(EXAMPLE_SET.iterdir()):
                if f.is_file():
                    shutil.copyfile(f, tmp / f.name)
            os.replace(tmp, target)
        except OSError:  # a read-only or full data folder costs the offer; another page may have made it first
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return str(target) if target.is_dir() else None


def folder_choices(ctx: Any) -> list[str]:
    """The folder dropdowns' choices: the recent folders, newest first, then — in the standalone app, where the
    demo model is the default — the example set a newcomer can try the journey on."""
    from ..demo import default_checkpoint

    items = recent_folders(ctx.data_dir)
    if not ctx.in_host and default_checkpoint() is not None:
        example = example_folder(ctx.data_dir)
        if example is not None and example not in items:
            items.append(example)
    return items


# --- embeddings for the prompt --------------------------------------------------------------------------


def embedding_names(folder: Path) -> list[str]:
    """Embedding names (file stems) in ``folder``, the most recently written first: after training, the new one."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix in (".pt", ".safetensors", ".bin") and p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    seen: list[str] = []
    for p in files:
        if p.stem not in seen:
            seen.append(p.stem)
    return seen


def embedding_term(name: str, weight: Any) -> str:
    """``name`` written at ``weight`` the host's way: bare at 1, else ``(name:w)``."""
    from ..emphasis.rewrite import inverse

    name = str(name or "").strip()
    if not name:
        raise ValueError("Choose an embedding first.")
    return inverse(name, float(weight)).explicit


def insert_term(prompt: str, term: str) -> str:
    """``prompt`` with ``term`` added at its end, comma-separated (what the JS does in the browser)."""
    prompt = (prompt or "").rstrip()
    if not prompt:
        return term
    return f"{prompt}{'' if prompt.endswith(',') else ','} {term}"


# --- wiring (gradio) ----------------------------------------------------------------------------------


def find(blocks: Any, elem_id: str) -> Optional[Any]:
    """The component with ``elem_id`` in ``blocks`` (None when that tab does not have it)."""
    for block in getattr(blocks, "blocks", {}).values():
        if getattr(block, "elem_id", None) == elem_id:
            return block
    return None


def _copy_js(n_targets: int) -> str:
    """JS run in the browser: copy a non-empty value to every target, keep the targets' values otherwise.

    Gradio 3 calls a JS-only handler with the inputs' values followed by the outputs' current values."""
    return ("(v, ...old) => { const t = (v === null || v === undefined) ? '' : String(v).trim(); "
            f"return t ? Array({n_targets}).fill(v) : old; }}")


def wire_folders(blocks: Any, ids: Iterable[str] = FOLDER_IDS) -> int:
    """Make a folder chosen in one tab follow the user to the others; returns how many links were made.

    Runs in the browser only (no server round trip): text boxes pass their value on blur/submit,
    dropdowns on change (fired when a choice is picked or a typed value taken; see the module docstring).
    """
    from .compat import js_kwarg

    comps = [c for c in (find(blocks, i) for i in ids) if c is not None]
    links = 0
    for comp in comps:
        others = [c for c in comps if c is not comp]
        if not others:
            continue
        triggers = [comp.change] if type(comp).__name__ == "Dropdown" else [comp.blur, comp.submit]
        for trigger in triggers:
            trigger(None, [comp], others, queue=False, **js_kwarg(_copy_js(len(others))))
        links += 1
    return links


def wire_schedule_to_train(blocks: Any, tabs: Any) -> bool:
    """"Use in Train": the schedule string and max steps go to the Train tab, which opens.

    The learning rate goes through the Train tab's own hand-over (``train_tab.apply_workspace``), so that tab
    decides how it takes a schedule; max steps is a plain number box.
    """
    from . import train_tab
    from .compat import update

    button = find(blocks, USE_IN_TRAIN_ID)
    pairs = [(find(blocks, a), find(blocks, b)) for a, b in SCHEDULE_TO_TRAIN]
    if button is None or any(a is None or b is None for a, b in pairs):
        return False

    def use_in_train(schedule: str, steps: Any) -> list:
        _folder, rate = train_tab.apply_workspace(None, schedule)
        return [rate, steps, update(selected=TRAIN_TAB)]

    button.click(use_in_train, [a for a, _ in pairs], [b for _, b in pairs] + [tabs], queue=False)
    return True


def wire_copies(blocks: Any, pairs: Iterable[tuple[str, str]] = COPIES) -> int:
    """One-way copies in the browser (source → hidden target); returns how many were made."""
    from .compat import js_kwarg

    made = 0
    for src_id, dst_id in pairs:
        src, dst = find(blocks, src_id), find(blocks, dst_id)
        if src is not None and dst is not None:
            src.change(None, [src], [dst], queue=False, **js_kwarg("(v) => v"))
            made += 1
    return made


def wire(blocks: Any, tabs: Any) -> dict[str, Any]:
    """All cross-tab links; what was linked, so a missing tab is visible in tests rather than silent."""
    return {"folders": wire_folders(blocks), "schedule_to_train": wire_schedule_to_train(blocks, tabs),
            "copies": wire_copies(blocks)}
