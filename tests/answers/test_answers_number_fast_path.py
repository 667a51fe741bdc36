"""The single-number fast paths give exactly what the general paths give.

Most answer fields are single numbers, so Tolerance.matches_number / matches_number_range and
Expectation.accepts on a 0-d answer use plain float arithmetic, and parse_scalar reads a plain
typed number with float(). These tests pin them to the code they shortcut: the same tolerance
rule entry by entry, on boundaries, overflow, non-finite answers, significant figures and
rounding-aware alternatives; the same value and sign, or the same message, as the expression
parser.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.answers import InvalidAnswer, Tolerance, compare_answer, parse_scalar, prepare
from autograder.answers.expressions import evaluate_tokens
from autograder.answers.tokenizer import tokenize
from autograder.answers.tolerance import _SLACK

TOLERANCES = [
    Tolerance(),
    Tolerance(rtol=0.0, atol=0.0),
    Tolerance(rtol=0.05, atol=0.0),
    Tolerance(rtol=0, atol=1e-3),
    Tolerance(rtol=1e-6, atol=1e-12),
    Tolerance(sigfigs=3),
    Tolerance(sigfigs=1, atol=1e-3),
]

floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
answers = st.one_of(floats, st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 0.0, -0.0]))


def array_matches(tolerance: Tolerance, got: float, expected: float) -> bool:
    return bool(tolerance.matches(np.array([got]), np.array([expected]))[0])


def boundary_cases() -> list[tuple[float, float]]:
    """Answers exactly at, just inside and just outside each tolerance's width."""
    cases = []
    for expected in (0.0, 1e-9, 0.34813, -2.5, 100.0, 1e300):
        for width in (1e-8, 1e-2 * abs(expected) + 1e-8, 0.05 * abs(expected), 1e-3):
            for scale in (1 + _SLACK, 1.0, 1 - 1e-15, 1 + 2e-9):
                for sign in (1, -1):
                    cases.append((expected + sign * width * scale, expected))
    return cases


@pytest.mark.parametrize("tolerance", TOLERANCES, ids=repr)
@pytest.mark.parametrize(("got", "expected"), boundary_cases())
def test_matches_number_equals_the_array_rule_on_boundaries(tolerance, got, expected):
    assert tolerance.matches_number(got, expected) is array_matches(tolerance, got, expected)


@settings(max_examples=600, deadline=None)
@given(got=answers, expected=floats, tolerance=st.sampled_from(TOLERANCES))
def test_matches_number_equals_the_array_rule(got, expected, tolerance):
    assert tolerance.matches_number(got, expected) is array_matches(tolerance, got, expected)


@settings(max_examples=600, deadline=None)
@given(got=answers, a=floats, b=floats, tolerance=st.sampled_from(TOLERANCES))
def test_matches_number_range_equals_the_array_rule(got, a, b, tolerance):
    low, high = min(a, b), max(a, b)
    expected = bool(tolerance.matches_range(np.array([got]), np.array([low]), np.array([high]))[0])
    assert tolerance.matches_number_range(got, low, high) is expected


@pytest.mark.parametrize("got", [math.nan, math.inf, -math.inf])
def test_non_finite_answers_never_match(got):
    assert not Tolerance(rtol=1.0, atol=1e300).matches_number(got, 0.0)
    assert not Tolerance(rtol=1.0, atol=1e300).matches_number_range(got, -1e300, 1e300)


def test_overflowing_difference_is_not_a_match():
    assert not Tolerance().matches_number(1.7e308, -1.7e308)
    assert not Tolerance().matches_number(-1.7e308, 1.7e308)


@settings(max_examples=400, deadline=None)
@given(
    got=floats,
    reference=floats,
    alternatives=st.lists(floats, max_size=3),
    tolerance=st.sampled_from(TOLERANCES),
)
def test_scalar_accepts_equals_the_array_path(got, reference, alternatives, tolerance):
    """A number field and a one-entry vector field with the same data accept the same answers."""
    scalar = prepare({"name": "a"}, reference, tolerance=tolerance, alternatives=alternatives)
    vector = prepare(
        {"name": "a", "type": "vector", "shape": [1]},
        [reference],
        tolerance=tolerance,
        alternatives=[[a] for a in alternatives],
    )
    assert bool(scalar.accepts(np.array(got))) is bool(vector.accepts(np.array([got]))[0])


def test_scalar_accepts_the_interval_between_rounded_paths():
    """The rounding-aware interval: between the exact and a rounded path, outside both widths."""
    expectation = prepare({"name": "a"}, 1.0, tolerance={"rtol": 1e-3, "atol": 0}, alternatives=[1.1])
    assert expectation.accepts(np.array(1.05))
    assert not expectation.accepts(np.array(1.2))
    assert not expectation.accepts(np.array(0.99))


def test_scalar_misconception_is_matched_through_the_fast_path():
    result = compare_answer(
        -0.25,
        {"name": "delta"},
        0.25,
        misconceptions=[{"id": "sign", "explanation": "Check the sign of -2(y - a).", "answer": -0.25}],
    )
    assert (result.status, result.misconception) == ("incorrect", "sign")
    assert "sign of -2(y - a)" in result.message


def test_non_finite_misconception_answer_is_still_refused():
    with pytest.raises(ValueError, match="not finite"):
        prepare({"name": "a"}, 1.0, misconceptions=[{"id": "m", "answer": math.inf}])


# --- typed plain numbers are read without the tokenizer ----------------------------------------

plain_numbers = st.from_regex(r"\A[+-]?(?:[0-9]{1,20}\.?[0-9]{0,20}|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,4})?\Z")


@settings(max_examples=800, deadline=None)
@given(text=plain_numbers, padding=st.sampled_from(["", " ", "\t", "  \n"]))
def test_plain_number_fast_path_equals_the_expression_parser(text, padding):
    typed = padding + text + padding
    try:
        expected = evaluate_tokens(tokenize(text))
    except InvalidAnswer as error:
        with pytest.raises(InvalidAnswer, match=re.escape(error.message)):
            parse_scalar(typed)
        return
    value = parse_scalar(typed)
    assert value == expected and math.copysign(1, value) == math.copysign(1, expected)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1e400", "too large"),
        ("-1e999", "too large"),
        ("1_000", "Missing operator before '_000'"),
        ("nan", "not allowed"),
        ("-inf", "not allowed"),
        ("\u0661\u0662", "Unexpected character"),  # Arabic-Indic digits, which float() reads
    ],
)
def test_what_float_would_accept_but_the_parser_refuses_is_still_refused(typed, message):
    with pytest.raises(InvalidAnswer, match=message):
        parse_scalar(typed)


@pytest.mark.parametrize(("typed", "value"), [("-0", -0.0), ("+.5", 0.5), ("5.e-1", 0.5), ("007", 7.0), ("-2.5E-3", -0.0025)])
def test_plain_numbers(typed, value):
    got = parse_scalar(typed)
    assert got == value and math.copysign(1, got) == math.copysign(1, value)
