"""Tests for nncore.autodiff: the TU Graz ML1 worked example (seed 003), every op against its
closed-form derivative, random graphs against finite differences, and every error case."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nncore.autodiff import (
    ARITY,
    Graph,
    Node,
    const,
    cos,
    exp,
    graph_from_spec,
    log,
    power,
    relu,
    sigmoid,
    sin,
    sqrt,
    var,
)


def matches_printed(value: float, printed: str) -> bool:
    """True if `value` rounds to `printed` at the number of decimals the notes show."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(value - float(printed)) <= 0.5 * 10.0**-decimals


def seed003_graph() -> Graph:
    """f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)) with the notes' node names."""
    x = var("x", 2.0)
    a = (x**2).named("a")
    b = exp(a, name="b")
    c = (a + b).named("c")
    d = sqrt(c, name="d")
    e = cos(c, name="e")
    return Graph.from_node((d + e).named("f"))


SEED003_SPEC = [
    {"name": "x", "op": "input", "value": 2.0},
    {"name": "a", "op": "pow", "args": ["x", 2.0]},
    {"name": "b", "op": "exp", "args": ["a"]},
    {"name": "c", "op": "add", "args": ["a", "b"]},
    {"name": "d", "op": "sqrt", "args": ["c"]},
    {"name": "e", "op": "cos", "args": ["c"]},
    {"name": "f", "op": "add", "args": ["d", "e"]},
]


# --- seed 003: TU Graz ML1, forward and backward pass at x = 2 --------------------------------


def test_seed003_graph_example_at_x_equals_2() -> None:
    r = seed003_graph().evaluate()
    # Forward pass exactly as printed in the notes (each to the notes' own precision).
    printed_values = {"a": "4", "b": "54.598", "c": "58.598", "d": "7.6549", "e": "-0.46",
                      "f": "7.194"}
    for name, printed in printed_values.items():
        assert matches_printed(r.values[name], printed), (name, r.values[name], printed)
    # Backward pass as printed. Note: the notes' -45.717 comes from unrounded intermediates;
    # chaining the printed -0.822 would give -0.822 * (1 + 54.598) = -45.70.
    printed_grads = {"f": "1", "e": "1", "d": "1", "c": "-0.822", "b": "-0.822",
                     "a": "-45.717", "x": "-182.87"}
    for name, printed in printed_grads.items():
        assert matches_printed(r.grads[name], printed), (name, r.grads[name], printed)
    assert r.values["x"] == 2.0 and r.output == "f"
    assert [s.name for s in r.steps()] == ["x", "a", "b", "c", "d", "e", "f"]


def test_seed003_exact_values_and_local_derivatives() -> None:
    r = seed003_graph().evaluate()
    a = 4.0
    b = math.exp(a)
    c = a + b
    assert r.values == pytest.approx(
        {"x": 2.0, "a": a, "b": b, "c": c, "d": math.sqrt(c), "e": math.cos(c),
         "f": math.sqrt(c) + math.cos(c)}, rel=1e-15)
    # d(f)/d(c) sums the two paths c -> d and c -> e (the f(g(x), h(x)) rule of the notes).
    dc = -math.sin(c) + 0.5 / math.sqrt(c)
    assert r.grads["c"] == pytest.approx(dc, rel=1e-14)
    assert r.grads["a"] == pytest.approx(dc * (1.0 + b), rel=1e-14)  # paths a -> c, a -> b -> c
    assert r.grads["x"] == pytest.approx(dc * (1.0 + b) * 4.0, rel=1e-14)
    steps = {s.name: s for s in r.steps()}
    assert steps["a"].inputs == ("x", 2.0) and steps["a"].local_grads == (4.0, None)
    assert steps["c"].local_grads == (1.0, 1.0)
    assert steps["d"].local_grads[0] == pytest.approx(0.5 * c**-0.5, rel=1e-14)
    assert steps["e"].local_grads[0] == pytest.approx(-math.sin(c), rel=1e-14)
    assert steps["f"].local_grads == (1.0, 1.0) and steps["f"].grad == 1.0
    assert steps["x"].local_grads == () and steps["x"].grad == r.grads["x"]


