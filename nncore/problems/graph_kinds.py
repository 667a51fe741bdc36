"""Scalar computational graphs (TU Graz 003, MIT 000): forward values and backward partials.

A template fixes the graph's shape (003's f(x) = sqrt(x^2 + e^{x^2}) + cos(x^2 + e^{x^2}), a
logistic neuron with its loss as in 000's "computational graph for neuron", ...); the seed draws
the inputs and constants. Every value and ∂f/∂node comes from nncore.autodiff.
"""

from __future__ import annotations

import math

import numpy as np

from nncore.autodiff import graph_from_spec
from nncore.problems.base import Draft, Field, Param, ProblemKind, Redraw, check_paths_near, step
from nncore.problems.common import SATURATION, fmt, round_sig_values

LIMIT = 1e4  # values beyond this are not calculator work
ROUNDED_PATHS = (3, 4)  # significant figures of the calculator paths graders also accept


def _t003(rng, hand):
    x = float(rng.choice([-1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0]) if hand else np.round(rng.uniform(-2, 2), 2))
    return [
        {"name": "x", "op": "input", "value": x},
        {"name": "a", "op": "pow", "args": ["x", 2]},
        {"name": "b", "op": "exp", "args": ["a"]},
        {"name": "c", "op": "add", "args": ["a", "b"]},
        {"name": "d", "op": "sqrt", "args": ["c"]},
        {"name": "e", "op": "cos", "args": ["c"]},
        {"name": "f", "op": "add", "args": ["d", "e"]},
    ]


def _neuron(rng, hand):
    def draw():
        return float(rng.integers(-3, 4) or 1) if hand else float(np.round(rng.uniform(-2, 2), 2))

    return [
        {"name": "x", "op": "input", "value": draw()},
        {"name": "w", "op": "input", "value": draw()},
        {"name": "b", "op": "input", "value": draw()},
        {"name": "y", "op": "const", "value": float(rng.integers(0, 2))},
        {"name": "z", "op": "mul", "args": ["w", "x"]},
        {"name": "s", "op": "add", "args": ["z", "b"]},
        {"name": "g", "op": "sigmoid", "args": ["s"]},
        {"name": "r", "op": "sub", "args": ["y", "g"]},
        {"name": "L", "op": "pow", "args": ["r", 2]},
    ]


def _product_sum(rng, hand):
    def draw():
        return float(rng.choice([-2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0])) if hand else float(np.round(rng.uniform(-2, 2), 2))

    return [
        {"name": "x", "op": "input", "value": draw()},
        {"name": "y", "op": "input", "value": draw()},
        {"name": "a", "op": "mul", "args": ["x", "y"]},
        {"name": "b", "op": "sin", "args": ["x"]},
        {"name": "c", "op": "add", "args": ["a", "b"]},
        {"name": "d", "op": "exp", "args": ["c"]},
        {"name": "e", "op": "mul", "args": ["d", "y"]},
        {"name": "f", "op": "add", "args": ["e", "c"]},
    ]


def _relu_chain(rng, hand):
    def draw():
        return float(rng.integers(-3, 4) or 2) if hand else float(np.round(rng.uniform(-2, 2), 2))

    return [
        {"name": "x", "op": "input", "value": draw()},
        {"name": "w", "op": "input", "value": draw()},
        {"name": "v", "op": "input", "value": draw()},
        {"name": "a", "op": "mul", "args": ["w", "x"]},
        {"name": "h", "op": "relu", "args": ["a"]},
        {"name": "o", "op": "mul", "args": ["v", "h"]},
        {"name": "s", "op": "add", "args": ["o", "h"]},
        {"name": "f", "op": "pow", "args": ["s", 2]},
    ]


TEMPLATES = {"seed003": _t003, "neuron": _neuron, "product_sum": _product_sum, "relu_skip": _relu_chain}


