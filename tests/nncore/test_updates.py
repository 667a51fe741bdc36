"""Tests for nncore.updates: SGD, mini-batch GD, weight decay, clipping and the training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncore.graphnet import backward_neurons, forward_neurons
from nncore.losses import get_loss
from nncore.network import Network, backward, forward, make_network
from nncore.notation import edge_to_ref, to_neuron_network
from nncore.updates import (
    TrainingRecord,
    apply_gradients,
    check_order,
    clip_by_norm,
    compute_gradients,
    gradient_norm,
    minibatch_step,
    sgd_step,
    train,
    weight_decay_step,
)


def sigmoid(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def random_net(rng: np.random.Generator, sizes: list[int], activation="sigmoid") -> Network:
    weights = [rng.uniform(-1, 1, (a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.uniform(-1, 1, (b, 1)) for b in sizes[1:]]
    return make_network(weights, biases, activation)


def params(net: Network) -> list[np.ndarray]:
    return [p for layer in net.layers for p in (layer.W, layer.W0)]


def assert_same_network(a: Network, b: Network) -> None:
    for p, q in zip(params(a), params(b), strict=True):
        np.testing.assert_array_equal(p, q)


def snapshot(net: Network) -> list[np.ndarray]:
    return [p.copy() for p in params(net)]


def assert_unchanged(net: Network, before: list[np.ndarray]) -> None:
    for p, q in zip(params(net), before, strict=True):
        np.testing.assert_array_equal(p, q)


# --- 002's worked example --------------------------------------------------------------------------


def test_seed002_example_sgd_iteration():
    """002 "Example SGD Iteration": one sigmoid unit 3 fed by x_1, x_2 and the dummy neuron 0.

    w_{0,3} = w_{1,3} = w_{2,3} = 0.1, x = (0.4, 0.5), y = 1, α = 0.5, squared loss (y - g)².
    The notes print in_3 = 0.34821 after the update because they add the *rounded* weights
    0.2122 + 0.1449·0.4 + 0.1561·0.5; with the exact updated weights in_3 = 0.348125... (0.34813
    to 5 decimals). g(in_3) ≈ 0.5862 either way. Likewise w_{0,3} is exactly 0.212145 (0.2121),
    printed 0.2122 because the notes multiply rounded intermediates (0.4526)(0.2478).
    """
    net = make_network([[[0.1], [0.1]]], [[0.1]], "sigmoid")
    before = snapshot(net)
    new, grads = sgd_step(net, [0.4, 0.5], 1.0, "squared", 0.5)
    assert_unchanged(net, before)

    w03 = float(new.layers[0].W0[0, 0])
    w13, w23 = new.layers[0].W[:, 0]
    # The notes' 0.2122, 0.1449, 0.1561 agree to 4 decimals up to one unit in the last place:
    # exactly, w_{0,3} = 0.2121454 (0.2121 to 4 decimals). The notes multiply the rounded
    # intermediates 0.4526 · 0.2478 = 0.1121543 instead of the exact 0.1121454.
    assert w03 == pytest.approx(0.2122, abs=1e-4)
    assert w03 == pytest.approx(0.2121454345, abs=1e-10)
    assert 0.1 + 0.4526 * 0.2478 == pytest.approx(0.2122, abs=5e-5)
    assert round(w13, 4) == 0.1449
    assert round(w23, 4) == 0.1561

    # exact closed form of the notes: w <- w + 2α(y - g)g(1 - g) a_i
    g = sigmoid(0.19)
    step = 2 * 0.5 * (1 - g) * g * (1 - g)
    assert w03 == pytest.approx(0.1 + step, abs=1e-15)
    assert w13 == pytest.approx(0.1 + step * 0.4, abs=1e-15)
    assert w23 == pytest.approx(0.1 + step * 0.5, abs=1e-15)
    assert grads.delta[1][0, 0] == pytest.approx(-2 * (1 - g) * g * (1 - g), abs=1e-15)
    assert grads.loss == pytest.approx((1 - g) ** 2, abs=1e-15)

    trace = forward(new, [0.4, 0.5])
    in3 = float(trace.Z[1][0, 0])
    assert in3 == pytest.approx(0.1 + step + (0.1 + 0.4 * step) * 0.4 + (0.1 + 0.5 * step) * 0.5)
    assert round(in3, 5) == 0.34813
    assert in3 == pytest.approx(0.3481250626, abs=1e-10)
    # the notes' 0.34821 is the same sum over the 4-decimal weights
    assert 0.2122 + 0.1449 * 0.4 + 0.1561 * 0.5 == pytest.approx(0.34821, abs=1e-12)
    assert abs(in3 - 0.34821) > 5e-5
    assert round(float(trace.A[1][0, 0]), 4) == 0.5862


def test_sgd_step_matches_graph_notation_update():
    """w_ij <- w_ij - α Δ_j a_i edge by edge, with Δ_j and a_i from the independent graph engine."""
    rng = np.random.default_rng(3)
    net = random_net(rng, [2, 3, 2])
    x, y, lr = np.array([0.3, -0.7]), np.array([1.0, 0.0]), 0.25
    new, _ = sgd_step(net, x, y, "squared", lr)
    graph = to_neuron_network(net)
    gtrace = forward_neurons(graph, x)
    ggrads = backward_neurons(graph, gtrace, y, "squared")
    for (i, j), w in graph.weights.items():
        ref = edge_to_ref(net.sizes, i, j)
        layer = new.layer(ref.layer)
        updated = layer.W0[ref.row, 0] if ref.kind == "W0" else layer.W[ref.row, ref.col]
        a_i = 1.0 if i == 0 else gtrace.a[i]
        assert updated == pytest.approx(w - lr * ggrads.delta[j] * a_i, abs=1e-14)


def test_all_layers_update_from_the_current_weights():
    """No mixing: the layer-1 update uses W^2 before its own update (Δ^1 = f'(Z^1) W^2 Δ^2)."""
    rng = np.random.default_rng(8)
    net = random_net(rng, [2, 2, 1])
    x, y, lr = np.array([0.5, -0.2]), np.array([0.9]), 0.7
    new, grads = sgd_step(net, x, y, "squared", lr)
    expected = backward(net, forward(net, x), y, "squared")
    np.testing.assert_array_equal(new.layers[0].W, net.layers[0].W - lr * expected.dW[1])
    np.testing.assert_array_equal(new.layers[1].W, net.layers[1].W - lr * expected.dW[2])
    np.testing.assert_array_equal(grads.dW[1], expected.dW[1])
    # a layer-by-layer update that reused the new W^2 would differ
    mixed = backward(
        make_network([net.layers[0].W, new.layers[1].W], [net.layers[0].W0, new.layers[1].W0]),
        forward(net, x),
        y,
    )
    assert not np.allclose(mixed.dW[1], expected.dW[1])


# --- mini-batch --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    batch=st.integers(1, 6),
    loss_name=st.sampled_from(["squared", "nll"]),
)
def test_minibatch_gradient_is_mean_of_per_example_gradients(seed, sizes, batch, loss_name):
    rng = np.random.default_rng(seed)
    net = random_net(rng, sizes)
    X = rng.uniform(-2, 2, (sizes[0], batch))
    Y = rng.uniform(0.05, 0.95, (sizes[-1], batch))
    lr = 0.3
    new, grads = minibatch_step(net, X, Y, loss_name, lr)
    singles = [sgd_step(net, X[:, e], Y[:, e], loss_name, lr)[1] for e in range(batch)]
    for l in range(1, net.depth + 1):
        mean_dW = np.mean([g.dW[l] for g in singles], axis=0)
        mean_dW0 = np.mean([g.dW0[l] for g in singles], axis=0)
        np.testing.assert_allclose(grads.dW[l], mean_dW, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grads.dW0[l], mean_dW0, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(new.layer(l).W, net.layer(l).W - lr * mean_dW, atol=1e-14)
        np.testing.assert_allclose(new.layer(l).W0, net.layer(l).W0 - lr * mean_dW0, atol=1e-14)
    assert grads.loss == pytest.approx(np.mean([g.loss for g in singles]), rel=1e-12)


def test_minibatch_of_one_equals_sgd_step():
    rng = np.random.default_rng(1)
    net = random_net(rng, [3, 2, 1])
    x = rng.normal(size=(3, 1))
    a, _ = minibatch_step(net, x, [[0.5]], "squared", 0.1)
    b, _ = sgd_step(net, x[:, 0], 0.5, "squared", 0.1)
    assert_same_network(a, b)


# --- weight decay ------------------------------------------------------------------------------------


def regularised_cost(net: Network, x, y, loss, lam, include_bias) -> float:
    cost = backward(net, forward(net, x), y, loss).loss
    penalty = sum(float(np.sum(layer.W**2)) for layer in net.layers)
    if include_bias:
        penalty += sum(float(np.sum(layer.W0**2)) for layer in net.layers)
    return cost + lam * penalty


@pytest.mark.parametrize("include_bias", [True, False])
@pytest.mark.parametrize("loss_name", ["squared", "nll"])
def test_weight_decay_step_is_gradient_descent_on_regularised_cost(include_bias, loss_name):
    """(w - w_new)/α equals ∂/∂w [ℓ + λ Σ w²] by central finite differences."""
    rng = np.random.default_rng(11)
    net = random_net(rng, [2, 3, 1])
    x, y, lr, lam = np.array([0.4, -0.9]), np.array([0.8]), 0.05, 0.3
    before = snapshot(net)
    new, _ = weight_decay_step(net, x, y, loss_name, lr, lam, include_bias)
    assert_unchanged(net, before)
    h = 1e-6
    for l in range(1, net.depth + 1):
        for kind in ("W", "W0"):
            arr = getattr(net.layer(l), kind)
            for index in np.ndindex(arr.shape):
                plus, minus = net.copy(), net.copy()
                getattr(plus.layer(l), kind)[index] += h
                getattr(minus.layer(l), kind)[index] -= h
                numeric = (
                    regularised_cost(plus, x, y, loss_name, lam, include_bias)
                    - regularised_cost(minus, x, y, loss_name, lam, include_bias)
                ) / (2 * h)
                implied = (arr[index] - getattr(new.layer(l), kind)[index]) / lr
                assert implied == pytest.approx(numeric, abs=1e-7), (l, kind, index)


def test_weight_decay_step_formula_and_bias_option():
    rng = np.random.default_rng(5)
    net = random_net(rng, [2, 2, 1])
    x, y, lr, lam = np.array([1.0, 2.0]), np.array([0.0]), 0.1, 0.25
    plain, grads = sgd_step(net, x, y, "squared", lr)
    decayed, decay_grads = weight_decay_step(net, x, y, "squared", lr, lam)
    no_bias, _ = weight_decay_step(net, x, y, "squared", lr, lam, include_bias=False)
    for l in (1, 2):
        old = net.layer(l)
        # w <- w - α Δ_j a_i - 2αλ w
        np.testing.assert_allclose(
            decayed.layer(l).W, old.W - lr * grads.dW[l] - 2 * lr * lam * old.W, atol=1e-15
        )
        np.testing.assert_allclose(
            decayed.layer(l).W0, old.W0 - lr * grads.dW0[l] - 2 * lr * lam * old.W0, atol=1e-15
        )
        np.testing.assert_allclose(no_bias.layer(l).W, decayed.layer(l).W, atol=0)
        np.testing.assert_array_equal(no_bias.layer(l).W0, plain.layer(l).W0)
        np.testing.assert_array_equal(decay_grads.dW[l], grads.dW[l])
    zero, _ = weight_decay_step(net, x, y, "squared", lr, 0.0)
    assert_same_network(zero, plain)


def test_weight_decay_shrinks_weights_towards_zero_without_loss_gradient():
    """With Δ_j a_i = 0 (a perfect fit of a linear unit) only the decay acts: w <- (1 - 2αλ) w."""
    net = make_network([[[2.0], [-1.0]]], [[0.5]], "identity")
    x = np.array([1.0, 1.0])
    y = forward(net, x).output[:, 0]
    new, _ = weight_decay_step(net, x, y, "squared", 0.1, 0.5)
    np.testing.assert_allclose(new.layers[0].W, 0.9 * net.layers[0].W)
    np.testing.assert_allclose(new.layers[0].W0, 0.9 * net.layers[0].W0)


# --- clipping ------------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tau=st.floats(1e-3, 10.0))
def test_clip_by_norm_caps_magnitude_and_keeps_direction(seed, tau):
    rng = np.random.default_rng(seed)
    net = random_net(rng, [3, 4, 2])
    grads = compute_gradients(
        net, rng.normal(size=(3, 2)) * 5, rng.normal(size=(2, 2)) * 5, "squared"
    )
    original = [g.copy() for g in grads.dW[1:] + grads.dW0[1:]]
    clipped, norm = clip_by_norm(grads, tau)
    assert norm == pytest.approx(math.sqrt(sum(float(np.sum(g**2)) for g in original)), rel=1e-12)
    # the input gradients are untouched
    for g, o in zip(grads.dW[1:] + grads.dW0[1:], original, strict=True):
        np.testing.assert_array_equal(g, o)
    new = clipped.dW[1:] + clipped.dW0[1:]
    if norm > tau:
        assert gradient_norm(clipped) == pytest.approx(tau, rel=1e-12)
        for g, o in zip(new, original, strict=True):
            np.testing.assert_allclose(g, o * (tau / norm), rtol=1e-12, atol=1e-300)
        assert clipped.extra["clip_scale"] == pytest.approx(tau / norm)
    else:
        for g, o in zip(new, original, strict=True):
            np.testing.assert_array_equal(g, o)
        assert clipped.extra["clip_scale"] == 1.0


def test_clip_by_norm_below_and_at_threshold_is_identity():
    rng = np.random.default_rng(0)
    net = random_net(rng, [2, 2, 1])
    grads = compute_gradients(net, [0.1, 0.2], [0.3], "squared")
    norm = gradient_norm(grads)
    for tau in (norm, 2 * norm):
        clipped, reported = clip_by_norm(grads, tau)
        assert reported == norm
        for l in (1, 2):
            np.testing.assert_array_equal(clipped.dW[l], grads.dW[l])
            np.testing.assert_array_equal(clipped.dW0[l], grads.dW0[l])
    clipped, _ = clip_by_norm(grads, norm / 4)
    np.testing.assert_allclose(clipped.dW[1], grads.dW[1] / 4, rtol=1e-12)
    np.testing.assert_allclose(clipped.dW0[2], grads.dW0[2] / 4, rtol=1e-12)


def test_sgd_step_with_clip_uses_clipped_gradient():
    rng = np.random.default_rng(2)
    net = random_net(rng, [2, 3, 1])
    x, y, lr = np.array([3.0, -4.0]), np.array([5.0]), 0.1
    _, raw = sgd_step(net, x, y, "squared", lr)
    tau = gradient_norm(raw) / 3
    new, used = sgd_step(net, x, y, "squared", lr, clip=tau)
    assert gradient_norm(used) == pytest.approx(tau)
    for l in (1, 2):
        np.testing.assert_allclose(new.layer(l).W, net.layer(l).W - lr * raw.dW[l] / 3, atol=1e-14)
        np.testing.assert_allclose(
            new.layer(l).W0, net.layer(l).W0 - lr * raw.dW0[l] / 3, atol=1e-14
        )
    unclipped, _ = sgd_step(net, x, y, "squared", lr, clip=gradient_norm(raw) * 2)
    assert_same_network(unclipped, sgd_step(net, x, y, "squared", lr)[0])


# --- training loop -------------------------------------------------------------------------------------


def dataset(rng: np.random.Generator, n0: int, nL: int, n: int):
    return rng.uniform(-1, 1, (n0, n)), rng.uniform(0.1, 0.9, (nL, n))


def test_train_records_weights_after_every_step_and_replays_sgd():
    rng = np.random.default_rng(4)
    net = random_net(rng, [2, 3, 1])
    X, Y = dataset(rng, 2, 1, 3)
    before = snapshot(net)
    order = [2, 0, 1]
    record = train(net, X, Y, "squared", 0.5, 7, order=order)
    assert_unchanged(net, before)
    assert isinstance(record, TrainingRecord)
    assert record.steps == 7
    assert len(record.networks) == 8 and len(record.costs) == 8 and len(record.objectives) == 8
    assert record.batches == [[2], [0], [1], [2], [0], [1], [2]]
    assert_same_network(record.networks[0], net)
    assert record.networks[0] is not net
    current = net
    for t in range(7):
        e = order[t % 3]
        current, grads = sgd_step(current, X[:, e], Y[:, e], "squared", 0.5)
        assert_same_network(record.networks[t + 1], current)
        np.testing.assert_array_equal(record.gradients[t].dW[1], grads.dW[1])
        assert record.batch_losses[t] == grads.loss
        expected_cost = backward(current, forward(current, X), Y, "squared").loss
        assert record.costs[t + 1] == pytest.approx(expected_cost, rel=1e-15)
    assert record.objectives == record.costs
    assert_same_network(record.final, current)
    np.testing.assert_array_equal(record.weights(7)[0], current.layers[0].W)
    np.testing.assert_array_equal(record.biases(7)[1], current.layers[1].W0)


def test_train_is_deterministic_and_reduces_cost():
    rng = np.random.default_rng(6)
    net = random_net(rng, [2, 4, 1])
    X, Y = dataset(rng, 2, 1, 4)
    a = train(net, X, Y, "squared", 0.5, 200)
    b = train(net, X, Y, "squared", 0.5, 200)
    for na, nb in zip(a.networks, b.networks, strict=True):
        assert_same_network(na, nb)
    assert a.costs == b.costs
    assert a.costs[-1] < a.costs[0]
    assert a.batches[:5] == [[0], [1], [2], [3], [0]]


def test_train_minibatches_cycle_through_order():
    rng = np.random.default_rng(9)
    net = random_net(rng, [2, 2, 1])
    X, Y = dataset(rng, 2, 1, 3)
    record = train(net, X, Y, "squared", 0.2, 3, order=[0, 1, 2], batch_size=2)
    assert record.batches == [[0, 1], [2, 0], [1, 2]]
    current = net
    for t, batch in enumerate(record.batches):
        current, _ = minibatch_step(current, X[:, batch], Y[:, batch], "squared", 0.2)
        assert_same_network(record.networks[t + 1], current)


def test_train_with_weight_decay_and_clip_replays_steps():
    rng = np.random.default_rng(10)
    net = random_net(rng, [2, 3, 1])
    X, Y = dataset(rng, 2, 1, 2)
    lam, tau = 0.1, 0.05
    record = train(net, X, Y, "squared", 0.3, 4, lam=lam, clip=tau, include_bias=False)
    current = net
    for t, batch in enumerate(record.batches):
        current, _ = weight_decay_step(
            current, X[:, batch], Y[:, batch], "squared", 0.3, lam, False, clip=tau
        )
        assert_same_network(record.networks[t + 1], current)
        assert gradient_norm(record.gradients[t]) <= tau * (1 + 1e-12)
        penalty = sum(float(np.sum(layer.W**2)) for layer in current.layers)
        assert record.objectives[t + 1] == pytest.approx(record.costs[t + 1] + lam * penalty)


def test_flat_targets_for_single_output_network():
    rng = np.random.default_rng(12)
    net = random_net(rng, [1, 2, 1])
    record_flat = train(net, [0.1, 0.5, -0.3], [0.2, 0.4, 0.6], "squared", 0.1, 3)
    record_cols = train(net, [[0.1, 0.5, -0.3]], [[0.2, 0.4, 0.6]], "squared", 0.1, 3)
    assert_same_network(record_flat.final, record_cols.final)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 5), batch_size=st.integers(1, 3))
