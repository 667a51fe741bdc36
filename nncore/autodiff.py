"""Scalar computational graphs with forward values and reverse-mode gradients (backprop).

A graph is built either with Python operators on nodes (``var("x", 2.0) ** 2``) or from a
plain-data spec (a JSON-able list of dicts). ``Graph.evaluate`` returns every node's value and
every node's derivative of the output (summed over all paths), plus a step table for worked
solutions. Constants are not differentiated: they have values but no entry in ``grads``.
All arithmetic is Python float (IEEE float64); any NaN, infinity or domain error is a ValueError.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

# op -> number of arguments; "input" and "const" are leaves that carry a value.
ARITY: dict[str, int] = {
    "input": 0, "const": 0, "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "neg": 1,
    "exp": 1, "log": 1, "sqrt": 1, "sin": 1, "cos": 1, "sigmoid": 1, "relu": 1,
}
_LATEX: dict[str, str] = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} \\cdot {1}", "div": "\\frac{{{0}}}{{{1}}}",
    "pow": "{0}^{{{1}}}", "neg": "-{0}", "exp": "\\exp({0})", "log": "\\log({0})",
    "sqrt": "\\sqrt{{{0}}}", "sin": "\\sin({0})", "cos": "\\cos({0})", "sigmoid": "\\sigma({0})",
    "relu": "\\operatorname{{ReLU}}({0})",
}
_SPEC_KEYS = {"name", "op", "args", "value"}
_node_ids = itertools.count()


def _finite(value: Any, what: str) -> float:
    """Return `value` as a finite float, or raise ValueError saying what it was for."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{what} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r} (NaN and infinity are refused)")
    return value


def _fmt(value: float) -> str:
    """Compact number for LaTeX and tables (15 significant digits, no trailing zeros)."""
    return f"{value:.15g}"


def _unrounded(value: float) -> float:
    return value


def _sigmoid(a: float) -> float:
    """Logistic function computed without overflow for large |a|."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    z = math.exp(a)
    return z / (1.0 + z)


def _partials(op: str, xs: Sequence[float], y: float, relu0: float) -> list[float]:
    """Local derivatives d(y)/d(x_i) of y = op(*xs); may raise on a singular point."""
    a = xs[0]
    if op in ("add", "sub", "mul", "div", "pow"):
        b = xs[1]
        if op == "add":
            return [1.0, 1.0]
        if op == "sub":
            return [1.0, -1.0]
        if op == "mul":
            return [b, a]
        if op == "div":
            return [1.0 / b, -y / b]
        # d/da a^b = b a^(b-1) (0 when b == 0); d/db a^b = a^b ln a, defined only for a > 0.
        return [b * math.pow(a, b - 1.0) if b else 0.0, y * math.log(a) if a > 0 else math.nan]
    if op == "relu":
        return [1.0 if a > 0 else (relu0 if a == 0 else 0.0)]
    simple = {"neg": lambda: -1.0, "exp": lambda: y, "log": lambda: 1.0 / a,
              "sqrt": lambda: 0.5 / y, "sin": lambda: math.cos(a), "cos": lambda: -math.sin(a),
              "sigmoid": lambda: y * (1.0 - y)}
    return [simple[op]()]


_FORWARD = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": math.pow, "neg": lambda a: -a, "exp": math.exp,
    "log": math.log, "sqrt": math.sqrt, "sin": math.sin, "cos": math.cos, "sigmoid": _sigmoid,
    "relu": lambda a: a if a > 0 else 0.0,
}


class Node:
    """One scalar node; combine nodes with + - * / ** and unary -, or exp(), log(), ..."""

    __slots__ = ("op", "args", "value", "name", "_id")

    def __init__(self, op: str, args: Sequence[Node] = (), value: float | None = None,
                 name: str | None = None) -> None:
        if op not in ARITY:
            raise ValueError(f"unknown op {op!r}; known ops: {', '.join(ARITY)}")
        if len(args) != ARITY[op]:
            raise ValueError(f"op {op!r} takes {ARITY[op]} argument(s), got {len(args)}")
        self.op, self.args, self.name, self._id = op, tuple(args), name, next(_node_ids)
        self.value = None if value is None else _finite(value, f"value of {op} node {name!r}")

    def named(self, name: str) -> Node:
        """Give this node a name (as in the notes' a, b, c) and return it, for chaining."""
        self.name = name
        return self

    def __repr__(self) -> str:
        return f"Node({self.op!r}, name={self.name!r})"

    def __add__(self, other: Any) -> Node: return _binary("add", self, other)
    def __radd__(self, other: Any) -> Node: return _binary("add", other, self)
    def __sub__(self, other: Any) -> Node: return _binary("sub", self, other)
    def __rsub__(self, other: Any) -> Node: return _binary("sub", other, self)
    def __mul__(self, other: Any) -> Node: return _binary("mul", self, other)
    def __rmul__(self, other: Any) -> Node: return _binary("mul", other, self)
    def __truediv__(self, other: Any) -> Node: return _binary("div", self, other)
    def __rtruediv__(self, other: Any) -> Node: return _binary("div", other, self)
    def __pow__(self, other: Any) -> Node: return _binary("pow", self, other)
    def __rpow__(self, other: Any) -> Node: return _binary("pow", other, self)
    def __neg__(self) -> Node: return Node("neg", (self,))


def _promote(x: Any) -> Node:
    """Nodes pass through; plain numbers become unnamed constants; anything else is a TypeError."""
    if isinstance(x, Node):
        return x
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"expected a Node or a real number, got {type(x).__name__}")
    return Node("const", value=_finite(x, "constant"))


