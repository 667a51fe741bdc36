"""Tests for nncore.problems.training_kinds.

Every reference answer is recomputed from the instance's prompt.data with the graph-notation
engine (nncore.graphnet: forward_neurons / backward_neurons, one example at a time, edge by
edge), independently of nncore.updates, nncore.symmetry and nncore.network.backward which the
kinds use; initialisation scales are recomputed from the published formulas and checked
against what nncore.init actually samples.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest

from nncore.graphnet import NeuronNetwork, backward_neurons, forward_neurons
from nncore.init import initial_weights
from nncore.network import forward, network_from_dict
from nncore.notation import (
    WeightRef,
    from_neuron_network,
    neuron_ids,
    ref_to_edge,
    to_neuron_network,
)
from nncore.problems import get_kind
from nncore.problems.base import ParamError, to_json
from nncore.problems.training_kinds import (
    KINDS,
    GradientClipping,
    InitScale,
    MinibatchUpdate,
    SgdSteps,
    SymmetryBreaking,
    WeightDecayUpdate,
    engine_scale,
)

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("catalogue_contract", _HERE / "test_catalogue.py")
contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(contract)

EXACT = {"rtol": 1e-9, "atol": 1e-12}
SEEDS = range(12)
VARIANTS = [
    {},
    {"notation": "matrix"},
    {"style": "random"},
    {"notation": "matrix", "style": "random"},
]


# --- an independent engine: graph notation, edge by edge -------------------------------------------


def graph_of(data: dict, bias: bool = True) -> tuple[list[int], NeuronNetwork]:
    """The instance's network as a NeuronNetwork; a bias-free net gets fixed (untrained) w_{0,j}."""
    net = network_from_dict(data["network"])
    graph = to_neuron_network(net)
    if not bias:
        graph = dataclasses.replace(graph, fixed=frozenset(e for e in graph.weights if e[0] == 0))
    return net.sizes, graph


def edge_grads(graph: NeuronNetwork, x, y, loss: str) -> dict:
    """∂ℓ/∂w_{i,j} = Δ_j a_i of one example (trainable edges only)."""
    return backward_neurons(graph, forward_neurons(graph, x), y, loss).grad


def with_weights(graph: NeuronNetwork, weights: dict) -> NeuronNetwork:
    return dataclasses.replace(graph, weights=dict(weights))


def sgd(graph: NeuronNetwork, x, y, loss: str, lr: float) -> NeuronNetwork:
    grads = edge_grads(graph, x, y, loss)
    return with_weights(graph, {e: w - lr * grads.get(e, 0.0) for e, w in graph.weights.items()})


def value_at(sizes: list[int], weights: dict, item: list):
    """The value of an asked address [l, kind, row, col] (row None: the whole W^l or W_0^l)."""
    l, kind, row, col = item
    ids = neuron_ids(sizes)
    if row is None:
        if kind == "W":
            M = np.array([[weights[(i, j)] for j in ids[l]] for i in ids[l - 1]])
        else:
            M = np.array([[weights[(0, j)]] for j in ids[l]])
        if M.shape[1] == 1:
            v = M[:, 0]
            return float(v[0]) if v.size == 1 else v
        return M
    return weights[ref_to_edge(sizes, WeightRef(l, kind, row, col))]


def assert_fields(instance: dict, expected: dict) -> None:
    assert set(expected) == set(instance["answers"])
    for name, value in expected.items():
        np.testing.assert_allclose(instance["answers"][name], value, **EXACT, err_msg=name)


def columns(rows) -> np.ndarray:
    return np.asarray(rows, dtype=float).T


def misconception(instance: dict, mid: str) -> dict | None:
    return next((m["answers"] for m in instance["misconceptions"] if m["id"] == mid), None)


# --- the contract (the catalogue's checks, before the kinds are registered) ----------------------------


@pytest.mark.parametrize("kind_cls", KINDS, ids=lambda k: k.id)
def test_instances_keep_the_contract_and_are_deterministic(kind_cls):
    kind = kind_cls()
    for params in VARIANTS if any(p.name == "notation" for p in kind.params) else [{}]:
        texts = set()
        for seed in SEEDS:
            instance = kind.generate(params, seed)
            contract.check_instance(kind, instance, params, seed)
            assert to_json(kind.generate(params, seed)) == to_json(instance), (params, seed)
            texts.add(instance["prompt"]["text"])
        assert len(texts) > 1, "the seed is ignored"


@pytest.mark.parametrize("kind_cls", KINDS, ids=lambda k: k.id)
def test_single_parameter_variations_generate_or_refuse(kind_cls):
    kind = kind_cls()
    for params in contract.single_variations(kind):
        try:
            instance = kind.generate(params, 0)
        except ParamError as exc:
            assert any(p.name in str(exc) for p in kind.params), f"{params}: {exc}"
            continue
        contract.check_instance(kind, instance, params, 0)


@pytest.mark.parametrize("kind_cls", KINDS, ids=lambda k: k.id)
def test_invalid_parameters_raise_param_error_naming_them(kind_cls):
    kind = kind_cls()
    for description, params, name in contract.invalid_param_cases(kind):
        with pytest.raises(ParamError) as caught:
            kind.generate(params, 0)
        assert re.search(rf"\b{re.escape(name)}\b", str(caught.value)), description


