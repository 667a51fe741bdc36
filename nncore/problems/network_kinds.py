"""Kinds about one example pushed through a small network: forward pass, loss, Δ, gradients,
SGD updates, and the chained multi-part question with error carried forward.

They share `NetworkKind`: draw a network, an input and a target; compute every quantity with
`chain_pass`; ask some of them as fields in the chosen notation; attach the misconceptions that
can change those fields and the rounded-intermediate alternatives graders accept.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nncore.losses import get_loss
from nncore.network import Network, forward, network_from_dict
from nncore.notation import neuron_ids
from nncore.problems.base import (
    DEFAULT_TOLERANCE,
    Draft,
    Field,
    Param,
    ParamError,
    ProblemKind,
    Redraw,
    _close,
    step,
)
from nncore.problems.chain import MISTAKES, applicable_mistakes, chain_pass
from nncore.problems.common import (
    ELEMENTWISE,
    NOTATION_PARAM,
    STYLE_PARAM,
    activation_sentence,
    check_calculator_friendly,
    describe_network,
    draw_network,
    draw_values,
    fmt,
    latex_matrix,
    network_diagram,
)

ROUNDED_PATHS = (3, 4)  # significant figures of the calculator paths graders also accept

# A field asks for a quantity of chain_pass, whole or one entry (row, col).
Ask = tuple[Field, str, tuple[int, int] | None]


def sizes_param(default: list[int]) -> Param:
    return Param("sizes", "int_list", default, "units per layer, inputs first (e.g. 2,2,1)", minimum=1, maximum=6)


HIDDEN_PARAM = Param("hidden", "choice", "sigmoid", "activation of hidden units", ELEMENTWISE)
OUTPUT_PARAM = Param("output", "choice", "sigmoid", "activation of output units", (*ELEMENTWISE, "softmax"))
LOSS_PARAM = Param("loss", "choice", "squared", "loss: squared (y - g)^2, nll (binary), cross_entropy", ("squared", "nll", "cross_entropy"))
LR_PARAM = Param("lr", "float", 0.5, "learning rate α", minimum=1e-6, maximum=10.0)
BIAS_PARAM = Param("bias", "bool", True, "whether units have biases w_{0,j} (004's example has none)")


def check_network_params(p: dict) -> None:
    """Sizes, output activation and loss that fit together; a 'layer' within the sizes."""
    sizes = p["sizes"]
    if len(sizes) < 2:
        raise ParamError("parameter 'sizes' needs at least an input and an output layer, e.g. 2,1")
    loss, out = p["loss"], p["output"]
    if loss == "nll" and out != "sigmoid":
        raise ParamError("loss 'nll' needs output 'sigmoid' (a probability in (0, 1))")
    if loss == "cross_entropy" and out != "softmax":
        raise ParamError("loss 'cross_entropy' needs output 'softmax'")
    if out == "softmax" and (loss != "cross_entropy" or sizes[-1] < 2):
        raise ParamError("output 'softmax' needs loss 'cross_entropy' and at least 2 output units")
    if loss == "nll" and sizes[-1] != 1:
        raise ParamError("loss 'nll' is binary: the last size must be 1")
    if "layer" in p and p["layer"] > len(sizes) - 1:
        raise ParamError(f"parameter 'layer' must be at most {len(sizes) - 1} for sizes {sizes}")


class NetworkKind(ProblemKind):
    """Base of the kinds built on one example through a layered network."""

    topic = "backprop"
    default_sizes: ClassVar[list[int]] = [2, 2, 1]
    params = (
        sizes_param([2, 2, 1]),
        HIDDEN_PARAM,
        OUTPUT_PARAM,
        LOSS_PARAM,
        NOTATION_PARAM,
        STYLE_PARAM,
        LR_PARAM,
        BIAS_PARAM,
    )

    # --- what a subclass decides ------------------------------------------------------------

    def asks(self, p: dict, net: Network, rng: np.random.Generator) -> list[Ask]:
        raise NotImplementedError

    def question(self, p: dict, net: Network) -> str:
        raise NotImplementedError

    # --- shared machinery -------------------------------------------------------------------

    def check_params(self, p: dict) -> None:
        check_network_params(p)

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        sizes = p["sizes"]
        activations = [p["hidden"]] * (len(sizes) - 2) + [p["output"]]
        net = draw_network(rng, sizes, activations, p["style"], bias=p["bias"])
        x = draw_values(rng, (sizes[0],), p["style"])
        y = self.draw_target(p, rng)
        trace = forward(net, x)
        check_calculator_friendly(net, trace)
        if not np.all(np.isfinite(trace.output)):
            raise Redraw("non-finite output")
        asks = self.asks(p, net, rng)
        quantities = {q for _, q, _ in asks}
        forward_only = all(q.startswith(("Z", "A")) or q == "L" for q in quantities)
        values = chain_pass(net, x, y, p["loss"], p["lr"], forward_only=forward_only)
        self.check_interesting(values, quantities)
        answers = {f.name: _pick(values, q, idx) for f, q, idx in asks}
        draft = Draft(
            text=self.prompt_text(p, net, x, y),
            data={
                "network": net.to_dict(),
                "x": x,
                "y": y,
                "loss": p["loss"],
                "lr": p["lr"],
                "notation": p["notation"],
                "quantities": {f.name: [q, list(idx) if idx else None] for f, q, idx in asks},
            },
            fields=[f for f, _, _ in asks],
            answers=answers,
            solution=solution_steps(net, p["notation"], values, quantities, p["loss"], p["lr"]),
            diagram=network_diagram(net, p["notation"], x, y),
        )
        for k in ROUNDED_PATHS:
            rounded = chain_pass(net, x, y, p["loss"], p["lr"], round_to=k, forward_only=forward_only)
            for f, q, idx in asks:
                draft.alternatives.setdefault(f.name, []).append(_pick(rounded, q, idx))
        for mistake in applicable_mistakes(net, p["loss"], quantities):
            wrong = chain_pass(net, x, y, p["loss"], p["lr"], mistake=mistake, forward_only=forward_only)
            name, explanation = MISTAKES[mistake]
            picked = {f.name: _pick(wrong, q, idx) for f, q, idx in asks}
            finite = {k: v for k, v in picked.items() if np.all(np.isfinite(v))}
            draft.add_misconception(mistake, name, explanation, finite)
        draft.misconceptions = [m for m in draft.misconceptions if _differs(m, answers)]
        return draft

    def draw_target(self, p: dict, rng: np.random.Generator) -> np.ndarray:
        n_out = p["sizes"][-1]
        if p["loss"] == "cross_entropy":
            return np.eye(n_out)[int(rng.integers(n_out))]
        if p["loss"] == "nll" or p["output"] == "sigmoid":
            return rng.integers(0, 2, size=n_out).astype(np.float64)
        return draw_values(rng, (n_out,), p["style"], nonzero=False)

    def check_interesting(self, values: dict, quantities: set[str]) -> None:
        """Redraw when every asked gradient is zero (a dead network says nothing about Δ)."""
        grads = [values[q] for q in quantities if q.startswith(("D", "dW"))]
        if grads and all(np.all(np.abs(g) < 1e-12) for g in grads):
            raise Redraw("all asked gradients vanish")

    def prompt_text(self, p: dict, net: Network, x: np.ndarray, y: np.ndarray) -> str:
        sizes = "-".join(map(str, net.sizes))
        loss = get_loss(p["loss"])
        parts = [
            f"A {sizes} feed-forward network has weights {describe_network(net, p['notation'])}.",
            activation_sentence(net),
            f"The input is $x = {latex_matrix(x)}$ with target $y = {latex_matrix(y)}$; "
            f"the loss is ${loss.latex()}$ and the learning rate is $\\alpha = {fmt(p['lr'])}$.",
            self.question(p, net),
        ]
        return " ".join(parts)

    def recompute(self, instance: dict, given: dict[str, Any]) -> dict[str, Any]:
        """Expected answers when the student's own earlier values are carried forward."""
        data = instance["prompt"]["data"]
        net = network_from_dict(data["network"])
        exact = chain_pass(net, np.array(data["x"]), np.array(data["y"]), data["loss"], data["lr"])
        override: dict[str, np.ndarray] = {}
        for name, (quantity, idx) in data["quantities"].items():
            if name not in given:
                continue
            value = np.asarray(given[name], dtype=np.float64)
            if not np.all(np.isfinite(value)):
                continue
            base = override.setdefault(quantity, exact[quantity].copy())
            if idx is None:
                if value.size != base.size:
                    continue
                base[...] = value.reshape(base.shape)
            elif value.size == 1:
                base[tuple(idx)] = float(value.reshape(()))
        carried = chain_pass(
            net, np.array(data["x"]), np.array(data["y"]), data["loss"], data["lr"], override=override
        )
        return {
            name: _pick(carried, q, tuple(idx) if idx else None)
            for name, (q, idx) in data["quantities"].items()
        }


