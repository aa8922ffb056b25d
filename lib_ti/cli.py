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
    "sweep",
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
    for stream in (sys.stdout, sys.stderr):  # a lone surrogate from argv must print, not crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except (ValueError, OSError, RecursionError) as exc:  # bad input anywhere: a message, never a traceback
        print(f"error: {'input nested too deeply' if isinstance(exc, RecursionError) else exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