def _binary(op: str, a: Any, b: Any, name: str | None = None) -> Node:
    return Node(op, (_promote(a), _promote(b)), name=name)


def var(name: str, value: float | None = None) -> Node:
    """An input (differentiable leaf); its value may also be given later to evaluate()."""
    return Node("input", value=value, name=name)


def const(value: float, name: str | None = None) -> Node:
    """A constant leaf; it has a value but no gradient."""
    return Node("const", value=value, name=name)


def add(a: Any, b: Any, name: str | None = None) -> Node: return _binary("add", a, b, name)
def sub(a: Any, b: Any, name: str | None = None) -> Node: return _binary("sub", a, b, name)
def mul(a: Any, b: Any, name: str | None = None) -> Node: return _binary("mul", a, b, name)
def div(a: Any, b: Any, name: str | None = None) -> Node: return _binary("div", a, b, name)
def power(a: Any, b: Any, name: str | None = None) -> Node: return _binary("pow", a, b, name)
def neg(a: Any, name: str | None = None) -> Node: return Node("neg", (_promote(a),), name=name)
def exp(a: Any, name: str | None = None) -> Node: return Node("exp", (_promote(a),), name=name)
def log(a: Any, name: str | None = None) -> Node: return Node("log", (_promote(a),), name=name)
def sqrt(a: Any, name: str | None = None) -> Node: return Node("sqrt", (_promote(a),), name=name)
def sin(a: Any, name: str | None = None) -> Node: return Node("sin", (_promote(a),), name=name)
def cos(a: Any, name: str | None = None) -> Node: return Node("cos", (_promote(a),), name=name)
def sigmoid(a: Any, name: str | None = None) -> Node:
    return Node("sigmoid", (_promote(a),), name=name)
def relu(a: Any, name: str | None = None) -> Node: return Node("relu", (_promote(a),), name=name)


@dataclass(frozen=True)
class _Entry:
    """Internal node record: everything is referenced by name. `auto` marks generated names."""

    name: str
    op: str
    args: tuple[str, ...]
    value: float | None
    auto: bool


@dataclass(frozen=True)
class Step:
    """One row of the worked solution: a node, its inputs, value, local and total derivatives.

    `inputs` holds node names, or the number itself for an inline constant. `local_grads[i]`
    is d(node)/d(inputs[i]) (None for constants); `grad` is d(output)/d(node) (None for consts).
    """

    name: str
    op: str
    inputs: tuple[str | float, ...]
    value: float
    local_grads: tuple[float | None, ...]
    grad: float | None
    latex: str


@dataclass(frozen=True)
class Result:
    """Forward values and gradients of one evaluation, keyed by node name (inline constants
    are left out). `relu_kinks` lists ReLU nodes whose input was exactly 0."""

    output: str
    values: dict[str, float]
    grads: dict[str, float]
    relu_kinks: tuple[str, ...]
    step_rows: tuple[Step, ...]

    def steps(self) -> list[Step]:
        """Rows in evaluation (topological) order, ending with the output."""
        return list(self.step_rows)

    def table(self, digits: int = 6) -> str:
        """Plain-text table of the steps (values shown to `digits` significant digits)."""
        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.{digits}g}"
        rows = [("node", "op", "inputs", "value", "local derivatives", f"d{self.output}/dnode")]
        for s in self.step_rows:
            ins = ", ".join(i if isinstance(i, str) else num(i) for i in s.inputs)
            rows.append((s.name, s.op, ins, num(s.value),
                         ", ".join(num(g) for g in s.local_grads), num(s.grad)))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                         for r in rows)


