"""Shared pieces of the generators: drawing numbers, checking draws, LaTeX, diagrams, names.

Number styles:
- "hand": integer or one-decimal weights and inputs like the notes' examples, redrawn until a
  student with a calculator can follow (no ReLU pre-activation exactly on the kink, no saturated
  sigmoid/tanh, no softmax tie);
- "random": floats with two decimals in [-2, 2].
"""

from __future__ import annotations

import numpy as np

from nncore.activations import Activation, get_activation
from nncore.network import Layer, Network, Trace
from nncore.notation import neuron_ids
from nncore.problems.base import Param, Redraw

STYLES = ("hand", "random")
NOTATIONS = ("matrix", "graph")
ELEMENTWISE = ("sigmoid", "relu", "tanh", "identity", "leaky_relu", "elu", "softplus")
KINK_MARGIN = 1e-9  # |in_j| below this counts as exactly on a ReLU/step kink
SATURATION = 4.0  # |in_j| above this makes σ'(in_j) < 0.018: a calculator-hostile question

STYLE_PARAM = Param("style", "choice", "hand", "number style: hand (calculator friendly) or random", STYLES)
NOTATION_PARAM = Param(
    "notation", "choice", "graph", "matrix (MIT W^l, Z^l, A^l) or graph (CS 457 w_{i,j}, in_j, a_j)", NOTATIONS
)


def draw_values(rng: np.random.Generator, shape: tuple[int, ...], style: str, *, nonzero=True) -> np.ndarray:
    """Weights or inputs of a style; hand values are integers in [-3, 3] or one-decimal in [-1, 1]."""
    if style == "random":
        return np.round(rng.uniform(-2.0, 2.0, size=shape), 2)
    if rng.random() < 0.5:
        values = rng.integers(-3, 4, size=shape).astype(np.float64)
    else:
        values = rng.integers(-10, 11, size=shape) / 10.0
    if nonzero:
        values = np.where(values == 0, 1.0, values)
    return values


def draw_network(
    rng: np.random.Generator, sizes: list[int], activations: list[str], style: str, bias: bool = True
) -> Network:
    """A network with drawn weights (and biases unless bias=False, the 004 style)."""
    weights = [draw_values(rng, (sizes[l - 1], sizes[l]), style) for l in range(1, len(sizes))]
    if bias:
        biases = [draw_values(rng, (sizes[l], 1), style) for l in range(1, len(sizes))]
    else:
        biases = [np.zeros((sizes[l], 1)) for l in range(1, len(sizes))]
    # Drawn values are finite and shaped by construction: skip make_network's re-validation.
    layers = [Layer(W, W0, _activation(a)) for W, W0, a in zip(weights, biases, activations, strict=True)]
    return Network(layers)


_ACTIVATIONS: dict[str, Activation] = {}


def _activation(name: str) -> Activation:
    """Activations by name, built once (they are immutable)."""
    if name not in _ACTIVATIONS:
        _ACTIVATIONS[name] = get_activation(name)
    return _ACTIVATIONS[name]


def check_calculator_friendly(net: Network, trace: Trace) -> None:
    """Raise Redraw on a kink, a saturated squashing unit or a softmax near-tie."""
    for l, layer in enumerate(net.layers, start=1):
        z = trace.Z[l]
        # Decimal sums that are 0 on paper may come out as ±1e-16, so "on the kink" is |z| < 1e-9.
        near_kink = np.abs(z) < KINK_MARGIN
        if np.any(layer.activation.kinks(np.where(near_kink, 0.0, z))):
            raise Redraw(f"pre-activation on a kink in layer {l}")
        if layer.activation.name in ("sigmoid", "tanh") and np.any(np.abs(z) > SATURATION):
            raise Redraw(f"saturated unit in layer {l}")
        if layer.activation.name == "softmax":
            check_no_tie(z)


def check_no_tie(scores: np.ndarray, gap: float = 0.1) -> None:
    """Raise Redraw if the best two scores of any column are within `gap`."""
    s = np.sort(np.asarray(scores).reshape(scores.shape[0], -1), axis=0)
    if s.shape[0] > 1 and np.any(s[-1] - s[-2] < gap):
        raise Redraw("argmax tie")


def round_sig(x, sig: int):
    """Round to `sig` significant figures, as a student writing intermediates does."""
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.floor(np.log10(np.where(x != 0, np.abs(x), 1.0)))
    factor = 10.0 ** (sig - 1 - magnitude)
    return np.round(x * factor) / factor


