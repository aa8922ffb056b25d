"""``python -m lib_ti train``: train an embedding on a checkpoint file, with a tqdm bar.

The options are derived from :class:`~lib_ti.training.config.TrainConfig`'s field specs (help, default and
choices written once, there). Runs go where the standalone app puts them (``<data folder>/training/<name>/
<timestamp>``, embeddings in ``<data folder>/embeddings``), so the Train tab lists them and the sweep finds them.
``--mode`` says what to do with an existing embedding, as the Train tab's "Start" choice does; the plan is
printed before anything starts. The first Ctrl+C stops after the current step and saves a resume checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any, Iterable

_TYPES = {"int": int, "float": float, "str": str, "Path": Path}


def add_config_arguments(parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> None:
    """One option per CLI-visible config field; required ones in their own group; each default shown once."""
    from ..training.config import TrainConfig, defaults, field_type, specs

    skip = set(skip)
    required = parser.add_argument_group("required")
    optional = parser.add_argument_group("training options")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    values = defaults()
    for name, spec in specs().items():
        if spec.cli is None or name in skip:
            continue
        flag = spec.cli or "--" + name.replace("_", "-")
        kind = field_type(fields[name])
        default = values.get(name)
        kw: dict[str, Any] = {"dest": name}
        shown = ("" if spec.required or default in (None, "") or default is False
                 else f" (default: {_show(default)})")
        if kind == "bool":
            kw["action"] = argparse.BooleanOptionalAction if default else "store_true"
            kw["default"] = bool(default)
        elif kind == "tuple":
            kw.update(action="append", default=None, metavar="TEXT")
        else:
            kw.update(type=_TYPES.get(kind, str), default=None if spec.required else default)
            if spec.choices is not None:
                kw["choices"] = list(spec.choices)
        kw["help"] = spec.help + shown
        (required if spec.required else optional).add_argument(flag, required=spec.required, **kw)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Checkpoint, device and data folder, shared with ``sweep``."""
    g = parser.add_argument_group("model and folders")
    g.add_argument("--ckpt", type=Path, default=None,
                   help="SD 1.x/2.x/SDXL checkpoint (.safetensors or .ckpt); default: the bundled demo model when "
                   "present")
    g.add_argument("--config", type=Path, default=None, help="model config: an ldm yaml (SD 1.x/2.x) or an SDXL config "
                   "folder (default: <ckpt>.yaml or <ckpt>/ beside it, else detected)")
    g.add_argument("--device", default=None, help="cuda, cpu, … (default: cuda when available)")
    g.add_argument("--data-root", type=Path, default=None,
                   help="TI Lab's data folder, shared with the app (default: $TILAB_DATA or ~/.local/share/ti-lab)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a Textual Inversion embedding on a checkpoint",
        description="Train a Textual Inversion embedding (only the vectors learn) on an SD1/SD2 checkpoint. "
                    "Runs and embeddings go to the same data folder as the app's Train tab.",
    )
    add_model_arguments(p)
    g = p.add_argument_group("start")
    g.add_argument("--mode", choices=("new", "continue", "resume", "auto"), default="new",
                   help="new: fresh vectors (refuses to replace an existing <name>.pt without --overwrite); "
                        "continue: the existing <name>.pt from its step in a new run; resume: the newest run of "
                        "<name> exactly (max steps may be raised); auto: resume, else continue, else new "
                        "(default: new)")
    g.add_argument("--overwrite", action="store_true", help="with --mode new: replace an existing <name>.pt")
    g.add_argument("--dry-run", action="store_true", help="print what would happen and every problem, then stop")
    add_config_arguments(p)
    p.set_defaults(func=handler)