def test_no_function_mutates_the_callers_network(seed, steps, batch_size):
    rng = np.random.default_rng(seed)
    net = random_net(rng, [2, 3, 2])
    X, Y = dataset(rng, 2, 2, 3)
    before = snapshot(net)
    sgd_step(net, X[:, 0], Y[:, 0], "squared", 0.5, clip=0.01)
    minibatch_step(net, X, Y, "squared", 0.5)
    weight_decay_step(net, X[:, 1], Y[:, 1], "squared", 0.5, 0.2)
    grads = compute_gradients(net, X, Y, "squared")
    apply_gradients(net, grads, 0.5, lam=0.1)
    train(net, X, Y, "squared", 0.5, steps, batch_size=batch_size, lam=0.1, clip=1.0)
    assert_unchanged(net, before)


# --- validation ----------------------------------------------------------------------------------------


@pytest.fixture
def small():
    rng = np.random.default_rng(13)
    net = random_net(rng, [2, 2, 1])
    X, Y = dataset(rng, 2, 1, 3)
    return net, X, Y


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "fast", [0.1, 0.2]])
def test_learning_rate_must_be_positive_finite(small, lr):
    net, X, Y = small
    with pytest.raises(ValueError, match="learning rate"):
        sgd_step(net, X[:, 0], Y[:, 0], "squared", lr)
    with pytest.raises(ValueError, match="learning rate"):
        minibatch_step(net, X, Y, "squared", lr)
    with pytest.raises(ValueError, match="learning rate"):
        weight_decay_step(net, X[:, 0], Y[:, 0], "squared", lr, 0.1)
    with pytest.raises(ValueError, match="learning rate"):
        train(net, X, Y, "squared", lr, 2)


