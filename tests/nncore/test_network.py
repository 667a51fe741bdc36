"""The layered engine (`nncore.network`) and the graph engine (`nncore.graphnet`) as black boxes.

Bad input must fail with a message naming the problem; good input must give batch results equal
to per-example results without touching the caller's arrays. Non-layered graphs (a DAG with an
input -> output edge, 000's residual g = a^1 + ReLU(z^2) with fixed edges, softmax outputs)
are checked against finite differences.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from nncore.activations import get_activation
from nncore.graphnet import (
    NeuronNetwork,
    backward_neurons,
    forward_neurons,
    neuron_network_from_dict,
)
from nncore.losses import get_loss
from nncore.network import (
    Layer,
    Network,
    backward,
    backward_from_output,
    forward,
    make_network,
    network_from_dict,
)
from nncore.notation import from_neuron_network, to_neuron_network

FD_STEP = 1e-4


def central_difference(f, t0: float) -> float:
    """Fourth-order central difference of a scalar function at t0."""
    h = FD_STEP
    return (f(t0 - 2 * h) - 8 * f(t0 - h) + 8 * f(t0 + h) - f(t0 + 2 * h)) / (12 * h)


def small_net(
    rng: np.random.Generator, sizes=(3, 4, 2), activations=("tanh", "sigmoid")
) -> Network:
    weights = [rng.normal(size=(sizes[l - 1], sizes[l])) for l in range(1, len(sizes))]
    biases = [rng.normal(size=sizes[l]) for l in range(1, len(sizes))]
    return make_network(weights, biases, list(activations))


# --- validation -------------------------------------------------------------------------------


def test_wrong_sized_bias_states_both_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"W_0\^1 must have shape 3x1 to match W\^1 \(2x3\), got 2"
    ):
        make_network([np.ones((2, 3))], [np.ones(2)])


def test_bias_column_of_wrong_height_refused() -> None:
    with pytest.raises(ValueError, match=r"W_0\^2 must have shape 1x1 .* got 2x1"):
        make_network([np.ones((2, 3)), np.ones((3, 1))], [np.zeros(3), np.zeros((2, 1))])


def test_layer_sizes_must_chain() -> None:
    with pytest.raises(ValueError, match="layer 2 expects 4 inputs but layer 1 has 3 units"):
        make_network([np.ones((2, 3)), np.ones((4, 1))])


def test_unknown_activation_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown activation 'relux'") as info:
        make_network([np.ones((2, 3))], activations="relux")
    for name in (
        "identity",
        "step",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "softplus",
        "softmax",
    ):
        assert name in str(info.value)


def test_unknown_activation_parameter_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"no parameter\(s\) \['b'\]; allowed: a, prime_at_zero"):
        make_network([np.ones((2, 3))], activations=[{"name": "leaky_relu", "b": 1.0}])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_and_biases_refused(bad: float) -> None:
    weights = np.ones((2, 3))
    weights[1, 2] = bad
    with pytest.raises(ValueError, match=r"W\^1 contains NaN or infinity"):
        make_network([weights])
    with pytest.raises(ValueError, match=r"W_0\^1 contains NaN or infinity"):
        make_network([np.ones((2, 3))], [[0.0, bad, 0.0]])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_and_targets_refused(bad: float) -> None:
    net = make_network([np.ones((2, 1))])
    with pytest.raises(ValueError, match="input x contains NaN or infinity"):
        forward(net, [1.0, bad])
    trace = forward(net, [1.0, 2.0])
    with pytest.raises(ValueError, match="target y contains NaN or infinity"):
        backward(net, trace, [bad])


def test_non_numeric_input_refused() -> None:
    net = make_network([np.ones((2, 1))])
    with pytest.raises(ValueError, match="input x must be numeric"):
        forward(net, ["a", "b"])


def test_skip_needs_equal_widths() -> None:
    with pytest.raises(ValueError, match="layer 1 has a skip connection.*got 2 inputs and 3 units"):
        make_network([np.ones((2, 3))], skips=[True])


def test_flat_input_of_wrong_length_refused() -> None:
    net = make_network([np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"input x must have 2 entries, got 3"):
        forward(net, [1.0, 2.0, 3.0])


def test_batch_input_with_wrong_feature_count_states_both_shapes() -> None:
    net = make_network([np.ones((2, 3))])
    with pytest.raises(
        ValueError, match=r"input x must be 2xB \(features x batch\), got shape 3x2"
    ):
        forward(net, np.ones((3, 2)))


def test_target_of_wrong_shape_refused() -> None:
    net = make_network([np.ones((2, 3)), np.ones((3, 1))])
    one = forward(net, [1.0, 2.0])
    with pytest.raises(ValueError, match="target y must have 1 entries, got 2"):
        backward(net, one, [1.0, 2.0])
    batch = forward(net, np.ones((2, 2)))
    with pytest.raises(ValueError, match="target y must be 1x2 like the output, got 1x3"):
        backward(net, batch, np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"target y must be 1xB .* got shape 2x2"):
        backward(net, batch, np.ones((2, 2)))


def test_weights_must_be_matrices_and_counts_must_match() -> None:
    with pytest.raises(ValueError, match="weights must be a non-empty list"):
        make_network(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"W\^1 must be a matrix \(n_0 x n_1\), got shape 3"):
        make_network([np.ones(3)])
    with pytest.raises(ValueError, match="got 1 weight matrices but 2 activations"):
        make_network([np.ones((2, 2))], activations=["relu", "relu"])
    with pytest.raises(ValueError, match="got 1 weight matrices but 2 bias vectors"):
        make_network([np.ones((2, 2))], biases=[np.zeros(2), np.zeros(2)])


def test_malformed_dict_refused() -> None:
    with pytest.raises(ValueError, match="malformed network description.*'W'"):
        network_from_dict({"layers": [{"W0": [1.0]}]})


def test_unknown_loss_lists_the_known_ones() -> None:
    net = make_network([np.ones((2, 1))])
    with pytest.raises(
        ValueError, match="unknown loss 'hinge'; known losses: squared, nll, cross_entropy"
    ):
        backward(net, forward(net, [1.0, 2.0]), [1.0], "hinge")


def test_layer_number_out_of_range_refused() -> None:
    net = make_network([np.ones((2, 1))])
    with pytest.raises(ValueError, match=r"layer number must be in 1..1, got 2"):
        net.layer(2)


def test_network_built_from_layers_refuses_non_finite_weights() -> None:
    relu = get_activation("relu")
    with pytest.raises(ValueError, match="layer 1 has NaN or infinite weights"):
        Network([Layer(np.array([[np.nan]]), np.zeros((1, 1)), relu)])
    with pytest.raises(ValueError, match="layer 2 has NaN or infinite weights"):
        Network(
            [
                Layer(np.ones((1, 1)), np.zeros((1, 1)), relu),
                Layer(np.ones((1, 1)), np.array([[np.inf]]), relu),
            ]
        )


# --- serialisation, batching, immutability ----------------------------------------------------


def test_to_dict_round_trip_keeps_everything() -> None:
    rng = np.random.default_rng(0)
    net = make_network(
        [rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 2))],
        [rng.normal(size=3), rng.normal(size=3), rng.normal(size=2)],
        [{"name": "leaky_relu", "a": 0.25}, {"name": "relu", "prime_at_zero": 0.0}, "softmax"],
        skips=[True, False, False],
    )
    data = json.loads(json.dumps(net.to_dict()))
    back = network_from_dict(data)
    assert back.to_dict() == net.to_dict()
    assert back.sizes == [3, 3, 3, 2]
    assert [layer.skip for layer in back.layers] == [True, False, False]
    assert back.layer(1).activation.params["a"] == 0.25
    assert back.layer(2).activation.params["prime_at_zero"] == 0.0
    x = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(forward(back, x).output, forward(net, x).output)


def test_graph_to_dict_round_trip() -> None:
    net = NeuronNetwork(
        [1, 2],
        [4],
        {(0, 3): 0.5, (1, 3): 1.0, (2, 3): -1.0, (3, 4): 2.0, (1, 4): 0.3},
        {3: {"name": "elu", "a": 0.5}, 4: "identity"},
        fixed=frozenset({(1, 4)}),
    )
    back = neuron_network_from_dict(json.loads(json.dumps(net.to_dict())))
    assert back.to_dict() == net.to_dict()
    assert back.fixed == net.fixed


@pytest.mark.parametrize(
    ("activations", "loss"),
    [
        (("relu", "sigmoid"), "nll"),
        (("tanh", "softmax"), "cross_entropy"),
        (({"name": "elu", "a": 0.7}, "identity"), "squared"),
        (("softplus", "softmax"), "squared"),
    ],
)
def test_batch_equals_per_column(activations, loss) -> None:
    rng = np.random.default_rng(1)
    net = small_net(rng, activations=activations)
    x = rng.normal(size=(3, 5))
    y = rng.dirichlet(np.ones(2), 5).T if loss != "squared" else rng.normal(size=(2, 5))
    trace = forward(net, x)
    grads = backward(net, trace, y, loss)
    per_example_dW = []
    per_example_loss = []
    for e in range(5):
        single = forward(net, x[:, e])
        for l in range(1, net.depth + 1):
            np.testing.assert_allclose(trace.Z[l][:, [e]], single.Z[l], rtol=1e-14, atol=1e-15)
            np.testing.assert_allclose(trace.A[l][:, [e]], single.A[l], rtol=1e-14, atol=1e-15)
        single_grads = backward(net, single, y[:, e], loss)
        for l in range(1, net.depth + 1):
            np.testing.assert_allclose(
                grads.delta[l][:, [e]], single_grads.delta[l], rtol=1e-13, atol=1e-15
            )
        np.testing.assert_allclose(grads.dx[:, [e]], single_grads.dx, rtol=1e-13, atol=1e-15)
        per_example_dW.append(single_grads.dW)
        per_example_loss.append(single_grads.loss)
    for l in range(1, net.depth + 1):
        mean_dW = np.mean([dW[l] for dW in per_example_dW], axis=0)
        np.testing.assert_allclose(grads.dW[l], mean_dW, rtol=1e-12, atol=1e-15)
    assert grads.loss == pytest.approx(np.mean(per_example_loss), rel=1e-13)


def test_forward_and_backward_never_mutate_the_callers_arrays() -> None:
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=(3, 3)), rng.normal(size=(3, 2))]
    biases = [rng.normal(size=(3, 1)), rng.normal(size=(2, 1))]
    x = rng.normal(size=(3, 4))
    y = rng.dirichlet(np.ones(2), 4).T
    saved = [a.copy() for a in (*weights, *biases, x, y)]
    net = make_network(weights, biases, ["relu", "softmax"], skips=[True, False])
    trace = forward(net, x)
    trace_before = [z.copy() for z in trace.Z[1:]] + [a.copy() for a in trace.A]
    grads = backward(net, trace, y, "cross_entropy")
    backward_from_output(net, trace, np.ones((2, 4)))
    # The trace is not overwritten by backward, and results do not alias the inputs.
    for before, after in zip(trace_before, trace.Z[1:] + trace.A, strict=True):
        np.testing.assert_array_equal(before, after)
    trace.A[0][:] = 0.0
    grads.dx[:] = 0.0
    net.layer(1).W[:] = 0.0
    for original, now in zip(saved, (*weights, *biases, x, y), strict=True):
        np.testing.assert_array_equal(original, now)


def test_graph_engine_never_mutates_the_callers_arrays() -> None:
    x, y = np.array([0.3, -1.2]), np.array([1.0])
    saved = (x.copy(), y.copy())
    net = NeuronNetwork([1, 2], [3], {(0, 3): 0.1, (1, 3): 0.2, (2, 3): 0.3}, {3: "sigmoid"})
    backward_neurons(net, forward_neurons(net, x), y, "nll")
    np.testing.assert_array_equal(saved[0], x)
    np.testing.assert_array_equal(saved[1], y)


# --- graph notation: DAGs, fixed edges, cycles, softmax -----------------------------------------


def graph_loss(net: NeuronNetwork, x, y, loss: str) -> float:
    g = forward_neurons(net, x).output(net).reshape(-1, 1)
    return float(get_loss(loss).value(g, np.asarray(y, dtype=float).reshape(-1, 1))[0])


def assert_graph_gradients_match_finite_differences(net: NeuronNetwork, x, y, loss: str) -> None:
    """Every trainable ∂J/∂w_{i,j} and every ∂J/∂x_j against central differences."""
    grads = backward_neurons(net, forward_neurons(net, x), y, loss)
    assert grads.loss == pytest.approx(graph_loss(net, x, y, loss), rel=1e-12)
    assert set(grads.grad) == set(net.weights) - set(net.fixed)
    for edge, value in grads.grad.items():
        original = net.weights[edge]

        def perturbed(t, edge=edge, original=original):
            net.weights[edge] = t
            return graph_loss(net, x, y, loss)

        fd = central_difference(perturbed, original)
        net.weights[edge] = original
        assert value == pytest.approx(fd, rel=1e-7, abs=1e-10), f"∂J/∂w_{edge}"
    x = np.asarray(x, dtype=float)
    for k, j in enumerate(net.inputs):

        def moved(t, k=k):
            shifted = x.copy()
            shifted[k] = t
            return graph_loss(net, shifted, y, loss)

        assert grads.dx[j] == pytest.approx(central_difference(moved, x[k]), rel=1e-7, abs=1e-10)


def test_dag_with_input_to_output_edge_against_finite_differences() -> None:
    # 1, 2 inputs; 3, 4 hidden (tanh, leaky); 5 output (sigmoid) fed by 3, 4 and directly by 1;
    # 4 is also fed by 3 (an edge inside the "hidden layer"), so the net is a DAG, not layered.
    net = NeuronNetwork(
        inputs=[1, 2],
        outputs=[5],
        weights={
            (0, 3): 0.2,
            (1, 3): -0.7,
            (2, 3): 0.4,
            (0, 4): -0.1,
            (1, 4): 0.3,
            (3, 4): 1.1,
            (0, 5): 0.05,
            (3, 5): -0.8,
            (4, 5): 0.9,
            (1, 5): 0.6,
        },
        activations={3: "tanh", 4: {"name": "leaky_relu", "a": 0.2}, 5: "sigmoid"},
    )
    assert net.order == [3, 4, 5]
    for loss, y in (("squared", [0.3]), ("nll", [1.0])):
        assert_graph_gradients_match_finite_differences(net, [0.5, -1.5], y, loss)
    trace = forward_neurons(net, [0.5, -1.5])
    expected_in5 = 0.05 - 0.8 * trace.a[3] + 0.9 * trace.a[4] + 0.6 * 0.5
    assert trace.in_[5] == pytest.approx(expected_in5, rel=1e-15)
    # The skip edge carries gradient straight to x_1: ∂J/∂x_1 includes w_{1,5} Δ_5.
    grads = backward_neurons(net, trace, [0.3], "squared")
    direct = net.weights[(1, 5)] * grads.delta[5]
    via_hidden = net.weights[(1, 3)] * grads.delta[3] + net.weights[(1, 4)] * grads.delta[4]
    assert grads.dx[1] == pytest.approx(direct + via_hidden, rel=1e-14)


def residual_graph(w12: float, w23: float, b2: float = 0.0, b3: float = 0.0) -> NeuronNetwork:
    """000's residual net: a^1 = ReLU(z^1), g = a^1 + ReLU(z^2), the sum through fixed edges 1."""
    return NeuronNetwork(
        inputs=[1],
        outputs=[4],
        weights={(0, 2): b2, (1, 2): w12, (0, 3): b3, (2, 3): w23, (2, 4): 1.0, (3, 4): 1.0},
        activations={2: "relu", 3: "relu", 4: "identity"},
        fixed=frozenset({(2, 4), (3, 4)}),
    )