class Graph:
    """A validated, topologically ordered graph with one output. Build it with
    `Graph.from_node` or `graph_from_spec`; every node must feed the output."""

    def __init__(self, entries: Sequence[_Entry], output: str) -> None:
        self.output = output
        self._nodes = {e.name: e for e in _toposort(entries, output)}

    @property
    def names(self) -> list[str]:
        """Node names in evaluation order, without inline (unnamed) constants."""
        return [n for n, e in self._nodes.items() if not self._inline(e)]

    def _inline(self, e: _Entry) -> bool:
        return e.op == "const" and e.auto and e.name != self.output

    @classmethod
    def from_node(cls, output: Node) -> Graph:
        """Collect `output` and all its ancestors; unnamed nodes get names v1, v2, ...
        (unnamed constants get hidden names _c1, ... and are written inline)."""
        seen: dict[int, Node] = {}
        stack = [output]
        while stack:
            n = stack.pop()
            if id(n) not in seen:
                seen[id(n)] = n
                stack.extend(n.args)
        nodes = sorted(seen.values(), key=lambda n: n._id)  # creation order is a valid topo order
        owner: dict[str, Node] = {}
        for n in nodes:
            if n.name is not None:
                if not isinstance(n.name, str) or not n.name:
                    raise ValueError(f"node names must be non-empty strings, got {n.name!r}")
                if n.name in owner:
                    raise ValueError(f"duplicate node name {n.name!r}")
                owner[n.name] = n
        fresh, fresh_c = _fresh_names(set(owner), "v"), _fresh_names(set(owner), "_c")
        names = {id(n): n.name if n.name is not None else next(fresh_c if n.op == "const" else fresh)
                 for n in nodes}
        entries = [_Entry(names[id(n)], n.op, tuple(names[id(a)] for a in n.args), n.value,
                          n.name is None) for n in nodes]
        return cls(entries, names[id(output)])

    @classmethod
    def from_spec(cls, spec: Sequence[Mapping[str, Any]], output: str | None = None) -> Graph:
        """Graph from a list of {"name", "op", "args", "value"} dicts, in any order.

        Args are node names or plain numbers (inline constants); `value` is required for
        "const" and optional for "input". The output defaults to the last entry.
        """
        if isinstance(spec, (str, bytes, Mapping)) or not spec:
            raise ValueError("spec must be a non-empty list of node dicts")
        for i, d in enumerate(spec):
            if not isinstance(d, Mapping) or not isinstance(d.get("name"), str) or not d["name"]:
                raise ValueError(f"spec entry {i} must be a dict with a non-empty string 'name'")
        fresh = _fresh_names({d["name"] for d in spec}, "_c")
        entries: list[_Entry] = []
        for d in spec:
            name, op, args = d["name"], d.get("op"), d.get("args", [])
            if unknown := set(d) - _SPEC_KEYS:
                raise ValueError(f"node {name!r}: unknown keys {sorted(unknown)}; "
                                 f"allowed: {sorted(_SPEC_KEYS)}")
            if op not in ARITY:
                raise ValueError(f"node {name!r}: unknown op {op!r}; known ops: {', '.join(ARITY)}")
            if isinstance(args, (str, bytes)) or not isinstance(args, Sequence):
                raise ValueError(f"node {name!r}: 'args' must be a list, got {args!r}")
            if len(args) != ARITY[op]:
                raise ValueError(f"node {name!r}: op {op!r} takes {ARITY[op]} argument(s), "
                                 f"got {len(args)}")
            value = d.get("value")
            if op == "const" and value is None:
                raise ValueError(f"const node {name!r} needs a 'value'")
            if value is not None:
                if op not in ("input", "const"):
                    raise ValueError(f"node {name!r}: only input/const nodes take a 'value'")
                value = _finite(value, f"value of node {name!r}")
            arg_names = []
            for a in args:
                if isinstance(a, str):
                    arg_names.append(a)
                else:
                    c = _Entry(next(fresh), "const", (), _finite(a, f"argument of {name!r}"), True)
                    entries.append(c)
                    arg_names.append(c.name)
            entries.append(_Entry(name, op, tuple(arg_names), value, False))
        return cls(entries, spec[-1]["name"] if output is None else output)

    def to_spec(self) -> list[dict[str, Any]]:
        """JSON-able spec (inline constants written as numbers); the output is the last entry."""
        out = []
        for e in self._nodes.values():
            if self._inline(e):
                continue
            d: dict[str, Any] = {"name": e.name, "op": e.op}
            if e.args:
                d["args"] = [self._nodes[a].value if self._inline(self._nodes[a]) else a
                             for a in e.args]
            if e.value is not None:
                d["value"] = e.value
            out.append(d)
        return out

    def _arg_latex(self, name: str, wrap: bool) -> str:
        e = self._nodes[name]
        if not self._inline(e):
            return name
        assert e.value is not None
        return f"({_fmt(e.value)})" if wrap and e.value < 0 else _fmt(e.value)

    def latex(self, name: str) -> str:
        """The node's defining equation, e.g. 'c = a + b' or 'd = \\sqrt{c}'."""
        e = self._nodes[name]
        if e.op in ("input", "const"):
            return name if e.value is None else f"{name} = {_fmt(e.value)}"
        wrap = {"add": 1, "sub": 1, "mul": 1, "pow": 0, "neg": 0}.get(e.op)  # arg needing (-c)
        args = [self._arg_latex(a, i == wrap) for i, a in enumerate(e.args)]
        return f"{name} = " + _LATEX[e.op].format(*args)

    def evaluate(self, inputs: Mapping[str, float] | None = None, *,
                 relu_prime_at_zero: float = 1.0,
                 round_value: Callable[[float], float] | None = None) -> Result:
        """Forward pass in topological order, then reverse pass from d(out)/d(out) = 1.

        `inputs` overrides input values by name. `relu_prime_at_zero` is the ReLU derivative
        used at exactly 0 (1.0 as in MIT 6.390); such nodes are reported in `relu_kinks`.
        `round_value` models a student with a calculator: every number written down (a node's
        value, a local derivative, a node's total derivative) passes through it before use.
        """
        keep = round_value or _unrounded
        relu0 = _finite(relu_prime_at_zero, "relu_prime_at_zero")
        inputs = dict(inputs or {})
        for k in inputs:
            if k not in self._nodes or self._nodes[k].op != "input":
                raise ValueError(f"{k!r} is not an input node of this graph")
        val: dict[str, float] = {}
        for e in self._nodes.values():
            val[e.name] = self._forward(e, inputs, val)
            if e.op not in ("input", "const"):
                val[e.name] = keep(val[e.name])
        grads = {n: 0.0 for n, e in self._nodes.items() if e.op != "const"}
        if self.output in grads:
            grads[self.output] = 1.0
        local: dict[str, tuple[float | None, ...]] = {}
        for e in reversed(self._nodes.values()):  # every consumer of e came before: its total is final
            if e.name in grads:
                grads[e.name] = keep(grads[e.name])
            local[e.name] = tuple(None if d is None else keep(d) for d in self._local(e, val, relu0))
            for a, d in zip(e.args, local[e.name], strict=True):
                if d is not None:
                    grads[a] += grads[e.name] * d
        for n, g in grads.items():
            if not math.isfinite(g):
                raise ValueError(f"gradient at node {n!r} overflowed to {g}")
        kinks = tuple(e.name for e in self._nodes.values()
                      if e.op == "relu" and val[e.args[0]] == 0.0)
        steps = tuple(Step(n, self._nodes[n].op,
                           tuple(self._nodes[a].value if self._inline(self._nodes[a]) else a
                                 for a in self._nodes[n].args),
                           val[n], local[n], grads.get(n), self.latex(n)) for n in self.names)
        return Result(self.output, {n: val[n] for n in self.names}, grads, kinks, steps)

    def _forward(self, e: _Entry, inputs: Mapping[str, float], val: Mapping[str, float]) -> float:
        """Value of one node from its arguments' values, with domain checks naming the node."""
        if e.op == "input":
            if e.name in inputs:
                return _finite(inputs[e.name], f"input {e.name!r}")
            if e.value is None:
                raise ValueError(f"input {e.name!r} has no value; pass it to evaluate()")
            return e.value
        if e.op == "const":
            assert e.value is not None
            return e.value
        xs = [val[a] for a in e.args]
        bad = None
        if e.op == "log" and xs[0] <= 0:
            bad = "log of a non-positive value"
        elif e.op == "sqrt" and xs[0] < 0:
            bad = "sqrt of a negative value"
        elif e.op == "div" and xs[1] == 0:
            bad = "division by zero"
        elif e.op == "pow":
            if self._nodes[e.args[1]].op != "const" and xs[0] <= 0:
                bad = "pow with a non-constant exponent needs base > 0"
            elif xs[0] < 0 and not xs[1].is_integer():
                bad = "negative base with a non-integer exponent"
            elif xs[0] == 0 and xs[1] < 0:
                bad = "division by zero (0 to a negative power)"
        if bad is None:
            try:
                y = _FORWARD[e.op](*xs)
            except OverflowError:
                bad = "overflow (the result is too large for float64)"
            except (ValueError, ZeroDivisionError) as exc:
                bad = f"{exc}"
            else:
                if math.isfinite(y):
                    return y
                bad = f"result {y} is not finite"
        raise ValueError(f"node {e.name!r} = {e.op}({', '.join(map(repr, xs))}): {bad}")

    def _local(self, e: _Entry, val: Mapping[str, float],
               relu0: float) -> tuple[float | None, ...]:
        """Partial derivatives of node `e` w.r.t. each argument (None for constant args)."""
        if not e.args:
            return ()
        xs, y, op = [val[a] for a in e.args], val[e.name], e.op
        want = [self._nodes[a].op != "const" for a in e.args]
        try:
            d = _partials(op, xs, y, relu0)
        except (OverflowError, ValueError, ZeroDivisionError):
            d = [math.inf] * len(xs)
        for i, di in enumerate(d):
            if want[i] and not math.isfinite(di):
                raise ValueError(f"node {e.name!r} = {op}({', '.join(map(repr, xs))}): "
                                 f"derivative w.r.t. {e.args[i]!r} is undefined/infinite here")
        return tuple(di if w else None for di, w in zip(d, want, strict=True))