def test_seed003_spec_form_matches_operator_form_and_round_trips() -> None:
    graph = seed003_graph()
    assert graph.to_spec() == SEED003_SPEC
    from_spec = graph_from_spec(json.loads(json.dumps(SEED003_SPEC)))
    assert from_spec.names == ["x", "a", "b", "c", "d", "e", "f"]
    assert from_spec.evaluate().values == graph.evaluate().values
    assert from_spec.evaluate().grads == graph.evaluate().grads
    # The listed order need not be topological; it is kept where dependencies allow (e, d).
    shuffled = graph_from_spec(SEED003_SPEC[::-1], output="f")
    assert shuffled.names == ["x", "a", "b", "c", "e", "d", "f"]
    assert shuffled.evaluate().grads == graph.evaluate().grads


def test_seed003_latex_and_table() -> None:
    graph = seed003_graph()
    assert [graph.latex(n) for n in graph.names] == [
        "x = 2", "a = x^{2}", "b = \\exp(a)", "c = a + b", "d = \\sqrt{c}", "e = \\cos(c)",
        "f = d + e"]
    r = graph.evaluate()
    assert [s.latex for s in r.steps()][3] == "c = a + b"
    lines = r.table(digits=5).splitlines()
    assert lines[0].split() == ["node", "op", "inputs", "value", "local", "derivatives",
                                "df/dnode"]
    assert lines[1].split() == ["x", "input", "2", "-182.87"]
    assert lines[3].split() == ["b", "exp", "a", "54.598", "54.598", "-0.82228"]


# --- every op: value and local derivative against closed forms --------------------------------

S = 1.0 / (1.0 + math.exp(-0.3))
OP_CASES = [
    # (op, args, value, expected d/d(arg) for each arg)
    ("add", (1.5, -2.0), -0.5, (1.0, 1.0)),
    ("sub", (1.5, -2.0), 3.5, (1.0, -1.0)),
    ("mul", (1.5, -2.0), -3.0, (-2.0, 1.5)),
    ("div", (1.5, -2.0), -0.75, (-0.5, -1.5 / 4.0)),
    ("pow", (1.5, -2.0), 1.5**-2, (-2.0 * 1.5**-3, 1.5**-2 * math.log(1.5))),
    ("neg", (1.5,), -1.5, (-1.0,)),
    ("exp", (0.7,), math.exp(0.7), (math.exp(0.7),)),
    ("log", (0.7,), math.log(0.7), (1 / 0.7,)),
    ("sqrt", (0.7,), math.sqrt(0.7), (0.5 / math.sqrt(0.7),)),
    ("sin", (0.7,), math.sin(0.7), (math.cos(0.7),)),
    ("cos", (0.7,), math.cos(0.7), (-math.sin(0.7),)),
    ("sigmoid", (0.3,), S, (S * (1 - S),)),
    ("relu", (0.7,), 0.7, (1.0,)),
    ("relu", (-0.7,), 0.0, (0.0,)),
]


def central_difference(graph: Graph, inputs: dict[str, float], name: str) -> float:
    """d(output)/d(input `name`) by Richardson-extrapolated central differences (O(h^4))."""
    def f(h: float) -> float:
        return graph.evaluate({**inputs, name: inputs[name] + h}).values[graph.output]

    h = 1e-5 * max(1.0, abs(inputs[name]))
    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3


@pytest.mark.parametrize(("op", "args", "value", "partials"), OP_CASES,
                         ids=[f"{c[0]}{c[1]}" for c in OP_CASES])
def test_each_op_value_and_derivative(op: str, args: tuple[float, ...], value: float,
                                      partials: tuple[float, ...]) -> None:
    spec = [{"name": f"x{i}", "op": "input", "value": v} for i, v in enumerate(args)]
    spec.append({"name": "y", "op": op, "args": [f"x{i}" for i in range(len(args))]})
    graph = graph_from_spec(spec)
    r = graph.evaluate()
    assert r.values["y"] == pytest.approx(value, rel=1e-14)
    inputs = {f"x{i}": v for i, v in enumerate(args)}
    for i, expected in enumerate(partials):
        assert r.grads[f"x{i}"] == pytest.approx(expected, rel=1e-14, abs=1e-300)
        assert r.grads[f"x{i}"] == pytest.approx(central_difference(graph, inputs, f"x{i}"),
                                                 rel=1e-7, abs=1e-9)
    assert r.steps()[-1].local_grads == pytest.approx(partials, rel=1e-14)


