"""Loss functions L(g, y) with ∂L/∂g, exactly as the lecture notes write them.

Arrays are outputs x batch (column per example). `value` returns the loss of each example
(shape: batch); the cost J over a batch is their mean (`mean_loss`), as in 002's J(w).

- squared: (y - g)^2 summed over the outputs, with no 1/2 (002, 000, 004); on one-hot outputs
  this is 002's sum of squared errors. ∂L/∂g = -2(y - g).
- nll: binary log loss -[y log g + (1 - y) log(1 - g)] (000's L_nll, 002's ℓ_log).
- cross_entropy: categorical -Σ_k y_k log g_k, used after softmax (001's NLLM). After softmax the
  output Δ is simply g - y; `nncore.network.backward` uses that combined form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nncore.validation import as_scalar, shape_str


@dataclass(frozen=True)
class Loss:
    """A per-example loss function identified by its name."""

    name: str

    def value(self, g: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Loss of each example (columns of g and y): an array of length batch."""
        _check_pair(g, y)
        if self.name == "squared":
            return ((y - g) ** 2).sum(axis=0)
        _check_probabilities(g, y, self.name)
        if self.name == "nll":
            return -np.sum(y * np.log(g) + (1.0 - y) * np.log(1.0 - g), axis=0)
        return -np.sum(np.where(y > 0.0, y * np.log(np.where(g > 0.0, g, 1.0)), 0.0), axis=0)

    def gradient(self, g: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂L/∂g for each example (same shape as g)."""
        _check_pair(g, y)
        if self.name == "squared":
            return -2.0 * (y - g)
        _check_probabilities(g, y, self.name)
        if self.name == "nll":
            return (g - y) / (g * (1.0 - g))
        return np.where(y > 0.0, -y / np.where(g > 0.0, g, 1.0), 0.0)

    def combined_output_activation(self) -> str | None:
        """The output activation with which ∂L/∂Z^L collapses to g - y, if any."""
        return {"nll": "sigmoid", "cross_entropy": "softmax"}.get(self.name)

    def value_from_logits(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Loss per example computed from the pre-activations Z^L, stable for saturated outputs.

        Only for the combined pairs (sigmoid + nll, softmax + cross-entropy).
        """
        _check_pair(z, y)
        if self.name == "nll":
            # -[y log σ(z) + (1-y) log(1-σ(z))] = softplus(z) - y z
            return np.sum(np.logaddexp(0.0, z) - y * z, axis=0)
        if self.name == "cross_entropy":
            m = z.max(axis=0)
            log_norm = m + np.log(np.exp(z - m).sum(axis=0))
            return -(y * z).sum(axis=0) + y.sum(axis=0) * log_norm
        raise ValueError(f"loss {self.name!r} has no logit form")

    def latex(self) -> str:
        """The loss formula as the notes write it."""
        return _LATEX[self.name]


_LATEX = {
    "squared": r"\mathcal{L}(g, y) = (y - g)^2",
    "nll": r"\mathcal{L}_{nll}(g, y) = -[y \log g + (1 - y)\log(1 - g)]",
    "cross_entropy": r"\mathcal{L}_{nllm}(g, y) = -\sum_k y_k \log g_k",
}

_ALIASES = {
    "squared": "squared",
    "square": "squared",
    "sse": "squared",
    "l2": "squared",
    "mse": "squared",
    "nll": "nll",
    "log": "nll",
    "log_loss": "nll",
    "binary_cross_entropy": "nll",
    "cross_entropy": "cross_entropy",
    "categorical_cross_entropy": "cross_entropy",
    "nllm": "cross_entropy",
}

LOSS_NAMES: tuple[str, ...] = ("squared", "nll", "cross_entropy")


def get_loss(spec: str | Loss) -> Loss:
    """Loss by name (aliases: sse, l2, log_loss, nllm, ...); unknown names list the known ones."""
    if isinstance(spec, Loss):
        return spec
    if not isinstance(spec, str) or spec.lower() not in _ALIASES:
        raise ValueError(f"unknown loss {spec!r}; known losses: {', '.join(LOSS_NAMES)}")
    return Loss(_ALIASES[spec.lower()])


def mean_loss(loss: Loss | str, g: np.ndarray, y: np.ndarray) -> float:
    """Cost J = (1/n) Σ L(g^(i), y^(i)) over the columns of g and y."""
    return float(np.mean(get_loss(loss).value(g, y)))


def weight_decay_penalty(weights: list[np.ndarray], lam: float) -> float:
    """L2 penalty λ Σ w^2 over the given weight arrays (002's regulariser, no 1/2)."""
    lam = as_scalar(lam, "lambda")
    return float(lam * sum(np.sum(w**2) for w in weights))


def weight_decay_gradient(w: np.ndarray, lam: float) -> np.ndarray:
    """∂/∂w of λ Σ w^2, which is 2λw."""
    return 2.0 * as_scalar(lam, "lambda") * np.asarray(w, dtype=np.float64)


def one_hot(labels, num_classes: int) -> np.ndarray:
    """K x n matrix whose column i is the one-hot encoding of labels[i] (classes 0..K-1)."""
    labels = np.atleast_1d(np.asarray(labels))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a list of integers, got {labels!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.tolist()}")
    out = np.zeros((num_classes, labels.size))
    out[labels, np.arange(labels.size)] = 1.0
    return out


def _check_pair(g: np.ndarray, y: np.ndarray) -> None:
    if g.shape != y.shape:
        raise ValueError(
            f"prediction and target shapes differ: g is {shape_str(g.shape)}, "
            f"y is {shape_str(y.shape)}"
        )


def _check_probabilities(g: np.ndarray, y: np.ndarray, name: str) -> None:
    """NLL needs 0 < g < 1; cross-entropy needs 0 <= g <= 1 and g > 0 wherever y > 0."""
    if name == "nll":
        bad = np.any(g <= 0.0) or np.any(g >= 1.0)
    else:
        bad = np.any(g < 0.0) or np.any(g > 1.0) or np.any((g <= 0.0) & (y > 0.0))
    if bad:
        raise ValueError(
            f"loss {name!r} needs predicted probabilities strictly inside (0, 1); got values "
            f"in [{g.min():.6g}, {g.max():.6g}] (use a sigmoid/softmax output layer)"
        )