# --- field construction -------------------------------------------------------------------------


def quantity_asks(net: Network, notation: str, quantity: str, entries=None, depends_on=()) -> list[Ask]:
    """Fields for one chain quantity: whole vectors/matrices in matrix notation, one number per
    neuron or edge in graph notation (`entries` restricts which)."""
    kind, l = _split(quantity)
    value_shape = _shape(net, kind, l)
    if notation == "matrix":
        label, name = _matrix_label(kind, l)
        shape = (value_shape[0],) if value_shape[1] == 1 else value_shape
        ftype = "vector" if len(shape) == 1 else "matrix"
        if shape == (1,):
            shape, ftype = (), "number"
        return [(Field(name, label, shape, ftype, depends_on=list(depends_on)), quantity, None)]
    ids = neuron_ids(net.sizes)
    asks = []
    for idx in entries or np.ndindex(*value_shape):
        name, label = _graph_name(kind, l, idx, ids)
        asks.append((Field(name, label, (), "number", depends_on=list(depends_on)), quantity, tuple(idx)))
    return asks


def _split(quantity: str) -> tuple[str, int]:
    if quantity.endswith("_new"):
        base = quantity[: -len("_new")]
        kind = "W0new" if base.startswith("W0") else "Wnew"
        return kind, int(base[2:] if kind == "W0new" else base[1:])
    for prefix in ("dW0", "dW", "Z", "A", "D"):
        if quantity.startswith(prefix):
            return prefix, int(quantity[len(prefix):])
    raise ValueError(f"unknown quantity {quantity!r}")


