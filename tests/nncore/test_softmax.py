"""Tests for nncore.softmax: the 001 worked example, derivatives, stability and validation."""

import numpy as np
import pytest

from nncore.activations import get_activation
from nncore.losses import get_loss
from nncore.softmax import (
    class_index,
    cross_entropy,
    cross_entropy_gradient,
    is_tie,
    log_probabilities,
    logsumexp,
    predicted_class,
    probabilities,
    softmax_jacobian,
)

SEED001_Z = [1.3, 5.1, 2.2, 0.7, 1.1]


def central_difference(f, z, h=1e-6):
    z = np.asarray(z, dtype=float)
    out = []
    for k in range(z.size):
        step = np.zeros_like(z)
        step[k] = h
        out.append((np.asarray(f(z + step)) - np.asarray(f(z - step))) / (2 * h))
    return np.array(out)


def test_seed001_softmax_example():
    g = probabilities(SEED001_Z)
    np.testing.assert_array_equal(np.round(g, 2), [0.02, 0.90, 0.05, 0.01, 0.02])
    assert predicted_class(SEED001_Z) == 1
    assert g.sum() == pytest.approx(1.0)
    # Directly from the definition exp(z_k) / Σ exp(z_i).
    z = np.array(SEED001_Z)
    np.testing.assert_allclose(g, np.exp(z) / np.exp(z).sum(), rtol=1e-14)
    # Cross-entropy of the correct class 1 is -log g_1.
    assert cross_entropy(SEED001_Z, 1) == pytest.approx(-np.log(g[1]), rel=1e-12)


@pytest.mark.parametrize("y", [0, 3, [0.0, 0.0, 1.0, 0.0, 0.0], [0.1, 0.2, 0.3, 0.25, 0.15]])
def test_cross_entropy_gradient_matches_central_differences(y):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=2.0, size=5)
    numeric = central_difference(lambda v: cross_entropy(v, y), z)
    np.testing.assert_allclose(cross_entropy_gradient(z, y), numeric, atol=1e-8)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    grad = cross_entropy_gradient(SEED001_Z, 1)
    expected = probabilities(SEED001_Z) - np.array([0, 1, 0, 0, 0])
    np.testing.assert_allclose(grad, expected, rtol=1e-14)
    assert grad.sum() == pytest.approx(0.0, abs=1e-15)


def test_cross_entropy_agrees_with_engine_losses():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 3))
    y = np.eye(4)[:, [2, 0, 3]]
    loss = get_loss("cross_entropy")
    np.testing.assert_allclose(
        cross_entropy(z, [2, 0, 3]), loss.value_from_logits(z, y), rtol=1e-12
    )
    np.testing.assert_allclose(cross_entropy(z, y), loss.value(probabilities(z), y), rtol=1e-12)


