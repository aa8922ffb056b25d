"""Every schedule string in the host's reference table traces exactly as the host ran it."""

import pytest

from lib_ti.schedule.parse import HostScheduler, ScheduleError, parse_schedule, trace

from host_reference import load_reference

CASES = load_reference()["schedule"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['schedule']!r}@{c['max_steps']}+{c['start_step']}" for c in CASES])
def test_trace_matches_host(case):
    if "error" in case:
        with pytest.raises(ScheduleError):
            trace(case["schedule"], case["max_steps"], case["start_step"])
        return
    got = trace(case["schedule"], case["max_steps"], case["start_step"]).as_dict()
    assert got["entries"] == case["entries"]
    assert got["updates"] == case["updates"]
    assert got["segments"] == case["segments"]


def _stepwise(text: str, max_steps: int, start: int) -> list[float]:
    """Drive HostScheduler one update at a time, as the host's loop does."""
    sched, rates, n = HostScheduler(text, max_steps, start), [], start
    while True:
        sched.step(n)
        if sched.finished:
            return rates
        rates.append(sched.learn_rate)
        n += 1


@pytest.mark.parametrize("text,max_steps,start", [
    ("5e-2:100,5e-3:500,5e-4:1000,5e-5:1500,5e-6", 1000, 0),
    ("0.1:100,0.2:100,0.3", 300, 0),
    ("0.01:100,0.001:50,0.0001", 400, 0),
    ("5e-2:100,5e-3:500,5e-6", 700, 150),
    ("0.005:100", 1000, 0),
])
def test_fast_trace_equals_stepwise_scheduler(text, max_steps, start):
    """The O(entries) trace agrees with the one-update-at-a-time scheduler the training loop uses."""
    tr = trace(text, max_steps, start)
    rates = _stepwise(text, max_steps, start)
    assert tr.updates == len(rates)
    assert [tr.rate_at(start + i) for i in range(len(rates))] == rates


@pytest.mark.parametrize("text,position", [
    ("", 0),
    ("abc", 0),
    ("0.1:1e3", 4),
    ("0.1:100.0", 4),
    ("0.01:100, x:200", 10),
    ("0.1:-5", 0),
])
def test_invalid_strings_name_the_character(text, position):
    with pytest.raises(ScheduleError) as err:
        parse_schedule(text, 1000)
    assert err.value.position == position
