"""Tests of nncore.diagnostics against backward, finite differences and direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from nncore.activations import sigmoid
from nncore.diagnostics import (
    DeadUnit,
    batch_norm,
    dead_relu_units,
    dropout,
    linear_collapse,
    parameter_count,
    residual_gradient,
    sigmoid_derivative_bound,
    vanishing_gradient_product,
)
from nncore.losses import mean_loss
from nncore.network import backward, forward, make_network


def numeric_gradient(net, x, y, l, kind="W", h=1e-6, loss="squared"):
    """Central differences of the mean loss w.r.t. every entry of W^l (or W_0^l)."""
    target = getattr(net.layer(l), kind)
    grad = np.zeros_like(target)
    for idx in np.ndindex(target.shape):
        values = []
        for step in (h, -h):
            probe = net.copy()
            getattr(probe.layer(l), kind)[idx] += step
            values.append(mean_loss(loss, forward(probe, x).output, np.atleast_2d(y)))
        grad[idx] = (values[0] - values[1]) / (2 * h)
    return grad


# --- dead_relu_units ---------------------------------------------------------------------------


def _relu_net(prime_at_zero=1.0):
    relu = {"name": "relu", "prime_at_zero": prime_at_zero}
    W1 = [[2.0, -1.0, 2.0], [1.0, -1.0, -1.0]]  # unit 2 has z = -(x1 + x2)
    W2 = [[1.0], [1.0], [1.0]]
    return make_network([W1, W2], [[0.0, 0.0, 0.0], [0.5]], [relu, "identity"])


def test_dead_relu_units_finds_unit_dead_on_every_example():
    net = _relu_net()
    X = np.array([[1.0, 2.0, 0.5], [1.0, -1.0, 3.0]])  # x1 + x2 > 0 on all three
    dead = dead_relu_units(net, X)
    # sizes 2-3-1: inputs 1, 2; hidden 3, 4, 5; the second hidden unit is neuron 4
    assert dead == [DeadUnit(layer=1, index=1, neuron=4)]
    grads = backward(net, forward(net, X), [[1.0, -2.0, 0.3]])
    assert np.all(grads.dW[1][:, 1] == 0.0) and grads.dW0[1][1, 0] == 0.0
    assert np.all(grads.dW[2][1, :] == 0.0)  # its output a = 0 on every example too


def test_dead_relu_units_alive_if_positive_on_one_example():
    net = _relu_net()
    X = np.array([[1.0, -2.0], [1.0, -1.0]])  # second example: x1 + x2 = -3 -> unit 2 alive
    assert dead_relu_units(net, X) == []
    grads = backward(net, forward(net, X), [[1.0, -2.0]])
    assert np.any(grads.dW[1][:, 1] != 0.0)


def test_dead_relu_units_zero_pre_activation_follows_relu_prime_at_zero():
    X = np.array([[1.0, 2.0], [-1.0, -2.0]])  # unit 2 has z = 0 on both examples
    mit = _relu_net(prime_at_zero=1.0)  # ReLU'(0) = 1: gradient flows, not dead
    assert dead_relu_units(mit, X) == []
    assert dead_relu_units(mit, X, zero_is_dead=True) == [DeadUnit(1, 1, 4)]
    zero = _relu_net(prime_at_zero=0.0)  # ReLU'(0) = 0: no gradient, dead
    assert dead_relu_units(zero, X) == [DeadUnit(1, 1, 4)]
    assert dead_relu_units(zero, X, zero_is_dead=False) == []
    grads = backward(zero, forward(zero, X), [[1.0, 1.0]])
    assert np.all(grads.dW[1][:, 1] == 0.0)


def test_dead_relu_units_output_layer_only_when_asked_and_leaky_never():
    net = make_network([[[-1.0]], [[1.0]]], activations=["leaky_relu", "relu"])
    x = [[2.0, 3.0]]
    assert dead_relu_units(net, x) == []  # leaky ReLU hidden unit is never dead
    # z^1 = -2, -3; a^1 = -0.2, -0.3; z^2 < 0: the ReLU output is dead
    assert dead_relu_units(net, x, include_output=True) == [DeadUnit(2, 0, 3)]


def test_dead_relu_units_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match="2xB"):
        dead_relu_units(_relu_net(), np.ones((3, 2)))


# --- vanishing_gradient_product ----------------------------------------------------------------


def _chain(weights, biases=None, activations="sigmoid"):
    biases = None if biases is None else [[b] for b in biases]
    return make_network([[[w]] for w in weights], biases, activations)


def test_chain_product_equals_backward_delta_2():
    # 002's chain 1-2-3-4-5: input neuron 1, units 2..5 one per layer.
    net = _chain([0.5, -1.2, 2.0, 0.8], [0.1, -0.3, 0.2, 0.0])
    x, y = 1.5, 0.3
    chain = vanishing_gradient_product(net, x, y)
    trace = forward(net, x)
    grads = backward(net, trace, y)
    assert chain.neurons == (2, 3, 4, 5)
    assert chain.product == pytest.approx(grads.delta[1][0, 0], rel=1e-12)
    for l in range(1, 5):
        assert chain.deltas[l - 1] == pytest.approx(grads.delta[l][0, 0], rel=1e-12)
    # the factors are the notes' [g'(in_j) w_{j,j+1}] ... [g'(in_5)(-2(y - a_5))]
    s = [float(sigmoid(trace.Z[l])[0, 0]) for l in range(1, 5)]
    expected = [
        s[0] * (1 - s[0]) * -1.2,  # w_{2,3} = W^2
        s[1] * (1 - s[1]) * 2.0,
        s[2] * (1 - s[2]) * 0.8,
        s[3] * (1 - s[3]) * (-2 * (y - s[3])),
    ]
    np.testing.assert_allclose(chain.factors, expected, rtol=1e-12)
    np.testing.assert_allclose(chain.weights, [-1.2, 2.0, 0.8])
    assert chain.loss_gradient == pytest.approx(-2 * (y - s[3]))
    assert chain.product == pytest.approx(np.prod(expected), rel=1e-12)
    # ∂J/∂w_{1,2} = Δ_2 a_1, checked by finite differences
    assert chain.first_weight_gradient == pytest.approx(grads.dW[1][0, 0], rel=1e-12)
    assert chain.first_weight_gradient == pytest.approx(
        numeric_gradient(net, x, y, 1)[0, 0], rel=1e-6
    )


def test_chain_product_is_bounded_by_quarter_power_for_sigmoid():
    rng = np.random.default_rng(7)
    for _ in range(20):
        weights = rng.normal(size=6)
        net = _chain(list(weights), list(rng.normal(size=6)))
        x, y = rng.normal(), rng.uniform()
        chain = vanishing_gradient_product(net, x, y)
        k = len(chain.derivatives)
        assert np.prod(chain.derivatives) <= sigmoid_derivative_bound(k)
        bound = sigmoid_derivative_bound(k) * np.prod(np.abs(chain.weights))
        assert abs(chain.product) <= bound * abs(chain.loss_gradient) + 1e-15


def test_sigmoid_derivative_bound():
    assert sigmoid_derivative_bound(0) == 1.0
    assert sigmoid_derivative_bound(4) == 0.25**4
    assert float(sigmoid(np.array(0.0)) * (1 - sigmoid(np.array(0.0)))) == 0.25  # attained at 0
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="non-negative integer"):
            sigmoid_derivative_bound(bad)


def test_chain_product_relu_chain_with_negative_input_is_zero():
    net = _chain([1.0, -1.0, 1.0], activations="relu")
    chain = vanishing_gradient_product(net, 2.0, 5.0)  # in_3 = -2: ReLU'(-2) = 0
    assert chain.derivatives[1] == 0.0
    assert chain.product == 0.0
    assert backward(net, forward(net, 2.0), 5.0).dW[1][0, 0] == 0.0


def test_chain_product_refuses_non_chain_batch_and_skip():
    wide = make_network([[[1.0, 2.0]], [[1.0], [1.0]]])
    with pytest.raises(ValueError, match="layer 1 has 2 units"):
        vanishing_gradient_product(wide, 1.0, 0.5)
    wide_input = make_network([[[1.0], [2.0]]])
    with pytest.raises(ValueError, match="the input has 2 units"):
        vanishing_gradient_product(wide_input, [1.0, 1.0], 0.5)
    with pytest.raises(ValueError, match="one example"):
        vanishing_gradient_product(_chain([1.0, 1.0]), [[1.0, 2.0]], [[0.5, 0.5]])
    skip = make_network([[[1.0]], [[1.0]]], skips=[False, True])
    with pytest.raises(ValueError, match="layer 2 has a skip"):
        vanishing_gradient_product(skip, 1.0, 0.5)


# --- linear_collapse ---------------------------------------------------------------------------


def test_linear_collapse_matches_forward():
    rng = np.random.default_rng(3)
    sizes = [4, 3, 5, 2]
    weights = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    net = make_network(weights, biases, "identity")
    W, W0 = linear_collapse(net)
    assert W.shape == (4, 2) and W0.shape == (2, 1)
    np.testing.assert_allclose(W, weights[0] @ weights[1] @ weights[2])
    X = rng.normal(size=(4, 6))
    np.testing.assert_allclose(W.T @ X + W0, forward(net, X).output, rtol=1e-12)


def test_linear_collapse_tu_graz_formula():
    # 003: ŷ = w^2_{0,1} + Σ_i w^2_{i,1} (Σ_j w^1_{j,i} x_j) with D = 3 inputs, 2 hidden units
    W1 = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 1.0]])  # w^1_{j,i}, j = 1..3
    b1 = np.array([0.2, -0.7])  # w^1_{0,i}
    W2 = np.array([[2.0], [-0.5]])  # w^2_{i,1}
    b2 = np.array([0.3])  # w^2_{0,1}
    W, W0 = linear_collapse(make_network([W1, W2], [b1, b2], "identity"))
    w0_tilde = b2[0] + b1[0] * W2[0, 0] + b1[1] * W2[1, 0]
    w_tilde = [W1[j, 0] * W2[0, 0] + W1[j, 1] * W2[1, 0] for j in range(3)]
    assert W0[0, 0] == pytest.approx(w0_tilde)
    np.testing.assert_allclose(W[:, 0], w_tilde)


def test_linear_collapse_with_identity_skip_layer():
    net = make_network(
        [[[1.0, 2.0], [0.0, -1.0]], [[0.5, 1.0], [2.0, -1.0]]],
        [[1.0, 0.0], [0.0, 3.0]],
        "identity",
        skips=[False, True],
    )
    W, W0 = linear_collapse(net)
    X = np.array([[1.0, -2.0, 0.3], [4.0, 0.5, -1.0]])
    np.testing.assert_allclose(W.T @ X + W0, forward(net, X).output, rtol=1e-12)


def test_linear_collapse_refuses_nonlinear_layer():
    net = make_network([[[1.0]], [[1.0]], [[1.0]]], activations=["identity", "relu", "identity"])
    with pytest.raises(ValueError, match="layer 2 has activation 'relu'"):
        linear_collapse(net)


# --- parameter_count ---------------------------------------------------------------------------


def test_parameter_count_matches_network_and_direct_sum():
    assert parameter_count([784, 100, 10]) == 784 * 100 + 100 + 100 * 10 + 10
    assert parameter_count([784, 100, 10], bias=False) == 784 * 100 + 100 * 10
    assert parameter_count([1, 2, 1]) == 7
    sizes = [3, 4, 2, 5]
    weights = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    assert parameter_count(sizes) == make_network(weights).parameter_count()


@pytest.mark.parametrize("sizes", [[3], [], [3, 0, 1], [2, -1], [2, 1.5], [2, True]])
def test_parameter_count_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        parameter_count(sizes)


# --- dropout -----------------------------------------------------------------------------------


def test_dropout_inverted_divides_kept_units_by_keep_probability():
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    mask = np.array([[1, 0], [1, 1], [0, 1]])
    out = dropout(a, mask, p_drop=0.5)
    np.testing.assert_allclose(out, [[2.0, 0.0], [6.0, 8.0], [0.0, 12.0]])
    np.testing.assert_allclose(dropout(a, mask, 0.5, inverted=False), a * mask)
    np.testing.assert_allclose(dropout(a, np.ones_like(a), 0.0), a)


def test_inverted_dropout_keeps_expected_activation():
    rng = np.random.default_rng(0)
    a = np.array([[1.0], [-2.0], [3.0]])
    p_drop = 0.2
    masks = (rng.uniform(size=(20000, 3, 1)) >= p_drop).astype(float)
    mean = np.mean([dropout(a, m, p_drop) for m in masks], axis=0)
    np.testing.assert_allclose(mean, a, atol=0.05)


def test_dropout_validation():
    a = np.ones((3, 2))
    with pytest.raises(ValueError, match="a is 3x2, mask is 2x3"):
        dropout(a, np.ones((2, 3)), 0.5)
    with pytest.raises(ValueError, match="0 \\(drop\\) or 1 \\(keep\\), got 0.5"):
        dropout(a, np.full((3, 2), 0.5), 0.5)
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="p_drop"):
            dropout(a, np.ones((3, 2)), p)


# --- batch_norm --------------------------------------------------------------------------------


def test_batch_norm_matches_direct_formula():
    A = np.array([[1.0, 2.0, 3.0, 6.0], [0.0, -1.0, 1.0, 0.0]])  # 2 units, |B| = 4
    res = batch_norm(A, gamma=2.0, beta=0.5, eps=1e-3)
    np.testing.assert_allclose(res.mu, [[3.0], [0.0]])
    np.testing.assert_allclose(res.var, [[(4 + 1 + 0 + 9) / 4], [0.5]])  # biased 1/|B|
    for j in range(2):
        for e in range(4):
            expected = 2.0 * (A[j, e] - res.mu[j, 0]) / np.sqrt(1e-3 + res.var[j, 0]) + 0.5
            assert res.A_hat[j, e] == pytest.approx(expected)
    A_hat, mu, var = res  # unpacks
    assert A_hat.shape == A.shape and mu.shape == var.shape == (2, 1)


def test_batch_norm_standardises_and_takes_per_unit_parameters():
    rng = np.random.default_rng(1)
    A = rng.normal(3.0, 2.0, size=(3, 50))
    plain = batch_norm(A, 1.0, 0.0, eps=0.0)
    np.testing.assert_allclose(plain.A_hat.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(plain.A_hat.var(axis=1), 1.0, rtol=1e-12)
    gamma, beta = np.array([1.0, 2.0, -1.0]), np.array([[0.0], [1.0], [5.0]])
    res = batch_norm(A, gamma, beta, eps=0.0)
    np.testing.assert_allclose(res.A_hat.mean(axis=1), [0.0, 1.0, 5.0], atol=1e-12)
    np.testing.assert_allclose(res.A_hat.std(axis=1), [1.0, 2.0, 1.0], rtol=1e-12)


def test_batch_norm_validation():
    A = np.ones((2, 3))
    with pytest.raises(ValueError, match="units x batch"):
        batch_norm([1.0, 2.0], 1.0, 0.0, 1e-5)
    with pytest.raises(ValueError, match="gamma must be one number or one per unit \\(2\\)"):
        batch_norm(A, [1.0, 2.0, 3.0], 0.0, 1e-5)
    with pytest.raises(ValueError, match="beta"):
        batch_norm(A, 1.0, np.ones((2, 2)), 1e-5)
    with pytest.raises(ValueError, match="eps"):
        batch_norm(A, 1.0, 0.0, -1.0)
    with pytest.raises(ValueError, match="unit\\(s\\) \\[1, 2\\]"):
        batch_norm(A, 1.0, 0.0, 0.0)  # constant units with eps = 0
    np.testing.assert_allclose(batch_norm(A, 1.0, 0.25, 1e-5).A_hat, 0.25)


# --- residual_gradient -------------------------------------------------------------------------


def test_residual_gradient_against_finite_differences():
    rng = np.random.default_rng(5)
    W = [rng.normal(size=(2, 3)), rng.normal(size=(3, 3)), rng.normal(size=(3, 1))]
    b = [rng.normal(size=3), rng.normal(size=3), rng.normal(size=1)]
    net = make_network(W, b, ["tanh", "relu", "identity"], skips=[False, True, False])
    X, Y = rng.normal(size=(2, 4)), rng.normal(size=(1, 4))
    res = residual_gradient(net, X, Y)
    for l in (1, 2, 3):
        np.testing.assert_allclose(
            res.with_skip.dW[l], numeric_gradient(net, X, Y, l), rtol=1e-5, atol=1e-8
        )
    plain = net.copy()
    plain.layers[1].skip = False
    np.testing.assert_allclose(res.without_skip.dW[1], numeric_gradient(plain, X, Y, 1), atol=1e-8)
    assert net.layers[1].skip  # the given net is not modified


def test_residual_gradient_refuses_net_without_skip():
    with pytest.raises(ValueError, match="no skip connection"):
        residual_gradient(make_network([[[1.0]]]), 1.0, 1.0)