def test_residual_with_fixed_edges_against_finite_differences_and_layered_skip() -> None:
    net = residual_graph(w12=1.5, w23=0.8, b2=0.1, b3=-0.2)
    x, y = [2.0], [1.0]
    assert_graph_gradients_match_finite_differences(net, x, y, "squared")
    grads = backward_neurons(net, forward_neurons(net, x), y, "squared")
    assert (2, 4) not in grads.grad and (3, 4) not in grads.grad
    # The same function as a layered net whose second layer has a skip connection.
    layered = make_network(
        [[[1.5]], [[0.8]]], [[0.1], [-0.2]], ["relu", "relu"], skips=[False, True]
    )
    l_trace = forward(layered, x)
    l_grads = backward(layered, l_trace, y, "squared")
    assert l_trace.output[0, 0] == pytest.approx(forward_neurons(net, x).a[4], rel=1e-15)
    assert l_grads.dW[1][0, 0] == pytest.approx(grads.grad[(1, 2)], rel=1e-14)
    assert l_grads.dW0[1][0, 0] == pytest.approx(grads.grad[(0, 2)], rel=1e-14)
    assert l_grads.dW[2][0, 0] == pytest.approx(grads.grad[(2, 3)], rel=1e-14)
    assert l_grads.dW0[2][0, 0] == pytest.approx(grads.grad[(0, 3)], rel=1e-14)
    assert l_grads.dx[0, 0] == pytest.approx(grads.dx[1], rel=1e-14)


