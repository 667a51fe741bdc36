"""Script jobs, parent side: case scripts in, observations out, never trusting what comes back.

A code exercise's test case is a script of steps (nncore.problems.code.harness). The parent sends
each PUBLIC case (no expectations) as its JSON bytes in an int64 array; inside the sandbox the
harness runs it with run_case and sends back the observations as JSON bytes, one byte per
float64 entry (see harness.SCRIPT_ENTRY). Here those bytes are checked strictly: exactly one
array, every entry an integer 0..255, valid UTF-8 JSON of a bounded size, and the shape of a
list of observations. Anything else is None ("malformed"); nothing here raises on student bytes.
Strings in the observations come out storable: a NUL or a lone surrogate (JSON's \\u0000 and
\\ud800 escapes, which PostgreSQL cannot store as text) becomes U+FFFD.
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
_VALUE_TYPES = {"none", "other", "int", "float", "array", "list", "tuple", "str"}

__all__ = ["SCRIPT_ENTRY", "decode_observations", "encode_case"]


def encode_case(public_case: Mapping) -> np.ndarray:
    """A public case script as the int64 array of its JSON bytes (an input of a script job)."""
    text = json.dumps(public_case, allow_nan=False, separators=(",", ":"))
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)


def decode_observations(outputs: Sequence[np.ndarray], steps: int) -> list[dict] | None:
    """The observations of one case from a run's outputs, or None when they are malformed."""
    if len(outputs) != 1:
        return None
    data = outputs[0]
    if (
        type(data) is not np.ndarray
        or data.dtype != np.float64
        or data.ndim != 1
        or data.size > MAX_OBSERVATION_BYTES
    ):
        return None
    if data.size and not (np.all(data >= 0) and np.all(data <= 255) and np.all(data == np.floor(data))):
        return None
    try:
        text = data.astype(np.uint8).tobytes().decode("utf-8")
        parsed = json.loads(text)
        if "\\u" in text:  # only an escape can put a NUL or a lone surrogate into a string
            parsed = storable(parsed)
    except (ValueError, RecursionError, MemoryError):
        return None
    if not isinstance(parsed, list) or len(parsed) > steps:
        return None
    if not all(_valid_observation(o, i, steps) for i, o in enumerate(parsed)):
        return None
    return parsed


def storable(value: object) -> object:
    """`value` (parsed JSON) with every string, keys included, made storable text."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable_text(k): storable(v) for k, v in value.items()}
    return value


def storable_text(text: str) -> str:
    """Text PostgreSQL can store: NUL characters and lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_observation(obs: object, position: int, steps: int) -> bool:
    if not isinstance(obs, dict) or obs.get("step") != position or position >= steps:
        return False
    if not isinstance(obs.get("ok"), bool):
        return False
    for key in ("error", "traceback"):
        if key in obs and not isinstance(obs[key], str):
            return False
    if "randint_calls" in obs and not _is_int(obs["randint_calls"]):
        return False
    changed = obs.get("inputs_changed", [])
    if not isinstance(changed, list) or not all(_is_int(i) for i in changed):
        return False
    return "value" not in obs or _valid_value(obs["value"], 0)


def _valid_value(value: object, depth: int) -> bool:
    if depth > MAX_DEPTH or not isinstance(value, dict) or value.get("type") not in _VALUE_TYPES:
        return False
    kind = value["type"]
    if kind in ("list", "tuple"):
        items = value.get("value")
        return isinstance(items, list) and all(_valid_value(v, depth + 1) for v in items)
    if kind in ("int", "float"):
        return _is_number(value.get("value"))
    if kind == "array":
        shape = value.get("shape")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(n) and n >= 0 for n in shape):
            return False
        return _nested_numbers(value.get("value"), shape)
    if kind in ("other", "str"):
        return isinstance(value.get("repr", value.get("value", "")), str)
    return True  # none


def _nested_numbers(value: object, shape: list[int]) -> bool:
    """Whether `value` is a nested list of exactly `shape` holding numbers (or nan/inf strings)."""
    if not shape:
        return _is_number(value) or value in ("nan", "inf", "-inf")
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    return all(_nested_numbers(v, shape[1:]) for v in value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)) or value in ("nan", "inf", "-inf")
