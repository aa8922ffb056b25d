"""TI Lab's settings, declared once and shown in two places.

Inside the host they become the "TI Lab" section of the Settings tab (see
:mod:`lib_ti.host`); standalone they are read from ``tilab-settings.json`` in the
data folder, with the same keys and defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

SECTION = ("ti_lab", "TI Lab")


@dataclass(frozen=True)
class SettingSpec:
    """One option. ``kind`` is ``text``, ``bool``, ``int``, ``float`` or ``choice``."""

    key: str
    default: Any
    label: str
    kind: str
    choices: Sequence[str] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[float] = None
    info: str = ""


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "tilab_emphasis_output", "explicit", "Prompt-box presets write", "choice",
        choices=("explicit", "brackets"),
        info="explicit: (name:0.62) · brackets: [[[[[name]]]]] (nearest pure-bracket form)",
    ),
    SettingSpec(
        "tilab_preset_weights", "0.5, 0.62, 0.75, 0.9, 1.1, 1.3", "Emphasis preset weights", "text",
        info="comma-separated weights offered by the prompt-box preset control",
    ),
    SettingSpec(
        "tilab_preset_shortcut", True, "Alt+E in a prompt box applies the last chosen weight preset", "bool",
    ),
    SettingSpec(
        "tilab_allowed_roots", "", "Allowed folders when the UI is shared", "text",
        info="one per line (or ';'); used only when the host listens to other machines",
    ),
    SettingSpec(
        "tilab_blip_num_beams", 3, "BLIP: beams", "int", minimum=1, maximum=16, step=1,
    ),
    SettingSpec(
        "tilab_blip_min_length", 5, "BLIP: minimum caption length (tokens)", "int", minimum=0, maximum=75, step=1,
    ),
    SettingSpec(
        "tilab_blip_max_length", 30, "BLIP: maximum caption length (tokens)", "int", minimum=1, maximum=150, step=1,
    ),
    SettingSpec(
        "tilab_blip_model", "Salesforce/blip-image-captioning-base", "BLIP model (standalone)", "text",
        info="a local folder or a Hugging Face model id (from the cache; downloaded only where allowed)",
    ),
    SettingSpec(
        "tilab_dataset_dup_threshold", 0.92, "Dataset: near-duplicate similarity threshold", "float",
        minimum=0.5, maximum=1.0, step=0.01,
    ),
)

SPEC_BY_KEY = {s.key: s for s in SPECS}


def coerce(spec: SettingSpec, value: Any) -> Any:
    """Convert a stored value to the spec's type, falling back to the default when it cannot."""
    try:
        if spec.kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if spec.kind == "int":
            return int(value)
        if spec.kind == "float":
            return float(value)
        if spec.kind == "choice":
            return value if value in spec.choices else spec.default
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        return spec.default


@dataclass
class Settings:
    """A read view of TI Lab's options over any mapping (the host's ``opts.data`` or a JSON file)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        spec = SPEC_BY_KEY[key]
        if key in self.values:
            return coerce(spec, self.values[key])
        return spec.default

    def preset_weights(self) -> list[float]:
        out = []
        for part in str(self.get("tilab_preset_weights")).split(","):
            try:
                w = float(part)
            except ValueError:
                continue
            if w > 0:
                out.append(w)
        return out or [0.5, 0.62, 0.75, 0.9, 1.1, 1.3]

    @classmethod
    def from_file(cls, path: Path) -> "Settings":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        return cls(values=data if isinstance(data, dict) else {})

    def as_dict(self) -> dict[str, Any]:
        return {s.key: self.get(s.key) for s in SPECS}