def test_all_ops_are_covered_by_op_cases() -> None:
    assert {c[0] for c in OP_CASES} == set(ARITY) - {"input", "const"}


def test_sigmoid_saturates_without_overflow() -> None:
    x = var("x", 0.0)
    graph = Graph.from_node(sigmoid(x, name="s"))
    assert graph.evaluate({"x": 800.0}).values["s"] == 1.0
    low = graph.evaluate({"x": -800.0})
    assert low.values["s"] == 0.0 and low.grads["x"] == 0.0
    assert graph.evaluate({"x": -30.0}).values["s"] == pytest.approx(math.exp(-30), rel=1e-12)


def test_pow_with_constant_exponent_allows_negative_base() -> None:
    x = var("x", -1.5)
    r = Graph.from_node(x**3).evaluate()
    assert r.values[r.output] == pytest.approx(-3.375)
    assert r.grads["x"] == pytest.approx(3 * 2.25)
    r0 = Graph.from_node(power(x - (-1.5), 0)).evaluate()  # 0 ** 0 = 1, derivative 0
    assert r0.values[r0.output] == 1.0 and r0.grads["x"] == 0.0


def test_operators_with_plain_numbers_on_either_side() -> None:
    x = var("x", 3.0)
    f = (2 - x) * 4 + 1 / x - x / 2 + 2**x + (-x)
    r = Graph.from_node(f).evaluate()
    assert r.values[r.output] == pytest.approx((2 - 3) * 4 + 1 / 3 - 1.5 + 8 - 3)
    assert r.grads["x"] == pytest.approx(-4 - 1 / 9 - 0.5 + 8 * math.log(2) - 1)
    # Unnamed nodes are named v1, v2, ...; plain numbers stay inline in the spec.
    names = Graph.from_node(f).names
    assert names[0] == "x" and names[1:] == [f"v{i}" for i in range(1, len(names))]
    assert Graph.from_node(f).to_spec()[1] == {"name": "v1", "op": "sub", "args": [2.0, "x"]}
    assert r.grads["v1"] == 4.0


# --- shared sub-expressions and multiple paths ------------------------------------------------


def test_shared_subexpression_is_computed_once_and_gradients_accumulate() -> None:
    x = var("x", 0.5)
    a = exp(x, name="a")
    f = (a * a + a).named("f")  # a feeds f along three edges
    r = Graph.from_node(f).evaluate()
    assert [s.name for s in r.steps()].count("a") == 1
    assert r.values["f"] == pytest.approx(math.exp(1.0) + math.exp(0.5))
    assert r.grads["a"] == pytest.approx(2 * math.exp(0.5) + 1)
    assert r.grads["x"] == pytest.approx(2 * math.exp(1.0) + math.exp(0.5))


def test_same_node_as_both_arguments() -> None:
    x = var("x", -1.25)
    r = Graph.from_node((x * x).named("sq")).evaluate()
    assert r.grads["x"] == -2.5
    assert r.steps()[-1].local_grads == (-1.25, -1.25)


def test_named_constants_have_values_but_no_gradient() -> None:
    x = var("x", 2.0)
    w = const(3.0, name="w")
    r = Graph.from_node((w * x).named("y")).evaluate()
    assert r.values["w"] == 3.0 and "w" not in r.grads and r.grads["x"] == 3.0
    assert next(s for s in r.steps() if s.name == "w").grad is None


def test_inputs_can_be_overridden_or_supplied_at_evaluate() -> None:
    graph = graph_from_spec([{"name": "x", "op": "input"},
                             {"name": "y", "op": "sigmoid", "args": ["x"]}])
    r = graph.evaluate({"x": 0.0})
    assert r.values["y"] == 0.5 and r.grads["x"] == 0.25
    assert seed003_graph().evaluate({"x": 0.0}).values["a"] == 0.0