@pytest.mark.parametrize("steps", [0, -1, 1.5, 2.0, True, "3", None])
def test_steps_must_be_positive_int(small, steps):
    net, X, Y = small
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train(net, X, Y, "squared", 0.1, steps)


@pytest.mark.parametrize(
    "order, message",
    [
        ([0, 3], "out of range"),
        ([-1], "out of range"),
        ([0, 1.0], "integer index"),
        ([True], "integer index"),
        ([], "at least one"),
        ("012", "list of example indices"),
        (5, "list of example indices"),
    ],
)
def test_order_indices_must_be_valid(small, order, message):
    net, X, Y = small
    with pytest.raises(ValueError, match=message):
        train(net, X, Y, "squared", 0.1, 2, order=order)


def test_check_order_default_and_numpy_indices():
    assert check_order(None, 3) == [0, 1, 2]
    assert check_order(np.array([2, 0]), 3) == [2, 0]


@pytest.mark.parametrize("tau", [0, -1.0, float("nan")])
def test_tau_must_be_positive(small, tau):
    net, X, Y = small
    grads = compute_gradients(net, X, Y, "squared")
    with pytest.raises(ValueError, match="clipping threshold"):
        clip_by_norm(grads, tau)
    with pytest.raises(ValueError, match="clipping threshold"):
        sgd_step(net, X[:, 0], Y[:, 0], "squared", 0.1, clip=tau)
    with pytest.raises(ValueError, match="clipping threshold"):
        train(net, X, Y, "squared", 0.1, 1, clip=tau)


