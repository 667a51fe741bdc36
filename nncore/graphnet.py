"""Networks in the CS 457 neuron/graph notation: N = (V, A) with a weight w_{i,j} per edge.

Neuron 0 is the dummy neuron (a_0 = 1), so w_{0,j} is neuron j's bias. Input neurons hold
a_j = x_j; every other neuron computes in_j = Σ_{i:(i,j)∈A} w_{i,j} a_i and a_j = g_j(in_j).
Backpropagation gives Δ_j = ∂J/∂in_j and ∂J/∂w_{i,j} = Δ_j a_i (002, lecture 07-3).

Any DAG is allowed, not only layered nets. An edge may be fixed (not trainable), which is how a
residual connection such as 000's g = a^1 + ReLU(z^2) is written: an identity output neuron fed
by a^1 and by the ReLU unit through fixed weights 1. This engine works one example at a time
with plain floats per neuron: it is the independent second implementation that the layered
engine in `nncore.network` is checked against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nncore.activations import Activation, get_activation, softmax
from nncore.losses import get_loss
from nncore.network import combined_delta
from nncore.validation import as_array, as_scalar

Edge = tuple[int, int]


@dataclass
class NeuronNetwork:
    """Neurons, weighted edges and an activation per processing neuron."""

    inputs: list[int]
    outputs: list[int]
    weights: dict[Edge, float]
    activations: dict[int, Activation]
    fixed: frozenset[Edge] = frozenset()
    order: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.weights = {
            (int(i), int(j)): as_scalar(w, f"w_{{{i},{j}}}") for (i, j), w in self.weights.items()
        }
        self.activations = {int(j): get_activation(f) for j, f in self.activations.items()}
        if 0 in self.inputs or 0 in self.activations:
            raise ValueError("neuron 0 is the dummy neuron (a_0 = 1); do not list it")
        units = set(self.activations)
        known = set(self.inputs) | units | {0}
        for i, j in self.weights:
            if i not in known or j not in known:
                raise ValueError(f"edge ({i}, {j}) names a neuron that does not exist")
            if j in self.inputs or j == 0:
                raise ValueError(f"edge ({i}, {j}) points into input neuron {j}")
        missing = [j for j in self.outputs if j not in units]
        if missing:
            raise ValueError(f"output neurons {missing} have no activation")
        unknown_fixed = set(self.fixed) - set(self.weights)
        if unknown_fixed:
            raise ValueError(f"fixed edges {sorted(unknown_fixed)} are not edges of the network")
        softmax_units = [j for j, f in self.activations.items() if f.name == "softmax"]
        if softmax_units and sorted(softmax_units) != sorted(self.outputs):
            raise ValueError("softmax may only be the activation of all the output neurons together")
        self.order = _topological_order(self.inputs, units, self.weights)

    def incoming(self, j: int) -> list[int]:
        """Neurons i with an edge (i, j), the dummy 0 first."""
        return sorted(i for (i, k) in self.weights if k == j)

    def outgoing(self, i: int) -> list[int]:
        return sorted(k for (h, k) in self.weights if h == i)

    def to_dict(self) -> dict:
        return {
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "edges": [[i, j, w] for (i, j), w in sorted(self.weights.items())],
            "activations": {str(j): f.to_dict() for j, f in sorted(self.activations.items())},
            "fixed": [list(e) for e in sorted(self.fixed)],
        }


def neuron_network_from_dict(data: Mapping) -> NeuronNetwork:
    """Inverse of `NeuronNetwork.to_dict`."""
    try:
        return NeuronNetwork(
            inputs=[int(i) for i in data["inputs"]],
            outputs=[int(j) for j in data["outputs"]],
            weights={(int(i), int(j)): w for i, j, w in data["edges"]},
            activations={int(j): f for j, f in data["activations"].items()},
            fixed=frozenset((int(i), int(j)) for i, j in data.get("fixed", [])),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed neuron network description: {exc}") from None


@dataclass
class NeuronTrace:
    """in_j and a_j for every neuron (a_0 = 1 and a_j = x_j for inputs)."""

    in_: dict[int, float]
    a: dict[int, float]

    def output(self, net: NeuronNetwork) -> np.ndarray:
        return np.array([self.a[j] for j in net.outputs])


@dataclass
class NeuronGradients:
    """Δ_j for every processing neuron, ∂J/∂w_{i,j} for every trainable edge, ∂J/∂x_j."""

    delta: dict[int, float]
    grad: dict[Edge, float]
    dx: dict[int, float]
    loss: float


def forward_neurons(net: NeuronNetwork, x: Sequence[float]) -> NeuronTrace:
    """002's FORWARDPROPAGATE: compute in_j and a_j neuron by neuron in topological order."""
    x = as_array(x, "input x").reshape(-1)
    if x.size != len(net.inputs):
        raise ValueError(f"input x must have {len(net.inputs)} entries, got {x.size}")
    a = {0: 1.0, **{j: float(v) for j, v in zip(net.inputs, x, strict=True)}}
    in_: dict[int, float] = {}
    for j in net.order:
        in_[j] = sum(net.weights[(i, j)] * a[i] for i in net.incoming(j))
        if net.activations[j].name != "softmax":
            a[j] = float(net.activations[j](np.array(in_[j])))
    if net.activations[net.outputs[0]].name == "softmax":
        probs = softmax(np.array([in_[j] for j in net.outputs]))
        a.update({j: float(p) for j, p in zip(net.outputs, probs, strict=True)})
    return NeuronTrace(in_, a)