# --- ReLU kinks -------------------------------------------------------------------------------


def test_relu_derivative_at_exactly_zero_is_a_parameter_and_kinks_are_listed() -> None:
    x = var("x", 2.0)
    z = (x - 2).named("z")
    h = relu(z, name="h")
    graph = Graph.from_node((3 * h + relu(x, name="g")).named("out"))
    assert graph.evaluate().grads["z"] == 3.0  # MIT 6.390: ReLU'(0) = 1
    assert graph.evaluate(relu_prime_at_zero=0.0).grads["z"] == 0.0
    assert graph.evaluate(relu_prime_at_zero=0.5).grads["x"] == 1.5 + 1.0
    assert graph.evaluate().relu_kinks == ("h",)
    assert graph.evaluate({"x": 2.5}).relu_kinks == ()
    assert graph.evaluate({"x": 0.0}).relu_kinks == ("g",)
    with pytest.raises(ValueError, match="relu_prime_at_zero must be finite"):
        graph.evaluate(relu_prime_at_zero=math.nan)


# --- random graphs against finite differences -------------------------------------------------

def _sig(t: float) -> float:
    return 1 / (1 + math.exp(-t))


# name -> (build on nodes, same formula on plain floats). Domain-restricted ops get arguments
# that are always in their domain (t*t + 1 > 0, sigmoid(t) + 0.5 > 0).
UNARY = {
    "neg": (lambda t, k: -t, lambda t, k: -t),
    "sin": (lambda t, k: sin(t), lambda t, k: math.sin(t)),
    "cos": (lambda t, k: cos(t), lambda t, k: math.cos(t)),
    "sigmoid": (lambda t, k: sigmoid(t), lambda t, k: _sig(t)),
    "exp": (lambda t, k: exp(t), lambda t, k: math.exp(t)),
    "log1": (lambda t, k: log(t * t + 1), lambda t, k: math.log(t * t + 1)),
    "sqrt1": (lambda t, k: sqrt(t * t + 1), lambda t, k: math.sqrt(t * t + 1)),
    "relu": (lambda t, k: relu(t), lambda t, k: max(t, 0.0)),
    "square": (lambda t, k: t**2, lambda t, k: t**2),
    "cube": (lambda t, k: t**3, lambda t, k: t**3),
    "inv_sqrt1": (lambda t, k: (t * t + 1) ** -0.5, lambda t, k: (t * t + 1) ** -0.5),
    "scale": (lambda t, k: k * t, lambda t, k: k * t),
}
BINARY = {
    "add": lambda s, t: s + t,
    "sub": lambda s, t: s - t,
    "mul": lambda s, t: s * t,
    "div1": lambda s, t: s / (t * t + 1),
}
POW_POS = (lambda s, t: (sigmoid(s) + 0.5) ** t, lambda s, t: (_sig(s) + 0.5) ** t)


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[Graph, float]:
    """A random DAG on 1-3 inputs (nodes may be reused, giving shared sub-expressions), and
    the output value computed independently on plain floats with the same formulas."""
    n_inputs = draw(st.integers(1, 3))
    xs = st.floats(-2.0, 2.0, allow_nan=False)
    nodes: list[Node] = [var(f"x{i}", draw(xs)) for i in range(n_inputs)]
    floats = [n.value for n in nodes]
    for _ in range(draw(st.integers(1, 7))):
        i = draw(st.integers(0, len(nodes) - 1))
        op = draw(st.sampled_from([*UNARY, *BINARY, "pow_pos"]))
        if op in UNARY:
            k = draw(st.floats(-3.0, 3.0, allow_nan=False))
            build, compute, args, fargs = *UNARY[op], (nodes[i], k), (floats[i], k)
        else:
            j = draw(st.integers(0, len(nodes) - 1))
            build, compute = POW_POS if op == "pow_pos" else (BINARY[op], BINARY[op])
            args, fargs = (nodes[i], nodes[j]), (floats[i], floats[j])
        try:
            f = compute(*fargs)
        except OverflowError:
            f = math.inf
        assume(math.isfinite(f) and abs(f) < 1e3)
        nodes.append(build(*args))
        floats.append(f)
    return Graph.from_node(nodes[-1]), floats[-1]