@pytest.mark.parametrize(
    ("kind_cls", "params", "name"),
    [
        (MinibatchUpdate, {"layer": 3}, "layer"),
        (WeightDecayUpdate, {"sizes": [2, 1], "layer": 2}, "layer"),
        (MinibatchUpdate, {"sizes": [3]}, "sizes"),
        (MinibatchUpdate, {"loss": "nll", "output": "identity"}, "nll"),
        (SgdSteps, {"sizes": [3, 3, 1]}, "sizes"),
        (SgdSteps, {"steps": 4}, "steps"),
        (GradientClipping, {"dims": [1]}, "dims"),
        (GradientClipping, {"dims": [1, 1]}, "dims"),
        (GradientClipping, {"dims": [2, 2, 2]}, "dims"),
        (SymmetryBreaking, {"sizes": [2, 1]}, "sizes"),
        (SymmetryBreaking, {"sizes": [2, 1, 1]}, "sizes"),
        (SymmetryBreaking, {"init": "ones"}, "init"),
        (InitScale, {"scheme": "lecun"}, "scheme"),
        (WeightDecayUpdate, {"lam": -0.1}, "lam"),
    ],
)
def test_cross_parameter_checks(kind_cls, params, name):
    with pytest.raises(ParamError, match=re.escape(name)):
        kind_cls().generate(params, 0)


@pytest.mark.parametrize("params", [{"lr": 0.5, "lam": 1.0}, {"lr": 0.5, "lam": 1.5}])
def test_weight_decay_that_zeroes_or_flips_every_weight_is_refused_only_when_saved(params):
    """2·lr·lam >= 1 makes the decay factor 1 - 2αλ zero or negative: refused for new questions,
    while one saved with it before keeps drawing for its students (review: a refusal in
    check_params gave them a 503)."""
    kind = WeightDecayUpdate()
    with pytest.raises(ParamError, match=re.escape("2·lr·lam below 1")):
        kind.check_new_params(kind.validate_params(params))
    assert kind.generate(params, 0)["answers"]


# --- reference answers, recomputed independently ---------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"target": "layer"},
        {"target": "layer", "notation": "matrix", "batch": 3},
        {"layer": 2, "bias": False, "style": "random"},
        {
            "sizes": [2, 3, 2],
            "output": "softmax",
            "loss": "cross_entropy",
            "hidden": "relu",
            "target": "layer",
            "batch": 4,
        },
    ],
)
def test_minibatch_update_is_the_mean_of_per_example_gradients(params):
    kind = MinibatchUpdate()
    for seed in SEEDS:
        instance = kind.generate(params, seed)
        data = instance["prompt"]["data"]
        sizes, graph = graph_of(data)
        X, Y = columns(data["X"]), columns(data["Y"])
        B = X.shape[1]
        per_example = [edge_grads(graph, X[:, e], Y[:, e], data["loss"]) for e in range(B)]
        lr = data["lr"]
        mean = {e: sum(g[e] for g in per_example) / B for e in graph.weights}
        new = {e: w - lr * mean[e] for e, w in graph.weights.items()}
        assert_fields(
            instance, {name: value_at(sizes, new, item) for name, item in data["asked"].items()}
        )

        summed = {e: w - lr * B * mean[e] for e, w in graph.weights.items()}
        first = {e: w - lr * per_example[0][e] for e, w in graph.weights.items()}
        for mid, weights in (("summed_not_averaged", summed), ("first_example_only", first)):
            wrong = misconception(instance, mid)
            if wrong is not None:
                for name, value in wrong.items():
                    np.testing.assert_allclose(
                        value, value_at(sizes, weights, data["asked"][name]), **EXACT
                    )
        plus = misconception(instance, "plus_update") or {}
        for name, value in plus.items():
            before = value_at(sizes, graph.weights, data["asked"][name])
            reflected = 2 * np.asarray(before) - np.asarray(instance["answers"][name])
            np.testing.assert_allclose(value, reflected, rtol=1e-9, atol=1e-10)


def test_minibatch_prompt_defines_the_batch_cost_and_mistakes_are_present():
    instance = MinibatchUpdate().generate({"target": "layer", "lr": 1.0}, 4)
    assert "\\frac{1}{|B|}" in instance["prompt"]["text"]
    ids = {m["id"] for m in instance["misconceptions"]}
    assert {"summed_not_averaged", "plus_update"} <= ids


@pytest.mark.parametrize("include_bias", [True, False])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"notation": "matrix"},
        {"target": "weight", "layer": 1},
        {"lam": 0.5, "style": "random", "layer": 1},
    ],
)
def test_weight_decay_update_follows_002(params, include_bias):
    kind = WeightDecayUpdate()
    for seed in SEEDS:
        instance = kind.generate({**params, "include_bias": include_bias}, seed)
        data = instance["prompt"]["data"]
        assert data["include_bias"] is include_bias
        sizes, graph = graph_of(data)
        grads = edge_grads(graph, data["x"], data["y"], data["loss"])
        lr, lam = data["lr"], data["lam"]

        def step(lam_factor: float, decay_bias: bool, lr=lr, lam=lam, grads=grads, graph=graph):
            return {
                e: w
                - lr * grads[e]
                - (2 * lr * lam * lam_factor * w if e[0] != 0 or decay_bias else 0.0)
                for e, w in graph.weights.items()
            }

        new = step(1.0, include_bias)
        assert_fields(
            instance, {name: value_at(sizes, new, item) for name, item in data["asked"].items()}
        )
        half = misconception(instance, "decay_without_2")
        if half is not None:
            for name, value in half.items():
                np.testing.assert_allclose(
                    value, value_at(sizes, step(0.5, include_bias), data["asked"][name]), **EXACT
                )
        other_id = "forgot_decay_on_biases" if include_bias else "applied_decay_to_biases"
        other = misconception(instance, other_id)
        if other is not None:
            for name, value in other.items():
                assert data["asked"][name][1] == "W0", (
                    "only bias fields depend on the bias convention"
                )
                np.testing.assert_allclose(
                    value,
                    value_at(sizes, step(1.0, not include_bias), data["asked"][name]),
                    **EXACT,
                )


