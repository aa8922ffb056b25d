"""Helpers shared by the batch (JSON Lines) commands."""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, TextIO


def run_jsonl(handle: Callable[[Any], dict], stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Read one JSON value per line, write one JSON object per line.

    A line that is not valid JSON, or whose handler raises ``ValueError``/``TypeError``,
    gives ``{"error": message}``; the batch never stops on bad input.
    Blank lines are skipped. Output is flushed once at the end (fast for large batches).
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    out: list[str] = []
    for lineno, line in enumerate(stdin, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            result: dict = {"error": f"line {lineno}: not JSON: {exc}"}
        else:
            try:
                result = handle(value)
            except (ValueError, TypeError, KeyError) as exc:
                result = {"error": str(exc)}
        out.append(json.dumps(result, ensure_ascii=False))
    if out:
        stdout.write("\n".join(out) + "\n")
    stdout.flush()
    return 0
