"""Fully connected feed-forward networks in the MIT 6.390 layer/matrix notation.

Layer l (1..L) has W^l of shape n_{l-1} x n_l and W_0^l of shape n_l x 1, and computes
    Z^l = (W^l)^T A^{l-1} + W_0^l,    A^l = f^l(Z^l)      (plus A^{l-1} if the layer has a skip),
with column vectors and A^0 = x; a batch is a matrix of columns (features x batch).

`forward` returns every Z^l and A^l; `backward` returns every Δ^l = ∂L/∂Z^l (CS 457's Δ_j), the
gradient of every weight and bias (Δ_j a_i averaged over the batch, 002's mini-batch rule) and
∂L/∂x. Lists are indexed by the notes' superscript: trace.Z[l], grads.dW[l]; index 0 is None
except for trace.A[0] = x and grads.dA[0] = ∂L/∂x.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nncore.activations import Activation, get_activation
from nncore.cancellation import snap_cancelled
from nncore.losses import Loss, get_loss
from nncore.validation import as_array, as_columns, check_shape, shape_str


@dataclass(eq=False)  # arrays have no single truth value: compare with to_dict() instead
class Layer:
    """One fully connected layer: weights W (n_in x n_out), biases W0 (n_out x 1), activation f."""

    W: np.ndarray
    W0: np.ndarray
    activation: Activation
    skip: bool = False

    @property
    def n_in(self) -> int:
        return self.W.shape[0]

    @property
    def n_out(self) -> int:
        return self.W.shape[1]

    def copy(self) -> Layer:
        return Layer(self.W.copy(), self.W0.copy(), self.activation, self.skip)


@dataclass(eq=False)
class Network:
    """A feed-forward network: a list of layers whose sizes chain."""

    layers: list[Layer]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a network needs at least one layer")
        for l, layer in enumerate(self.layers, start=1):
            if l > 1 and layer.n_in != self.layers[l - 2].n_out:
                raise ValueError(
                    f"layer {l} expects {layer.n_in} inputs but layer {l - 1} has "
                    f"{self.layers[l - 2].n_out} units"
                )
            check_shape(layer.W0, (layer.n_out, 1), f"W_0^{l}")
            if not (np.all(np.isfinite(layer.W)) and np.all(np.isfinite(layer.W0))):
                raise ValueError(f"layer {l} has NaN or infinite weights; only finite numbers are allowed")
            if layer.skip and layer.n_in != layer.n_out:
                raise ValueError(
                    f"layer {l} has a skip connection, so it needs as many units as inputs; "
                    f"got {layer.n_in} inputs and {layer.n_out} units"
                )

    @property
    def sizes(self) -> list[int]:
        """[n_0, n_1, ..., n_L]: input size then units per layer."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def depth(self) -> int:
        return len(self.layers)

    def layer(self, l: int) -> Layer:
        """Layer by its 1-based number l, as the notes count."""
        if not 1 <= l <= self.depth:
            raise ValueError(f"layer number must be in 1..{self.depth}, got {l}")
        return self.layers[l - 1]

    def copy(self) -> Network:
        return Network([layer.copy() for layer in self.layers])

    def parameter_count(self) -> int:
        """Number of weights and biases."""
        return sum(layer.W.size + layer.W0.size for layer in self.layers)

    def to_dict(self) -> dict:
        """JSON-serialisable description, read back by `network_from_dict`."""
        return {
            "sizes": self.sizes,
            "layers": [
                {
                    "W": layer.W.tolist(),
                    "W0": layer.W0.reshape(-1).tolist(),
                    "activation": layer.activation.to_dict(),
                    "skip": layer.skip,
                }
                for layer in self.layers
            ],
        }