def test_weight_decay_prompt_states_the_bias_convention():
    kind = WeightDecayUpdate()
    with_bias = kind.generate({"include_bias": True}, 0)["prompt"]["text"]
    without = kind.generate({"include_bias": False}, 0)["prompt"]["text"]
    assert "including the bias edges" in with_bias
    assert "not regularised" in without
    matrix = kind.generate({"include_bias": False, "notation": "matrix"}, 0)["prompt"]["text"]
    assert "biases $W_0^l$ are not regularised" in matrix


def test_weight_decay_bias_convention_misconception_changes_bias_fields():
    kind = WeightDecayUpdate()
    found = 0
    for seed in range(20):
        instance = kind.generate({"include_bias": True}, seed)
        wrong = misconception(instance, "forgot_decay_on_biases")
        if wrong:
            found += 1
            assert all(name.startswith("w_0_") for name in wrong)
    assert found > 10


def _graph_sgd_run(data: dict) -> list[dict]:
    sizes, graph = graph_of(data, bias=data["bias"])
    X, Y = columns(data["X"]), columns(data["Y"])
    runs = [dict(graph.weights)]
    for e in data["order"]:
        graph = sgd(graph, X[:, e], Y[:, e], data["loss"], data["lr"])
        runs.append(dict(graph.weights))
    return runs


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"notation": "matrix"},
        {"steps": 3, "examples": 3},
        {"sizes": [1, 1, 1], "output": "identity", "style": "random"},
        {"bias": False, "steps": 3},
        {"sizes": [1, 2, 1], "hidden": "relu", "output": "identity", "examples": 1},
    ],
)
def test_sgd_steps_are_sequential_updates(params):
    kind = SgdSteps()
    for seed in SEEDS:
        instance = kind.generate(params, seed)
        data = instance["prompt"]["data"]
        sizes = network_from_dict(data["network"]).sizes
        runs = _graph_sgd_run(data)
        expected = {
            name: value_at(sizes, runs[item[0]], item[1:]) for name, item in data["asked"].items()
        }
        assert_fields(instance, expected)
        assert len(data["order"]) == instance["params"]["steps"]
        # visiting order: a permutation of the examples, cycled when there are more steps
        m, sequence = len(data["X"]), data["order"]
        assert len(set(sequence[:m])) == len(sequence[:m])
        assert all(sequence[k] == sequence[k % m] for k in range(len(sequence)))
        assert all(0 <= e < m for e in sequence)


def test_sgd_steps_misconception_uses_initial_weights_for_every_gradient():
    kind = SgdSteps()
    checked = 0
    for seed in range(20):
        instance = kind.generate({"steps": 3}, seed)
        wrong = misconception(instance, "no_sequential_update")
        if wrong is None:
            continue
        data = instance["prompt"]["data"]
        sizes, graph = graph_of(data)
        X, Y = columns(data["X"]), columns(data["Y"])
        weights = dict(graph.weights)
        per_step = [dict(weights)]
        for e in data["order"]:
            grads = edge_grads(graph, X[:, e], Y[:, e], data["loss"])  # always at w^(0)
            weights = {k: w - data["lr"] * grads[k] for k, w in weights.items()}
            per_step.append(dict(weights))
        for name, value in wrong.items():
            item = data["asked"][name]
            assert item[0] >= 2, "step 1 is the same with or without the mistake"
            np.testing.assert_allclose(value, value_at(sizes, per_step[item[0]], item[1:]), **EXACT)
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("notation", ["graph", "matrix"])
def test_sgd_steps_recompute_carries_the_students_weights_forward(notation):
    kind = SgdSteps()
    for seed in range(8):
        instance = kind.generate({"notation": notation, "steps": 3}, seed)
        data = instance["prompt"]["data"]
        answers = instance["answers"]
        # exact answers carry forward to themselves
        again = kind.recompute(instance, answers)
        assert set(again) == set(answers)
        for name, value in again.items():
            np.testing.assert_allclose(value, answers[name], rtol=1e-9, atol=1e-12)

        # a wrong step 1: step 2 is one SGD step from the student's step-1 weights
        sizes, graph = graph_of(data)
        step1 = {n: it for n, it in data["asked"].items() if it[0] == 1}
        given = {n: (np.asarray(answers[n]) + 0.25).tolist() for n in step1}
        carried = kind.recompute(instance, given)
        wrong_weights = dict(graph.weights)
        for name, item in step1.items():
            l, kind_, row, col = item[1:]
            ids = neuron_ids(sizes)
            value = np.asarray(given[name], dtype=float)
            if row is None:
                if kind_ == "W":
                    M = value.reshape(len(ids[l - 1]), len(ids[l]))
                    for r, i in enumerate(ids[l - 1]):
                        for c, j in enumerate(ids[l]):
                            wrong_weights[(i, j)] = M[r, c]
                else:
                    for c, j in enumerate(ids[l]):
                        wrong_weights[(0, j)] = value.reshape(-1)[c]
            else:
                wrong_weights[ref_to_edge(sizes, WeightRef(l, kind_, row, col))] = float(value)
        X, Y = columns(data["X"]), columns(data["Y"])
        e = data["order"][1]
        after = sgd(
            with_weights(graph, wrong_weights), X[:, e], Y[:, e], data["loss"], data["lr"]
        ).weights
        for name, item in data["asked"].items():
            if item[0] == 1:
                np.testing.assert_allclose(carried[name], answers[name], **EXACT)
            elif item[0] == 2:
                np.testing.assert_allclose(carried[name], value_at(sizes, after, item[1:]), **EXACT)
                assert not np.allclose(carried[name], answers[name], rtol=1e-6), (
                    "the error was not carried"
                )


