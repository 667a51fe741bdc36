"""Tagged JSON values: how case arguments, expectations and observed results are written.

Every value is a dict {"type": T, "value": V}:
    array      V nested lists of numbers      -> numpy float64 array (shape from the nesting)
    int_array  V nested lists of ints         -> numpy int64 array (compared exactly)
    float      V number                       -> Python float (compared with the tolerance)
    int        V integer                      -> Python int (compared exactly)
    str        V string                       -> Python str
    list       V list of tagged values        -> Python list
    tuple      V list of tagged values        -> Python tuple (a returned list is accepted too)
    var        V name of an object the case created earlier (arguments only)
Observed results (`observe`) use the same tags plus "none" and "other" (with a repr); arrays
there carry "shape" and "dtype", and non-finite entries are the strings "nan", "inf", "-inf";
an array of more than MAX_OBSERVED_ENTRIES entries is "large_array" with its shape alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_REPR = 200  # characters of an unexpected object's repr kept in an observation
# Entries of a returned array or list sent back in full. A larger one is observed by its shape
# only: converting a 2000x2000 array to JSON inside the sandbox ran out of memory or time, and
# the feedback blamed the student's code for that instead of the wrong shape (QA). Every
# expected value is far smaller.
MAX_OBSERVED_ENTRIES = 100_000


# --- writing expectations and arguments (generator side) ----------------------------------------


def array(value) -> dict:
    return {"type": "array", "value": np.asarray(value, dtype=np.float64)}


def int_array(value) -> dict:
    return {"type": "int_array", "value": np.asarray(value, dtype=np.int64)}


def number(value: float) -> dict:
    return {"type": "float", "value": float(value)}


def integer(value: int) -> dict:
    return {"type": "int", "value": int(value)}


def text(value: str) -> dict:
    return {"type": "str", "value": str(value)}


def items(values: list[dict]) -> dict:
    return {"type": "list", "value": list(values)}


def pair(*values: dict) -> dict:
    return {"type": "tuple", "value": list(values)}


def var(name: str) -> dict:
    return {"type": "var", "value": name}


def arrays(values) -> dict:
    """A list of float64 arrays (e.g. the weight matrices W^1..W^L)."""
    return items([array(v) for v in values])


# --- reading arguments (harness side) -------------------------------------------------------------


def decode(tagged: Mapping, variables: Mapping[str, Any]) -> Any:
    """The Python value of a tagged argument; a fresh copy each time, so calls share nothing."""
    kind, value = tagged["type"], tagged["value"]
    if kind == "array":
        return np.array(value, dtype=np.float64)
    if kind == "int_array":
        return np.array(value, dtype=np.int64)
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "str":
        return str(value)
    if kind == "list":
        return [decode(v, variables) for v in value]
    if kind == "tuple":
        return tuple(decode(v, variables) for v in value)
    if kind == "var":
        if value not in variables:
            raise KeyError(f"the case refers to {value!r} before creating it")
        return variables[value]
    raise ValueError(f"unknown value type {kind!r}")


# --- observing results (harness side, JSON-safe) ----------------------------------------------------


def observe(value: Any) -> dict:
    """A JSON-safe description of whatever the submission returned."""
    if value is None:
        return {"type": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"type": "other", "repr": repr(bool(value))}
    if isinstance(value, (int, np.integer)):
        return {"type": "int", "value": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"type": "float", "value": _json_float(float(value))}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size > MAX_OBSERVED_ENTRIES:
        return {"type": "large_array", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        data = value.astype(np.float64) if value.dtype.kind in "bf" else value
        return {
            "type": "array",
            "shape": list(value.shape),
            "dtype": str(value.dtype),
            "value": _json_nested(data.tolist()),
        }
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        if len(value) > MAX_OBSERVED_ENTRIES:
            return {"type": "other", "repr": f"a {kind} of {_items(len(value))}"}
        return {"type": kind, "value": [observe(v) for v in value]}
    return {"type": "other", "repr": repr(value)[:MAX_REPR]}


def _json_float(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _json_nested(value):
    if isinstance(value, list):
        return [_json_nested(v) for v in value]
    if isinstance(value, float):
        return _json_float(value)
    return value


# --- comparing (grader side) -------------------------------------------------------------------------


def mismatch(expected: Mapping, observed: Mapping, tolerance: Mapping, where: str = "result") -> str | None:
    """Why `observed` does not meet `expected` (a sentence naming `where`), or None."""
    kind = expected["type"]
    got = observed.get("type")
    if kind in ("list", "tuple"):
        if got not in ("list", "tuple"):
            return f"{where} should be a {kind} of {_items(len(expected['value']))}, got {_describe(observed)}"
        if len(observed["value"]) != len(expected["value"]):
            return (
                f"{where} should have {_items(len(expected['value']))}, "
                f"got {len(observed['value'])}"
            )
        for i, (e, o) in enumerate(zip(expected["value"], observed["value"], strict=True)):
            problem = mismatch(e, o, tolerance, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if kind in ("array", "int_array"):
        if got == "large_array":
            return f"{where} should have shape {_shape(np.shape(expected['value']))}, got {_shape(observed['shape'])}"
        if got != "array":
            return f"{where} should be a numpy array, got {_describe(observed)}"
        want = np.asarray(expected["value"], dtype=np.float64)
        have = np.array(observed["value"], dtype=np.float64).reshape(observed["shape"])
        if kind == "int_array" and want.ndim == 1 and have.shape == (1, want.size):
            have = have.reshape(want.shape)  # class indices as a 1 x b row: the same b indices
        if have.shape != want.shape:
            return f"{where} should have shape {_shape(want.shape)}, got {_shape(have.shape)}"
        if not np.all(np.isfinite(have)):
            return f"{where} contains nan or inf"
        if kind == "int_array":
            wrong = have != want
        else:
            wrong = np.abs(have - want) > tolerance["atol"] + tolerance["rtol"] * np.abs(want)
        if np.any(wrong):
            index = tuple(int(i) for i in np.argwhere(wrong)[0])
            return (
                f"{where} is wrong at index {list(index)}: expected {want[index]:.10g}, "
                f"got {have[index]:.10g} ({int(wrong.sum())} of {wrong.size} {'entry' if wrong.size == 1 else 'entries'} wrong)"
            )
        return None
    if kind in ("float", "int"):
        have = _as_single_number(observed)
        if have is None:
            return f"{where} should be a single number, got {_describe(observed)}"
        want = float(expected["value"])
        if not math.isfinite(have):
            return f"{where} is {have}, not a finite number"
        if kind == "int" and have != want:
            return f"{where} should be {int(want)}, got {have:g}"
        if abs(have - want) > tolerance["atol"] + tolerance["rtol"] * abs(want):
            return f"{where} should be {want:.10g}, got {have:.10g}"
        return None
    if kind == "str":
        return None if observed.get("value") == expected["value"] and got == "str" else (
            f"{where} should be the string {expected['value']!r}"
        )
    raise ValueError(f"cannot compare against an expectation of type {kind!r}")


def _as_single_number(observed: Mapping) -> float | None:
    """A float/int, or an array with exactly one entry (e.g. NLL returning a 1x1 array)."""
    if observed.get("type") in ("float", "int"):
        return float(observed["value"])
    if observed.get("type") == "array":
        flat = np.array(observed["value"], dtype=np.float64).reshape(-1)
        return float(flat[0]) if flat.size == 1 else None
    return None


def _shape(shape) -> str:
    """A shape as feedback writes it: "3x1", and a 1-D one "(3,) (1-D)" (a bare "3" read as 3x1
    or 1x3 next to them)."""
    if not len(shape):
        return "() (a scalar)"
    return f"({shape[0]},) (1-D)" if len(shape) == 1 else "x".join(map(str, shape))


def _items(count: int) -> str:
    return "1 item" if count == 1 else f"{count} items"


def _describe(observed: Mapping) -> str:
    kind = observed.get("type")
    if kind in ("array", "large_array"):
        return f"an array of shape {_shape(observed['shape'])}"
    if kind in ("list", "tuple"):
        return f"a {kind} of {_items(len(observed['value']))}"
    if kind == "none":
        return "None"
    if kind == "other":
        return observed.get("repr", "an unsupported object")
    article = "an" if str(kind)[:1] in ("a", "e", "i", "o", "u") else "a"
    return f"{article} {kind} ({observed.get('value')!r})"
