"""The network kinds (nncore/problems/network_kinds.py) against independent recomputations.

Every reference answer is recomputed from the instance's prompt.data alone, through the layered
engine (nncore.network forward/backward) and, for graph-named fields, also through the neuron
engine (nncore.graphnet via nncore.notation.to_neuron_network); "hand" draws are checked for
their promises; error carried forward and misconception values are checked against the chain
formulas written out by hand; and 002's SGD example is reproduced.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from nncore.activations import sigmoid
from nncore.graphnet import backward_neurons, forward_neurons
from nncore.network import backward, forward, make_network, network_from_dict
from nncore.notation import edge_to_ref, locate_neuron, to_neuron_network
from nncore.problems import ParamError
from nncore.problems.chain import chain_pass
from nncore.problems.network_kinds import KINDS

KIND_BY_ID = {cls.id: cls() for cls in KINDS}
NOTATIONS = ("graph", "matrix")
STYLES = ("hand", "random")
SEEDS = range(30)
VARIANT_SEEDS = range(12)
EXACT = {"rtol": 1e-9, "atol": 1e-12}  # answers are stored with 12 significant digits
SATURATION = 4.0

# Parameter variants beyond the defaults; those a kind refuses (ParamError) are skipped.
VARIANTS = {
    "relu_hidden": {"hidden": "relu"},
    "tanh_identity": {"hidden": "tanh", "output": "identity"},
    "nll": {"loss": "nll"},
    "softmax_ce": {"output": "softmax", "loss": "cross_entropy", "widen_output": 3},
    "no_bias": {"bias": False},
    "leaky_elu_softplus": {"hidden": "leaky_relu", "output": "softplus"},
}


def variant_params(kind, variant: dict) -> dict | None:
    """Concrete parameters of a variant for this kind, or None if the kind refuses them."""
    params = {k: v for k, v in variant.items() if k != "widen_output"}
    if "widen_output" in variant:
        sizes = list(kind.validate_params({})["sizes"])
        params["sizes"] = [*sizes[:-1], variant["widen_output"]]
    try:
        kind.validate_params(params)
    except ParamError:
        return None
    return params


# --- field names -> quantities ----------------------------------------------------------------

_MATRIX_NAMES = [
    (re.compile(r"dLdW0(\d)$"), "dW0{}"),
    (re.compile(r"dLdW(\d)$"), "dW{}"),
    (re.compile(r"dLdZ(\d)$"), "D{}"),
    (re.compile(r"W0(\d)_new$"), "W0{}_new"),
    (re.compile(r"W(\d)_new$"), "W{}_new"),
    (re.compile(r"Z(\d)$"), "Z{}"),
    (re.compile(r"A(\d)$"), "A{}"),
]
_GRAPH_UNITS = {"in": "Z{}", "a": "A{}", "delta": "D{}"}


def parse_field(name: str, sizes: list[int]) -> tuple[str, tuple[int, int] | None, tuple | None]:
    """(chain quantity, (row, col) entry or None for the whole quantity, graph key or None).

    The graph key says how the neuron engine names the value: ("in", j), ("a", j),
    ("delta", j), ("grad", i, j) or ("new", i, j).
    """
    if name == "L":
        return "L", None, ("L",)
    m = re.fullmatch(r"(in|a|delta)_(\d+)", name)
    if m:
        layer, row = locate_neuron(sizes, int(m.group(2)))
        return _GRAPH_UNITS[m.group(1)].format(layer), (row, 0), (m.group(1), int(m.group(2)))
    m = re.fullmatch(r"dJdw_(\d+)_(\d+)", name) or re.fullmatch(r"w_(\d+)_(\d+)_new", name)
    if m:
        i, j = int(m.group(1)), int(m.group(2))
        ref = edge_to_ref(sizes, i, j)
        gradient = name.startswith("dJdw")
        if ref.kind == "W0":
            quantity = f"dW0{ref.layer}" if gradient else f"W0{ref.layer}_new"
        else:
            quantity = f"dW{ref.layer}" if gradient else f"W{ref.layer}_new"
        return quantity, (ref.row, ref.col), ("grad" if gradient else "new", i, j)
    m = re.fullmatch(r"dLdW(\d)_(\d+)_(\d+)", name) or re.fullmatch(r"W(\d)_(\d+)_(\d+)_new", name)
    if m:  # one entry of a matrix question's W^l, 1-based: ∂L/∂W^1_{2,1}, W^1_{2,1} after the update
        layer, row, col = map(int, m.groups())
        quantity = f"dW{layer}" if name.startswith("dLdW") else f"W{layer}_new"
        return quantity, (row - 1, col - 1), None
    for pattern, quantity in _MATRIX_NAMES:
        m = pattern.fullmatch(name)
        if m:
            return quantity.format(m.group(1)), None, None
    raise AssertionError(f"field name {name!r} follows neither notation's naming")


def layered_values(data: dict) -> dict[str, np.ndarray]:
    """Every chain quantity from nncore.network forward/backward (independent of chain_pass)."""
    net = network_from_dict(data["network"])
    x, y, lr = np.asarray(data["x"], float), np.asarray(data["y"], float), data["lr"]
    trace = forward(net, x)
    grads = backward(net, trace, y, data["loss"])
    out = {"L": np.array(grads.loss)}
    for l, layer in enumerate(net.layers, start=1):
        out[f"Z{l}"], out[f"A{l}"], out[f"D{l}"] = trace.Z[l], trace.A[l], grads.delta[l]
        out[f"dW{l}"], out[f"dW0{l}"] = grads.dW[l], grads.dW0[l]
        out[f"W{l}_new"] = layer.W - lr * grads.dW[l]
        out[f"W0{l}_new"] = layer.W0 - lr * grads.dW0[l]
    return out


def graph_values(data: dict) -> dict[tuple, float]:
    """The same quantities from the neuron engine, keyed as `parse_field`'s graph keys."""
    graph = to_neuron_network(network_from_dict(data["network"]))
    trace = forward_neurons(graph, data["x"])
    grads = backward_neurons(graph, trace, data["y"], data["loss"])
    out: dict[tuple, float] = {("L",): grads.loss}
    out.update({("in", j): v for j, v in trace.in_.items()})
    out.update({("a", j): v for j, v in trace.a.items()})
    out.update({("delta", j): v for j, v in grads.delta.items()})
    for edge, g in grads.grad.items():
        out[("grad", *edge)] = g
        out[("new", *edge)] = graph.weights[edge] - data["lr"] * g
    return out