# --- LaTeX --------------------------------------------------------------------------------------


def fmt(x: float, digits: int = 4) -> str:
    """A number as the notes print it: integers plainly, others to `digits` significant figures."""
    x = float(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def latex_matrix(m, digits: int = 4) -> str:
    """A vector (as a column) or matrix as a LaTeX bmatrix."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 1:
        m = m.reshape(-1, 1)
    rows = [" & ".join(fmt(v, digits) for v in row) for row in m]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def describe_network(net: Network, notation: str) -> str:
    """The weights written out in the chosen notation."""
    if notation == "matrix":
        parts = []
        for l, layer in enumerate(net.layers, start=1):
            parts.append(
                f"$W^{{{l}}} = {latex_matrix(layer.W)}$, $W_0^{{{l}}} = {latex_matrix(layer.W0)}$"
            )
        return "; ".join(parts)
    ids = neuron_ids(net.sizes)
    terms = []
    for l, layer in enumerate(net.layers, start=1):
        for c, j in enumerate(ids[l]):
            terms.append(f"w_{{0,{j}}} = {fmt(layer.W0[c, 0])}")
            terms.extend(f"w_{{{i},{j}}} = {fmt(layer.W[r, c])}" for r, i in enumerate(ids[l - 1]))
    return "$" + r",\; ".join(terms) + "$"


def activation_sentence(net: Network) -> str:
    """Which activation each layer uses, in words."""
    names = [layer.activation.name for layer in net.layers]
    if len(set(names)) == 1:
        return f"Every unit uses the {names[0]} activation."
    hidden = ", ".join(names[:-1])
    return f"Hidden layers use {hidden}; the output layer uses {names[-1]}."


def network_diagram(net: Network, notation: str, x=None, y=None) -> dict:
    """Nodes by layer and labelled edges, for a UI to draw the network as the slides do."""
    ids = neuron_ids(net.sizes)
    nodes = [{"id": 0, "layer": 0, "label": "1", "role": "bias"}] if notation == "graph" else []
    for l, layer_ids in enumerate(ids):
        for c, j in enumerate(layer_ids):
            if l == 0:
                label = f"x_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}} = x_{{{c + 1}}}"
                node = {"id": j, "layer": 0, "label": label, "role": "input"}
                if x is not None:
                    node["value"] = float(np.asarray(x).reshape(-1)[c])  # plain float: cheap to store
            else:
                role = "output" if l == len(ids) - 1 else "hidden"
                label = f"a^{{{l}}}_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}}"
                node = {
                    "id": j,
                    "layer": l,
                    "label": label,
                    "role": role,
                    "activation": net.layers[l - 1].activation.name,
                }
            nodes.append(node)
    edges = []
    for l, layer in enumerate(net.layers, start=1):
        for c, j in enumerate(ids[l]):
            bias_label = f"W^{{{l}}}_{{0,{c + 1}}}" if notation == "matrix" else f"w_{{0,{j}}}"
            edges.append({"from": 0, "to": j, "label": bias_label, "weight": float(layer.W0[c, 0]), "bias": True})
            for r, i in enumerate(ids[l - 1]):
                label = f"W^{{{l}}}_{{{r + 1},{c + 1}}}" if notation == "matrix" else f"w_{{{i},{j}}}"
                edges.append({"from": i, "to": j, "label": label, "weight": float(layer.W[r, c])})
    out = {"notation": notation, "nodes": nodes, "edges": edges}
    if y is not None:
        out["target"] = np.asarray(y, dtype=np.float64).reshape(-1).tolist()
    return out


def activation_derivative_from_output(name: str, a: np.ndarray, params: dict) -> np.ndarray:
    """f'(in) written through a = f(in), as the notes do with σ' = σ(1 - σ).

    Used to carry a student's own a_j forward into Δ_j; every elementwise activation here
    has such a form.
    """
    a = np.asarray(a, dtype=np.float64)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a**2
    if name == "identity":
        return np.ones_like(a)
    if name == "relu":
        # a = 0 means in_j <= 0; generators redraw in_j = 0 exactly, so the unit is off: 0.
        return np.where(a > 0, 1.0, 0.0)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, params.get("a", 0.1))
    if name == "elu":
        return np.where(a >= 0, 1.0, a + params.get("a", 1.0))
    if name == "softplus":
        return -np.expm1(-a)
    raise ValueError(f"no output form of the derivative of {name!r}")
