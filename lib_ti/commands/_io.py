"""One runner for every command that answers JSON, one value or a ``--batch`` of JSON Lines.

Why one runner: each command used to repeat its own single-vs-batch handler, and one bad line (a
lone surrogate, JSON nested too deep, ``Infinity`` where a step count belongs) killed the whole
batch with a traceback, losing every answer before it because output was written at the end.
Here each input line gets exactly one output line, its answer or ``{"error": ..., "line": n}``,
written and flushed as soon as it is produced, and no input can stop the batch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Callable, Iterable, Iterator, Optional, TextIO, Union

Handler = Callable[[Any], dict]

#: Exceptions that mean "this input is bad"; their message is shown as is. Anything else is a
#: defect, still answered per line (with its type) so the batch goes on.
BAD_INPUT = (ValueError, TypeError, KeyError, OverflowError, RecursionError, UnicodeError)


def describe(exc: BaseException) -> str:
    """A one-line message for an exception, never a traceback."""
    if isinstance(exc, RecursionError):
        return "input nested too deeply"
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}" if exc.args else "missing key"
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return msg if isinstance(exc, (*BAD_INPUT, OSError)) and msg else f"{type(exc).__name__}: {msg}".rstrip(": ")


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def loads(text: str) -> Any:
    """Strict JSON: ``NaN``/``Infinity`` refused (Python's json accepts them), deep nesting refused."""
    return json.loads(text, parse_constant=_no_constants)


def dumps(record: dict, indent: Optional[int] = None) -> str:
    """One answer as JSON: UTF-8 text when it can be encoded, else ASCII escapes (a lone surrogate)."""
    text = json.dumps(record, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, ensure_ascii=True, indent=indent)
    return text


def answer(handle: Handler, value: Any) -> dict:
    """``handle(value)``, or an error record when it raises; never raises itself (bar KeyboardInterrupt)."""
    try:
        result = handle(value)
    except Exception as exc:  # noqa: BLE001 - one bad input must never stop the others
        return {"error": describe(exc)}
    return result if isinstance(result, dict) else {"result": result}


def _lines(stdin: Union[TextIO, Any]) -> Iterator[tuple[int, Optional[str], Optional[str]]]:
    """``(line number, text, decode error)`` for each line; undecodable bytes are one bad line, not a crash."""
    raw = getattr(stdin, "buffer", None)
    source: Iterable[Union[str, bytes]] = raw if raw is not None else stdin
    for lineno, line in enumerate(source, 1):
        if isinstance(line, bytes):
            try:
                yield lineno, line.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                yield lineno, None, f"not UTF-8 (byte {exc.start} of the line)"
        else:
            yield lineno, line, None


def run_batch(handle: Handler, stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None) -> int:
    """Read one JSON value per line, write one JSON object per line, flushed as produced.

    Blank lines are skipped (no output). A line that is not JSON, or that its handler refuses,
    gives ``{"error": message, "line": n}``; the batch always runs to the end and exits 0.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    for lineno, line, bad in _lines(stdin):
        if line is not None and not line.strip():
            continue
        if bad is None:
            try:
                value = loads(line)  # type: ignore[arg-type]
            except (ValueError, RecursionError) as exc:
                bad = f"not JSON: {describe(exc)}"
        record = {"error": bad} if bad is not None else answer(handle, value)
        if "error" in record:
            record = {**record, "line": lineno}
        stdout.write(dumps(record) + "\n")
        stdout.flush()
    return 0


def run_one(handle: Handler, value: Any, *, indent: Optional[int] = None, stdout: Optional[TextIO] = None) -> int:
    """Argument mode: print the answer as JSON; exit status 1 when it is an error record."""
    stdout = stdout or sys.stdout
    record = answer(handle, value)
    stdout.write(dumps(record, indent) + "\n")
    stdout.flush()
    return 1 if "error" in record else 0


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan``/``inf`` are floats to Python, never a weight or a rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def json_int(value: Any, name: str, default: int, lo: int, hi: int) -> int:
    """An integer field of a JSON line (``true`` and ``1.5`` refused), within ``lo..hi``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise ValueError(f"'{name}' must be a whole number, not {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"'{name}' must be {lo}..{hi}, not {value}")
    return value