def make_network(
    weights: Sequence,
    biases: Sequence | None = None,
    activations: Sequence | str = "sigmoid",
    skips: Sequence[bool] | None = None,
) -> Network:
    """Build a network from W^1..W^L (each n_{l-1} x n_l), W_0^1..W_0^L and activations.

    Biases may be given flat (n_l,) or as columns (n_l x 1); None means zero biases. A single
    activation name applies to every layer.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise ValueError("weights must be a non-empty list of matrices W^1..W^L")
    depth = len(weights)
    if isinstance(activations, (str, dict, Activation)):
        activations = [activations] * depth
    if len(activations) != depth:
        raise ValueError(f"got {depth} weight matrices but {len(activations)} activations")
    if biases is not None and len(biases) != depth:
        raise ValueError(f"got {depth} weight matrices but {len(biases)} bias vectors")
    if skips is not None and len(skips) != depth:
        raise ValueError(f"got {depth} weight matrices but {len(skips)} skip flags")
    layers = []
    for l in range(1, depth + 1):
        W = as_array(weights[l - 1], f"W^{l}")
        if W.ndim != 2:
            raise ValueError(f"W^{l} must be a matrix (n_{l - 1} x n_{l}), got shape {shape_str(W.shape)}")
        if biases is None:
            W0 = np.zeros((W.shape[1], 1))
        else:
            W0 = as_array(biases[l - 1], f"W_0^{l}")
            if W0.shape in ((W.shape[1],), (W.shape[1], 1)):
                W0 = W0.reshape(-1, 1)
            else:
                raise ValueError(
                    f"W_0^{l} must have shape {W.shape[1]}x1 to match W^{l} "
                    f"({shape_str(W.shape)}), got {shape_str(W0.shape)}"
                )
        skip = bool(skips[l - 1]) if skips is not None else False
        layers.append(Layer(W, W0, get_activation(activations[l - 1]), skip))
    return Network(layers)


def network_from_dict(data: dict) -> Network:
    """Inverse of `Network.to_dict`."""
    try:
        layers = data["layers"]
        return make_network(
            [layer["W"] for layer in layers],
            [layer["W0"] for layer in layers],
            [layer["activation"] for layer in layers],
            [layer.get("skip", False) for layer in layers],
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed network description: missing or wrong field {exc}") from None


@dataclass
class Trace:
    """Everything a forward pass computed: Z[l] and A[l] for l = 1..L, and A[0] = x."""

    Z: list
    A: list

    @property
    def output(self) -> np.ndarray:
        """g = A^L."""
        return self.A[-1]


@dataclass
class Gradients:
    """Everything a backward pass computed, indexed by layer number l = 1..L.

    delta[l] = ∂L/∂Z^l per example (n_l x batch); dW[l], dW0[l] are the batch-mean gradients
    of W^l and W_0^l; dA[l] = ∂L/∂A^l per example; dA[0] = ∂L/∂x.
    """

    delta: list
    dW: list
    dW0: list
    dA: list
    loss: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def dx(self) -> np.ndarray:
        return self.dA[0]


def forward(net: Network, x) -> Trace:
    """Forward pass: x is one example (length n_0) or a batch (n_0 x B).

    A pre-activation that cancels to rounding noise is exactly 0 (nncore.cancellation): a
    hand-sized -0.3 + 1 - 0.7 is in_j = 0 on the board, not 5.55e-17.
    """
    A = [as_columns(x, "input x", net.layers[0].n_in)]
    Z: list = [None]
    for layer in net.layers:
        z = snap_cancelled(layer.W.T @ A[-1] + layer.W0, layer.W.T, A[-1], layer.W0)
        a = layer.activation(z)
        if layer.skip:
            a = a + A[-1]
        Z.append(z)
        A.append(a)
    return Trace(Z, A)


def output_delta(net: Network, trace: Trace, y, loss: Loss | str) -> tuple[np.ndarray, np.ndarray | None]:
    """Δ^L = ∂L/∂Z^L per example, and ∂L/∂g (None when not needed).

    For sigmoid + NLL and softmax + cross-entropy Δ^L is g - y, computed in that combined
    form because it stays exact when the output saturates.
    """
    loss = get_loss(loss)
    last = net.layers[-1]
    y = as_columns(y, "target y", last.n_out)
    if y.shape != trace.output.shape:
        raise ValueError(
            f"target y must be {shape_str(trace.output.shape)} like the output, "
            f"got {shape_str(y.shape)}"
        )
    if _uses_combined_form(net, loss):
        return combined_delta(loss, trace.output, y), None
    grad_g = loss.gradient(trace.output, y)
    if last.activation.name == "sigmoid" and not last.skip:
        a = trace.output
        return a * (1.0 - a) * grad_g, grad_g
    return last.activation.backward(trace.Z[-1], grad_g), grad_g


def backward(net: Network, trace: Trace, y, loss: Loss | str = "squared") -> Gradients:
    """Backpropagation of loss L(g, y) through the trace of `forward(net, x)`."""
    loss = get_loss(loss)
    y_cols = as_columns(y, "target y", net.layers[-1].n_out)
    delta_out, grad_g = output_delta(net, trace, y_cols, loss)
    grads = backpropagate(net, trace, delta_out, grad_g)
    if _uses_combined_form(net, loss):
        grads.loss = float(loss.value_from_logits(trace.Z[-1], y_cols).mean())
    else:
        grads.loss = float(loss.value(trace.output, y_cols).mean())
    return grads


def backward_from_output(net: Network, trace: Trace, grad_output) -> Gradients:
    """Backpropagate a given ∂(objective)/∂g (n_L x batch), e.g. to differentiate a class score."""
    grad_output = as_columns(grad_output, "output gradient", net.sizes[-1])
    if grad_output.shape != trace.output.shape:
        raise ValueError(
            f"output gradient must be {shape_str(trace.output.shape)}, "
            f"got {shape_str(grad_output.shape)}"
        )
    delta = net.layers[-1].activation.backward(trace.Z[-1], grad_output)
    return backpropagate(net, trace, delta, grad_output)


def backpropagate(
    net: Network, trace: Trace, delta_out: np.ndarray, grad_output: np.ndarray | None = None
) -> Gradients:
    """From Δ^L run Δ^l = f'(Z^l) * ∂L/∂A^l with ∂L/∂A^{l-1} = W^l Δ^l (+ ∂L/∂A^l for a skip).

    `grad_output` (∂L/∂g) is needed only when the output layer itself has a skip connection.
    Every sum (W Δ, and the gradients' sums over a batch) that cancels to rounding noise is 0.
    """
    L = net.depth
    batch = trace.A[0].shape[1]
    delta: list = [None] * (L + 1)
    dW: list = [None] * (L + 1)
    dW0: list = [None] * (L + 1)
    dA: list = [None] * (L + 1)
    delta[L] = delta_out
    dA[L] = grad_output
    for l in range(L, 0, -1):
        layer = net.layers[l - 1]
        if l < L:
            if layer.activation.name == "sigmoid" and not layer.skip:
                a = trace.A[l]
                delta[l] = a * (1.0 - a) * dA[l]
            else:
                delta[l] = layer.activation.backward(trace.Z[l], dA[l])
        if batch == 1:  # products, no sums: nothing can cancel
            dW[l] = trace.A[l - 1] @ delta[l].T
            dW0[l] = delta[l].copy()
        else:
            dW[l] = snap_cancelled(trace.A[l - 1] @ delta[l].T, trace.A[l - 1], delta[l].T) / batch
            total = delta[l].sum(axis=1, keepdims=True)
            dW0[l] = snap_cancelled(total, delta[l], np.ones((batch, 1))) / batch
        dA[l - 1] = snap_cancelled(layer.W @ delta[l], layer.W, delta[l])
        if layer.skip:
            if dA[l] is None:
                raise ValueError("an output layer with a skip connection needs ∂L/∂g")
            dA[l - 1] = dA[l - 1] + dA[l]
    return Gradients(delta, dW, dW0, dA)


def combined_delta(loss: Loss, g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂L/∂Z^L for sigmoid + NLL (g - y) and softmax + cross-entropy (g Σ_k y_k - y, which is
    g - y for a one-hot or probability target)."""
    if loss.name == "cross_entropy":
        return g * y.sum(axis=0, keepdims=True) - y
    return g - y


def _uses_combined_form(net: Network, loss: Loss) -> bool:
    last = net.layers[-1]
    return loss.combined_output_activation() == last.activation.name and not last.skip
