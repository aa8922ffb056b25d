"""The host's own answers for schedule strings and prompts (``tests/data/reference``, see its README)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_FILE = REPO / "tests" / "data" / "reference" / "host-v1.10.1-parsing.json"


def load_reference() -> dict:
    """Load the table; a missing file fails loudly, never skips."""
    if not REFERENCE_FILE.exists():
        raise FileNotFoundError(f"Host reference table missing: {REFERENCE_FILE} (it ships with the repository)")
    return json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))