def pick(values: dict, quantity: str, entry) -> np.ndarray:
    value = np.asarray(values[quantity], dtype=float)
    return np.asarray(value[entry] if entry is not None else value, dtype=float)


def check_against_engines(instance: dict) -> None:
    data = instance["prompt"]["data"]
    sizes = data["network"]["sizes"]
    layered = layered_values(data)
    graph = graph_values(data)
    for name, answer in instance["answers"].items():
        quantity, entry, graph_key = parse_field(name, sizes)
        stored = data["quantities"][name]
        assert stored == [quantity, list(entry) if entry else None], (
            f"{name}: prompt.data.quantities says {stored}, the name means {quantity} {entry}"
        )
        expected = pick(layered, quantity, entry)
        got = np.asarray(answer, dtype=float)
        assert got.size == expected.size, (
            f"{name}: {got.size} values, the engine has {expected.size}"
        )
        np.testing.assert_allclose(
            got.reshape(-1), expected.reshape(-1), **EXACT, err_msg=f"{name} vs nncore.network"
        )
        if graph_key is not None:
            np.testing.assert_allclose(
                float(got), graph[graph_key], **EXACT, err_msg=f"{name} vs nncore.graphnet"
            )


# --- reference answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", list(KIND_BY_ID))
@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("style", STYLES)
def test_answers_equal_independent_recomputation(kind_id, notation, style):
    kind = KIND_BY_ID[kind_id]
    params = {"notation": notation, "style": style}
    for seed in SEEDS:
        instance = kind.generate(params, seed)
        assert instance["prompt"]["data"]["notation"] == notation
        check_against_engines(instance)


# Combinations a kind refuses (e.g. nll on a softmax layer) raise ParamError and are left out.
ACCEPTED_VARIANTS = [
    (kind_id, variant)
    for kind_id in KIND_BY_ID
    for variant in VARIANTS
    if variant_params(KIND_BY_ID[kind_id], VARIANTS[variant]) is not None
]


@pytest.mark.parametrize(("kind_id", "variant"), ACCEPTED_VARIANTS)
def test_answers_equal_independent_recomputation_for_other_activations_and_losses(kind_id, variant):
    kind = KIND_BY_ID[kind_id]
    params = variant_params(kind, VARIANTS[variant])
    for notation in NOTATIONS:
        for seed in VARIANT_SEEDS:
            instance = kind.generate({**params, "notation": notation, "style": "random"}, seed)
            check_against_engines(instance)


# --- "hand" promises over 1,000 seeds -------------------------------------------------------------

HAND_SEEDS = range(1000)
HAND_CASES = {
    # sigmoid everywhere: saturation; backprop kinds exercise every quantity
    "hidden_delta": {},
    # piecewise-linear nets: kinks checked in exact rational arithmetic
    "forward_mlp": {"hidden": "relu", "output": "relu"},
    "forward_layer": {"output": "softmax", "loss": "cross_entropy", "sizes": [3, 3]},
}


def _exact(v: float) -> Fraction:
    return Fraction(round(v * 10), 10)


def check_hand_promises(data: dict) -> None:
    net = network_from_dict(data["network"])
    drawn = [np.asarray(data["x"], float).reshape(-1)]
    for layer in net.layers:
        drawn += [layer.W.reshape(-1), layer.W0.reshape(-1)]
    for values in drawn:
        assert np.all(np.abs(values * 10 - np.round(values * 10)) < 1e-9), (
            f"not one-decimal: {values}"
        )
        assert np.all(np.abs(values) <= 3), f"hand values beyond ±3: {values}"
    y = np.asarray(data["y"], float)
    assert np.all(np.abs(y * 10 - np.round(y * 10)) < 1e-9), f"target not one-decimal: {y}"

    trace = forward(net, data["x"])
    exact_a: list[Fraction] | None = [_exact(v) for v in drawn[0]]  # A^{l-1} while still rational
    for l, layer in enumerate(net.layers, start=1):
        name = layer.activation.name
        z = trace.Z[l].reshape(-1)
        if exact_a is not None:
            exact_z = [
                _exact(layer.W0[c, 0])
                + sum(_exact(layer.W[r, c]) * exact_a[r] for r in range(layer.n_in))
                for c in range(layer.n_out)
            ]
        if name in ("relu", "leaky_relu", "step"):
            assert np.all(np.abs(z) > 1e-9), (
                f"layer {l}: {name} pre-activation (numerically) on the kink: {z}"
            )
            if exact_a is not None:
                assert all(v != 0 for v in exact_z), (
                    f"layer {l}: {name} pre-activation exactly 0: {exact_z}"
                )
        if name in ("sigmoid", "tanh"):
            assert np.all(np.abs(z) <= SATURATION), f"layer {l}: saturated {name}, in = {z}"
        if name == "softmax":
            top = np.sort(z)
            assert top[-1] - top[-2] >= 0.1 - 1e-12, f"layer {l}: softmax near-tie {z}"
        if exact_a is not None and name == "relu":
            exact_a = [max(v, Fraction(0)) for v in exact_z]
        elif exact_a is not None and name == "identity":
            exact_a = exact_z
        else:
            exact_a = None


@pytest.mark.parametrize("kind_id", list(HAND_CASES))
def test_hand_instances_keep_their_promises_over_1000_seeds(kind_id):
    kind = KIND_BY_ID[kind_id]
    params = {**HAND_CASES[kind_id], "style": "hand"}
    for seed in HAND_SEEDS:
        data = kind.generate(params, seed)["prompt"]["data"]
        try:
            check_hand_promises(data)
        except AssertionError as exc:
            raise AssertionError(f"{kind_id} {params} seed {seed}: {exc}") from None


# --- error carried forward (backprop_chain) -------------------------------------------------------

CHAIN = KIND_BY_ID["backprop_chain"]


