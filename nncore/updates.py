"""Gradient-descent weight updates: SGD, mini-batch GD, weight decay, gradient clipping, training.

Every update follows CS 457 (002) exactly, written in the MIT matrix notation of `nncore.network`:
    SGD (one example):     w_ij <- w_ij - α Δ_j a_i               (biases: a_0 = 1)
    mini-batch GD:         w_ij <- w_ij - α (1/|B|) Σ_e Δ_j^(e) a_i^(e)
    weight decay (07-4d):  w_ij <- w_ij - α Δ_j a_i - 2αλ w_ij
    clipping (000/004):    ∇ <- τ ∇ / ‖∇‖ when ‖∇‖ > τ (‖∇‖ over every weight and bias gradient)
All gradients of a step are computed from the weights of that step before any layer is updated,
and the caller's network is never modified: each step returns a new `Network`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nncore.losses import Loss, get_loss
from nncore.network import Gradients, Layer, Network, backward, forward
from nncore.validation import as_array, as_columns, check_positive, shape_str

# --- validation ------------------------------------------------------------------------------------


def check_learning_rate(lr) -> float:
    """α must be a finite positive number."""
    return check_positive(lr, "learning rate α")


def check_lambda(lam) -> float:
    """λ must be a finite number >= 0."""
    return check_positive(lam, "weight decay λ", allow_zero=True)


def check_tau(tau) -> float:
    """The clipping threshold τ must be a finite positive number."""
    return check_positive(tau, "clipping threshold τ")


def _check_count(value, name: str) -> int:
    """A positive int (bool and floats such as 3.0 are refused: counts are exact)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def _check_network(net) -> Network:
    if not isinstance(net, Network):
        raise ValueError(f"expected a nncore.network.Network, got {type(net).__name__}")
    return net


def as_dataset(net: Network, X, Y) -> tuple[np.ndarray, np.ndarray]:
    """Data as columns: X is n_0 x n, Y is n_L x n (same n).

    A flat vector is one example, except that a single-input (n_0 = 1) or single-output
    (n_L = 1) network also takes a flat vector of n values as n examples.
    """
    n0, nL = net.sizes[0], net.sizes[-1]
    X = _as_data(X, "inputs X", n0)
    Y = _as_data(Y, "targets Y", nL)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"inputs X ({shape_str(X.shape)}) and targets Y ({shape_str(Y.shape)}) must have "
            f"the same number of examples (columns)"
        )
    return X, Y


def _as_data(value, name: str, rows: int) -> np.ndarray:
    array = as_array(value, name)
    if rows == 1 and array.ndim == 1 and array.size > 1:
        return array.reshape(1, -1)
    return as_columns(array, name, rows)


def _single_example(net: Network, x, y) -> tuple[np.ndarray, np.ndarray]:
    X, Y = as_dataset(net, x, y)
    if X.shape[1] != 1:
        raise ValueError(
            f"an SGD step uses one example, got {X.shape[1]} columns; use minibatch_step for a batch"
        )
    return X, Y


# --- gradients and their norm ------------------------------------------------------------------------


def gradient_norm(grads: Gradients) -> float:
    """Global L2 norm ‖∇‖ over every dW^l and dW_0^l (all weights and biases together)."""
    total = 0.0
    for dW, dW0 in zip(grads.dW[1:], grads.dW0[1:], strict=True):
        total += float(np.sum(dW**2)) + float(np.sum(dW0**2))
    return float(np.sqrt(total))


def clip_by_norm(grads: Gradients, tau) -> tuple[Gradients, float]:
    """Gradient clipping: ∇ <- τ ∇ / ‖∇‖ if ‖∇‖ > τ, else ∇ unchanged. Returns (copy, ‖∇‖).

    Only the parameter gradients dW, dW0 are rescaled (that is ∇ in the notes); Δ^l and ∂L/∂A^l
    are copied unchanged. `extra["clip_scale"]` holds the factor used (1.0 when not clipped).
    """
    tau = check_tau(tau)
    norm = gradient_norm(grads)
    scale = tau / norm if norm > tau else 1.0
    clipped = _copy_gradients(grads)
    if scale != 1.0:
        clipped.dW = [None] + [dW * scale for dW in clipped.dW[1:]]
        clipped.dW0 = [None] + [dW0 * scale for dW0 in clipped.dW0[1:]]
    clipped.extra.update({"clip_norm": norm, "clip_scale": scale, "clip_tau": tau})
    return clipped, norm


def _copy_gradients(grads: Gradients) -> Gradients:
    def copy_list(items: list) -> list:
        return [None if item is None else np.array(item, copy=True) for item in items]

    return Gradients(
        copy_list(grads.delta),
        copy_list(grads.dW),
        copy_list(grads.dW0),
        copy_list(grads.dA),
        grads.loss,
        dict(grads.extra),
    )


