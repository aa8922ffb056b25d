"""Weight → syntax, and preset rewrites that re-parse to the intended weight."""

import math

import pytest

from lib_ti.emphasis.parse import flag_prompt, parse_prompt_attention
from lib_ti.emphasis.rewrite import DEFAULT_PRESETS, apply_weight, inverse, rewrite_span, word_at


@pytest.mark.parametrize("target,explicit,brackets,bracket_weight", [
    (0.62, "(x:0.62)", "[[[[[x]]]]]", 0.620921323059155),
    (0.9, "(x:0.9)", "[x]", 1 / 1.1),
    (1.1, "(x:1.1)", "(x)", 1.1),
    (1.3, "(x:1.3)", "(((x)))", 1.3310000000000004),
    (0.5, "(x:0.5)", "[[[[[[[x]]]]]]]", (1 / 1.1) ** 7),
    (1.0, "x", "x", 1.0),
])
def test_inverse(target, explicit, brackets, bracket_weight):
    inv = inverse("x", target)
    assert inv.explicit == explicit
    assert inv.explicit_weight == pytest.approx(target)
    assert inv.brackets == brackets
    assert inv.brackets_weight == pytest.approx(bracket_weight, rel=1e-12)
    assert inv.brackets_error == pytest.approx(bracket_weight - target)


def test_inverse_of_non_positive_weight_has_no_bracket_form():
    inv = inverse("x", -0.5)
    assert inv.explicit == "(x:-0.5)" and inv.brackets is None


@pytest.mark.parametrize("prompt,style,weight,expected", [
    ("A (((oil painting))) of [[[[[name]]]]] by x", "explicit", 0.62, "A (((oil painting))) of (name:0.62) by x"),
    ("A (((oil painting))) of name by x", "brackets", 0.62, "A (((oil painting))) of [[[[[name]]]]] by x"),
    ("a photo of (name:1.4)", "explicit", 0.75, "a photo of (name:0.75)"),
    ("a photo of ((name))", "explicit", 1.0, "a photo of name"),
    ("name, [name], (name:1.2)", "brackets", 1.1, "(name), (name), (name)"),
    ("a \\(name\\) here", "explicit", 0.5, "a \\((name:0.5)\\) here"),
    ("Name in caps", "explicit", 0.9, "(Name:0.9) in caps"),
    ("my_name and name", "explicit", 0.5, "my_name and (name:0.5)"),
])
def test_apply_weight_normalises_only_the_term(prompt, style, weight, expected):
    result = apply_weight(prompt, "name", weight, style)
    assert result.prompt == expected


@pytest.mark.parametrize("weight", DEFAULT_PRESETS)
@pytest.mark.parametrize("prompt", [
    "a photo of name",
    "a (photo of name:1.2), [detailed]",
    "((a portrait of name)) in the style of x",
    "name BREAK name",
])
def test_presets_reparse_to_intended_weight(prompt, weight):
    result = apply_weight(prompt, "name", weight, "explicit")
    weights = [w for text, w in parse_prompt_attention(result.prompt) if "name" in text]
    assert weights and all(math.isclose(w, weight, rel_tol=1e-3) for w in weights)
    # Everything but the term is untouched: removing the term's own syntax gives back the rest.
    outside = result.prompt.replace(f"(name:{weight:g})", "")
    assert "name" not in outside or "(" in prompt


def test_rewrite_span_at_cursor_and_selection():
    assert rewrite_span("a cat sits", 3, 3, 0.75).prompt == "a (cat:0.75) sits"
    r = rewrite_span("a (cat:1.2) sits", 5, 5, 0.75, "brackets")
    assert r.prompt == "a [[[cat]]] sits" and r.weight == pytest.approx((1 / 1.1) ** 3)
    whole = rewrite_span("a (cat:1.2) sits", 2, 11, 1.3)
    assert whole.prompt == "a (cat:1.3) sits"
    assert whole.prompt[whole.start:whole.end] == "(cat:1.3)"


def test_nothing_selected_says_so():
    r = rewrite_span("a  b", 2, 2, 0.5)
    assert r.prompt == "a  b" and r.message


@pytest.mark.parametrize("prompt,pos,span", [("a cat sits", 3, (2, 5)), ("(cat:1.2)", 2, (1, 4)), ("x, y", 1, (0, 1))])
def test_word_at(prompt, pos, span):
    assert word_at(prompt, pos) == span


@pytest.mark.parametrize("prompt,kinds", [
    ("a [cat:0.5] dog", ["prompt-editing"]),
    ("a [cat:dog:10] x", ["prompt-editing"]),
    ("((((((((((x))))))))))", ["overflow"]),
    ("(a", ["unbalanced"]),
    ("a)", ["unbalanced"]),
    ("a (b:1.2) [c]", []),
])
def test_flags(prompt, kinds):
    assert [f.kind for f in flag_prompt(prompt)] == kinds
