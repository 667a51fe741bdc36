"""The generators' fast paths (commit 6f8036a) against the slow code they claim to equal bit for bit.

Golden files pin whole instances; these tests pin each equivalence directly, on inputs the
generators never draw as well (signed zeros, values next to powers of ten, odd counts of 32-bit
draws, square layers under every misconception). Where the slow original was replaced, a copy of
it lives here as the reference (`old_*`, from `git show 6f8036a^:nncore/problems/...`).

Floats are compared exactly: same value and same sign of zero (NaNs compare as NaN).
"""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncore.activations import ACTIVATION_NAMES, get_activation
from nncore.network import Network, forward, make_network
from nncore.notation import neuron_ids
from nncore.problems import CATALOGUE, ParamError, common
from nncore.problems import base as problems_base
from nncore.problems.base import (
    SIGNIFICANT_DIGITS,
    Canonical,
    Redraw,
    _close,
    canonical,
    canonical_float,
    canonical_floats,
    canonical_step,
    step,
)
from nncore.problems.chain import (
    MISTAKES,
    applicable_mistakes,
    chain_pass,
    forward_columns,
    transpose_matters,
)
from nncore.problems.common import (
    ELEMENTWISE,
    KINK_MARGIN,
    SATURATION,
    Draws,
    activation_columns,
    canonical_network,
    check_calculator_friendly,
    check_no_tie,
    describe_network,
    draw_network,
    draw_values,
    drawn_values,
    drawn_weights,
    fmt,
    latex_matrix,
    network_diagram,
    network_numbers,
    network_of,
    round_sig,
    round_sig_values,
)

SEEDS = range(60)

# --- exact comparison -----------------------------------------------------------------------------


def assert_same_float(u, v, where="") -> None:
    """u and v are both Python floats with the same value and sign (or both NaN)."""
    assert type(u) is float and type(v) is float, (where, type(u), type(v))
    if u != u:
        assert v != v, (where, u, v)
        return
    assert u == v and math.copysign(1.0, u) == math.copysign(1.0, v), (where, u, v)


def assert_same_floats(a: list, b: list, where="") -> None:
    assert type(a) is list and type(b) is list, (where, type(a), type(b))
    assert len(a) == len(b), (where, a, b)
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        assert_same_float(u, v, f"{where}[{i}]")


def assert_same(a, b, where="") -> None:
    """Deep equality that tells 1 from 1.0 from True and 0.0 from -0.0 (canonical results)."""
    assert type(a) is type(b), (where, a, b)
    if type(a) is float:
        assert_same_float(a, b, where)
    elif type(a) is list:
        assert len(a) == len(b), (where, a, b)
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            assert_same(u, v, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), (where, list(a), list(b))
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    else:
        assert a == b, (where, a, b)


def assert_same_array(a: np.ndarray, b: np.ndarray, where="") -> None:
    assert a.shape == b.shape and a.dtype == b.dtype, (where, a.shape, b.shape, a.dtype, b.dtype)
    assert np.array_equal(a, b, equal_nan=True), (where, a, b)
    assert np.array_equal(np.signbit(a), np.signbit(b)), (where, a, b)


def raises_same(call_a, call_b):
    """(result_a, result_b), or both raised the same exception type (then (exc_a, exc_b))."""
    outcomes = []
    for call in (call_a, call_b):
        try:
            outcomes.append(("ok", call()))
        except Exception as exc:  # the exception type is what is compared
            outcomes.append(("raised", exc))
    (kind_a, a), (kind_b, b) = outcomes
    assert kind_a == kind_b, (a, b)
    if kind_a == "raised":
        assert type(a) is type(b), (a, b)
    return kind_a, a, b


# --- Draws: numpy's Generator calls replayed from the PCG64 raw stream ----------------------------

# (low, high) of integers(): span 1, the generators' spans, spans where Lemire's rejection loop
# runs often (just above 2**31), the largest 32-bit span, and 64-bit spans Draws hands to NumPy.
INTEGER_RANGES = [
    (0, 1),
    (5, 6),
    (-3, 4),
    (-10, 11),
    (0, 2),
    (0, 3),
    (0, 7),
    (-(2**20), 2**20),
    (0, 2**31 + 1),
    (-(2**31), 2**31 + 2**30),
    (0, 2**32 - 1),
    (0, 2**32),
    (-5, 2**32 + 5),
    (0, 2**40),
    (-(2**62), 2**62),
]


def random_ops(seed: int, count: int = 40) -> list[tuple]:
    """A mixed sequence of random/integers/uniform calls with odd and even sizes."""
    pick = random.Random(seed)
    ops = []
    for _ in range(count):
        r = pick.random()
        if r < 0.25:
            ops.append(("random",))
        elif r < 0.8:
            low, high = pick.choice(INTEGER_RANGES)
            ops.append(("integers", low, high, pick.choice([1, 1, 2, 3, 4, 5, 7, 9])))
        else:
            low, high = pick.choice([(-2.0, 2.0), (0.0, 1.0), (-1e300, 1e300), (3.5, 3.5), (-1.7e308, 1.7e308)])
            ops.append(("uniform", low, high, pick.choice([1, 2, 3, 6])))
    return ops


def apply_rng(rng: np.random.Generator, op: tuple):
    if op[0] == "random":
        return rng.random()
    if op[0] == "integers":
        _, low, high, count = op
        return rng.integers(low, high, size=count).tolist()
    _, low, high, count = op
    try:
        return rng.uniform(low, high, size=count).tolist()
    except OverflowError as exc:
        return type(exc)


def apply_draws(draws: Draws, op: tuple):
    if op[0] == "random":
        return draws.random()
    try:
        return getattr(draws, op[0])(*op[1:])
    except OverflowError as exc:
        return type(exc)


def assert_same_result(a, b, where) -> None:
    if a is OverflowError or b is OverflowError:
        assert a is b, (where, a, b)
    elif type(a) is float:
        assert_same_float(a, b, where)
    elif a and type(a[0]) is float:
        assert_same_floats(a, b, where)
    else:
        assert a == b and all(type(v) is int for v in b), (where, a, b)


def assert_same_state(a: dict, b: dict) -> None:
    """Bit generator states equal (MT19937 and Philox keep arrays in theirs)."""
    assert list(a) == list(b)
    for key in a:
        if isinstance(a[key], dict):
            assert_same_state(a[key], b[key])
        elif isinstance(a[key], np.ndarray):
            assert np.array_equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], (key, a[key], b[key])


def assert_same_generator(reference: np.random.Generator, handed_back: np.random.Generator) -> None:
    """Same bit generator state, and the same next draws of every sort."""
    assert_same_state(handed_back.bit_generator.state, reference.bit_generator.state)
    for op in [("integers", 0, 5, 1), ("random",), ("integers", -3, 4, 3), ("integers", 0, 2**33, 2)]:
        assert apply_rng(handed_back, op) == apply_rng(reference, op), op
    assert_same_state(handed_back.bit_generator.state, reference.bit_generator.state)


