"""The reference harness: run one scripted case against a submission, then judge the run.

Split in two so expected values never enter the sandbox:
- inside the sandbox: `run_case(namespace, public_case(case))` executes the steps against the
  namespace of the freshly executed submission and returns JSON-safe observations;
- outside: `judge_case(case, observations)` compares them with the case's expectations.

Steps (each a dict, run in order; the first error stops the case):
    {"op": "call", "func": F, "args": [...]}              result = namespace[F](*args)
    {"op": "new", "var": V, "class": C, "args": [...]}    variables[V] = namespace[C](*args)
    {"op": "set", "var": V, "attr": A, "value": x}        setattr(variables[V], A, x)  (weights
                                                          injected after construction)
    {"op": "call", "var": V, "method": M, "args": [...]}  result = variables[V].M(*args)
    {"op": "get", "var": V, "attr": A}                    result = getattr(variables[V], A)
A "call" may carry "randint": [i_0, i_1, ...]: during that call numpy.random.randint is replaced
by a function returning i_0, i_1, ... in turn (it refuses `size=`, a bound that excludes the
scripted index, and more calls than scripted); the observation records how many calls were made.
Every argument is decoded afresh for every call (see `values`). When the case has
"check_inputs_unchanged": true, each call's array arguments are compared before and after the
call, and any change fails the case ("mutated its input").
A call or get step with an "expect" value is compared with the tolerance of the case; "expect"
null (or absent) means the result is not checked (e.g. sgd_step returning None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nncore.problems.code.values import decode, mismatch, observe

MAX_ERROR = 300  # characters of an exception message kept in an observation
MAX_TRACEBACK = 8000  # characters of a (student-only) traceback kept in an observation


# Why a submission that does draw its examples may be seen making no call: the case replaces the
# attribute np.random.randint while the step runs, so only a call through it is scripted.
UNSEEN_RANDINT = (
    "; only a call written np.random.randint(...) is seen (the case chooses the examples): "
    "a randint imported with `from numpy.random import randint`, or kept in a variable "
    "before the call, is NumPy's own and draws its own indices"
)


class ScriptError(RuntimeError):
    """The submission used np.random.randint in a way the scripted index order cannot serve."""


# Shown in the student's traceback as "ScriptError: ...", as a built-in exception is, not under
# the grader's module path (QA: "nncore.problems.code.harness.ScriptError" named grader internals)
ScriptError.__module__ = "builtins"


@contextmanager
def injected_randint(sequence: Sequence[int]) -> Iterator[list[int]]:
    """Replace numpy.random.randint by a scripted index sequence; yields the list of returned
    indices (its length is the number of calls)."""
    returned: list[int] = []
    original = np.random.randint

    def scripted(low, high=None, size=None, dtype=int):
        one = _one_index(size)  # randint(N, size=1)[0]: one index too (QA: it was refused)
        if size is not None and not one:
            raise ScriptError(
                "draw one example index per iteration with np.random.randint(N), without size="
            )
        if len(returned) >= len(sequence):
            raise ScriptError(
                f"np.random.randint was called more than the {len(sequence)} times scripted "
                "(once per iteration)"
            )
        index = int(sequence[len(returned)])
        lo, hi = (0, int(low)) if high is None else (int(low), int(high))
        if not lo <= index < hi:
            raise ScriptError(
                f"np.random.randint({lo}, {hi}) cannot give the scripted example index {index}; "
                "draw it with np.random.randint(N) where N is the number of columns of X"
            )
        returned.append(index)
        return np.array([index], dtype=dtype) if one else index

    np.random.randint = scripted
    try:
        yield returned
    finally:
        np.random.randint = original


def _one_index(size) -> bool:
    """Whether randint's `size` asks for one index (1, (1,), [1], np.array([1])); never raises."""
    try:
        sizes = np.asarray(size)
        return sizes.dtype.kind in "iu" and sizes.ndim <= 1 and sizes.size == 1 and int(sizes.reshape(-1)[0]) == 1
    except Exception:
        return False


def exit_hint(error: str) -> str:
    """What to do instead, for an error that is sys.exit() or exit() (QA: a SystemExit read as a crash)."""
    if error.split(":", 1)[0] != "SystemExit":
        return ""
    return " (sys.exit() and exit() end the whole program: return from the function instead)"


def public_case(case: Mapping) -> dict:
    """The case without its expectations: what may be shown to students or sent to a sandbox.

    New dicts for the case and its steps, but argument values are shared with `case` (copying
    them cost more than the rest of grading): treat both as read-only."""
    out = {k: v for k, v in case.items() if k != "steps"}
    out["steps"] = [{k: v for k, v in s.items() if k != "expect"} for s in case["steps"]]
    return out


