"""Presets emit short host strings that parse cleanly; numbers round-trip."""

import pytest

from lib_ti.schedule.parse import format_rate, format_schedule, lint, parse_schedule
from lib_ti.schedule.presets import PRESET_BY_KEY, PRESETS


@pytest.mark.parametrize("rate,text", [
    (0.05, "5e-2"), (0.005, "5e-3"), (5e-6, "5e-6"), (0.1, "0.1"), (1.0, "1"), (0.0015, "1.5e-3"),
    (2.5e-4, "2.5e-4"), (0.3, "0.3"), (123.5, "123.5"), (0.0, "0"), (-1.0, "-1"), (1 / 3, "0.3333333333333333"),
])
def test_format_rate_is_short_and_round_trips(rate, text):
    assert format_rate(rate) == text
    assert float(text) == rate


@pytest.mark.parametrize("key,params,expected", [
    ("stepped", {}, "5e-2:100,5e-3:500,5e-4:1000,5e-5:1500,5e-6"),
    ("stepped", {"start": 0.01, "factor": 2, "steps": "50, 200"}, "1e-2:50,5e-3:200,2.5e-3"),
    ("constant", {}, "5e-3"),
    ("constant", {"rate": 0.002}, "2e-3"),
    ("exponential", {"start": 0.01, "floor": 0.0001, "steps": 300, "stages": 3}, "1e-2:100,1e-3:200,1e-4"),
    ("community", {}, "5e-2:10,2e-2:20,1e-2:60,5e-3:200,2e-3:500,1e-3:3000,5e-4"),
    ("community", {"scale": 0.1}, "5e-3:10,2e-3:20,1e-3:60,5e-4:200,2e-4:500,1e-4:3000,5e-5"),
    ("warmup", {"peak": 0.004, "warmup": 90, "warmup_stages": 3, "floor": 0.0004, "decay_steps": 1090,
                "decay_stages": 2}, "1e-3:30,2e-3:60,3e-3:90,4e-3:1090,4e-4"),
])
def test_preset_strings(key, params, expected):
    assert PRESET_BY_KEY[key].string(**params) == expected


@pytest.mark.parametrize("preset", PRESETS, ids=[p.key for p in PRESETS])
def test_every_default_preset_trains_to_max_steps_without_quirks(preset):
    text = preset.string()
    entries = parse_schedule(text, 100000)
    assert entries[-1][1] == 100000
    assert lint(text, 100000) == []


@pytest.mark.parametrize("key,params,fragment", [
    ("constant", {"rate": 0}, "Rate must be greater than 0"),
    ("stepped", {"steps": "100,50"}, "increasing"),
    ("stepped", {"steps": "1e3"}, "whole numbers"),
    ("exponential", {"stages": 1}, "Stages"),
    ("warmup", {"warmup": 500, "decay_steps": 400}, "after the warm-up"),
])
def test_bad_preset_parameters_explain_themselves(key, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        PRESET_BY_KEY[key].string(**params)


def test_format_schedule_plain_last_rate():
    assert format_schedule([(0.05, 100), (0.005, None)]) == "5e-2:100,5e-3"