def as_quantities(instance: dict, answers: dict) -> dict[str, np.ndarray]:
    """Field answers gathered back into whole chain quantities (column vectors / matrices)."""
    data = instance["prompt"]["data"]
    sizes = data["network"]["sizes"]
    exact = layered_values(data)
    out: dict[str, np.ndarray] = {}
    for name, value in answers.items():
        quantity, entry, _ = parse_field(name, sizes)
        shape = np.shape(exact[quantity])
        target = out.setdefault(quantity, np.full(shape, np.nan))
        if entry is None:
            target[...] = np.asarray(value, dtype=float).reshape(shape)
        else:
            target[entry] = value
    return out


def hand_chain(data: dict, A1: np.ndarray, *, given: dict | None = None) -> dict[str, np.ndarray]:
    """The notes' chain formulas for a sigmoid 2-layer net with squared loss, from a given A^1.

    `given` holds the student's own later values (A2, D2, D1, dW1) that the next formulas use.
    """
    given = given or {}
    net = network_from_dict(data["network"])
    W1, W2, W02 = net.layer(1).W, net.layer(2).W, net.layer(2).W0
    x = np.asarray(data["x"], float).reshape(-1, 1)
    y = np.asarray(data["y"], float).reshape(-1, 1)
    A2 = sigmoid(W2.T @ A1 + W02)  # a_k = σ(w_{0,k} + Σ_j w_{j,k} a_j)
    g = given.get("A2", A2)
    D2 = -2.0 * (y - g) * g * (1.0 - g)  # Δ_k = -2(y - a_k) a_k (1 - a_k)
    D2_used = given.get("D2", D2)
    D1 = A1 * (1.0 - A1) * (W2 @ D2_used)  # Δ_j = a_j (1 - a_j) Σ_k w_{j,k} Δ_k
    D1_used = given.get("D1", D1)
    dW1 = x @ D1_used.T  # ∂J/∂w_{i,j} = Δ_j a_i
    dW2 = A1 @ D2_used.T
    dW1_used = given.get("dW1", dW1)
    return {
        "A2": A2,
        "L": np.array(np.sum((y - g) ** 2)),
        "D2": D2,
        "D1": D1,
        "dW1": dW1,
        "dW2": dW2,
        "W1_new": W1 - data["lr"] * dW1_used,
    }


