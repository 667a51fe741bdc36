"""Tolerance rules: rtol/atol, significant figures, intervals; shape and NaN safety."""

import numpy as np
import pytest

from autograder.answers import Tolerance
from autograder.answers.tolerance import half_unit, round_sigfigs


def ok(tolerance: Tolerance, got: float, expected: float) -> bool:
    return bool(tolerance.matches(np.array(got), np.array(expected)))


# --- relative + absolute --------------------------------------------------------------------


def test_defaults_match_prairielearn():
    assert Tolerance() == Tolerance(rtol=1e-2, atol=1e-8, sigfigs=None)


@pytest.mark.parametrize(
    ("got", "expected", "accepted"),
    [
        (0.5474, 0.547357, True),
        (0.55, 0.547357, True),  # 0.48 % off
        (0.5528, 0.547357, True),  # 0.99 % off
        (0.5529, 0.547357, False),  # 1.01 % off
        (0.56, 0.547357, False),  # 2.3 % off
        (-0.5474, 0.547357, False),  # sign error
        (101.0, 100.0, True),
        (101.01, 100.0, False),
        (99.0, 100.0, True),
        (98.99, 100.0, False),
        (0.0, 0.0, True),
        (5e-9, 0.0, True),  # atol
        (2e-8, 0.0, False),
        (1e-9, 1e-9, True),
    ],
)
def test_relative_tolerance(got, expected, accepted):
    assert ok(Tolerance(), got, expected) is accepted


def test_tight_override():
    tight = Tolerance(rtol=1e-5, atol=0.0)
    assert ok(tight, 0.54736, 0.547357)
    assert not ok(tight, 0.5474, 0.547357)


def test_zero_tolerance_is_exact_equality():
    exact = Tolerance(rtol=0.0, atol=0.0)
    assert ok(exact, 0.1 + 0.2, 0.1 + 0.2)
    assert not ok(exact, 0.3, 0.1 + 0.2)


# --- significant figures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "expected", "sigfigs", "accepted"),
    [
        (0.5474, 0.5473576, 4, True),  # sigma(0.19) as written in the notes
        (0.5473576, 0.5473576, 4, True),  # more digits than asked: fine
        (0.5473, 0.5473576, 4, False),  # truncated, not rounded: 0.58 units off
        (0.547, 0.5473576, 3, True),
        (0.5475, 0.5473576, 4, False),
        (0.55, 0.5473576, 2, True),
        (0.54, 0.5473576, 2, False),
        (0.3481, 0.34813, 4, True),
        (0.3482, 0.34813, 4, False),  # 0.7 units off
        (0.34813, 0.34813, 4, True),
        (1230.0, 1234.0, 3, True),
        (1240.0, 1234.0, 3, False),
        (-2.5e-5, -2.46e-5, 2, True),
        (-2.4e-5, -2.46e-5, 2, False),
        (2.46e-5, -2.46e-5, 2, False),
        (10.0, 9.996, 3, True),  # rounding carries into the next decade
        (9.99, 9.996, 3, False),
        (0.3483, 0.34825, 4, True),  # exactly half a unit: accepted (ties either way)
        (0.3482, 0.34825, 4, True),
        (1.0, 1.0, 1, True),
        (0.0, 0.0, 3, True),
        (5e-9, 0.0, 3, True),  # atol is the width for a reference of 0
        (1e-3, 0.0, 3, False),
        (1e-3, 1e-3, 3, True),  # exact power of ten
        (1.0005e-3, 1e-3, 4, True),
        (1.0006e-3, 1e-3, 4, False),
    ],
)
def test_significant_figures(got, expected, sigfigs, accepted):
    assert ok(Tolerance(sigfigs=sigfigs, atol=1e-8), got, expected) is accepted


