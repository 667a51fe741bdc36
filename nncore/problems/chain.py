"""The forward -> loss -> Δ -> gradient -> update chain of one example, as the seeds teach it.

`chain_pass` computes every named quantity of one SGD step in order:
    Z{l}, A{l} (l = 1..L), L, D{L}, ..., D{1} (Δ^l = ∂L/∂Z^l), dW{l}, dW0{l}, W{l}_new, W0{l}_new
It serves three purposes with one code path:
- reference answers (checked against nncore.network.backward in the tests);
- error carried forward: `override` replaces a quantity by the student's own value before later
  quantities use it, so Δ_j is recomputed from the student's a_j;
- misconception variants: `mistake` applies one typical error (see MISTAKES).
Derivatives are written through the unit's output, f'(in_j) from a_j (σ' = a(1 - a)), as the
notes do, so a student's wrong a_j propagates exactly as it would on paper.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from operator import add

import numpy as np

from nncore.cancellation import NOISE_CEILING, snap_cancelled, snap_to_zero
from nncore.losses import get_loss
from nncore.network import Network, combined_delta
from nncore.problems.common import (
    activation_columns,
    activation_derivative_from_output,
    check_layer,
    round_sig,
    round_sig_values,
)

# What each mistake is called and why it is wrong, in matrix notation (MIT 6.390: Z^l, A^l, W^l,
# W_0^l, Δ^l = ∂L/∂Z^l, f the activation and g = A^L the output, as the matrix prompts and
# worked solutions write them); GRAPH_MISTAKES says the same in graph notation.
MISTAKES: dict[str, tuple[str, str]] = {
    "no_factor_2": (
        "Dropped the factor 2 of the squared loss",
        "∂/∂g (y − g)² = −2(y − g): the factor 2 from the square stays in every Δ^l.",
    ),
    "sign_error": (
        "Sign of −2(y − g) flipped",
        "∂/∂g (y − g)² = −2(y − g), not +2(y − g): the inner derivative of (y − g) is −1.",
    ),
    "g_instead_of_gprime": (
        "Used f(Z^l) instead of f'(Z^l)",
        "Δ^l multiplies by the derivative f'(Z^l) of the activation, not its value f(Z^l) = A^l.",
    ),
    "sigma_prime_is_sigma": (
        "Took σ' = σ",
        "The logistic derivative is σ'(Z^l) = σ(Z^l)(1 − σ(Z^l)) = A^l(1 − A^l), not σ(Z^l).",
    ),
    "in_instead_of_a": (
        "Used Z^{l−1} instead of A^{l−1} in ∂L/∂W^l",
        "∂L/∂W^l = A^{l−1} (Δ^l)^T uses the outputs A^{l−1} of the layer before, not its "
        "pre-activations Z^{l−1}.",
    ),
    "forgot_gprime": (
        "Left out f'(Z^l) in a hidden Δ^l",
        "A hidden layer's Δ^l = f'(Z^l) ⊙ W^{l+1} Δ^{l+1}: the next layer's Δ^{l+1}, sent back "
        "through W^{l+1}, is multiplied entry by entry by the derivative of layer l's own "
        "activation at Z^l (for the sigmoid f'(Z^l) = A^l(1 − A^l)).",
    ),
    "forgot_bias": (
        "Forgot the bias W_0^l",
        "Every layer also adds its bias, Z^l = (W^l)^T A^{l−1} + W_0^l; its gradient is "
        "∂L/∂W_0^l = Δ^l.",
    ),
    "w_not_transposed": (
        "Used W instead of W^T",
        "Z^l = (W^l)^T A^{l−1} + W_0^l: W^l is n_{l−1} × n_l, so it is transposed going forward "
        "and used as is going backward.",
    ),
    "plus_update": (
        "Updated with + instead of −",
        "Gradient descent steps against the gradient: W^l ← W^l − α ∂L/∂W^l.",
    ),
    "no_update": (
        "Gave the weights before the update",
        "That is the weight before the step; the answer is the weight after it: W^l − α ∂L/∂W^l.",
    ),
    "updated_later_weights": (
        "Used already-updated weights of a later layer",
        "Every Δ^l of one step uses the weights W^{l+1} of that step; update only after every "
        "gradient has been computed.",
    ),
}

# MISTAKES in graph notation (CS 457: w_{i,j}, in_j, a_j, Δ_j, g the activation and a_j the
# output unit's value), for graph-notation questions.
GRAPH_MISTAKES: dict[str, tuple[str, str]] = {
    "no_factor_2": (
        "Dropped the factor 2 of the squared loss",
        "∂/∂a_j (y − a_j)² = −2(y − a_j) for an output unit j: the factor 2 from the square "
        "stays in every Δ_j.",
    ),
    "sign_error": (
        "Sign of −2(y − a_j) flipped",
        "∂/∂a_j (y − a_j)² = −2(y − a_j), not +2(y − a_j): the inner derivative of (y − a_j) is −1.",
    ),
    "g_instead_of_gprime": (
        "Used g(in_j) instead of g'(in_j)",
        "Δ_j multiplies by the derivative g'(in_j) of the activation, not its value g(in_j).",
    ),
    "sigma_prime_is_sigma": (
        "Took σ' = σ",
        "The logistic derivative is σ'(in_j) = σ(in_j)(1 − σ(in_j)) = a_j(1 − a_j), not σ(in_j).",
    ),
    "in_instead_of_a": (
        "Used in_i instead of a_i in Δ_j·a_i",
        "∂J/∂w_{i,j} = Δ_j a_i uses the output a_i of the sending unit, not its input in_i.",
    ),
    "forgot_gprime": (
        "Left out g'(in_j) in a hidden Δ_j",
        "A hidden unit's Δ_j = g'(in_j) Σ_j' w_{j,j'} Δ_j': the weighted sum of the next layer's "
        "Δ_j' is multiplied by the derivative of unit j's own activation at in_j "
        "(for the sigmoid g'(in_j) = a_j(1 − a_j)).",
    ),
    "forgot_bias": (
        "Forgot the bias / dummy input a_0 = 1",
        "Every unit also adds its bias w_{0,j}·a_0 with a_0 = 1; its gradient is Δ_j·1.",
    ),
    "w_not_transposed": (
        "Mixed up the two indices of w_{i,j}",
        "w_{i,j} is the weight of the edge from unit i to unit j: in_j = w_{0,j} + Σ_i w_{i,j} a_i "
        "sums the edges into unit j going forward, and Δ_j = g'(in_j) Σ_j' w_{j,j'} Δ_j' the "
        "edges out of unit j going backward.",
    ),
    "plus_update": (
        "Updated with + instead of −",
        "Gradient descent steps against the gradient: w_{i,j} ← w_{i,j} − α ∂J/∂w_{i,j}.",
    ),
    "no_update": (
        "Gave the weights before the update",
        "That is the weight before the step; the answer is the weight after it: "
        "w_{i,j} − α ∂J/∂w_{i,j}.",
    ),
    "updated_later_weights": (
        "Used already-updated weights of a later layer",
        "All Δ_j of one step use the weights w_{j,j'} of that step; update only after every "
        "gradient has been computed.",
    ),
}


def mistake_text(mistake: str, notation: str) -> tuple[str, str]:
    """A mistake's name and explanation in the question's notation ("matrix" or "graph")."""
    return (GRAPH_MISTAKES if notation == "graph" else MISTAKES)[mistake]


def chain_pass(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    loss: str,
    lr: float,
    *,
    override: Mapping[str, np.ndarray] | None = None,
    mistake: str | None = None,
    round_to: int | None = None,
    forward_only: bool = False,
) -> dict[str, np.ndarray]:
    """Every quantity of one SGD step on (x, y), computed from the (overridden) earlier ones.

    `forward_only` stops after the loss (forward-pass questions need nothing more).
    `round_to=k` rounds every intermediate to k significant figures before it is used, the
    path a student with a calculator takes; graders accept answers between it and the exact one.
    """
    if mistake is not None and mistake not in MISTAKES:
        raise ValueError(f"unknown mistake {mistake!r}; known: {', '.join(MISTAKES)}")
    loss_fn = get_loss(loss)
    override = override or {}
    values: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray) -> np.ndarray:
        if round_to is not None:
            value = round_sig(value, round_to)
        values[name] = value
        if name in override:
            return np.asarray(override[name], dtype=np.float64).reshape(value.shape)
        return value

    L = net.depth
    A = [np.asarray(x, dtype=np.float64).reshape(-1, 1)]
    Z: list = [None]
    for l, layer in enumerate(net.layers, start=1):
        W0 = np.zeros_like(layer.W0) if mistake == "forgot_bias" else layer.W0
        W_forward = layer.W if mistake == "w_not_transposed" and _square(layer.W) else layer.W.T
        z = put(f"Z{l}", snap_cancelled(W_forward @ A[-1] + W0, W_forward, A[-1], W0))
        a = put(f"A{l}", layer.activation(z))
        Z.append(z)
        A.append(a)

    g = A[-1]
    y = np.asarray(y, dtype=np.float64).reshape(g.shape)
    values["L"] = _loss_value(loss_fn, g, y)
    if forward_only:
        return values
    last = net.layers[-1]
    if loss_fn.combined_output_activation() == last.activation.name:
        delta_out = combined_delta(loss_fn, g, y)
    else:
        grad_g = loss_fn.gradient(g, y)
        if mistake == "no_factor_2" and loss_fn.name == "squared":
            grad_g = grad_g / 2.0
        if mistake == "sign_error" and loss_fn.name == "squared":
            grad_g = -grad_g
        delta_out = _derivative(last, g, Z[L], mistake) * grad_g
    deltas: list = [None] * (L + 1)
    deltas[L] = put(f"D{L}", delta_out)

    next_weights = [layer.W for layer in net.layers]
    for l in range(L - 1, 0, -1):
        W_next = next_weights[l]
        if mistake == "updated_later_weights":
            W_next = W_next - lr * (A[l] @ deltas[l + 1].T)
        if mistake == "w_not_transposed" and _square(W_next):
            W_next = W_next.T
        back = snap_cancelled(W_next @ deltas[l + 1], W_next, deltas[l + 1])  # 0, not ±1e-17
        if mistake == "forgot_gprime":  # Σ_j' w_{j,j'} Δ_j' as it stands, carried on from here
            deltas[l] = put(f"D{l}", back)
        else:
            deltas[l] = put(f"D{l}", _derivative(net.layers[l - 1], A[l], Z[l], mistake) * back)

    for l, layer in enumerate(net.layers, start=1):
        source = Z[l - 1] if mistake == "in_instead_of_a" and l > 1 else A[l - 1]
        dW = put(f"dW{l}", source @ deltas[l].T)
        bias_grad = np.zeros_like(layer.W0) if mistake == "forgot_bias" else deltas[l].copy()
        dW0 = put(f"dW0{l}", bias_grad)
        sign = {"plus_update": 1.0, "no_update": 0.0}.get(mistake, -1.0)
        put(f"W{l}_new", _updated(layer.W, sign * lr, dW))
        put(f"W0{l}_new", _updated(layer.W0, sign * lr, dW0))
    return values


def forward_columns(
    net: Network,
    x: list[float],
    paths: list[tuple[int | None, str | None]],
    *,
    check: bool = False,
) -> list[dict[str, list[float]]]:
    """The Z{l} and A{l} of `chain_pass(..., round_to=k, mistake=m, forward_only=True)` for
    every (k, m) of `paths`, bit for bit, as lists of floats (the n x 1 columns); no "L".

    The same float operations as chain_pass, batched over the paths: one matmul per layer
    (a stack of columns: NumPy runs each slice exactly as a single W^T @ A) and one call of
    the activation's transcendental function. `check=True` raises Redraw as
    `check_calculator_friendly` would for the exact pass (None, None), layer by layer, so a
    redrawn network stops early. Written for tiny layers: plain loops, few temporaries.
    """
    for _, mistake in paths:
        if mistake is not None and mistake not in MISTAKES:
            raise ValueError(f"unknown mistake {mistake!r}; known: {', '.join(MISTAKES)}")
    if not paths:
        return []
    columns = [[float(v) for v in x]] * len(paths)
    swapped = [mistake == "w_not_transposed" for _, mistake in paths]
    out: list[dict[str, list[float]]] = [{} for _ in paths]
    for l, layer in enumerate(net.layers, start=1):
        bias = layer.W0.ravel().tolist()
        no_bias = [0.0] * len(bias)
        Z = []
        for i, ((round_to, mistake), product) in enumerate(zip(paths, _products(layer, columns, swapped), strict=True)):
            z = list(map(add, product, no_bias if mistake == "forgot_bias" else bias))
            if any(-NOISE_CEILING < v < NOISE_CEILING for v in z):  # as chain_pass: snap_cancelled
                z = _snapped(z, layer, columns[i], mistake)
            if round_to is not None:
                z = round_sig_values(z, round_to)
            elif check and mistake is None:
                check_layer(layer.activation, z, l)
            Z.append(z)
        columns = activation_columns(layer.activation, Z)
        z_name, a_name = f"Z{l}", f"A{l}"
        for i, (round_to, _) in enumerate(paths):
            if round_to is not None:
                columns[i] = round_sig_values(columns[i], round_to)
            values = out[i]
            values[z_name] = Z[i]
            values[a_name] = columns[i]
    return out


def _snapped(z: list[float], layer, column: list[float], mistake: str | None) -> list[float]:
    """`snap_cancelled` of one column, on the same arrays as chain_pass (so the same decision)."""
    M = layer.W if mistake == "w_not_transposed" and _square(layer.W) else layer.W.T
    W0 = np.zeros_like(layer.W0) if mistake == "forgot_bias" else layer.W0
    a = np.array(column, dtype=np.float64).reshape(-1, 1)
    return snap_cancelled(np.array(z).reshape(-1, 1), M, a, W0).ravel().tolist()


def _products(layer, columns: list[list[float]], swapped: list[bool]) -> list[list[float]]:
    """W^T @ a for every column a (W @ a where `swapped` and W is square), as lists."""
    if _square(layer.W) and any(swapped):
        out: list = [None] * len(columns)
        for flag, M in ((False, layer.W.T), (True, layer.W)):
            indices = [i for i, s in enumerate(swapped) if s is flag]
            for i, product in zip(indices, _stacked(M, [columns[i] for i in indices]), strict=True):
                out[i] = product
        return out
    first = columns[0]
    if all(column is first for column in columns):  # layer 1: every path reads x
        return [(layer.W.T @ np.array(first)).tolist()] * len(columns)
    return _stacked(layer.W.T, columns)


def _stacked(M: np.ndarray, columns: list[list[float]]) -> list[list[float]]:
    """M @ a for each column a, by one matmul over the stack of (n, 1) columns."""
    if not columns:
        return []
    return (M @ np.array(columns).reshape(len(columns), -1, 1))[:, :, 0].tolist()


def applicable_mistakes(net: Network, loss: str, asked: set[str]) -> list[str]:
    """The mistakes that can change the asked quantities of this network."""
    out = []
    if not {q[0] for q in asked}.isdisjoint("DdW"):  # a Δ, a gradient or an update is asked
        if get_loss(loss).name == "squared":
            out += ["no_factor_2", "sign_error"]
        names = {layer.activation.name for layer in net.layers}
        out.append("sigma_prime_is_sigma" if names == {"sigmoid"} else "g_instead_of_gprime")
        if net.depth > 1:
            out += ["in_instead_of_a", "updated_later_weights"]
    out.append("forgot_bias")
    if transpose_matters(net):
        out.append("w_not_transposed")
    if any(q.endswith("_new") for q in asked):
        out += ["plus_update", "no_update"]
    return out


def asks_hidden_delta(net: Network, asked: set[str]) -> bool:
    """Whether an asked Δ, gradient or update is of a hidden layer (l < L): it is computed from
    a hidden Δ_j, so leaving out g'(in_j) there ("forgot_gprime") can change it."""
    return any(q[0] in "DdW" and _layer_of(q) < net.depth for q in asked)


