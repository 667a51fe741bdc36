"""Tests for nncore.symmetry: 002's "The Problem with Equal Weights" on real training runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncore.init import init_network
from nncore.network import Network, make_network
from nncore.symmetry import (
    breaks_symmetry,
    initial_tie_groups,
    is_tied_initialisation,
    persistent_ties,
    tie_groups,
    unit_signature,
)

# four examples (x_1, x_2) with targets y, used for several SGD steps
X = np.array([[0.4, -0.3, 0.9, 0.1], [0.5, 0.8, -0.6, -0.2]])
Y = np.array([[1.0, 0.0, 1.0, 0.0]])


def tied_2_2_1(w03=0.2, w13=-0.4, w23=0.3, w35=0.6, w05=-0.1) -> Network:
    """002's 2-2-1 net: w_{i,3} = w_{i,4} for i = 0, 1, 2 and w_{3,5} = w_{4,5}."""
    return make_network(
        [[[w13, w13], [w23, w23]], [[w35], [w35]]],
        [[w03, w03], [w05]],
        "sigmoid",
    )


def test_seed002_problem_with_equal_weights():
    net = tied_2_2_1()
    before = [layer.W.copy() for layer in net.layers]
    # t = 0: units 3 and 4 (0-based 0 and 1 of layer 1) are tied
    start = initial_tie_groups(net)
    assert len(start) == 1
    assert start[0].layer == 1 and start[0].units == (0, 1) and start[0].neurons == (3, 4)
    assert is_tied_initialisation(net)

    report = persistent_ties(net, X, Y, "squared", 0.5, 40, order=[1, 3, 0, 2])
    for layer, w in zip(net.layers, before, strict=True):
        np.testing.assert_array_equal(layer.W, w)
    assert [g.neurons for g in report.groups] == [(3, 4)]
    assert not report.breaks_symmetry
    assert not breaks_symmetry(net, X, Y, "squared", 0.5, 40, order=[1, 3, 0, 2])

    record = report.record
    moved = False
    for t, snapshot in enumerate(record.networks):
        W1, W01, W2 = snapshot.layers[0].W, snapshot.layers[0].W0, snapshot.layers[1].W
        # w_{1,3} = w_{1,4}, w_{2,3} = w_{2,4}, w_{0,3} = w_{0,4}, w_{3,5} = w_{4,5}, bit for bit
        assert W1[0, 0] == W1[0, 1] and W1[1, 0] == W1[1, 1], t
        assert W01[0, 0] == W01[1, 0], t
        assert W2[0, 0] == W2[1, 0], t
        moved = moved or not np.array_equal(W1, net.layers[0].W)
    assert moved, "the weights must actually change for the test to mean anything"
    for grads in record.gradients:
        # Δ_3 = Δ_4 at every step
        assert grads.delta[1][0, 0] == grads.delta[1][1, 0]
    group = report.groups[0]
    final = record.final
    np.testing.assert_array_equal(group.incoming, final.layers[0].W)
    np.testing.assert_array_equal(group.bias, final.layers[0].W0[:, 0])
    np.testing.assert_array_equal(group.outgoing, final.layers[1].W)
    assert record.costs[-1] != record.costs[0]


def test_seed002_zero_initialisation_never_breaks_symmetry():
    """All weights 0: in_3 = in_4 = 0 and the tie survives any amount of training."""
    net = init_network([2, 2, 1], "sigmoid", "zeros", None)
    assert [g.neurons for g in initial_tie_groups(net)] == [(3, 4)]
    report = persistent_ties(net, X, Y, "squared", 0.5, 25)
    assert [g.neurons for g in report.groups] == [(3, 4)]
    # the hidden weights did move away from zero, but together
    assert np.any(report.record.final.layers[0].W != 0)
    assert not breaks_symmetry(net, X, Y, "squared", 0.5, 25, batch_size=2)


def test_seed002_random_initialisation_breaks_symmetry():
    """RAND(-ε, ε) (002's NEURALNETTRAIN) gives every unit its own weights."""
    net = init_network(
        [2, 2, 1], "sigmoid", "uniform", np.random.default_rng(457), biases="same", epsilon=0.05
    )
    assert initial_tie_groups(net) == []
    assert not is_tied_initialisation(net)
    assert breaks_symmetry(net, X, Y, "squared", 0.5, 25)


def test_half_tie_is_not_a_tie_and_separates():
    """Equal incoming weights but w_{3,5} != w_{4,5}: Δ_3 != Δ_4, so the incoming weights part."""
    net = tied_2_2_1()
    net.layers[1].W[1, 0] = -0.3
    assert initial_tie_groups(net) == []
    report = persistent_ties(net, X, Y, "squared", 0.5, 3)
    assert report.breaks_symmetry
    W1 = report.record.final.layers[0].W
    assert W1[0, 0] != W1[0, 1]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"batch_size": 3},
        {"lam": 0.05},
        {"lam": 0.05, "include_bias": False},
        {"clip": 0.01},
        {"order": [3, 3, 1]},
    ],
)
def test_ties_survive_minibatches_decay_and_clipping(options):
    net = tied_2_2_1(0.3, 0.7, -0.2, -0.9, 0.4)
    report = persistent_ties(net, X, Y, "squared", 0.8, 30, **options)
    assert [g.units for g in report.groups] == [(0, 1)]