def test_sgd_steps_recompute_ignores_missing_and_malformed_values():
    kind = SgdSteps()
    instance = kind.generate({}, 3)
    answers = instance["answers"]
    step1 = [n for n, it in instance["prompt"]["data"]["asked"].items() if it[0] == 1]
    given = {step1[0]: "abc", step1[1]: float("nan")}
    carried = kind.recompute(instance, given)
    for name, value in carried.items():
        np.testing.assert_allclose(value, answers[name], rtol=1e-9, atol=1e-12)
    assert kind.recompute(instance, {}) == pytest.approx(answers)


def test_sgd_steps_fields_depend_on_the_previous_step():
    instance = SgdSteps().generate({"steps": 3}, 0)
    asked = instance["prompt"]["data"]["asked"]
    for field in instance["fields"]:
        k = asked[field["name"]][0]
        deps = field.get("depends_on", [])
        assert all(asked[d][0] == k - 1 for d in deps)
        assert bool(deps) == (k > 1)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"dims": [2, 3]},
        {"dims": [5], "style": "random"},
        {"regime": "no_clip"},
        {"source": "network"},
        {"source": "network", "sizes": [2, 2, 1], "notation": "matrix"},
        {"source": "network", "bias": False, "sizes": [2, 2, 1]},
        {"source": "network", "regime": "no_clip", "style": "random"},
    ],
)
def test_gradient_clipping_rescales_to_tau(params):
    kind = GradientClipping()
    for seed in SEEDS:
        instance = kind.generate(params, seed)
        data = instance["prompt"]["data"]
        tau = data["tau"]
        if "gradient" in data:
            G = np.asarray(data["gradient"], dtype=float)
            norm = float(np.sqrt(np.sum(G**2)))
            expected = {"clipped": G * min(1.0, tau / norm)}
        else:
            bias = instance["params"]["bias"]
            sizes, graph = graph_of(data, bias=bias)
            grads = edge_grads(graph, data["x"], data["y"], data["loss"])
            norm = math.sqrt(sum(g**2 for g in grads.values()))
            scaled = {e: grads.get(e, 0.0) * min(1.0, tau / norm) for e in graph.weights}
            expected = {name: value_at(sizes, scaled, item) for name, item in data["asked"].items()}
        assert_fields(instance, {"norm": norm, **expected})
        if instance["params"]["regime"] == "clip":
            assert norm > tau
            wrong = misconception(instance, "forgot_tau")
            if "gradient" in data and wrong:
                np.testing.assert_allclose(wrong["clipped"], G / norm, **EXACT)
        else:
            assert norm <= tau
            assert misconception(instance, "always_rescale") is not None


def test_gradient_clipping_entrywise_mistake():
    instance = GradientClipping().generate({"dims": [4]}, 5)
    G = np.asarray(instance["prompt"]["data"]["gradient"])
    tau = instance["prompt"]["data"]["tau"]
    wrong = misconception(instance, "clip_entries")
    assert wrong is not None
    np.testing.assert_allclose(wrong["clipped"], np.clip(G, -tau, tau))


def _tied_units_by_graph(data: dict) -> tuple[set[str], dict]:
    """Hidden units tied (equal incoming, bias and outgoing weights) at EVERY step, by SGD in
    graph notation; returns the unit ids and the final weights."""
    net = network_from_dict(data["network"])
    sizes = net.sizes
    ids = neuron_ids(sizes)
    graph = to_neuron_network(net)
    X, Y = columns(data["X"]), columns(data["Y"])
    m = X.shape[1]
    snapshots = [dict(graph.weights)]
    for t in range(data["steps"]):
        e = data["order"][t % m]
        graph = sgd(graph, X[:, e], Y[:, e], data["loss"], data["lr"])
        snapshots.append(dict(graph.weights))

    def signature(w: dict, l: int, j: int) -> tuple:
        incoming = [w[(i, j)] for i in [0, *ids[l - 1]]]
        outgoing = [w[(j, k)] for k in ids[l + 1]]
        return tuple(incoming + outgoing)

    tied = set()
    for l in range(1, len(sizes) - 1):
        for a, j in enumerate(ids[l]):
            for k in ids[l][a + 1 :]:
                if all(signature(w, l, j) == signature(w, l, k) for w in snapshots):
                    for c, unit in ((ids[l].index(j), j), (ids[l].index(k), k)):
                        tied.add(f"a_{unit}" if data["notation"] == "graph" else f"A{l}_{c + 1}")
    return tied, snapshots[-1]


