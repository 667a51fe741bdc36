"""Code-exercise kinds: layout, the reference passes its own cases, the listed bugs are caught,
expectations agree with an independent recomputation (graph-notation engine / plain formulas),
determinism and parameter validation, and the reference harness itself.

Submissions are executed in-process here (trusted code: our reference and hand-written buggy
variants); students' code runs in the sandbox.
"""

from __future__ import annotations

import copy
import json
import math
import traceback
import warnings

import numpy as np
import pytest

from nncore.graphnet import NeuronNetwork, backward_neurons, forward_neurons
from nncore.network import make_network
from nncore.notation import from_neuron_network, neuron_ids, to_neuron_network
from nncore.problems import get_kind
from nncore.problems.base import ParamError, to_json
from nncore.problems.code import function_sources as fs
from nncore.problems.code import module_sources as ms
from nncore.problems.code.harness import (
    case_source,
    expected_outputs,
    injected_randint,
    judge_case,
    public_case,
    run_case,
)
from nncore.problems.code.values import mismatch, observe
from nncore.problems.code_kinds import KINDS

KIND = {k.id: k() for k in KINDS}
IDS = sorted(KIND)
TOL = {"rtol": 1e-9, "atol": 1e-12}


# --- running code in-process ----------------------------------------------------------------------