@pytest.mark.parametrize("pre", [0, 1, 2, 3], ids=lambda n: f"pre{n}")
@pytest.mark.parametrize("seed", SEEDS)
def test_draws_replay_generator_calls(seed, pre):
    """Every value, then the position after generator(); `pre` 32-bit draws before Draws is made
    (an odd number leaves the spare half in the bit generator)."""
    reference, mine = np.random.default_rng(seed), np.random.default_rng(seed)
    for rng in (reference, mine):
        rng.integers(0, 3, size=pre)
    draws = Draws(mine)
    for i, op in enumerate(random_ops(seed)):
        assert_same_result(apply_draws(draws, op), apply_rng(reference, op), f"op {i} {op}")
    assert_same_generator(reference, draws.generator())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pre", [0, 1])
def test_draws_generator_after_32bit_draws_only(seed, pre):
    """The spare half is consumed and not replaced (an even number of 32-bit draws after an odd
    start), or replaced: the bit generator must hold what NumPy's would hold."""
    reference, mine = np.random.default_rng([seed, 7]), np.random.default_rng([seed, 7])
    for rng in (reference, mine):
        rng.integers(0, 10, size=pre)
    draws = Draws(mine)
    count = 1 + seed % 4
    assert draws.integers(-10, 11, count) == reference.integers(-10, 11, size=count).tolist()
    assert_same_generator(reference, draws.generator())


@pytest.mark.parametrize("seed", range(10))
def test_draws_after_generator_go_to_the_generator(seed):
    """Calls on a Draws after generator() (and a second generator()) stay in step."""
    reference, mine = np.random.default_rng(seed), np.random.default_rng(seed)
    draws = Draws(mine)
    ops = random_ops(seed + 1000, 20)
    for op in ops[:9]:
        assert_same_result(apply_draws(draws, op), apply_rng(reference, op), op)
    assert draws.generator() is mine
    for op in ops[9:]:
        assert_same_result(apply_draws(draws, op), apply_rng(reference, op), op)
    assert_same_generator(reference, draws.generator())


def test_draws_integers_count_one_is_the_scalar_call():
    """integers(low, high, 1) consumes what the scalar Generator.integers(low, high) does."""
    for seed in SEEDS:
        reference, mine = np.random.default_rng(seed), np.random.default_rng(seed)
        draws = Draws(mine)
        for low, high in INTEGER_RANGES:
            assert draws.integers(low, high, 1) == [int(reference.integers(low, high))]
        assert_same_generator(reference, draws.generator())


# PCG64 (NumPy's pcg64.h): state <- state * MULTIPLIER + inc, then output XSL-RR of the new state.
PCG64_MULTIPLIER = (2549297995355413924 << 64) | 4865540595714422341
_U128, _U64 = (1 << 128) - 1, (1 << 64) - 1


def pcg64_about_to_output(raw: int, seed: int) -> np.random.Generator:
    """A PCG64 Generator whose next raw 64-bit output is `raw` (state solved backwards)."""
    rng = np.random.default_rng(seed)
    state = rng.bit_generator.state
    inc = state["state"]["inc"]
    high = random.Random(seed).getrandbits(64)
    rot = high >> 58
    xored = ((raw << rot) | (raw >> (64 - rot))) & _U64 if rot else raw  # XSL-RR: rotr(high ^ low, rot)
    after = (high << 64) | (xored ^ high)
    state["state"]["state"] = ((after - inc) * pow(PCG64_MULTIPLIER, -1, 1 << 128)) & _U128
    state["has_uint32"], state["uinteger"] = 0, 0
    rng.bit_generator.state = state
    return rng


@pytest.mark.parametrize("low, high", [(0, 7), (-10, 11), (0, 2**31 + 1), (5, 5 + 3 * 2**30), (0, 2**32 - 1)])
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_draws_integers_lemire_rejection_boundary(low, high, offset):
    """The first 32-bit draw lands next to Lemire's threshold (m's low half == threshold is kept,
    one below is rejected): a case random seeds hit once in 2**32 draws."""
    excl = high - low
    threshold = (2**32 - excl) % excl
    # u * excl's low half is a multiple of excl's largest power-of-two factor (1 when excl is
    # odd; 2**30 for 3 * 2**30): step by that, and solve u = target / excl modulo what is left.
    step, odd = excl & -excl, excl // (excl & -excl)
    target = (threshold + offset * step) % 2**32
    u = (target // step) * pow(odd, -1, 2**32 // step) % (2**32 // step)
    assert (u * excl) & 0xFFFFFFFF == target
    for seed in range(5):
        raw = (random.Random(seed).getrandbits(32) << 32) | u
        reference, mine = pcg64_about_to_output(raw, seed), pcg64_about_to_output(raw, seed)
        draws = Draws(mine)
        assert draws.integers(low, high, 3) == reference.integers(low, high, size=3).tolist()
        assert_same_generator(reference, draws.generator())


@pytest.mark.parametrize(
    "bit_generator", [np.random.MT19937, np.random.Philox, np.random.SFC64, np.random.PCG64DXSM]
)
def test_draws_other_bit_generators_fall_back(bit_generator):
    for seed in range(10):
        reference, mine = np.random.Generator(bit_generator(seed)), np.random.Generator(bit_generator(seed))
        mine.integers(0, 2)
        reference.integers(0, 2)
        draws = Draws(mine)
        for op in random_ops(seed, 25):
            assert_same_result(apply_draws(draws, op), apply_rng(reference, op), op)
        assert_same_generator(reference, draws.generator())


# --- drawn_values / drawn_weights + network_of vs draw_values / draw_network -----------------------


@pytest.mark.parametrize("style", ["hand", "random"])
@pytest.mark.parametrize("seed", SEEDS)
def test_drawn_values_equal_draw_values(seed, style):
    reference, mine = np.random.default_rng(seed), np.random.default_rng(seed)
    draws = Draws(mine)
    for shape in [(3,), (2, 3), (1,), (5, 1), (), (4, 4), (1, 7)]:
        for nonzero in (True, False):
            expected = draw_values(reference, shape, style, nonzero=nonzero).ravel().tolist()
            got = drawn_values(draws, math.prod(shape), style, nonzero)
            assert_same_floats(got, expected, f"{shape} nonzero={nonzero}")
        # an odd number of 32-bit halves in between
        assert draws.integers(0, 2, 1) == reference.integers(0, 2, size=1).tolist()
    assert_same_generator(reference, draws.generator())


SIZES = [[1, 1], [2, 1], [2, 2, 1], [3, 3, 2], [2, 3, 3, 2], [4, 2, 3, 1], [1, 3, 1], [5, 5, 5], [6, 4, 6, 2]]


def assert_same_network(mine: Network, reference: Network) -> None:
    assert mine.sizes == reference.sizes and mine.depth == reference.depth
    for got, expected in zip(mine.layers, reference.layers, strict=True):
        assert_same_array(got.W, expected.W, "W")
        assert_same_array(got.W0, expected.W0, "W0")
        assert got.activation == expected.activation and got.skip == expected.skip
    assert_same_floats(network_numbers(mine), network_numbers(Network(reference.layers)))
    assert mine.to_dict() == reference.to_dict()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("style", ["hand", "random"])
@pytest.mark.parametrize("seed", SEEDS)
def test_drawn_network_equals_draw_network(seed, style, bias):
    sizes = SIZES[seed % len(SIZES)]
    activations = [ELEMENTWISE[(seed + l) % len(ELEMENTWISE)] for l in range(len(sizes) - 2)] + ["softmax"]
    reference, mine = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 1])
    expected = draw_network(reference, sizes, activations, style, bias=bias)
    draws = Draws(mine)
    weights, biases = drawn_weights(draws, sizes, style, bias=bias)
    assert_same_network(network_of(weights, biases, activations), expected)
    # and what comes after (the kinds draw x and y next) stays in step
    assert_same_floats(
        drawn_values(draws, sizes[0], style), draw_values(reference, (sizes[0], 1), style).ravel().tolist()
    )
    assert_same_generator(reference, draws.generator())