def _shape(net: Network, kind: str, l: int) -> tuple[int, int]:
    layer = net.layer(l)
    if kind in ("dW", "Wnew"):
        return layer.W.shape
    return (layer.n_out, 1)


def _matrix_label(kind: str, l: int) -> tuple[str, str]:
    return {
        "Z": (f"$Z^{{{l}}}$", f"Z{l}"),
        "A": (f"$A^{{{l}}}$", f"A{l}"),
        "D": (f"$\\partial L/\\partial Z^{{{l}}}$", f"dLdZ{l}"),
        "dW": (f"$\\partial L/\\partial W^{{{l}}}$", f"dLdW{l}"),
        "dW0": (f"$\\partial L/\\partial W_0^{{{l}}}$", f"dLdW0{l}"),
        "Wnew": (f"$W^{{{l}}}$ after the update", f"W{l}_new"),
        "W0new": (f"$W_0^{{{l}}}$ after the update", f"W0{l}_new"),
    }[kind]


def _graph_name(kind: str, l: int, idx: tuple[int, int], ids: list[list[int]]) -> tuple[str, str]:
    r, c = idx
    if kind in ("Z", "A", "D", "dW0", "W0new"):
        j = ids[l][r]
        return {
            "Z": (f"in_{j}", f"$in_{{{j}}}$"),
            "A": (f"a_{j}", f"$a_{{{j}}}$"),
            "D": (f"delta_{j}", f"$\\Delta_{{{j}}}$"),
            "dW0": (f"dJdw_0_{j}", f"$\\partial J/\\partial w_{{0,{j}}}$"),
            "W0new": (f"w_0_{j}_new", f"$w_{{0,{j}}}^{{(t+1)}}$"),
        }[kind]
    i, j = ids[l - 1][r], ids[l][c]
    if kind == "dW":
        return f"dJdw_{i}_{j}", f"$\\partial J/\\partial w_{{{i},{j}}}$"
    return f"w_{i}_{j}_new", f"$w_{{{i},{j}}}^{{(t+1)}}$"