def _layer_of(quantity: str) -> int:
    """The layer l of a chain quantity: D{l}, dW{l}, dW0{l}, W{l}_new, W0{l}_new (also Z, A)."""
    digits = re.search(r"\d+$", quantity.removesuffix("_new")).group()  # dW01: "01", layer 1
    return int(digits)


def chain_loss(output: list[float], y, loss: str) -> np.ndarray:
    """chain_pass's "L" for a forward_columns output column and the target y."""
    g = np.array(output).reshape(-1, 1)
    return _loss_value(get_loss(loss), g, np.asarray(y, dtype=np.float64).reshape(g.shape))


def transpose_matters(net: Network) -> bool:
    """Whether forgetting the transpose of a square W^l can give other numbers (W^l square, and
    no layer of one unit)."""
    return min(net.sizes) > 1 and any(_square(layer.W) for layer in net.layers)


def _loss_value(loss_fn, g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """L(g, y), or NaN when a carried-forward g is not a valid probability for this loss."""
    try:
        return np.array(float(np.sum(loss_fn.value(g, y))))
    except ValueError:
        return np.array(np.nan)


def _updated(W: np.ndarray, step: float, grad: np.ndarray) -> np.ndarray:
    """W + step * grad, an entry that cancels to rounding noise exactly 0 (0.3 - 0.1 x 3)."""
    change = step * grad
    return snap_to_zero(W + change, np.abs(W) + np.abs(change))


def _derivative(layer, a: np.ndarray, z: np.ndarray, mistake: str | None) -> np.ndarray:
    """f'(in) from the unit's output a, or the value f(in) = a under the g-for-g' mistakes."""
    if mistake in ("g_instead_of_gprime", "sigma_prime_is_sigma"):
        return a
    return activation_derivative_from_output(layer.activation.name, a, layer.activation.params)


def _square(W: np.ndarray) -> bool:
    return W.shape[0] == W.shape[1]