# --- round_sig_values vs round_sig ----------------------------------------------------------------


def _near_powers_of_ten() -> list[float]:
    values = []
    for k in range(-325, 309):
        p = float(f"1e{k}")
        if p == 0.0:
            continue
        values += [p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)]
        values += [p * (1 - 2**-52), p * (1 + 2**-52), 9.5 * p, 9.95 * p, 9.9995 * p, 0.5 * p]
    values += [0.001, 999.95, 99.995, 9.9995, 0.09995, 1e-5 * (1 + 2**-52), 1e-5 * (1 - 2**-53)]
    values += [1e22, 1e23, 10.0**22, 10.0**23, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
    return values


NEAR_POWERS = _near_powers_of_ten()


@pytest.mark.parametrize("sig", range(1, 7))
def test_round_sig_values_near_powers_of_ten(sig):
    """Value by value (a list falls back to round_sig whole once one entry needs it)."""
    with np.errstate(all="ignore"):  # x * 1e300 overflows for the largest values
        for x in NEAR_POWERS:
            for v in (x, -x):
                expected = round_sig([v], sig).tolist()
                assert_same_floats(round_sig_values([v], sig), expected, f"{v!r} sig={sig}")


@pytest.mark.parametrize("sig", range(1, 7))
def test_round_sig_of_tiny_values_is_finite_and_close(sig):
    """Subnormals and values near 1e-308 used to come back NaN (10 ** exponent overflowed):
    an output Δ scaled by a learning rate of 1e-6 can get there."""
    values = [v for x in NEAR_POWERS if abs(x) < 1e-290 for v in (x, -x)]
    with np.errstate(over="raise", invalid="raise", under="ignore"):
        got = round_sig(values + [1.5e300, -2.5, -0.0], sig)
    assert got[-3:].tolist() == round_sig([1.5e300, -2.5, -0.0], sig).tolist()
    assert math.copysign(1.0, got[-1]) == -1.0
    got = got[:-3]
    assert np.isfinite(got).all()
    for x, r in zip(values, got.tolist(), strict=True):
        assert math.copysign(1.0, r) == math.copysign(1.0, x)
        assert abs(r - x) <= 0.5 * 10.0 ** (1 - sig) * abs(x) * (1 + 1e-9) + 5e-324, (x, r, sig)


def test_round_sig_values_zeros_keep_their_sign():
    for sig in range(1, 7):
        got = round_sig_values([0.0, -0.0, 1.5, -0.0], sig)
        assert_same_floats(got, round_sig([0.0, -0.0, 1.5, -0.0], sig).tolist())
        assert [math.copysign(1.0, v) for v in got] == [1.0, -1.0, 1.0, -1.0]


def test_round_sig_values_non_finite_falls_back():
    for sig in range(1, 7):
        values = [1.23456, math.inf, -math.inf, math.nan, -0.0, 1e-320]
        with np.errstate(all="ignore"):
            expected = round_sig(values, sig).tolist()
            assert_same_floats(round_sig_values(values, sig), expected)


finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False),
    st.sampled_from([0.0, -0.0, 0.001, 999.95, -999.95, 1e-5, 5e-324, -5e-324, 1e300, -1e-300]),
    st.sampled_from(NEAR_POWERS).flatmap(lambda x: st.sampled_from([x, -x])),
    st.integers(-999999, 999999).map(lambda k: k / 1000.0),
)


@settings(max_examples=600, deadline=None)
@given(values=st.lists(finite_floats, max_size=8), sig=st.integers(1, 6))
def test_round_sig_values_equals_round_sig(values, sig):
    with np.errstate(all="ignore"):  # round_sig's own overflow on extreme values
        assert_same_floats(round_sig_values(values, sig), round_sig(values, sig).tolist())
        for v in values:
            assert_same_floats(round_sig_values([v], sig), round_sig([v], sig).tolist(), repr(v))


# --- activation_columns vs Activation.__call__ on n x 1 arrays -----------------------------------

ACTIVATIONS = [get_activation(name) for name in ACTIVATION_NAMES] + [
    get_activation("leaky_relu", a=a) for a in (0.0, 0.01, 0.3, 0.99)
] + [get_activation("elu", a=a) for a in (0.0, 0.5, 2.0)] + [
    get_activation("relu", prime_at_zero=0.0),
    get_activation("step", prime_at_zero=0.5),
]

activation_inputs = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-40, max_value=40),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 5e-324, -5e-324, 709.8, -709.8, 745.2, -745.2, 1e-16]),
    st.integers(-30, 30).map(lambda k: k / 10.0),
)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: f"{a.name}{a.params}")
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_activation_columns_equal_activation_on_columns(activation, data):
    n = data.draw(st.integers(1, 6), label="n")
    k = data.draw(st.integers(1, 5), label="columns")
    columns = data.draw(st.lists(st.lists(activation_inputs, min_size=n, max_size=n), min_size=k, max_size=k))
    with np.errstate(all="ignore"):
        got = activation_columns(activation, columns)
        expected = [activation(np.array(z).reshape(-1, 1))[:, 0].tolist() for z in columns]
    assert len(got) == len(expected)
    for c, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert_same_floats(a, b, f"column {c}")


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=lambda a: f"{a.name}{a.params}")
def test_activation_columns_signed_zeros_and_specials(activation):
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-320, -1e-320, 800.0, -800.0, 1.0, -1.0, 4.0]
    columns = [list(c) for c in itertools.permutations(specials[:6], 3)] + [specials[6:9], specials[9:]]
    group = [c for c in columns if len(c) == 3]
    with np.errstate(all="ignore"):
        got = activation_columns(activation, group)
        expected = [activation(np.array(z).reshape(-1, 1))[:, 0].tolist() for z in group]
    for a, b in zip(got, expected, strict=True):
        assert_same_floats(a, b)  # same values, signs of zero and NaNs