def compute_gradients(net: Network, X, Y, loss: Loss | str = "squared") -> Gradients:
    """Forward + backward on a batch of columns: dW^l, dW_0^l are batch means (002's rule)."""
    net = _check_network(net)
    X, Y = as_dataset(net, X, Y)
    return backward(net, forward(net, X), Y, get_loss(loss))


# --- one update ----------------------------------------------------------------------------------------


def apply_gradients(
    net: Network, grads: Gradients, lr, *, lam=0.0, include_bias: bool = True
) -> Network:
    """New network with w <- w - α ∇ - 2αλ w for every layer, all from the current weights.

    The decay term (written as in 002, not folded into ∇) is skipped when λ = 0, and applied to
    the biases W_0 only when `include_bias` (002 sums λ over every edge in A, dummy edges too).
    """
    net = _check_network(net)
    lr = check_learning_rate(lr)
    lam = check_lambda(lam)
    if len(grads.dW) != net.depth + 1 or len(grads.dW0) != net.depth + 1:
        raise ValueError(
            f"gradients have {len(grads.dW) - 1} layers but the network has {net.depth}"
        )
    layers = []
    for l, layer in enumerate(net.layers, start=1):
        dW, dW0 = np.asarray(grads.dW[l]), np.asarray(grads.dW0[l])
        if dW.shape != layer.W.shape or dW0.shape != layer.W0.shape:
            raise ValueError(
                f"gradient of layer {l} has shapes {shape_str(dW.shape)} / {shape_str(dW0.shape)}, "
                f"but W^{l} is {shape_str(layer.W.shape)} and W_0^{l} is {shape_str(layer.W0.shape)}"
            )
        W = layer.W - lr * dW
        W0 = layer.W0 - lr * dW0
        if lam > 0.0:
            W = W - 2.0 * lr * lam * layer.W
            if include_bias:
                W0 = W0 - 2.0 * lr * lam * layer.W0
        layers.append(Layer(W, W0, layer.activation, layer.skip))
    return Network(layers)


def _step(
    net: Network,
    X: np.ndarray,
    Y: np.ndarray,
    loss: Loss,
    lr: float,
    lam: float,
    include_bias: bool,
    clip: float | None,
) -> tuple[Network, Gradients]:
    grads = backward(net, forward(net, X), Y, loss)
    if clip is not None:
        grads, _ = clip_by_norm(grads, clip)
    return apply_gradients(net, grads, lr, lam=lam, include_bias=include_bias), grads


def sgd_step(net: Network, x, y, loss: Loss | str, lr, *, clip=None) -> tuple[Network, Gradients]:
    """One SGD step on one example: w_ij <- w_ij - α Δ_j a_i (biases with a_0 = 1).

    With `clip=τ` the gradient is first clipped to norm τ. Returns (new network, gradients used).
    """
    net = _check_network(net)
    X, Y = _single_example(net, x, y)
    lr = check_learning_rate(lr)
    clip = None if clip is None else check_tau(clip)
    return _step(net, X, Y, get_loss(loss), lr, 0.0, True, clip)


def minibatch_step(
    net: Network, X, Y, loss: Loss | str, lr, *, clip=None
) -> tuple[Network, Gradients]:
    """One mini-batch GD step: w_ij <- w_ij - α (1/|B|) Σ_{e∈B} Δ_j^(e) a_i^(e).

    X is n_0 x |B| (columns are examples), Y is n_L x |B|.
    """
    net = _check_network(net)
    X, Y = as_dataset(net, X, Y)
    lr = check_learning_rate(lr)
    clip = None if clip is None else check_tau(clip)
    return _step(net, X, Y, get_loss(loss), lr, 0.0, True, clip)


def weight_decay_step(
    net: Network,
    x,
    y,
    loss: Loss | str,
    lr,
    lam,
    include_bias: bool = True,
    *,
    clip=None,
) -> tuple[Network, Gradients]:
    """SGD with weight decay (002, 07-4d): w_ij <- w_ij - α Δ_j a_i - 2αλ w_ij.

    This is gradient descent on ℓ + λ Σ_{(i,j)∈A} w_ij². CS 457's sum runs over every edge of A,
    which includes the dummy neuron's bias edges, hence `include_bias=True`; MIT-style courses
    usually leave the biases W_0 undecayed (`include_bias=False`). `x` may be one example or a
    batch of columns (then Δ_j a_i is the batch mean). A `clip=τ` clips the loss gradient only,
    before the decay term is added (as PyTorch's clip_grad_norm_ + weight_decay do).
    The returned gradients are those of the loss (without 2λw).
    """
    net = _check_network(net)
    X, Y = as_dataset(net, x, y)
    lr = check_learning_rate(lr)
    lam = check_lambda(lam)
    clip = None if clip is None else check_tau(clip)
    return _step(net, X, Y, get_loss(loss), lr, lam, bool(include_bias), clip)