def relu_signs(graph: Graph, inputs: dict[str, float]) -> tuple[bool, ...]:
    """Which side of the kink every ReLU input is on (the function is smooth while fixed)."""
    r = graph.evaluate(inputs)
    return tuple(r.values[s.inputs[0]] > 0 for s in r.steps() if s.op == "relu")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(random_graphs())
def test_random_graphs_gradient_matches_central_differences(case: tuple[Graph, float]) -> None:
    graph, expected_value = case
    r = graph.evaluate()
    assert r.values[graph.output] == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    inputs = {n: r.values[n] for n in graph.names if n.startswith("x")}
    base = relu_signs(graph, inputs)
    for name, x in inputs.items():
        h = 1e-5 * max(1.0, abs(x))
        probes = [{**inputs, name: x + t} for t in (-h, -h / 2, h / 2, h)]
        assume(all(relu_signs(graph, p) == base for p in probes))  # smooth around x only
        fd = central_difference(graph, inputs, name)
        assert abs(fd - r.grads[name]) <= 1e-6 * max(1.0, abs(r.grads[name])), (name, fd)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(random_graphs())
def test_random_graphs_survive_the_json_spec_round_trip(case: tuple[Graph, float]) -> None:
    graph, _ = case
    again = graph_from_spec(json.loads(json.dumps(graph.to_spec())))
    assert again.names == graph.names and again.to_spec() == graph.to_spec()
    assert again.evaluate().values == graph.evaluate().values
    assert again.evaluate().grads == graph.evaluate().grads


# --- errors -----------------------------------------------------------------------------------

X = {"name": "x", "op": "input", "value": 2.0}
ERROR_SPECS = [
    ("unknown_op", [X, {"name": "t", "op": "tanh", "args": ["x"]}],
     r"node 't': unknown op 'tanh'; known ops: input, const, add, .*sigmoid, relu"),
    ("missing_op", [X, {"name": "t", "args": ["x"]}], r"unknown op None"),
    ("too_few_args", [X, {"name": "s", "op": "add", "args": ["x"]}],
     r"node 's': op 'add' takes 2 argument\(s\), got 1"),
    ("too_many_args", [X, {"name": "s", "op": "exp", "args": ["x", "x"]}],
     r"op 'exp' takes 1 argument\(s\), got 2"),
    ("args_not_a_list", [X, {"name": "s", "op": "exp", "args": "x"}], r"'args' must be a list"),
    ("undefined_name", [X, {"name": "s", "op": "add", "args": ["x", "y"]}],
     r"node 's' refers to undefined node 'y'"),
    ("duplicate_name", [X, {"name": "a", "op": "exp", "args": ["x"]},
                        {"name": "a", "op": "sin", "args": ["x"]}], r"duplicate node name 'a'"),
    ("cycle", [X, {"name": "a", "op": "add", "args": ["x", "b"]},
               {"name": "b", "op": "mul", "args": ["a", 2]},
               {"name": "f", "op": "neg", "args": ["b"]}],
     r"cycle through nodes \['a', 'b'\]$"),
    ("self_loop", [X, {"name": "a", "op": "add", "args": ["a", "x"]}],
     r"cycle through nodes \['a'\]"),
    ("unused_node", [X, {"name": "a", "op": "exp", "args": ["x"]},
                     {"name": "f", "op": "sin", "args": ["x"]}],
     r"nodes \['a'\] do not feed the output 'f'"),
    ("nan_input", [{"name": "x", "op": "input", "value": math.nan}],
     r"value of node 'x' must be finite, got nan"),
    ("inf_const", [{"name": "k", "op": "const", "value": -math.inf}], r"must be finite, got -inf"),
    ("inf_inline_constant", [X, {"name": "a", "op": "mul", "args": ["x", math.inf]}],
     r"argument of 'a' must be finite"),
    ("bool_value", [{"name": "x", "op": "input", "value": True}], r"must be a real number"),
    ("const_without_value", [{"name": "k", "op": "const"}], r"const node 'k' needs a 'value'"),
    ("value_on_op", [X, {"name": "a", "op": "exp", "args": ["x"], "value": 1.0}],
     r"only input/const nodes take a 'value'"),
    ("misspelled_key", [{"name": "x", "op": "input", "vlaue": 1.0}], r"unknown keys \['vlaue'\]"),
    ("nameless", [{"op": "input", "value": 1.0}], r"entry 0 must be a dict with a non-empty"),
    ("empty", [], r"non-empty list"),
]