def _pick(values: dict, quantity: str, idx) -> Any:
    value = values[quantity]
    if idx is not None:
        return float(value[tuple(idx)])
    if value.size == 1:
        return float(value.reshape(()))
    return value[:, 0] if value.ndim == 2 and value.shape[1] == 1 else value


def _differs(misconception: dict, answers: dict) -> bool:
    """Whether the mistake changes at least one asked answer beyond the default tolerance."""
    return any(not _close(v, answers[k], DEFAULT_TOLERANCE) for k, v in misconception["answers"].items())


# --- worked solutions ---------------------------------------------------------------------------


def solution_steps(net: Network, notation: str, values: dict, asked: set[str], loss: str, lr: float) -> list[dict]:
    """The board work up to the last asked quantity: forward, loss, Δ, gradients, updates."""
    L = net.depth
    steps = []
    needs_backward = any(not (q.startswith(("Z", "A")) or q == "L") for q in asked)
    for l, layer in enumerate(net.layers, start=1):
        f = layer.activation.latex()
        steps.append(
            step(
                f"Layer {l} forward",
                f"Z^{{{l}}} = (W^{{{l}}})^T A^{{{l - 1}}} + W_0^{{{l}}} = {latex_matrix(values[f'Z{l}'])},\\;"
                f"A^{{{l}}} = {f}(Z^{{{l}}}) = {latex_matrix(values[f'A{l}'])}",
                Z=values[f"Z{l}"][:, 0],
                A=values[f"A{l}"][:, 0],
            )
        )
    if "L" in asked or needs_backward:
        steps.append(step("Loss", f"{get_loss(loss).latex()} = {fmt(values['L'])}", L=float(values["L"])))
    if not needs_backward:
        return steps
    steps.append(
        step(
            "Output Δ",
            f"\\Delta^{{{L}}} = \\partial L/\\partial Z^{{{L}}} = {latex_matrix(values[f'D{L}'])}",
            delta=values[f"D{L}"][:, 0],
        )
    )
    for l in range(L - 1, 0, -1):
        steps.append(
            step(
                f"Layer {l} Δ",
                f"\\Delta^{{{l}}} = f'(Z^{{{l}}}) \\odot W^{{{l + 1}}} \\Delta^{{{l + 1}}} = {latex_matrix(values[f'D{l}'])}",
                delta=values[f"D{l}"][:, 0],
            )
        )
    if any(q.startswith(("dW", "W")) for q in asked):
        for l in range(1, L + 1):
            steps.append(
                step(
                    f"Layer {l} gradients",
                    f"\\partial L/\\partial W^{{{l}}} = A^{{{l - 1}}} (\\Delta^{{{l}}})^T = {latex_matrix(values[f'dW{l}'])},\\;"
                    f"\\partial L/\\partial W_0^{{{l}}} = \\Delta^{{{l}}}",
                    dW=values[f"dW{l}"],
                    dW0=values[f"dW0{l}"][:, 0],
                )
            )
    if any(q.endswith("_new") for q in asked):
        for l in range(1, L + 1):
            steps.append(
                step(
                    f"Layer {l} update",
                    f"W^{{{l}}} \\leftarrow W^{{{l}}} - {fmt(lr)}\\,\\partial L/\\partial W^{{{l}}} = {latex_matrix(values[f'W{l}_new'])}",
                    W=values[f"W{l}_new"],
                    W0=values[f"W0{l}_new"][:, 0],
                )
            )
    return steps


