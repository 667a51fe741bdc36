"""Kinds about training a network: a mini-batch step, weight decay, several SGD steps with error
carried forward, gradient clipping, symmetry breaking and initialisation scales.

Every reference answer comes from the engine (`nncore.updates`, `nncore.symmetry`,
`nncore.init`); the misconception variants reproduce one typical mistake each, mostly through the
same engine functions called the wrong way (a summed batch gradient is `minibatch_step` with
α·|B|, weight decay without its 2 is `weight_decay_step` with λ/2, ...). Weights are addressed by
`Addr` (layer l, 'W' or 'W0', 0-based row/col, or the whole matrix) and asked in the chosen
notation: one number per edge w_{i,j} in graph notation (CS 457), whole W^l / W_0^l in matrix
notation (MIT 6.390). Examples of a data set are stored as rows: data["X"][e] is x^(e+1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nncore import init as nninit
from nncore.network import (
    Gradients,
    Layer,
    Network,
    backward,
    forward,
    make_network,
    network_from_dict,
)
from nncore.notation import WeightRef, neuron_ids, ref_to_edge
from nncore.problems.base import (
    DEFAULT_TOLERANCE,
    TOTAL_STEP_NOTE,
    Draft,
    Field,
    Param,
    ParamError,
    ProblemKind,
    Redraw,
    canonical,
    check_paths_near,
    step,
    step_close,
)
from nncore.problems.chain import chain_pass
from nncore.problems.common import (
    KINK_MARGIN,
    NOTATION_PARAM,
    SATURATION,
    STYLE_PARAM,
    activation_sentence,
    check_calculator_friendly,
    describe_network,
    draw_network,
    draw_values,
    fmt,
    latex_matrix,
    loss_latex,
    network_diagram,
    round_sig,
)
from nncore.problems.network_kinds import (
    BIAS_PARAM,
    HIDDEN_PARAM,
    LOSS_PARAM,
    LR_PARAM,
    OUTPUT_PARAM,
    ROUNDED_PATHS,
    check_network_params,
    sizes_param,
)
from nncore.symmetry import initial_tie_groups, persistent_ties
from nncore.updates import (
    apply_gradients,
    clip_by_norm,
    compute_gradients,
    gradient_norm,
    minibatch_step,
    sgd_step,
    weight_decay_step,
)

MODERATE_LR = 1.0  # up to this α, every step of a multi-step question avoids saturation
DETECTABLE_LR = 0.05  # from this α on, asked steps must exceed the grading tolerance
MAX_HAND_PARAMETERS = 12  # sgd_steps: weights and biases a student updates by hand per step
RAND_EPSILON = 0.5  # symmetry_breaking's RAND(-ε, ε) initialisation
YES_NO = [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}]


# --- weight addresses and fields ----------------------------------------------------------------


@dataclass(frozen=True)
class Addr:
    """A weight of layer l: kind 'W' (row i, col j of W^l) or 'W0' (row j of W_0^l, col 0);
    row None means the whole matrix W^l or vector W_0^l (a matrix-notation field)."""

    layer: int
    kind: str
    row: int | None = None
    col: int | None = None

    def to_list(self) -> list:
        return [self.layer, self.kind, self.row, self.col]

    @classmethod
    def from_list(cls, item: list) -> Addr:
        layer, kind, row, col = item
        return cls(
            int(layer),
            str(kind),
            None if row is None else int(row),
            None if col is None else int(col),
        )


@dataclass(frozen=True)
class Quantity:
    """How one kind of per-weight quantity is named: the weights themselves or their gradients."""

    graph_name: str  # "w" -> w_1_3..., "dJdw" -> dJdw_1_3...
    matrix_name: str  # "W" -> W1, W01, ..., "dLdW" -> dLdW1, dLdW01
    graph_label: Callable[[int, int, str], str]  # (i, j, when) -> LaTeX
    matrix_label: Callable[[str, int, str], str]  # (symbol such as W^{1}_{2,1}, l, when) -> LaTeX


WEIGHTS = Quantity(
    "w",
    "W",
    lambda i, j, when: f"$w_{{{i},{j}}}^{{{when}}}$",
    lambda symbol, l, when: f"${symbol}$ {when}",
)
GRADIENTS = Quantity(
    "dJdw",
    "dLdW",
    lambda i, j, when: f"$\\partial J/\\partial w_{{{i},{j}}}$ {when}",
    lambda symbol, l, when: f"$\\partial L/\\partial {symbol}$ {when}",
)

Ask = tuple[Field, Addr]


def field_for(
    sizes: list[int],
    addr: Addr,
    notation: str,
    quantity: Quantity,
    *,
    tag: str,
    when_graph: str,
    when_matrix: str,
    shape_of: Callable[[Addr], tuple[int, int]],
    depends_on: list[str] | None = None,
) -> Field:
    """The answer field of one address: graph names per edge, matrix names per W^l entry/whole."""
    depends = list(depends_on or [])
    l = addr.layer
    if addr.row is None:
        rows, cols = shape_of(addr)
        if cols == 1:
            shape, ftype = ((), "number") if rows == 1 else ((rows,), "vector")
        else:
            shape, ftype = (rows, cols), "matrix"
        symbol = f"W^{{{l}}}" if addr.kind == "W" else f"W_0^{{{l}}}"
        name = f"{quantity.matrix_name}{'' if addr.kind == 'W' else '0'}{l}{tag}"
        return Field(
            name, quantity.matrix_label(symbol, l, when_matrix), shape, ftype, depends_on=depends
        )
    if notation == "graph":
        i, j = ref_to_edge(sizes, WeightRef(l, addr.kind, addr.row, addr.col))
        return Field(
            f"{quantity.graph_name}_{i}_{j}{tag}",
            quantity.graph_label(i, j, when_graph),
            (),
            "number",
            depends_on=depends,
        )
    symbol = weight_symbol(addr)
    if addr.kind == "W":
        name = f"{quantity.matrix_name}{l}_{addr.row + 1}_{addr.col + 1}{tag}"
    else:
        name = f"{quantity.matrix_name}0{l}_{addr.row + 1}{tag}"
    return Field(
        name, quantity.matrix_label(symbol, l, when_matrix), (), "number", depends_on=depends
    )


def weight_symbol(addr: Addr) -> str:
    """W^{l}_{r,c} or W^{l}_{0,c} (1-based, as the notes print) of one entry."""
    if addr.kind == "W":
        return f"W^{{{addr.layer}}}_{{{addr.row + 1},{addr.col + 1}}}"
    return f"W^{{{addr.layer}}}_{{0,{addr.row + 1}}}"


def edge_symbol(sizes: list[int], addr: Addr, notation: str) -> str:
    """w_{i,j} in graph notation, W^{l}_{r,c} in matrix notation (LaTeX, no $)."""
    if notation == "graph":
        i, j = ref_to_edge(sizes, WeightRef(addr.layer, addr.kind, addr.row, addr.col))
        return f"w_{{{i},{j}}}"
    return weight_symbol(addr)


def layer_addresses(net: Network, l: int, notation: str, bias: bool) -> list[Addr]:
    """Every weight (and bias) of layer l: one address per entry (graph) or per matrix."""
    layer = net.layer(l)
    if notation == "matrix":
        return [Addr(l, "W")] + ([Addr(l, "W0")] if bias else [])
    out = []
    for c in range(layer.n_out):
        if bias:
            out.append(Addr(l, "W0", c, 0))
        out += [Addr(l, "W", r, c) for r in range(layer.n_in)]
    return out


def entry_addresses(net: Network, l: int, bias: bool) -> list[Addr]:
    """Every single entry of layer l (for a question about one weight)."""
    layer = net.layer(l)
    out = [Addr(l, "W", r, c) for r in range(layer.n_in) for c in range(layer.n_out)]
    if bias:
        out += [Addr(l, "W0", c, 0) for c in range(layer.n_out)]
    return out


def arrays_of(source: Network | Gradients) -> tuple[list, list]:
    """([None, W^1..], [None, W_0^1..]) of a network, or (dW, dW0) of gradients."""
    if isinstance(source, Gradients):
        return source.dW, source.dW0
    return [None] + [layer.W for layer in source.layers], [None] + [
        layer.W0 for layer in source.layers
    ]


def pick(source: Network | Gradients, addr: Addr) -> Any:
    """The value of an address: a float, or the whole matrix/vector shaped as its field."""
    Ws, W0s = arrays_of(source)
    M = np.asarray(Ws[addr.layer] if addr.kind == "W" else W0s[addr.layer], dtype=np.float64)
    if addr.row is not None:
        return float(M[addr.row, addr.col])
    if M.shape[1] == 1:
        v = M[:, 0]
        return float(v[0]) if v.size == 1 else v
    return M


def answers_of(source: Network | Gradients, asks: list[Ask]) -> dict[str, Any]:
    return {f.name: pick(source, a) for f, a in asks}


def overlay(net: Network, values: dict[Addr, Any]) -> Network:
    """A copy of `net` with some weights replaced (malformed or non-finite values are skipped)."""
    out = net.copy()
    for addr, value in values.items():
        layer = out.layer(addr.layer)
        M = layer.W if addr.kind == "W" else layer.W0
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if not np.all(np.isfinite(array)):
            continue
        if addr.row is None:
            if array.size == M.size:
                M[...] = array.reshape(M.shape)
        elif array.size == 1:
            M[addr.row, addr.col] = float(array.reshape(()))
    return out


def reflect(before: Network, after: Network) -> Network:
    """The step taken the other way: w + (w − w_new), i.e. + instead of − in the update."""
    return Network(
        [
            Layer(2 * b.W - a.W, 2 * b.W0 - a.W0, b.activation, b.skip)
            for b, a in zip(before.layers, after.layers, strict=True)
        ]
    )


def differs(wrong: dict, answers: dict, rtol: float = 1e-2, atol: float = 1e-8, steps: dict | None = None) -> dict:
    """The entries of a misconception that differ from the answers beyond the grading tolerance,
    or, for an updated weight (`steps`: field -> its value before the step), beyond what its
    step allows (base.step_close): graders judge those on their change too."""
    steps = steps or {}
    out = {}
    for name, value in wrong.items():
        right = answers[name]
        if isinstance(right, str) or (
            isinstance(right, list) and right and isinstance(right[0], str)
        ):
            if (sorted(value) if isinstance(value, list) else value) != (
                sorted(right) if isinstance(right, list) else right
            ):
                out[name] = value
            continue
        a, b = np.asarray(value, dtype=float), np.asarray(right, dtype=float)
        if a.shape != b.shape or not np.all(np.isfinite(a)):
            continue
        if np.any(np.abs(a - b) > atol + rtol * np.abs(b)):
            out[name] = value
        elif name in steps and not step_close(a, b, steps[name]):
            out[name] = value
    return out


def add_mistake(draft: Draft, mid: str, name: str, explanation: str, wrong: dict) -> None:
    """Record a misconception with only the fields it changes (none: not recorded)."""
    steps = {f.name: f.step_from for f in draft.fields if f.step_from is not None}
    changed = differs(wrong, draft.answers, steps=steps)
    if changed:
        draft.add_misconception(mid, name, explanation, changed)


# --- parameters -----------------------------------------------------------------------------------


def network_params(
    default_sizes: list[int], *, bias: bool = True, lr: bool = True
) -> tuple[Param, ...]:
    params = [
        sizes_param(default_sizes),
        HIDDEN_PARAM,
        OUTPUT_PARAM,
        LOSS_PARAM,
        NOTATION_PARAM,
        STYLE_PARAM,
    ]
    if lr:
        params.append(LR_PARAM)
    if bias:
        params.append(BIAS_PARAM)
    return tuple(params)


def layer_param(default: int) -> Param:
    return Param("layer", "int", default, "layer asked about (1 = first)", minimum=1, maximum=6)


def target_param(default: str) -> Param:
    return Param(
        "target", "choice", default, "ask one weight or a whole layer", ("weight", "layer")
    )


def activations_of(p: dict) -> list[str]:
    return [p["hidden"]] * (len(p["sizes"]) - 2) + [p["output"]]


# --- drawing data -----------------------------------------------------------------------------------


def draw_examples(p: dict, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n_0 x count) and targets Y (n_L x count) of the kind's style and loss."""
    sizes = p["sizes"]
    X = draw_values(rng, (sizes[0], count), p["style"])
    n_out = sizes[-1]
    if p["loss"] == "cross_entropy":
        Y = np.eye(n_out)[:, rng.integers(n_out, size=count)]
    elif p["loss"] == "nll" or p["output"] == "sigmoid":
        Y = rng.integers(0, 2, size=(n_out, count)).astype(np.float64)
    else:
        Y = draw_values(rng, (n_out, count), p["style"], nonzero=False)
    return X, Y