def wrong_a1(instance: dict, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """A wrong answer for a_j (graph: the first hidden unit) / A^1 (matrix: every entry)."""
    data = instance["prompt"]["data"]
    exact_a1 = layered_values(data)["A1"]
    wrong = exact_a1.copy()
    rows = [0] if data["notation"] == "graph" else range(wrong.shape[0])
    for r in rows:
        wrong[r, 0] = float(np.clip(wrong[r, 0] + rng.choice([-0.2, 0.15]), 0.05, 0.95))
        if abs(wrong[r, 0] - exact_a1[r, 0]) < 0.05:
            wrong[r, 0] = 0.5 if exact_a1[r, 0] < 0.4 or exact_a1[r, 0] > 0.6 else 0.9
    if data["notation"] == "graph":
        j = data["network"]["sizes"][0] + 1
        return {f"a_{j}": float(wrong[0, 0])}, wrong
    return {"A1": wrong[:, 0].tolist()}, wrong


def assert_fields_match(
    instance: dict, got: dict, expected: dict[str, np.ndarray], what: str
) -> None:
    sizes = instance["prompt"]["data"]["network"]["sizes"]
    assert set(got) == set(instance["answers"]), f"{what}: recompute returns other fields"
    for name, value in got.items():
        quantity, entry, _ = parse_field(name, sizes)
        want = pick(expected, quantity, entry)
        np.testing.assert_allclose(
            np.asarray(value, float).reshape(-1),
            want.reshape(-1),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"{what}: field {name} ({quantity})",
        )


CHAIN_CASES = [(n, s, seed) for n in NOTATIONS for s in STYLES for seed in range(15)]


@pytest.mark.parametrize(("notation", "style", "seed"), CHAIN_CASES)
def test_recompute_with_exact_answers_returns_them(notation, style, seed):
    instance = CHAIN.generate({"notation": notation, "style": style}, seed)
    recomputed = CHAIN.recompute(instance, instance["answers"])
    exact = as_quantities(instance, instance["answers"])
    assert_fields_match(instance, recomputed, exact, "exact answers given")


@pytest.mark.parametrize(("notation", "style", "seed"), CHAIN_CASES)
def test_wrong_hidden_activation_alone_is_carried_through_every_later_formula(
    notation, style, seed
):
    """Only the wrong a_j / A^1 given: every later part follows the chain formulas from it."""
    instance = CHAIN.generate({"notation": notation, "style": style}, seed)
    data = instance["prompt"]["data"]
    given, A1_wrong = wrong_a1(instance, np.random.default_rng(seed))
    recomputed = CHAIN.recompute(instance, given)
    exact = layered_values(data)
    expected = {**hand_chain(data, A1_wrong), "A1": exact["A1"]}  # a_j itself stays graded exactly
    assert_fields_match(instance, recomputed, expected, f"wrong {given}")
    # and it really changed the later parts
    later = [n for n in instance["answers"] if not n.startswith(("a_", "A"))]
    assert any(not np.allclose(recomputed[n], instance["answers"][n]) for n in later)


@pytest.mark.parametrize(("notation", "style", "seed"), CHAIN_CASES)
def test_wrong_hidden_activation_among_exact_answers_changes_only_its_dependants(
    notation, style, seed
):
    """All other answers exact: only the parts computed FROM a_j / A^1 (a_k of the output,
    Δ_j of the hidden unit, ∂J/∂w_{j,k}) move; everything else is unchanged."""
    instance = CHAIN.generate({"notation": notation, "style": style}, seed)
    data = instance["prompt"]["data"]
    wrong, A1_wrong = wrong_a1(instance, np.random.default_rng(seed))
    given = {**instance["answers"], **wrong}
    recomputed = CHAIN.recompute(instance, given)
    exact = layered_values(data)
    student = as_quantities(instance, instance["answers"])
    hand = hand_chain(data, A1_wrong, given={k: student[k] for k in ("A2", "D2", "D1", "dW1")})
    expected = dict(exact)
    expected.update(A2=hand["A2"], D1=hand["D1"], dW2=hand["dW2"])
    assert_fields_match(instance, recomputed, expected, f"exact answers with {wrong}")
    for unchanged in ("L", "D2", "dW1", "W1_new"):
        np.testing.assert_allclose(hand[unchanged], exact[unchanged], rtol=1e-9, atol=1e-12)


# --- misconceptions are the mistakes they name ---------------------------------------------------


def _misconception(instance: dict, mistake: str) -> dict | None:
    return next((m["answers"] for m in instance["misconceptions"] if m["id"] == mistake), None)


def _check_mistake(instance: dict, mistake: str, field: str, value: float) -> bool:
    """The misconception's value for `field` is `value` (or the field was dropped because
    the mistake happens to give the right answer). Returns whether it was present."""
    answers = _misconception(instance, mistake)
    if answers is None or field not in answers:
        assert (
            np.isclose(value, instance["answers"][field], rtol=1e-2, atol=1e-8) or answers is None
        ), f"{mistake} changes {field} to {value} but the instance omits it"
        return False
    np.testing.assert_allclose(
        answers[field], value, rtol=1e-9, atol=1e-12, err_msg=f"{mistake} {field}"
    )
    return True


@pytest.mark.parametrize("style", STYLES)
def test_output_delta_misconceptions_by_hand(style):
    kind, seen = KIND_BY_ID["output_delta"], set()
    for seed in range(40):
        instance = kind.generate({"style": style}, seed)  # 2-2-1 sigmoid, squared loss
        data = instance["prompt"]["data"]
        a5, y = float(layered_values(data)["A2"][0, 0]), float(data["y"][0])
        np.testing.assert_allclose(
            instance["answers"]["delta_5"], -2 * (y - a5) * a5 * (1 - a5), rtol=1e-9
        )
        hand = {
            "no_factor_2": -(y - a5) * a5 * (1 - a5),
            "sigma_prime_is_sigma": -2 * (y - a5) * a5,
            "sign_error": 2 * (y - a5) * a5 * (1 - a5),
        }
        seen |= {m for m, v in hand.items() if _check_mistake(instance, m, "delta_5", v)}
    assert seen == {"no_factor_2", "sigma_prime_is_sigma", "sign_error"}


@pytest.mark.parametrize("style", STYLES)
def test_hidden_delta_misconceptions_by_hand(style):
    kind, seen = KIND_BY_ID["hidden_delta"], set()
    for seed in range(40):
        instance = kind.generate({"style": style}, seed)
        data = instance["prompt"]["data"]
        v = layered_values(data)
        a3, a5, y = float(v["A1"][0, 0]), float(v["A2"][0, 0]), float(data["y"][0])
        w35 = data["network"]["layers"][1]["W"][0][0]
        hand = {
            # σ' = σ at both the output and the hidden unit
            "sigma_prime_is_sigma": a3 * w35 * (-2 * (y - a5) * a5),
            "no_factor_2": a3 * (1 - a3) * w35 * (-(y - a5) * a5 * (1 - a5)),
        }
        seen |= {m for m, val in hand.items() if _check_mistake(instance, m, "delta_3", val)}
    assert seen == {"sigma_prime_is_sigma", "no_factor_2"}


@pytest.mark.parametrize("style", STYLES)
def test_sgd_update_misconceptions_by_hand(style):
    kind, seen = KIND_BY_ID["sgd_update"], set()
    for seed in range(40):
        instance = kind.generate({"style": style}, seed)  # one weight w_{i,j} of layer 1
        data = instance["prompt"]["data"]
        (name,) = instance["answers"]
        i, j = map(int, re.fullmatch(r"w_(\d+)_(\d+)_new", name).groups())
        graph = graph_values(data)
        w = to_neuron_network(network_from_dict(data["network"])).weights[(i, j)]
        a_i = 1.0 if i == 0 else graph[("a", i)]
        delta_j, lr = graph[("delta", j)], data["lr"]
        np.testing.assert_allclose(instance["answers"][name], w - lr * delta_j * a_i, rtol=1e-9)
        hand = {"plus_update": w + lr * delta_j * a_i, "no_factor_2": w - lr * delta_j * a_i / 2}
        seen |= {m for m, val in hand.items() if _check_mistake(instance, m, name, val)}
    assert seen == {"plus_update", "no_factor_2"}


# --- 002's SGD example -------------------------------------------------------------------------------


def _example_002():
    net = make_network([[[0.1], [0.1]]], [[0.1]], "sigmoid")  # w_{1,3} = w_{2,3} = w_{0,3} = 0.1
    return net, np.array([0.4, 0.5]), np.array([1.0])


def test_seed_002_sgd_example():
    net, x, y = _example_002()
    values = chain_pass(net, x, y, "squared", 0.5)
    assert values["Z1"][0, 0] == pytest.approx(0.19)
    assert values["A1"][0, 0] == pytest.approx(0.5474, abs=5e-5)
    # The notes print values reached through 4-figure intermediates: the exact w_{0,3} is
    # 0.212145..., so the exact path agrees with 0.2122 / 0.1449 / 0.1561 to 1e-4.
    assert values["W01_new"][0, 0] == pytest.approx(0.2122, abs=1e-4)  # w_{0,3}
    assert values["W1_new"][0, 0] == pytest.approx(0.1449, abs=1e-4)  # w_{1,3}
    assert values["W1_new"][1, 0] == pytest.approx(0.1561, abs=1e-4)  # w_{2,3}
    # and agrees with the layered engine
    grads = backward(net, forward(net, x), y, "squared")
    np.testing.assert_allclose(values["W01_new"], net.layer(1).W0 - 0.5 * grads.dW0[1], rtol=1e-12)
    np.testing.assert_allclose(values["W1_new"], net.layer(1).W - 0.5 * grads.dW[1], rtol=1e-12)


def test_seed_002_sgd_example_with_the_notes_rounding():
    net, x, y = _example_002()
    values = chain_pass(net, x, y, "squared", 0.5, round_to=4)
    assert values["Z1"][0, 0] == 0.19
    assert values["A1"][0, 0] == 0.5474  # g(in_3) ≈ 0.5474
    # Δ_3 = -2 (0.4526)(0.2478) as the notes multiply it, to 4 significant figures
    assert values["D1"][0, 0] == pytest.approx(-2 * 0.4526 * 0.2478, abs=5e-5)
    assert values["W01_new"][0, 0] == 0.2122
    assert values["W1_new"][0, 0] == 0.1449
    assert values["W1_new"][1, 0] == 0.1561
    # "At iteration t + 1": in_3 = 0.2122 + (0.1449)(0.4) + (0.1561)(0.5) = 0.34821, g ≈ 0.5862
    updated = make_network([values["W1_new"]], [values["W01_new"]], "sigmoid")
    after = chain_pass(updated, x, y, "squared", 0.5, round_to=4)
    assert forward(updated, x).Z[1][0, 0] == pytest.approx(0.34821, abs=1e-12)
    assert after["A1"][0, 0] == 0.5862


# --- sums that cancel ---------------------------------------------------------------------------


def test_has_tiny_finds_a_tiny_entry_in_small_and_large_arrays_even_after_a_nan():
    from nncore.cancellation import has_tiny

    assert has_tiny(np.array([[np.nan], [1e-17]]))  # Python's min would stop at the NaN
    assert not has_tiny(np.array([[np.nan], [0.5]]))
    assert has_tiny(np.array([0.5, -2e-10])) and not has_tiny(np.array([0.5, -2e-9]))
    big = np.full((8, 32), 0.5)
    assert not has_tiny(big)
    big[7, 31] = 0.0
    assert has_tiny(big) and not has_tiny(np.empty((0, 1)))


def test_snap_cancelled_zeroes_only_sums_within_their_rounding_error():
    from nncore.cancellation import snap_cancelled

    M = np.array([[-1.0, 1.0], [1e-12, 0.0]])
    a = np.array([[-1.0], [-0.7]])
    b = np.array([[-0.3], [0.0]])
    z = M @ a + b  # [-0.3 + 1 - 0.7 (5.55e-17, rounding noise), -1e-12 (a real, tiny value)]
    assert z[0, 0] != 0.0 and z[1, 0] == -1e-12
    snapped = snap_cancelled(z, M, a, b)
    assert snapped[0, 0] == 0.0 and snapped[1, 0] == -1e-12
    big = np.array([[0.5]])
    assert snap_cancelled(big, np.ones((1, 1)), np.ones((1, 1)), np.zeros((1, 1))) is big  # nothing tiny: untouched


# --- graded through the autograder: error carried forward in the forward kinds, named mistakes ---


def student_fields(instance: dict, quantities: dict[str, np.ndarray]) -> dict:
    """What a student types for every field, from their own whole quantities (Z1, A1, ..., L)."""
    sizes = instance["prompt"]["data"]["network"]["sizes"]
    out = {}
    for name in instance["answers"]:
        quantity, entry, _ = parse_field(name, sizes)
        value = pick(quantities, quantity, entry)
        out[name] = float(value.reshape(())) if value.size == 1 else value.reshape(-1).tolist()
    return out


def forward_by_hand(data: dict, Z1: np.ndarray) -> dict[str, np.ndarray]:
    """A sigmoid 2-2-1 net's forward pass and squared loss written out from a given Z^1:
    a_j = σ(in_j), in_k = w_{0,k} + Σ_j w_{j,k} a_j, (y - a_k)²."""
    net = network_from_dict(data["network"])
    W2, W02 = net.layer(2).W, net.layer(2).W0
    A1 = sigmoid(Z1)
    Z2 = W2.T @ A1 + W02
    A2 = sigmoid(Z2)
    y = np.asarray(data["y"], float).reshape(-1, 1)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "L": np.array(np.sum((y - A2) ** 2))}