def run_case(
    namespace: Mapping[str, Any],
    case: Mapping,
    describe_error: Callable[[BaseException], str] | None = None,
) -> list[dict]:
    """Execute the steps; one observation per step run: {"step", "ok", "value"?, "error"?,
    "traceback"?, "inputs_changed"?, "randint_calls"?}. Stops after the first step that raises.
    `describe_error` (the sandbox passes one that keeps only the student's frames) adds the
    traceback of that exception to its observation; there a SystemExit or KeyboardInterrupt is
    the student's too, a step's failure. Without it (trusted runs in the worker's own process)
    those are the process's and pass through."""
    variables: dict[str, Any] = {}
    observations: list[dict] = []
    check_inputs = bool(case.get("check_inputs_unchanged", False))
    for index, step in enumerate(case["steps"]):
        record: dict[str, Any] = {"step": index, "ok": True}
        try:
            op = step["op"]
            if op == "new":
                cls = _lookup(namespace, step["class"], "class")
                variables[step["var"]] = cls(*[decode(a, variables) for a in step.get("args", [])])
            elif op == "set":
                setattr(_object(variables, step["var"]), step["attr"], decode(step["value"], variables))
            elif op == "get":
                record["value"] = observe(getattr(_object(variables, step["var"]), step["attr"]))
            elif op == "call":
                target = _callable(namespace, variables, step)
                args = [decode(a, variables) for a in step.get("args", [])]
                before = [_snapshot(a) for a in args] if check_inputs else None
                if "randint" in step:
                    with injected_randint(step["randint"]) as returned:
                        result = target(*args)
                    record["randint_calls"] = len(returned)
                else:
                    result = target(*args)
                record["value"] = observe(result)
                if check_inputs:
                    record["inputs_changed"] = [
                        i for i, (old, arg) in enumerate(zip(before, args, strict=True))
                        if not _same(old, _arrays_only(arg))
                    ]
            else:
                raise ValueError(f"unknown step op {op!r}")
        except BaseException as exc:  # any failure of student code, sys.exit() too, is an observation
            if describe_error is None and not isinstance(exc, Exception):
                raise  # a trusted in-process run (no sandbox): a SystemExit or KeyboardInterrupt is the process's own
            said = f"{exc}"  # the name alone when the exception says nothing ("NotImplementedError: " read as cut off)
            record = {"step": index, "ok": False, "error": (f"{type(exc).__name__}: {said}" if said else type(exc).__name__)[:MAX_ERROR]}
            if describe_error is not None:
                record["traceback"] = describe_error(exc)[:MAX_TRACEBACK]
            observations.append(record)
            break
        observations.append(record)
    return observations


def _lookup(namespace: Mapping[str, Any], name: str, what: str) -> Any:
    if name not in namespace:
        raise NameError(f"the submission defines no {what} {name!r}")
    return namespace[name]


def _object(variables: Mapping[str, Any], name: str) -> Any:
    if name not in variables:
        raise KeyError(f"the case uses {name!r} before creating it")
    return variables[name]


def _callable(namespace: Mapping[str, Any], variables: Mapping[str, Any], step: Mapping) -> Any:
    if "func" in step:
        return _lookup(namespace, step["func"], "function")
    obj = _object(variables, step["var"])
    method = getattr(obj, step["method"], None)
    if method is None:
        raise AttributeError(f"{type(obj).__name__} has no method {step['method']!r}")
    return method


def _snapshot(value: Any) -> Any:
    """A private copy of an argument's array content (what _arrays_only compares against)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return [_snapshot(v) for v in value]
    return None


def _arrays_only(value: Any) -> Any:
    """The array content of an argument (objects passed by 'var' are not input data)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return [_arrays_only(v) for v in value]
    return None


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, np.ndarray):
        return (
            isinstance(new, np.ndarray)
            and old.shape == new.shape
            and old.dtype == new.dtype
            # entrywise == settles the usual case (no NaN) at a fraction of array_equal's cost
            and (bool((old == new).all()) or bool(np.array_equal(old, new, equal_nan=True)))
        )
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(map(_same, old, new))
    return True


# --- judging (outside the sandbox) ---------------------------------------------------------------


@dataclass
class CaseVerdict:
    """Whether a case passed; `message` explains the first failure in one sentence."""

    name: str
    passed: bool
    message: str = ""
    failed_step: int | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
            "failed_step": self.failed_step,
        }