# --- forward_columns vs chain_pass(forward_only=True) ---------------------------------------------

ALL_PATHS = [(k, m) for k in (None, 2, 3, 4) for m in (None, *MISTAKES)]
FORWARD_SIZES = [[1, 1], [2, 2], [3, 3], [2, 2, 2], [2, 3, 3, 2], [3, 2, 2], [1, 2, 2, 1], [4, 4, 4, 4], [2, 1, 1, 2], [3, 1]]


def random_network(seed: int, *, softmax_ok: bool = True) -> tuple[Network, list[float]]:
    """A network with hand or random style draws (sometimes arbitrary floats), and an input."""
    rng = np.random.default_rng([seed, 99])
    sizes = FORWARD_SIZES[seed % len(FORWARD_SIZES)]
    names = [str(rng.choice(ELEMENTWISE)) for _ in range(len(sizes) - 1)]
    if softmax_ok and seed % 3 == 0:
        names[-1] = "softmax"
    if seed % 5 == 1:
        activations = [get_activation("leaky_relu", a=0.25) if n == "leaky_relu" else n for n in names]
    else:
        activations = names
    style = ("hand", "random")[seed % 2]
    if seed % 7 == 3:  # arbitrary floats, not the two styles
        W = [rng.normal(0, 3, size=(sizes[l - 1], sizes[l])) for l in range(1, len(sizes))]
        B = [rng.normal(0, 1, size=(sizes[l], 1)) for l in range(1, len(sizes))]
        net = make_network(W, B, activations)
        x = rng.normal(0, 2, size=sizes[0]).tolist()
    else:
        net = make_network(
            [draw_values(rng, (sizes[l - 1], sizes[l]), style) for l in range(1, len(sizes))],
            [draw_values(rng, (sizes[l], 1), style) for l in range(1, len(sizes))],
            activations,
        )
        x = draw_values(rng, (sizes[0],), style).tolist()
    return net, x


def chain_forward(net: Network, x: list[float], path) -> dict[str, list[float]]:
    round_to, mistake = path
    y = np.zeros(net.sizes[-1])
    with np.errstate(all="ignore"):
        values = chain_pass(net, np.array(x), y, "squared", 0.5, round_to=round_to, mistake=mistake, forward_only=True)
    return {name: value[:, 0].tolist() for name, value in values.items() if name != "L"}


def assert_forward_equal(net, x, paths, got) -> None:
    assert len(got) == len(paths)
    names = {f"{q}{l}" for q in "ZA" for l in range(1, net.depth + 1)}
    for path, values in zip(paths, got, strict=True):
        expected = chain_forward(net, x, path)
        assert set(values) == names == set(expected), path
        for name in names:
            assert_same_floats(values[name], expected[name], f"{path} {name}")


@pytest.mark.parametrize("seed", range(80))
def test_forward_columns_equal_chain_pass(seed):
    net, x = random_network(seed)
    pick = random.Random(seed)
    with np.errstate(all="ignore"):
        # all paths at once, each alone, and random subsets (the batching groups columns)
        assert_forward_equal(net, x, ALL_PATHS, forward_columns(net, x, ALL_PATHS))
        for path in ALL_PATHS:
            assert_forward_equal(net, x, [path], forward_columns(net, x, [path]))
        for _ in range(5):
            paths = pick.sample(ALL_PATHS, pick.randint(1, len(ALL_PATHS)))
            assert_forward_equal(net, x, paths, forward_columns(net, x, paths))


def test_forward_columns_and_chain_pass_snap_cancelled_sums_alike():
    """Decimal sums that are 0 on paper (-0.3 + 1 - 0.7, and a square layer whose W and W^T
    paths both cancel) come out as exactly 0.0 on every path of both implementations."""
    W1 = np.array([[-1.0, 0.1], [1.0, 0.2]])
    W2 = np.array([[0.3, -0.1], [0.6, -0.2]])
    net = make_network([W1, W2], [[-0.3, 0.0], [-0.3, 0.4]], ["sigmoid", "identity"])
    x = [-1.0, -0.7]
    assert W1.T[0] @ np.array(x) - 0.3 != 0.0  # the float sum itself is noise, not 0
    got = forward_columns(net, x, ALL_PATHS)
    assert_forward_equal(net, x, ALL_PATHS, got)
    assert got[0]["Z1"][0] == 0.0 and got[0]["A1"][0] == 0.5


def test_forward_columns_square_layers_transpose():
    """w_not_transposed changes square layers' products (and forward_columns keeps it apart)."""
    W1 = np.array([[1.0, 2.0], [-3.0, 0.5]])
    W2 = np.array([[0.25, -1.0], [2.0, 1.5]])
    net = make_network([W1, W2], [[0.1, -0.2], [0.3, 0.4]], ["tanh", "identity"])
    x = [0.7, -1.3]
    paths = [(None, None), (None, "w_not_transposed"), (3, "w_not_transposed"), (2, None)]
    got = forward_columns(net, x, paths)
    assert_forward_equal(net, x, paths, got)
    assert got[0]["Z1"] != got[1]["Z1"]
    assert transpose_matters(net)


def test_forward_columns_refuses_unknown_mistakes_and_takes_no_paths():
    net, x = random_network(1)
    with pytest.raises(ValueError, match="unknown mistake"):
        forward_columns(net, x, [(None, "nope")])
    assert forward_columns(net, x, []) == []


def redraws(call, *args, **kwargs) -> bool:
    """Whether call(*args, **kwargs) raises Redraw."""
    try:
        call(*args, **kwargs)
    except Redraw:
        return True
    return False


@pytest.mark.parametrize("seed", range(300))
def test_forward_columns_check_redraws_as_check_calculator_friendly(seed):
    """check=True raises Redraw exactly when check_calculator_friendly does for the exact pass
    (hand-style integers hit ReLU kinks, sigmoid saturation and softmax ties often)."""
    net, x = random_network(seed)
    expected = redraws(lambda: check_calculator_friendly(net, forward(net, np.array(x))))
    pick = random.Random(seed)
    paths = pick.sample(ALL_PATHS, pick.randint(0, 8))
    paths.insert(pick.randint(0, len(paths)), (None, None))
    with np.errstate(all="ignore"):
        assert redraws(lambda: forward_columns(net, x, paths, check=True)) is expected
        if not expected:
            assert_forward_equal(net, x, paths, forward_columns(net, x, paths, check=True))