@pytest.mark.parametrize("notation", NOTATIONS)
def test_forward_mlp_credits_later_layers_computed_from_the_students_own_layer_1(notation):
    """Layer 1's in_j off by 0.3, everything after it right from the student's own values:
    only the wrong in_j lose credit (QA: every later field was graded 0)."""
    from autograder.grading import CARRIED_ERROR, GradingPolicy, grade_submission

    kind = KIND_BY_ID["forward_mlp"]
    for seed in range(20):
        instance = kind.generate({"notation": notation}, seed)
        data = instance["prompt"]["data"]
        Z1 = layered_values(data)["Z1"] + 0.3
        answers = student_fields(instance, forward_by_hand(data, Z1))
        graded = grade_submission(instance, answers).fields
        off = grade_submission(instance, answers, GradingPolicy(error_carried_forward=False)).fields
        layer_1 = {"Z1"} if notation == "matrix" else {"in_3", "in_4"}
        carried = 0
        for name, result in graded.items():
            if name in layer_1:
                assert result["score"] == 0.0, (seed, name, result)
                continue
            assert result["score"] == 1.0, (seed, name, result)
            if not np.allclose(answers[name], instance["answers"][name], rtol=1e-2, atol=1e-8):
                # wrong against the reference (a saturated unit may hide the slip): the credit
                # is the carried error's
                assert result["message"] == CARRIED_ERROR, (seed, name, result)
                assert off[name]["score"] == 0.0, (seed, name)
                carried += 1
        assert carried >= 1, seed


@pytest.mark.parametrize("notation", NOTATIONS)
def test_loss_value_credits_the_loss_of_the_students_own_output(notation):
    from autograder.grading import CARRIED_ERROR, grade_submission

    kind = KIND_BY_ID["loss_value"]
    output = "A2" if notation == "matrix" else "a_5"
    for seed in range(20):
        instance = kind.generate({"notation": notation}, seed)
        data = instance["prompt"]["data"]
        A2 = layered_values(data)["A2"]
        mine = np.clip(A2 + (0.15 if A2[0, 0] < 0.5 else -0.15), 0.01, 0.99)
        y = data["y"][0]
        answers = {output: float(mine[0, 0]), "L": float((y - mine[0, 0]) ** 2)}
        graded = grade_submission(instance, answers).fields
        assert graded[output]["score"] == 0.0, seed
        assert graded["L"]["score"] == 1.0 and graded["L"]["message"] == CARRIED_ERROR, (seed, graded["L"])
        # a loss that follows from neither output stays wrong
        graded = grade_submission(instance, {**answers, "L": answers["L"] * 1.1 + 0.05}).fields
        assert graded["L"]["score"] == 0.0, seed


