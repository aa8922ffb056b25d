"""Every prompt in the host's reference table parses exactly as the host parsed it."""

import math

import pytest

from lib_ti.emphasis.parse import EmphasisError, parse_prompt_attention

from host_reference import load_reference

CASES = load_reference()["attention"]


@pytest.mark.parametrize("case", CASES, ids=[repr(c["prompt"])[:60] for c in CASES])
def test_parse_matches_host(case):
    if "error" in case:
        with pytest.raises(ValueError):
            parse_prompt_attention(case["prompt"])
        return
    got = parse_prompt_attention(case["prompt"])
    assert [t for t, _ in got] == [t for t, _ in case["result"]]
    for (_, w), (_, want) in zip(got, case["result"]):
        assert math.isclose(w, want, rel_tol=1e-9)


@pytest.mark.parametrize("prompt,position", [("(x:1.2.3)", 3), ("a (b:.)", 5)])
def test_bad_weight_names_the_character(prompt, position):
    with pytest.raises(EmphasisError) as err:
        parse_prompt_attention(prompt)
    assert err.value.position == position
    assert f"character {position + 1}" in str(err.value)