def load_backend(ckpt: Any, config: Any, device: Any, precision: str = "auto") -> Any:
    """An :class:`SDBackend` for ``ckpt`` (or the bundled demo model); ``ValueError`` says what to give."""
    from ..core.torch_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    from ..model.loader import load_backend

    if ckpt is None:
        try:
            from ..demo import default_checkpoint  # type: ignore[attr-defined]

            ckpt = default_checkpoint()
        except ImportError:
            ckpt = None
        if ckpt is None:
            raise ValueError("No checkpoint: give --ckpt model.safetensors (an SD 1.x, 2.x or SDXL checkpoint).")
        from ..demo import DEMO_NOTE

        print(DEMO_NOTE, file=sys.stderr)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        from ..model.precision import decide_precision

        dtype = decide_precision(precision, device).weights
    except ImportError:
        dtype = torch.float16 if str(device).startswith("cuda") and precision in ("auto", "fp16") else torch.float32
    return load_backend(ckpt, config, device=device, dtype=dtype)


def plan_from_args(args: argparse.Namespace) -> tuple[Any, list[str], Any]:
    """(config or None, problems, plan) for parsed arguments, with the same rules as the Train tab."""
    from ..core.context import default_data_dir
    from ..demo import training_size
    from ..model.embeddings import validate_name
    from ..training.config import TrainConfig, defaults, specs
    from ..training.session import RunPlan, plan_run

    data_root = args.data_root or default_data_dir()
    values = {name: getattr(args, name) for name in specs() if hasattr(args, name)}
    values = {k: v for k, v in values.items() if v is not None}
    demo_size = training_size(getattr(args, "ckpt", None))
    if demo_size is not None:  # the demo model draws at 64 px: the usual default size becomes its size
        default = defaults()
        for key in ("width", "height"):
            if values.get(key, default[key]) == default[key]:
                values[key] = demo_size
    try:
        name = validate_name(args.name)
    except ValueError as exc:
        return None, [str(exc)], None
    values["name"] = name
    emb_dir = args.embeddings_dir or data_root / "embeddings"
    values["embeddings_dir"] = emb_dir
    if args.resume is not None:  # an explicit checkpoint: resume exactly in its run folder
        state = Path(args.resume)
        plan = RunPlan("resume", state.parent.parent, resume=state,
                       message=f"Resume exactly from {state.name} in {state.parent.parent}.")
    elif args.init_embedding is not None:
        plan = RunPlan("continue", args.run_dir or data_root / "training" / name / "continued",
                       init_embedding=Path(args.init_embedding),
                       message=f"Continue {Path(args.init_embedding).name} from its step.")
    else:
        compare = {**values, "run_dir": "", "data_dir": str(Path(values["data_dir"]))}
        plan = plan_run(name, data_root / "training", emb_dir, args.mode, compare, overwrite=args.overwrite)
        if args.run_dir is not None and plan.mode != "resume":
            plan.run_dir = Path(args.run_dir)
    values = plan.apply(values)
    problems = list(plan.problems)
    try:
        cfg = TrainConfig.from_mapping(values)
    except (TypeError, ValueError, KeyError) as exc:
        return None, problems + [str(exc)], plan
    problems += cfg.problems()
    if not Path(cfg.data_dir).is_dir():
        problems.append(f"Dataset folder '{cfg.data_dir}' does not exist.")
    return (None if problems else cfg), problems, plan


def handler(args) -> int:
    import sys

    from ..core.jobs import cli_job
    from ..training.loop import Trainer, TrainingError
    from ..training.session import carry_history

    cfg, problems, plan = plan_from_args(args)
    if plan is not None and plan.message:
        print(plan.message, file=sys.stderr)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    try:
        backend = load_backend(args.ckpt, args.config, args.device, cfg.precision)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if plan.history_from is not None:
        carry_history(plan.history_from, cfg.run_dir, plan.start_step)
    job = cli_job()

    def on_event(kind, data):
        if kind == "status":
            print(data, file=sys.stderr)
        elif kind == "checkpoint":
            job.sink.update(job.done, job.total, f"saved {Path(data).name}")

    trainer = Trainer(backend, cfg, job=job, on_event=on_event)
    try:
        result = trainer.run()
    except (ValueError, TrainingError, InterruptedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.message)
    return {"finished": 0, "interrupted": 130, "nan": 3, "oom": 4}.get(result.status, 1)