def old_check_calculator_friendly(net, trace) -> None:
    """check_calculator_friendly before 6f8036a."""
    for l, layer in enumerate(net.layers, start=1):
        z = trace.Z[l]
        near_kink = np.abs(z) < KINK_MARGIN
        if np.any(layer.activation.kinks(np.where(near_kink, 0.0, z))):
            raise Redraw(f"pre-activation on a kink in layer {l}")
        if layer.activation.name in ("sigmoid", "tanh") and np.any(np.abs(z) > SATURATION):
            raise Redraw(f"saturated unit in layer {l}")
        if layer.activation.name == "softmax":
            check_no_tie(z)


@pytest.mark.parametrize("seed", range(300))
def test_check_calculator_friendly_equals_old(seed):
    net, x = random_network(seed)
    if seed % 4 == 0:  # every 8th seed all elu (its kink depends on a), the others all step
        name = ("elu", "step")[seed // 4 % 2]
        for layer in net.layers:
            layer.activation = get_activation(name, a=0.5) if name == "elu" else get_activation(name)
    trace = forward(net, np.array(x))
    assert redraws(lambda: check_calculator_friendly(net, trace)) is redraws(
        lambda: old_check_calculator_friendly(net, trace)
    )


@pytest.mark.parametrize("activation", ACTIVATIONS + [get_activation("softmax")], ids=lambda a: f"{a.name}{a.params}")
def test_check_layer_boundaries_equal_old(activation):
    """Pre-activations on and next to every threshold of the check: the kink margin, the
    saturation bound and the softmax gap (as one-layer traces through the old check)."""
    edges = [0.0, -0.0, KINK_MARGIN, -KINK_MARGIN, SATURATION, -SATURATION, 0.1, 1e-16]
    values = sorted({e2 for e in edges for e2 in (e, math.nextafter(e, math.inf), math.nextafter(e, -math.inf))})
    columns = [[v] for v in values] + [[v, 0.0] for v in values] + [[1.0, 1.0 + v] for v in values]
    columns += [[2.0, 1.9, 1.0], [2.0, 1.8999999999999997, 1.0], [-1.0, 5.0, 3.0]]
    for column in columns:
        n = len(column)
        net = make_network([np.eye(n)], [np.zeros(n)], [activation])
        trace = forward(net, np.array(column))
        trace.Z[1] = np.array(column).reshape(-1, 1)  # exactly these pre-activations (-0.0 too)
        expected = redraws(old_check_calculator_friendly, net, trace)
        assert redraws(check_calculator_friendly, net, trace) is expected, column
        assert redraws(common.check_layer, activation, column, 1) is expected, column


def old_applicable_mistakes(net, loss, asked):
    """applicable_mistakes before 6f8036a."""
    from nncore.losses import get_loss

    names = {layer.activation.name for layer in net.layers}
    out = []
    asks_backward = any(q[0] in "DdW" for q in asked) or any(q.startswith("W") for q in asked)
    asks_update = any(q.endswith("_new") for q in asked)
    if asks_backward and get_loss(loss).name == "squared":
        out += ["no_factor_2", "sign_error"]
    if asks_backward:
        out.append("sigma_prime_is_sigma" if names == {"sigmoid"} else "g_instead_of_gprime")
        if net.depth > 1:
            out += ["in_instead_of_a", "updated_later_weights"]
    out.append("forgot_bias")
    if any(layer.W.shape[0] == layer.W.shape[1] for layer in net.layers) and min(net.sizes) > 1:
        out.append("w_not_transposed")
    if asks_update:
        out += ["plus_update", "no_update"]
    return out


def test_applicable_mistakes_equal_old():
    quantities = ["Z1", "A1", "Z2", "A2", "L", "D1", "D2", "dW1", "dW01", "W1_new", "W01_new", "W2_new"]
    pick = random.Random(5)
    for seed in range(60):
        net, _ = random_network(seed)
        for _ in range(10):
            asked = set(pick.sample(quantities, pick.randint(0, 4)))
            for loss in ("squared", "nll", "cross_entropy"):
                assert applicable_mistakes(net, loss, asked) == old_applicable_mistakes(net, loss, asked), asked


# --- canonical, canonical_float, _close -----------------------------------------------------------


def ref_canonical(value):
    """A straightforward canonical: floats to SIGNIFICANT_DIGITS by format, -0.0 to 0.0,
    non-finite refused (canonical before 6f8036a)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError("non-finite")
        return ref_canonical(value.tolist())
    if value is None or type(value) is str or type(value) is int:
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("non-finite")
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [ref_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): ref_canonical(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


canonical_floats_st = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 0.1 + 0.2, 1 / 3, 123456789012345.6, 5e-324]),
    st.floats(min_value=-10, max_value=10).map(lambda v: round(v, 2)),
)
canonical_leaves = st.one_of(
    canonical_floats_st,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    canonical_floats_st.map(np.float64),
    st.integers(-100, 100).map(np.int64),
    st.booleans().map(np.bool_),
    st.lists(canonical_floats_st, max_size=4).map(lambda v: np.array(v, dtype=np.float64)),
    st.lists(st.lists(st.floats(-5, 5), min_size=2, max_size=2), max_size=3).map(
        lambda v: np.array(v, dtype=np.float64).reshape(-1, 2)
    ),
    st.lists(st.integers(-9, 9), max_size=3).map(lambda v: np.array(v, dtype=np.int64)),
)
nested = st.recursive(
    canonical_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(-3, 3)), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(value=nested)
def test_canonical_equals_reference(value):
    kind, got, expected = raises_same(lambda: canonical(value), lambda: ref_canonical(value))
    if kind == "ok":
        assert_same(got, expected)
        # and again, with every float of it now in the memo
        assert_same(canonical(value), expected)


def test_canonical_memo_keeps_zero_positive_and_refuses_non_finite(monkeypatch):
    monkeypatch.setattr(problems_base, "_ROUNDED_MAX", 64)  # so that the loop below clears it
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        problems_base._ROUNDED.clear()
        for v in (first, second, first):
            assert_same_float(canonical_float(v), 0.0)
            assert_same(canonical([v, {"a": v}]), [0.0, {"a": 0.0}])
            assert_same(canonical_floats([v, v]), [0.0, 0.0])
    canonical([float(i) / 7 for i in range(5000)])  # fill the memo and clear it, many times
    for bad in (math.nan, math.inf, -math.inf):
        for call, argument in (
            (canonical_float, bad),
            (canonical, bad),
            (canonical, [1.0, bad]),
            (canonical, {"a": bad}),
            (canonical, (bad,)),
            (canonical, np.float64(bad)),
            (canonical, np.array([1.0, bad])),
            (canonical_floats, [0.5, bad]),
        ):
            with pytest.raises(ValueError):
                call(argument)
    nan = math.nan  # the same NaN object twice: still refused (a dict finds a key by identity)
    with pytest.raises(ValueError):
        canonical([nan, nan])


def test_canonical_memo_is_a_pure_function_across_clears(monkeypatch):
    monkeypatch.setattr(problems_base, "_ROUNDED_MAX", 64)
    values = [v / 3.0 for v in range(-3000, 3000)] + [-0.0, 1e-13, -1e-13]
    expected = [ref_canonical(v) for v in values]
    for _ in range(3):
        assert_same(canonical(values), expected)
        assert_same(canonical_floats(values), expected)
        assert_same([canonical_float(v) for v in values], expected)


def test_canonical_keeps_canonical_dicts_and_steps():
    built = Canonical(a=canonical_float(1 / 3), b=[0.5, 1], c="x")
    got = canonical(built)
    assert type(got) is dict and got is not built
    assert_same(got, ref_canonical(dict(built)))
    values = {"z": np.array([[1 / 3], [-0.0]]), "k": 2, "f": -1e-20}
    assert_same(canonical(canonical_step("t", "l", **values)), ref_canonical(step("t", "l", **values)))


@pytest.mark.parametrize("seed", range(30))
def test_canonical_network_equals_canonical_to_dict(seed):
    net, _ = random_network(seed)
    assert_same(canonical(canonical_network(net)), ref_canonical(net.to_dict()))
    sizes = SIZES[seed % len(SIZES)]
    draws = Draws(np.random.default_rng(seed))
    weights, biases = drawn_weights(draws, sizes, ("hand", "random")[seed % 2], bias=seed % 3 > 0)
    drawn = network_of(weights, biases, ["relu"] * (len(sizes) - 1))
    assert_same(canonical(canonical_network(drawn)), ref_canonical(drawn.to_dict()))


def old_close(a, b, tol) -> bool:
    """_close before 6f8036a."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, list) and isinstance(b, list) and any(isinstance(v, str) for v in a + b):
        return sorted(a) == sorted(b)
    if type(a) is float and type(b) is float:
        return abs(a - b) <= tol["atol"] + tol["rtol"] * abs(b)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return False
    return bool(np.all(np.abs(x - y) <= tol["atol"] + tol["rtol"] * np.abs(y)))


close_floats = st.one_of(
    st.floats(), st.floats(-2, 2), st.sampled_from([0.0, -0.0, 1e-8, -1e-8, 1.0, 1.01, 0.99])
)


@settings(max_examples=400, deadline=None)
@given(
    a=st.lists(close_floats, max_size=4),
    b=st.lists(close_floats, max_size=4),
    tol=st.sampled_from([{"rtol": 1e-2, "atol": 1e-8}, {"rtol": 0.0, "atol": 0.0}, {"rtol": 0.5, "atol": 1.0}]),
    same_length=st.booleans(),
)
def test_close_lists_equal_old(a, b, tol, same_length):
    if same_length:
        b = (b + a)[: len(a)]
        b = [v * 1.001 for v in b] if b and b[0] == b[0] else b
    with np.errstate(all="ignore"):
        assert _close(a, b, tol) is old_close(a, b, tol)
        assert _close(a, a, tol) is old_close(a, a, tol)


# --- validate_params cache ------------------------------------------------------------------------


def uncached(kind, params):
    return raises_same(lambda: kind.validate_params(params), lambda: kind._validate_params(params))


PARAM_SAMPLES = [
    None,
    {},
    {"sizes": [2, 3, 1]},
    {"sizes": "2,3,1"},
    {"sizes": (3, 3)},
    {"lr": 0.25},
    {"lr": 1},
    {"lr": True},
    {"lr": "0.5"},
    {"eps": 0.0},
    {"eps": -0.0},
    {"eps": 0.0},
    {"style": "random", "notation": "matrix"},
    {"bias": "false"},
    {"bias": 0},
    {"nope": 1},
    {"sizes": [0, 1]},
    {"lr": math.nan},
    {"sizes": [[2], 3]},
    {"lr": bytearray(b"0.125")},  # unhashable, valid
    {"sizes": np.array([2, 2, 1])},  # unhashable
    {"sizes": {"a": 1}},
    {1: "x", "a": 2},  # unorderable names
    {"eps": Decimal("-0")},  # equal to Decimal("0"), validates to -0.0
    {"eps": Decimal("0")},
    {"sizes": [Decimal("2"), 1]},
    {"sizes": [Decimal("2.0"), 1]},  # equal to the one above, but not an integer's text
    {"lr": np.float64(-0.0)},
    {"lr": np.float64(0.5)},
]


@pytest.mark.parametrize("kind_id", sorted(CATALOGUE))
def test_validate_params_equals_uncached_validation(kind_id):
    kind = CATALOGUE[kind_id]
    for _ in range(2):  # the second round reads the cache
        for params in PARAM_SAMPLES:
            outcome, got, expected = uncached(kind, params)
            if outcome == "raised":
                assert str(got) == str(expected), params
            else:
                assert_same(got, expected, repr(params))


@pytest.mark.parametrize("kind_id", sorted(CATALOGUE))
def test_validate_params_returns_the_callers_own_values(kind_id):
    kind = CATALOGUE[kind_id]
    for params in (None, {}, {"sizes": [2, 2, 1]}):
        try:
            first = kind.validate_params(params)
        except ParamError:
            continue
        expected = kind._validate_params(params)
        for value in first.values():
            if type(value) is list:
                value.append(99)
                value[0] = -1
        first["extra"] = 1
        first.pop(next(iter(expected)), None)
        assert_same(kind.validate_params(params), expected)


def test_validate_params_key_follows_the_callers_list():
    kind = CATALOGUE["forward_mlp"]
    sizes = [2, 3, 1]
    assert kind.validate_params({"sizes": sizes})["sizes"] == [2, 3, 1]
    sizes[1] = 4
    assert kind.validate_params({"sizes": sizes})["sizes"] == [2, 4, 1]


def test_validate_params_zero_sign_is_not_shared_through_the_cache():
    kind = CATALOGUE["batch_norm"]  # eps: a float parameter in [0, 1]
    for first, second in ((-0.0, 0.0), (0.0, -0.0)):
        problems_base._VALIDATED.clear()
        for value in (first, second):
            assert_same_float(kind.validate_params({"eps": value})["eps"], value)


# --- fmt, latex_matrix, describe_network, network_diagram vs the code before 6f8036a -----------


def old_fmt(x: float, digits: int = 4) -> str:
    x = float(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def old_latex_matrix(m, digits: int = 4) -> str:
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 1:
        m = m.reshape(-1, 1)
    rows = [" & ".join(old_fmt(v, digits) for v in row) for row in m]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


def old_describe_network(net: Network, notation: str) -> str:
    if notation == "matrix":
        parts = []
        for l, layer in enumerate(net.layers, start=1):
            parts.append(
                f"$W^{{{l}}} = {old_latex_matrix(layer.W)}$, $W_0^{{{l}}} = {old_latex_matrix(layer.W0)}$"
            )
        return "; ".join(parts)
    ids = neuron_ids(net.sizes)
    terms = []
    for l, layer in enumerate(net.layers, start=1):
        for c, j in enumerate(ids[l]):
            terms.append(f"w_{{0,{j}}} = {old_fmt(layer.W0[c, 0])}")
            terms.extend(f"w_{{{i},{j}}} = {old_fmt(layer.W[r, c])}" for r, i in enumerate(ids[l - 1]))
    return "$" + r",\; ".join(terms) + "$"


def old_network_diagram(net: Network, notation: str, x=None, y=None) -> dict:
    ids = neuron_ids(net.sizes)
    nodes = [{"id": 0, "layer": 0, "label": "1", "role": "bias"}] if notation == "graph" else []
    for l, layer_ids in enumerate(ids):
        for c, j in enumerate(layer_ids):
            if l == 0:
                label = f"x_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}} = x_{{{c + 1}}}"
                node = {"id": j, "layer": 0, "label": label, "role": "input"}
                if x is not None:
                    node["value"] = float(np.asarray(x).reshape(-1)[c])
            else:
                role = "output" if l == len(ids) - 1 else "hidden"
                label = f"a^{{{l}}}_{{{c + 1}}}" if notation == "matrix" else f"a_{{{j}}}"
                node = {
                    "id": j,
                    "layer": l,
                    "label": label,
                    "role": role,
                    "activation": net.layers[l - 1].activation.name,
                }
            nodes.append(node)
    edges = []
    for l, layer in enumerate(net.layers, start=1):
        for c, j in enumerate(ids[l]):
            bias_label = f"W^{{{l}}}_{{0,{c + 1}}}" if notation == "matrix" else f"w_{{0,{j}}}"
            edges.append({"from": 0, "to": j, "label": bias_label, "weight": float(layer.W0[c, 0]), "bias": True})
            for r, i in enumerate(ids[l - 1]):
                label = f"W^{{{l}}}_{{{r + 1},{c + 1}}}" if notation == "matrix" else f"w_{{{i},{j}}}"
                edges.append({"from": i, "to": j, "label": label, "weight": float(layer.W[r, c])})
    out = {"notation": notation, "nodes": nodes, "edges": edges}
    if y is not None:
        out["target"] = np.asarray(y, dtype=np.float64).reshape(-1).tolist()
    return out


fmt_floats = st.one_of(
    st.floats(),
    st.integers(-(10**7), 10**7).map(float),
    st.integers(-(10**7), 10**7).map(lambda k: k / 100.0),
    st.sampled_from([0.0, -0.0, 999999.0, 1e6, -1e6, 999999.5, 1e-5, 0.1 + 0.2, 2.0**53, 5e-324]),
)


@settings(max_examples=500, deadline=None)
@given(x=fmt_floats, digits=st.integers(1, 8))
def test_fmt_equals_old(x, digits):
    for _ in range(2):  # the second call reads the memo
        kind, got, expected = raises_same(lambda: fmt(x, digits), lambda: old_fmt(x, digits))
        if kind == "ok":
            assert got == expected
        kind, got, expected = raises_same(lambda: fmt(x), lambda: old_fmt(x))
        if kind == "ok":
            assert got == expected


def test_fmt_memo_zero_sign_and_clearing(monkeypatch):
    monkeypatch.setattr(common, "_FMT4_MAX", 64)
    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        common._FMT4.clear()
        assert [fmt(first), fmt(second), fmt(np.float64(second)), fmt(1)] == ["0", "0", "0", "1"]
    values = [v / 7.0 for v in range(-6000, 6000)]
    for _ in range(2):  # past _FMT4_MAX: cleared and refilled
        assert [fmt(v) for v in values] == [old_fmt(v) for v in values]
        assert common.fmts(values) == [old_fmt(v) for v in values]


matrices = st.one_of(
    st.lists(fmt_floats, max_size=5),  # a list of floats: latex_matrix's list path
    st.lists(st.integers(-5, 5), max_size=4),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-5, 5)), max_size=4),
    st.lists(fmt_floats, max_size=5).map(np.array),
    st.integers(0, 4).flatmap(
        lambda cols: st.lists(st.lists(fmt_floats, min_size=cols, max_size=cols), max_size=4)
    ),
    st.integers(0, 4).flatmap(
        lambda cols: st.lists(st.lists(fmt_floats, min_size=cols, max_size=cols), min_size=1, max_size=4)
    ).map(np.array),
    st.lists(st.floats(-3, 3, width=32), max_size=4).map(lambda v: np.array(v, dtype=np.float32)),
    st.floats(-3, 3).map(np.array),  # 0-d: refused as before
)