# --- training ----------------------------------------------------------------------------------------


@dataclass
class TrainingRecord:
    """Everything `train` did, indexed by iteration t as in 002's w^(t).

    networks[t] holds w^(t) (networks[0] is a copy of the start, networks[T] the result);
    batches[t], gradients[t] and batch_losses[t] belong to step t, which maps w^(t) to w^(t+1)
    (batch_losses[t] is the mean loss of batch t at w^(t)); costs[t] is the unregularised mean
    loss J(w^(t)) over all the data, objectives[t] adds λ Σ w² (equal to costs when λ = 0).
    """

    networks: list[Network]
    batches: list[list[int]]
    gradients: list[Gradients]
    batch_losses: list[float]
    costs: list[float]
    objectives: list[float]
    settings: dict = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.gradients)

    @property
    def final(self) -> Network:
        return self.networks[-1]

    def weights(self, t: int) -> list[np.ndarray]:
        """[W^1, ..., W^L] after t steps."""
        return [layer.W.copy() for layer in self.networks[t].layers]

    def biases(self, t: int) -> list[np.ndarray]:
        """[W_0^1, ..., W_0^L] after t steps."""
        return [layer.W0.copy() for layer in self.networks[t].layers]


def check_order(order, n: int) -> list[int]:
    """The example order: a non-empty list of column indices in 0..n-1 (default 0..n-1)."""
    if order is None:
        return list(range(n))
    if isinstance(order, (str, bytes)) or not isinstance(order, (Sequence, np.ndarray)):
        raise ValueError(f"order must be a list of example indices, got {type(order).__name__}")
    result = []
    for position, index in enumerate(order):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
            raise ValueError(f"order[{position}] must be an integer index, got {index!r}")
        if not 0 <= index < n:
            raise ValueError(
                f"order[{position}] = {index} is out of range: there are {n} examples (0..{n - 1})"
            )
        result.append(int(index))
    if not result:
        raise ValueError("order must contain at least one example index")
    return result


def train(
    net: Network,
    X,
    Y,
    loss: Loss | str,
    lr,
    steps: int,
    order=None,
    batch_size: int = 1,
    lam=0.0,
    clip=None,
    *,
    include_bias: bool = True,
) -> TrainingRecord:
    """Run `steps` gradient steps, visiting examples in `order` (column indices, cycled).

    Step t uses the next `batch_size` indices of the cycled order, so order [0, 1, 2] with
    batch_size 2 gives batches [0, 1], [2, 0], [1, 2], ... (batch_size 1 is 002's SGD loop with
    a fixed permutation L). Each step is `weight_decay_step` (plain SGD / mini-batch when λ = 0)
    with optional clipping; deterministic: no randomness is used.
    """
    net = _check_network(net)
    X, Y = as_dataset(net, X, Y)
    loss = get_loss(loss)
    lr = check_learning_rate(lr)
    steps = _check_count(steps, "steps")
    batch_size = _check_count(batch_size, "batch_size")
    lam = check_lambda(lam)
    clip = None if clip is None else check_tau(clip)
    order = check_order(order, X.shape[1])
    if batch_size > len(order):
        raise ValueError(
            f"batch_size {batch_size} is larger than the example order ({len(order)} indices)"
        )
    include_bias = bool(include_bias)

    def cost(current: Network) -> tuple[float, float]:
        value = backward(current, forward(current, X), Y, loss).loss
        params = [layer.W for layer in current.layers]
        if include_bias:
            params += [layer.W0 for layer in current.layers]
        return value, value + lam * sum(float(np.sum(p**2)) for p in params)

    current = net.copy()
    networks, batches, gradients, batch_losses = [current], [], [], []
    first_cost, first_objective = cost(current)
    costs, objectives = [first_cost], [first_objective]
    position = 0
    for _ in range(steps):
        batch = [order[(position + k) % len(order)] for k in range(batch_size)]
        position = (position + batch_size) % len(order)
        current, grads = _step(current, X[:, batch], Y[:, batch], loss, lr, lam, include_bias, clip)
        networks.append(current)
        batches.append(batch)
        gradients.append(grads)
        batch_losses.append(float(grads.loss))
        c, o = cost(current)
        costs.append(c)
        objectives.append(o)
    settings = {
        "loss": loss.name,
        "lr": lr,
        "steps": steps,
        "order": order,
        "batch_size": batch_size,
        "lam": lam,
        "clip": clip,
        "include_bias": include_bias,
    }
    return TrainingRecord(networks, batches, gradients, batch_losses, costs, objectives, settings)


__all__ = [
    "TrainingRecord",
    "apply_gradients",
    "as_dataset",
    "check_order",
    "clip_by_norm",
    "compute_gradients",
    "gradient_norm",
    "minibatch_step",
    "sgd_step",
    "train",
    "weight_decay_step",
]
