"""The exact mapping between the two notations of the notes.

Layer/matrix (MIT 6.390): W^l_{r,c} is row r, column c of W^l (n_{l-1} x n_l), W^l_{0,c} of W_0^l.
Neuron/graph (CS 457): neuron 0 is the dummy (a_0 = 1), inputs are 1..n_0, then the units of
layer 1, layer 2, ... numbered on. So 002's 2-2-1 net has inputs 1, 2, hidden 3, 4, output 5 and
w_{1,3} is W^1_{1,1}, w_{0,5} is W_0^2 entry 1, w_{4,5} is W^2_{2,1} (1-based, as printed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nncore.graphnet import NeuronNetwork
from nncore.network import Network, make_network


@dataclass(frozen=True)
class WeightRef:
    """A weight in matrix notation: layer l, 'W' or 'W0', and 0-based row and column."""

    layer: int
    kind: str
    row: int
    col: int

    def latex(self) -> str:
        """W^{l}_{r,c} or W^{l}_{0,c} with the 1-based indices the notes print."""
        if self.kind == "W0":  # W_0^l is n_l x 1: the unit is the row
            return f"W^{{{self.layer}}}_{{0,{self.row + 1}}}"
        return f"W^{{{self.layer}}}_{{{self.row + 1},{self.col + 1}}}"


def neuron_ids(sizes: list[int]) -> list[list[int]]:
    """Neuron numbers per layer: [[1..n_0], [n_0+1 .. n_0+n_1], ...]."""
    ids, start = [], 1
    for n in sizes:
        ids.append(list(range(start, start + n)))
        start += n
    return ids


def neuron_of(sizes: list[int], layer: int, index: int) -> int:
    """Graph number of unit `index` (0-based) in layer `layer` (0 = inputs)."""
    return neuron_ids(sizes)[layer][index]


def locate_neuron(sizes: list[int], j: int) -> tuple[int, int]:
    """(layer, 0-based index) of neuron j; the dummy neuron 0 is refused."""
    for layer, ids in enumerate(neuron_ids(sizes)):
        if j in ids:
            return layer, ids.index(j)
    raise ValueError(f"neuron {j} does not exist in a {'-'.join(map(str, sizes))} network")


def edge_to_ref(sizes: list[int], i: int, j: int) -> WeightRef:
    """w_{i,j} -> its entry of W^l or W_0^l."""
    layer, col = locate_neuron(sizes, j)
    if layer == 0:
        raise ValueError(f"neuron {j} is an input: no weight w_{{{i},{j}}} exists")
    if i == 0:
        return WeightRef(layer, "W0", col, 0)
    source_layer, row = locate_neuron(sizes, i)
    if source_layer != layer - 1:
        raise ValueError(f"w_{{{i},{j}}} does not exist: neuron {i} is not in the layer before {j}")
    return WeightRef(layer, "W", row, col)


def ref_to_edge(sizes: list[int], ref: WeightRef) -> tuple[int, int]:
    """Entry of W^l or W_0^l -> (i, j) of w_{i,j}."""
    if not 1 <= ref.layer < len(sizes):
        raise ValueError(f"layer must be in 1..{len(sizes) - 1}, got {ref.layer}")
    if ref.kind == "W0":
        return 0, neuron_of(sizes, ref.layer, ref.row)
    if ref.kind == "W":
        return neuron_of(sizes, ref.layer - 1, ref.row), neuron_of(sizes, ref.layer, ref.col)
    raise ValueError(f"weight kind must be 'W' or 'W0', got {ref.kind!r}")


def weight_value(net: Network, ref: WeightRef) -> float:
    layer = net.layer(ref.layer)
    return float(layer.W0[ref.row, 0] if ref.kind == "W0" else layer.W[ref.row, ref.col])


def to_neuron_network(net: Network) -> NeuronNetwork:
    """The same network in graph notation (layers with skip connections are refused)."""
    if any(layer.skip for layer in net.layers):
        raise ValueError(
            "layers with skip connections have no plain neuron form; build a NeuronNetwork "
            "with fixed edges instead"
        )
    sizes = net.sizes
    ids = neuron_ids(sizes)
    weights: dict[tuple[int, int], float] = {}
    activations = {}
    for l, layer in enumerate(net.layers, start=1):
        for c, j in enumerate(ids[l]):
            weights[(0, j)] = float(layer.W0[c, 0])
            for r, i in enumerate(ids[l - 1]):
                weights[(i, j)] = float(layer.W[r, c])
            activations[j] = layer.activation
    return NeuronNetwork(ids[0], ids[-1], weights, activations)


def from_neuron_network(graph: NeuronNetwork, sizes: list[int]) -> Network:
    """Read a fully connected layered graph numbered as `neuron_ids(sizes)` back as matrices.

    Every edge must be between consecutive layers (or from the dummy neuron); missing edges are
    zero weights; all units of one layer must share one activation.
    """
    ids = neuron_ids(sizes)
    if graph.inputs != ids[0] or graph.outputs != ids[-1]:
        raise ValueError(f"graph neurons are not numbered as a {'-'.join(map(str, sizes))} net")
    weights = [np.zeros((sizes[l - 1], sizes[l])) for l in range(1, len(sizes))]
    biases = [np.zeros((sizes[l], 1)) for l in range(1, len(sizes))]
    for (i, j), w in graph.weights.items():
        ref = edge_to_ref(sizes, i, j)
        target = biases[ref.layer - 1] if ref.kind == "W0" else weights[ref.layer - 1]
        target[ref.row, ref.col] = w
    activations = []
    for l in range(1, len(sizes)):
        acts = [graph.activations[j] for j in ids[l]]
        if any(a != acts[0] for a in acts):
            raise ValueError(f"units of layer {l} use different activations; not a layered net")
        activations.append(acts[0])
    return make_network(weights, biases, activations)
