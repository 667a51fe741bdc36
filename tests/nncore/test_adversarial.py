"""Tests for nncore.adversarial: input gradients, FGSM and the smallest label-flipping ε."""

import itertools
import zlib

import numpy as np
import pytest

from nncore.adversarial import (
    fgsm,
    input_gradient,
    label_rule,
    predicted_label,
    score_gradient,
    smallest_flipping_epsilon,
)
from nncore.losses import get_loss
from nncore.network import forward, make_network


def seed_of(*parts):
    """A reproducible seed per test case (hash() of strings changes between runs)."""
    return zlib.crc32(repr(parts).encode())


HIDDEN_ACTIVATIONS = [
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "softplus",
    "step",
]


def random_net(rng, sizes, hidden, output, skips=None):
    weights = [rng.normal(size=(a, b)) for a, b in itertools.pairwise(sizes)]
    biases = [rng.normal(size=b) for b in sizes[1:]]
    activations = [hidden] * (len(sizes) - 2) + [output]
    return make_network(weights, biases, activations, skips)


def loss_of(net, x, y, loss):
    g = forward(net, x).output
    y = np.asarray(y, dtype=float).reshape(g.shape)
    return float(get_loss(loss).value(g, y)[0])


def central_difference(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    grad = np.zeros_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def linear_net(rng, n_in, n_out, output):
    return make_network([rng.normal(size=(n_in, n_out))], [rng.normal(size=n_out)], [output])


# --- input gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize(
    "output,loss",
    [
        ("identity", "squared"),
        ("tanh", "squared"),
        ("sigmoid", "nll"),
        ("softmax", "cross_entropy"),
        ("softmax", "squared"),
        ("sigmoid", "squared"),
    ],
)
def test_input_gradient_matches_central_differences(hidden, output, loss):
    rng = np.random.default_rng(seed_of(hidden, output, loss))
    n_out = 1 if loss == "nll" else 3
    net = random_net(rng, [4, 5, 3, n_out], hidden, output)
    x = rng.normal(size=4)
    if loss in ("nll", "cross_entropy"):
        y = np.eye(n_out)[rng.integers(n_out)] if n_out > 1 else np.array([1.0])
    else:
        y = rng.normal(size=n_out)
    numeric = central_difference(lambda v: loss_of(net, v, y, loss), x)
    analytic = input_gradient(net, x, y, loss)
    assert analytic.shape == (4,)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_input_gradient_with_skip_layers_and_class_index_target():
    rng = np.random.default_rng(10)
    net = random_net(rng, [3, 3, 3, 3], "tanh", "softmax", skips=[False, True, False])
    x = rng.normal(size=3)
    numeric = central_difference(lambda v: loss_of(net, v, np.eye(3)[2], "cross_entropy"), x)
    np.testing.assert_allclose(input_gradient(net, x, 2, "cross_entropy"), numeric, atol=1e-8)


def test_input_gradient_of_a_batch_is_per_example():
    rng = np.random.default_rng(11)
    net = random_net(rng, [3, 4, 2], "sigmoid", "identity")
    X = rng.normal(size=(3, 5))
    Y = rng.normal(size=(2, 5))
    batch = input_gradient(net, X, Y, "squared")
    assert batch.shape == (3, 5)
    for b in range(5):
        np.testing.assert_allclose(batch[:, b], input_gradient(net, X[:, b], Y[:, b], "squared"))


def test_input_gradient_of_a_linear_squared_loss_by_hand():
    # g = w·x + w0 = 2*1 - 1*3 + 0.5 = -0.5; L = (y - g)^2 with y = 1; ∂L/∂x = -2 (y - g) w.
    net = make_network([[[2.0], [-1.0]]], [[0.5]], ["identity"])
    np.testing.assert_allclose(input_gradient(net, [1.0, 3.0], 1.0), [-6.0, 3.0])


@pytest.mark.parametrize("hidden", ["tanh", "relu", "elu"])
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
@pytest.mark.parametrize("of", ["output", "logit"])
@pytest.mark.parametrize("output_skip", [False, True])
def test_score_gradient_matches_central_differences(hidden, output, of, output_skip):
    rng = np.random.default_rng(seed_of(hidden, output, of, output_skip))
    net = random_net(rng, [3, 3, 3], hidden, output, skips=[False, output_skip])
    x = rng.normal(size=3)
    for k in range(3):

        def score(v, k=k):
            trace = forward(net, v)
            return (trace.output if of == "output" else trace.Z[-1])[k, 0]

        numeric = central_difference(score, x)
        np.testing.assert_allclose(score_gradient(net, x, k, of=of), numeric, rtol=1e-5, atol=1e-8)


