"""Hostile inputs for the fuzz tests: a fixed list of known troublemakers plus seeded random ones.

Seeded (``random.Random(seed)``) so a failure repeats exactly; no network, no extra dependency.
"""

from __future__ import annotations

import json
import random
from typing import Any

#: strings that broke (or could break) parsers, encoders, paths and terminals
KNOWN: list[str] = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\udc80", "\U0001f525 cat, dog", "\u202e", "\ufeff",
    "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-0", "1.2.3", "0x10", "١٢", "9" * 400,
    "(", ")", "((((", "))))", "[" * 500, "(" * 2000 + "x", "(x:nan)", "(x:inf)", "(x:1e400)", "(x:-1)",
    "\\", "\\\\(", ":", "::", "a:b:c", "1e-3:10,1e-4", "0.001:-1", "1:100000000000000000000",
    "../../etc/passwd", "/etc/passwd", "~", "~root", "C:\\Windows", "\\\\server\\share", "file:///etc/passwd",
    "http://169.254.169.254/", "a" * 5000, "%00", "%2e%2e%2f", "*", "?", "|", "$(echo pwned)", "`id`",
    "{\"a\": 1}", "[]", "null", "true", "\r\n", "\r", "\t\v\f", "BREAK", "AND", "<script>alert(1)</script>",
]


def random_string(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", "9", ".", ",", ":", "(", ")", "[", "]", "\\", " ", "\n", "\x00", "\u00e9",
                "\ud800", "\U0001f525", "/", "~", "-", "e", "+", "BREAK", "%", "'", '"']
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def strings(seed: int, n: int) -> list[str]:
    """The known strings then random ones, ``n`` in all (at least the known ones)."""
    rng = random.Random(seed)
    return KNOWN + [random_string(rng) for _ in range(max(0, n - len(KNOWN)))]


def json_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randint(0, 9 if depth < 3 else 5)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 2**63, -(2**70), 10**30, 7])
    if pick == 3:
        return rng.choice([0.5, -1e308, 1e-320, 3.14])
    if pick in (4, 5):
        return rng.choice(KNOWN) if rng.random() < 0.5 else random_string(rng)
    if pick in (6, 7):
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["prompt", "start", "end", "weight", "style", "schedule", "max_steps", "start_step", "x", "\ud800"]
    return {rng.choice(keys): json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def json_lines(seed: int, n: int) -> list[bytes]:
    """``n`` lines of input for a JSON Lines reader: valid JSON, broken JSON, raw bytes, deep nesting."""
    rng = random.Random(seed)
    specials = [b"[" * 100_000, b"{\"a\":" * 50_000, b"NaN", b"Infinity", b"\xff\xfe\x00", b"\"\\ud800\"",
                b"{\"schedule\": \"1e-3\", \"max_steps\": Infinity}", b"{\"schedule\": \"1e-3\", \"max_steps\": 1e400}",
                b"{\"schedule\": \"1e-3\", \"max_steps\": true}", b"\"(x:nan)\"", b"\x00", b"{", b"\"unterminated"]
    out = list(specials)
    while len(out) < n:
        value = json_value(rng)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.1:
            text = text[: rng.randint(0, len(text))]
        out.append(text.encode("utf-8", "surrogatepass"))
    return out