def test_residual_still_trains_earlier_weights_when_z2_is_negative() -> None:
    # 000: "g = a^1 + ReLU(z^2), even if z^2 < 0, with skip connection, weights in earlier
    # layers can still get updated".
    net = residual_graph(w12=1.0, w23=-2.0)
    trace = forward_neurons(net, [1.0])
    assert trace.in_[3] < 0
    grads = backward_neurons(net, trace, [3.0], "squared")
    assert grads.grad[(2, 3)] == 0.0
    assert grads.grad[(1, 2)] == pytest.approx(-2 * (3.0 - 1.0) * 1.0 * 1.0)
    no_skip = NeuronNetwork([1], [3], {(1, 2): 1.0, (2, 3): -2.0}, {2: "relu", 3: "relu"})
    assert backward_neurons(no_skip, forward_neurons(no_skip, [1.0]), [3.0]).grad[(1, 2)] == 0.0


def test_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("the network has a cycle among neurons [2, 3]")):
        NeuronNetwork([1], [3], {(1, 2): 1.0, (2, 3): 1.0, (3, 2): 1.0}, {2: "relu", 3: "relu"})
    with pytest.raises(ValueError, match="cycle"):
        NeuronNetwork([1], [2], {(1, 2): 1.0, (2, 2): 0.5}, {2: "tanh"})


