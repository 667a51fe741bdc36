"""The MIT 6.390 worked examples of seeds 000 and 004, reproduced with the engine.

000's slides lost their pictures, so its networks are rebuilt from the text: one data point
(x, y) = (3, 6), squared loss (g - y)^2, and the weights named on the slides. Where the slide's
numbers were on the blackboard (the learning rate, the two-layer net's weights) the values
here are ours and are marked so.
"""

from __future__ import annotations

import numpy as np
import pytest

from nncore.diagnostics import DeadUnit, dead_relu_units, residual_gradient
from nncore.graphnet import NeuronNetwork, backward_neurons, forward_neurons
from nncore.network import backward, forward, make_network, output_delta
from nncore.notation import to_neuron_network

X_000, Y_000 = 3.0, 6.0  # 000: "a single data point (x, y) = (3, 6)"


# --- 004: Numerical example: backprop with two hidden neurons ----------------------------------


def _net_004():
    """1 input, 2 hidden ReLU neurons, 1 identity output, no biases (004)."""
    return make_network([[[2.0, -1.0]], [[1.0], [2.0]]], activations=["relu", "identity"])


def test_numerical_example_backprop_with_two_hidden_neurons():
    net = _net_004()
    trace = forward(net, 1.0)
    np.testing.assert_array_equal(trace.Z[1], [[2.0], [-1.0]])  # z_1^1 = 2, z_2^1 = -1
    np.testing.assert_array_equal(trace.A[1], [[2.0], [0.0]])  # a_2^1 = ReLU(-1) = 0
    assert trace.output[0, 0] == 2.0  # g = 1·2 + 2·0
    grads = backward(net, trace, 3.0)
    assert grads.loss == 1.0  # (2 - 3)^2
    _, dL_dg = output_delta(net, trace, 3.0, "squared")
    assert dL_dg[0, 0] == -2.0  # 2(2 - 3)
    np.testing.assert_array_equal(grads.dW[2], [[-4.0], [0.0]])  # ∂L/∂w_1^2, ∂L/∂w_2^2
    np.testing.assert_array_equal(grads.dW[1], [[-2.0, 0.0]])  # ∂L/∂w_1^1, ∂L/∂w_2^1
    # Neuron 2 is "dead": none of its weights (nor its bias) get updated.
    assert grads.dW0[1][1, 0] == 0.0
    # 004's "neuron 2" is hidden unit 2 (index 1); in 002's numbering (inputs 1, hidden 2, 3) it is 3.
    assert dead_relu_units(net, 1.0) == [DeadUnit(layer=1, index=1, neuron=3)]


def test_numerical_example_backprop_with_two_hidden_neurons_graph_notation():
    """The same numbers from the independent neuron-by-neuron engine (002's notation)."""
    graph = to_neuron_network(_net_004())
    trace = forward_neurons(graph, [1.0])
    grads = backward_neurons(graph, trace, [3.0])
    assert grads.loss == 1.0
    assert grads.delta[4] == -2.0  # output neuron 4: ∂L/∂g with identity output
    assert grads.grad[(2, 4)] == -4.0 and grads.grad[(3, 4)] == 0.0
    assert grads.grad[(1, 2)] == -2.0 and grads.grad[(1, 3)] == 0.0


# --- 000: stochastic gradient descent to learn a linear regressor ------------------------------


def test_sgd_linear_regressor_single_point():
    net = make_network([[[1.5]]], activations="identity")  # g = w x, w = 1.5
    trace = forward(net, X_000)
    assert trace.output[0, 0] == 4.5
    grads = backward(net, trace, Y_000)
    assert grads.loss == 2.25  # (4.5 - 6)^2
    assert grads.dW[1][0, 0] == 2 * (4.5 - Y_000) * X_000 == -9.0  # ∂L/∂w = 2(g - y)x
    eta = 0.1  # our choice: the slide's step size was on the blackboard
    w_new = 1.5 - eta * grads.dW[1][0, 0]  # w <- w - η ∇_w L
    assert w_new == pytest.approx(2.4)
    stepped = make_network([[[w_new]]], activations="identity")
    new_loss = backward(stepped, forward(stepped, X_000), Y_000).loss
    assert new_loss == pytest.approx((2.4 * 3 - 6) ** 2) and new_loss < grads.loss


def test_backpropagation_with_relu_positive_weight():
    """g = ReLU(w x) at w = 1.5: z = 4.5 > 0, so it is the linear regressor's step exactly."""
    net = make_network([[[1.5]]], activations="relu")
    grads = backward(net, forward(net, X_000), Y_000)
    assert forward(net, X_000).output[0, 0] == 4.5
    assert grads.loss == 2.25
    assert grads.dW[1][0, 0] == -9.0
    assert dead_relu_units(net, X_000, include_output=True) == []


def test_backpropagation_with_relu_negative_weight_dead_relu():
    """g = ReLU(w x) at w = -1: z = -3, g = 0, ∂ReLU/∂z = 0, so no weights get updated."""
    net = make_network([[[-1.0]]], activations="relu")
    trace = forward(net, X_000)
    assert trace.Z[1][0, 0] == -3.0 and trace.output[0, 0] == 0.0
    grads = backward(net, trace, Y_000)
    assert grads.loss == 36.0  # (0 - 6)^2: a big loss, yet
    assert grads.dW[1][0, 0] == 0.0 and grads.dW0[1][0, 0] == 0.0  # zero gradient
    # input 1, unit 2
    assert dead_relu_units(net, X_000, include_output=True) == [DeadUnit(1, 0, 2)]