@pytest.mark.parametrize("init", ["any", "zeros", "constant", "tied", "partial", "random"])
@pytest.mark.parametrize("notation", ["graph", "matrix"])
def test_symmetry_breaking_answers_follow_training(init, notation):
    kind = SymmetryBreaking()
    expected_break = {
        "zeros": "no",
        "constant": "no",
        "tied": "no",
        "partial": "yes",
        "random": "yes",
    }
    for seed in SEEDS:
        instance = kind.generate({"init": init, "notation": notation, "steps": 3}, seed)
        data, answers = instance["prompt"]["data"], instance["answers"]
        tied, final = _tied_units_by_graph(data)
        assert answers["breaks"] == ("yes" if not tied else "no")
        assert sorted(answers["tied_units"]) == (sorted(tied) if tied else ["none"])
        assert answers["breaks"] == expected_break[data["init"]]
        sizes = network_from_dict(data["network"]).sizes
        np.testing.assert_allclose(answers["weight"], value_at(sizes, final, data["asked"]["weight"]), **EXACT)
        if answers["breaks"] == "no":
            assert misconception(instance, "training_breaks_tie") == {
                "breaks": "yes",
                "tied_units": ["none"],
            }
        if data["init"] == "constant":
            assert misconception(instance, "nonzero_equal_breaks") is not None
        if data["init"] == "partial":
            assert misconception(instance, "equal_incoming_is_tied")["breaks"] == "no"


@pytest.mark.parametrize("notation", ["graph", "matrix"])
def test_symmetry_breaking_asks_the_same_question_whatever_the_ties(notation):
    """QA: part (c) existed only when units stayed tied and its label named the tied partner
    ("w_{1,3} (equal to w_{1,4})"): the form gave parts (a) and (b) away. Now every
    initialisation gets the same fields, and (c) names one weight and nothing else."""
    asked_kinds = {}
    for init in SymmetryBreaking.INITS:
        asked_kinds[init] = set()
        for seed in range(30):
            instance = SymmetryBreaking().generate({"init": init, "notation": notation}, seed)
            fields = instance["fields"]
            assert [f["name"] for f in fields] == ["breaks", "tied_units", "weight"]
            label = fields[2]["label"]
            assert re.fullmatch(r"\$[^$]+\$", label), label
            assert "equal" not in label and "tied" not in instance["prompt"]["text"].split("(c)")[1]
            layer, kind, row, _col = instance["prompt"]["data"]["asked"]["weight"]
            asked_kinds[init].add(kind if kind == "W0" else ("in" if layer == 1 else "out"))
    # which weight is asked does not depend on the initialisation either
    assert all(kinds == {"in", "W0", "out"} for kinds in asked_kinds.values()), asked_kinds


def test_symmetry_breaking_weight_is_graded_on_its_change_from_the_printed_weight():
    """Its change over the t steps, not over the last one: a ReLU unit idle on the last example
    leaves the weight as the step before had it, which no student can read off the prompt
    (review: then only 12 significant figures were right)."""
    for seed in range(10):
        instance = SymmetryBreaking().generate({"init": "partial", "steps": 2}, seed)
        field = instance["fields"][2]
        data = instance["prompt"]["data"]
        sizes = network_from_dict(data["network"]).sizes
        printed = _tied_units_by_graph(dict(data, steps=0))[1]
        assert field["step_from"] == pytest.approx(value_at(sizes, printed, data["asked"]["weight"]), rel=1e-12)


def test_symmetry_breaking_names_frozen_tied_weights():
    """A student who thinks tied weights stop moving gives the starting value: named when the
    asked weight belongs to a tied unit (it may be within the 1 % tolerance: the step decides)."""
    named = 0
    for seed in range(20):
        instance = SymmetryBreaking().generate({"init": "constant"}, seed)
        frozen = misconception(instance, "tied_weights_frozen")
        if frozen is not None:
            data = instance["prompt"]["data"]
            start = network_from_dict(data["network"])
            addr = data["asked"]["weight"]
            layer = start.layers[addr[0] - 1]
            expected = np.ravel(layer.W0)[addr[2]] if addr[1] == "W0" else layer.W[addr[2], addr[3]]
            assert frozen["weight"] == pytest.approx(float(expected))
            named += 1
    assert named >= 15


def test_symmetry_breaking_zero_init_ties_every_hidden_unit_as_in_002():
    instance = SymmetryBreaking().generate({"init": "zeros", "sizes": [2, 3, 1]}, 0)
    assert instance["answers"]["breaks"] == "no"
    assert sorted(instance["answers"]["tied_units"]) == ["a_3", "a_4", "a_5"]
    choice_ids = [c["id"] for c in instance["fields"][1]["choices"]]
    assert choice_ids == ["a_3", "a_4", "a_5", "none"]