class ComputationalGraph(ProblemKind):
    id = "computational_graph"
    # v2: the diagram no longer shows computed values; v3: a hand graph's sigmoid is never
    # saturated (neuron seed 275 had g = σ(11) = 0.99998 and ∂L/∂b = -5.6e-10); v4: the
    # calculator paths (every value written to 3 or 4 significant figures) are accepted answers
    # too (a student carrying c = 11.7 into cos(c) was refused on 11 of 50 seeds), and a draw
    # where a misconception then passes as such a path, or as what a student types (3 or 4
    # figures; ProblemKind._finish), is redrawn
    version = 4
    title = "Computational graph: forward values and backward partials"
    description = "Evaluate every node of a scalar graph, then every ∂f/∂node by reverse-mode autodiff (003)."
    topic = "graphs"
    params = (
        Param("template", "choice", "any", "graph shape: any, or one template", ("any", *TEMPLATES)),
        Param("ask", "choice", "both", "forward values, backward partials, or both", ("forward", "backward", "both")),
        Param("style", "choice", "hand", "hand: few simple inputs; random: 2-decimal inputs", ("hand", "random")),
    )

    def build(self, p, rng):
        name = p["template"] if p["template"] != "any" else str(rng.choice(sorted(TEMPLATES)))
        spec = TEMPLATES[name](rng, p["style"] == "hand")
        try:
            graph = graph_from_spec(spec)
            result = graph.evaluate()
        except ValueError as exc:
            raise Redraw(str(exc)) from None
        if result.relu_kinks or any(abs(v) > LIMIT for v in result.values.values()):
            raise Redraw("kink or value too large")
        if any(abs(v) > LIMIT for v in result.grads.values()):
            raise Redraw("gradient too large")
        steps_ = result.steps()
        if p["style"] == "hand" and any(s.op == "sigmoid" and abs(result.values[s.inputs[0]]) > SATURATION for s in steps_):
            raise Redraw("saturated sigmoid")  # its gradients vanish to 1e-10: no calculator work
        computed = [s for s in steps_ if s.op not in ("input", "const")]
        inputs = [s.name for s in steps_ if s.op == "input"]
        fields, answers = [], {}
        if p["ask"] in ("forward", "both"):
            for s in computed:
                fields.append(Field(f"val_{s.name}", f"${s.name}$", (), "number"))
                answers[f"val_{s.name}"] = s.value
        if p["ask"] in ("backward", "both"):
            for s in [*computed[:-1], *[t for t in steps_ if t.name in inputs]]:
                fields.append(Field(f"grad_{s.name}", f"$\\partial {graph.output}/\\partial {s.name}$", (), "number"))
                answers[f"grad_{s.name}"] = result.grads[s.name]
        paths = [_rounded_path(graph, sig) for sig in ROUNDED_PATHS]
        alternatives = {name: [path[name] for path in paths] for name in answers}
        check_paths_near(answers, alternatives)
        definitions = ",\\; ".join(graph.latex(s.name) for s in computed)
        given = ", ".join(f"${s.name} = {fmt(s.value)}$" for s in steps_ if s.op in ("input", "const"))
        draft = Draft(
            text=(
                f"Consider the computational graph ${definitions}$ with {given}. "
                + {
                    "forward": "Give the value of every node (forward pass).",
                    "backward": f"Give $\\partial {graph.output}/\\partial v$ for every node $v$ (backward pass).",
                    "both": f"Give every node's value (forward pass) and $\\partial {graph.output}/\\partial v$ for every node $v$ (backward pass).",
                }[p["ask"]]
            ),
            data={"template": name, "graph": graph.to_spec(), "output": graph.output},
            fields=fields,
            answers=answers,
            solution=[
                step(
                    f"Node {s.name}",
                    f"{s.latex} = {fmt(s.value)}" + (f",\\; \\partial {graph.output}/\\partial {s.name} = {fmt(s.grad)}" if s.grad is not None else ""),
                    value=s.value,
                    grad=s.grad,
                    local=[g for g in s.local_grads if g is not None],
                )
                for s in steps_
                if s.op != "const"
            ],
            diagram=_diagram(steps_),
            alternatives=alternatives,
        )
        consumers = [inp for s in steps_ for inp in s.inputs if isinstance(inp, str)]
        if p["ask"] in ("backward", "both") and len(consumers) > len(set(consumers)):
            draft.add_misconception(
                "one_path_only",
                "Followed only one path back",
                "A node used by several others collects ∂f/∂node from every path: the contributions add up.",
                _first_path_grads(steps_, graph.output),
            )
        if p["ask"] in ("forward", "both") and any(s.op in ("sin", "cos") for s in steps_):
            draft.add_misconception(
                "degrees_mode",
                "Calculator in degrees",
                "sin and cos take radians here: switch the calculator out of degree mode.",
                _degree_values(spec, graph),
            )
        return draft