def require_change(values: list, what: str) -> None:
    """Redraw when every asked gradient vanishes: the question would say nothing."""
    if all(np.all(np.abs(np.asarray(v, dtype=float)) < 1e-9) for v in values):
        raise Redraw(f"every asked {what} is zero")


def without_biases(net: Network) -> Network:
    """The network with W_0 = 0 everywhere: what a bias-free net (004's style) is after a step.

    The engine's layers always have trainable biases; a net drawn with bias=False has them at 0,
    and resetting them after each step keeps it bias-free over several steps.
    """
    return Network(
        [
            Layer(layer.W, np.zeros_like(layer.W0), layer.activation, layer.skip)
            for layer in net.layers
        ]
    )


def sgd_sequence(
    net: Network,
    X: np.ndarray,
    Y: np.ndarray,
    loss: str,
    lr: float,
    sequence: list[int],
    bias: bool,
) -> tuple[list[Network], list[Gradients]]:
    """w^(0), ..., w^(t) and the gradients of SGD visiting examples `sequence` (column indices)."""
    nets, grads_list = [net], []
    for e in sequence:
        new, grads = sgd_step(nets[-1], X[:, e], Y[:, e], loss, lr)
        nets.append(new if bias else without_biases(new))
        grads_list.append(grads)
    return nets, grads_list


def rounded_step(
    net: Network, x, y, loss: str, lr: float, sig: int, *, bias: bool, lam: float = 0.0, decay_bias: bool = False
) -> Network:
    """The network after one SGD step on the calculator path: the gradients of chain_pass with
    every intermediate written to `sig` significant figures, then α ∂ℓ/∂w, the decay term 2αλw
    (when `lam`; on the biases only with `decay_bias`) and the new weight, each written to
    `sig` figures. Without `bias` the biases stay 0 (a bias-free net)."""
    values = chain_pass(net, x, y, loss, lr, round_to=sig)
    layers = []
    for l, layer in enumerate(net.layers, start=1):
        W = _written_update(layer.W, values[f"dW{l}"], lr, lam, sig)
        W0 = _written_update(layer.W0, values[f"dW0{l}"], lr, lam if decay_bias else 0.0, sig) if bias else np.zeros_like(layer.W0)
        layers.append(Layer(W, W0, layer.activation, layer.skip))
    return Network(layers)


def _written_update(M: np.ndarray, grad: np.ndarray, lr: float, lam: float, sig: int) -> np.ndarray:
    """M - α grad - 2αλ M with each term, and the result, written to `sig` figures."""
    step = round_sig(lr * grad, sig)
    decay = round_sig(2 * lr * lam * M, sig) if lam else 0.0
    return round_sig(M - step - decay, sig)


def check_steps_friendly(
    nets: list[Network], sequence: list[int], X: np.ndarray, lr: float
) -> None:
    """No kink at any step; no saturated unit at any step when α <= MODERATE_LR, else at the
    first step only (a large α, the instructor's choice, may legitimately saturate later steps;
    a pre-activation exactly on a kink would make g' ambiguous at any step)."""
    for t, e in enumerate(sequence):
        net = nets[t]
        trace = forward(net, X[:, [e]])
        if t == 0 or lr <= MODERATE_LR:
            check_calculator_friendly(net, trace)
        elif any(np.any(on_kink(layer, trace.Z[l])) for l, layer in enumerate(net.layers, 1)):
            raise Redraw(f"pre-activation on a kink at step {t + 1}")


def on_kink(layer: Layer, z: np.ndarray) -> np.ndarray:
    """Entries on the activation's kink, counting |z| < KINK_MARGIN as on it (a decimal sum
    that is 0 on paper may come out as ±1e-17), as check_calculator_friendly does."""
    return layer.activation.kinks(np.where(np.abs(z) < KINK_MARGIN, 0.0, z))


def off_by_rounding(layer: Layer, z: np.ndarray) -> np.ndarray:
    """Entries that are 0 on paper but not in floating point: there the engine's g' follows the
    sign of the rounding error, not the g'(0) convention a prompt states."""
    return on_kink(layer, z) & ~layer.activation.kinks(z)


# --- LaTeX of the worked solutions -------------------------------------------------------------------


def example_latex(X: np.ndarray, Y: np.ndarray) -> str:
    """x^(e), y^(e) for every example, as the notes index a batch."""
    return "; ".join(
        f"$x^{{({e + 1})}} = {latex_matrix(X[:, e])},\\; y^{{({e + 1})}} = {latex_matrix(Y[:, e])}$"
        for e in range(X.shape[1])
    )


def pass_step(
    net: Network, x: np.ndarray, y: np.ndarray, loss: str, notation: str, title: str
) -> dict:
    """Forward and backward pass of one example: the table of in_j, a_j, Δ_j (or Z^l, A^l, Δ^l)."""
    trace = forward(net, x)
    grads = backward(net, trace, y, loss)
    values = {
        "in": [trace.Z[l][:, 0] for l in range(1, net.depth + 1)],
        "a": [trace.A[l][:, 0] for l in range(1, net.depth + 1)],
        "delta": [grads.delta[l][:, 0] for l in range(1, net.depth + 1)],
        "loss": grads.loss,
    }
    if notation == "graph":
        ids = neuron_ids(net.sizes)
        rows = []
        for l in range(1, net.depth + 1):
            for c, j in enumerate(ids[l]):
                rows.append(
                    f"{j} & {fmt(trace.Z[l][c, 0])} & {fmt(trace.A[l][c, 0])} & {fmt(grads.delta[l][c, 0])}"
                )
        latex = (
            "\\begin{array}{c|ccc} j & in_j & a_j & \\Delta_j \\\\ \\hline "
            + " \\\\ ".join(rows)
            + "\\end{array}"
        )
    else:
        parts = []
        for l in range(1, net.depth + 1):
            parts.append(
                f"Z^{{{l}}} = {latex_matrix(trace.Z[l])},\\; A^{{{l}}} = {latex_matrix(trace.A[l])},\\; "
                f"\\Delta^{{{l}}} = \\partial L/\\partial Z^{{{l}}} = {latex_matrix(grads.delta[l])}"
            )
        latex = ";\\quad ".join(parts)
    return step(title, latex, **values)


def values_latex(
    net: Network,
    addrs: list[Addr],
    source: Network | Gradients,
    notation: str,
    symbol: Callable[[str], str],
) -> str:
    """'symbol(w) = value' for each asked address (entries or whole matrices)."""
    parts = []
    for addr in addrs:
        if addr.row is None:
            name = f"W^{{{addr.layer}}}" if addr.kind == "W" else f"W_0^{{{addr.layer}}}"
            Ws, W0s = arrays_of(source)
            M = Ws[addr.layer] if addr.kind == "W" else W0s[addr.layer]
            parts.append(f"{symbol(name)} = {latex_matrix(M)}")
        else:
            parts.append(
                f"{symbol(edge_symbol(net.sizes, addr, notation))} = {fmt(pick(source, addr))}"
            )
    return ",\\; ".join(parts)


def convention_sentence(net: Network, traces: list) -> str:
    """'Use ReLU'(0) = 1.' for every activation whose kink some pre-activation hits."""
    used = []
    for trace in traces:
        for l, layer in enumerate(net.layers, start=1):
            if np.any(layer.activation.kinks(trace.Z[l])) and layer.activation.name not in used:
                used.append(layer.activation.name)
    sentences = []
    for layer in net.layers:
        name = layer.activation.name
        if name in used:
            used.remove(name)
            prime = layer.activation.params.get("prime_at_zero", 0.0)
            sentences.append(
                f"Where a pre-activation is exactly 0, take {name}'(0) = {fmt(prime)}."
            )
    return " ".join(sentences)


def at_step(symbol: str, k: int, notation: str) -> str:
    """w_{i,j}^{(k)} (CS 457's iteration superscript); (W^{l})^{(k)} where W already has one."""
    return f"{symbol}^{{({k})}}" if notation == "graph" else f"({symbol})^{{({k})}}"


def cost_latex(loss: str, notation: str, sizes: list[int]) -> str:
    """The per-example loss formula as the notes of the question's notation write it."""
    return loss_latex(loss, notation, tuple(sizes))


# --- the kinds ------------------------------------------------------------------------------------