def judge_case(case: Mapping, observations: Sequence[Mapping]) -> CaseVerdict:
    """Compare a run's observations with the case's expectations (full case, with "expect")."""
    name = case.get("name", "case")
    by_step = {o["step"]: o for o in observations}
    tolerance = case.get("tolerance", {"rtol": 1e-6, "atol": 1e-9})
    for index, step in enumerate(case["steps"]):
        where = describe_step(step)
        obs = by_step.get(index)
        if obs is None:
            return CaseVerdict(name, False, f"step {index + 1} ({where}) was not reached", index)
        if not obs.get("ok"):
            details = {"traceback": obs["traceback"]} if obs.get("traceback") else {}
            error = str(obs.get("error"))
            return CaseVerdict(
                name, False, f"step {index + 1} ({where}) raised {error}{exit_hint(error)}", index, details
            )
        if case.get("check_inputs_unchanged") and obs.get("inputs_changed"):
            which = ", ".join(f"argument {i + 1}" for i in obs["inputs_changed"])
            return CaseVerdict(
                name, False, f"step {index + 1} ({where}) modified its input ({which}); "
                "work on copies instead of changing the caller's arrays", index
            )
        if "randint" in step and obs.get("randint_calls") != len(step["randint"]):
            calls = obs.get("randint_calls", 0)
            return CaseVerdict(
                name, False, f"step {index + 1} ({where}) called np.random.randint "
                f"{calls} times, expected {len(step['randint'])} "
                f"(one random example per iteration){UNSEEN_RANDINT if not calls else ''}", index
            )
        expected = step.get("expect")
        if expected is not None:
            problem = mismatch(expected, obs.get("value", {"type": "none"}), tolerance, where)
            if problem:
                return CaseVerdict(name, False, f"step {index + 1}: {problem}", index)
    return CaseVerdict(name, True)


def expected_outputs(case: Mapping) -> list[np.ndarray]:
    """Every expectation of a case flattened to float64 arrays, in step order (lists and tuples
    unrolled, a float as a 0-d array, class indices as exact integers in float64), for a
    comparator that works on a flat list of arrays. Shape rules stay exact; the case's tolerance
    is safe for class indices (they differ by at least 1)."""
    out: list[np.ndarray] = []

    def walk(tagged: Mapping) -> None:
        if tagged["type"] in ("list", "tuple"):
            for item in tagged["value"]:
                walk(item)
        elif tagged["type"] in ("array", "int_array", "float", "int"):
            out.append(np.asarray(tagged["value"], dtype=np.float64))
        else:
            raise ValueError(f"expectation of type {tagged['type']!r} is not numeric")

    for step in case["steps"]:
        if step.get("expect") is not None:
            walk(step["expect"])
    return out


def case_source(case: Mapping) -> str:
    """A case's steps as Python a student can paste after their code to run the case themselves
    (`import numpy as np` first; during a step with scripted examples np.random.randint returns
    the case's indices, as in the grader). Only for public cases: the steps hold the inputs."""
    lines = ["import numpy as np"]
    for number, step in enumerate(case.get("steps", []), start=1):
        op, args = step.get("op"), ", ".join(_source(a) for a in step.get("args", []))
        if op == "new":
            line = f"{step['var']} = {step['class']}({args})"
        elif op == "set":
            line = f"{step['var']}.{step['attr']} = {_source(step['value'])}"
        elif op == "get":
            line = f"print({step['var']}.{step['attr']})"
        elif op == "call":
            target = step["func"] if "func" in step else f"{step['var']}.{step['method']}"
            line = f"print({target}({args}))"
            if "randint" in step:  # the examples the case draws, in its order
                order = ", ".join(str(int(i)) for i in step["randint"])
                lines += [
                    f"_examples = iter([{order}])  # step {number}: np.random.randint(N) returns these in turn",
                    "_randint, np.random.randint = np.random.randint, "
                    "lambda *args, size=None, **kwargs: next(_examples) if size is None else np.array([next(_examples)])",
                    f"{line}  # step {number}",
                    "np.random.randint = _randint",
                ]
                continue
        else:
            continue
        lines.append(f"{line}  # step {number}")
    return "\n".join(lines) + "\n"


def _source(tagged: Mapping) -> str:
    """A tagged argument (values.decode's format) as a Python expression."""
    kind, value = tagged["type"], tagged["value"]
    if kind in ("array", "int_array"):
        return f"np.array({value!r})" if kind == "array" else f"np.array({value!r}, dtype=np.int64)"
    if kind in ("float", "int", "str"):
        return repr({"float": float, "int": int, "str": str}[kind](value))
    if kind == "var":
        return str(value)
    items = [_source(v) for v in value]
    if kind == "tuple":
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    return f"[{', '.join(items)}]"


def describe_step(step: Mapping) -> str:
    """A short name of a step for messages: 'softmax(...)', 'lin.backward(...)', 'lin.dLdW'."""
    op = step.get("op")
    if op == "call":
        return f"{step['func']}(...)" if "func" in step else f"{step['var']}.{step['method']}(...)"
    if op == "get":
        return f"{step['var']}.{step['attr']}"
    if op == "set":
        return f"{step['var']}.{step['attr']} = ..."
    if op == "new":
        return f"{step['var']} = {step['class']}(...)"
    return str(op)
