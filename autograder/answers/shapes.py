"""Describe array shapes and entry positions in words, and apply the vector-shape leniency."""

from __future__ import annotations

import numpy as np

from .errors import InvalidAnswer

Shape = tuple[int, ...]


def describe_shape(shape: Shape) -> str:
    """``()`` -> "a single number", ``(3,)`` -> "a vector of 3 entries", ``(2, 3)`` -> "a 2×3 matrix".

    ``(3, 1)`` and ``(1, 3)`` are called column and row vectors.
    """
    if len(shape) == 0:
        return "a single number"
    if len(shape) == 1:
        if shape[0] == 0:
            return "an empty list"
        return f"a vector of {shape[0]} entr{'y' if shape[0] == 1 else 'ies'}"
    rows, columns = shape
    if columns == 1 and rows > 1:
        return f"a {rows}×1 column vector"
    if rows == 1 and columns > 1:
        return f"a 1×{columns} row vector"
    return f"a {rows}×{columns} matrix"


def entry_position(index: tuple[int, ...]) -> str:
    """A 1-based index as shown to students: ``(2,)`` -> "2", ``(2, 1)`` -> "(2, 1)"."""
    if len(index) == 1:
        return str(index[0])
    return "(" + ", ".join(str(i) for i in index) + ")"


def entry_label(index: tuple[int, ...]) -> str:
    """ "entry 2" or "entry (2, 1)"."""
    return f"entry {entry_position(index)}"


def coerce_shape(array: np.ndarray, expected: Shape) -> tuple[np.ndarray, list[str]]:
    """``array`` reshaped to ``expected`` plus notes, or InvalidAnswer stating both shapes.

    Only unambiguous vector layouts are reshaped: a column vector ``(n, 1)`` may be given
    flat or as a row, a vector ``(n,)`` as a row or column, and a row ``(1, n)`` flat.
    """
    got: Shape = array.shape
    if got == expected:
        return array, []
    note = _vector_note(got, expected)
    if note is None:
        message = f"Expected {describe_shape(expected)}, got {describe_shape(got)}."
        if len(got) == 2 and got == expected[::-1]:
            message += " Rows and columns seem to be swapped."
        raise InvalidAnswer(message)
    return array.reshape(expected), [note]


def _vector_note(got: Shape, expected: Shape) -> str | None:
    """The note for an accepted vector reshape, or None if the shapes may not be swapped."""
    if len(expected) == 2 and expected[1] == 1:
        n = expected[0]
        if got == (n,):
            return f"Your list was read as the {n}×1 column vector asked for."
        if got == (1, n):
            return f"Your row vector was read as the {n}×1 column vector asked for."
    if len(expected) == 1 and got in ((1, expected[0]), (expected[0], 1)):
        return f"Your answer was read as {describe_shape(expected)}."
    if len(expected) == 2 and expected[0] == 1 and got == (expected[1],):
        return f"Your list was read as the 1×{expected[1]} row vector asked for."
    return None
