"""Script jobs, parent side: case scripts in, observations out, never trusting what comes back.

A code exercise's test case is a script of steps (nncore.problems.code.harness). The parent sends
each PUBLIC case (no expectations) as its JSON bytes (one uint8 array); inside the sandbox the
harness runs it with run_case and sends back the observations as JSON bytes in a uint8 array
(see harness.SCRIPT_ENTRY; the result parser takes no other dtype from a script job). Here those
bytes are checked strictly: exactly one uint8 array, valid UTF-8 JSON of a bounded size, and the
shape of a list of observations. Anything else is None ("malformed"); nothing here raises on student bytes.
What comes out is rebuilt from the known keys and can be stored: no NaN or infinite numbers, and
a NUL or a lone surrogate (JSON's \\u0000 and \\ud800 escapes, which PostgreSQL cannot store as
text) becomes U+FFFD.
The student can forge observations, but they only carry values to compare with expectations
that never entered the sandbox, so a forgery earns no more than computing the values would.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from autograder.sandbox.harness import SCRIPT_ENTRY

MAX_OBSERVATION_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 16  # nesting of observed values (lists of lists of arrays...)
_VALUE_TYPES = {"none", "other", "int", "float", "array", "large_array", "list", "tuple", "str"}
_SURROGATE = re.compile("[\ud800-\udfff]")

__all__ = ["SCRIPT_ENTRY", "decode_observations", "encode_case", "storable_text"]


def encode_case(public_case: Mapping) -> bytes:
    """A public case script as its JSON bytes (the input of a script job, frames.encode_bytes)."""
    return json.dumps(public_case, allow_nan=False, separators=(",", ":")).encode("utf-8")


def decode_observations(outputs: Sequence[np.ndarray], steps: int) -> list[dict] | None:
    """The observations of one case from a run's outputs, or None when they are malformed.

    Each observation is rebuilt from the keys the judge reads, so what is returned (and kept
    with the submission) holds no extra keys, no NaN or infinite numbers (JSON's NaN and
    Infinity, or 1e400) and only storable strings.
    """
    if len(outputs) != 1:
        return None
    data = outputs[0]
    if (
        type(data) is not np.ndarray
        or data.dtype != np.uint8
        or data.ndim != 1
        or data.size > MAX_OBSERVATION_BYTES
    ):
        return None
    try:
        text = data.tobytes().decode("utf-8")
        parsed = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(parsed, list) or len(parsed) > steps:
        return None
    # Only an escape (\\u0000, \\ud800) can put a NUL or a lone surrogate into a string.
    clean = storable_text if "\\u" in text else _unchanged
    observations = [_observation(o, i, clean) for i, o in enumerate(parsed)]
    return None if any(o is None for o in observations) else observations


def storable_text(text: str) -> str:
    """Text PostgreSQL can store: NUL characters and lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def _unchanged(text: str) -> str:
    return text


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")  # the harness writes non-finite values as strings


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e400
        raise ValueError("number out of range")
    return value


def _observation(obs: object, position: int, clean) -> dict | None:
    """A copy of one step's observation with only the keys the judge reads, or None."""
    if not isinstance(obs, dict) or obs.get("step") != position or not isinstance(obs.get("ok"), bool):
        return None
    out: dict = {"step": position, "ok": obs["ok"]}
    for key in ("error", "traceback"):
        if key in obs:
            if not isinstance(obs[key], str):
                return None
            out[key] = clean(obs[key])
    if "randint_calls" in obs:
        if not _is_int(obs["randint_calls"]):
            return None
        out["randint_calls"] = obs["randint_calls"]
    if "inputs_changed" in obs:
        changed = obs["inputs_changed"]
        if not isinstance(changed, list) or not all(_is_int(i) for i in changed):
            return None
        out["inputs_changed"] = changed
    if "value" in obs:
        value = _value(obs["value"], 0, clean)
        if value is None:
            return None
        out["value"] = value
    return out


def _value(value: object, depth: int, clean) -> dict | None:
    """A copy of an observed value (nncore.problems.code.values.observe's tags), or None."""
    if depth > MAX_DEPTH or not isinstance(value, dict) or value.get("type") not in _VALUE_TYPES:
        return None
    kind = value["type"]
    if kind in ("list", "tuple"):
        items = value.get("value")
        if not isinstance(items, list):
            return None
        copies = [_value(v, depth + 1, clean) for v in items]
        return None if any(c is None for c in copies) else {"type": kind, "value": copies}
    if kind in ("int", "float"):
        return {"type": kind, "value": value.get("value")} if _is_number(value.get("value")) else None
    if kind in ("array", "large_array"):
        shape = value.get("shape")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(n) and n >= 0 for n in shape):
            return None
        if kind == "large_array":  # its shape alone (values.MAX_OBSERVED_ENTRIES)
            return {"type": kind, "shape": shape}
        if not _nested_numbers(value.get("value"), shape):
            return None
        return {"type": "array", "shape": shape, "value": value["value"]}
    if kind in ("other", "str"):
        out = {"type": kind}
        for key in ("repr", "value"):
            if key in value:
                if not isinstance(value[key], str):
                    return None
                out[key] = clean(value[key])
        return out
    return {"type": "none"}


def _nested_numbers(value: object, shape: list[int]) -> bool:
    """Whether `value` is a nested list of exactly `shape` holding numbers (or nan/inf strings)."""
    if not shape:
        return _is_number(value) or value in ("nan", "inf", "-inf")
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    return all(_nested_numbers(v, shape[1:]) for v in value)


def _is_int(value: object) -> bool:
    """An int that fits in int64 (what NumPy compares; a 400-digit one overflowed the judge)."""
    return isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value)) or value in ("nan", "inf", "-inf")


_INT64 = 2**63