def test_softmax_jacobian_matches_central_differences():
    rng = np.random.default_rng(3)
    z = rng.normal(size=4)
    numeric = central_difference(probabilities, z).T  # entry (i, k) = ∂g_i/∂z_k
    jac = softmax_jacobian(z)
    np.testing.assert_allclose(jac, numeric, atol=1e-9)
    np.testing.assert_allclose(jac, jac.T, atol=0)
    np.testing.assert_allclose(jac.sum(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(jac, get_activation("softmax").jacobian(z), rtol=1e-14)
    np.testing.assert_allclose(softmax_jacobian(z.reshape(-1, 1)), jac)


def test_softmax_jacobian_transposed_times_loss_gradient_is_g_minus_y():
    g = probabilities(SEED001_Z)
    y = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    dL_dg = -y / g
    np.testing.assert_allclose(softmax_jacobian(SEED001_Z).T @ dL_dg, g - y, atol=1e-12)


def test_adding_a_constant_to_every_logit_changes_nothing():
    z = np.array(SEED001_Z)
    for c in (-50.0, 3.0, 700.0):
        np.testing.assert_allclose(probabilities(z + c), probabilities(z), rtol=1e-12)
        assert predicted_class(z + c) == predicted_class(z)
        assert cross_entropy(z + c, 2) == pytest.approx(cross_entropy(z, 2), rel=1e-9)
        np.testing.assert_allclose(
            cross_entropy_gradient(z + c, 2), cross_entropy_gradient(z, 2), atol=1e-12
        )


def test_huge_logits_do_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        np.testing.assert_array_equal(probabilities([1000.0, 0.0]), [1.0, 0.0])
        np.testing.assert_array_equal(probabilities([1000.0, 1000.0]), [0.5, 0.5])
        np.testing.assert_array_equal(probabilities([-1000.0, -1000.0]), [0.5, 0.5])
        assert cross_entropy([1000.0, 0.0], 1) == pytest.approx(1000.0)
        assert cross_entropy([1000.0, 0.0], 0) == pytest.approx(0.0, abs=1e-300)
        assert cross_entropy([1000.0, 1000.0], 0) == pytest.approx(np.log(2.0), rel=1e-12)
        assert logsumexp([1000.0, 1000.0]) == pytest.approx(1000.0 + np.log(2.0))
        np.testing.assert_allclose(log_probabilities([1000.0, 0.0]), [0.0, -1000.0])
        np.testing.assert_array_equal(cross_entropy_gradient([1000.0, 0.0], 1), [1.0, -1.0])
        jac = softmax_jacobian([1000.0, 1000.0])
    np.testing.assert_allclose(jac, [[0.25, -0.25], [-0.25, 0.25]])


def test_batch_of_columns_matches_each_column():
    rng = np.random.default_rng(4)
    z = rng.normal(scale=3.0, size=(3, 5))
    labels = [0, 2, 1, 1, 0]
    g = probabilities(z)
    losses = cross_entropy(z, labels)
    grads = cross_entropy_gradient(z, labels)
    np.testing.assert_array_equal(predicted_class(z), np.argmax(z, axis=0))
    for b in range(5):
        np.testing.assert_allclose(g[:, b], probabilities(z[:, b]), rtol=1e-14)
        assert losses[b] == pytest.approx(cross_entropy(z[:, b], labels[b]), rel=1e-14)
        np.testing.assert_allclose(grads[:, b], cross_entropy_gradient(z[:, b], labels[b]))


def test_ties_pick_the_lowest_index_and_are_reported():
    assert predicted_class([0.5, 2.0, 2.0]) == 1
    assert is_tie([0.5, 2.0, 2.0])
    assert not is_tie(SEED001_Z)
    assert is_tie([1.0, 1.05, 0.0], tol=0.1)
    assert not is_tie([1.0, 1.05, 0.0], tol=0.01)
    assert not is_tie([3.0])
    np.testing.assert_array_equal(is_tie([[1.0, 1.0], [1.0, 2.0]]), [True, False])


def test_class_index_accepts_integral_values_only():
    assert class_index(np.int64(2), 3) == 2
    assert class_index(2.0, 3) == 2
    with pytest.raises(ValueError, match="integer"):
        class_index(1.5, 3)
    with pytest.raises(ValueError, match="integer"):
        class_index(True, 3)


def test_validation_errors():
    with pytest.raises(ValueError, match="empty"):
        probabilities([])
    with pytest.raises(ValueError, match="NaN"):
        probabilities([1.0, np.nan])
    with pytest.raises(ValueError, match="NaN"):
        cross_entropy([1.0, 2.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"0\.\.4 .*got 5"):
        cross_entropy(SEED001_Z, 5)
    with pytest.raises(ValueError, match=r"0\.\.4 .*got -1"):
        cross_entropy_gradient(SEED001_Z, -1)
    with pytest.raises(ValueError, match=r"K = 5 .*3 entries"):
        cross_entropy(SEED001_Z, [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="sum to 1"):
        cross_entropy([1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        cross_entropy([1.0, 2.0], [-0.5, 1.5])
    with pytest.raises(ValueError, match=r"B = 2\), y has 3"):
        cross_entropy(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="3x2"):
        cross_entropy(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one column"):
        softmax_jacobian(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shape 2x2x2"):
        probabilities(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        is_tie([1.0, 2.0], tol=-1.0)