def test_symmetry_breaking_states_the_kink_convention_when_a_kink_is_hit():
    instance = SymmetryBreaking().generate({"init": "zeros", "hidden": "relu"}, 0)
    assert "relu'(0) = 1" in instance["prompt"]["text"]


def test_symmetry_breaking_mixes_initialisations_by_default():
    inits = {SymmetryBreaking().generate({}, seed)["prompt"]["data"]["init"] for seed in range(40)}
    assert inits == set(SymmetryBreaking.INITS)


def test_init_scale_matches_the_formulas_and_the_engines_samples():
    formulas = {
        "xavier_uniform": lambda n_in, n_out: math.sqrt(6 / (n_in + n_out)),
        "xavier_normal": lambda n_in, n_out: math.sqrt(2 / (n_in + n_out)),
        "he_normal": lambda n_in, n_out: math.sqrt(2 / n_in),
        "he_uniform": lambda n_in, n_out: math.sqrt(6 / n_in),
    }
    for scheme, formula in formulas.items():
        for style in ("hand", "random"):
            for seed in range(10):
                instance = InitScale().generate({"scheme": scheme, "style": style}, seed)
                data = instance["prompt"]["data"]
                expected = formula(data["n_in"], data["n_out"])
                np.testing.assert_allclose(instance["answers"]["scale"], expected, **EXACT)
        # the scale is the one nncore.init samples with
        W, _ = initial_weights([200, 100], scheme, np.random.default_rng(0))
        scale = engine_scale(scheme, 200, 100)
        if scheme.endswith("uniform"):
            assert np.max(np.abs(W[0])) <= scale and np.max(np.abs(W[0])) > 0.99 * scale
        else:
            assert abs(np.std(W[0]) / scale - 1) < 0.02


def test_init_scale_misconceptions():
    instance = InitScale().generate({"scheme": "he_normal", "style": "random"}, 2)
    data = instance["prompt"]["data"]
    n_in, n_out = data["n_in"], data["n_out"]
    assert misconception(instance, "he_used_n_out")["scale"] == pytest.approx(math.sqrt(2 / n_out))
    assert misconception(instance, "swapped_xavier_he")["scale"] == pytest.approx(
        math.sqrt(2 / (n_in + n_out))
    )
    assert misconception(instance, "forgot_2")["scale"] == pytest.approx(math.sqrt(1 / n_in))
    xavier = InitScale().generate({"scheme": "xavier_uniform"}, 2)
    d = xavier["prompt"]["data"]
    assert misconception(xavier, "forgot_6")["scale"] == pytest.approx(
        math.sqrt(1 / (d["n_in"] + d["n_out"]))
    )


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_init_scale_choice_suits_the_activation(activation):
    for seed in range(10):
        instance = InitScale().generate({"ask": "choice", "activation": activation}, seed)
        data = instance["prompt"]["data"]
        if activation == "relu":
            assert instance["answers"]["scheme"] == "he"
            expected = math.sqrt(2 / data["n_in"])
        else:
            assert instance["answers"]["scheme"] == "xavier"
            expected = math.sqrt(2 / (data["n_in"] + data["n_out"]))
        np.testing.assert_allclose(instance["answers"]["std"], expected, **EXACT)
        assert (
            misconception(instance, "swapped_xavier_he")["scheme"] != instance["answers"]["scheme"]
        )


# --- hand instances over 1,000 seeds ---------------------------------------------------------------------

HAND_SEEDS = range(1000)


def _one_decimal(values) -> bool:
    a = np.asarray(values, dtype=float).ravel()
    return bool(np.allclose(a * 10, np.round(a * 10), atol=1e-9))


def _is_hand(values) -> bool:
    """Integers or one-decimal numbers in [-3, 3], as draw_values' hand style promises."""
    return _one_decimal(values) and bool(np.all(np.abs(np.asarray(values, dtype=float)) <= 3))


def _friendly(net, x) -> bool:
    trace = forward(net, x)
    for l, layer in enumerate(net.layers, start=1):
        if np.any(layer.activation.kinks(np.where(np.abs(trace.Z[l]) < 1e-9, 0.0, trace.Z[l]))):
            return False
        if layer.activation.name in ("sigmoid", "tanh") and np.any(np.abs(trace.Z[l]) > 4):
            return False
    return True


def _hand_network(data) -> bool:
    return all(
        _is_hand(layer["W"]) and _is_hand(layer["W0"]) for layer in data["network"]["layers"]
    )


