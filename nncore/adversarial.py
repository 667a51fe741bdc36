"""Input gradients and adversarial examples (001: optimising the input x instead of the weights).

∂L/∂x and ∂(class score)/∂x come out of the same backward pass as the weight gradients
(dA[0] = ∂/∂A^0). `fgsm` adds r = ε sign(∇_x L). `smallest_flipping_epsilon` finds the least
‖r‖ (ℓ∞ or ℓ2) that changes the predicted label: exact when the class scores are affine in x
(a single layer, or identity hidden layers), otherwise a first-order estimate that is flagged
`exact=False` and checked by actually running the net on the perturbed input.

Label rule (`label_rule` states it for a given net):
- K > 1 outputs: the argmax of the output g (lowest index on a tie). When the output activation
  preserves order (identity, sigmoid, tanh, softplus, softmax, leaky ReLU / ELU with a > 0)
  and the output layer has no skip, this is argmax of Z^L, which is what is computed.
- one output: label 1 iff g >= 0.5 for sigmoid and step, g >= 0 for identity, tanh, leaky ReLU
  and ELU (a > 0). Each of these is Z^L >= 0, which is what is computed (exact in floating point).
  ReLU, softplus and softmax outputs with one unit carry no sign and are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nncore.activations import Activation
from nncore.losses import Loss, get_loss
from nncore.network import (
    Network,
    Trace,
    backpropagate,
    backward,
    backward_from_output,
    forward,
)
from nncore.softmax import class_index
from nncore.validation import as_array, as_columns, check_positive, shape_str

# Output threshold on g for a single-output binary classifier, by output activation.
_BINARY_THRESHOLD = {
    "sigmoid": 0.5,
    "step": 0.5,
    "identity": 0.0,
    "tanh": 0.0,
    "leaky_relu": 0.0,
    "elu": 0.0,
}
_ORDER_PRESERVING = {"identity", "sigmoid", "tanh", "softplus", "softmax", "leaky_relu", "elu"}


@dataclass(frozen=True)
class FGSMResult:
    """Fast gradient sign step x' = x + r with r = ε sign(∇_x L), and what the net then says."""

    x_adv: np.ndarray
    perturbation: np.ndarray
    gradient: np.ndarray
    output: np.ndarray
    label: int
    original_label: int
    loss_before: float
    loss_after: float

    @property
    def flipped(self) -> bool:
        return self.label != self.original_label


@dataclass(frozen=True)
class MinimalPerturbation:
    """Smallest ε (in the ℓ∞ or ℓ2 norm) that changes the predicted label, and its check.

    margin m = s_pred - s_competitor (binary: the score's distance past the threshold) with
    gradient d = ∇_x m; epsilon = m / ‖d‖_1 (ℓ∞) or m / ‖d‖_2 (ℓ2). `exact` is True when m
    is affine in x, so epsilon is the true minimum; otherwise it is a first-order estimate.
    x_adv = x + eps_used * direction with eps_used = epsilon (1 + nudge), and label is what
    running the net on x_adv gives: `flipped` reports whether it really changed.
    """

    epsilon: float
    norm: str
    exact: bool
    margin: float
    margin_gradient: np.ndarray
    competitor: int | None
    direction: np.ndarray
    eps_used: float
    x_adv: np.ndarray
    output: np.ndarray
    label: int
    original_label: int

    @property
    def flipped(self) -> bool:
        return self.label != self.original_label

    @property
    def note(self) -> str:
        """One line saying how far the result can be trusted."""
        if not np.isfinite(self.epsilon):
            return "the margin has zero gradient: no perturbation direction changes the label"
        kind = "exact" if self.exact else "first-order estimate"
        outcome = "flips" if self.flipped else "does NOT flip"
        return f"{kind}; the net run at eps_used = {self.eps_used:.6g} {outcome} the label"


# --- gradients with respect to the input ---------------------------------------------------------


def input_gradient(net: Network, x, y, loss: Loss | str = "squared") -> np.ndarray:
    """∂L(g(x), y)/∂x per example (dA[0] of backpropagation), shaped like x.

    x is one example (n_0 entries) or a batch (n_0 x B, then y is n_L x B). For a net with
    K > 1 outputs and one example, y may also be a class index (turned into one-hot).
    """
    x_cols, flat = _inputs(net, x)
    trace = forward(net, x_cols)
    grads = backward(net, trace, _target(net, y, x_cols.shape[1]), get_loss(loss))
    return _like_input(grads.dA[0], flat)


def score_gradient(net: Network, x, k: int, of: str = "output") -> np.ndarray:
    """∂s_k/∂x, shaped like x: s_k = g_k = A^L_k (of="output") or Z^L_k (of="logit")."""
    x_cols, flat = _inputs(net, x)
    k = class_index(k, net.sizes[-1], "output index k")
    trace = forward(net, x_cols)
    return _like_input(_score_gradients(net, trace, of)[k], flat)


