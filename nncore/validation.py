"""Input checks shared by the engine: turn user data into float64 arrays or fail clearly.

Every public engine function validates its inputs here so that a wrong shape or a NaN is a
ValueError naming the problem, never a broadcasting accident that returns a wrong result.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def shape_str(shape: Sequence[int]) -> str:
    """Human-readable shape such as '3x1' (a scalar is 'scalar')."""
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def as_array(value, name: str, *, ndim: int | None = None) -> np.ndarray:
    """Return `value` as a finite float64 array (a copy), or raise ValueError naming `name`."""
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}: {exc}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimension(s), got shape {shape_str(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity; only finite numbers are allowed")
    return array


def as_scalar(value, name: str) -> float:
    """Return `value` as a finite Python float, or raise ValueError naming `name`."""
    array = as_array(value, name)
    if array.size != 1:
        raise ValueError(f"{name} must be a single number, got shape {shape_str(array.shape)}")
    return float(array.reshape(()))


def as_columns(value, name: str, rows: int) -> np.ndarray:
    """Return data as a (rows, batch) matrix of column vectors.

    A flat vector of length `rows` is one example (a column). A matrix must already have
    `rows` rows (features x batch, the MIT 6.390 convention); anything else is refused.
    """
    array = as_array(value, name)
    if array.ndim == 0 and rows == 1:
        return array.reshape(1, 1)
    if array.ndim == 1:
        if array.shape[0] != rows:
            raise ValueError(
                f"{name} must have {rows} entries, got {array.shape[0]} (shape {shape_str(array.shape)})"
            )
        return array.reshape(rows, 1)
    if array.ndim == 2:
        if array.shape[0] != rows:
            raise ValueError(
                f"{name} must be {rows}xB (features x batch), got shape {shape_str(array.shape)}"
            )
        if array.shape[1] == 0:
            raise ValueError(f"{name} has an empty batch (shape {shape_str(array.shape)})")
        return array
    raise ValueError(
        f"{name} must be a vector of {rows} or a {rows}xB matrix, got shape {shape_str(array.shape)}"
    )


def check_shape(array: np.ndarray, expected: tuple[int, ...], name: str) -> None:
    """Raise ValueError stating both shapes unless `array.shape == expected`."""
    if array.shape != tuple(expected):
        raise ValueError(
            f"{name} must have shape {shape_str(expected)}, got {shape_str(array.shape)}"
        )


def check_positive(value: float, name: str, *, allow_zero: bool = False) -> float:
    """Return `value` as float if it is positive (or zero when allowed), else raise."""
    value = as_scalar(value, name)
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value