@pytest.mark.parametrize(
    "kind_cls",
    [MinibatchUpdate, WeightDecayUpdate, SgdSteps, GradientClipping, SymmetryBreaking, InitScale],
    ids=lambda k: k.id,
)
def test_hand_instances_keep_their_promises(kind_cls):
    kind = kind_cls()
    params = {"source": "network"} if kind_cls is GradientClipping else {}
    for seed in HAND_SEEDS:
        instance = kind.generate(params, seed)
        data = instance["prompt"]["data"]
        if kind_cls is InitScale:
            assert instance["answers"]["scale"] in InitScale.NICE, seed
            continue
        net = network_from_dict(data["network"])
        assert _hand_network(data), seed
        inputs = (
            columns(data["X"]) if "X" in data else np.asarray(data["x"], dtype=float).reshape(-1, 1)
        )
        assert _is_hand(inputs), seed
        if kind_cls in (SgdSteps, SymmetryBreaking):
            # every step's example at that step's weights (α = 0.5): no saturation, and no kink
            # unless the prompt states the g'(0) convention (symmetry kind only)
            m = inputs.shape[1]
            sequence = [data["order"][t % m] for t in range(instance["params"]["steps"])]
            runs = _graph_sgd_run({**data, "order": sequence, "bias": data.get("bias", True)})
            stated = "'(0) =" in instance["prompt"]["text"]
            for t, e in enumerate(sequence):
                graph = with_weights(to_neuron_network(net), runs[t])
                at_t = from_neuron_network(graph, net.sizes)
                trace = forward(at_t, inputs[:, [e]])
                exact = [la.activation.kinks(trace.Z[l]) for l, la in enumerate(at_t.layers, 1)]
                kinked = any(np.any(k) for k in exact)
                assert not kinked or (kind_cls is SymmetryBreaking and stated), (seed, t)
                # near a kink but not on it: the engine's g' would not follow the convention
                assert _friendly(at_t, inputs[:, [e]]) or kinked, (seed, t)
        else:
            assert _friendly(net, inputs), seed


def test_hand_gradient_clipping_uses_one_decimal_values():
    kind = GradientClipping()
    for seed in HAND_SEEDS:
        data = kind.generate({}, seed)["prompt"]["data"]
        assert _is_hand(data["gradient"]) and _one_decimal(data["tau"]), seed
        assert data["tau"] > 0


def test_update_questions_do_not_accept_the_unchanged_weights():
    """With a normal α, answering the weights before the step must be graded wrong."""
    for kind_cls, params in (
        (MinibatchUpdate, {}),
        (MinibatchUpdate, {"target": "layer"}),
        (WeightDecayUpdate, {}),
        (SgdSteps, {}),
    ):
        kind = kind_cls()
        for seed in range(50):
            instance = kind.generate(params, seed)
            data = instance["prompt"]["data"]
            sizes, graph = graph_of(data)
            rtol = instance["tolerance"]["rtol"]
            moved = False
            for name, item in data["asked"].items():
                address = item[1:] if kind_cls is SgdSteps else item
                if kind_cls is SgdSteps and item[0] != 1:
                    continue
                before = np.asarray(value_at(sizes, graph.weights, address))
                after = np.asarray(instance["answers"][name])
                moved = moved or bool(np.any(np.abs(after - before) > rtol * np.abs(after)))
            assert moved, (kind_cls.id, seed)


def _written(value, figures: int):
    return np.asarray([float(f"{v:.{figures}g}") for v in np.ravel(value)]).reshape(np.shape(value))


def _calculator_step(layers, x, y, lr, figures, lam=0.0, decay_bias=False, keep_step=False):
    """One SGD step on a sigmoid network with the squared loss, as a student with a calculator
    does it: every value of the table (in_j, a_j, Δ_j, α Δ_j a_i, the new weights) written to
    `figures` significant figures before it is used (independent of the generators' code).
    `keep_step`: the new weights written as the old ones plus the step to `figures` figures,
    as the prompt asks (base.STEP_NOTE), not rounded as a whole."""
    r = lambda v: _written(v, figures)  # noqa: E731
    a = [np.asarray(x, dtype=float).reshape(-1, 1)]
    for W, W0 in layers:
        z = r(W.T @ a[-1] + W0)
        a.append(r(1 / (1 + np.exp(-z))))
    delta = r(-2 * (np.asarray(y, dtype=float).reshape(-1, 1) - a[-1]) * a[-1] * (1 - a[-1]))
    new = [None] * len(layers)
    for l in range(len(layers), 0, -1):
        W, W0 = layers[l - 1]
        dW, dW0 = r(a[l - 1] @ delta.T), delta
        if l > 1:
            delta = r(a[l - 1] * (1 - a[l - 1]) * (W @ delta))
        steps = (
            r(lr * dW) + (r(2 * lr * lam * W) if lam else 0),
            r(lr * dW0) + (r(2 * lr * lam * W0) if lam and decay_bias else 0),
        )
        new[l - 1] = tuple(
            M - r(step) if keep_step else r(M - step) for M, step in zip((W, W0), steps, strict=True)
        )
    return new


def _layers(data):
    return [(np.array(layer["W"], dtype=float), np.array(layer["W0"], dtype=float).reshape(-1, 1)) for layer in data["network"]["layers"]]


def _refused(result, exact: dict, before: dict, figures: int) -> dict:
    """The refused fields, except, at 3 figures, a new weight w - step that the subtraction makes
    less than half the size of its operands (0.2 - 0.137 - 0.02 = 0.043): their rounding errors,
    up to 0.5 % each, then add up to more than the 1 % tolerance of the result, whatever the
    order of rounding (a 4-figure calculation is accepted there too).
    Nor a new weight whose step is smaller than what that many figures show: the prompt asks
    for the step to two figures (base.STEP_NOTE), and the feedback says so (STEP_TOO_ROUGH)."""
    from autograder.answers.compare import STEP_TOO_ROUGH

    def cancels(name: str) -> bool:
        old, new = abs(before[name]), abs(exact[name])
        return old + abs(before[name] - exact[name]) > 2 * new

    return {
        name: field["message"]
        for name, field in result.fields.items()
        if field["score"] < 1 and not (figures == 3 and cancels(name)) and STEP_TOO_ROUGH not in field["message"]
    }


