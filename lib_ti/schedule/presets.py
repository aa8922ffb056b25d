"""Schedule presets that emit host strings from a few editable parameters.

Each preset is a pure function of its parameters; the Schedule tab re-runs it on
every edit so the string updates live. Rates are rounded to a few significant
digits so the string stays short and readable (``5e-2``, ``1.6e-2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .parse import format_schedule


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    default: float
    kind: str = "float"  # "float" | "int" | "text"
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    description: str
    params: tuple[Param, ...]
    build: Callable[..., str]

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def string(self, **values) -> str:
        merged = {**self.defaults(), **{k: v for k, v in values.items() if v is not None}}
        return self.build(**merged)


def _round(rate: float, digits: int = 2) -> float:
    return float(f"{rate:.{digits}g}")


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0 (got {value}).")
    return float(value)


def _count(name: str, value: float, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be a whole number ≥ {minimum} (got {value}).")
    return int(value)


def stepped(start: float = 5e-2, factor: float = 10, steps: str = "100,500,1000,1500") -> str:
    """Divide the rate by ``factor`` at each listed step; the last rate runs to max steps."""
    start, factor = _positive("Start rate", start), _positive("Factor", factor)
    try:
        bounds = [int(s) for s in str(steps).replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError(f"Steps must be whole numbers separated by commas (got '{steps}').") from None
    if any(b <= 0 for b in bounds) or bounds != sorted(set(bounds)):
        raise ValueError("Steps must be positive and increasing.")
    entries, rate = [], start
    for b in bounds:
        entries.append((_round(rate, 6), b))
        rate /= factor
    entries.append((_round(rate, 6), None))
    return format_schedule(entries)


def constant(rate: float = 5e-3) -> str:
    """One rate for the whole run (the host's default is 0.005)."""
    return format_schedule([(_round(_positive("Rate", rate), 6), None)])


def exponential(start: float = 5e-2, floor: float = 5e-5, steps: float = 2000, stages: float = 5) -> str:
    """Geometric decay from ``start`` to ``floor`` over ``steps`` in ``stages`` equal stages, then the floor."""
    start, floor = _positive("Start rate", start), _positive("Floor", floor)
    steps, stages = _count("Steps", steps), _count("Stages", stages, 2)
    entries = []
    for i in range(stages):
        rate = _round(start * (floor / start) ** (i / (stages - 1)))
        end = None if i == stages - 1 else round(steps * (i + 1) / stages)
        entries.append((rate, end))
    return format_schedule(entries)


def warmup_decay(peak: float = 5e-3, warmup: float = 100, warmup_stages: float = 4,
                 floor: float = 5e-4, decay_steps: float = 2000, decay_stages: float = 4) -> str:
    """Ramp up to ``peak`` in ``warmup_stages`` steps of equal length, then decay geometrically to ``floor``."""
    peak, floor = _positive("Peak rate", peak), _positive("Floor", floor)
    warmup, ws = _count("Warm-up steps", warmup), _count("Warm-up stages", warmup_stages)
    decay_steps, ds = _count("Decay steps", decay_steps), _count("Decay stages", decay_stages, 2)
    if decay_steps <= warmup:
        raise ValueError("Decay must end after the warm-up (decay steps > warm-up steps).")
    entries = [(_round(peak * (i + 1) / (ws + 1)), round(warmup * (i + 1) / ws)) for i in range(ws)]
    span = decay_steps - warmup
    for i in range(ds):
        rate = _round(peak * (floor / peak) ** (i / (ds - 1)))
        end = None if i == ds - 1 else warmup + round(span * (i + 1) / (ds - 1))
        entries.append((rate, end))
    return format_schedule(entries)


COMMUNITY = ((0.05, 10), (0.02, 20), (0.01, 60), (0.005, 200), (0.002, 500), (0.001, 3000), (0.0005, None))


def community(scale: float = 1.0) -> str:
    """The widely shared A1111 schedule (0.05:10 … 0.001:3000, 0.0005), optionally scaled."""
    scale = _positive("Scale", scale)
    return format_schedule([(_round(r * scale, 6), s) for r, s in COMMUNITY])


PRESETS: tuple[Preset, ...] = (
    Preset("stepped", "Stepped decay", "Fast start, then ÷factor at each step — the classic 5e-2…5e-6 recipe.",
           (Param("start", "Start rate", 5e-2), Param("factor", "Divide by", 10),
            Param("steps", "At steps", "100,500,1000,1500", "text")), stepped),
    Preset("constant", "Constant", "One rate throughout; the host's default is 5e-3.",
           (Param("rate", "Rate", 5e-3),), constant),
    Preset("exponential", "Exponential decay", "From a start rate to a floor over N steps in K stages.",
           (Param("start", "Start rate", 5e-2), Param("floor", "Floor", 5e-5),
            Param("steps", "Over steps", 2000, "int", 1), Param("stages", "Stages", 5, "int", 2)), exponential),
    Preset("warmup", "Warm-up then decay", "Gentle start for large batches or many vectors, then decay.",
           (Param("peak", "Peak rate", 5e-3), Param("warmup", "Warm-up steps", 100, "int", 1),
            Param("warmup_stages", "Warm-up stages", 4, "int", 1), Param("floor", "Floor", 5e-4),
            Param("decay_steps", "Decay ends at step", 2000, "int", 2),
            Param("decay_stages", "Decay stages", 4, "int", 2)), warmup_decay),
    Preset("community", "Community", "0.05:10, 0.02:20, 0.01:60, 0.005:200, 0.002:500, 0.001:3000, 0.0005.",
           (Param("scale", "Scale all rates", 1.0),), community),
)

PRESET_BY_KEY = {p.key: p for p in PRESETS}