@settings(max_examples=500, deadline=None)
@given(m=matrices, digits=st.sampled_from([4, 4, 2, 6]))
def test_latex_matrix_equals_old(m, digits):
    with np.errstate(all="ignore"):
        kind, got, expected = raises_same(lambda: latex_matrix(m, digits), lambda: old_latex_matrix(m, digits))
    if kind == "ok":
        assert got == expected


def diagram_networks():
    """Networks of every construction path: make_network, draw_network, drawn_weights + network_of."""
    for seed in range(24):
        sizes = SIZES[seed % len(SIZES)]
        acts = [ELEMENTWISE[(seed + l) % len(ELEMENTWISE)] for l in range(len(sizes) - 1)]
        style = ("hand", "random")[seed % 2]
        yield draw_network(np.random.default_rng(seed), sizes, acts, style, bias=seed % 3 > 0)
        weights, biases = drawn_weights(Draws(np.random.default_rng(seed)), sizes, style, bias=seed % 3 > 0)
        yield network_of(weights, biases, acts)
        yield random_network(seed)[0]


@pytest.mark.parametrize("notation", ["graph", "matrix"])
def test_describe_network_equals_old(notation):
    for net in diagram_networks():
        assert describe_network(net, notation) == old_describe_network(net, notation)


@pytest.mark.parametrize("notation", ["graph", "matrix"])
def test_network_diagram_equals_old(notation):
    """As stored in an instance: canonical(new) == canonical(old)."""
    for i, net in enumerate(diagram_networks()):
        n_in, n_out = net.sizes[0], net.sizes[-1]
        rng = np.random.default_rng(i)
        xs = [None, rng.normal(size=n_in).tolist(), rng.normal(size=(n_in, 1)), list(range(n_in)), [-0.0] * n_in]
        ys = [None, rng.normal(size=n_out).tolist(), np.ones((n_out, 1)), [1] * n_out]
        for x, y in itertools.product(xs, ys):
            got = network_diagram(net, notation, x, y)
            assert_same(canonical(got), ref_canonical(old_network_diagram(net, notation, x, y)))
            # the layout is cached: what one caller does to its diagram is not seen by the next
            got["nodes"][-1]["label"] = "changed"
            got["edges"][0]["weight"] = 123.0
            got["nodes"].append({})
        assert_same(canonical(network_diagram(net, notation)), ref_canonical(old_network_diagram(net, notation)))
    with pytest.raises(ValueError):
        network_diagram(net, notation, [math.nan] * net.sizes[0])