def test_loss_value_carries_an_nll_output_and_survives_an_impossible_one():
    from autograder.grading import grade_submission

    kind = KIND_BY_ID["loss_value"]
    for seed in range(10):
        instance = kind.generate({"loss": "nll", "notation": "matrix"}, seed)
        y = instance["prompt"]["data"]["y"][0]
        g = 0.3 if instance["answers"]["A2"] > 0.5 else 0.8
        nll = -(y * np.log(g) + (1 - y) * np.log(1 - g))
        graded = grade_submission(instance, {"A2": g, "L": float(nll)}).fields
        assert graded["A2"]["score"] == 0.0 and graded["L"]["score"] == 1.0, (seed, graded)
        # an output of 1.5 has no NLL: nothing is carried, the loss is judged on its own
        graded = grade_submission(instance, {"A2": 1.5, "L": instance["answers"]["L"]})
        assert graded.status == "graded" and graded.fields["L"]["score"] == 1.0, seed


def _misconception_of(instance: dict, answers: dict) -> dict:
    from autograder.grading import grade_submission

    return {name: result["misconception"] for name, result in grade_submission(instance, answers).fields.items()}


@pytest.mark.parametrize("notation", NOTATIONS)
def test_forward_mlp_names_w_for_w_transposed_on_a_square_layer_beside_a_one_unit_layer(notation):
    """2-2-1: W^1 is square, so Z^1 = W^1 x + W_0^1 is a mistake the shapes allow; it was not
    modelled because the output layer has one unit (chain.transpose_matters)."""
    kind = KIND_BY_ID["forward_mlp"]
    named = 0
    for seed in range(30):
        instance = kind.generate({"notation": notation}, seed)
        data = instance["prompt"]["data"]
        net = network_from_dict(data["network"])
        W1, W01 = net.layer(1).W, net.layer(1).W0
        x = np.asarray(data["x"], float).reshape(-1, 1)
        mine = forward_by_hand(data, W1 @ x + W01)  # W^1 instead of (W^1)^T
        right = layered_values(data)
        if np.allclose(mine["Z1"], right["Z1"], rtol=1e-2, atol=1e-8):
            continue  # a symmetric W^1 (or one whose swap the input hides): nothing to name
        answers = student_fields(instance, mine)
        named_by_field = _misconception_of(instance, answers)
        layer_1 = ["Z1"] if notation == "matrix" else ["in_3", "in_4"]
        changed = [n for n in layer_1 if not np.allclose(answers[n], instance["answers"][n], rtol=1e-2, atol=1e-8)]
        assert changed and all(named_by_field[n] == "w_not_transposed" for n in changed), (seed, named_by_field)
        named += 1
    assert named >= 20


def test_the_transpose_mistake_is_left_out_where_no_layer_is_square():
    for kind_id, sizes in (("forward_mlp", [2, 3, 1]), ("forward_mlp", [3, 2, 1]), ("loss_value", [2, 3, 1]), ("forward_layer", [3, 2])):
        for seed in range(10):
            instance = KIND_BY_ID[kind_id].generate({"sizes": sizes}, seed)
            assert "w_not_transposed" not in {m["id"] for m in instance["misconceptions"]}, (kind_id, sizes, seed)


def test_loss_value_names_w_for_w_transposed():
    kind = KIND_BY_ID["loss_value"]
    named = 0
    for seed in range(30):
        instance = kind.generate({"notation": "matrix"}, seed)
        data = instance["prompt"]["data"]
        net = network_from_dict(data["network"])
        x = np.asarray(data["x"], float).reshape(-1, 1)
        mine = forward_by_hand(data, net.layer(1).W @ x + net.layer(1).W0)
        answers = {"A2": float(mine["A2"][0, 0]), "L": float(mine["L"])}
        if np.isclose(answers["A2"], instance["answers"]["A2"], rtol=1e-2, atol=1e-8):
            continue
        assert _misconception_of(instance, answers)["A2"] == "w_not_transposed", seed
        named += 1
    assert named >= 15


@pytest.mark.parametrize("notation", NOTATIONS)
def test_hidden_delta_names_a_forgotten_g_prime(notation):
    """Δ_j = Σ_j' w_{j,j'} Δ_j' without g'(in_j), with the right output Δ_5, is named."""
    from autograder.grading import grade_submission

    kind = KIND_BY_ID["hidden_delta"]
    for seed in range(30):
        instance = kind.generate({"notation": notation}, seed)  # 2-2-1 sigmoid, squared loss
        data = instance["prompt"]["data"]
        v = layered_values(data)
        a5, y = float(v["A2"][0, 0]), float(data["y"][0])
        delta_5 = -2 * (y - a5) * a5 * (1 - a5)
        w35, w45 = (row[0] for row in data["network"]["layers"][1]["W"])
        mine = {"D1": np.array([[w35 * delta_5], [w45 * delta_5]])}
        answers = student_fields(instance, mine)
        explanation = next(m["explanation"] for m in instance["misconceptions"] if m["id"] == "forgot_gprime")
        assert ("g'(in_j)" if notation == "graph" else "f'(Z^l)") in explanation  # the question's notation
        for name, result in grade_submission(instance, answers).fields.items():
            assert result["score"] == 0.0, (seed, name)
            # named first, or beside a mistake that happens to give the same number (σ' = σ
            # when a_j is near 1 - a_5)
            assert result["misconception"] == "forgot_gprime" or explanation in result["message"], (seed, name, result)


def test_hidden_delta_forgotten_g_prime_only_where_it_changes_something():
    """An identity hidden layer has g' = 1: leaving it out is no mistake there."""
    kind = KIND_BY_ID["hidden_delta"]
    for seed in range(10):
        instance = kind.generate({"hidden": "identity"}, seed)
        assert "forgot_gprime" not in {m["id"] for m in instance["misconceptions"]}, seed
        instance = kind.generate({"hidden": "tanh"}, seed)
        assert "forgot_gprime" in {m["id"] for m in instance["misconceptions"]}, seed


