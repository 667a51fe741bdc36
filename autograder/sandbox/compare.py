"""Compare a run's outputs with the reference, outside the sandbox, without being fooled.

The outputs are plain float64 base arrays rebuilt by frames.parse_stream, so no student method can
run here. What remains are numeric traps, checked before any tolerance arithmetic:
- the number of outputs and every shape must match exactly (np.allclose would accept a wrong shape
  that broadcasts, e.g. a scalar against a vector);
- non-finite values must sit exactly where the reference has them, with the same sign for
  infinities (`not (abs(got - exp) > tol).any()` accepts all-NaN; NaN compares false);
- finite values: |got - exp| <= atol + rtol * |exp| everywhere, written so NaN cannot pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def outputs_match(
    got: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    *,
    rtol: float = 1e-7,
    atol: float = 1e-9,
) -> bool:
    """True only when every output has the reference's exact shape and matches within tolerance."""
    if len(got) != len(expected):
        return False
    return all(
        array_matches(g, e, rtol=rtol, atol=atol) for g, e in zip(got, expected, strict=True)
    )


def array_matches(got: np.ndarray, expected, *, rtol: float = 1e-7, atol: float = 1e-9) -> bool:
    if type(got) is not np.ndarray or got.dtype != np.float64:
        return False
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return False
    exp_finite = np.isfinite(expected)
    got_finite = np.isfinite(got)
    if not np.array_equal(exp_finite, got_finite):
        return False
    exp_nan = np.isnan(expected)
    if not np.array_equal(exp_nan, np.isnan(got)):
        return False
    infinite = ~exp_finite & ~exp_nan
    if not np.array_equal(got[infinite], expected[infinite]):
        return False
    g, e = got[exp_finite], expected[exp_finite]
    with np.errstate(over="ignore", invalid="ignore"):
        within = np.abs(g - e) <= atol + rtol * np.abs(e)
    return bool(np.all(within))