def test_graph_validation_messages() -> None:
    with pytest.raises(ValueError, match="edge \\(1, 9\\) names a neuron that does not exist"):
        NeuronNetwork([1], [2], {(1, 9): 1.0}, {2: "relu"})
    with pytest.raises(ValueError, match="points into input neuron 1"):
        NeuronNetwork([1], [2], {(2, 1): 1.0, (1, 2): 1.0}, {2: "relu"})
    with pytest.raises(ValueError, match="softmax may only be the activation of all the output"):
        NeuronNetwork([1], [3], {(1, 2): 1.0, (2, 3): 1.0}, {2: "softmax", 3: "identity"})
    with pytest.raises(ValueError, match=r"w_\{1,2\} contains NaN"):
        NeuronNetwork([1], [2], {(1, 2): np.nan}, {2: "relu"})
    net = NeuronNetwork([1, 2], [3], {(1, 3): 1.0, (2, 3): 1.0}, {3: "relu"})
    with pytest.raises(ValueError, match="input x must have 2 entries, got 3"):
        forward_neurons(net, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="target y must have 1 entries, got 2"):
        backward_neurons(net, forward_neurons(net, [1.0, 2.0]), [1.0, 2.0])


@pytest.mark.parametrize(
    ("loss", "y"),
    [("cross_entropy", [0.0, 1.0, 0.0]), ("squared", [0.2, 0.5, 0.3]), ("nll", [0.0, 1.0, 0.0])],
)
def test_softmax_output_neurons_in_graph_notation(loss: str, y: list[float]) -> None:
    # Inputs 1, 2; hidden 3 (sigmoid); outputs 4, 5, 6 share one softmax.
    rng = np.random.default_rng(3)
    weights = {(i, j): float(rng.normal()) for i in (0, 1, 2) for j in (3,)}
    weights.update({(i, j): float(rng.normal()) for i in (0, 3) for j in (4, 5, 6)})
    net = NeuronNetwork(
        [1, 2], [4, 5, 6], weights, {3: "sigmoid", 4: "softmax", 5: "softmax", 6: "softmax"}
    )
    x = [0.7, -0.4]
    trace = forward_neurons(net, x)
    probs = np.array([trace.a[j] for j in (4, 5, 6)])
    logits = np.array([trace.in_[j] for j in (4, 5, 6)])
    np.testing.assert_allclose(probs, np.exp(logits) / np.sum(np.exp(logits)), rtol=1e-14)
    assert_graph_gradients_match_finite_differences(net, x, y, loss)
    # Same numbers from the layered engine through the notation mapping.
    layered = from_neuron_network(net, [2, 1, 3])
    grads = backward_neurons(net, trace, y, loss)
    l_grads = backward(layered, forward(layered, x), y, loss)
    np.testing.assert_allclose(
        l_grads.delta[2][:, 0], [grads.delta[j] for j in (4, 5, 6)], rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        l_grads.dW[2][0], [grads.grad[(3, j)] for j in (4, 5, 6)], rtol=1e-12, atol=1e-15
    )
    assert to_neuron_network(layered).to_dict() == net.to_dict()