# --- forgot g'(in_j) in the kinds that ask what follows from a hidden Δ ----------------------------


def forgot_gprime_by_hand(data: dict) -> dict[str, np.ndarray]:
    """The chain of a student who leaves g'(in_j) out of every hidden Δ_j (the output Δ right):
    Δ_j = Σ_j' w_{j,j'} Δ_j', then ∂J/∂w_{i,j} = Δ_j a_i and w_{i,j} - α Δ_j a_i from it."""
    net = network_from_dict(data["network"])
    exact = layered_values(data)
    x = np.asarray(data["x"], float).reshape(-1, 1)
    A = [x] + [exact[f"A{l}"] for l in range(1, net.depth + 1)]
    wrong = {f"D{net.depth}": exact[f"D{net.depth}"]}
    for l in range(net.depth - 1, 0, -1):
        wrong[f"D{l}"] = net.layer(l + 1).W @ wrong[f"D{l + 1}"]
    for l, layer in enumerate(net.layers, start=1):
        wrong[f"dW{l}"], wrong[f"dW0{l}"] = A[l - 1] @ wrong[f"D{l}"].T, wrong[f"D{l}"]
        wrong[f"W{l}_new"] = layer.W - data["lr"] * wrong[f"dW{l}"]
        wrong[f"W0{l}_new"] = layer.W0 - data["lr"] * wrong[f"dW0{l}"]
    return {**exact, **wrong}


def shaped_fields(instance: dict, quantities: dict[str, np.ndarray]) -> dict:
    """student_fields with each answer shaped as its field (a matrix field as rows)."""
    shapes = {f["name"]: f["shape"] for f in instance["fields"]}
    flat = student_fields(instance, quantities)
    return {n: np.reshape(v, shapes[n]).tolist() if len(shapes[n]) == 2 else v for n, v in flat.items()}


def moved(instance: dict, name: str, value) -> bool:
    """Whether a grader tells `value` from the field's answer: beyond the 1 % tolerance, or for
    an updated weight beyond what its step allows (base.step_close)."""
    from nncore.problems.base import step_close

    answer = instance["answers"][name]
    step_from = next(f.get("step_from") for f in instance["fields"] if f["name"] == name)
    far = not np.allclose(value, answer, rtol=1e-2, atol=1e-8)
    return far or (step_from is not None and not step_close(value, answer, step_from))


FORGOT_GPRIME_CASES = [
    ("backprop_chain", {}),
    ("backprop_chain", {"sizes": [2, 2, 2, 1], "hidden": "tanh"}),  # Δ^1 from a wrong Δ^2
    ("layer_gradient", {}),
    ("layer_gradient", {"sizes": [2, 3, 2, 1], "layer": 2}),
    ("weight_gradient", {}),
    ("sgd_update", {}),
    ("sgd_update", {"target": "layer"}),
]


@pytest.mark.parametrize(("kind_id", "params"), FORGOT_GPRIME_CASES)
@pytest.mark.parametrize("notation", NOTATIONS)
def test_forgotten_g_prime_is_named_where_a_hidden_delta_is_used(kind_id, params, notation):
    """A hidden Δ_j without g'(in_j), carried into the earlier Δ, the gradients and the update as
    the student would: every field it changes is graded 0 and named (QA: these kinds graded it 0
    with no feedback; only hidden_delta named it)."""
    kind = KIND_BY_ID[kind_id]
    named = 0
    for seed in range(30):
        instance = kind.generate({**params, "notation": notation}, seed)
        mine = shaped_fields(instance, forgot_gprime_by_hand(instance["prompt"]["data"]))
        mistake = graded_as_named(instance, mine, "forgot_gprime", seed)
        if mistake is None:
            continue
        assert set(changed_fields(instance, mine)) <= set(mistake["answers"]), seed
        assert ("g'(in_j)" if notation == "graph" else "f'(Z^l)") in mistake["explanation"]  # the question's notation
        named += 1
    assert named >= 20, named


def changed_fields(instance: dict, mine: dict) -> list[str]:
    """The fields a mistake's by-hand answers `mine` move off the right answers."""
    return [n for n, v in mine.items() if moved(instance, n, v)]


def graded_as_named(instance: dict, mine: dict, mistake_id: str, seed: int) -> dict | None:
    """Check a modelled mistake against the by-hand answers `mine`: its stored answers match
    them, and every field they move is graded 0 with the mistake named (first, or beside one
    that happens to give the same number). The misconception; None when no field moves."""
    from autograder.grading import GradingPolicy, grade_submission

    changed = changed_fields(instance, mine)
    if not changed:
        return None
    mistake = next(m for m in instance["misconceptions"] if m["id"] == mistake_id)
    for name in changed:
        if name in mistake["answers"]:
            np.testing.assert_allclose(mistake["answers"][name], mine[name], rtol=1e-9, atol=1e-12, err_msg=f"{seed} {name}")
    graded = grade_submission(instance, mine, GradingPolicy(error_carried_forward=False)).fields
    for name in changed:
        result = graded[name]
        assert result["score"] == 0.0, (seed, name, result)
        assert result["misconception"] == mistake_id or mistake["explanation"] in result["message"], (seed, name, result)
    return mistake


def test_forgotten_g_prime_is_left_out_where_no_hidden_delta_is_asked():
    """The output layer's gradients and updates, and output_delta, use no hidden Δ."""
    cases = [("layer_gradient", {"layer": 2}), ("sgd_update", {"layer": 2}), ("output_delta", {}), ("weight_gradient", {"sizes": [3, 1]})]
    for kind_id, params in cases:
        for seed in range(10):
            instance = KIND_BY_ID[kind_id].generate(params, seed)
            assert "forgot_gprime" not in {m["id"] for m in instance["misconceptions"]}, (kind_id, seed)


# --- W for W^T going forward, carried into the backward kinds (2-2-1: W^1 square) -----------------


