"""The linter names every quirk the host applies silently."""

import pytest

from lib_ti.schedule.parse import ScheduleError, lint


@pytest.mark.parametrize("text,max_steps,start,codes", [
    ("5e-2:100,5e-3:500,5e-4:1000,5e-5:1500,5e-6", 2000, 0, []),
    ("0.005", 1000, 0, []),
    ("0.01:100, 0.001, 0.5", 1000, 0, ["ignored-after-end"]),
    ("0.01:100,0.001:-1,0.5", 1000, 0, ["ignored-after-end"]),
    ("0.01:5000,0.001", 1000, 0, ["ignored-after-end"]),
    ("0.1:0,0.2", 1000, 0, ["dropped"]),
    ("0.01:100,0.1:-5,0.2", 1000, 0, ["dropped"]),
    ("5e-2:100,5e-3:500,5e-4", 1000, 150, ["dropped"]),
    ("0.01:100,0.001:50,0.0001", 1000, 0, ["out-of-order"]),
    ("0.1:100,0.2:100,0.3", 1000, 0, ["out-of-order"]),
    ("5e-2:100,5e-4:1000,5e-5:1500,5e-6", 1000, 0, ["ignored-after-end", "extra-update"]),
    ("0.005:100", 1000, 0, ["ends-early"]),
    ("0:100,0.005", 1000, 0, ["zero-rate"]),
    ("-1", 1000, 0, ["negative-rate"]),
    ("2:100,1e-9", 1000, 0, ["rate-range", "rate-range"]),
    ("0.01:100:3", 1000, 0, ["extra-colon"]),
])
def test_lint_codes(text, max_steps, start, codes):
    assert sorted(w.code for w in lint(text, max_steps, start)) == sorted(codes)


def test_warning_spans_point_at_the_item():
    text = "0.01:100, 0.001, 0.5"
    (warning,) = lint(text, 1000)
    assert text[warning.start:warning.end] == " 0.5"
    assert "'0.5' ignored" in warning.message


def test_lint_refuses_invalid_strings():
    with pytest.raises(ScheduleError):
        lint("0.1:abc", 1000)