def backward_neurons(net: NeuronNetwork, trace: NeuronTrace, y, loss="squared") -> NeuronGradients:
    """002's BACKPROPAGATE: Δ_j for outputs from the loss, then g'(in_j) Σ_j' w_{j,j'} Δ_j'."""
    loss = get_loss(loss)
    y = as_array(y, "target y").reshape(-1)
    if y.size != len(net.outputs):
        raise ValueError(f"target y must have {len(net.outputs)} entries, got {y.size}")
    g = trace.output(net).reshape(-1, 1)
    out_act = net.activations[net.outputs[0]]
    z_out = np.array([[trace.in_[j]] for j in net.outputs])
    if loss.combined_output_activation() == out_act.name and _all_same_activation(net):
        out_delta = combined_delta(loss, g, y.reshape(-1, 1)).reshape(-1)
        value = float(loss.value_from_logits(z_out, y.reshape(-1, 1))[0])
    else:
        # ∂J/∂a for output neurons; outputs that also feed other neurons get more below.
        value = float(loss.value(g, y.reshape(-1, 1))[0])
        out_delta = None
        grad_a_out = loss.gradient(g, y.reshape(-1, 1)).reshape(-1)
    delta: dict[int, float] = {}
    grad_a: dict[int, float] = {j: 0.0 for j in net.order}
    if out_delta is None:
        for j, ga in zip(net.outputs, grad_a_out, strict=True):
            grad_a[j] += float(ga)
        if out_act.name == "softmax":
            jac_t = out_act.backward(z_out, grad_a_out.reshape(-1, 1)).reshape(-1)
            delta.update({j: float(d) for j, d in zip(net.outputs, jac_t, strict=True)})
    else:
        delta.update({j: float(d) for j, d in zip(net.outputs, out_delta, strict=True)})
    for j in reversed(net.order):
        for k in net.outgoing(j):
            grad_a[j] += net.weights[(j, k)] * delta[k]
        if j not in delta:
            delta[j] = float(net.activations[j].derivative(np.array(trace.in_[j]))) * grad_a[j]
    grad = {
        (i, j): delta[j] * trace.a[i] for (i, j) in net.weights if (i, j) not in net.fixed
    }
    dx = {i: sum(net.weights[(i, k)] * delta[k] for k in net.outgoing(i)) for i in net.inputs}
    return NeuronGradients(delta, grad, dx, value)


def _all_same_activation(net: NeuronNetwork) -> bool:
    """Outputs share one activation and feed nothing else (needed for the g - y shortcut)."""
    names = {net.activations[j].name for j in net.outputs}
    feeds_on = any(net.outgoing(j) for j in net.outputs)
    return len(names) == 1 and not feeds_on


def _topological_order(inputs: list[int], units: set[int], weights: Mapping[Edge, float]) -> list[int]:
    """Processing neurons so that every neuron comes after all its predecessors (or a cycle error)."""
    preds = {j: {i for (i, k) in weights if k == j and i != 0} for j in units}
    done = set(inputs) | {0}
    order: list[int] = []
    remaining = set(units)
    while remaining:
        ready = sorted(j for j in remaining if preds[j] <= done)
        if not ready:
            raise ValueError(f"the network has a cycle among neurons {sorted(remaining)}")
        order.extend(ready)
        done.update(ready)
        remaining.difference_update(ready)
    return order
