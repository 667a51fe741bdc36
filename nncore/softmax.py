"""Softmax helpers on a logit vector z (001: the last layer of a K-class network).

g = softmax(z) = exp(z_k) / Σ_i exp(z_i); the predicted class is argmax_k z_k (0-based); the
cross-entropy (001's NLLM) of a target y is L = -Σ_k y_k log g_k, with ∂L/∂z = g - y, and the
softmax Jacobian is ∂g/∂z = diag(g) - g g^T.

z is one column (a length-K vector, or K x 1) or a K x B batch of columns. Everything is computed
from the logits in shifted / log-sum-exp form, so z = (1000, 0) or (1000, 1000) neither
overflows nor gives NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

from nncore.activations import softmax as _column_softmax
from nncore.validation import as_array, shape_str

# Tolerance for a target vector y summing to 1 (one-hot or probability vector).
_SUM_TOL = 1e-8


def _logits(z) -> np.ndarray:
    """z as a finite float64 vector (K) or matrix (K x B) with K >= 1, or a ValueError."""
    z = as_array(z, "logits z")
    if z.ndim not in (1, 2):
        raise ValueError(
            f"logits z must be a vector of K entries or a KxB matrix, got shape {shape_str(z.shape)}"
        )
    if z.size == 0:
        raise ValueError(f"logits z must not be empty (got shape {shape_str(z.shape)})")
    return z


def logsumexp(z) -> float | np.ndarray:
    """log Σ_k exp(z_k) per column, as max(z) + log Σ exp(z - max(z)) so it never overflows."""
    z = _logits(z)
    top = np.max(z, axis=0)
    value = top + np.log(np.sum(np.exp(z - top), axis=0))
    return float(value) if z.ndim == 1 else value


def probabilities(z) -> np.ndarray:
    """softmax(z): the class probabilities g_k = exp(z_k) / Σ_i exp(z_i), same shape as z."""
    return _column_softmax(_logits(z))


def log_probabilities(z) -> np.ndarray:
    """log softmax(z) = z - logsumexp(z), finite even where softmax(z) underflows to 0."""
    z = _logits(z)
    return z - logsumexp(z)


def predicted_class(z) -> int | np.ndarray:
    """argmax_k z_k, 0-based (an int for a vector, one int per column for a KxB matrix).

    On a tie the LOWEST index wins (numpy's argmax); use `is_tie` to detect one. Problem
    generators avoid ties, so a grader never depends on this choice.
    """
    z = _logits(z)
    winner = np.argmax(z, axis=0)
    return int(winner) if z.ndim == 1 else winner


def is_tie(z, tol: float = 0.0) -> bool | np.ndarray:
    """True when the two largest logits differ by at most `tol` (the argmax is not unique).

    A single logit (K = 1) is never a tie. For a KxB matrix the answer is per column.
    """
    z = _logits(z)
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tie tolerance must be a non-negative number, got {tol}")
    if z.shape[0] == 1:
        tied = np.zeros(z.shape[1:], dtype=bool)
    else:
        top_two = np.sort(z, axis=0)[-2:]
        tied = (top_two[1] - top_two[0]) <= tol
    return bool(tied) if z.ndim == 1 else tied


def cross_entropy(z, y) -> float | np.ndarray:
    """L = -Σ_k y_k log softmax(z)_k = logsumexp(z) - Σ_k y_k z_k (for Σ_k y_k = 1).

    y is a class index (0..K-1) or a one-hot / probability vector of length K; for a KxB
    matrix z, y is a list of B class indices or a KxB matrix. Returns a float, or one loss per
    column.
    """
    z = _logits(z)
    loss = logsumexp(z) - np.sum(_target(z, y) * z, axis=0)
    return float(loss) if z.ndim == 1 else loss


def cross_entropy_gradient(z, y) -> np.ndarray:
    """∂L/∂z = softmax(z) - y for the cross-entropy L above (same shape as z)."""
    z = _logits(z)
    return _column_softmax(z) - _target(z, y)


def softmax_jacobian(z) -> np.ndarray:
    """∂g/∂z = diag(g) - g g^T for one column z (K or Kx1): entry (i, k) = ∂g_i/∂z_k."""
    z = _logits(z)
    if z.ndim == 2:
        if z.shape[1] != 1:
            raise ValueError(
                f"softmax_jacobian takes one column z (K or Kx1), got shape {shape_str(z.shape)}"
            )
        z = z[:, 0]
    g = _column_softmax(z)
    return np.diag(g) - np.outer(g, g)


def _target(z: np.ndarray, y) -> np.ndarray:
    """The target y as an array shaped like z (class indices become one-hot columns)."""
    K = z.shape[0]
    if z.ndim == 1:
        if _is_scalar(y):
            return _one_hot_column(class_index(y, K), K)
        target = as_array(y, "target y")
        if target.ndim != 1 or target.shape[0] != K:
            raise ValueError(
                f"target y must be a class index or a vector of K = {K} entries like z, "
                f"got shape {shape_str(target.shape)} ({target.size} entries)"
            )
        _check_distribution(target, "target y")
        return target
    B = z.shape[1]
    array = np.asarray(y)
    if array.ndim == 1:
        if array.shape[0] != B:
            raise ValueError(
                f"class labels y must have one entry per column of z: z is {shape_str(z.shape)} "
                f"(B = {B}), y has {array.shape[0]}"
            )
        labels = [class_index(label, K) for label in array.tolist()]
        target = np.zeros((K, B))
        target[labels, np.arange(B)] = 1.0
        return target
    target = as_array(y, "target y")
    if target.shape != z.shape:
        raise ValueError(
            f"target y must be {shape_str(z.shape)} like z (or B class indices), "
            f"got {shape_str(target.shape)}"
        )
    _check_distribution(target, "target y")
    return target


def _is_scalar(y) -> bool:
    return np.ndim(y) == 0


def class_index(value, K: int, name: str = "class index y") -> int:
    """`value` as an int in 0..K-1 (integral floats such as 2.0 are accepted), or a ValueError."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer, got the boolean {value}")
    if isinstance(value, np.ndarray):
        value = value.item()
    if isinstance(value, numbers.Integral):
        index = int(value)
    elif isinstance(value, numbers.Real) and np.isfinite(value) and float(value).is_integer():
        index = int(value)
    else:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= index < K:
        raise ValueError(f"{name} must be in 0..{K - 1} (K = {K} classes), got {index}")
    return index


def _one_hot_column(index: int, K: int) -> np.ndarray:
    target = np.zeros(K)
    target[index] = 1.0
    return target


def _check_distribution(target: np.ndarray, name: str) -> None:
    """A target must be non-negative and sum to 1 per column, else g - y is not ∂L/∂z."""
    if np.any(target < 0):
        raise ValueError(f"{name} must be non-negative (a one-hot or probability vector)")
    sums = np.sum(target, axis=0)
    if np.any(np.abs(sums - 1.0) > _SUM_TOL):
        raise ValueError(
            f"{name} must sum to 1 (a one-hot or probability vector), got sum(s) "
            f"{np.round(np.atleast_1d(sums), 10).tolist()}"
        )
