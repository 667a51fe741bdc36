"""Activations f / g and losses L(g, y) against their textbook formulas and finite differences.

Formulas: 000/004 (MIT: ReLU'(0) = 1, squared loss (g - y)^2 with no 1/2, NLL), 001 (softmax and
the multi-class NLLM), 003 (TU Graz: leaky ReLU max(x, ax) with e.g. a = 0.1, ELU).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from nncore.activations import ACTIVATION_NAMES, get_activation, sigmoid, softmax
from nncore.losses import (
    LOSS_NAMES,
    get_loss,
    mean_loss,
    one_hot,
    weight_decay_gradient,
    weight_decay_penalty,
)

H = 1e-5
# Points kept at least 0.05 away from 0, where ReLU, leaky ReLU, step and ELU have kinks.
Z_GRID = np.concatenate([np.linspace(-6.0, -0.05, 40), np.linspace(0.05, 6.0, 40)])

ELEMENTWISE_SPECS = [
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    {"name": "relu", "prime_at_zero": 0.0},
    "leaky_relu",
    {"name": "leaky_relu", "a": 0.01},
    {"name": "leaky_relu", "a": 0.7},
    "elu",
    {"name": "elu", "a": 0.3},
    {"name": "elu", "a": 2.5},
    "softplus",
]


def strict_numerics():
    """Overflow, division by zero and invalid operations raise; silent underflow to 0 is fine."""
    return np.errstate(over="raise", divide="raise", invalid="raise", under="ignore")


def central(f, z: np.ndarray) -> np.ndarray:
    return (f(z + H) - f(z - H)) / (2 * H)


# --- activations ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ELEMENTWISE_SPECS, ids=str)
def test_derivative_matches_finite_differences_away_from_kinks(spec) -> None:
    f = get_activation(spec)
    assert not f.kinks(Z_GRID).any()
    np.testing.assert_allclose(f.derivative(Z_GRID), central(f, Z_GRID), rtol=1e-8, atol=1e-9)
    # backward is f'(Z) * ∂L/∂A for elementwise activations, any shape.
    z = Z_GRID.reshape(8, 10)
    grad = np.linspace(-1, 1, 80).reshape(8, 10)
    np.testing.assert_allclose(f.backward(z, grad), f.derivative(z) * grad, rtol=1e-15)


def test_formulas_of_the_notes() -> None:
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(get_activation("sigmoid")(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(
        get_activation("tanh")(z), (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)), rtol=1e-14
    )
    np.testing.assert_array_equal(get_activation("relu")(z), [0.0, 0.0, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(get_activation("step")(z), [0.0, 0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(get_activation("softplus")(z), np.log1p(np.exp(z)), rtol=1e-15)
    np.testing.assert_array_equal(get_activation("identity")(z), z)


def test_relu_prime_at_zero_is_a_parameter() -> None:
    zero = np.array([0.0])
    assert get_activation("relu").derivative(zero)[0] == 1.0  # MIT 6.390: 1 "otherwise"
    assert get_activation("relu", prime_at_zero=0.0).derivative(zero)[0] == 0.0
    assert get_activation({"name": "relu", "prime_at_zero": 0.5}).derivative(zero)[0] == 0.5
    assert get_activation("leaky_relu", prime_at_zero=0.0).derivative(zero)[0] == 0.0
    np.testing.assert_array_equal(
        get_activation("relu").derivative(np.array([-1e-300, 1e-300])), [0.0, 1.0]
    )


def test_kinks_mark_exactly_the_non_differentiable_points() -> None:
    z = np.array([[-1.0, 0.0], [0.0, 2.0]])
    expected = np.array([[False, True], [True, False]])
    for spec in ("relu", "leaky_relu", "step", {"name": "elu", "a": 0.5}):
        np.testing.assert_array_equal(get_activation(spec).kinks(z), expected)
    # ELU with a = 1 is differentiable at 0 (both one-sided slopes are 1); smooth ones have none.
    for spec in ("elu", "sigmoid", "tanh", "softplus", "identity", "softmax"):
        assert not get_activation(spec).kinks(z).any()


def test_leaky_relu_default_slope_is_tu_graz_a_0_1() -> None:
    f = get_activation("leaky_relu")
    assert f.params["a"] == 0.1
    z = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(f(z), np.maximum(z, 0.1 * z), rtol=1e-15)  # 003: max(x, ax)
    assert f.derivative(np.array([-3.0]))[0] == 0.1
    g = get_activation({"name": "leaky", "a": 0.3})
    np.testing.assert_allclose(g(z), np.maximum(z, 0.3 * z), rtol=1e-15)


@pytest.mark.parametrize("a", [1.0, 0.5, 2.0])
def test_elu_formula(a: float) -> None:
    f = get_activation("elu", a=a)
    z = np.array([-3.0, -1.0, -1e-3, 0.0, 1e-3, 2.0])
    expected = np.array([v if v >= 0 else a * math.expm1(v) for v in z])  # a(e^x - 1)
    np.testing.assert_allclose(f(z), expected, rtol=1e-14, atol=0)
    expected_prime = np.array([1.0 if v >= 0 else a * math.exp(v) for v in z])
    np.testing.assert_allclose(f.derivative(z), expected_prime, rtol=1e-14)


def test_softmax_columns_and_jacobian() -> None:
    f = get_activation("softmax")
    z = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]])
    s = f(z)
    np.testing.assert_allclose(s.sum(axis=0), [1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(s[:, 0], np.exp(z[:, 0]) / np.exp(z[:, 0]).sum(), rtol=1e-15)
    col = z[:, 0]
    J = f.jacobian(col)
    np.testing.assert_allclose(J, np.diag(s[:, 0]) - np.outer(s[:, 0], s[:, 0]), rtol=1e-15)
    fd = np.column_stack(
        [(softmax(col + H * e) - softmax(col - H * e)) / (2 * H) for e in np.eye(3)]
    )
    np.testing.assert_allclose(J, fd, rtol=1e-8, atol=1e-10)  # J[i, k] = ∂a_i/∂z_k
    grad = np.array([[0.3, -1.0], [2.0, 0.5], [-0.7, 0.1]])
    back = f.backward(z, grad)
    for c in range(2):
        np.testing.assert_allclose(
            back[:, c], f.jacobian(z[:, c]).T @ grad[:, c], rtol=1e-13, atol=1e-15
        )
    with pytest.raises(ValueError, match="softmax is not elementwise"):
        f.derivative(z)


def test_elementwise_jacobian_is_diagonal() -> None:
    f = get_activation("tanh")
    z = np.array([0.3, -1.2])
    np.testing.assert_allclose(f.jacobian(z), np.diag(1 - np.tanh(z) ** 2), rtol=1e-15)


def test_saturated_inputs_stay_finite_and_warning_free() -> None:
    z = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    with warnings.catch_warnings(), strict_numerics():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(sigmoid(z[0, [0, 4]]), [0.0, 1.0])
        assert sigmoid(np.array([-50.0]))[0] == pytest.approx(math.exp(-50), rel=1e-12)
        for name in ("sigmoid", "tanh", "softplus", "elu", "relu", "leaky_relu", "step"):
            f = get_activation(name)
            assert np.all(np.isfinite(f(z))) and np.all(np.isfinite(f.derivative(z)))
        assert get_activation("sigmoid").derivative(z)[0, 0] == 0.0
        assert get_activation("softplus")(z)[0, 4] == 1000.0
        s = softmax(np.array([[1000.0], [1001.0], [-1000.0]]))
        np.testing.assert_allclose(
            s[:, 0], [1 / (1 + math.e), math.e / (1 + math.e), 0.0], rtol=1e-14
        )


def test_unknown_activation_names_and_params() -> None:
    with pytest.raises(
        ValueError,
        match="unknown activation 'swish'; known activations: " + ", ".join(ACTIVATION_NAMES),
    ):
        get_activation("swish")
    with pytest.raises(ValueError, match="needs a 'name' key"):
        get_activation({"a": 0.1})
    with pytest.raises(ValueError, match="has no parameter"):
        get_activation("sigmoid", a=1.0)
    with pytest.raises(ValueError, match="contains NaN"):
        get_activation("leaky_relu", a=float("nan"))


def test_aliases_and_round_trip_through_to_dict() -> None:
    assert get_activation("logistic").name == "sigmoid"
    assert get_activation("linear").name == "identity"
    assert get_activation("threshold").name == "step"
    f = get_activation({"name": "elu", "a": 0.4})
    assert get_activation(f.to_dict()) == f
    assert get_activation(f) is f


# --- losses -----------------------------------------------------------------------------------


def test_squared_loss_has_no_half() -> None:
    loss = get_loss("squared")
    g = np.array([[1.0, 0.0], [2.0, 0.5]])
    y = np.array([[3.0, 0.0], [2.0, -0.5]])
    np.testing.assert_array_equal(loss.value(g, y), [4.0, 1.0])  # Σ_k (y_k - g_k)^2 per column
    np.testing.assert_array_equal(loss.gradient(g, y), -2.0 * (y - g))
    assert mean_loss("squared", g, y) == 2.5


def test_nll_and_cross_entropy_values() -> None:
    nll = get_loss("nll")
    g = np.array([[0.8, 0.3]])
    y = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(nll.value(g, y), [-math.log(0.8), -math.log(0.7)], rtol=1e-15)
    soft = nll.value(np.array([[0.6]]), np.array([[0.25]]))[0]
    assert soft == pytest.approx(-(0.25 * math.log(0.6) + 0.75 * math.log(0.4)), rel=1e-15)
    ce = get_loss("cross_entropy")
    g3 = np.array([[0.2], [0.7], [0.1]])
    assert ce.value(g3, np.array([[0.0], [1.0], [0.0]]))[0] == pytest.approx(
        -math.log(0.7), rel=1e-15
    )
    assert ce.value(g3, np.array([[0.5], [0.5], [0.0]]))[0] == pytest.approx(
        -(0.5 * math.log(0.2) + 0.5 * math.log(0.7)), rel=1e-15
    )
    # A zero probability is fine where the target is 0 (0 log 0 = 0).
    assert ce.value(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]]))[0] == 0.0


@pytest.mark.parametrize(
    ("name", "g", "y"),
    [
        ("squared", [[0.3, -1.0], [2.0, 0.7]], [[1.0, 0.0], [-0.5, 0.7]]),
        ("nll", [[0.2, 0.9], [0.6, 0.45]], [[1.0, 0.0], [0.3, 1.0]]),
        (
            "cross_entropy",
            [[0.2, 0.5], [0.7, 0.25], [0.1, 0.25]],
            [[0.0, 0.2], [1.0, 0.3], [0.0, 0.5]],
        ),
    ],
)
def test_loss_gradients_match_finite_differences(name: str, g, y) -> None:
    loss = get_loss(name)
    g, y = np.array(g), np.array(y)
    grad = loss.gradient(g, y)
    fd = np.zeros_like(g)
    for idx in np.ndindex(g.shape):
        step = np.zeros_like(g)
        step[idx] = H
        fd[idx] = (loss.value(g + step, y)[idx[1]] - loss.value(g - step, y)[idx[1]]) / (2 * H)
    np.testing.assert_allclose(grad, fd, rtol=1e-8, atol=1e-10)


def test_value_from_logits_equals_value_and_survives_saturation() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(0, 3, (3, 6))
    y_bin = (rng.uniform(size=(3, 6)) < 0.5).astype(float)
    nll = get_loss("nll")
    np.testing.assert_allclose(
        nll.value_from_logits(z, y_bin), nll.value(sigmoid(z), y_bin), rtol=1e-12
    )
    y_cat = one_hot([0, 2, 1, 1, 0, 2], 3)
    ce = get_loss("cross_entropy")
    np.testing.assert_allclose(
        ce.value_from_logits(z, y_cat), ce.value(softmax(z), y_cat), rtol=1e-12
    )
    with warnings.catch_warnings(), strict_numerics():
        warnings.simplefilter("error")
        assert nll.value_from_logits(np.array([[-1000.0]]), np.array([[1.0]]))[0] == 1000.0
        assert nll.value_from_logits(np.array([[1000.0]]), np.array([[1.0]]))[0] == 0.0
        saturated = ce.value_from_logits(np.array([[1000.0], [-1000.0]]), np.array([[0.0], [1.0]]))
        assert saturated[0] == 2000.0
    # The probability form cannot represent these: σ(-1000) is exactly 0.
    with pytest.raises(ValueError, match="strictly inside"):
        nll.value(sigmoid(np.array([[-1000.0]])), np.array([[1.0]]))
    with pytest.raises(ValueError, match="has no logit form"):
        get_loss("squared").value_from_logits(z, z)


def test_loss_input_checks() -> None:
    with pytest.raises(
        ValueError, match="unknown loss 'hinge'; known losses: " + ", ".join(LOSS_NAMES)
    ):
        get_loss("hinge")
    with pytest.raises(ValueError, match="g is 2x1, y is 1x2"):
        get_loss("squared").value(np.zeros((2, 1)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="needs predicted probabilities strictly inside"):
        get_loss("nll").value(np.array([[1.0]]), np.array([[1.0]]))
    with pytest.raises(ValueError, match="needs predicted probabilities"):
        get_loss("cross_entropy").gradient(np.array([[0.0], [1.0]]), np.array([[1.0], [0.0]]))
    assert get_loss("sse").name == "squared"
    assert get_loss("log_loss").name == "nll"
    assert get_loss("nllm").name == "cross_entropy"


def test_weight_decay_and_one_hot() -> None:
    w = [np.array([[1.0, -2.0]]), np.array([3.0])]
    assert weight_decay_penalty(w, 0.1) == pytest.approx(0.1 * (1 + 4 + 9))  # λ Σ w^2, no 1/2
    np.testing.assert_allclose(weight_decay_gradient(w[0], 0.1), [[0.2, -0.4]])  # 2λw (002)
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"labels must lie in 0..2, got \[3\]"):
        one_hot([3], 3)
    with pytest.raises(ValueError, match="labels must be a list of integers"):
        one_hot([0.5], 3)