def _score_gradients(net: Network, trace: Trace, of: str) -> list[np.ndarray]:
    """[∂s_k/∂x for k = 0..K-1], each n_0 x B, by one backward pass per output unit."""
    if of not in ("output", "logit"):
        raise ValueError(f"score must be of='output' (g = A^L) or of='logit' (Z^L), got {of!r}")
    K, batch = net.sizes[-1], trace.A[0].shape[1]
    result = []
    for k in range(K):
        unit = np.zeros((K, batch))
        unit[k] = 1.0
        if of == "output":
            grads = backward_from_output(net, trace, unit)
        else:
            # ∂Z^L_k/∂Z^L = e_k; an output skip adds nothing to Z^L, so ∂Z^L_k/∂g's skip part is 0.
            skip_grad = np.zeros((K, batch)) if net.layers[-1].skip else None
            grads = backpropagate(net, trace, unit, skip_grad)
        result.append(grads.dA[0])
    return result


# --- labels ---------------------------------------------------------------------------------------


def label_rule(net: Network, output: str = "g") -> str:
    """The rule `predicted_label` uses for this net, in words (for feedback to students);
    `output` names the output (graph notation calls it a_k: g is the activation there)."""
    last = net.layers[-1]
    name = last.activation.name
    if net.sizes[-1] == 1:
        threshold = _binary_threshold(last.activation)
        return f"label = 1 if {output} >= {threshold:g} ({name} output), else 0"
    return f"label = argmax_k {output}_k ({name} output, lowest index on a tie)"


def predicted_label(net: Network, x) -> int:
    """The class the net predicts for one example x (see the module docstring for the rule)."""
    x_cols = _one_example(net, x)
    return _label(net, forward(net, x_cols))


def _score_kind(net: Network) -> str:
    """'logit' when the label can be read off Z^L (same decision as on g), else 'output'."""
    last = net.layers[-1]
    if last.skip:
        return "output"
    activation = last.activation
    if net.sizes[-1] == 1:
        _binary_threshold(activation)
        return "logit"
    return "logit" if _preserves_order(activation) else "output"


def _preserves_order(activation: Activation) -> bool:
    if activation.name in ("leaky_relu", "elu"):
        return activation.params.get("a", 0.0) > 0
    return activation.name in _ORDER_PRESERVING


def _binary_threshold(activation: Activation) -> float:
    name = activation.name
    if name not in _BINARY_THRESHOLD or (
        name in ("leaky_relu", "elu") and not _preserves_order(activation)
    ):
        allowed = ", ".join(sorted(_BINARY_THRESHOLD))
        raise ValueError(
            f"cannot read a binary label off a single {name} output (its sign or 0.5 level does "
            f"not separate classes); use one of: {allowed} (leaky_relu/elu with a > 0)"
        )
    return _BINARY_THRESHOLD[name]


def _scores(net: Network, trace: Trace, kind: str) -> tuple[np.ndarray, float]:
    """Score column s (Z^L or g) of one example and the binary threshold on it."""
    if kind == "logit":
        return trace.Z[-1][:, 0], 0.0
    threshold = _binary_threshold(net.layers[-1].activation) if net.sizes[-1] == 1 else 0.0
    return trace.output[:, 0], threshold


def _label(net: Network, trace: Trace) -> int:
    kind = _score_kind(net)
    scores, threshold = _scores(net, trace, kind)
    if net.sizes[-1] == 1:
        return int(scores[0] >= threshold)
    return int(np.argmax(scores))


# --- attacks --------------------------------------------------------------------------------------


def fgsm(net: Network, x, y, loss: Loss | str, eps: float) -> FGSMResult:
    """Fast gradient sign method: r = ε sign(∇_x L), x' = x + r, and the net's new output/label."""
    eps = check_positive(eps, "eps", allow_zero=True)
    x_col = _one_example(net, x)
    loss = get_loss(loss)
    y_col = _target(net, y, 1)
    trace = forward(net, x_col)
    grads = backward(net, trace, y_col, loss)
    gradient = grads.dA[0][:, 0]
    perturbation = eps * np.sign(gradient)
    x_adv = x_col[:, 0] + perturbation
    trace_adv = forward(net, x_adv)
    loss_after = backward(net, trace_adv, y_col, loss).loss
    return FGSMResult(
        x_adv=x_adv,
        perturbation=perturbation,
        gradient=gradient,
        output=trace_adv.output[:, 0].copy(),
        label=_label(net, trace_adv),
        original_label=_label(net, trace),
        loss_before=float(grads.loss),
        loss_after=float(loss_after),
    )


