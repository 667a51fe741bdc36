"""Worked examples of seed 002 (UW-La Crosse CS 457, lectures 07-2 and 07-3), reproduced exactly.

The 2-2-1 logistic network of "Example: Making Predictions": inputs 1, 2, hidden 3, 4, output 5,
dummy neuron 0 with a_0 = 1, so w_{0,j} is neuron j's bias. Built in both notations: as a
NeuronNetwork with the printed w_{i,j}, and as matrices W^1 (2x2), W_0^1, W^2 (2x1), W_0^2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nncore.graphnet import NeuronNetwork, backward_neurons, forward_neurons
from nncore.network import backward, forward
from nncore.notation import WeightRef, edge_to_ref, from_neuron_network, ref_to_edge

SIZES = [2, 2, 1]
X = (3.0, 4.0)
# Parameter values as printed on the slide.
W = {
    (0, 3): 5.0,
    (1, 3): 1.0,
    (2, 3): -2.0,
    (0, 4): 3.0,
    (1, 4): -4.0,
    (2, 4): 2.0,
    (0, 5): -1.0,
    (3, 5): 4.0,
    (4, 5): 2.0,
}


def g(t: float) -> float:
    """The logistic activation g of the example."""
    return 1.0 / (1.0 + math.exp(-t))


def g_prime(t: float) -> float:
    return g(t) * (1.0 - g(t))


def seed002_graph() -> NeuronNetwork:
    return NeuronNetwork(
        inputs=[1, 2],
        outputs=[5],
        weights=dict(W),
        activations={3: "sigmoid", 4: "sigmoid", 5: "sigmoid"},
    )


def test_seed002_forward_pass_x_3_4() -> None:
    trace = forward_neurons(seed002_graph(), X)
    assert trace.a[0] == 1.0 and trace.a[1] == 3.0 and trace.a[2] == 4.0
    # in_3 = 5·1 + 1·3 - 2·4 = 0, a_3 = 0.5; in_4 = 3·1 - 4·3 + 2·4 = -1, a_4 ≈ 0.27.
    assert trace.in_[3] == 0.0
    assert trace.a[3] == 0.5
    assert trace.in_[4] == -1.0
    assert round(trace.a[4], 2) == 0.27
    # in_5 = -1·1 + 4·0.5 + 2·a_4 ≈ 1.54, h(x) = a_5 ≈ 0.82 (at the printed precision).
    assert round(trace.in_[5], 2) == 1.54
    assert round(trace.a[5], 2) == 0.82
    # The unrounded values.
    a4 = g(-1.0)
    assert trace.a[4] == pytest.approx(a4, rel=1e-15)
    assert trace.in_[5] == pytest.approx(-1.0 + 4.0 * 0.5 + 2.0 * a4, rel=1e-15)
    assert trace.a[5] == pytest.approx(g(1.0 + 2.0 * a4), rel=1e-15)

    # The same network in matrix notation: W^l_{r,c} = w_{i,j} with i the r-th unit of layer
    # l-1 and j the c-th unit of layer l (1-based as printed); biases are W_0^l.
    net = from_neuron_network(seed002_graph(), SIZES)
    np.testing.assert_array_equal(net.layer(1).W, [[W[(1, 3)], W[(1, 4)]], [W[(2, 3)], W[(2, 4)]]])
    np.testing.assert_array_equal(net.layer(1).W0, [[W[(0, 3)]], [W[(0, 4)]]])
    np.testing.assert_array_equal(net.layer(2).W, [[W[(3, 5)]], [W[(4, 5)]]])
    np.testing.assert_array_equal(net.layer(2).W0, [[W[(0, 5)]]])
    assert [net.layer(l).activation.name for l in (1, 2)] == ["sigmoid", "sigmoid"]
    layered = forward(net, X)
    np.testing.assert_allclose(layered.Z[1][:, 0], [trace.in_[3], trace.in_[4]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(layered.A[1][:, 0], [trace.a[3], trace.a[4]], rtol=1e-15)
    assert layered.Z[2][0, 0] == pytest.approx(trace.in_[5], rel=1e-15)
    assert layered.output[0, 0] == pytest.approx(trace.a[5], rel=1e-15)


@pytest.mark.parametrize(
    ("edge", "ref"),
    [
        ((4, 5), WeightRef(2, "W", 1, 0)),  # w_{4,5} is W^2 row 2, column 1
        ((3, 5), WeightRef(2, "W", 0, 0)),  # w_{3,5} is W^2 row 1, column 1
        ((1, 3), WeightRef(1, "W", 0, 0)),  # w_{1,3} is W^1_{1,1}
        ((2, 3), WeightRef(1, "W", 1, 0)),  # w_{2,3} is W^1_{2,1}
        ((1, 4), WeightRef(1, "W", 0, 1)),  # w_{1,4} is W^1_{1,2}
        ((2, 4), WeightRef(1, "W", 1, 1)),  # w_{2,4} is W^1_{2,2}
        ((0, 3), WeightRef(1, "W0", 0, 0)),  # w_{0,3} is entry 1 of W_0^1
        ((0, 4), WeightRef(1, "W0", 1, 0)),  # w_{0,4} is entry 2 of W_0^1
        ((0, 5), WeightRef(2, "W0", 0, 0)),  # w_{0,5} is W_0^2
    ],
)
def test_seed002_weight_mapping(edge, ref) -> None:
    assert edge_to_ref(SIZES, *edge) == ref
    assert ref_to_edge(SIZES, ref) == edge


def test_seed002_weight_latex_names() -> None:
    assert edge_to_ref(SIZES, 4, 5).latex() == "W^{2}_{2,1}"
    assert edge_to_ref(SIZES, 2, 3).latex() == "W^{1}_{2,1}"
    assert edge_to_ref(SIZES, 1, 4).latex() == "W^{1}_{1,2}"
    assert edge_to_ref(SIZES, 0, 3).latex() == "W^{1}_{0,1}"


def test_seed002_bias_latex_names_distinguish_units() -> None:
    assert edge_to_ref(SIZES, 0, 4).latex() == "W^{1}_{0,2}"


@pytest.mark.parametrize("y", [1.0, 0.0, 0.3])
def test_seed002_backprop_delta_recursion(y: float) -> None:
    """Lectures 07-3a..c: Δ_5 = -2(y - a_5) g'(in_5), Δ_j = g'(in_j) w_{j,5} Δ_5, ∂J/∂w_{i,j} = Δ_j a_i."""
    # The hand computation, from the slide's formulas only.
    a = {0: 1.0, 1: X[0], 2: X[1]}
    in_ = {3: 5.0 + 1.0 * 3 - 2.0 * 4, 4: 3.0 - 4.0 * 3 + 2.0 * 4}
    a[3], a[4] = g(in_[3]), g(in_[4])
    in_[5] = -1.0 + 4.0 * a[3] + 2.0 * a[4]
    a[5] = g(in_[5])
    delta = {5: -2.0 * (y - a[5]) * g_prime(in_[5])}
    delta[3] = g_prime(in_[3]) * W[(3, 5)] * delta[5]
    delta[4] = g_prime(in_[4]) * W[(4, 5)] * delta[5]
    by_hand = {(i, j): delta[j] * a[i] for (i, j) in W}
    loss = (y - a[5]) ** 2

    graph = seed002_graph()
    trace = forward_neurons(graph, X)
    grads = backward_neurons(graph, trace, [y], "squared")
    assert grads.loss == pytest.approx(loss, rel=1e-14)
    for j in (3, 4, 5):
        assert grads.delta[j] == pytest.approx(delta[j], rel=1e-13)
    assert set(grads.grad) == set(W)
    for edge, value in by_hand.items():
        assert grads.grad[edge] == pytest.approx(value, rel=1e-13), f"∂J/∂w_{edge}"
    # g'(in_3) = g'(0) = 1/4 exactly, so Δ_3 = Δ_5 (w_{3,5} = 4 times 1/4).
    assert grads.delta[3] == pytest.approx(grads.delta[5], rel=1e-15)

    net = from_neuron_network(graph, SIZES)
    layered = backward(net, forward(net, X), [y], "squared")
    np.testing.assert_allclose(layered.delta[1][:, 0], [delta[3], delta[4]], rtol=1e-13)
    assert layered.delta[2][0, 0] == pytest.approx(delta[5], rel=1e-13)
    for (i, j), value in by_hand.items():
        ref = edge_to_ref(SIZES, i, j)
        matrix = layered.dW0[ref.layer] if ref.kind == "W0" else layered.dW[ref.layer]
        assert matrix[ref.row, ref.col] == pytest.approx(value, rel=1e-13), f"∂J/∂w_{(i, j)}"
    # ∂J/∂x_i = Σ_j w_{i,j} Δ_j over the hidden neurons.
    dx_by_hand = [
        W[(1, 3)] * delta[3] + W[(1, 4)] * delta[4],
        W[(2, 3)] * delta[3] + W[(2, 4)] * delta[4],
    ]
    np.testing.assert_allclose(layered.dx[:, 0], dx_by_hand, rtol=1e-13)
    np.testing.assert_allclose([grads.dx[1], grads.dx[2]], dx_by_hand, rtol=1e-13)
