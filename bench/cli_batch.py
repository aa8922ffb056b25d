"""Batch CLI throughput: 1,000 prompts / schedules through the JSON Lines contract.

Prints, side by side in one run, the wall time of the command with an empty input (start-up)
and with 1,000 inputs, and the difference (the processing time the contract bounds at 2 s).
Run: .venv/bin/python bench/cli_batch.py
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], stdin: str) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "lib_ti", *args], input=stdin, cwd=REPO, capture_output=True,
                         text=True, check=True)
    elapsed = time.perf_counter() - start
    assert out.stdout.count("\n") == stdin.count("\n"), "one output line per input"
    return elapsed


def main() -> None:
    rng = random.Random(0)
    words = ["oil painting", "my_embedding", "castle", "BREAK", "sky", "portrait"]
    prompts = []
    for _ in range(1000):
        parts = []
        for w in rng.sample(words, 4):
            kind = rng.choice(["plain", "round", "square", "explicit"])
            parts.append({"plain": w, "round": f"(({w}))", "square": f"[{w}]",
                          "explicit": f"({w}:{rng.uniform(0.3, 1.6):.2f})"}[kind])
        prompts.append(json.dumps(", ".join(parts)))
    schedules = [json.dumps({"schedule": f"5e-2:{rng.randint(1, 500)},5e-3:{rng.randint(501, 2000)},5e-6",
                             "max_steps": rng.choice([1000, 2000, 100000]), "start_step": rng.randint(0, 800)})
                 for _ in range(1000)]
    print(f"{'command':34} {'start-up s':>11} {'1000 inputs s':>14} {'processing s':>13}")
    for name, args, lines in (("emphasis parse --batch", ["emphasis", "parse", "--batch"], prompts),
                              ("schedule trace --batch", ["schedule", "trace", "--batch"], schedules)):
        empty = min(timed(args, "") for _ in range(3))
        full = min(timed(args, "\n".join(lines) + "\n") for _ in range(3))
        print(f"{name:34} {empty:11.3f} {full:14.3f} {full - empty:13.3f}")


if __name__ == "__main__":
    main()
