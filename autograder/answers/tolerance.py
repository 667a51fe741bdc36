"""When a number counts as equal to an expected one: relative/absolute or significant figures.

* rtol/atol (the default, as in PrairieLearn): ``|got - exp| <= atol + rtol * |exp|``.
* ``sigfigs=k``: ``got`` equals ``exp`` rounded to k significant figures, or is within half
  a unit of the k-th significant digit of ``exp`` (for exp = 0.34813 and k = 4 that unit is
  0.0001, so 0.3481 passes and 0.3482 does not). ``atol`` is a floor for this width too, so a
  reference of exactly 0 (which has no significant digits) is still matched.

All checks are entrywise on equal-shape arrays and are False wherever ``got`` is not finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_RTOL = 1e-2
DEFAULT_ATOL = 1e-8
MAX_SIGFIGS = 15
# Relative slack on the allowed width, so that binary rounding of decimal inputs
# (0.3483 - 0.34825 == 5.0000000000005e-05) does not reject a boundary answer.
_SLACK = 1e-9


@dataclass(frozen=True)
class Tolerance:
    """Relative + absolute tolerance, or a significant-figures rule when ``sigfigs`` is set."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    sigfigs: int | None = None

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if self.sigfigs is not None:
            if isinstance(self.sigfigs, bool) or not isinstance(self.sigfigs, int):
                raise ValueError(f"sigfigs must be an int, got {self.sigfigs!r}")
            if not 1 <= self.sigfigs <= MAX_SIGFIGS:
                raise ValueError(f"sigfigs must be between 1 and {MAX_SIGFIGS}")

    @classmethod
    def coerce(cls, value: Tolerance | Mapping[str, object] | None) -> Tolerance:
        """The default for None, or a Tolerance from a dict with keys rtol/atol/sigfigs."""
        if value is None:
            return cls()
        if isinstance(value, Tolerance):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"rtol", "atol", "sigfigs"}
            if unknown:
                raise ValueError(f"unknown tolerance keys: {sorted(unknown)}")
            return cls(**value)
        raise TypeError(f"expected a Tolerance or a mapping, got {type(value).__name__}")

    @property
    def display_digits(self) -> int:
        """Significant digits worth showing when an expected value is revealed."""
        if self.sigfigs is not None:
            return self.sigfigs
        if self.rtol > 0:
            return min(MAX_SIGFIGS, max(3, math.ceil(-math.log10(self.rtol)) + 2))
        return 6

    def describe(self) -> str:
        """The rule in words, for students before they submit (QA: nothing said how precise an
        answer must be, and 2 decimals of a small number cost full credit unexplained)."""
        if self.sigfigs is not None:
            return f"A number counts as right when it agrees with the exact value to {self.sigfigs} significant figures."
        if self.rtol > 0:
            percent = f"{100 * self.rtol:.3g} %"
            figures = max(1, math.ceil(1 - math.log10(2 * self.rtol) - 1e-9))
            example = f" ({0.0123456:.{figures}g}, not 0.01)" if figures > 1 else ""
            return (
                f"A number counts as right within {percent} of the exact value: keep at least {figures} "
                f"significant figures{example}."
            )
        return f"A number counts as right within {self.atol:g} of the exact value."

    def width(self, expected: np.ndarray) -> np.ndarray:
        """The largest accepted ``|got - expected|`` for each entry of ``expected``."""
        expected = np.asarray(expected, dtype=np.float64)
        if self.sigfigs is None:
            return self.atol + self.rtol * np.abs(expected)
        return np.maximum(half_unit(expected, self.sigfigs), self.atol)

    def matches(self, got: np.ndarray, expected: np.ndarray) -> np.ndarray:
        """Entrywise: is ``got`` within tolerance of ``expected``?"""
        got, expected = _same_shape(got, expected)
        with np.errstate(over="ignore", invalid="ignore"):
            ok = np.abs(got - expected) <= self.width(expected) * (1 + _SLACK)
        if self.sigfigs is not None:
            ok |= got == round_sigfigs(expected, self.sigfigs)
        return ok & np.isfinite(got)

    def matches_number(self, got: float, expected: float) -> bool:
        """:meth:`matches` for two floats; most answer fields are single numbers, and plain float
        arithmetic (the same IEEE operations) avoids NumPy's per-call cost."""
        if self.sigfigs is not None:
            return bool(self.matches(np.float64(got), np.float64(expected)))
        return math.isfinite(got) and abs(got - expected) <= self._number_width(expected)

    def matches_number_range(self, got: float, low: float, high: float) -> bool:
        """:meth:`matches_range` for floats (see :meth:`matches_number`)."""
        if self.sigfigs is not None:
            return bool(self.matches_range(np.float64(got), np.float64(low), np.float64(high)))
        above_low = got >= low - self._number_width(low)
        below_high = got <= high + self._number_width(high)
        return math.isfinite(got) and above_low and below_high

    def _number_width(self, expected: float) -> float:
        """:meth:`width` with the slack, for one float and the rtol/atol rule."""
        return (self.atol + self.rtol * abs(expected)) * (1 + _SLACK)

    def matches_range(self, got: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Entrywise: is ``got`` within tolerance of the interval ``[low, high]``?"""
        got, low = _same_shape(got, low)
        got, high = _same_shape(got, high)
        with np.errstate(over="ignore", invalid="ignore"):
            above_low = got >= low - self.width(low) * (1 + _SLACK)
            below_high = got <= high + self.width(high) * (1 + _SLACK)
        return above_low & below_high & np.isfinite(got)


def half_unit(values: np.ndarray, sigfigs: int) -> np.ndarray:
    """Half a unit in the ``sigfigs``-th significant digit of each value (0 where value is 0)."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    positive = magnitude > 0
    safe = np.where(positive, magnitude, 1.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(safe)).astype(np.int64)
    # log10 can be off by one at exact powers of ten (and NumPy's power by an ulp, so 10.0**22
    # may exceed 1e22): fix the decade against correctly rounded powers of ten.
    exponent = np.where(_pow10(exponent + 1) <= safe, exponent + 1, exponent)
    exponent = np.where(_pow10(exponent) > safe, exponent - 1, exponent)
    half = 0.5 * _pow10(exponent - sigfigs + 1)
    return np.where(positive, half, 0.0)


_POW10_MIN, _POW10_MAX = -400, 400
# 10^k correctly rounded (parsed from decimal text), for k in [_POW10_MIN, _POW10_MAX].
_POW10 = np.array([float(f"1e{k}") for k in range(_POW10_MIN, _POW10_MAX + 1)])


def _pow10(exponents: np.ndarray) -> np.ndarray:
    """Correctly rounded 10**k for integer arrays k (0 and inf beyond the float64 range)."""
    return _POW10[np.clip(exponents, _POW10_MIN, _POW10_MAX) - _POW10_MIN]


def round_sigfigs(values: np.ndarray, sigfigs: int) -> np.ndarray:
    """Each value correctly rounded to ``sigfigs`` significant figures (decimal rounding)."""
    array = np.asarray(values, dtype=np.float64)
    rounded = [float(f"{value:.{sigfigs - 1}e}") for value in array.ravel().tolist()]
    return np.array(rounded, dtype=np.float64).reshape(array.shape)


def _same_shape(got: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        # No broadcasting: a (3,) answer must never be compared against a (3, 3) reference.
        raise ValueError(f"shape mismatch: {got.shape} vs {expected.shape}")
    return got, expected