@pytest.mark.parametrize("engine", ["layered", "graph"])
def test_softmax_cross_entropy_gradient_for_targets_not_summing_to_one(engine: str) -> None:
    """Δ^L = g - y needs Σ_k y_k = 1; for any target it is g Σ_k y_k - y (regression test)."""
    W0 = np.array([0.5, -0.2, 0.3])
    y = np.array([1.0, 1.0, 0.0])  # e.g. a multi-label target; Σ y = 2

    def loss_at(b: np.ndarray) -> float:
        net = make_network([np.zeros((1, 3))], [b], "softmax")
        return float(
            get_loss("cross_entropy").value(forward(net, [1.0]).output, y.reshape(-1, 1))[0]
        )

    net = make_network([np.zeros((1, 3))], [W0], "softmax")
    if engine == "layered":
        analytic = backward(net, forward(net, [1.0]), y, "cross_entropy").dW0[1][:, 0]
    else:
        graph = to_neuron_network(net)
        grads = backward_neurons(graph, forward_neurons(graph, [1.0]), y, "cross_entropy")
        analytic = np.array([grads.grad[(0, j)] for j in (2, 3, 4)])
    fd = [
        central_difference(lambda t, k=k: loss_at(W0 + (t - W0[k]) * np.eye(3)[k]), W0[k])
        for k in range(3)
    ]
    np.testing.assert_allclose(analytic, fd, rtol=1e-7)


