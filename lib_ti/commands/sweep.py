"""``python -m lib_ti sweep``: the Train tab's strength sweep from the command line.

Saved checkpoints of a run × emphasis weights on one seed, as one labelled grid saved into the run folder.
Every checkpoint of the run is used unless ``--checkpoint`` names some; the command says which it used.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    from .train import add_model_arguments

    p = subparsers.add_parser(
        "sweep", help="strength sweep: a run's checkpoints × emphasis weights as one grid",
        description="Sample every saved checkpoint of a training run at several emphasis weights with one seed "
                    "and save the labelled grid into the run folder.",
    )
    req = p.add_argument_group("run (one of these is required)")
    req.add_argument("--run", type=Path, default=None,
                     help="run folder (<data folder>/training/<name>/<timestamp>); or give --name for its newest run")
    req.add_argument("--name", default=None, help="embedding name: use its newest run")
    add_model_arguments(p)
    g = p.add_argument_group("sweep options")
    g.add_argument("--checkpoint", action="append", default=None, metavar="STEP_OR_FILE",
                   help="a checkpoint by step or file name, may repeat (default: all checkpoints of the run)")
    g.add_argument("--weights", default=None, help="comma-separated weights (default: the preset weights)")
    g.add_argument("--prompt", default="a photo of [name]", help="prompt; [name] is the embedding "
                   "(default: 'a photo of [name]')")
    g.add_argument("--seed", type=int, default=1, help="sampling seed (default: 1)")
    g.add_argument("--steps", type=int, default=20, help="sampling steps (default: 20)")
    g.add_argument("--style", choices=("explicit", "brackets"), default="explicit",
                   help="how weights are written into the prompt (default: explicit)")
    p.set_defaults(func=handler)


def resolve_run(args: argparse.Namespace) -> Path:
    from ..core.context import default_data_dir
    from ..training.session import runs_of

    if args.run is not None:
        if not Path(args.run).is_dir():
            raise ValueError(f"Run folder '{args.run}' does not exist.")
        return Path(args.run)
    if not args.name:
        raise ValueError("Give --run RUN_FOLDER or --name EMBEDDING (its newest run is used).")
    runs = runs_of((args.data_root or default_data_dir()) / "training", args.name)
    if not runs:
        raise ValueError(f"No runs of '{args.name}' under {(args.data_root or default_data_dir()) / 'training'}.")
    return runs[0]


def handler(args) -> int:
    import sys

    from ..core.jobs import cli_job
    from ..core.settings import Settings
    from ..training.sweep import parse_weights, pick_checkpoints, run_checkpoints, sweep_to_file
    from .train import load_backend

    try:
        run = resolve_run(args)
        every = run_checkpoints(run)
        if not every:
            raise ValueError(f"No saved checkpoints (*.pt) in '{run}'.")
        checkpoints = pick_checkpoints(every, args.checkpoint)
        weights = parse_weights(args.weights) if args.weights else list(Settings().preset_weights())
        print(f"Sweeping {len(checkpoints)} of {len(every)} checkpoints ({', '.join(p.name for p in checkpoints)}) "
              f"× weights {', '.join(f'{w:g}' for w in weights)}", file=sys.stderr)
        backend = load_backend(args.ckpt, args.config, args.device)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    job = cli_job()
    job.begin(len(checkpoints) * len(weights), "Sweep")
    try:
        _, _, message = sweep_to_file(backend, run, checkpoints, weights, prompt=args.prompt, seed=args.seed,
                                      steps=args.steps, style=args.style, should_stop=lambda: job.interrupted,
                                      progress=lambda d, t: job.advance(1))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        job.end()
    print(message)
    return 0