# --- the generators' own shortcuts: seeding, the early saturation redraw, shared fields ---------

SEED_ENTROPY = [
    (0, 0), (5, 0), (7, 199), (2**32 - 1, 1), (2**32, 2), (2**40 + 3, 7), (2**64 + 5, 3),
    (2**127, 2**64), (2**200 + 17, 0), (123456789, 42), (7,), (), (1, 2, 3, 4, 5, 6),
]


@pytest.mark.parametrize("entropy", SEED_ENTROPY + [(seed, attempt) for seed in range(40) for attempt in range(3)])
def test_seeded_generator_equals_default_rng(entropy):
    """ProblemKind.generate's Generators: the state of np.random.default_rng([seed, attempt])."""
    reference, mine = np.random.default_rng(list(entropy)), problems_base.seeded_generator(*entropy)
    assert_same_generator(reference, mine)
    for _ in range(2):  # children, and the count of children already spawned
        for child, expected in zip(mine.spawn(2), reference.spawn(2), strict=True):
            assert_same_generator(expected, child)
    seed_sequence = np.random.SeedSequence(list(entropy))
    pool = problems_base._SeedPool(entropy, problems_base._seed_pool(entropy))
    assert pool.pool == seed_sequence.pool.tolist()
    for n_words, dtype in ((1, np.uint32), (9, np.uint32), (4, np.uint64), (3, "u8"), (5, "uint32")):
        assert np.array_equal(pool.generate_state(n_words, dtype), seed_sequence.generate_state(n_words, dtype))
        assert pool.generate_state(n_words, dtype).dtype == seed_sequence.generate_state(n_words, dtype).dtype
    with pytest.raises(TypeError):
        pool.generate_state(2, np.float64)
    with pytest.raises(ValueError):
        problems_base.seeded_generator(-1, 0)


