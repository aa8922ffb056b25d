"""``python -m lib_ti schedule``: trace, lint and build learning-rate schedule strings."""

from __future__ import annotations

import argparse
import sys

#: Largest step count a trace accepts (far beyond any run; keeps numbers exact in JSON doubles).
MAX_STEPS = 2**53

def _trace_one(value: object) -> dict:
    from ..schedule.parse import ScheduleError, trace
    from ._io import json_int

    if not isinstance(value, dict):
        raise ValueError("each line must be a JSON object with schedule, max_steps, start_step")
    schedule = value.get("schedule")
    if not isinstance(schedule, str):
        raise ValueError("'schedule' must be a string")
    max_steps = json_int(value.get("max_steps"), "max_steps", 100000, 1, MAX_STEPS)
    start_step = json_int(value.get("start_step"), "start_step", 0, 0, MAX_STEPS)
    try:
        return trace(schedule, max_steps, start_step).as_dict()
    except ScheduleError as exc:
        return {"error": str(exc), "position": exc.position}


def _cmd_trace(args: argparse.Namespace) -> int:
    from ._io import run_batch, run_one

    if args.batch:
        return run_batch(_trace_one)
    if args.schedule is None:
        print("schedule trace: give a schedule string, or --batch to read JSON Lines", file=sys.stderr)
        return 2
    value = {"schedule": args.schedule, "max_steps": args.max_steps, "start_step": args.start_step}
    return run_one(_trace_one, value, indent=None if args.json else 2)


def _cmd_lint(args: argparse.Namespace) -> int:
    from ..schedule.parse import ScheduleError, lint

    try:
        warnings = lint(args.schedule, args.max_steps, args.start_step)
    except ScheduleError as exc:
        print(f"error: {exc}")
        print(f"  {args.schedule}\n  {' ' * exc.position}^")
        return 1
    for w in warnings:
        print(f"warning [{w.code}]: {w.message}")
    if not warnings:
        print("ok: no warnings")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from ..schedule.presets import PRESET_BY_KEY
    from ._io import finite_float

    preset = PRESET_BY_KEY[args.preset]
    values = {}
    for item in args.param or []:
        key, _, raw = item.partition("=")
        param = next((p for p in preset.params if p.name == key), None)
        if param is None:
            names = ", ".join(p.name for p in preset.params)
            print(f"error: preset '{preset.key}' has no parameter '{key}' (it has: {names})", file=sys.stderr)
            return 2
        if param.kind == "text":
            values[key] = raw
            continue
        try:
            values[key] = finite_float(raw)
        except argparse.ArgumentTypeError as exc:
            print(f"error: parameter '{key}': {exc}", file=sys.stderr)
            return 2
    try:
        print(preset.string(**values))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _presets_epilog(presets) -> str:
    """Each preset with its parameters and defaults, from the presets themselves (written once there)."""
    lines = ["presets and their parameters (-p NAME=VALUE):"]
    for preset in presets:
        lines.append(f"  {preset.key}: {preset.title}")
        for param in preset.params:
            lines.append(f"      {param.name}={param.default}  {param.label}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..schedule.presets import PRESETS

    p = sub.add_parser("schedule", help="learning-rate schedule strings (host syntax): trace, lint, build")
    ssub = p.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)

    t = ssub.add_parser("trace", help="which rate every update gets; --batch reads JSON Lines from stdin")
    t.add_argument("schedule", nargs="?", help='e.g. "5e-2:100,5e-3:500,5e-6"')
    t.add_argument("--max-steps", type=int, default=100000)
    t.add_argument("--start-step", type=int, default=0, help="resume step (the embedding's step)")
    t.add_argument("--batch", action="store_true",
                   help='read lines of {"schedule", "max_steps", "start_step"}; write one JSON result per line')
    t.add_argument("--json", action="store_true", help="compact JSON output")
    t.set_defaults(func=_cmd_trace)

    lint_p = ssub.add_parser("lint", help="plain-language warnings for the host's silent quirks")
    lint_p.add_argument("schedule")
    lint_p.add_argument("--max-steps", type=int, default=100000)
    lint_p.add_argument("--start-step", type=int, default=0)
    lint_p.set_defaults(func=_cmd_lint)

    b = ssub.add_parser("build", help="emit a host string from a preset: " + ", ".join(x.key for x in PRESETS),
                        description="Emit a host schedule string from a preset; -p NAME=VALUE sets a parameter.",
                        epilog=_presets_epilog(PRESETS), formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("preset", choices=[x.key for x in PRESETS])
    b.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="preset parameter (repeatable)")
    b.set_defaults(func=_cmd_build)