@pytest.mark.parametrize("lam", [-0.01, float("inf")])
def test_lambda_must_be_non_negative(small, lam):
    net, X, Y = small
    with pytest.raises(ValueError, match="weight decay"):
        weight_decay_step(net, X[:, 0], Y[:, 0], "squared", 0.1, lam)
    with pytest.raises(ValueError, match="weight decay"):
        train(net, X, Y, "squared", 0.1, 1, lam=lam)


def test_batch_size_validation(small):
    net, X, Y = small
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train(net, X, Y, "squared", 0.1, 1, batch_size=0)
    with pytest.raises(ValueError, match="batch_size 4 is larger"):
        train(net, X, Y, "squared", 0.1, 1, batch_size=4)


def test_data_shape_errors(small):
    net, X, Y = small
    with pytest.raises(ValueError, match="one example"):
        sgd_step(net, X, Y, "squared", 0.1)
    with pytest.raises(ValueError, match=r"same number of examples"):
        minibatch_step(net, X, Y[:, :2], "squared", 0.1)
    with pytest.raises(ValueError, match=r"inputs X must be a vector of 2 or a 2xB matrix"):
        train(net, X[:1, :].reshape(1, 3, 1), Y, "squared", 0.1, 1)
    with pytest.raises(ValueError, match="inputs X must be 2xB"):
        train(net, np.ones((3, 3)), Y, "squared", 0.1, 1)
    with pytest.raises(ValueError, match="NaN"):
        sgd_step(net, [np.nan, 0.0], [0.0], "squared", 0.1)
    with pytest.raises(ValueError, match="Network"):
        sgd_step(net.to_dict(), X[:, 0], Y[:, 0], "squared", 0.1)
    with pytest.raises(ValueError, match="unknown loss"):
        sgd_step(net, X[:, 0], Y[:, 0], "hinge", 0.1)


def test_apply_gradients_refuses_mismatched_gradients(small):
    net, X, Y = small
    other = random_net(np.random.default_rng(0), [2, 3, 1])
    grads = compute_gradients(other, X, Y, "squared")
    with pytest.raises(ValueError, match=r"gradient of layer 1 has shapes 2x3"):
        apply_gradients(net, grads, 0.1)
    deeper = compute_gradients(random_net(np.random.default_rng(0), [2, 2, 2, 1]), X, Y, "squared")
    with pytest.raises(ValueError, match="gradients have 3 layers but the network has 2"):
        apply_gradients(net, deeper, 0.1)


def test_losses_from_get_loss_are_accepted(small):
    net, X, Y = small
    a, _ = sgd_step(net, X[:, 0], Y[:, 0], get_loss("sse"), 0.1)
    b, _ = sgd_step(net, X[:, 0], Y[:, 0], "squared", 0.1)
    assert_same_network(a, b)