class MinibatchUpdate(ProblemKind):
    """002 (07-4b): mini-batch GD averages the per-example gradients Δ_j^(e) a_i^(e) over B."""

    id = "minibatch_update"
    version = 6  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v4: an updated weight is graded on its change too (Field.step_from, base.step_close)
    # v5: a mistake within tolerance but off by more than its step allows is named too (differs)
    # v6: misconception explanations in the question's notation (matrix: W^l, A^{l−1}, Δ^l), and
    # the graph loss over the output units' a_k, not L(g, y) (common.loss_latex)
    title = "One mini-batch gradient descent step"
    description = (
        "Updated weights of one layer (or one weight) after one mini-batch step: "
        "w_ij ← w_ij − α (1/|B|) Σ_e Δ_j^(e) a_i^(e) over a batch of 2–4 examples."
    )
    topic = "training"
    params = (
        *network_params([2, 2, 1]),
        Param(
            "batch", "int", 2, "batch size |B| (examples in the mini-batch)", minimum=2, maximum=4
        ),
        layer_param(1),
        target_param("weight"),
    )

    def check_params(self, p: dict) -> None:
        check_network_params(p)

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        notation, B, lr, loss = p["notation"], p["batch"], p["lr"], p["loss"]
        net = draw_network(rng, p["sizes"], activations_of(p), p["style"], bias=p["bias"])
        X, Y = draw_examples(p, rng, B)
        check_calculator_friendly(net, forward(net, X))
        new_net, grads = minibatch_step(net, X, Y, loss, lr)
        addrs = _target_addresses(net, new_net, p, rng)
        asks = [
            (with_step_from(_weight_field(net, a, notation, "_new", "(t+1)", "after the step"), net, a), a)
            for a in addrs
        ]
        require_change([pick(grads, a) for a in addrs], "batch gradient")
        answers = answers_of(new_net, asks)

        per_example = [compute_gradients(net, X[:, [e]], Y[:, [e]], loss) for e in range(B)]
        solution = []
        for e in range(B):
            solution.append(
                pass_step(net, X[:, e], Y[:, e], loss, notation, f"Example {e + 1}: forward and Δ")
            )
            solution.append(
                step(
                    f"Example {e + 1}: gradients",
                    values_latex(
                        net,
                        addrs,
                        per_example[e],
                        notation,
                        lambda s, e=e: f"\\partial \\ell^{{({e + 1})}}/\\partial {s}",
                    ),
                    gradients=[pick(per_example[e], a) for a in addrs],
                )
            )
        solution.append(
            step(
                "Mean over the batch",
                values_latex(
                    net,
                    addrs,
                    grads,
                    notation,
                    lambda s: (
                        f"\\frac{{1}}{{{B}}}\\sum_{{e \\in B}} \\partial \\ell^{{(e)}}/\\partial {s}"
                    ),
                ),
                gradients=[pick(grads, a) for a in addrs],
            )
        )
        solution.append(
            step(
                "Update",
                values_latex(
                    net,
                    addrs,
                    new_net,
                    notation,
                    lambda s: f"{s} - {fmt(lr)}\\,\\overline{{\\partial \\ell/\\partial {s}}}",
                ),
                weights=[pick(new_net, a) for a in addrs],
            )
        )
        cost = (
            "J(\\mathbf{w}) = \\frac{1}{|B|} \\sum_{e \\in B} \\ell(y_e, h_{\\mathbf{w}}(\\mathbf{x}_e))"
            if notation == "graph"
            else "J = \\frac{1}{|B|} \\sum_{e \\in B} L(g^{(e)}, y^{(e)})"
        )
        text = " ".join(
            [
                f"A {'-'.join(map(str, net.sizes))} feed-forward network has weights {describe_network(net, notation)}.",
                activation_sentence(net),
                f"A mini-batch $B$ of {B} examples is {example_latex(X, Y)}.",
                f"The per-example loss is ${cost_latex(loss, notation, net.sizes)}$, the batch cost is ${cost}$, "
                f"and the learning rate is $\\alpha = {fmt(lr)}$.",
                _ask_sentence(
                    net, addrs, notation, "after one mini-batch gradient descent step on $B$"
                ),
            ]
        )
        draft = Draft(
            text=text,
            data={
                "network": net.to_dict(),
                "X": X.T,
                "Y": Y.T,
                "loss": loss,
                "lr": lr,
                "notation": notation,
                "asked": {f.name: a.to_list() for f, a in asks},
            },
            fields=[f for f, _ in asks],
            answers=answers,
            solution=solution,
            diagram=network_diagram(net, notation),
        )
        summed = minibatch_step(net, X, Y, loss, lr * B)[0]
        add_mistake(
            draft,
            "summed_not_averaged",
            "Summed the per-example gradients instead of averaging",
            f"The batch cost is the mean (1/|B|) Σ_e ℓ_e, so its gradient is the mean of the {B} "
            "per-example gradients, not their sum.",
            answers_of(summed, asks),
        )
        graph = notation == "graph"
        first = sgd_step(net, X[:, 0], Y[:, 0], loss, lr)[0]
        add_mistake(
            draft,
            "first_example_only",
            "Used only the first example",
            "A mini-batch step averages "
            + ("Δ_j^(e) a_i^(e)" if graph else "the per-example gradients ∂ℓ^(e)/∂W^l = A^{l−1} (Δ^l)^T")
            + " over every example e of B, not just the first.",
            answers_of(first, asks),
        )
        sequential = sgd_sequence(net, X, Y, loss, lr, list(range(B)), p["bias"])[0][-1]
        add_mistake(
            draft,
            "sequential_sgd",
            "Did one SGD step per example instead of one batch step",
            f"All per-example gradients of a mini-batch step use the same weights {'w^(t)' if graph else '(W^l)^(t)'}; "
            "the weights change once, by α times their mean.",
            answers_of(sequential, asks),
        )
        add_mistake(
            draft,
            "plus_update",
            "Updated with + instead of −",
            "Gradient descent steps against the gradient: "
            + ("w_{i,j} ← w_{i,j} − α ∂J/∂w_{i,j}." if graph else "W^l ← W^l − α ∂J/∂W^l."),
            answers_of(reflect(net, new_net), asks),
        )
        return draft