def test_equal_to_the_rounded_reference_is_always_accepted():
    tolerance = Tolerance(sigfigs=2, atol=0.0)
    for expected in [0.125, 0.135, 2.5e-7, -0.0451, 9.95, 12345.0]:
        rounded = float(f"{expected:.1e}")
        assert ok(tolerance, rounded, expected), expected


@pytest.mark.parametrize(
    ("values", "sigfigs", "expected"),
    [
        (0.34813, 4, 5e-5),
        (1.0, 3, 5e-3),
        (9.99, 3, 5e-3),
        (10.0, 3, 5e-2),
        (1e-3, 1, 5e-4),
        (1e3, 2, 50.0),
        (-0.001, 2, 5e-5),
        (0.0, 3, 0.0),
    ],
)
def test_half_unit(values, sigfigs, expected):
    assert float(half_unit(np.array(values), sigfigs)) == pytest.approx(expected, rel=1e-12)


def test_half_unit_at_every_power_of_ten():
    for exponent in range(-300, 301):
        value = float(f"1e{exponent}")
        assert float(half_unit(np.array(value), 1)) == pytest.approx(0.5 * value, rel=1e-9)


def test_round_sigfigs():
    np.testing.assert_array_equal(
        round_sigfigs(np.array([[0.34813, -1234.5], [0.0, 9.996]]), 3),
        [[0.348, -1230.0], [0.0, 10.0]],
    )


# --- intervals, shapes and non-finite values -----------------------------------------------


def test_range_is_inclusive_and_widened_by_the_tolerance():
    tolerance = Tolerance(sigfigs=4, atol=0.0)
    low, high = np.array(0.34813), np.array(0.34821)
    for got, accepted in [(0.3481, True), (0.3482, True), (0.34817, True), (0.3483, False)]:
        assert bool(tolerance.matches_range(np.array(got), low, high)) is accepted


def test_shapes_must_be_equal_no_broadcasting():
    with pytest.raises(ValueError, match="shape mismatch"):
        Tolerance().matches(np.ones(3), np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape mismatch"):
        Tolerance().matches(np.ones(1), np.ones(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_answers_never_match(bad):
    for tolerance in [Tolerance(), Tolerance(sigfigs=3), Tolerance(rtol=1e300, atol=1e300)]:
        assert not ok(tolerance, bad, 1.0)
        assert not bool(tolerance.matches_range(np.array(bad), np.array(0.0), np.array(1.0)))


def test_huge_values_do_not_overflow_into_acceptance():
    assert not ok(Tolerance(), -1.7e308, 1.7e308)
    assert ok(Tolerance(), 1.7e308, 1.7e308)
    assert ok(Tolerance(sigfigs=2), 1.7e308, 1.7e308)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rtol": -0.1},
        {"atol": float("nan")},
        {"rtol": float("inf")},
        {"rtol": "0.1"},
        {"rtol": True},
        {"sigfigs": 0},
        {"sigfigs": 16},
        {"sigfigs": 2.0},
        {"sigfigs": True},
    ],
)
def test_bad_tolerances_are_programming_errors(kwargs):
    with pytest.raises(ValueError):
        Tolerance(**kwargs)


def test_coerce():
    assert Tolerance.coerce(None) == Tolerance()
    assert Tolerance.coerce({"sigfigs": 3}) == Tolerance(sigfigs=3)
    assert Tolerance.coerce({"rtol": 0.05, "atol": 0}) == Tolerance(rtol=0.05, atol=0)
    with pytest.raises(ValueError, match="unknown tolerance keys"):
        Tolerance.coerce({"reltol": 0.1})
    with pytest.raises(TypeError):
        Tolerance.coerce(0.01)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tolerance", "digits"),
    [
        (Tolerance(), 4),
        (Tolerance(sigfigs=3), 3),
        (Tolerance(rtol=1e-6), 8),
        (Tolerance(rtol=0.5), 3),
        (Tolerance(rtol=0.0), 6),
    ],
)
def test_display_digits(tolerance, digits):
    assert tolerance.display_digits == digits