# --- the kinds ----------------------------------------------------------------------------------


class ForwardMLP(NetworkKind):
    id = "forward_mlp"
    title = "Forward pass through a network"
    description = "Compute every pre-activation and activation of a small MLP for one input."
    topic = "forward"
    params = (*NetworkKind.params, Param("ask", "choice", "all", "which values to ask", ("all", "output")))

    def asks(self, p, net, rng):
        asks: list[Ask] = []
        layers = range(1, net.depth + 1) if p["ask"] == "all" else [net.depth]
        for l in layers:
            asks += quantity_asks(net, p["notation"], f"Z{l}")
            asks += quantity_asks(net, p["notation"], f"A{l}")
        return asks

    def question(self, p, net):
        what = "every $in_j$ and $a_j$" if p["notation"] == "graph" else "every $Z^l$ and $A^l$"
        return f"Compute {what} of the forward pass." if p["ask"] == "all" else "Compute the output."


class ForwardLayer(ForwardMLP):
    id = "forward_layer"
    title = "Forward pass through one layer"
    description = "Pre-activations and activations of one fully connected layer."
    params = tuple(sizes_param([3, 2]) if q.name == "sizes" else q for q in ForwardMLP.params)

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) != 2:
            raise ParamError("parameter 'sizes' must be two numbers (inputs, units) for one layer")


class ForwardNeuron(ForwardLayer):
    id = "forward_neuron"
    title = "Forward pass of one neuron"
    description = "in_j = Σ w_{i,j} a_i and a_j = g(in_j) of a single neuron (002's logistic unit)."
    params = tuple(sizes_param([2, 1]) if q.name == "sizes" else q for q in ForwardMLP.params)

    def check_params(self, p):
        super().check_params(p)
        if p["sizes"][1] != 1:
            raise ParamError("parameter 'sizes' must end in 1 for a single neuron, e.g. 2,1")


class LossValue(NetworkKind):
    id = "loss_value"
    version = 2  # v2: the worked solution stops at the loss
    title = "Loss of a prediction"
    description = "Forward pass to the output, then the loss value (squared, NLL or cross-entropy)."
    topic = "loss"

    def asks(self, p, net, rng):
        out = quantity_asks(net, p["notation"], f"A{net.depth}")
        return out + [(Field("L", "$\\mathcal{L}$", (), "number"), "L", None)]

    def question(self, p, net):
        return "Compute the network's output and the loss $\\mathcal{L}$."


class OutputDelta(NetworkKind):
    id = "output_delta"
    title = "Output-layer Δ"
    description = "Δ_j = ∂L/∂in_j of the output units (base case of backpropagation)."

    def asks(self, p, net, rng):
        return quantity_asks(net, p["notation"], f"D{net.depth}")

    def question(self, p, net):
        return "Compute $\\Delta_j = \\partial J/\\partial in_j$ for the output unit(s)."


class HiddenDelta(NetworkKind):
    id = "hidden_delta"
    title = "Hidden-layer Δ"
    description = "Δ_j = g'(in_j) Σ w_{j,j'} Δ_j' of the last hidden layer (the recursive case)."

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs a hidden layer, e.g. 2,2,1")

    def asks(self, p, net, rng):
        return quantity_asks(net, p["notation"], f"D{net.depth - 1}")

    def question(self, p, net):
        return "Compute $\\Delta_j$ for every unit of the last hidden layer."


class LayerChoiceKind(NetworkKind):
    """A network kind that asks about one chosen layer."""

    params = (*NetworkKind.params, Param("layer", "int", 1, "layer asked about (1 = first)", minimum=1, maximum=6))