class WeightDecayUpdate(ProblemKind):
    """002 (07-4d): SGD on ℓ + λ Σ w², i.e. w_ij ← w_ij − α Δ_j a_i − 2αλ w_ij."""

    id = "weight_decay_update"
    version = 6  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: the calculator paths (rounded_step: gradients, terms and weights written to 3 or 4
    # significant figures) are accepted answers too (a full 3-figure calculation was refused on
    # 2 of 50 seeds), and a draw where a misconception's answer would pass as such a path, or
    # as what a student types (3 or 4 figures), is redrawn (ProblemKind._finish)
    # v4: an updated weight is graded on its change too (Field.step_from, base.step_close)
    # v5: a mistake within tolerance but off by more than its step allows is named too (differs)
    # v6: as MinibatchUpdate v6 (the bias-decay explanations with W_0^l in matrix notation)
    title = "SGD step with weight decay"
    description = (
        "Updated weights of one layer (or one weight) after one SGD step on the L2-regularised "
        "cost: w_ij ← w_ij − α Δ_j a_i − 2αλ w_ij, with a stated convention for the biases."
    )
    topic = "training"
    params = (
        *network_params([2, 2, 1]),
        Param(
            "lam", "float", 0.1, "weight decay λ of the penalty λ Σ w²", minimum=0.001, maximum=5.0
        ),
        Param(
            "include_bias",
            "bool",
            True,
            "whether the penalty also covers the bias edges w_{0,j} (CS 457 sums over every edge of A)",
        ),
        layer_param(2),
        target_param("layer"),
    )

    def check_params(self, p: dict) -> None:
        check_network_params(p)

    def check_new_params(self, p: dict) -> None:
        if 2 * p["lr"] * p["lam"] >= 1:
            raise ParamError(
                f"parameters 'lr' and 'lam' need 2·lr·lam below 1 (got 2·{p['lr']:g}·{p['lam']:g} = "
                f"{2 * p['lr'] * p['lam']:g}): the decay factor 1 − 2αλ would zero or flip the sign "
                "of every weight, which no course teaches as weight decay"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        notation, lr, lam, loss = p["notation"], p["lr"], p["lam"], p["loss"]
        include_bias = p["include_bias"]
        net = draw_network(rng, p["sizes"], activations_of(p), p["style"], bias=p["bias"])
        X, Y = draw_examples(p, rng, 1)
        x, y = X[:, 0], Y[:, 0]
        check_calculator_friendly(net, forward(net, x))
        new_net, grads = weight_decay_step(net, x, y, loss, lr, lam, include_bias)
        addrs = _target_addresses(net, new_net, p, rng)
        asks = [
            (with_step_from(_weight_field(net, a, notation, "_new", "(t+1)", "after the step"), net, a), a)
            for a in addrs
        ]
        paths = [
            rounded_step(net, x, y, loss, lr, sig, bias=p["bias"], lam=lam, decay_bias=include_bias)
            for sig in ROUNDED_PATHS
        ]
        alternatives = {f.name: [pick(path, a) for path in paths] for f, a in asks}
        check_paths_near(answers_of(new_net, asks), alternatives)
        require_change(
            [pick(grads, a) for a in addrs] + [pick(net, a) for a in addrs], "gradient and weight"
        )
        answers = answers_of(new_net, asks)

        decayed = [a for a in addrs if a.kind == "W" or include_bias]
        solution = [
            pass_step(net, x, y, loss, notation, "Forward and backward pass"),
            step(
                "Loss gradients",
                values_latex(
                    net, addrs, grads, notation, lambda s: f"\\partial \\ell/\\partial {s}"
                ),
                gradients=[pick(grads, a) for a in addrs],
            ),
            step(
                "Decay terms",
                _decay_latex(net, decayed, notation, lr, lam),
                decay=[2 * lr * lam * np.asarray(pick(net, a)) for a in decayed],
            ),
            step(
                "Update",
                values_latex(
                    net,
                    addrs,
                    new_net,
                    notation,
                    lambda s: (
                        f"{s} - \\alpha\\, \\partial \\ell/\\partial {s} - 2\\alpha\\lambda {s}"
                    ),
                ),
                weights=[pick(new_net, a) for a in addrs],
            ),
        ]
        if notation == "graph":
            penalty = "\\lambda \\sum_{(i,j) \\in A} w_{i,j}^2"
            convention = (
                "The sum runs over every edge of $A$, including the bias edges $w_{0,j}$ from the dummy neuron."
                if include_bias
                else "The sum runs over the weights $w_{i,j}$ with $i \\ge 1$ only: the biases $w_{0,j}$ are not regularised."
            )
            cost = f"J(\\mathbf{{w}}) = \\ell(y, h_{{\\mathbf{{w}}}}(\\mathbf{{x}})) + {penalty}"
        else:
            if include_bias:
                penalty = "\\lambda \\sum_l (\\|W^l\\|^2 + \\|W_0^l\\|^2)"
                convention = "The penalty covers every weight and every bias $W_0^l$."
            else:
                penalty = "\\lambda \\sum_l \\|W^l\\|^2"
                convention = "The biases $W_0^l$ are not regularised."
            cost = f"J = L(g, y) + {penalty}"
        if not p["bias"]:
            convention = "The units have no biases."
        text = " ".join(
            [
                f"A {'-'.join(map(str, net.sizes))} feed-forward network has weights {describe_network(net, notation)}.",
                activation_sentence(net),
                f"The training example is $x = {latex_matrix(x)}$ with target $y = {latex_matrix(y)}$, "
                f"the loss is ${cost_latex(loss, notation, net.sizes)}$, and SGD minimises the regularised cost ${cost}$ "
                f"with $\\lambda = {fmt(lam)}$ and learning rate $\\alpha = {fmt(lr)}$.",
                convention,
                _ask_sentence(net, addrs, notation, "after one SGD step with weight decay"),
            ]
        )
        draft = Draft(
            text=text,
            data={
                "network": net.to_dict(),
                "x": x,
                "y": y,
                "loss": loss,
                "lr": lr,
                "lam": lam,
                "include_bias": include_bias,
                "notation": notation,
                "asked": {f.name: a.to_list() for f, a in asks},
            },
            fields=[f for f, _ in asks],
            answers=answers,
            solution=solution,
            diagram=network_diagram(net, notation, x, y),
            alternatives=alternatives,
        )
        graph = notation == "graph"
        add_mistake(
            draft,
            "decay_without_2",
            "Weight decay without its factor 2 (−αλw)",
            "∂/∂w λw² = 2λw, so the decay term of the update is −2αλw, not −αλw.",
            answers_of(weight_decay_step(net, x, y, loss, lr, lam / 2, include_bias)[0], asks),
        )
        other = weight_decay_step(net, x, y, loss, lr, lam, not include_bias)[0]
        add_mistake(
            draft,
            "applied_decay_to_biases" if not include_bias else "forgot_decay_on_biases",
            "Decayed the biases too" if not include_bias else "Forgot the decay on the biases",
            _bias_decay_text(include_bias, graph),
            answers_of(other, asks),
        )
        add_mistake(
            draft,
            "forgot_decay",
            "Left out the weight decay term",
            "The regularised cost adds λ Σ w², whose gradient 2λw adds −2αλw to every update.",
            answers_of(sgd_step(net, x, y, loss, lr)[0], asks),
        )
        add_mistake(
            draft,
            "plus_update",
            "Updated with + instead of −",
            "Gradient descent steps against the gradient: "
            + ("w_{i,j} ← w_{i,j} − α(Δ_j a_i + 2λw_{i,j})." if graph else "W^l ← W^l − α(A^{l−1} (Δ^l)^T + 2λW^l)."),
            answers_of(reflect(net, new_net), asks),
        )
        return draft


def _bias_decay_text(include_bias: bool, graph: bool) -> str:
    """Why weight_decay_update's biases decay (include_bias) or not, in the question's notation."""
    if not include_bias:
        bias = "w_{0,j} gets no −2αλw_{0,j}" if graph else "W_0^l gets no −2αλW_0^l"
        return f"In this question the biases are not regularised, so {bias} term."
    if graph:
        return "The penalty sums over every edge of A, bias edges w_{0,j} included, so they decay too."
    return "The penalty covers every bias W_0^l too (‖W_0^l‖²), so the biases decay as well."


class SgdSteps(ProblemKind):
    """002's NEURALNETTRAIN loop for t = 2..3 iterations: w^(t+1) = w^(t) − α Δ_j a_i, each step
    on the next example of a given order, from the weights of the previous step.

    Chained: step k+1 is also graded against `recompute`, the update of the student's own step-k
    weights, so one slip does not zero every later step.
    """

    id = "sgd_steps"
    version = 6  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: the calculator paths (weights written to 3 or 4 significant figures carried from step to
    # step, rounded_step) are accepted answers too (a full 3-figure calculation was refused on 2
    # of 50 seeds), and a draw where a misconception's answer would pass as such a path, or as
    # what a student types (3 or 4 figures), is redrawn (ProblemKind._finish)
    # v4: an updated weight is graded on its change too (Field.step_from, base.step_close)
    # v5: a mistake within tolerance but off by more than its step allows is named too (differs)
    # v6: as MinibatchUpdate v6
    title = "Several SGD steps"
    description = (
        "Weights after each of 2–3 SGD steps over a given example order on a tiny network; "
        "each step starts from the previous step's weights (errors are carried forward)."
    )
    topic = "training"
    chained = True
    params = (
        *network_params([2, 1]),
        Param("steps", "int", 2, "number of SGD steps t", minimum=2, maximum=3),
        Param("examples", "int", 2, "number of training examples", minimum=1, maximum=3),
    )

    def check_params(self, p: dict) -> None:
        check_network_params(p)
        sizes = p["sizes"]
        count = sum(
            sizes[l - 1] * sizes[l] + (sizes[l] if p["bias"] else 0) for l in range(1, len(sizes))
        )
        if count > MAX_HAND_PARAMETERS:
            raise ParamError(
                f"parameter 'sizes' gives {count} weights per step; at most {MAX_HAND_PARAMETERS} "
                "for a hand exercise (e.g. 2,1 or 1,1,1)"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        notation, lr, loss, steps = p["notation"], p["lr"], p["loss"], p["steps"]
        net = draw_network(rng, p["sizes"], activations_of(p), p["style"], bias=p["bias"])
        m = p["examples"]
        X, Y = draw_examples(p, rng, m)
        order = [int(e) for e in rng.permutation(m)]
        sequence = [order[k % m] for k in range(steps)]
        nets, gradients = sgd_sequence(net, X, Y, loss, lr, sequence, p["bias"])
        check_steps_friendly(nets, sequence, X, lr)
        asks = [(with_step_from(f, nets[k - 1], a), (k, a)) for f, (k, a) in self._asks(net, notation, p["bias"], steps)]
        answers = {f.name: pick(nets[k], a) for f, (k, a) in asks}
        paths = []
        for sig in ROUNDED_PATHS:  # a student carrying written weights from step to step
            path = [net]
            for e in sequence:
                path.append(rounded_step(path[-1], X[:, e], Y[:, e], loss, lr, sig, bias=p["bias"]))
            paths.append(path)
        alternatives = {f.name: [pick(path[k], a) for path in paths] for f, (k, a) in asks}
        check_paths_near(answers, alternatives)
        for k, grads in enumerate(gradients, start=1):
            # step 1 must move; a later step may be exactly zero (a ReLU the previous step
            # killed, 004's dead ReLU), otherwise it too must move beyond the tolerance
            flat = [g for g in grads.dW[1:] + grads.dW0[1:]]
            if k > 1 and all(np.all(g == 0.0) for g in flat):
                continue
            require_change(flat, "gradient of a step")
            addrs = [a for _, (kk, a) in asks if kk == k]
            require_detectable(nets[k - 1], nets[k], addrs, lr)

        solution = []
        for k in range(1, steps + 1):
            e = sequence[k - 1]
            before = nets[k - 1]
            solution.append(
                pass_step(
                    before,
                    X[:, e],
                    Y[:, e],
                    loss,
                    notation,
                    f"Step {k}: example {e + 1}, forward and Δ",
                )
            )
            addrs = [a for _, (kk, a) in asks if kk == k]
            solution.append(
                step(
                    f"Step {k}: gradients",
                    values_latex(
                        before,
                        addrs,
                        gradients[k - 1],
                        notation,
                        lambda s: f"\\partial \\ell/\\partial {s}",
                    ),
                    gradients=[pick(gradients[k - 1], a) for a in addrs],
                )
            )
            solution.append(
                step(
                    f"Step {k}: update",
                    values_latex(
                        before,
                        addrs,
                        nets[k],
                        notation,
                        lambda s, k=k: at_step(s, k, notation),
                    ),
                    weights=[pick(nets[k], a) for a in addrs],
                )
            )
        visits = ", ".join(f"$({e + 1})$" for e in sequence)
        text = " ".join(
            [
                f"A {'-'.join(map(str, net.sizes))} feed-forward network starts with weights "
                f"{describe_network(net, notation)}.",
                activation_sentence(net),
                f"The training examples are {example_latex(X, Y)}.",
                f"Stochastic gradient descent with the loss ${cost_latex(loss, notation, net.sizes)}$ and learning rate "
                f"$\\alpha = {fmt(lr)}$ runs {steps} steps, using the examples in the order {visits}: each "
                "step runs backpropagation on one example and updates every weight.",
                "Give every weight after each step."
                if notation == "graph"
                else "Give every $W^l$ and $W_0^l$ after each step.",
            ]
        )
        draft = Draft(
            text=text,
            data={
                "network": net.to_dict(),
                "X": X.T,
                "Y": Y.T,
                "loss": loss,
                "lr": lr,
                "notation": notation,
                "bias": p["bias"],
                "order": sequence,
                "asked": {f.name: [k, *a.to_list()] for f, (k, a) in asks},
            },
            fields=[f for f, _ in asks],
            answers=answers,
            solution=solution,
            diagram=network_diagram(net, notation),
            alternatives=alternatives,
        )

        def run(update: Callable[[Network, Network, int], Network], seq: list[int]) -> dict:
            wrong, current = [net], net
            for e in seq:
                current = update(current, net, e)
                current = current if p["bias"] else without_biases(current)
                wrong.append(current)
            return {f.name: pick(wrong[k], a) for f, (k, a) in asks}

        add_mistake(
            draft,
            "no_sequential_update",
            "Computed every step's gradient at the initial weights",
            "Each SGD step runs backpropagation with the weights "
            + ("w^(t) left by the previous step, not with the initial weights w^(0)." if notation == "graph"
               else "(W^l)^(t) left by the previous step, not with the initial weights (W^l)^(0)."),
            run(
                lambda current, start, e: apply_gradients(
                    current, compute_gradients(start, X[:, [e]], Y[:, [e]], loss), lr
                ),
                sequence,
            ),
        )
        add_mistake(
            draft,
            "plus_update",
            "Updated with + instead of −",
            "Gradient descent steps against the gradient: "
            + ("w_{i,j} ← w_{i,j} − α Δ_j a_i." if notation == "graph" else "W^l ← W^l − α A^{l−1} (Δ^l)^T."),
            run(
                lambda current, start, e: reflect(
                    current, sgd_step(current, X[:, e], Y[:, e], loss, lr)[0]
                ),
                sequence,
            ),
        )
        natural = [k % m for k in range(steps)]
        if natural != sequence:
            add_mistake(
                draft,
                "ignored_order",
                "Visited the examples in their listed order",
                "SGD takes the examples in the given order; a different order gives different weights.",
                run(
                    lambda current, start, e: sgd_step(current, X[:, e], Y[:, e], loss, lr)[0],
                    natural,
                ),
            )
        return draft

    @staticmethod
    def _asks(
        net: Network, notation: str, bias: bool, steps: int
    ) -> list[tuple[Field, tuple[int, Addr]]]:
        asks: list[tuple[Field, tuple[int, Addr]]] = []
        previous: list[str] = []
        for k in range(1, steps + 1):
            current = []
            for l in range(1, net.depth + 1):
                for a in layer_addresses(net, l, notation, bias):
                    field = _weight_field(
                        net, a, notation, f"_t{k}", f"({k})", f"after step {k}", previous
                    )
                    asks.append((field, (k, a)))
                    current.append(field.name)
            previous = current
        return asks

    def recompute(self, instance: dict, given: dict[str, Any], round_to: int | None = None) -> dict[str, Any]:
        """Step 1 as the reference; step k+1 = one SGD step from the student's step-k weights
        (fields the student left out or gave malformed keep their carried-forward values); with
        `round_to`, each step along the calculator path (rounded_step)."""
        data = instance["prompt"]["data"]
        net = network_from_dict(data["network"])
        X, Y = np.asarray(data["X"], dtype=float).T, np.asarray(data["Y"], dtype=float).T
        asked = {
            name: (int(item[0]), Addr.from_list(item[1:])) for name, item in data["asked"].items()
        }
        expected: dict[str, Any] = {}
        previous = net
        for k, e in enumerate(data["order"], start=1):
            try:
                with np.errstate(all="ignore"):
                    if round_to is None:
                        current = sgd_step(previous, X[:, e], Y[:, e], data["loss"], data["lr"])[0]
                    else:
                        current = rounded_step(previous, X[:, e], Y[:, e], data["loss"], data["lr"], round_to, bias=True)
                current = current if data["bias"] else without_biases(current)
                fields = {name: addr for name, (kk, addr) in asked.items() if kk == k}
                values = {name: pick(current, addr) for name, addr in fields.items()}
            except ValueError:
                return expected  # the student's weights give no finite step: nothing to carry
            expected.update(values)
            previous = overlay(
                current, {addr: given[name] for name, addr in fields.items() if name in given}
            )
        return expected


class GradientClipping(ProblemKind):
    """000/004: if ‖∇‖ > τ, ∇ ← τ ∇/‖∇‖ (‖∇‖ over every weight and bias gradient)."""

    id = "gradient_clipping"
    # v2: a draw where a misconception's answer, written to 3 or 4 significant figures as a
    # student types it, would be credited is redrawn (ProblemKind._finish)
    version = 3  # v3: the graph loss over the output units' a_k, not L(g, y) (common.loss_latex)
    title = "Gradient clipping by norm"
    description = (
        "The global norm ‖∇‖ of a gradient (given, or computed by backprop on a small network) "
        "and the clipped gradient τ∇/‖∇‖ when ‖∇‖ > τ."
    )
    topic = "training"
    params = (
        Param(
            "source",
            "choice",
            "given",
            "a given gradient, or the gradient of a network on one example",
            ("given", "network"),
        ),
        Param(
            "dims",
            "int_list",
            [3],
            "shape of a given gradient: n (vector) or r,c (matrix)",
            minimum=1,
            maximum=5,
            max_length=2,
        ),
        *network_params([2, 1], lr=False),
        Param(
            "regime",
            "choice",
            "clip",
            "clip: ‖∇‖ > τ; no_clip: ‖∇‖ ≤ τ (the gradient is unchanged)",
            ("clip", "no_clip"),
        ),
    )

    def check_params(self, p: dict) -> None:
        check_network_params(p)
        if int(np.prod(p["dims"])) < 2:
            raise ParamError(
                "parameter 'dims' must give a gradient with at least 2 entries, e.g. 3 or 2,2"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        notation, style = p["notation"], p["style"]
        solution: list[dict] = []
        if p["source"] == "given":
            G = draw_values(rng, tuple(p["dims"]), style)
            grads = _wrap_gradient(G)
            net = None
            addrs = [Addr(1, "W")]
            field = Field(
                "clipped",
                "$\\nabla$ after clipping",
                G.shape,
                "vector" if G.ndim == 1 else "matrix",
            )
            asks = [(field, addrs[0])]

            def values(g: Gradients) -> dict:
                return {"clipped": g.dW[1].reshape(G.shape)}

            text_intro = f"A gradient is $\\nabla = {latex_matrix(G)}$."
            data: dict = {"gradient": G}
        else:
            net = draw_network(rng, p["sizes"], activations_of(p), style, bias=p["bias"])
            X, Y = draw_examples(p, rng, 1)
            x, y = X[:, 0], Y[:, 0]
            check_calculator_friendly(net, forward(net, x))
            grads = compute_gradients(net, X, Y, p["loss"])
            if not p["bias"]:  # a bias-free net has no bias gradients in ∇
                grads = Gradients(
                    grads.delta, grads.dW, [None] + [0 * d for d in grads.dW0[1:]], grads.dA
                )
            addrs = [
                a
                for l in range(1, net.depth + 1)
                for a in layer_addresses(net, l, notation, p["bias"])
            ]

            def values(g: Gradients) -> dict:
                return answers_of(g, asks)

            asks = [
                (
                    field_for(
                        net.sizes,
                        a,
                        notation,
                        GRADIENTS,
                        tag="_clipped",
                        when_graph="after clipping",
                        when_matrix="after clipping",
                        shape_of=_shape_in(net),
                    ),
                    a,
                )
                for a in addrs
            ]
            text_intro = (
                f"A {'-'.join(map(str, net.sizes))} feed-forward network has weights {describe_network(net, notation)}. "
                f"{activation_sentence(net)} On the example $x = {latex_matrix(x)}$ with target "
                f"$y = {latex_matrix(y)}$ and the loss ${cost_latex(p['loss'], notation, net.sizes)}$, backpropagation gives the "
                "gradient $\\nabla$ of every weight" + (" and bias." if p["bias"] else ".")
            )
            data = {
                "network": net.to_dict(),
                "x": x,
                "y": y,
                "loss": p["loss"],
                "notation": notation,
            }
            solution.append(pass_step(net, x, y, p["loss"], notation, "Forward and backward pass"))
            solution.append(
                step(
                    "Gradients",
                    values_latex(
                        net, addrs, grads, notation, lambda s: f"\\partial J/\\partial {s}"
                    ),
                    gradients=[pick(grads, a) for a in addrs],
                )
            )
        norm = gradient_norm(grads)
        require_change([norm], "gradient entry")
        tau = _draw_tau(rng, norm, style, p["regime"])
        clipped, _ = clip_by_norm(grads, tau)
        answers = {"norm": norm, **values(clipped)}
        fields = [Field("norm", "$\\|\\nabla\\|$", (), "number")] + [f for f, _ in asks]
        data.update({"tau": tau, "asked": {f.name: a.to_list() for f, a in asks}})

        with_bias = net is None or p["bias"]
        entries = np.concatenate(
            [np.ravel(d) for d in grads.dW[1:] + (grads.dW0[1:] if with_bias else [])]
        )
        squares = " + ".join(f"({fmt(v)})^2" for v in entries)
        solution.append(
            step(
                "Global norm",
                f"\\|\\nabla\\| = \\sqrt{{{squares}}} = \\sqrt{{{fmt(norm**2)}}} = {fmt(norm)}",
                norm=norm,
            )
        )
        if norm > tau:
            solution.append(
                step(
                    "Clip",
                    f"\\|\\nabla\\| = {fmt(norm)} > \\tau = {fmt(tau)}\\text{{, so }} \\nabla \\leftarrow \\tau \\frac{{\\nabla}}{{\\|\\nabla\\|}} "
                    f"= {fmt(tau / norm)}\\,\\nabla",
                    scale=tau / norm,
                )
            )
        else:
            solution.append(
                step(
                    "No clipping",
                    f"\\|\\nabla\\| = {fmt(norm)} \\le \\tau = {fmt(tau)}\\text{{: }} \\nabla \\text{{ is unchanged}}",
                    scale=1.0,
                )
            )
        solution.append(
            step(
                "Clipped gradient",
                _clipped_latex(net, addrs, clipped, notation),
                clipped=list(values(clipped).values()),
            )
        )
        text = " ".join(
            [
                text_intro,
                f"Gradient clipping uses the threshold $\\tau = {fmt(tau)}$: if $\\|\\nabla\\| > \\tau$, then "
                "$\\nabla \\leftarrow \\tau \\nabla / \\|\\nabla\\|$, where $\\|\\nabla\\|$ is the L2 norm over "
                + ("every entry." if net is None else "every weight and bias gradient together."),
                "Give $\\|\\nabla\\|$ and the gradient after clipping.",
            ]
        )
        draft = Draft(
            text=text,
            data=data,
            fields=fields,
            answers=answers,
            solution=solution,
            diagram=None if net is None else network_diagram(net, notation, data["x"], data["y"]),
        )
        if norm > tau:
            add_mistake(
                draft,
                "clip_entries",
                "Clipped each entry to [−τ, τ]",
                "Clipping by norm rescales the whole gradient by τ/‖∇‖ (keeping its direction); it "
                "does not cap each entry separately.",
                values(_map_gradients(grads, lambda d: np.clip(d, -tau, tau))),
            )
            add_mistake(
                draft,
                "divided_by_norm_squared",
                "Divided by ‖∇‖² instead of ‖∇‖",
                "∇ ← τ ∇/‖∇‖ has norm exactly τ; dividing by ‖∇‖² gives the wrong length.",
                values(_map_gradients(grads, lambda d: tau * d / norm**2)),
            )
            add_mistake(
                draft,
                "forgot_tau",
                "Forgot the factor τ",
                "∇/‖∇‖ has norm 1; the clipped gradient τ∇/‖∇‖ has norm τ.",
                values(_map_gradients(grads, lambda d: d / norm)),
            )
            if net is not None and net.depth > 1:
                add_mistake(
                    draft,
                    "per_layer_norm",
                    "Clipped each layer by its own norm",
                    "‖∇‖ is one global norm over every weight and bias gradient of the network.",
                    values(_per_layer_clip(grads, tau)),
                )
        else:
            add_mistake(
                draft,
                "always_rescale",
                "Rescaled even though ‖∇‖ ≤ τ",
                "Clipping only acts when ‖∇‖ > τ; a smaller gradient is left unchanged.",
                values(_map_gradients(grads, lambda d: tau * d / norm)),
            )
        add_mistake(
            draft,
            "l1_norm",
            "Used the sum of absolute values as ‖∇‖",
            "‖∇‖ is the Euclidean (L2) norm: the square root of the sum of squares.",
            {"norm": float(np.sum(np.abs(entries)))},
        )
        return draft


class SymmetryBreaking(ProblemKind):
    """002's "The Problem with Equal Weights": tied hidden units stay tied under SGD."""

    id = "symmetry_breaking"
    # the drawn initialisation's name ("tied", "partial", "random", ...) decides "does it break
    # symmetry" and "which units stay tied": the prompt shows the weights, never the name (nor
    # the parameter, when an instructor fixes it)
    private_data = ("init",)
    private_params = ("init",)
    version = 6  # v2: engine sums that cancel to rounding noise are 0 (nncore.network)
    # v3: a draw where a misconception's answer, written to 3 or 4 significant
    # figures as a student types it, would be credited is redrawn (ProblemKind._finish)
    # v4: part (c) asks a weight of any hidden unit, whatever the initialisation, with no
    # "(equal to ...)" in its label (it gave the ties away: QA), graded on its change too
    # v5: that change is counted from the printed weight, not from the last step's (a ReLU
    # unit idle on the last example left a weight no student could read off the prompt)
    # v6: the prompt's note counts that change from the weight given (base.TOTAL_STEP_NOTE; it
    # said "in the step"), misconception explanations and "why the tie persists" in the question's
    # notation (matrix: Z^l, A^l, Δ^l, W^{l+1}), and the graph loss over a_k, not L(g, y)
    title = "Symmetry breaking at initialisation"
    description = (
        "Given an initialisation (zeros, a constant, two tied hidden units, equal incoming "
        "weights only, or RAND(−ε, ε)), data and t SGD steps: does it break symmetry, which "
        "hidden units stay tied, and the value of one hidden unit's weight after t steps."
    )
    topic = "initialisation"
    INITS = ("zeros", "constant", "tied", "partial", "random")
    params = (
        *network_params([2, 2, 1], bias=False),
        Param(
            "init",
            "choice",
            "any",
            "initialisation: zeros, constant, tied (two units equal), partial (equal incoming "
            "weights only), random (RAND(-ε, ε)), or any of them",
            ("any", *INITS),
        ),
        Param("steps", "int", 2, "number of SGD steps t", minimum=1, maximum=3),
        Param("examples", "int", 2, "number of training examples", minimum=1, maximum=3),
        Param("ask_value", "bool", True, "also ask the value of one hidden unit's weight after t steps"),
    )

    def check_params(self, p: dict) -> None:
        check_network_params(p)
        if len(p["sizes"]) < 3 or max(p["sizes"][1:-1]) < 2:
            raise ParamError(
                "parameter 'sizes' needs a hidden layer with at least 2 units, e.g. 2,2,1"
            )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        notation, lr, loss, steps = p["notation"], p["lr"], p["loss"], p["steps"]
        sizes = p["sizes"]
        mode = p["init"] if p["init"] != "any" else self.INITS[int(rng.integers(len(self.INITS)))]
        net, made, partial_pair, init_text = self._initialise(mode, p, rng)
        X, Y = draw_examples(p, rng, p["examples"])
        order = [int(e) for e in rng.permutation(p["examples"])]
        report = persistent_ties(net, X, Y, loss, lr, steps, order=order)
        record = report.record
        traces = []
        for t, batch in enumerate(record.batches):
            trace = forward(record.networks[t], X[:, batch])
            traces.append(trace)
            for l, layer in enumerate(record.networks[t].layers, start=1):
                if np.any(off_by_rounding(layer, trace.Z[l])):
                    raise Redraw("pre-activation within rounding of a kink")
                saturates = layer.activation.name in ("sigmoid", "tanh")
                checked = t == 0 or lr <= MODERATE_LR
                if checked and saturates and np.any(np.abs(trace.Z[l]) > SATURATION):
                    raise Redraw("saturated unit")
        start_groups = initial_tie_groups(net)
        if sorted(g.neurons for g in start_groups) != sorted(made):
            raise Redraw("the draw tied other units by accident")

        ids = neuron_ids(sizes)
        hidden = [(l, c) for l in range(1, len(sizes) - 1) for c in range(sizes[l])]
        unit_id = {
            (l, c): (f"a_{ids[l][c]}" if notation == "graph" else f"A{l}_{c + 1}")
            for l, c in hidden
        }
        unit_label = {
            (l, c): (f"$a_{{{ids[l][c]}}}$" if notation == "graph" else f"$A^{{{l}}}_{{{c + 1}}}$")
            for l, c in hidden
        }
        tied = [unit_id[(g.layer, u)] for g in report.groups for u in g.units]
        answers: dict[str, Any] = {
            "breaks": "yes" if report.breaks_symmetry else "no",
            "tied_units": tied or ["none"],
        }
        fields = [
            Field(
                "breaks",
                "Does this initialisation break the symmetry between the hidden units?",
                (),
                "choice",
                choices=YES_NO,
            ),
            Field(
                "tied_units",
                f"Hidden units still tied after {steps} step{'s' if steps > 1 else ''}",
                (),
                "choices",
                choices=[{"id": unit_id[h], "label": unit_label[h]} for h in hidden]
                + [{"id": "none", "label": "none"}],
            ),
        ]
        value_addr = None
        if p["ask_value"]:
            # any weight of a hidden unit, drawn the same way whatever the initialisation: which
            # weight is asked (and whether one is) must not tell the student about the ties
            value_addr = self._asked_weight(net, rng)
            fields.append(
                with_step_from(
                    Field(
                        "weight",
                        f"${at_step(edge_symbol(sizes, value_addr, notation), steps, notation)}$",
                        (),
                        "number",
                    ),
                    net,  # its change over the t steps (its last step may leave it as it was)
                    value_addr,
                )
            )
            answers["weight"] = pick(record.final, value_addr)

        solution = self._solution(report, X, Y, loss, notation)
        convention = convention_sentence(net, traces)
        t_text = f"{steps} step{'s' if steps > 1 else ''}"
        question = (
            f"(a) Does this initialisation break the symmetry between hidden units? (b) Which hidden "
            f"units are still tied (equal incoming weights, bias and outgoing weights) after {t_text}?"
        )
        if value_addr is not None:
            question += f" (c) What is ${edge_symbol(sizes, value_addr, notation)}$ after {t_text}?"
        text = " ".join(
            part
            for part in [
                f"A {'-'.join(map(str, sizes))} feed-forward network is initialised {init_text}: "
                f"{describe_network(net, notation)}.",
                activation_sentence(net),
                f"It is trained with SGD (loss ${cost_latex(loss, notation, sizes)}$, $\\alpha = {fmt(lr)}$) for "
                f"{t_text} on the examples {example_latex(X, Y)}, visited in the order "
                + ", ".join(f"$({b[0] + 1})$" for b in record.batches)
                + ".",
                convention,
                question,
            ]
            if part
        )
        draft = Draft(
            text=text,
            data={
                "network": net.to_dict(),
                "init": mode,
                "X": X.T,
                "Y": Y.T,
                "loss": loss,
                "lr": lr,
                "steps": steps,
                "order": order,
                "notation": notation,
                "units": {unit_id[h]: [h[0], h[1]] for h in hidden},
                "asked": {"weight": value_addr.to_list()} if value_addr else {},
            },
            fields=fields,
            answers=answers,
            solution=solution,
            diagram=network_diagram(net, notation),
            step_note=TOTAL_STEP_NOTE,  # the weight's change over the t steps (with_step_from above)
        )
        graph = notation == "graph"
        if not report.breaks_symmetry:
            add_mistake(
                draft,
                "training_breaks_tie",
                "Thought training alone breaks the tie",
                (
                    "Tied units have in_j equal, hence a_j and Δ_j equal, hence equal updates: the "
                    if graph
                    else "Tied units have equal entries of Z^l, hence of A^l and Δ^l, hence equal updates: the "
                )
                + "equalities hold again at t + 1 and so forever, whatever the data.",
                {"breaks": "yes", "tied_units": ["none"]},
            )
            if mode in ("constant", "tied"):
                add_mistake(
                    draft,
                    "nonzero_equal_breaks",
                    "Thought equal non-zero weights break symmetry",
                    "Only unequal weights break symmetry: equal non-zero values tie units exactly as zeros do.",
                    {"breaks": "yes", "tied_units": ["none"]},
                )
            if value_addr is not None and self._of_tied_unit(report, value_addr):
                add_mistake(
                    draft,
                    "tied_weights_frozen",
                    "Thought tied weights stop changing",
                    "Tied weights still move at every step, only by equal amounts, so they stay equal.",
                    {"weight": pick(net, value_addr)},
                )
        if mode == "random":
            add_mistake(
                draft,
                "random_still_tied",
                "Thought a small random initialisation still leaves units tied",
                "RAND(−ε, ε) gives different weights to different units, so their "
                + ("in_j and Δ_j differ." if graph else "entries of Z^l and Δ^l differ."),
                {"breaks": "no"},
            )
        if partial_pair:
            pair = [unit_id[unit] for unit in partial_pair]
            add_mistake(
                draft,
                "equal_incoming_is_tied",
                "Thought equal incoming weights are enough for a tie",
                "A tie also needs equal outgoing weights: with w_{j,k} ≠ w_{j',k} the units get "
                "different Δ_j and their incoming weights move apart."
                if graph
                else "A tie also needs equal outgoing weights: with unequal rows of W^{l+1} the units "
                "get different entries of Δ^l and their incoming weights (columns of W^l) move apart.",
                {"breaks": "no", "tied_units": pair},
            )
        return draft

    # --- helpers of the symmetry kind ---

    def _initialise(
        self, mode: str, p: dict, rng: np.random.Generator
    ) -> tuple[Network, list, list, str]:
        """(network, tie groups built on purpose as neuron tuples, the (layer, unit) pair with
        equal incoming weights only (partial mode), words for the prompt)."""
        sizes, acts, style = p["sizes"], activations_of(p), p["style"]
        ids = neuron_ids(sizes)
        all_hidden = [tuple(ids[l]) for l in range(1, len(sizes) - 1) if sizes[l] > 1]
        if mode == "zeros":
            W, B = nninit.zeros(sizes)
            return make_network(W, B, acts), all_hidden, [], "with every weight and bias equal to 0"
        if mode == "constant":
            c = float(draw_values(rng, (), style))
            if c == 0.0:
                raise Redraw("constant 0 is the zeros case")
            W, B = nninit.constant(sizes, c, biases="same")
            return (
                make_network(W, B, acts),
                all_hidden,
                [],
                f"with every weight and bias equal to {fmt(c)}",
            )
        if mode == "random":
            W, B = nninit.uniform(sizes, rng, RAND_EPSILON, biases="same")
            decimals = 1 if style == "hand" else 2
            W = [np.round(w, decimals) for w in W]
            B = [np.round(b, decimals) for b in B]
            words = f"with each weight and bias drawn from RAND$(-{fmt(RAND_EPSILON)}, {fmt(RAND_EPSILON)})$"
            return make_network(W, B, acts), [], [], words
        net = draw_network(rng, sizes, acts, style, bias=True)
        layers = [l for l in range(1, len(sizes) - 1) if sizes[l] > 1]
        l = layers[int(rng.integers(len(layers)))]
        j, k = sorted(int(u) for u in rng.choice(sizes[l], size=2, replace=False))
        layer, nxt = net.layer(l), net.layer(l + 1)
        layer.W[:, k] = layer.W[:, j]
        layer.W0[k] = layer.W0[j]
        if mode == "tied":
            nxt.W[k, :] = nxt.W[j, :]
            return net, [(ids[l][j], ids[l][k])], [], "with the weights below"
        if np.array_equal(nxt.W[k, :], nxt.W[j, :]):
            raise Redraw("partial tie drew equal outgoing weights")
        return net, [], [(l, j), (l, k)], "with the weights below"

    @staticmethod
    def _asked_weight(net: Network, rng: np.random.Generator) -> Addr:
        """A weight of a hidden unit (incoming, bias or outgoing), drawn uniformly from all of them."""
        candidates = []
        for l in range(1, net.depth):
            layer, nxt = net.layer(l), net.layer(l + 1)
            for j in range(layer.n_out):
                candidates += [Addr(l, "W", i, j) for i in range(layer.n_in)]
                candidates.append(Addr(l, "W0", j, 0))
                candidates += [Addr(l + 1, "W", j, c) for c in range(nxt.n_out)]
        return candidates[int(rng.integers(len(candidates)))]

    @staticmethod
    def _of_tied_unit(report, addr: Addr) -> bool:
        """Whether `addr` is a weight of a unit that stays tied: into it, its bias, or out of it."""
        if addr.kind == "W0":
            units = [(addr.layer, addr.row)]
        else:
            units = [(addr.layer, addr.col), (addr.layer - 1, addr.row)]
        return any(l == g.layer and u in g.units for l, u in units for g in report.groups)

    @staticmethod
    def _solution(report, X: np.ndarray, Y: np.ndarray, loss: str, notation: str) -> list[dict]:
        """Ties at t = 0, every step's table and weights, and why the tie persists (or none)."""
        record = report.record
        steps = []
        start = report.initial_groups
        if start:
            lines = []
            for g in start:
                names = [
                    f"a_{{{n}}}" if notation == "graph" else f"A^{{{g.layer}}}_{{{u + 1}}}"
                    for n, u in zip(g.neurons, g.units, strict=True)
                ]
                lines.append(" = ".join(names))
            steps.append(
                step(
                    "Ties at t = 0",
                    "\\text{equal incoming weights, biases and outgoing weights: } "
                    + ";\\; ".join(lines),
                    groups=[list(g.neurons) for g in start],
                )
            )
        else:
            steps.append(
                step(
                    "Ties at t = 0",
                    "\\text{no two hidden units of a layer have equal incoming weights, bias and outgoing weights}",
                    groups=[],
                )
            )
        for t, batch in enumerate(record.batches):
            e = batch[0]
            steps.append(
                pass_step(
                    record.networks[t],
                    X[:, e],
                    Y[:, e],
                    loss,
                    notation,
                    f"Step {t + 1}: example {e + 1}, forward and Δ",
                )
            )
            after = record.networks[t + 1]
            addrs = [
                a
                for l in range(1, after.depth + 1)
                for a in layer_addresses(after, l, notation, True)
            ]
            steps.append(
                step(
                    f"Step {t + 1}: weights after the update",
                    values_latex(
                        after, addrs, after, notation, lambda s, t=t: at_step(s, t + 1, notation)
                    ),
                    weights=[pick(after, a) for a in addrs],
                )
            )
        if report.groups:
            why = _TIE_PERSISTS[notation]
            steps.append(
                step(
                    "Why the tie persists",
                    why,
                    tied=[list(g.neurons) for g in report.groups],
                )
            )
        else:
            steps.append(
                step(
                    "Conclusion",
                    "\\text{no hidden units are tied: the initialisation breaks symmetry}",
                    tied=[],
                )
            )
        return steps


# Why tied units stay tied, as symmetry_breaking's solution writes it in each notation (matrix:
# units c and c' of layer l, f the activation, W^{l+1} the weights out of layer l).
_TIE_PERSISTS = {
    "graph": (
        "in_j = in_{j'} \\Rightarrow a_j = a_{j'};\\; \\Delta_j = g'(in_j)\\sum_k w_{j,k}\\Delta_k = \\Delta_{j'}"
        "\\Rightarrow \\text{equal updates, so the tie holds at every step}"
    ),
    "matrix": (
        "Z^l_{c} = Z^l_{c'} \\Rightarrow A^l_{c} = A^l_{c'};\\; \\Delta^l_{c} = f'(Z^l_{c}) \\sum_k W^{l+1}_{c,k} \\Delta^{l+1}_k "
        "= \\Delta^l_{c'} \\Rightarrow \\text{equal updates, so the tie holds at every step}"
    ),
}


class InitScale(ProblemKind):
    """Xavier/Glorot and He/Kaiming initialisation scales (nncore.init's schemes)."""

    id = "init_scale"
    # v2: a draw where a misconception's answer, written to 3 or 4 significant figures as a
    # student types it, would be credited is redrawn (ProblemKind._finish)
    # v3: choice questions name the right scheme with the other scheme's formula, and a
    # forgotten 2 (they were graded 0 without a word: QA)
    version = 3
    title = "Weight initialisation scale"
    description = (
        "The Xavier/Glorot uniform limit sqrt(6/(n_in+n_out)), Xavier normal std "
        "sqrt(2/(n_in+n_out)), He normal std sqrt(2/n_in) or He uniform limit sqrt(6/n_in) of "
        "a layer; or which scheme suits a ReLU or tanh layer."
    )
    topic = "initialisation"
    # a choice question's data names the scheme whose sigma it asks: the answer (a value
    # question's prompt names its scheme anyway)
    private_data = ("scheme",)
    SCHEMES = ("xavier_uniform", "xavier_normal", "he_normal", "he_uniform")
    NICE = (1.0, 0.5, 0.25, 0.2, 0.125, 0.1, 0.05)  # hand answers: scales with short decimals
    params = (
        Param(
            "scheme",
            "choice",
            "any",
            "initialisation scheme asked (value questions)",
            ("any", *SCHEMES),
        ),
        Param(
            "ask",
            "choice",
            "value",
            "value: the scale of a scheme; choice: which scheme suits the activation",
            ("value", "choice"),
        ),
        Param(
            "activation",
            "choice",
            "any",
            "activation of the layer (choice questions)",
            ("any", "relu", "tanh", "sigmoid"),
        ),
        STYLE_PARAM,
    )

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        if p["ask"] == "choice":
            return self._choice(p, rng)
        scheme = (
            p["scheme"]
            if p["scheme"] != "any"
            else self.SCHEMES[int(rng.integers(len(self.SCHEMES)))]
        )
        n_in, n_out = self._draw_sizes(scheme, p["style"], rng)
        scale = engine_scale(scheme, n_in, n_out)
        uniform = scheme.endswith("uniform")
        family = "Xavier/Glorot" if scheme.startswith("xavier") else "He/Kaiming"
        what = (
            "the limit $r$ of $U(-r, r)$"
            if uniform
            else "the standard deviation $\\sigma$ of $N(0, \\sigma^2)$"
        )
        field = Field("scale", "$r$" if uniform else "$\\sigma$", (), "number")
        formula = _FORMULAS[scheme]
        text = (
            f"A fully connected layer has $n_{{in}} = {n_in}$ inputs and $n_{{out}} = {n_out}$ units. "
            f"Its weights are initialised with {family} {'uniform' if uniform else 'normal'} initialisation. "
            f"Give {what}."
        )
        draft = Draft(
            text=text,
            data={"scheme": scheme, "n_in": n_in, "n_out": n_out},
            fields=[field],
            answers={"scale": scale},
            solution=[
                step("Formula", formula, scheme=scheme),
                step(
                    "Value",
                    formula.split("=")[0]
                    + "= "
                    + _substituted(scheme, n_in, n_out)
                    + f" = {fmt(scale)}",
                    scale=scale,
                ),
            ],
        )
        other = {
            "xavier_uniform": "he_uniform",
            "xavier_normal": "he_normal",
            "he_normal": "xavier_normal",
            "he_uniform": "xavier_uniform",
        }[scheme]
        add_mistake(
            draft,
            "swapped_xavier_he",
            "Swapped Xavier and He",
            "Xavier/Glorot averages fan-in and fan-out (2/(n_in + n_out)); He/Kaiming uses the fan-in only (2/n_in).",
            {"scale": engine_scale(other, n_in, n_out)},
        )
        numerator = 6.0 if uniform else 2.0
        add_mistake(
            draft,
            f"forgot_{int(numerator)}",
            f"Forgot the {int(numerator)} in the formula",
            f"The {'limit' if uniform else 'standard deviation'} is sqrt({int(numerator)}/…), not sqrt(1/…).",
            {"scale": scale / np.sqrt(numerator)},
        )
        if uniform:
            add_mistake(
                draft,
                "used_normal_std",
                "Gave the normal scheme's standard deviation",
                "A uniform U(−r, r) has variance r²/3, so its limit is sqrt(6/…) where the normal's std is sqrt(2/…).",
                {"scale": engine_scale(scheme.replace("uniform", "normal"), n_in, n_out)},
            )
        if scheme.startswith("he"):
            add_mistake(
                draft,
                "he_used_n_out",
                "Used n_out for He",
                "He/Kaiming initialisation scales by the fan-in n_in (the inputs each unit sums over).",
                {"scale": engine_scale(scheme, n_out, n_in)},
            )
        add_mistake(
            draft,
            "forgot_sqrt",
            "Forgot the square root",
            f"{'6' if uniform else '2'}/(…) is {'r² (three times the variance)' if uniform else 'the variance σ²'}; the answer is its square root.",
            {"scale": scale**2},
        )
        return draft

    def _choice(self, p: dict, rng: np.random.Generator) -> Draft:
        activation = p["activation"]
        if activation == "any":
            activation = ("relu", "tanh", "sigmoid")[int(rng.integers(3))]
        n_in, n_out = self._draw_sizes(
            "he_normal" if activation == "relu" else "xavier_normal", p["style"], rng
        )
        right = "he" if activation == "relu" else "xavier"
        scheme = "he_normal" if right == "he" else "xavier_normal"
        std = engine_scale(scheme, n_in, n_out)
        choices = [
            {"id": "xavier", "label": "Xavier/Glorot"},
            {"id": "he", "label": "He/Kaiming"},
            {"id": "zeros", "label": "All weights 0"},
        ]
        text = (
            f"A fully connected layer with $n_{{in}} = {n_in}$ inputs and $n_{{out}} = {n_out}$ units uses the "
            f"{activation} activation. Which initialisation scheme suits it, and what standard deviation "
            "$\\sigma$ does the normal version of that scheme use?"
        )
        draft = Draft(
            text=text,
            data={"activation": activation, "n_in": n_in, "n_out": n_out, "scheme": scheme},
            fields=[
                Field("scheme", "Suitable initialisation", (), "choice", choices=choices),
                Field("std", "$\\sigma$", (), "number"),
            ],
            answers={"scheme": right, "std": std},
            solution=[
                step(
                    "Scheme",
                    "\\text{ReLU zeroes half its inputs, so He/Kaiming doubles the variance: } \\mathrm{Var}(w) = 2/n_{in}"
                    if right == "he"
                    else f"\\text{{{activation} is symmetric and near-linear at 0: Xavier/Glorot }} \\mathrm{{Var}}(w) = 2/(n_{{in}} + n_{{out}})",
                    scheme=right,
                ),
                step(
                    "Standard deviation",
                    _FORMULAS[scheme].split("=")[0]
                    + "= "
                    + _substituted(scheme, n_in, n_out)
                    + f" = {fmt(std)}",
                    std=std,
                ),
            ],
        )
        wrong = "xavier" if right == "he" else "he"
        wrong_scheme = "xavier_normal" if right == "he" else "he_normal"
        add_mistake(
            draft,
            "swapped_xavier_he",
            "Swapped Xavier and He",
            "He/Kaiming suits ReLU (it zeroes half the inputs); Xavier/Glorot suits tanh and sigmoid.",
            {"scheme": wrong, "std": engine_scale(wrong_scheme, n_in, n_out)},
        )
        add_mistake(
            draft,
            "other_scheme_formula",
            "Named the right scheme but used the other one's formula",
            "He/Kaiming's σ is sqrt(2/n_in) (fan-in only); Xavier/Glorot's is sqrt(2/(n_in + n_out))."
            if right == "he"
            else "Xavier/Glorot's σ is sqrt(2/(n_in + n_out)) (fan-in and fan-out); He/Kaiming's is sqrt(2/n_in).",
            {"std": engine_scale(wrong_scheme, n_in, n_out)},
        )
        add_mistake(
            draft,
            "forgot_2",
            "Forgot the 2 in the formula",
            "The standard deviation is sqrt(2/…), not sqrt(1/…).",
            {"std": std / np.sqrt(2.0)},
        )
        add_mistake(
            draft,
            "zero_init",
            "Chose zero initialisation",
            "All-zero weights never break the symmetry between the units of a layer.",
            {"scheme": "zeros"},
        )
        if right == "he":
            add_mistake(
                draft,
                "he_used_n_out",
                "Used n_out for He",
                "He/Kaiming initialisation scales by the fan-in n_in.",
                {"std": engine_scale("he_normal", n_out, n_in)},
            )
        return draft

    def _draw_sizes(self, scheme: str, style: str, rng: np.random.Generator) -> tuple[int, int]:
        """(n_in, n_out), distinct; hand sizes make the scale one of NICE."""
        if style == "random":
            n_in, n_out = (int(v) for v in rng.choice(np.arange(2, 1025), size=2, replace=False))
            return n_in, n_out
        r = self.NICE[int(rng.integers(len(self.NICE)))]
        numerator = 6.0 if scheme.endswith("uniform") else 2.0
        target = int(round(numerator / r**2))
        if scheme.startswith("he"):
            n_in = target
            n_out = int(rng.integers(1, 1025))
            if n_out == n_in:
                raise Redraw("n_out equal to n_in")
            return n_in, n_out
        if target < 3:
            raise Redraw("no two distinct positive sizes sum to this")
        n_in = int(rng.integers(1, target))
        n_out = target - n_in
        if n_in == n_out:
            raise Redraw("n_in equal to n_out")
        return n_in, n_out


_FORMULAS = {
    "xavier_uniform": "r = \\sqrt{6 / (n_{in} + n_{out})}",
    "xavier_normal": "\\sigma = \\sqrt{2 / (n_{in} + n_{out})}",
    "he_normal": "\\sigma = \\sqrt{2 / n_{in}}",
    "he_uniform": "r = \\sqrt{6 / n_{in}}",
}


def _substituted(scheme: str, n_in: int, n_out: int) -> str:
    numerator = 6 if scheme.endswith("uniform") else 2
    if scheme.startswith("xavier"):
        return f"\\sqrt{{{numerator} / ({n_in} + {n_out})}}"
    return f"\\sqrt{{{numerator} / {n_in}}}"


class _ScaleProbe(np.random.Generator):
    """A Generator that records the U(−r, r) limit or N(0, σ²) scale `nncore.init` asks for,
    so the reference scale is the one the engine's sampler actually uses."""

    scale: float = float("nan")

    def uniform(self, low=0.0, high=1.0, size=None):
        self.scale = float(high)
        return np.zeros(size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        self.scale = float(scale)
        return np.zeros(size)


def engine_scale(scheme: str, n_in: int, n_out: int) -> float:
    """The limit r (uniform schemes) or std σ (normal schemes) nncore.init uses for one layer."""
    probe = _ScaleProbe(np.random.PCG64(0))
    nninit.initial_weights([n_in, n_out], scheme, probe)
    return probe.scale


# --- helpers shared by the update kinds -------------------------------------------------------------


def _target_addresses(
    net: Network, new_net: Network, p: dict, rng: np.random.Generator
) -> list[Addr]:
    """The whole layer (notation-dependent), or one entry (bias edges included) drawn among
    those whose step is detectable at the grading tolerance (see `require_detectable`)."""
    l = p["layer"]
    if p["target"] == "layer":
        addrs = layer_addresses(net, l, p["notation"], p["bias"])
        require_detectable(net, new_net, addrs, p["lr"])
        return addrs
    entries = entry_addresses(net, l, p["bias"])
    if p["lr"] >= DETECTABLE_LR:
        entries = [a for a in entries if moved(net, new_net, a)]
        if not entries:
            raise Redraw("no weight of the layer moves detectably")
    return [entries[int(rng.integers(len(entries)))]]


def moved(before: Network, after: Network, addr: Addr) -> bool:
    """Whether the step changes this weight beyond the grading tolerance (so that giving the
    weight before the step is graded wrong)."""
    old = np.asarray(pick(before, addr), dtype=float)
    new = np.asarray(pick(after, addr), dtype=float)
    rtol, atol = DEFAULT_TOLERANCE["rtol"], DEFAULT_TOLERANCE["atol"]
    return bool(np.any(np.abs(new - old) > atol + rtol * np.abs(new)))


def require_detectable(before: Network, after: Network, addrs: list[Addr], lr: float) -> None:
    """Redraw unless some asked weight moves beyond the grading tolerance.

    A step smaller than rtol·|w| would accept the unchanged weight as correct. With a tiny α
    (below DETECTABLE_LR) no draw can satisfy this, so such instructor-chosen α are let through.
    """
    if lr >= DETECTABLE_LR and not any(moved(before, after, a) for a in addrs):
        raise Redraw("the step is below the grading tolerance for every asked weight")


def _shape_in(net: Network) -> Callable[[Addr], tuple[int, int]]:
    def shape_of(addr: Addr) -> tuple[int, int]:
        layer = net.layer(addr.layer)
        return layer.W.shape if addr.kind == "W" else layer.W0.shape

    return shape_of


def _weight_field(
    net: Network,
    addr: Addr,
    notation: str,
    tag: str,
    when: str,
    when_text: str,
    depends_on: list[str] | None = None,
) -> Field:
    return field_for(
        net.sizes,
        addr,
        notation,
        WEIGHTS,
        tag=tag,
        when_graph=when,
        when_matrix=when_text,
        shape_of=_shape_in(net),
        depends_on=depends_on,
    )


def with_step_from(field: Field, before: Network, addr: Addr) -> Field:
    """The field of an updated weight, with the weight before its step: graded on its change
    too (base.step_close), which is often below the tolerance."""
    return dataclasses.replace(field, step_from=canonical(pick(before, addr)))


def _ask_sentence(net: Network, addrs: list[Addr], notation: str, when: str) -> str:
    if len(addrs) == 1 and addrs[0].row is not None:
        return f"Give ${edge_symbol(net.sizes, addrs[0], notation)}$ {when}."
    l = addrs[0].layer
    if notation == "graph":
        units = neuron_ids(net.sizes)[l]
        into = ", ".join(str(j) for j in units)
        plural = "s" if len(units) > 1 else ""
        bias = " (biases $w_{0,j}$ included)" if any(a.kind == "W0" for a in addrs) else ""
        return f"Give every weight into unit{plural} {into}{bias} {when}."
    biases = " and $W_0^{" + str(l) + "}$" if any(a.kind == "W0" for a in addrs) else ""
    return f"Give $W^{{{l}}}${biases} {when}."


def _decay_latex(net: Network, addrs: list[Addr], notation: str, lr: float, lam: float) -> str:
    """2αλw for each decayed weight, with the numbers substituted."""
    if not addrs:
        return "\\text{the asked weights are biases, which are not regularised here}"
    factor = f"2 \\cdot {fmt(lr)} \\cdot {fmt(lam)}"
    parts = []
    for addr in addrs:
        if addr.row is None:
            name = f"W^{{{addr.layer}}}" if addr.kind == "W" else f"W_0^{{{addr.layer}}}"
            value = np.asarray(arrays_of(net)[0 if addr.kind == "W" else 1][addr.layer])
            parts.append(
                f"2\\alpha\\lambda {name} = {factor} {latex_matrix(value)} = {latex_matrix(2 * lr * lam * value)}"
            )
        else:
            w = pick(net, addr)
            parts.append(
                f"2\\alpha\\lambda {edge_symbol(net.sizes, addr, notation)} = {factor} \\cdot ({fmt(w)}) = {fmt(2 * lr * lam * w)}"
            )
    return ",\\; ".join(parts)


def _wrap_gradient(G: np.ndarray) -> Gradients:
    """A given gradient as the engine's Gradients (one 'layer', no bias entries)."""
    dW = G.reshape(-1, 1) if G.ndim == 1 else G
    return Gradients([None, None], [None, dW], [None, np.zeros((0, 1))], [None, None])


def _map_gradients(grads: Gradients, f: Callable[[np.ndarray], np.ndarray]) -> Gradients:
    return Gradients(
        grads.delta,
        [None] + [f(d) for d in grads.dW[1:]],
        [None] + [f(d) for d in grads.dW0[1:]],
        grads.dA,
    )


def _per_layer_clip(grads: Gradients, tau: float) -> Gradients:
    dW, dW0 = [None], [None]
    for w, b in zip(grads.dW[1:], grads.dW0[1:], strict=True):
        norm = float(np.sqrt(np.sum(w**2) + np.sum(b**2)))
        scale = tau / norm if norm > tau else 1.0
        dW.append(w * scale)
        dW0.append(b * scale)
    return Gradients(grads.delta, dW, dW0, grads.dA)


def _draw_tau(rng: np.random.Generator, norm: float, style: str, regime: str) -> float:
    """A threshold below ‖∇‖ (clip) or at/above it (no_clip), one decimal (hand) or two."""
    low, high = (0.3, 0.8) if regime == "clip" else (1.1, 2.0)
    decimals = 1 if style == "hand" else 2
    tau = float(np.round(norm * rng.uniform(low, high), decimals))
    if (
        tau <= 0
        or (regime == "clip" and not tau < 0.95 * norm)
        or (regime == "no_clip" and not tau >= norm)
    ):
        raise Redraw("threshold too close to the norm")
    return tau


def _clipped_latex(
    net: Network | None, addrs: list[Addr], clipped: Gradients, notation: str
) -> str:
    if net is None:
        return f"\\nabla \\leftarrow {latex_matrix(clipped.dW[1])}"
    return values_latex(net, addrs, clipped, notation, lambda s: f"\\partial J/\\partial {s}")


KINDS = (
    MinibatchUpdate,
    WeightDecayUpdate,
    SgdSteps,
    GradientClipping,
    SymmetryBreaking,
    InitScale,
)