def _rounded_path(graph, sig: int) -> dict[str, float]:
    """Every field's answer on the calculator path: each value, local derivative and total
    derivative written to `sig` significant figures before it is used (as the seeds' worked
    examples do). A path that leaves the graph's domain, or the calculator's range, is redrawn."""
    def written(value: float) -> float:
        return round_sig_values([value], sig)[0]

    try:
        result = graph.evaluate(round_value=written)
    except ValueError as exc:
        raise Redraw(f"the {sig}-figure path fails: {exc}") from None
    out = {f"val_{name}": value for name, value in result.values.items()}
    out.update({f"grad_{name}": grad for name, grad in result.grads.items()})
    if any(not math.isfinite(v) or abs(v) > LIMIT for v in out.values()):
        raise Redraw(f"the {sig}-figure path leaves the calculator's range")
    return out


def _first_path_grads(steps_, output: str) -> dict:
    """∂f/∂node when each node keeps only the contribution of its first consumer."""
    grads = {output: 1.0}
    for s in reversed(steps_):
        if s.name not in grads:
            continue
        for inp, local in zip(s.inputs, s.local_grads, strict=True):
            if local is not None and isinstance(inp, str) and inp not in grads:
                grads[inp] = grads[s.name] * local
    return {f"grad_{n}": g for n, g in grads.items() if n != output}


def _degree_values(spec, graph) -> dict:
    """Forward values if sin/cos were evaluated in degrees."""
    values = {}
    for node in spec:
        op, args = node["op"], [values.get(a, a) for a in node.get("args", [])]
        if op in ("input", "const"):
            values[node["name"]] = node["value"]
            continue
        values[node["name"]] = _apply_degrees(op, args)
    return {f"val_{n}": v for n, v in values.items() if any(s["name"] == n and s["op"] not in ("input", "const") for s in spec) and math.isfinite(v)}


def _apply_degrees(op: str, a: list) -> float:
    try:
        return {
            "add": lambda: a[0] + a[1],
            "sub": lambda: a[0] - a[1],
            "mul": lambda: a[0] * a[1],
            "div": lambda: a[0] / a[1],
            "pow": lambda: a[0] ** a[1],
            "neg": lambda: -a[0],
            "exp": lambda: math.exp(a[0]),
            "log": lambda: math.log(a[0]),
            "sqrt": lambda: math.sqrt(a[0]),
            "sin": lambda: math.sin(math.radians(a[0])),
            "cos": lambda: math.cos(math.radians(a[0])),
            "sigmoid": lambda: 1 / (1 + math.exp(-a[0])),
            "relu": lambda: max(a[0], 0.0),
        }[op]()
    except (ValueError, ZeroDivisionError, OverflowError):
        return math.nan


def _diagram(steps_) -> dict:
    # Only given values: a computed node's value is an answer and students see the diagram.
    nodes = [
        {"id": s.name, "op": s.op, "label": s.name, **({"value": s.value} if s.op in ("input", "const") else {})}
        for s in steps_
    ]
    edges = [
        {"from": inp, "to": s.name}
        for s in steps_
        for inp in s.inputs
        if isinstance(inp, str)
    ]
    return {"nodes": nodes, "edges": edges, "output": steps_[-1].name}


KINDS = (ComputationalGraph,)
