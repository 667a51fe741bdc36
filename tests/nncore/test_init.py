"""Tests for nncore.init: weight initialisers, determinism and argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncore import init
from nncore.init import SCHEMES, init_network, initial_weights
from nncore.network import Network, forward

RANDOM_SCHEMES = {
    "uniform": {"epsilon": 0.05},
    "normal": {"std": 0.1},
    "xavier_uniform": {},
    "xavier_normal": {},
    "he_normal": {},
    "he_uniform": {},
}


def test_golden_values_for_default_rng_457():
    """Pinned draws of np.random.default_rng(457) (PCG64): changing the draw order breaks this."""
    w, b = initial_weights([2, 2, 1], "uniform", np.random.default_rng(457), epsilon=0.05)
    np.testing.assert_allclose(
        w[0],
        [
            [-0.011976200824623418, 0.03402540800849997],
            [-0.042493655859441516, 0.011838264308243529],
        ],
        rtol=0,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        w[1], [[-0.027522502540165708], [0.02753320017825929]], rtol=0, atol=1e-15
    )
    assert all(np.all(bias == 0) for bias in b)

    w, _ = initial_weights([2, 2, 1], "xavier_normal", np.random.default_rng(457))
    np.testing.assert_allclose(
        w[0],
        [[-0.04959987145901402, -1.006449677744056], [0.6722213199755357, 0.46921456766709907]],
        rtol=0,
        atol=1e-14,
    )
    w, _ = initial_weights([2, 2, 1], "he_uniform", np.random.default_rng(457))
    np.testing.assert_allclose(
        w[1], [[-0.9534074550202096], [0.9537780320741911]], rtol=0, atol=1e-14
    )


def test_draws_follow_the_stated_formulas():
    """Same seed: each scheme is the same standard draw scaled by its formula's limit or std."""
    sizes = [3, 5, 2]
    u = [np.random.default_rng(1).uniform(-1, 1, (3, 5))]
    for name, limit in [
        ("xavier_uniform", math.sqrt(6 / (3 + 5))),
        ("he_uniform", math.sqrt(6 / 3)),
    ]:
        w, _ = initial_weights(sizes, name, np.random.default_rng(1))
        np.testing.assert_allclose(w[0], u[0] * limit, rtol=1e-12, atol=1e-15)
    z = np.random.default_rng(2).normal(0, 1, (3, 5))
    for name, std in [
        ("xavier_normal", math.sqrt(2 / (3 + 5))),
        ("he_normal", math.sqrt(2 / 3)),
        ("normal", 0.3),
    ]:
        extra = {"std": 0.3} if name == "normal" else {}
        w, _ = initial_weights(sizes, name, np.random.default_rng(2), **extra)
        np.testing.assert_allclose(w[0], z * std, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, kwargs", list(RANDOM_SCHEMES.items()))
def test_same_seed_same_weights_and_other_seed_differs(name, kwargs):
    a = initial_weights([4, 3, 2], name, np.random.default_rng(7), **kwargs)
    b = initial_weights([4, 3, 2], name, np.random.default_rng(7), **kwargs)
    c = initial_weights([4, 3, 2], name, np.random.default_rng(8), **kwargs)
    for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0][0], c[0][0])


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    name=st.sampled_from(list(SCHEMES)),
    same_bias=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_shapes_and_bounds(sizes, name, same_bias, seed):
    kwargs = {"constant": {"c": 0.7}, **RANDOM_SCHEMES}.get(name, {})
    biases = "same" if same_bias else "zeros"
    w, b = initial_weights(sizes, name, np.random.default_rng(seed), biases=biases, **kwargs)
    assert len(w) == len(b) == len(sizes) - 1
    for l, (W, W0) in enumerate(zip(w, b, strict=True), start=1):
        n_in, n_out = sizes[l - 1], sizes[l]
        assert W.shape == (n_in, n_out) and W0.shape == (n_out, 1)
        assert W.dtype == np.float64
        limit = {
            "uniform": 0.05,
            "xavier_uniform": math.sqrt(6 / (n_in + n_out)),
            "he_uniform": math.sqrt(6 / n_in),
        }.get(name)
        if limit is not None:
            assert np.all(np.abs(W) <= limit)
            assert np.all(np.abs(W0) <= limit)
        if name == "zeros":
            assert np.all(W == 0)
        if name == "constant":
            assert np.all(W == 0.7)
        if not same_bias or name == "zeros":
            assert np.all(W0 == 0)
        elif name == "constant":
            assert np.all(W0 == 0.7)


def test_random_biases_do_not_change_weights():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    w_zero, b_zero = initial_weights([2, 3, 1], "uniform", rng_a, epsilon=0.1)
    w_same, b_same = initial_weights([2, 3, 1], "uniform", rng_b, biases="same", epsilon=0.1)
    for x, y in zip(w_zero, w_same, strict=True):
        np.testing.assert_array_equal(x, y)
    assert all(np.all(bias == 0) for bias in b_zero)
    assert all(np.any(bias != 0) for bias in b_same)
    assert all(np.all(np.abs(bias) <= 0.1) for bias in b_same)