def test_score_gradient_of_softmax_logit_of_linear_layer_is_the_weight_column():
    rng = np.random.default_rng(12)
    net = linear_net(rng, 3, 4, "softmax")
    for k in range(4):
        np.testing.assert_allclose(
            score_gradient(net, rng.normal(size=3), k, of="logit"), net.layers[0].W[:, k]
        )


# --- labels -------------------------------------------------------------------------------------


def test_label_rules():
    sigmoid_net = make_network([[[1.0]]], [[0.0]], ["sigmoid"])
    assert predicted_label(sigmoid_net, [0.0]) == 1  # g = 0.5 counts as class 1
    assert predicted_label(sigmoid_net, [-1e-3]) == 0
    assert "0.5" in label_rule(sigmoid_net)
    identity_net = make_network([[[1.0]]], [[0.0]], ["identity"])
    assert predicted_label(identity_net, [1e-9]) == 1
    assert predicted_label(identity_net, [-1e-9]) == 0
    assert "g >= 0 " in label_rule(identity_net)
    multi = make_network([np.eye(3)], None, ["softmax"])
    assert predicted_label(multi, [0.1, 0.9, 0.3]) == 1
    assert "argmax" in label_rule(multi)
    with pytest.raises(ValueError, match="relu"):
        label_rule(make_network([[[1.0]]], None, ["relu"]))
    with pytest.raises(ValueError, match="relu"):
        predicted_label(make_network([[[1.0]]], None, ["relu"]), [1.0])


# --- FGSM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output,loss,y",
    [
        ("identity", "squared", [0.3, -1.0]),
        ("softmax", "cross_entropy", 1),
        ("sigmoid", "nll", [1.0]),
    ],
)
def test_fgsm_on_a_linear_model(output, loss, y):
    rng = np.random.default_rng(20)
    n_out = 1 if loss == "nll" else 2
    net = linear_net(rng, 4, n_out, output)
    x = rng.normal(size=4)
    gradient = input_gradient(net, x, y, loss)
    for eps in (1e-3, 0.05, 0.5):
        result = fgsm(net, x, y, loss, eps)
        np.testing.assert_array_equal(np.sign(result.perturbation), np.sign(gradient))
        np.testing.assert_allclose(np.abs(result.perturbation), eps)
        np.testing.assert_allclose(result.x_adv, x + eps * np.sign(gradient))
        np.testing.assert_allclose(result.output, forward(net, result.x_adv).output[:, 0])
        assert result.label == predicted_label(net, result.x_adv)
        # The loss is convex in x for a linear model: L(x + r) >= L(x) + ∇L·r = L(x) + ε‖∇L‖_1.
        assert result.loss_after > result.loss_before
        assert result.loss_after >= result.loss_before + eps * np.abs(gradient).sum() - 1e-12
    assert fgsm(net, x, y, loss, 1e-3).loss_after == pytest.approx(
        fgsm(net, x, y, loss, 0).loss_before + 1e-3 * np.abs(gradient).sum(), rel=1e-3
    )


def test_fgsm_with_zero_eps_changes_nothing():
    rng = np.random.default_rng(21)
    net = random_net(rng, [3, 4, 3], "relu", "softmax")
    x = rng.normal(size=3)
    result = fgsm(net, x, 0, "cross_entropy", 0.0)
    np.testing.assert_array_equal(result.x_adv, x)
    assert result.loss_after == result.loss_before
    assert not result.flipped


def test_fgsm_hand_example_flips_a_binary_sign_classifier():
    # z = 2 x1 - x2 + 0.5 = 1.5 at x = (1, 1): label 1. Target y = 1, squared loss: ∇_x L = -2(1 - 1.5) w.
    net = make_network([[[2.0], [-1.0]]], [[0.5]], ["identity"])
    result = fgsm(net, [1.0, 1.0], 1.0, "squared", 0.6)
    np.testing.assert_allclose(result.gradient, [2.0, -1.0])
    np.testing.assert_allclose(result.x_adv, [1.6, 0.4])
    assert result.original_label == 1 and result.label == 1  # pushes g further from y = 1, upward
    result = fgsm(net, [1.0, 1.0], 3.0, "squared", 0.6)  # y = 3 > g: the step lowers g
    np.testing.assert_allclose(result.x_adv, [0.4, 1.6])
    np.testing.assert_allclose(result.output, [2 * 0.4 - 1.6 + 0.5])
    assert result.label == 0 and result.flipped