# --- 000: "now, slightly more complex network" --------------------------------------------------
# x -> two ReLU units (layer 1) -> one ReLU output g = ReLU(z^2). The weights are ours.


def test_more_complex_network_z1_negative_grays_out_some_weights():
    """z^2 > 0 and z_1^1 < 0: W^1_{1,1} (into unit 1) and W^2_{1,1} (out of it) get no update."""
    net = make_network([[[-1.0, 1.0]], [[1.0], [1.0]]], activations="relu")
    trace = forward(net, X_000)
    np.testing.assert_array_equal(trace.Z[1], [[-3.0], [3.0]])
    assert trace.Z[2][0, 0] == 3.0  # > 0
    grads = backward(net, trace, Y_000)  # ∂L/∂g = 2(3 - 6) = -6
    np.testing.assert_array_equal(grads.dW[2], [[0.0], [-18.0]])  # grayed out: W^2_{1,1}
    np.testing.assert_array_equal(grads.dW[1], [[0.0, -18.0]])  # grayed out: W^1_{1,1}
    assert dead_relu_units(net, X_000) == [DeadUnit(1, 0, 2)]


def test_more_complex_network_z2_negative_no_weights_updated():
    net = make_network([[[-1.0, 1.0]], [[1.0], [-2.0]]], activations="relu")
    trace = forward(net, X_000)
    assert trace.Z[2][0, 0] == -6.0  # < 0
    grads = backward(net, trace, Y_000)
    for l in (1, 2):
        assert np.all(grads.dW[l] == 0.0) and np.all(grads.dW0[l] == 0.0)
    assert DeadUnit(2, 0, 4) in dead_relu_units(net, X_000, include_output=True)


# --- 000: residual (skip) connection g = a^1 + ReLU(z^2) ----------------------------------------


def _residual_net(skip: bool = True):
    """x -> a^1 = ReLU(w^1 x) -> z^2 = w^2 a^1, g = a^1 + ReLU(z^2); w^1 = 1.5, w^2 = -1 (ours)."""
    return make_network([[[1.5]], [[-1.0]]], activations="relu", skips=[False, skip])


def test_residual_connection_earlier_weights_still_updated():
    net = _residual_net()
    trace = forward(net, X_000)
    assert trace.A[1][0, 0] == 4.5 and trace.Z[2][0, 0] == -4.5  # z^2 < 0
    assert trace.output[0, 0] == 4.5  # g = a^1 + ReLU(z^2) = 4.5 + 0
    res = residual_gradient(net, X_000, Y_000)
    # ∂L/∂g = 2(4.5 - 6) = -3; w^2 sits behind the dead ReLU; w^1 gets -3 · 1 · x = -9
    assert res.with_skip.dW[2][0, 0] == 0.0
    assert res.with_skip.dW[1][0, 0] == -9.0
    # the same net without the skip: g = ReLU(z^2) = 0 and no weights get updated
    for l in (1, 2):
        assert res.without_skip.dW[l][0, 0] == 0.0 and res.without_skip.dW0[l][0, 0] == 0.0


def test_residual_connection_graph_notation_with_fixed_edges():
    """graphnet's form of 000's residual: output neuron 4 = a_2 + a_3 through fixed weights 1."""
    graph = NeuronNetwork(
        inputs=[1],
        outputs=[4],
        weights={(0, 2): 0.0, (1, 2): 1.5, (0, 3): 0.0, (2, 3): -1.0, (2, 4): 1.0, (3, 4): 1.0},
        activations={2: "relu", 3: "relu", 4: "identity"},
        fixed=frozenset({(2, 4), (3, 4)}),
    )
    grads = backward_neurons(graph, forward_neurons(graph, [X_000]), [Y_000])
    layered = residual_gradient(_residual_net(), X_000, Y_000).with_skip
    assert grads.grad[(1, 2)] == layered.dW[1][0, 0] == -9.0
    assert grads.grad[(2, 3)] == layered.dW[2][0, 0] == 0.0


def test_residual_connection_004_form_z2_plus_relu_z2():
    """004 writes the skip as g = z^2 + ReLU(z^2) (000 has a^1 + ReLU(z^2)): here too the
    earlier weight gets a gradient when z^2 < 0, since ∂g/∂z^2 = 1 + ReLU'(z^2) = 1."""
    graph = NeuronNetwork(
        inputs=[1],
        outputs=[5],
        weights={(1, 2): 1.5, (2, 3): -1.0, (3, 4): 1.0, (3, 5): 1.0, (4, 5): 1.0},
        activations={2: "relu", 3: "identity", 4: "relu", 5: "identity"},  # neuron 3 is z^2
        fixed=frozenset({(3, 4), (3, 5), (4, 5)}),
    )
    trace = forward_neurons(graph, [X_000])
    assert trace.a[3] == -4.5 and trace.a[5] == -4.5  # g = z^2 + 0
    grads = backward_neurons(graph, trace, [Y_000])  # ∂L/∂g = 2(-4.5 - 6) = -21
    assert grads.grad[(2, 3)] == pytest.approx(-21.0 * 4.5)
    assert grads.grad[(1, 2)] == pytest.approx(-21.0 * -1.0 * X_000)