class WeightGradient(LayerChoiceKind):
    id = "weight_gradient"
    title = "Gradient of one weight"
    description = "∂J/∂w_{i,j} = Δ_j a_i for one chosen weight."

    def asks(self, p, net, rng):
        l = p["layer"]
        W = net.layer(l).W
        idx = (int(rng.integers(W.shape[0])), int(rng.integers(W.shape[1])))
        return quantity_asks(net, "graph", f"dW{l}", entries=[idx])

    def question(self, p, net):
        return "Compute the partial derivative asked below."


class LayerGradient(LayerChoiceKind):
    id = "layer_gradient"
    title = "Gradient of a whole layer"
    description = "∂L/∂W^l = A^{l-1} (Δ^l)^T and ∂L/∂W_0^l = Δ^l for one layer."

    def asks(self, p, net, rng):
        l = p["layer"]
        asks = quantity_asks(net, p["notation"], f"dW{l}")
        return asks + quantity_asks(net, p["notation"], f"dW0{l}") if p["bias"] else asks

    def question(self, p, net):
        return "Compute the gradient of the loss with respect to every weight and bias of the layer asked."


class SgdUpdate(LayerChoiceKind):
    id = "sgd_update"
    title = "One SGD update"
    description = "w ← w − α Δ_j a_i for one weight or a whole layer, after one example."
    params = (
        *LayerChoiceKind.params,
        Param("target", "choice", "weight", "update one weight or a whole layer", ("weight", "layer")),
    )

    def asks(self, p, net, rng):
        l = p["layer"]
        if p["target"] == "layer":
            asks = quantity_asks(net, p["notation"], f"W{l}_new")
            return asks + quantity_asks(net, p["notation"], f"W0{l}_new") if p["bias"] else asks
        W = net.layer(l).W
        idx = (int(rng.integers(W.shape[0])), int(rng.integers(W.shape[1])))
        return quantity_asks(net, "graph", f"W{l}_new", entries=[idx])

    def question(self, p, net):
        return "Perform one stochastic gradient descent step on this example and give the updated value(s)."


class BackpropChain(NetworkKind):
    """Forward pass -> loss -> output Δ -> hidden Δ -> gradients -> update, as one chain.

    A later part is also graded against `recompute`: what it should be if the student's own
    earlier answers were right, so one early slip does not zero every later part.
    """

    id = "backprop_chain"
    title = "Backpropagation, step by step"
    description = "Multi-part: activations, loss, every Δ, the gradients and one update; errors are carried forward."
    chained = True

    def check_params(self, p):
        super().check_params(p)
        if len(p["sizes"]) < 3:
            raise ParamError("parameter 'sizes' needs a hidden layer, e.g. 2,2,1")

    def asks(self, p, net, rng):
        notation, L = p["notation"], net.depth
        asks: list[Ask] = []
        for l in range(1, L + 1):
            asks += quantity_asks(net, notation, f"A{l}", depends_on=[f.name for f, _, _ in asks])
        forward_names = [f.name for f, _, _ in asks]
        asks.append((Field("L", "$\\mathcal{L}$", (), "number", depends_on=forward_names[-net.sizes[-1]:]), "L", None))
        for l in range(L, 0, -1):
            asks += quantity_asks(net, notation, f"D{l}", depends_on=forward_names)
        for l in range(1, L + 1):
            asks += quantity_asks(net, notation, f"dW{l}", depends_on=forward_names)
        asks += quantity_asks(net, notation, "W1_new")
        return asks

    def question(self, p, net):
        return (
            "Run one step of backpropagation: give every activation, the loss, every Δ, the gradient "
            "of every weight, and the first layer's weights after one SGD step."
        )


KINDS = (ForwardNeuron, ForwardLayer, ForwardMLP, LossValue, OutputDelta, HiddenDelta, WeightGradient, LayerGradient, SgdUpdate, BackpropChain)