# --- smallest flipping ε ------------------------------------------------------------------------


def label_at(net, x):
    return predicted_label(net, x)


@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize(
    "output,n_out",
    [
        ("identity", 1),
        ("sigmoid", 1),
        ("step", 1),
        ("tanh", 1),
        ("softmax", 3),
        ("identity", 4),
        ("sigmoid", 3),
    ],
)
def test_smallest_epsilon_is_exact_for_linear_models(norm, output, n_out):
    rng = np.random.default_rng(seed_of(norm, output, n_out))
    for _ in range(5):
        net = linear_net(rng, 3, n_out, output)
        x = rng.normal(size=3)
        result = smallest_flipping_epsilon(net, x, norm)
        label = label_at(net, x)
        assert result.exact and result.original_label == label
        assert 0 < result.epsilon < np.inf
        assert result.flipped and result.label == label_at(net, result.x_adv) != label
        assert "exact" in result.note and "flips" in result.note
        direction = result.direction
        size = np.abs(direction).max() if norm == "inf" else np.linalg.norm(direction)
        assert size == pytest.approx(1.0)
        above = x + result.epsilon * (1 + 1e-6) * direction
        below = x + result.epsilon * (1 - 1e-6) * direction
        assert label_at(net, above) != label
        assert label_at(net, below) == label
        # No perturbation of norm ε(1 - 1e-6) flips the label: brute force over the ℓ∞ cube's
        # vertices (a linear margin is smallest at one) or over many ℓ2 directions.
        if norm == "inf":
            candidates = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
        else:
            candidates = rng.normal(size=(2000, 3))
            candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
        radius = result.epsilon * (1 - 1e-6)
        assert all(label_at(net, x + radius * c) == label for c in candidates)
        if norm == "inf":
            assert any(
                label_at(net, x + result.epsilon * (1 + 1e-6) * c) != label for c in candidates
            )


def test_smallest_epsilon_binary_hand_example():
    # z = 2 x1 - x2 + 0.5 = 1.5 at x = (1, 1); d = (2, -1): ε∞ = 1.5 / 3, ε2 = 1.5 / √5.
    net = make_network([[[2.0], [-1.0]]], [[0.5]], ["identity"])
    linf = smallest_flipping_epsilon(net, [1.0, 1.0], "inf")
    assert linf.epsilon == pytest.approx(0.5)
    assert linf.margin == pytest.approx(1.5) and linf.competitor is None
    np.testing.assert_allclose(linf.direction, [-1.0, 1.0])
    l2 = smallest_flipping_epsilon(net, [1.0, 1.0], 2)
    assert l2.epsilon == pytest.approx(1.5 / np.sqrt(5))
    np.testing.assert_allclose(l2.direction, [-2 / np.sqrt(5), 1 / np.sqrt(5)])
    assert l2.label == 0 and linf.label == 0
    # From the other side (label 0) the margin is -z and the gradient flips sign.
    below = smallest_flipping_epsilon(net, [0.0, 1.0], "inf")
    assert below.original_label == 0 and below.margin == pytest.approx(0.5)
    assert below.epsilon == pytest.approx(0.5 / 3) and below.label == 1


def test_smallest_epsilon_multiclass_hand_example_picks_the_nearest_competitor():
    # Logits z = W^T x with W = I (3 classes, 3 inputs) at x = (0, 3, 2): class 1 wins.
    # Competitor 2: m = 1, d = e1 - e2, ‖d‖_1 = 2, ‖d‖_2 = √2; competitor 0: m = 3 (farther).
    net = make_network([np.eye(3)], None, ["softmax"])
    linf = smallest_flipping_epsilon(net, [0.0, 3.0, 2.0], "inf")
    assert linf.competitor == 2 and linf.epsilon == pytest.approx(0.5)
    np.testing.assert_allclose(linf.margin_gradient, [0.0, 1.0, -1.0])
    l2 = smallest_flipping_epsilon(net, [0.0, 3.0, 2.0], "l2")
    assert l2.competitor == 2 and l2.epsilon == pytest.approx(1 / np.sqrt(2))
    assert linf.label == 2 and l2.label == 2


def test_deep_identity_network_is_still_exact():
    rng = np.random.default_rng(30)
    net = random_net(rng, [3, 4, 4, 2], "identity", "softmax", skips=[False, True, False])
    x = rng.normal(size=3)
    result = smallest_flipping_epsilon(net, x, "inf")
    assert result.exact and result.flipped
    below = x + result.epsilon * (1 - 1e-6) * result.direction
    assert label_at(net, below) == result.original_label