@pytest.mark.parametrize("style", ["hand", "random"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity"])
def test_clearly_saturated_only_where_the_exact_check_redraws(style, activation):
    """The early redraw of NetworkKind.build: only networks forward_columns' check refuses in
    layer 1 (and, on these draws, most of those)."""
    early = exact = 0
    for seed in range(400):
        draws = Draws(np.random.default_rng([seed, 3]))
        sizes = [2 + seed % 3, 2, 1]
        weights, biases = drawn_weights(draws, sizes, style)
        x = drawn_values(draws, sizes[0], style)
        net = network_of(weights, biases, [activation, "sigmoid"])
        try:
            forward_columns(net, x, [(None, None)], check=True)
            refused_in_layer_1 = False
        except Redraw as exc:
            refused_in_layer_1 = "layer 1" in str(exc)
        saturated = common.clearly_saturated(weights[0], biases[0], x, activation)
        assert not saturated or refused_in_layer_1, (seed, weights, biases, x)
        early += saturated
        exact += refused_in_layer_1
    if activation in ("sigmoid", "tanh") and style == "hand":
        assert early > 0.8 * exact > 0
    if activation in ("relu", "identity"):
        assert early == 0


def test_clearly_saturated_leaves_the_bound_to_the_exact_check():
    for z in (SATURATION, -SATURATION, math.nextafter(SATURATION, math.inf), SATURATION + 1e-7):
        assert not common.clearly_saturated([1.0], [0.0], [z], "sigmoid")
    assert common.clearly_saturated([1.0], [0.0], [SATURATION + 1e-5], "tanh")
    # W is 2 x 2 (C order): unit 1 gets 2*1 + 0*0.5 - 0.1 = 1.9, unit 2 gets 0.5 + 0.25 + 4.2
    assert common.clearly_saturated([2.0, 0.5, 0.0, 0.5], [-0.1, 4.2], [1.0, 0.5], "sigmoid")
    assert not common.clearly_saturated([2.0, 0.5, 0.0, 0.5], [-0.1, 3.2], [1.0, 0.5], "sigmoid")


def test_shared_fields_give_every_instance_its_own_lists():
    """quantity_asks' Field objects are shared by every instance of a layout (Field.to_dict
    copies): changing one instance's fields must not reach the next instance."""
    kind = CATALOGUE["backprop_chain"]
    first = kind.generate(None, 0)
    expected = kind.generate(None, 1)["fields"]
    for f in first["fields"]:
        f.get("depends_on", []).append("changed")
        f["shape"].append(9)
    assert kind.generate(None, 1)["fields"] == expected


def test_fill_equals_format_of_its_layout():
    """fill joins the text between SLOTs around the numbers: what str.format of the layout gives,
    including its IndexError for too few numbers and its silence about extra ones."""
    text = f"a {{b}} {common.SLOT} c{common.SLOT}d {common.SLOT}"
    for numbers in ([1.0, 2.5, -0.0], [1.0, 2.5, -0.0, 7.0], [0.1 + 0.2, 1e7, 3.0]):
        assert common.fill(text, numbers) == common._layout(text).format(*[old_fmt(v) for v in numbers[:3]])
    with pytest.raises(IndexError):
        common.fill(text, [1.0, 2.0])
    assert common.fill("no numbers", []) == "no numbers"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([1.0, 2.0], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, 2.5]),  # mutated
        ([np.nan, 1.0], [np.nan, 1.0]),  # NaN in the input, untouched
        ([np.nan, 1.0], [np.nan, 2.0]),
        ([np.nan, 1.0], [0.0, 1.0]),  # NaN overwritten
        ([0.0, 1.0], [np.nan, 1.0]),  # NaN written
        ([0.0, -0.0], [-0.0, 0.0]),  # signed zeros are equal, as array_equal says
        ([np.inf, -np.inf], [np.inf, -np.inf]),
        ([np.inf], [-np.inf]),
        ([], []),
    ],
)
def test_input_unchanged_check_equals_array_equal_with_nan(old, new):
    """code.harness._same's fast path (entrywise ==) gives what array_equal(equal_nan=True) gives."""
    from nncore.problems.code.harness import _same

    a, b = np.array(old, dtype=np.float64), np.array(new, dtype=np.float64)
    assert _same(a, b) is bool(np.array_equal(a, b, equal_nan=True))
    assert _same([a, [b]], [a.copy(), [b.copy()]]) is True