@pytest.mark.parametrize(("spec", "message"), [c[1:] for c in ERROR_SPECS],
                         ids=[c[0] for c in ERROR_SPECS])
def test_bad_spec_raises_clear_value_error(spec: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        graph_from_spec(spec)


def test_undefined_output_is_refused() -> None:
    with pytest.raises(ValueError, match=r"output node 'y' is not defined"):
        graph_from_spec([X], output="y")


EVAL_ERRORS = [
    ("log_zero", lambda x: log(x - 2, name="L"), r"node 'L' = log\(0\.0\): log of a non-pos"),
    ("log_negative", lambda x: log(-x, name="L"), r"node 'L' = log\(-2\.0\): log of a non-pos"),
    ("sqrt_negative", lambda x: sqrt(x - 6, name="r"), r"node 'r' = sqrt\(-4\.0\): sqrt of a neg"),
    ("div_zero", lambda x: (1 / (x - 2)).named("q"), r"node 'q' = div\(1\.0, 0\.0\): division b"),
    ("zero_to_negative_power", lambda x: ((x - 2) ** -1).named("p"),
     r"node 'p' = pow\(0\.0, -1\.0\): division by zero"),
    ("negative_base_fraction", lambda x: ((-x) ** 0.5).named("p"),
     r"node 'p' = pow\(-2\.0, 0\.5\): negative base with a non-integer exponent"),
    ("node_exponent_needs_positive_base", lambda x: ((x - 3) ** x).named("p"),
     r"node 'p' = pow\(-1\.0, 2\.0\): pow with a non-constant exponent needs base > 0"),
    ("overflow", lambda x: exp(x * 400, name="big"), r"node 'big' = exp\(800\.0\): overflow"),
    ("overflow_in_mul", lambda x: (exp(x * 300) * exp(x * 300)).named("m"),
     r"node 'm' = mul\(.*\): result inf is not finite"),
    ("sqrt_derivative_at_zero", lambda x: sqrt(x - 2, name="r"),
     r"node 'r' = sqrt\(0\.0\): derivative w\.r\.t\. .* is undefined/infinite"),
]


@pytest.mark.parametrize(("build", "message"), [c[1:] for c in EVAL_ERRORS],
                         ids=[c[0] for c in EVAL_ERRORS])
def test_domain_errors_name_the_node_and_value(build, message: str) -> None:
    graph = Graph.from_node(build(var("x", 2.0)))
    with pytest.raises(ValueError, match=message):
        graph.evaluate()


def test_bad_inputs_and_node_construction_are_refused() -> None:
    x = var("x", 2.0)
    graph = Graph.from_node(exp(x))
    with pytest.raises(ValueError, match=r"input 'x' must be finite, got inf"):
        graph.evaluate({"x": math.inf})
    with pytest.raises(ValueError, match=r"'y' is not an input node"):
        graph.evaluate({"y": 1.0})
    with pytest.raises(ValueError, match=r"input 'z' has no value"):
        Graph.from_node(exp(var("z"))).evaluate()
    with pytest.raises(ValueError, match=r"must be finite, got nan"):
        var("x", math.nan)
    with pytest.raises(ValueError, match=r"constant must be finite, got inf"):
        _ = x + math.inf
    with pytest.raises(ValueError, match=r"duplicate node name 'x'"):
        Graph.from_node(x + var("x", 1.0))
    with pytest.raises(ValueError, match=r"unknown op 'tanh'; known ops: .*relu"):
        Node("tanh", (x,))
    with pytest.raises(ValueError, match=r"op 'add' takes 2 argument"):
        Node("add", (x,))
    with pytest.raises(TypeError):
        _ = x + "1"