def test_forward_and_backward_give_exactly_zero_where_a_sum_cancels_to_rounding_noise():
    """1 - 0.7 - 0.3 is 5.55e-17 in binary and 0 on the board: an in_j, a ∂L/∂x and a batch
    gradient that cancel that way are 0.0; a genuinely tiny sum (1e-12) is kept."""
    W1, W01 = np.array([[1.0, 1e-12], [-0.7, 0.0]]), np.array([[-0.3], [0.0]])
    x = np.ones((2, 1))
    assert (W1.T @ x + W01)[0, 0] != 0.0  # the noise the engine removes
    net = make_network([W1, [[1.0], [-1.0]]], [W01, [[0.0]]], ["identity", "identity"])
    trace = forward(net, x)
    assert trace.Z[1][:, 0].tolist() == [0.0, 1e-12]

    W = np.array([[0.1, 0.3]])  # one input, two units: ∂L/∂x = 0.1·3 - 0.3·1
    delta = np.array([[3.0], [-1.0]])
    assert (W @ delta)[0, 0] != 0.0
    single = make_network([W], [[0.0, 0.0]], "identity")
    assert backward_from_output(single, forward(single, [1.0]), delta).dA[0][0, 0] == 0.0

    # A batch whose per-example gradients cancel: 0.1·3 and 0.3·(-1) summed over two examples.
    X, D = np.array([[0.1, 0.3]]), np.array([[3.0, -1.0]])
    assert (X @ D.T)[0, 0] != 0.0
    batch = make_network([[[1.0]]], [[0.0]], "identity")
    grads = backward_from_output(batch, forward(batch, X), D)
    assert grads.dW[1][0, 0] == 0.0 and grads.dW0[1][0, 0] == 1.0