@pytest.mark.parametrize("figures", [3, 4])
def test_a_student_who_writes_every_value_to_3_or_4_figures_gets_full_marks(figures):
    """sgd_steps and weight_decay_update had no calculator paths: a full 3-figure calculation
    was refused on 2 of 50 seeds each (exploratory QA); now on 4 of 200 and 1 of 200, each a
    weight that cancels (see _refused)."""
    from autograder.grading import GradingPolicy, grade_submission

    def entry(layers, l, kind, row, col):
        W, W0 = layers[l - 1]
        return float((W if kind == "W" else W0)[row, col])

    for seed in range(100):
        inst = get_kind("sgd_steps").generate({}, seed)
        data = inst["prompt"]["data"]
        nets = [_layers(data)]
        for e in data["order"]:
            nets.append(_calculator_step(nets[-1], data["X"][e], data["Y"][e], data["lr"], figures))
        answers = {name: f"{entry(nets[k], *address):.{figures}g}" for name, (k, *address) in data["asked"].items()}
        before = {name: entry(nets[k - 1], *address) for name, (k, *address) in data["asked"].items()}
        result = grade_submission(inst, answers, GradingPolicy(error_carried_forward=False))
        assert _refused(result, inst["answers"], before, figures) == {}, seed

        inst = get_kind("weight_decay_update").generate({}, seed)
        data = inst["prompt"]["data"]
        layers = _layers(data)
        new = _calculator_step(layers, data["x"], data["y"], data["lr"], figures, data["lam"], data["include_bias"])
        answers = {name: f"{entry(new, *address):.{figures}g}" for name, address in data["asked"].items()}
        before = {name: entry(layers, *address) for name, address in data["asked"].items()}
        assert _refused(grade_submission(inst, answers), inst["answers"], before, figures) == {}, seed


@pytest.mark.parametrize(("lr", "lam"), [(0.05, 0.1), (0.1, 0.05), (0.25, 0.02), (0.5, 0.1)])
def test_weight_decay_draws_even_when_forgetting_the_decay_is_within_tolerance(lr, lam):
    """With 2αλ ≈ 1 % forgetting the decay moves each weight by about the tolerance, so every
    draw had a mistake passing as right and generation failed ('no valid instance in 200
    draws'): after MISTAKE_REDRAWS draws such a mistake's fields are dropped instead."""
    for seed in range(4):
        for params in ({"sizes": [2, 3, 2]}, {"sizes": [4, 4, 3], "style": "random"}):
            instance = get_kind("weight_decay_update").generate({"lr": lr, "lam": lam, **params}, seed)
            assert instance["answers"]


@pytest.mark.parametrize("kind_id", ["sgd_steps", "weight_decay_update"])
def test_calculator_paths_stay_near_the_exact_answer(kind_id):
    """A path far from the exact answer (a sigmoid written as 1.00 makes σ' = 0: -3.79 against
    -0.945) made graders accept everything in between: such draws are redrawn."""
    from nncore.problems.base import DEFAULT_TOLERANCE, FAR_PATH

    for params in ({"style": "random"}, {"lr": 2.0, "output": "identity", "style": "random", "sizes": [2, 2, 1]}):
        for seed in range(30):
            instance = get_kind(kind_id).generate(params, seed)
            for name, paths in instance["alternatives"].items():
                exact = np.asarray(instance["answers"][name])
                width = FAR_PATH * (DEFAULT_TOLERANCE["atol"] + DEFAULT_TOLERANCE["rtol"] * np.abs(exact))
                assert all(np.all(np.abs(np.asarray(path) - exact) <= width) for path in paths), (params, seed, name)


def test_a_student_who_only_rounded_is_not_told_of_an_error():
    """A later step right only against the recomputation from the student's own (rounded, all
    right) earlier weights said "error carried forward" to a student who made no mistake
    (2 of 200 who wrote every value to 3 figures; exploratory QA)."""
    from autograder.grading import CARRIED_ERROR, CARRIED_ROUNDING, grade_submission

    def entry(layers, l, kind, row, col):
        W, W0 = layers[l - 1]
        return float((W if kind == "W" else W0)[row, col])

    rounded_only = []
    for seed in range(200):
        inst = get_kind("sgd_steps").generate({}, seed)
        data = inst["prompt"]["data"]
        nets = [_layers(data)]
        for e in data["order"]:  # each step to 3 figures, as the prompt asks (base.STEP_NOTE)
            nets.append(_calculator_step(nets[-1], data["X"][e], data["Y"][e], data["lr"], 3, keep_step=True))
        answers = {name: repr(entry(nets[k], *address)) for name, (k, *address) in data["asked"].items()}
        fields = list(grade_submission(inst, answers).fields.values())
        for position, field in enumerate(fields):
            if field["message"] in (CARRIED_ERROR, CARRIED_ROUNDING):
                earlier_right = all(f["status"] == "correct" for f in fields[:position])
                assert field["message"] == (CARRIED_ROUNDING if earlier_right else CARRIED_ERROR), seed
                rounded_only += [seed] if earlier_right else []
    assert rounded_only  # the case this is about occurs
