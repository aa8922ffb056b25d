"""``python -m lib_ti``: the command line over the same core the tabs use.

Each sub-command lives in ``lib_ti/commands/<name>.py`` and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func``.
Command modules import heavy libraries (torch, gradio) inside their handlers,
so ``--help`` and the batch parsers start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from . import __version__

# Order shown in --help.
COMMANDS: tuple[str, ...] = (
    "serve",
    "schedule",
    "emphasis",
    "check",
    "train",
    "captions",
    "embedding",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lib_ti",
        description="TI Lab: dataset checks, caption review, learning-rate schedules, "
        "emphasis math and Textual Inversion training for Stable Diffusion.",
    )
    parser.add_argument("--version", action="version", version=f"TI Lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"lib_ti.commands.{name}").add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