def tie_units(net: Network, groups: dict[int, list[list[int]]]) -> Network:
    """Copy net and make each listed set of units in hidden layer l tied to its first unit."""
    net = net.copy()
    for l, sets in groups.items():
        layer, nxt = net.layer(l), net.layer(l + 1)
        for units in sets:
            first = units[0]
            for j in units[1:]:
                layer.W[:, j] = layer.W[:, first]
                layer.W0[j] = layer.W0[first]
                nxt.W[j, :] = nxt.W[first, :]
    return net


def test_deeper_network_with_ties_in_two_hidden_layers():
    net = init_network(
        [3, 4, 5, 2], ["tanh", "relu", "sigmoid"], "he_normal", np.random.default_rng(2)
    )
    net = tie_units(net, {1: [[0, 2, 3]], 2: [[1, 4]]})
    start = initial_tie_groups(net)
    assert [(g.layer, g.units) for g in start] == [(1, (0, 2, 3)), (2, (1, 4))]
    assert start[0].neurons == (4, 6, 7) and start[1].neurons == (9, 12)
    rng = np.random.default_rng(0)
    Xd, Yd = rng.uniform(-1, 1, (3, 6)), rng.uniform(0.1, 0.9, (2, 6))
    report = persistent_ties(net, Xd, Yd, "squared", 0.3, 20, batch_size=2)
    assert [(g.layer, g.units) for g in report.groups] == [(1, (0, 2, 3)), (2, (1, 4))]
    assert report.groups_in_layer(2)[0].incoming.shape == (4, 2)
    assert report.groups_in_layer(1)[0].outgoing.shape == (3, 5)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    width=st.integers(2, 40),
    activation=st.sampled_from(["sigmoid", "tanh", "relu", "softplus"]),
    batch_size=st.integers(1, 4),
    loss_name=st.sampled_from(["squared", "nll"]),
)
def test_exact_ties_persist_bit_for_bit(seed, width, activation, batch_size, loss_name):
    """Random tied nets of many widths: tied units receive identical updates (up to the last
    bit that NumPy's SIMD kernels may round differently, far inside TIE_TOL)."""
    rng = np.random.default_rng(seed)
    net = init_network([3, width, 1], [activation, "sigmoid"], "xavier_normal", rng, biases="same")
    members = sorted(rng.choice(width, size=min(width, 3), replace=False).tolist())
    net = tie_units(net, {1: [members]})
    Xd, Yd = rng.uniform(-1, 1, (3, 5)), rng.uniform(0.1, 0.9, (1, 5))
    report = persistent_ties(net, Xd, Yd, loss_name, 0.5, 10, batch_size=batch_size)
    assert any(set(members) <= set(g.units) for g in report.groups)
    for snapshot in report.record.networks:
        sig = [unit_signature(snapshot, 1, j) for j in members]
        for s in sig[1:]:
            np.testing.assert_allclose(s, sig[0], rtol=0, atol=1e-13)


def test_tolerance_groups_near_ties():
    net = tied_2_2_1()
    net.layers[0].W[0, 1] += 1e-12
    assert tie_groups(net, tol=0) == []
    assert [g.units for g in tie_groups(net)] == [(0, 1)]  # default TIE_TOL = 1e-9
    assert is_tied_initialisation(net, tol=1e-9)
    # a near-tie drifts apart only slowly, so with a loose tolerance it still counts
    assert not breaks_symmetry(net, X, Y, "squared", 0.5, 5, tol=1e-6)
    assert breaks_symmetry(net, X, Y, "squared", 0.5, 5, tol=0)


def test_group_weights_are_reported_per_unit():
    net = init_network([2, 3, 2], "sigmoid", "normal", np.random.default_rng(4), std=0.5)
    net = tie_units(net, {1: [[0, 2]]})
    (group,) = tie_groups(net)
    assert group.size == 2
    np.testing.assert_array_equal(group.incoming, net.layers[0].W[:, [0, 2]])
    np.testing.assert_array_equal(group.bias, net.layers[0].W0[[0, 2], 0])
    np.testing.assert_array_equal(group.outgoing, net.layers[1].W[[0, 2], :])
    # copies, not views
    group.incoming[0, 0] = 99.0
    assert net.layers[0].W[0, 0] != 99.0


def test_network_without_hidden_layers_has_no_ties():
    net = make_network([[[0.1, 0.1], [0.1, 0.1]]], [[0.0, 0.0]], "sigmoid")
    assert tie_groups(net) == []
    assert breaks_symmetry(net, X, [[1, 0, 1, 0], [0, 1, 0, 1]], "squared", 0.1, 2)


def test_refusals():
    net = tied_2_2_1()
    with pytest.raises(ValueError, match="tie tolerance"):
        tie_groups(net, tol=-1e-9)
    with pytest.raises(ValueError, match="tie tolerance"):
        breaks_symmetry(net, X, Y, "squared", 0.1, 2, tol=float("nan"))
    with pytest.raises(ValueError, match="Network"):
        tie_groups(net.to_dict())
    skip = make_network([np.eye(2), np.eye(2), [[1.0], [1.0]]], skips=[False, True, False])
    with pytest.raises(ValueError, match="skip connections"):
        tie_groups(skip)
    with pytest.raises(ValueError, match="learning rate"):
        persistent_ties(net, X, Y, "squared", 0, 2)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        breaks_symmetry(net, X, Y, "squared", 0.1, 0)
    with pytest.raises(TypeError):
        persistent_ties(net, X, Y, "squared", 0.1, 2, momentum=0.9)