@pytest.mark.parametrize("hidden", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_nonlinear_nets_give_a_first_order_estimate_and_report_honestly(hidden, norm):
    rng = np.random.default_rng(seed_of(hidden, norm))
    net = random_net(rng, [3, 5, 3], hidden, "softmax")
    x = rng.normal(size=3)
    result = smallest_flipping_epsilon(net, x, norm)
    assert not result.exact
    assert "first-order" in result.note
    assert result.label == label_at(net, result.x_adv)
    assert result.flipped == (label_at(net, result.x_adv) != label_at(net, x))
    # The estimate uses the local gradient of the logit margin.
    j, p = result.competitor, result.original_label
    d = score_gradient(net, x, p, of="logit") - score_gradient(net, x, j, of="logit")
    np.testing.assert_allclose(result.margin_gradient, d)
    dual = np.abs(d).sum() if norm == "inf" else np.linalg.norm(d)
    assert result.epsilon == pytest.approx(result.margin / dual)


def test_first_order_estimate_that_does_not_flip_says_so():
    # s(x) = tanh(x) - 0.5 with an identity output: at x = 0, m = 0.5 and ds/dx = 1, so the
    # estimate is ε = 0.5, but tanh(0.5) = 0.462 < 0.5: the label stays 0.
    net = make_network([[[1.0]], [[1.0]]], [[0.0], [-0.5]], ["tanh", "identity"])
    result = smallest_flipping_epsilon(net, [0.0], "inf")
    assert result.epsilon == pytest.approx(0.5)
    assert not result.exact and not result.flipped
    assert result.label == 0 == result.original_label
    assert "does NOT flip" in result.note


def test_zero_margin_gradient_gives_infinite_epsilon():
    net = make_network([np.zeros((2, 3))], [[0.0, 1.0, 0.5]], ["softmax"])
    result = smallest_flipping_epsilon(net, [1.0, 2.0], "inf")
    assert result.epsilon == np.inf and not result.flipped
    np.testing.assert_array_equal(result.x_adv, [1.0, 2.0])
    assert "zero gradient" in result.note


# --- validation ---------------------------------------------------------------------------------


def test_validation_errors():
    rng = np.random.default_rng(40)
    net = random_net(rng, [3, 4, 2], "tanh", "softmax")
    x = rng.normal(size=3)
    with pytest.raises(ValueError, match="3 entries, got 2"):
        input_gradient(net, [1.0, 2.0], 0, "cross_entropy")
    with pytest.raises(ValueError, match="3 entries, got 4"):
        smallest_flipping_epsilon(net, np.zeros(4))
    with pytest.raises(ValueError, match="3 entries, got 5"):
        fgsm(net, np.zeros(5), 0, "cross_entropy", 0.1)
    with pytest.raises(ValueError, match="eps must be non-negative"):
        fgsm(net, x, 0, "cross_entropy", -0.1)
    with pytest.raises(ValueError, match=r"0\.\.1 .*got 2"):
        fgsm(net, x, 2, "cross_entropy", 0.1)
    with pytest.raises(ValueError, match=r"output index k must be in 0\.\.1 .*got 5"):
        score_gradient(net, x, 5)
    with pytest.raises(ValueError, match="of='logit'"):
        score_gradient(net, x, 0, of="probability")
    with pytest.raises(ValueError, match="norm"):
        smallest_flipping_epsilon(net, x, "l1")
    with pytest.raises(ValueError, match="one example"):
        fgsm(net, rng.normal(size=(3, 2)), 0, "cross_entropy", 0.1)
    with pytest.raises(ValueError, match="NaN"):
        input_gradient(net, [0.0, np.nan, 1.0], 0, "cross_entropy")
    with pytest.raises(ValueError, match="2x1 like the output, got 3x1|2 entries, got 3"):
        input_gradient(net, x, [1.0, 0.0, 0.0], "squared")


def test_binary_output_with_skip_thresholds_g_itself():
    # g = σ(z) + a^1 with a^1 = x (identity hidden layer, skip on the output): no Z-only rule.
    net = make_network([[[1.0]], [[2.0]]], [[0.0], [0.0]], ["identity", "sigmoid"], [False, True])
    for x in (-0.3, -0.1, 0.0, 0.05, 0.4):
        g = forward(net, [x]).output[0, 0]
        assert predicted_label(net, [x]) == int(g >= 0.5)
    result = smallest_flipping_epsilon(net, [-0.3], "2")
    assert not result.exact  # σ is not affine, so the estimate is first order
    assert result.label == predicted_label(net, result.x_adv)