def graph_from_spec(spec: Sequence[Mapping[str, Any]], output: str | None = None) -> Graph:
    """Same as `Graph.from_spec`: build a graph from JSON-able node dicts."""
    return Graph.from_spec(spec, output)


def _fresh_names(taken: set[str], prefix: str) -> Iterator[str]:
    """Yield prefix1, prefix2, ... skipping names already used."""
    return (f"{prefix}{i}" for i in itertools.count(1) if f"{prefix}{i}" not in taken)


def _toposort(entries: Sequence[_Entry], output: str) -> list[_Entry]:
    """Check names/references/cycles/reachability and order nodes topologically, keeping the
    listed order wherever the dependencies allow (so the notes' a, b, c... stay in order)."""
    by_name: dict[str, _Entry] = {}
    for e in entries:
        if e.name in by_name:
            raise ValueError(f"duplicate node name {e.name!r}")
        by_name[e.name] = e
    for e in entries:
        for a in e.args:
            if a not in by_name:
                raise ValueError(f"node {e.name!r} refers to undefined node {a!r}")
    index = {e.name: i for i, e in enumerate(entries)}
    waiting = {e.name: set(e.args) for e in entries}
    users: dict[str, list[str]] = {e.name: [] for e in entries}
    for e in entries:
        for a in set(e.args):
            users[a].append(e.name)
    ready = [(index[n], n) for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[_Entry] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(by_name[n])
        for u in users[n]:
            waiting[u].discard(n)
            if not waiting[u]:
                heapq.heappush(ready, (index[u], u))
    if len(order) < len(entries):
        stuck = {n for n, deps in waiting.items() if deps}
        while sinks := {n for n in stuck if not stuck.intersection(users[n])}:
            stuck -= sinks  # drop nodes that merely sit downstream of a cycle
        raise ValueError(f"the graph has a cycle through nodes {sorted(stuck, key=index.get)}")
    if output not in by_name:
        raise ValueError(f"output node {output!r} is not defined")
    reach, stack = set(), [output]
    while stack:
        n = stack.pop()
        if n not in reach:
            reach.add(n)
            stack.extend(by_name[n].args)
    if unused := [e.name for e in order if e.name not in reach and not e.auto]:
        raise ValueError(f"nodes {unused} do not feed the output {output!r}")
    return order