@pytest.mark.parametrize(
    "name, expected_std",
    [
        ("xavier_uniform", math.sqrt(6 / 300) / math.sqrt(3)),
        ("xavier_normal", math.sqrt(2 / 300)),
        ("he_normal", math.sqrt(2 / 200)),
        ("he_uniform", math.sqrt(6 / 200) / math.sqrt(3)),
    ],
)
def test_sample_spread_matches_formula(name, expected_std):
    """n_in = 200, n_out = 100: 20,000 draws; the sample std is within 3% of the formula."""
    w, _ = initial_weights([200, 100], name, np.random.default_rng(0))
    assert np.std(w[0]) == pytest.approx(expected_std, rel=0.03)
    assert abs(np.mean(w[0])) < 0.05 * expected_std * 3


def test_named_helpers_match_initial_weights():
    sizes = [3, 2, 1]
    pairs = [
        (init.uniform(sizes, np.random.default_rng(5), 0.2), ("uniform", {"epsilon": 0.2})),
        (init.normal(sizes, np.random.default_rng(5), 0.2), ("normal", {"std": 0.2})),
        (init.xavier_uniform(sizes, np.random.default_rng(5)), ("xavier_uniform", {})),
        (init.xavier_normal(sizes, np.random.default_rng(5)), ("xavier_normal", {})),
        (init.he_normal(sizes, np.random.default_rng(5)), ("he_normal", {})),
        (init.he_uniform(sizes, np.random.default_rng(5)), ("he_uniform", {})),
    ]
    for (w, _), (name, kwargs) in pairs:
        expected, _ = initial_weights(sizes, name, np.random.default_rng(5), **kwargs)
        for x, y in zip(w, expected, strict=True):
            np.testing.assert_array_equal(x, y)
    w, b = init.zeros(sizes)
    assert all(np.all(x == 0) for x in w + b)
    w, b = init.constant(sizes, -0.5, biases="same")
    assert all(np.all(x == -0.5) for x in w + b)


def test_aliases():
    a, _ = initial_weights([2, 2], "glorot_uniform", np.random.default_rng(1))
    b, _ = initial_weights([2, 2], "xavier_uniform", np.random.default_rng(1))
    c, _ = initial_weights([2, 2], "Kaiming_Normal", np.random.default_rng(1))
    d, _ = initial_weights([2, 2], "he_normal", np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(c[0], d[0])


def test_init_network_builds_a_working_network():
    net = init_network([2, 3, 1], ["relu", "sigmoid"], "he_normal", np.random.default_rng(0))
    assert isinstance(net, Network)
    assert net.sizes == [2, 3, 1]
    assert [layer.activation.name for layer in net.layers] == ["relu", "sigmoid"]
    w, _ = initial_weights([2, 3, 1], "he_normal", np.random.default_rng(0))
    np.testing.assert_array_equal(net.layers[0].W, w[0])
    out = forward(net, [0.5, -0.5]).output
    assert out.shape == (1, 1) and 0 < out[0, 0] < 1
    zero = init_network([2, 2, 1], "sigmoid", "zeros", None)
    assert all(np.all(layer.W == 0) and np.all(layer.W0 == 0) for layer in zero.layers)
    rand = init_network(
        [2, 2, 1], "sigmoid", "rand", np.random.default_rng(1), biases="same", epsilon=0.01
    )
    assert all(np.all(np.abs(layer.W0) <= 0.01) and np.any(layer.W0 != 0) for layer in rand.layers)


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rng, hint",
    [
        (42, r"default_rng\(42\) instead of the bare seed"),
        (None, "randomness must be explicit"),
        (np.random.RandomState(0), "legacy RandomState"),
        (np.random.PCG64(0), "got PCG64"),
        ("seed", "got str"),
    ],
)
def test_random_schemes_need_a_generator(rng, hint):
    for name, kwargs in RANDOM_SCHEMES.items():
        with pytest.raises(ValueError, match=hint):
            initial_weights([2, 2, 1], name, rng, **kwargs)
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        init_network([2, 2, 1], "sigmoid", "he_normal", rng)
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        init.uniform([2, 1], rng, 0.1)


def test_deterministic_scheme_still_refuses_a_non_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        initial_weights([2, 1], "zeros", 3)


@pytest.mark.parametrize(
    "sizes",
    [[2], [], [2, 0, 1], [2, -1], [2, 1.5], [True, 2], "2-2-1", 3, None],
)
def test_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        initial_weights(sizes, "zeros")


@pytest.mark.parametrize(
    "scheme, kwargs, message",
    [
        ("lecun", {}, "unknown initialisation scheme 'lecun'"),
        (3, {}, "scheme must be a name"),
        ("uniform", {}, "needs the parameter epsilon"),
        ("uniform", {"epsilon": 0}, "ε of RAND"),
        ("uniform", {"epsilon": -0.1}, "ε of RAND"),
        ("normal", {"std": 0}, "standard deviation"),
        ("normal", {"std": float("nan")}, "standard deviation"),
        ("constant", {}, "needs the parameter c"),
        ("constant", {"c": float("inf")}, "constant c"),
        ("xavier_uniform", {"gain": 2}, "does not take gain"),
        ("zeros", {"epsilon": 0.1}, "does not take epsilon"),
    ],
)
def test_bad_scheme_or_parameters(scheme, kwargs, message):
    with pytest.raises(ValueError, match=message):
        initial_weights([2, 2, 1], scheme, np.random.default_rng(0), **kwargs)


def test_bad_bias_option():
    with pytest.raises(ValueError, match="biases must be 'zeros' or 'same'"):
        initial_weights([2, 1], "he_normal", np.random.default_rng(0), biases="random")