def transposed_forward_by_hand(data: dict) -> dict[str, np.ndarray]:
    """A sigmoid 2-2-1 net with squared loss where layer 1 took W^1 for (W^1)^T,
    in_j = w_{0,j} + Σ_i W^1_{j,i} a_i, and everything after it is the notes' formulas on the
    student's own values (W^2 is 2 x 1: it fits one way only)."""
    net = network_from_dict(data["network"])
    W1, W01 = net.layer(1).W, net.layer(1).W0
    W2, W02 = net.layer(2).W, net.layer(2).W0
    x = np.asarray(data["x"], float).reshape(-1, 1)
    Z1 = W1 @ x + W01
    out = dict(forward_by_hand(data, Z1))
    A1, A2 = out["A1"], out["A2"]
    y = np.asarray(data["y"], float).reshape(-1, 1)
    out["D2"] = -2.0 * (y - A2) * A2 * (1.0 - A2)
    out["D1"] = A1 * (1.0 - A1) * (W2 @ out["D2"])
    for l, (source, W, W0) in enumerate(((x, W1, W01), (A1, W2, W02)), start=1):
        out[f"dW{l}"], out[f"dW0{l}"] = source @ out[f"D{l}"].T, out[f"D{l}"]
        out[f"W{l}_new"] = W - data["lr"] * out[f"dW{l}"]
        out[f"W0{l}_new"] = W0 - data["lr"] * out[f"D{l}"]
    return out


BACKWARD_TRANSPOSE_CASES = [
    ("output_delta", {}),
    ("hidden_delta", {}),
    ("weight_gradient", {}),
    ("weight_gradient", {"layer": 2}),
    ("layer_gradient", {}),
    ("layer_gradient", {"layer": 2}),
    ("sgd_update", {}),
    ("sgd_update", {"target": "layer", "layer": 2}),
    ("backprop_chain", {}),
]


@pytest.mark.parametrize(("kind_id", "params"), BACKWARD_TRANSPOSE_CASES)
@pytest.mark.parametrize("notation", NOTATIONS)
def test_backward_kinds_name_w_for_w_transposed_on_a_2_2_1_net(kind_id, params, notation):
    """Z^1 = W^1 x + W_0^1 on a 2-2-1 net changes every Δ, gradient and update after it; the
    kinds asking those graded it 0 without naming it (only the forward kinds did)."""
    kind = KIND_BY_ID[kind_id]
    named = 0
    for seed in range(30):
        instance = kind.generate({**params, "notation": notation}, seed)
        mine = shaped_fields(instance, transposed_forward_by_hand(instance["prompt"]["data"]))
        # None: a W^1 whose swap the input hides, nothing to name
        named += graded_as_named(instance, mine, "w_not_transposed", seed) is not None
    assert named >= 15, named


# --- worked solutions and explanations in the question's notation ---------------------------------

MATRIX_SYMBOLS = ("W^", "Z^", "A^", "W_0", "^T", "\\odot", "bmatrix", "\\partial L/\\partial")
NOTATION_CASES = [
    {},
    {"sizes": [2, 3, 2, 1], "hidden": "tanh"},
    {"output": "softmax", "loss": "cross_entropy", "sizes": [2, 2, 3]},
    {"style": "random", "bias": False},
]


def _solution_text(instance: dict) -> str:
    return "\n".join(s["latex"] for s in instance["solution"])


@pytest.mark.parametrize("kind_id", list(KIND_BY_ID))
def test_graph_questions_get_graph_solutions_and_explanations(kind_id):
    """in_j, a_j, Δ_j, g'(in_j), ∂J/∂w_{i,j}, w_{i,j}^{(t+1)} as the prompt writes them; no
    W^l, Z^l, A^l or transpose anywhere (QA: graph questions were solved in matrix notation)."""
    kind = KIND_BY_ID[kind_id]
    for params in NOTATION_CASES:
        params = variant_params(kind, params)
        if params is None:
            continue
        for seed in range(10):
            instance = kind.generate({**params, "notation": "graph"}, seed)
            text = _solution_text(instance)
            assert "in_{" in text and "a_{" in text and "w_{" in text, (params, seed, text)
            asked = {q for q, _ in instance["prompt"]["data"]["quantities"].values()}
            if any(q[0] in "DdW" for q in asked):
                assert "\\Delta_{" in text and "\\partial J/\\partial in_{" in text, (params, seed, text)
                if len(instance["prompt"]["data"]["network"]["sizes"]) > 2:
                    assert "g'(in_{" in text, (params, seed, text)
            if any(q.startswith(("dW", "W")) for q in asked):
                assert "\\partial J/\\partial w_{" in text, (params, seed, text)
            if any(q.endswith("_new") for q in asked):
                assert "^{(t+1)}" in text, (params, seed, text)
            for m in instance["misconceptions"]:
                text += f"\n{m['name']}\n{m['explanation']}"
            assert not [s for s in MATRIX_SYMBOLS if s in text], (params, seed, text)


@pytest.mark.parametrize("kind_id", list(KIND_BY_ID))
def test_matrix_questions_keep_matrix_solutions_and_explanations(kind_id):
    from nncore.problems.chain import MISTAKES

    kind = KIND_BY_ID[kind_id]
    for seed in range(10):
        instance = kind.generate({"notation": "matrix"}, seed)
        text = _solution_text(instance)
        assert "Z^{1} = (W^{1})^T A^{0} + W_0^{1}" in text and "in_{" not in text, (seed, text)
        for m in instance["misconceptions"]:
            assert (m["name"], m["explanation"]) == MISTAKES[m["id"]], (seed, m["id"])


def test_the_transpose_mistake_is_explained_with_the_edges_of_w_i_j_in_graph_questions():
    kind = KIND_BY_ID["backprop_chain"]
    for notation in NOTATIONS:
        explanations = {
            m["explanation"]
            for seed in range(10)
            for m in kind.generate({"notation": notation}, seed)["misconceptions"]
            if m["id"] == "w_not_transposed"
        }
        assert len(explanations) == 1, (notation, explanations)
        (explanation,) = explanations
        if notation == "graph":
            assert "in_j = w_{0,j} + Σ_i w_{i,j} a_i" in explanation and "g'(in_j)" in explanation
        else:
            assert "(W^l)^T A^{l−1}" in explanation
