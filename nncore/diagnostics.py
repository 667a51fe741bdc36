"""Diagnostics behind exam questions on training problems: dead ReLUs, vanishing gradients,
collapsing linear nets, parameter counts, dropout, batch normalisation and residual connections.

Notation follows the notes: layers l = 1..L with Z^l = (W^l)^T A^{l-1} + W_0^l (MIT 6.390),
neurons numbered as in CS 457 (dummy 0, inputs 1..n_0, then layer by layer; `nncore.notation`),
data as columns (features x batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from nncore.cancellation import snap_cancelled, snap_to_zero
from nncore.losses import Loss, get_loss
from nncore.network import Gradients, Network, backward, forward, output_delta
from nncore.notation import neuron_of
from nncore.validation import as_array, as_columns, as_scalar, check_positive, shape_str

# --- dead ReLU units ---------------------------------------------------------------------------


class DeadUnit(NamedTuple):
    """A ReLU unit that gets zero gradient on every example: layer l, 0-based index, neuron j."""

    layer: int
    index: int
    neuron: int


def dead_relu_units(
    net: Network, X, *, zero_is_dead: bool | None = None, include_output: bool = False
) -> list[DeadUnit]:
    """ReLU units whose pre-activation z is dead (ReLU'(z) = 0) for EVERY example in X (columns).

    Such a unit's incoming weights W^l_{:,c} and bias get zero gradient (000's and 004's "dead
    ReLU"). z < 0 is always dead; z = 0 counts when `zero_is_dead` is True, and when it is None
    (default) it counts iff the layer's ReLU'(0) convention (`prime_at_zero`) is 0 — the MIT
    default ReLU'(0) = 1 keeps such a unit alive. Only hidden layers are checked unless
    `include_output` (000's ReLU output g = ReLU(z^2)). Leaky ReLU never dies and is skipped.
    A layer with a skip connection still passes A^{l-1} on, but its dead units' own weights get
    zero gradient, so they are reported too.
    """
    trace = forward(net, X)
    sizes = net.sizes
    last = net.depth if include_output else net.depth - 1
    dead: list[DeadUnit] = []
    for l in range(1, last + 1):
        activation = net.layer(l).activation
        if activation.name != "relu":
            continue
        if zero_is_dead is None:
            counts_zero = activation.params.get("prime_at_zero", 1.0) == 0.0
        else:
            counts_zero = bool(zero_is_dead)
        z = trace.Z[l]
        is_dead = (z <= 0.0) if counts_zero else (z < 0.0)
        for c in np.flatnonzero(np.all(is_dead, axis=1)):
            dead.append(DeadUnit(l, int(c), neuron_of(sizes, l, int(c))))
    return dead


# --- vanishing gradients along a chain ---------------------------------------------------------


@dataclass(frozen=True)
class ChainProduct:
    """002's Δ_2 = [g'(in_2)w_{2,3}] ... [g'(in_L)(-2(y - a_L))] for a chain 1-2-...-(L+1).

    neurons[k] is the unit of layer k+1 (neuron k+2); derivatives[k] = g'(in_j) for it;
    weights[k] = w_{j,j+1} (one fewer); factors = the hidden factors g'(in_j) w_{j,j+1} then the
    output factor Δ_{L+1} = g'(in_{L+1}) ∂L/∂a_{L+1}; deltas[k] = Δ_j (suffix products);
    product = Δ_2; first_weight_gradient = ∂L/∂w_{1,2} = Δ_2 a_1. loss_gradient = ∂L/∂g
    (None for sigmoid + nll, whose output Δ is g - y directly).
    """

    neurons: tuple[int, ...]
    derivatives: np.ndarray
    weights: np.ndarray
    factors: np.ndarray
    output_factor: float
    loss_gradient: float | None
    deltas: np.ndarray
    product: float
    first_weight_gradient: float


def vanishing_gradient_product(net: Network, x, y, loss: Loss | str = "squared") -> ChainProduct:
    """Factor Δ_2 of a chain network (every layer, input included, of width 1) for one example.

    Follows 002 lecture 07-3d: Δ_j = g'(in_j) w_{j,j+1} Δ_{j+1}, output Δ = g'(in)(-2(y - a)).
    Skip connections are refused (they add 1 to a factor, which is the point of them).
    """
    sizes = net.sizes
    for l, n in enumerate(sizes):
        if n != 1:
            what = "the input" if l == 0 else f"layer {l}"
            raise ValueError(
                f"a chain network needs width 1 everywhere; {what} has {n} units "
                f"(sizes {'-'.join(map(str, sizes))})"
            )
    for l, layer in enumerate(net.layers, start=1):
        if layer.skip:
            raise ValueError(f"layer {l} has a skip connection; the chain product assumes none")
    x_col = as_columns(x, "input x", 1)
    if x_col.shape[1] != 1:
        raise ValueError(f"give one example x (a single number), got a batch of {x_col.shape[1]}")
    trace = forward(net, x_col)
    delta_out, grad_g = output_delta(net, trace, y, get_loss(loss))
    L = net.depth
    derivatives = np.array(
        [float(net.layer(l).activation.derivative(trace.Z[l])[0, 0]) for l in range(1, L + 1)]
    )
    weights = np.array([float(net.layer(l + 1).W[0, 0]) for l in range(1, L)])
    output_factor = float(delta_out[0, 0])
    factors = np.append(derivatives[:-1] * weights, output_factor)
    deltas = np.cumprod(factors[::-1])[::-1].copy()
    product = float(deltas[0])
    return ChainProduct(
        neurons=tuple(neuron_of(sizes, l, 0) for l in range(1, L + 1)),
        derivatives=derivatives,
        weights=weights,
        factors=factors,
        output_factor=output_factor,
        loss_gradient=None if grad_g is None else float(grad_g[0, 0]),
        deltas=deltas,
        product=product,
        first_weight_gradient=product * float(x_col[0, 0]),
    )


def sigmoid_derivative_bound(k: int) -> float:
    """0.25^k: the largest a product of k sigmoid derivatives σ'(t) = σ(t)(1 - σ(t)) can be."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer number of factors, got {k!r}")
    return 0.25 ** int(k)


# --- a network of linear units is one linear unit ----------------------------------------------


def linear_collapse(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The single layer (W, W_0) computing the same function as a net of identity units.

    Z^L = W^T x + W_0 with W = W^1 W^2 ... W^L (n_0 x n_L) and W_0 built up layer by layer as
    W_0 <- (W^l)^T W_0 + W_0^l (003: "network of linear units = single linear unit"). A linear
    layer with a skip connection, A^l = Z^l + A^{l-1}, contributes W^l + I.
    """
    return linear_collapse_through(net)[-1]


def linear_collapse_through(net: Network) -> list[tuple[np.ndarray, np.ndarray]]:
    """`linear_collapse` of the first l layers, for l = 1..L (the worked solution's rows);
    products that cancel to rounding noise are exactly 0."""
    W_eq = np.eye(net.sizes[0])
    W0_eq = np.zeros((net.sizes[0], 1))
    out = []
    for l, layer in enumerate(net.layers, start=1):
        if layer.activation.name != "identity":
            raise ValueError(
                f"layer {l} has activation {layer.activation.name!r}, not identity; only a "
                f"network of linear units collapses to a single linear layer"
            )
        W = layer.W + np.eye(layer.n_in) if layer.skip else layer.W
        W_eq = snap_cancelled(W_eq @ W, W_eq, W)
        W0_eq = snap_cancelled(W.T @ W0_eq + layer.W0, W.T, W0_eq, layer.W0)
        out.append((W_eq, W0_eq))
    return out


# --- parameter count ---------------------------------------------------------------------------


def parameter_count(sizes: Sequence[int], bias: bool = True) -> int:
    """Σ_l n_{l-1} n_l weights (+ n_l biases) of a fully connected net with sizes [n_0, ..., n_L]."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list the input size and at least one layer, got {sizes}")
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
    weights = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return weights + (sum(int(n) for n in sizes[1:]) if bias else 0)


# --- dropout -----------------------------------------------------------------------------------


def dropout(a, mask, p_drop: float, inverted: bool = True) -> np.ndarray:
    """Apply a given keep-mask (1 = keep, 0 = drop) to activations a.

    `p_drop` is the probability of DROPPING a unit, so the keep probability is 1 - p_drop.
    Inverted dropout (002: "rescale the outputs from the surviving neurons") divides the kept
    units by 1 - p_drop so the expected activation is unchanged; otherwise a * mask is returned.
    """
    a = as_array(a, "activations a")
    mask = as_array(mask, "dropout mask")
    if mask.shape != a.shape:
        raise ValueError(
            f"dropout mask must have the same shape as the activations: a is "
            f"{shape_str(a.shape)}, mask is {shape_str(mask.shape)}"
        )
    if not np.all((mask == 0.0) | (mask == 1.0)):
        bad = mask[(mask != 0.0) & (mask != 1.0)]
        raise ValueError(f"dropout mask entries must be 0 (drop) or 1 (keep), got {bad[0]:g}")
    p_drop = as_scalar(p_drop, "p_drop")
    if not 0.0 <= p_drop < 1.0:
        raise ValueError(f"p_drop (probability of dropping a unit) must be in [0, 1), got {p_drop}")
    kept = a * mask
    return kept / (1.0 - p_drop) if inverted else kept


# --- batch normalisation -----------------------------------------------------------------------


class BatchNormResult(NamedTuple):
    """Normalised activations â (n x |B|), batch means μ and biased variances σ^2 (n x 1)."""

    A_hat: np.ndarray
    mu: np.ndarray
    var: np.ndarray


def batch_norm(A, gamma, beta, eps: float) -> BatchNormResult:
    """002's batch normalisation over a mini-batch B (columns of A are the examples).

    â_j^(e) = γ (a_j^(e) - μ_j) / sqrt(ε + σ_j^2) + β, with μ_j and σ_j^2 = (1/|B|) Σ_e
    (a_j^(e) - μ_j)^2 per unit j. γ and β are one number for all units or one per unit.
    """
    A = as_array(A, "activations A")
    if A.ndim != 2 or A.shape[1] == 0:
        raise ValueError(
            f"activations A must be a units x batch matrix (a 1xB row for one unit), "
            f"got shape {shape_str(A.shape)}"
        )
    n = A.shape[0]
    gamma = _per_unit(gamma, "gamma", n)
    beta = _per_unit(beta, "beta", n)
    eps = check_positive(eps, "eps", allow_zero=True)
    mu = snap_to_zero(np.mean(A, axis=1, keepdims=True), np.mean(np.abs(A), axis=1, keepdims=True))
    centred = batch_centred(A, mu)
    var = np.mean(centred**2, axis=1, keepdims=True)
    denom = eps + var
    if np.any(denom <= 0.0):
        units = (np.flatnonzero(denom[:, 0] <= 0.0) + 1).tolist()
        raise ValueError(
            f"eps + σ^2 is 0 for unit(s) {units} (constant over the batch); use eps > 0"
        )
    A_hat = gamma * centred / np.sqrt(denom) + beta
    return BatchNormResult(A_hat, mu, var)


def batch_centred(A: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """A - μ, with an example equal to the mean on paper exactly 0 (nncore.cancellation)."""
    return snap_to_zero(A - mu, np.abs(A) + np.abs(mu))


def _per_unit(value, name: str, n: int) -> np.ndarray:
    """A scalar or a length-n (or n x 1) vector as an n x 1 column (a scalar broadcasts)."""
    array = as_array(value, name)
    if array.size == 1 and array.ndim <= 2:
        return array.reshape(1, 1)
    if array.shape in ((n,), (n, 1)):
        return array.reshape(n, 1)
    raise ValueError(
        f"{name} must be one number or one per unit ({n}), got shape {shape_str(array.shape)}"
    )


# --- residual connections ----------------------------------------------------------------------


class ResidualGradients(NamedTuple):
    """Backward passes of a net with its skip connections and of the same net without them."""

    with_skip: Gradients
    without_skip: Gradients


def residual_gradient(net: Network, x, y, loss: Loss | str = "squared") -> ResidualGradients:
    """Gradients with and without the skip connections (000: g = a^1 + ReLU(z^2)).

    With the skip, ∂L/∂A^{l-1} gets the extra term ∂L/∂A^l, so earlier weights still get a
    gradient when ReLU(z^l) is dead; without it they do not.
    """
    if not any(layer.skip for layer in net.layers):
        raise ValueError("the network has no skip connection to compare against")
    plain = net.copy()
    for layer in plain.layers:
        layer.skip = False
    return ResidualGradients(
        with_skip=backward(net, forward(net, x), y, loss),
        without_skip=backward(plain, forward(plain, x), y, loss),
    )