def smallest_flipping_epsilon(
    net: Network, x, norm: str | float = "inf", *, nudge: float = 1e-6
) -> MinimalPerturbation:
    """Least ε with ‖r‖ <= ε (ℓ∞ or ℓ2) that changes the label, for the margin linearised at x.

    K > 1: for each competitor j, m_j = s_pred - s_j, d_j = ∇_x m_j, ε_j = m_j / ‖d_j‖_*
    (‖·‖_* = ‖·‖_1 for ℓ∞, ‖·‖_2 for ℓ2); ε = min_j ε_j. Binary: m = ±(s - threshold). The
    perturbation is r = -ε sign(d) (ℓ∞) or -ε d / ‖d‖_2 (ℓ2). Exact (exact=True) when the scores
    are affine in x; otherwise a first-order estimate whose flip is checked, not assumed.
    """
    norm = _norm_name(norm)
    nudge = check_positive(nudge, "nudge")
    x_col = _one_example(net, x)
    trace = forward(net, x_col)
    kind = _score_kind(net)
    scores, threshold = _scores(net, trace, kind)
    gradients = [g[:, 0] for g in _score_gradients(net, trace, kind)]
    label = _label(net, trace)

    if net.sizes[-1] == 1:
        sign = 1.0 if label == 1 else -1.0
        candidates = [(None, sign * (scores[0] - threshold), sign * gradients[0])]
    else:
        candidates = [
            (j, scores[label] - scores[j], gradients[label] - gradients[j])
            for j in range(net.sizes[-1])
            if j != label
        ]
    best = None
    for competitor, margin, d in candidates:
        dual = np.sum(np.abs(d)) if norm == "inf" else np.linalg.norm(d)
        eps = margin / dual if dual > 0 else np.inf
        if best is None or eps < best[0]:
            best = (float(eps), competitor, float(margin), d, dual)
    eps, competitor, margin, d, dual = best

    if np.isfinite(eps):
        direction = -np.sign(d) if norm == "inf" else -d / dual
        eps_used = eps * (1.0 + nudge) if eps > 0 else nudge
    else:
        direction = np.zeros_like(d)
        eps_used = 0.0
    x_adv = x_col[:, 0] + eps_used * direction
    trace_adv = forward(net, x_adv)
    return MinimalPerturbation(
        epsilon=eps,
        norm=norm,
        exact=_margin_is_affine(net, kind),
        margin=margin,
        margin_gradient=d,
        competitor=competitor,
        direction=direction,
        eps_used=float(eps_used),
        x_adv=x_adv,
        output=trace_adv.output[:, 0].copy(),
        label=_label(net, trace_adv),
        original_label=label,
    )


def _margin_is_affine(net: Network, kind: str) -> bool:
    """Scores are affine in x when every hidden layer is identity (skips are affine too) and the
    score is Z^L, or the output layer is identity as well."""
    hidden_affine = all(layer.activation.name == "identity" for layer in net.layers[:-1])
    return hidden_affine and (kind == "logit" or net.layers[-1].activation.name == "identity")


def _norm_name(norm) -> str:
    if isinstance(norm, str):
        key = norm.lower().replace("ℓ", "l")
        if key in ("inf", "linf", "l_inf", "infinity", "max"):
            return "inf"
        if key in ("2", "l2", "l_2", "euclidean"):
            return "2"
    elif isinstance(norm, (int, float)) and not isinstance(norm, bool):
        if norm == np.inf:
            return "inf"
        if norm == 2:
            return "2"
    raise ValueError(f"norm must be 'inf' (ℓ∞) or '2' (ℓ2), got {norm!r}")


# --- input handling -------------------------------------------------------------------------------


def _inputs(net: Network, x) -> tuple[np.ndarray, bool]:
    """x as n_0 x B columns, and whether it was given as a flat vector."""
    array = as_array(x, "input x")
    return as_columns(array, "input x", net.sizes[0]), array.ndim <= 1


def _like_input(columns: np.ndarray, flat: bool) -> np.ndarray:
    return columns[:, 0].copy() if flat else columns


def _one_example(net: Network, x) -> np.ndarray:
    """x as a single n_0 x 1 column, refusing batches."""
    columns, _ = _inputs(net, x)
    if columns.shape[1] != 1:
        raise ValueError(
            f"input x must be one example of n_0 = {net.sizes[0]} entries, got a batch of shape "
            f"{shape_str(columns.shape)}"
        )
    return columns


def _target(net: Network, y, batch: int) -> np.ndarray:
    """y as n_L x batch columns; a class index is accepted for one example of a K > 1 net."""
    K = net.sizes[-1]
    if K > 1 and np.ndim(y) == 0:
        if batch != 1:
            raise ValueError(
                f"a class index y only works for one example; give y as a {K}x{batch} matrix"
            )
        target = np.zeros((K, 1))
        target[class_index(y, K), 0] = 1.0
        return target
    target = as_columns(y, "target y", K)
    if target.shape[1] != batch:
        raise ValueError(
            f"target y must be {K}x{batch} like the output, got {shape_str(target.shape)}"
        )
    return target
