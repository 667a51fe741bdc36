"""Turn a raw field value into a checked answer value for its FieldSpec.

Entry point for parsing: dispatches to the number/array/choice readers and applies the
vector-shape leniency. Never raises anything but InvalidAnswer for any ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .arrays import parse_array, parse_number_value
from .choices import parse_choice, parse_choices
from .errors import NO_ANSWER, InvalidAnswer
from .expressions import parse_scalar
from .numpy_repr import starts_array_call
from .shapes import coerce_shape
from .specs import FieldSpec

AnswerValue = np.ndarray | str | frozenset[str]


@dataclass(frozen=True)
class ParsedAnswer:
    """A readable answer: a float64 array of the field's shape (0-d for a number), an option
    id, or a frozenset of option ids; ``notes`` says how the input was interpreted."""

    value: AnswerValue
    notes: tuple[str, ...] = ()


def parse_answer(raw: object, spec: FieldSpec | Mapping[str, object]) -> ParsedAnswer:
    """Parse ``raw`` (text, a number, or a list as a JSON body delivers it) for ``spec``."""
    spec = FieldSpec.coerce(spec)
    if spec.type == "choice":
        return ParsedAnswer(parse_choice(raw, spec.choices))
    if spec.type == "choices":
        return ParsedAnswer(parse_choices(raw, spec.choices))
    array = None
    try:
        array = _read_numeric(raw, scalar_field=spec.shape == ())
        value, notes = coerce_shape(array, spec.shape)
    except InvalidAnswer as error:
        if spec.shape == () or not (isinstance(raw, str) and len(raw.strip().splitlines()) > 1):
            raise
        return _lines_as_spaces(raw, spec, error, rows_read=array is not None)
    return ParsedAnswer(value, tuple(notes))


def _lines_as_spaces(raw: str, spec: FieldSpec, error: InvalidAnswer, rows_read: bool) -> ParsedAnswer:
    """Lines read as matrix rows did not fit the vector or matrix field: read the line breaks as
    spaces, as NumPy wraps a long vector (``print(p)`` of 8 probabilities is two lines). If that
    does not fit either, the rows' message stands when they made a matrix (a pasted W in a
    vector field is "got a 2×3 matrix"), this reading's when they did not (rows of different
    lengths: a wrapped vector of the wrong length)."""
    try:
        value, notes = coerce_shape(parse_array(raw, line_rows=False), spec.shape)
    except InvalidAnswer as second:
        raise (error if rows_read else second) from None
    return ParsedAnswer(value, tuple(notes))


def _read_numeric(raw: object, *, scalar_field: bool) -> np.ndarray:
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        raw = raw.item()
    if raw is None:
        raise InvalidAnswer(NO_ANSWER)
    if isinstance(raw, str):
        if scalar_field and not raw.lstrip().startswith("[") and not starts_array_call(raw.strip()):
            return np.array(parse_scalar(raw), dtype=np.float64)
        return parse_array(raw)
    if isinstance(raw, list | tuple | np.ndarray):
        return parse_array(raw)
    return np.array(parse_number_value(raw), dtype=np.float64)
