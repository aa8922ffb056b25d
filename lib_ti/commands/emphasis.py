"""``python -m lib_ti emphasis``: the host's weight math both ways, and preset rewrites."""

from __future__ import annotations

import argparse
import json
import sys


def _parse_one(value: object) -> dict:
    from ..emphasis.parse import EmphasisError, parse_prompt_attention

    if not isinstance(value, str):
        raise ValueError("each line must be a JSON string (a prompt)")
    try:
        return {"result": parse_prompt_attention(value)}
    except EmphasisError as exc:
        return {"error": str(exc), "position": exc.position}


def _cmd_parse(args: argparse.Namespace) -> int:
    from ..emphasis.parse import flag_prompt
    from ._io import run_batch, run_one

    if args.batch:
        return run_batch(_parse_one)
    if args.prompt is None:
        print("emphasis parse: give a prompt, or --batch to read JSON Lines", file=sys.stderr)
        return 2
    status = run_one(_parse_one, args.prompt)
    if status == 0:
        for flag in flag_prompt(args.prompt):
            print(f"warning [{flag.kind}]: {flag.message}", file=sys.stderr)
    return status


def _cmd_inverse(args: argparse.Namespace) -> int:
    from ..emphasis.rewrite import inverse

    try:
        inv = inverse(args.text, args.weight)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = {"explicit": inv.explicit, "explicit_weight": inv.explicit_weight,
           "brackets": inv.brackets, "brackets_weight": inv.brackets_weight, "brackets_error": inv.brackets_error}
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    from ..emphasis.rewrite import apply_weight

    try:
        result = apply_weight(args.prompt, args.term, args.weight, args.style)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.message:
        print(result.message, file=sys.stderr)
    print(result.prompt)
    return 0 if not result.message else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ._io import finite_float

    p = sub.add_parser("emphasis", help="prompt weights exactly as the host computes them, and rewrites")
    esub = p.add_subparsers(dest="emphasis_command", metavar="ACTION", required=True)

    parse = esub.add_parser("parse", help="segments with weights; --batch reads JSON Lines (one prompt string each)")
    parse.add_argument("prompt", nargs="?")
    parse.add_argument("--batch", action="store_true",
                       help='read JSON string lines; write {"result": [[text, weight], ...]} or {"error": ...}')
    parse.set_defaults(func=_cmd_parse)

    inv = esub.add_parser("inverse", help="explicit (x:w) and nearest pure-bracket form for a target weight")
    inv.add_argument("text")
    inv.add_argument("weight", type=finite_float)
    inv.set_defaults(func=_cmd_inverse)

    apply_p = esub.add_parser("apply", help="give every occurrence of TERM the weight W in PROMPT")
    apply_p.add_argument("prompt")
    apply_p.add_argument("term")
    apply_p.add_argument("weight", type=finite_float)
    apply_p.add_argument("--style", choices=("explicit", "brackets"), default="explicit")
    apply_p.set_defaults(func=_cmd_apply)
