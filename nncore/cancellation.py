"""Sums that cancel to rounding noise are exactly 0.

Hand-sized exercises use decimal numbers whose sums are often exactly 0 on paper but come out
as ±1e-16 in binary (-0.3 + 1 - 0.7 = 5.55e-17): a worked solution then shows 5.551e-17 where
the board has 0. A result at or below the rounding error of the sum that produced it is as
close to 0 as the arithmetic can tell, so it is set to 0.0. Only tiny results are looked at,
so the usual computation pays one comparison per entry.
"""

from __future__ import annotations

import numpy as np

NOISE_CEILING = 1e-9  # results at least this large are never touched
CANCELLATION_BOUND = 64 * float(np.finfo(np.float64).eps)  # x the magnitude of the terms summed


def cancelled(value, scale):
    """Whether `value` (entrywise) is rounding noise of a sum of terms of total magnitude
    `scale`: below NOISE_CEILING and within CANCELLATION_BOUND x `scale`."""
    magnitude = np.abs(value)
    return (magnitude < NOISE_CEILING) & (magnitude <= CANCELLATION_BOUND * scale)


def snap_to_zero(value: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`value` with every entry within CANCELLATION_BOUND x `scale` (the summed magnitude of
    the terms that made it, same shape) set to 0.0; `value` itself when no entry is tiny."""
    if not has_tiny(value):
        return value
    return np.where(cancelled(value, scale), 0.0, value)


def snap_cancelled(z: np.ndarray, M: np.ndarray, a: np.ndarray, b: np.ndarray | float = 0.0) -> np.ndarray:
    """z = M @ a + b with the entries that cancelled to rounding noise set to 0.0."""
    if not has_tiny(z):
        return z
    return snap_to_zero(z, np.abs(M) @ np.abs(a) + np.abs(b))


def has_tiny(value: np.ndarray) -> bool:
    """Whether some entry is below NOISE_CEILING in magnitude: the only entries worth a look.

    The engine asks this of every layer's sums; for the hand-sized arrays it mostly sees, a
    Python pass over the entries costs a quarter of NumPy's three calls.
    """
    if value.size <= _SMALL:
        smallest = min(map(abs, value.ravel().tolist()), default=NOISE_CEILING)
        if smallest == smallest:  # a NaN met first would hide the entries after it
            return smallest < NOISE_CEILING
    return bool((np.abs(value) < NOISE_CEILING).any())


_SMALL = 16