def run(source: str, case: dict):
    """Verdict of `source` on one full case, through the public case as the sandbox would get it."""
    namespace: dict = {}
    exec(compile(source, "<submission>", "exec"), namespace)  # trusted test code only
    public = json.loads(json.dumps(public_case(case), allow_nan=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow warnings of the buggy variants
        observations = run_case(namespace, public)
    json.dumps(observations, allow_nan=False)  # observations must travel as strict JSON
    return judge_case(case, observations)


def failing(source: str, instance: dict) -> dict[str, str]:
    """{case name: message} of the cases `source` fails."""
    out = {}
    for case in instance["answers"]["code"]["cases"]:
        verdict = run(source, case)
        if not verdict.passed:
            out[case["name"]] = verdict.message
    return out


def variants(kind) -> list[dict]:
    """Default params, no random cases, and each choice of every choice parameter."""
    out = [{}, {"random_cases": 0}]
    for p in kind.params:
        if p.type == "choice":
            out += [{"random_cases": 0, p.name: c} for c in p.choices if c != p.default]
    return out


# --- layout --------------------------------------------------------------------------------------------


def _has_key(value, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list):
        return any(_has_key(v, key) for v in value)
    return False


@pytest.mark.parametrize("kind_id", IDS)
def test_instance_layout(kind_id):
    kind = KIND[kind_id]
    inst = kind.generate({}, 4)
    assert inst["fields"] == [{"name": "code", "label": "Your Python code", "shape": [], "type": "code"}]
    code = inst["prompt"]["data"]["code"]
    assert set(code) == {"language", "entry", "signature", "starter", "cases", "hidden_cases"}
    assert code["language"] == "python" and code["entry"] == list(kind.entry)
    answer = inst["answers"]["code"]
    assert set(answer) == {"source", "entry", "cases"} and answer["source"] == kind.reference
    cases = answer["cases"]
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    visible = [c for c in cases if not c["hidden"]]
    assert {c["kind"] for c in visible} <= {"small", "edge"} and visible
    assert all(c["kind"] == "random" for c in cases if c["hidden"])
    assert sum(c["hidden"] for c in cases) == code["hidden_cases"] == 4  # default random_cases
    assert code["cases"] == [public_case(c) for c in visible]
    assert not _has_key(code, "expect"), "expected values leak into the prompt"
    for c in cases:
        assert c["check_inputs_unchanged"] is True
        assert c["tolerance"] == inst["tolerance"] == {"rtol": 1e-6, "atol": 1e-9}
        assert any(s.get("expect") is not None for s in c["steps"]), f"{c['name']} checks nothing"
    for m in inst["misconceptions"]:
        assert set(m["answers"]) == {"code"} and isinstance(m["answers"]["code"], str)
        assert m["answers"]["code"] != kind.reference
    assert json.loads(to_json(inst)) == inst
    assert inst["solution"] and all(s["latex"] for s in inst["solution"])


@pytest.mark.parametrize("kind_id", IDS)
def test_starter_defines_the_entry_points_and_fails(kind_id):
    kind = KIND[kind_id]
    namespace: dict = {}
    exec(compile(kind.starter, "<starter>", "exec"), namespace)
    assert all(name in namespace for name in kind.entry)
    inst = kind.generate({"random_cases": 0}, 0)
    assert set(failing(kind.starter, inst)) == {c["name"] for c in inst["answers"]["code"]["cases"]}


# --- the reference passes, every bug fails -----------------------------------------------------------


@pytest.mark.parametrize("kind_id", IDS)
def test_reference_passes_every_case(kind_id):
    kind = KIND[kind_id]
    for params in variants(kind):
        for seed in range(6):
            inst = kind.generate({**params, "rtol": 1e-9, "atol": 1e-12}, seed)
            assert failing(inst["answers"]["code"]["source"], inst) == {}, (params, seed)


@pytest.mark.parametrize("kind_id", IDS)
def test_every_misconception_fails_some_case(kind_id):
    kind = KIND[kind_id]
    for params in variants(kind):
        for seed in range(6):
            inst = kind.generate(params, seed)
            assert inst["misconceptions"], "a code kind lists the bugs its cases catch"
            for m in inst["misconceptions"]:
                assert failing(m["answers"]["code"], inst), f"{m['id']} passes every case {params} {seed}"


# Hand-written buggy variants of the bugs issue 5 lists; each must fail a generated case, and the
# named (non-random) case catches it even with random_cases=0.

RELU_NO_MASK = '''

class ReLU(Module):
    def forward(self, Z):
        self.A = np.maximum(0.0, Z)
        return self.A

    def backward(self, dLdA):
        return dLdA
'''

RELU_IN_PLACE = '''

class ReLU(Module):
    def forward(self, Z):
        self.A = np.maximum(0.0, Z)
        return self.A

    def backward(self, dLdA):
        dLdA[self.A == 0] = 0.0
        return dLdA
'''

LINEAR_BIAS_PER_EXAMPLE = ms.LINEAR.replace(
    "self.dLdW0 = np.sum(dLdZ, axis=1, keepdims=True)", "self.dLdW0 = dLdZ.copy()"
)

SOFTMAX_IGNORES_ARGUMENT = '''

class SoftMax(Module):
    def forward(self, Z):
        E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
        self.last = E / np.sum(E, axis=0, keepdims=True)
        return self.last

    def backward(self, dLdZ):
        return dLdZ

    def class_fun(self, Ypred):
        return np.argmax(self.last, axis=0)
'''

SOFTMAX_NAIVE_MODULE = '''

class SoftMax(Module):
    def forward(self, Z):
        return np.exp(Z) / np.sum(np.exp(Z), axis=0)

    def backward(self, dLdZ):
        return dLdZ

    def class_fun(self, Ypred):
        return np.argmax(Ypred, axis=0)
'''

SEQUENTIAL_FULL_BATCH = ms.SEQUENTIAL.replace(
    "            i = np.random.randint(N)\n            Xt = X[:, i:i + 1]\n            Yt = Y[:, i:i + 1]\n",
    "            Xt, Yt = X, Y\n",
)

SEQUENTIAL_OWN_RNG = ms.SEQUENTIAL.replace(
    "i = np.random.randint(N)", "i = np.random.default_rng(0).integers(N)"
)

NAIVE_SOFTMAX = '''import numpy as np


def softmax(Z):
    return np.exp(Z) / np.sum(np.exp(Z), axis=0, keepdims=True)
'''

SOFTMAX_IN_PLACE = '''import numpy as np


def softmax(Z):
    Z -= Z.max(axis=0)
    Z = np.exp(Z)
    return Z / Z.sum(axis=0)
'''

NAIVE_XENT = '''import numpy as np


def softmax_cross_entropy(Z, Y):
    g = np.exp(Z) / np.sum(np.exp(Z), axis=0, keepdims=True)
    return -np.sum(Y * np.log(g), axis=0, keepdims=True), g - Y
'''

SGD_STEP_IN_PLACE = fs.IMPORTS + fs.ACTIVATE + fs.DERIVATIVE + fs.DELTAS + '''

def sgd_step(Ws, W0s, x, y, activation, lr):
    D = deltas(Ws, W0s, x, y, activation)
    A = x
    for l, (W, W0) in enumerate(zip(Ws, W0s)):
        A_next = activate(W.T @ A + W0, activation)
        W -= lr * (A @ D[l].T)
        W0 -= lr * D[l]
        A = A_next
    return Ws, W0s
'''


def _swap(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1
    return source.replace(old, new)


LISTED_BUGS = [
    # (kind, buggy source, a case that must fail, words of its message)
    ("code_activation_modules", _swap(ms.REFERENCE["activations"], ms.RELU, RELU_NO_MASK), "edge_relu_batch", "wrong"),
    ("code_activation_modules", _swap(ms.REFERENCE["activations"], ms.RELU, RELU_IN_PLACE), "edge_relu_batch", "modified its input"),
    ("code_sequential", _swap(ms.REFERENCE["sequential"], ms.RELU, RELU_NO_MASK), "edge_relu", "wrong"),
    ("code_linear_module", _swap(ms.REFERENCE["linear"], ms.LINEAR, LINEAR_BIAS_PER_EXAMPLE), "edge_batch", "shape 2x1, got 2x4"),
    ("code_sequential", _swap(ms.REFERENCE["sequential"], ms.LINEAR, LINEAR_BIAS_PER_EXAMPLE), "edge_linear_batch", "shape"),
    ("code_softmax_nll_modules", _swap(ms.REFERENCE["softmax_nll"], ms.SOFTMAX, SOFTMAX_IGNORES_ARGUMENT), "small_softmax", "class_fun"),
    ("code_sequential", _swap(ms.REFERENCE["sequential"], ms.SOFTMAX, SOFTMAX_IGNORES_ARGUMENT), "edge_softmax_large", "class_fun"),
    ("code_softmax_nll_modules", _swap(ms.REFERENCE["softmax_nll"], ms.SOFTMAX, SOFTMAX_NAIVE_MODULE), "edge_softmax_large", "nan"),
    ("code_softmax", NAIVE_SOFTMAX, "edge_large_logit", "nan"),
    ("code_softmax", SOFTMAX_IN_PLACE, "small_1", "modified its input"),
    ("code_softmax_xent_grad", NAIVE_XENT, "edge_large_logit", "nan"),
    ("code_sequential", _swap(ms.REFERENCE["sequential"], ms.SEQUENTIAL, SEQUENTIAL_FULL_BATCH), "edge_sgd", "called np.random.randint 0 times"),
    ("code_sequential", _swap(ms.REFERENCE["sequential"], ms.SEQUENTIAL, SEQUENTIAL_OWN_RNG), "edge_sgd", "randint 0 times"),
    ("code_sgd_step", SGD_STEP_IN_PLACE, "small_1", "modified its input"),
]


@pytest.mark.parametrize(("kind_id", "source", "case_name", "words"), LISTED_BUGS,
                         ids=[f"{k}-{c}-{w}" for k, _, c, w in LISTED_BUGS])
def test_listed_bugs_fail_a_named_case(kind_id, source, case_name, words):
    for seed in range(10):
        inst = KIND[kind_id].generate({"random_cases": 0}, seed)
        failed = failing(source, inst)
        assert case_name in failed, f"seed {seed}: {case_name} passes; failures {failed}"
        assert words in failed[case_name], failed[case_name]


def test_full_batch_sgd_also_gives_different_weights():
    """Even when the randint check is ignored, full-batch updates change the final weights."""
    source = _swap(ms.REFERENCE["sequential"], ms.SEQUENTIAL, SEQUENTIAL_FULL_BATCH)
    inst = KIND["code_sequential"].generate({"random_cases": 0}, 2)
    case = next(c for c in inst["answers"]["code"]["cases"] if c["name"] == "edge_sgd")
    relaxed = {**case, "steps": [{k: v for k, v in s.items() if k != "randint"} for s in case["steps"]]}
    verdict = run(source, relaxed)
    assert not verdict.passed and "wrong" in verdict.message


# --- independent recomputation of the expectations -----------------------------------------------------


def _decode(tagged):
    """Tagged value -> Python/numpy (test-side, independent of values.decode)."""
    kind, value = tagged["type"], tagged["value"]
    if kind in ("list", "tuple"):
        return [_decode(v) for v in value]
    if kind in ("array", "int_array"):
        return np.array(value, dtype=float)
    return value


def _calls(inst):
    for case in inst["answers"]["code"]["cases"]:
        (only,) = case["steps"]
        yield [_decode(a) for a in only["args"]], _decode(only["expect"])


def _graph(Ws, W0s, activations) -> tuple[NeuronNetwork, list[int]]:
    net = make_network(Ws, W0s, activations)
    return to_neuron_network(net), net.sizes


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_forward_deltas_sgd_match_the_graph_notation_engine(seed):
    for activation in ("relu", "tanh", "sigmoid", "identity"):
        inst = KIND["code_mlp_forward"].generate({"activation": activation}, seed)
        for (Ws, W0s, X, act), g in _calls(inst):
            graph, sizes = _graph(Ws, W0s, act)
            for j in range(X.shape[1]):
                _close(forward_neurons(graph, X[:, j]).output(graph), g[:, j])

        inst = KIND["code_deltas"].generate({"activation": activation}, seed)
        for (Ws, W0s, X, Y, act), deltas in _calls(inst):
            graph, sizes = _graph(Ws, W0s, act)
            ids = neuron_ids(sizes)
            for j in range(X.shape[1]):
                grads = backward_neurons(graph, forward_neurons(graph, X[:, j]), Y[:, j], "squared")
                for l in range(1, len(sizes)):
                    _close([grads.delta[n] for n in ids[l]], deltas[l - 1][:, j])

        inst = KIND["code_sgd_step"].generate({"activation": activation, "lr": 0.3}, seed)
        for (Ws, W0s, x, y, act, lr), (new_Ws, new_W0s) in _calls(inst):
            graph, sizes = _graph(Ws, W0s, act)
            grads = backward_neurons(graph, forward_neurons(graph, x), y, "squared")
            stepped = NeuronNetwork(graph.inputs, graph.outputs,
                                    {e: w - lr * grads.grad[e] for e, w in graph.weights.items()},
                                    graph.activations)
            expected = from_neuron_network(stepped, sizes)
            for layer, W, W0 in zip(expected.layers, new_Ws, new_W0s, strict=True):
                _close(layer.W, W)
                _close(layer.W0, W0)


@pytest.mark.parametrize("seed", range(8))
def test_fgsm_matches_the_graph_notation_engine(seed):
    for activation in ("relu", "tanh", "sigmoid"):
        inst = KIND["code_fgsm"].generate({"activation": activation, "eps": 0.05}, seed)
        for (Ws, W0s, x, y, act, eps), (dLdx, x_adv) in _calls(inst):
            graph, _ = _graph(Ws, W0s, [act] * (len(Ws) - 1) + ["softmax"])
            grads = backward_neurons(graph, forward_neurons(graph, x), y, "cross_entropy")
            dx = np.array([grads.dx[i] for i in graph.inputs]).reshape(-1, 1)
            _close(dx, dLdx)
            _close(x + eps * np.sign(dx), x_adv)


def _softmax_column(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / math.fsum(e) for v in e]


@pytest.mark.parametrize("seed", range(10))
def test_softmax_and_cross_entropy_match_plain_formulas(seed):
    for (Z,), g in _calls(KIND["code_softmax"].generate({}, seed)):
        for j in range(Z.shape[1]):
            _close(g[:, j], _softmax_column(Z[:, j]))
    for (Z, Y), (L, dLdZ) in _calls(KIND["code_softmax_xent_grad"].generate({}, seed)):
        for j in range(Z.shape[1]):
            z, y = Z[:, j], Y[:, j]
            m = max(z)
            lse = m + math.log(math.fsum(math.exp(v - m) for v in z))
            _close(L[0, j], lse - float(np.dot(y, z)))
            _close(dLdZ[:, j], np.array(_softmax_column(z)) - y)


def test_large_logit_cases_are_exact():
    (Z,), g = next(c for c in _calls(KIND["code_softmax"].generate({}, 0)) if c[0][0][0, 0] == 1000.0)
    assert g.tolist() == [[1.0], [0.0]]
    inst = KIND["code_softmax_xent_grad"].generate({}, 0)
    case = next(c for c in inst["answers"]["code"]["cases"] if c["name"] == "edge_large_logit")
    assert case["steps"][0]["expect"]["value"][0]["value"] == [[1000.0]]
    assert case["steps"][0]["expect"]["value"][1]["value"] == [[1.0], [-1.0]]


def test_graph_backward_matches_the_notes_and_calculus():
    inst = KIND["code_graph_backward"].generate({"random_cases": 6}, 3)
    calls = list(_calls(inst))
    (x,), (f, dfdx) = calls[0]
    assert x.tolist() == [2.0]
    assert f[0] == pytest.approx(7.194, abs=1e-3) and dfdx[0] == pytest.approx(-182.87, abs=1e-2)  # 003
    for (x,), (f, dfdx) in calls:
        c = x**2 + np.exp(x**2)
        _close(f, np.sqrt(c) + np.cos(c))
        _close(dfdx, (2 * x + 2 * x * np.exp(x**2)) * (0.5 / np.sqrt(c) - np.sin(c)))


# --- module cases: plain formulas and the graph-notation engine ----------------------------------------------


def _script_value(step):
    return _decode(step["expect"]) if step.get("expect") is not None else None


@pytest.mark.parametrize("seed", range(8))
def test_linear_and_activation_cases_match_plain_formulas(seed):
    inst = KIND["code_linear_module"].generate({"lrate": 0.2}, seed)
    rates = []
    for case in inst["answers"]["code"]["cases"]:
        s = case["steps"]
        W, W0, A, dLdZ = _decode(s[1]["value"]), _decode(s[2]["value"]), _decode(s[3]["args"][0]), _decode(s[4]["args"][0])
        _close(_script_value(s[3]), W.T @ A + W0)
        _close(_script_value(s[4]), W @ dLdZ)
        _close(_script_value(s[5]), A @ dLdZ.T)
        _close(_script_value(s[6]), dLdZ.sum(axis=1, keepdims=True))
        assert _script_value(s[6]).shape == (W.shape[1], 1)
        assert s[7]["method"] == "sgd_step"
        lrate = s[7]["args"][0]["value"]
        rates.append(lrate)
        _close(_script_value(s[8]), W - lrate * A @ dLdZ.T)
        _close(_script_value(s[9]), W0 - lrate * dLdZ.sum(axis=1, keepdims=True))
    # the parameter's rate first, then others (code with 0.2 written in fails those)
    assert rates[:5] == [0.2, 0.4, 0.1, 0.8, 0.05]
    inst = KIND["code_activation_modules"].generate({}, seed)
    for case in inst["answers"]["code"]["cases"]:
        s = case["steps"]
        Z, dLdA = _decode(s[1]["args"][0]), _decode(s[2]["args"][0])
        if s[0]["class"] == "Tanh":
            _close(_script_value(s[1]), np.tanh(Z))
            _close(_script_value(s[2]), dLdA * (1 - np.tanh(Z) ** 2))
        else:
            assert np.any(Z < 0) and np.all(np.abs(Z) > 1e-6)
            _close(_script_value(s[1]), np.maximum(Z, 0))
            _close(_script_value(s[2]), np.where(Z > 0, dLdA, 0.0))


@pytest.mark.parametrize("seed", range(8))
def test_softmax_and_nll_module_cases_match_plain_formulas(seed):
    inst = KIND["code_softmax_nll_modules"].generate({}, seed)
    for case in inst["answers"]["code"]["cases"]:
        s = case["steps"]
        if s[0]["class"] == "SoftMax":
            Z, Yp = _decode(s[1]["args"][0]), _decode(s[3]["args"][0])
            for j in range(Z.shape[1]):
                _close(_script_value(s[1])[:, j], _softmax_column(Z[:, j]))
            _close(_script_value(s[2]), _decode(s[2]["args"][0]))
            assert _script_value(s[3]).tolist() == np.argmax(Yp, axis=0).tolist()
            assert np.any(np.argmax(Yp, axis=0) != np.argmax(Z, axis=0)), "class_fun must see a new Ypred"
        else:
            Yp, Y = _decode(s[1]["args"][0]), _decode(s[1]["args"][1])
            _close(_script_value(s[1]), -np.sum(Y * np.log(Yp)))
            _close(_script_value(s[2]), Yp - Y)


def _network_from_setup(steps):
    """The Sequential's layers from its setup steps (Linear weights and the following module)."""
    Ws, W0s, acts = {}, {}, []
    for s in steps:
        if s["op"] == "set":
            (Ws if s["attr"] == "W" else W0s)[s["var"]] = _decode(s["value"])
        if s["op"] == "new" and s["class"] in ("ReLU", "Tanh", "SoftMax"):
            acts.append({"ReLU": "relu", "Tanh": "tanh", "SoftMax": "softmax"}[s["class"]])
    names = sorted(Ws, key=lambda n: int(n[1:]))
    return [Ws[n] for n in names], [W0s[n] for n in names], acts


@pytest.mark.parametrize("seed", range(5))
def test_sequential_sgd_matches_the_graph_notation_engine(seed):
    inst = KIND["code_sequential"].generate({"lrate": 0.1, "random_cases": 3}, seed)
    for case in inst["answers"]["code"]["cases"]:
        sgd = [s for s in case["steps"] if s.get("method") == "sgd"]
        if not sgd:
            continue
        Ws, W0s, acts = _network_from_setup(case["steps"])
        X, Y, iters, lrate = (_decode(a) for a in sgd[0]["args"])
        order = sgd[0]["randint"]
        assert len(order) == iters and order != [t % X.shape[1] for t in range(iters)]
        graph, sizes = _graph(Ws, W0s, acts)
        for i in order:  # 002's SGD loop, one edge at a time
            grads = backward_neurons(graph, forward_neurons(graph, X[:, i]), Y[:, i], "cross_entropy")
            graph = NeuronNetwork(graph.inputs, graph.outputs,
                                  {e: w - lrate * grads.grad[e] for e, w in graph.weights.items()},
                                  graph.activations)
        final = from_neuron_network(graph, sizes)
        checks = [s for s in case["steps"][case["steps"].index(sgd[0]) + 1:] if s["op"] == "get"]
        for s in checks:
            layer = final.layers[int(s["var"][1:]) - 1]
            _close(_script_value(s), layer.W if s["attr"] == "W" else layer.W0)


# --- determinism and parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", IDS)
def test_same_params_and_seed_give_identical_json(kind_id):
    kind = KIND[kind_id]
    for seed in (0, 9):
        assert to_json(kind.generate({"random_cases": 3}, seed)) == to_json(kind.generate({"random_cases": 3}, seed))
    assert to_json(kind.generate({}, 1)) != to_json(kind.generate({}, 2))


@pytest.mark.parametrize("kind_id", IDS)
def test_random_cases_and_tolerance_parameters(kind_id):
    kind = KIND[kind_id]
    inst = kind.generate({"random_cases": 7, "rtol": 1e-4, "atol": 1e-7}, 0)
    cases = inst["answers"]["code"]["cases"]
    assert sum(c["kind"] == "random" for c in cases) == 7
    assert all(c["tolerance"] == {"rtol": 1e-4, "atol": 1e-7} for c in cases)
    assert "0.0001" in inst["prompt"]["text"] and "7 hidden" in inst["prompt"]["text"]


@pytest.mark.parametrize("kind_id", IDS)
@pytest.mark.parametrize(("params", "name"), [
    ({"random_cases": -1}, "random_cases"),
    ({"random_cases": 21}, "random_cases"),
    ({"rtol": 0}, "rtol"),
    ({"atol": 1}, "atol"),
    ({"nonsense": 1}, "nonsense"),
])
def test_invalid_parameters_name_themselves(kind_id, params, name):
    with pytest.raises(ParamError, match=name):
        KIND[kind_id].generate(params, 0)


# --- the harness ----------------------------------------------------------------------------------------------------


def test_injected_randint_scripts_and_restores():
    original = np.random.randint
    with injected_randint([2, 0]) as returned:
        assert np.random.randint(3) == 2 and np.random.randint(0, 3) == 0
        with pytest.raises(RuntimeError, match="more than the 2 times"):
            np.random.randint(3)
    assert returned == [2, 0] and np.random.randint is original
    with injected_randint([5]), pytest.raises(RuntimeError, match="cannot give the scripted example index 5"):
        np.random.randint(3)
    with injected_randint([1]), pytest.raises(RuntimeError, match="without size"):
        np.random.randint(3, size=2)
    with injected_randint([1, 2]):  # one index as a 1-element array (QA: randint(N, size=1)[0] was refused)
        assert np.random.randint(3, size=1)[0] == 1 and np.random.randint(0, 3, size=(1,)).tolist() == [2]
    assert np.random.randint is original
    for size in (2, (2,), np.array([1, 1]), "1", (1, 1)):  # a ScriptError, never numpy's own ValueError
        with injected_randint([1]), pytest.raises(RuntimeError, match="without size"):
            np.random.randint(3, size=size)
    with injected_randint([1]), pytest.raises(RuntimeError) as error:
        np.random.randint(3, size=2)
    # the student's traceback says ScriptError, not the grader's module path
    assert "".join(traceback.format_exception_only(error.type, error.value)).startswith("ScriptError: draw one example")


def test_observe_is_strict_json_and_mismatch_explains():
    obs = observe((np.array([[np.nan], [1.0]]), [np.int64(3)], 2.5, None, "x"))
    json.dumps(obs, allow_nan=False)
    assert obs["value"][0]["value"] == [["nan"], [1.0]]
    expected = {"type": "array", "value": [[0.5], [0.5]]}
    assert "nan" in mismatch(expected, obs["value"][0], TOL)
    assert "shape 2x1, got (2,) (1-D)" in mismatch(expected, observe(np.array([0.5, 0.5])), TOL)
    # class indices (int_array) as a 1 x b row are the same b indices (argmax with keepdims=True)
    assert mismatch({"type": "int_array", "value": [1, 0]}, observe(np.array([[1, 0]])), TOL) is None
    assert "expected 0" in mismatch({"type": "int_array", "value": [1, 0]}, observe(np.array([[1, 1]])), TOL)
    assert "shape (2,) (1-D), got 2x1" in mismatch({"type": "int_array", "value": [1, 0]}, observe(np.array([[1], [0]])), TOL)
    assert "shape (2,) (1-D), got 1x2" in mismatch({"type": "array", "value": [1.0, 0.0]}, observe(np.array([[1.0, 0.0]])), TOL)
    assert mismatch(expected, observe(np.array([[0.5], [0.5 + 1e-12]])), TOL) is None
    assert "index [1, 0]" in mismatch(expected, observe(np.array([[0.5], [0.6]])), TOL)
    assert mismatch({"type": "float", "value": 2.0}, observe(np.array([[2.0]])), TOL) is None
    assert mismatch({"type": "int_array", "value": [1, 0]}, observe(np.array([1, 0])), TOL) is None
    assert "expected 0" in mismatch({"type": "int_array", "value": [1, 0]}, observe(np.array([1, 2])), TOL)
    assert "tuple of 2" in mismatch({"type": "tuple", "value": [expected, expected]}, observe(None), TOL)
    # written as a person would (QA: "got a int (0)", "(1 of 1 entries wrong)", "a list of 1 items")
    assert mismatch({"type": "list", "value": [expected]}, observe(3), TOL) == "result should be a list of 1 item, got an int (3)"
    assert mismatch({"type": "array", "value": [[0.5]]}, observe(np.array([[0.7]])), TOL).endswith("(1 of 1 entry wrong)")


def test_run_case_stops_at_the_first_error_and_judge_names_it():
    case = {
        "name": "c", "check_inputs_unchanged": True, "tolerance": TOL,
        "steps": [
            {"op": "call", "func": "double", "args": [{"type": "array", "value": [1.0]}],
             "expect": {"type": "array", "value": [2.0]}},
            {"op": "call", "func": "missing", "args": [], "expect": None},
            {"op": "call", "func": "double", "args": [{"type": "array", "value": [1.0]}], "expect": None},
        ],
    }
    namespace: dict = {}
    exec("def double(a):\n    return 2 * a\n", namespace)
    observations = run_case(namespace, public_case(case))
    assert len(observations) == 2 and "NameError" in observations[1]["error"]
    verdict = judge_case(case, observations)
    assert not verdict.passed and verdict.failed_step == 1 and "missing(...)" in verdict.message
    assert not judge_case(case, []).passed


def test_public_case_keeps_inputs_and_drops_every_expectation():
    inst = KIND["code_sequential"].generate({"random_cases": 1}, 0)
    for case in inst["answers"]["code"]["cases"]:
        public = public_case(case)
        assert not _has_key(public, "expect")
        assert [{k: v for k, v in s.items() if k != "expect"} for s in case["steps"]] == public["steps"]


def test_expected_outputs_flatten_every_expectation_in_order():
    inst = KIND["code_softmax_nll_modules"].generate({"random_cases": 0}, 1)
    case = next(c for c in inst["answers"]["code"]["cases"] if c["name"] == "small_softmax")
    flat = expected_outputs(case)
    steps = [s for s in case["steps"] if s.get("expect") is not None]
    assert len(flat) == len(steps) == 3 and all(a.dtype == np.float64 for a in flat)
    assert flat[2].tolist() == [float(i) for i in steps[2]["expect"]["value"]]  # class indices
    inst = KIND["code_sgd_step"].generate({"random_cases": 0}, 1)
    (Ws, W0s) = _decode(inst["answers"]["code"]["cases"][0]["steps"][0]["expect"])
    assert [a.shape for a in expected_outputs(inst["answers"]["code"]["cases"][0])] == [
        *[w.shape for w in Ws], *[w.shape for w in W0s]]


@pytest.mark.parametrize("kind_id", sorted(KIND))
def test_a_visible_case_as_python_runs_after_the_reference_and_prints_its_values(kind_id):
    """case_source (what the web UI offers to paste after one's code) is Python that runs: after
    the reference implementation it prints, for each checked step, the expected value (scripted
    example draws included: np.random.randint returns the case's indices while that step runs)."""
    kind = KIND[kind_id]
    instance = kind.generate({}, 0)
    cases = [c for c in instance["answers"]["code"]["cases"] if not c.get("hidden")]
    assert cases
    # the draw written as randint(N, size=1)[0], which the grader takes, runs pasted too (review)
    reference = kind.reference.replace("np.random.randint(N)", "np.random.randint(N, size=1)[0]")
    for case in cases:
        printed: list = []
        namespace: dict = {"__name__": "pasted", "print": lambda value, into=printed: into.append(copy.deepcopy(value))}
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            source = reference + "\n" + case_source(public_case(case))
            exec(compile(source, "<pasted>", "exec"), namespace)  # noqa: S102 - our own code
        shown = [step for step in case["steps"] if step["op"] in ("call", "get")]
        assert len(printed) == len(shown)
        for step, value in zip(shown, printed, strict=True):
            if step.get("expect") is not None:
                assert mismatch(step["expect"], observe(value), case.get("tolerance", TOL)) is None, (case["name"], step)


def test_an_exception_that_says_nothing_is_named_without_a_dangling_colon():
    """The starter code's bare `raise NotImplementedError` read "raised NotImplementedError: "."""
    kind = KIND["code_mlp_forward"]
    instance = kind.generate(kind.validate_params({}), 0)
    namespace: dict = {}
    exec(compile(kind.starter, "<starter>", "exec"), namespace)  # noqa: S102 - the kind's own starter
    (observation,) = run_case(namespace, public_case(instance["answers"]["code"]["cases"][0]))
    assert observation["ok"] is False and observation["error"] == "NotImplementedError"
    namespace["forward"] = lambda *args: (_ for _ in ()).throw(ValueError("shapes differ"))
    (observation,) = run_case(namespace, public_case(instance["answers"]["code"]["cases"][0]))
    assert observation["error"] == "ValueError: shapes differ"


WITH_ACTIVATION = [cls.id for cls in KINDS if "activation" in {p.name for p in cls.params}]
MIXED = ["code_mlp_forward", "code_deltas", "code_sgd_step"]  # cases cycle the activations


def test_the_kinds_with_an_activation_parameter():
    assert WITH_ACTIVATION == [*MIXED, "code_fgsm"]  # fgsm: one activation, every case passes it


def _activations_passed(instance: dict, hidden: bool) -> set[str]:
    return {
        arg["value"]
        for case in instance["answers"]["code"]["cases"] if bool(case.get("hidden")) == hidden
        for step in case["steps"]
        for arg in step.get("args", [])
        if arg.get("type") == "str"
    }


@pytest.mark.parametrize("kind_id", MIXED)
def test_the_prompt_and_starter_name_the_activation_only_hidden_cases_pass(kind_id):
    """QA: 'identity' came only in a hidden case of code_deltas and code_sgd_step, whose prompt
    and starter never named it: right code for the named three lost that case and an attempt."""
    kind = get_kind(kind_id)
    instance = kind.generate({"activation": "mixed", "random_cases": 1}, 3)
    hidden_only = _activations_passed(instance, True) - _activations_passed(instance, False)
    assert hidden_only == {"identity"}
    assert "'identity'" in instance["prompt"]["text"] and "'identity'" in kind.starter
    one = kind.generate({"activation": "tanh"}, 3)
    assert _activations_passed(one, True) | _activations_passed(one, False) == {"tanh"}
    if kind_id != "code_mlp_forward":  # its prompt defines f by name already
        assert "Every test case passes `activation='tanh'`." in one["prompt"]["text"]


def test_a_trusted_run_lets_a_system_exit_through_and_a_sandboxed_one_records_it():
    """Review: run_case catching every BaseException turned a worker's own SystemExit (gunicorn's
    shutdown) during a trusted in-process run into a failed step; in the sandbox (a traceback
    describer given) a student's SystemExit or KeyboardInterrupt is that step's failure."""
    case = {"steps": [{"op": "call", "func": "f", "args": []}]}
    for raised in (SystemExit, KeyboardInterrupt):
        namespace = {"f": lambda raised=raised: (_ for _ in ()).throw(raised())}
        with pytest.raises(raised):
            run_case(namespace, case)
        (observation,) = run_case(namespace, case, describe_error=lambda exc: "tb")
        assert observation["ok"] is False and observation["error"] == raised.__name__
