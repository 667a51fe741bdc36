"""Read vectors and matrices: typed text (JSON-style or MATLAB-style) or structured lists.

Accepted text forms: ``[1, 2]``, ``[[1, 2], [3, 4]]``, ``[1 2; 3 4]``, ``[1, 2; 3, 4]``, the
same without the outer brackets, and expressions as entries (``[1/3, 2^2]``). As in MATLAB,
whitespace separates entries when it is followed by something that starts a number, so
``[1 -2]`` has two entries and ``[1 - 2]`` one, and a line break between two entries of the
outer brackets starts a new row (``1 2`` and ``3 4`` on two lines are ``[1 2; 3 4]``). One
trailing ',' or ';' is ignored, inside a list (``[1, 2,]``, ``[1 2; 3 4;]``) or after it
(``[1 2; 3 4];``), as a student pasting from Python or MATLAB expects; NumPy's
``array([...])`` is read as its list (see numpy_repr). Structured input (lists or tuples of numbers
or strings, e.g. from a JSON body) is read entry by entry. The result is a 1-D or 2-D
float64 array; reshaping to the field's shape is done by :func:`shapes.coerce_shape`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import NO_ANSWER, InvalidAnswer
from .expressions import FUNCTIONS, TOO_LARGE, evaluate_tokens, parse_scalar
from .limits import MAX_ARRAY_DEPTH, MAX_ENTRIES, MAX_FIELD_CHARS, MAX_SCALAR_CHARS
from .numpy_repr import unwrap_array
from .shapes import entry_label
from .tokenizer import (
    COMMA,
    END,
    LBRACKET,
    LPAREN,
    NAME,
    NUMBER,
    OPERATOR,
    RBRACKET,
    RPAREN,
    SEMICOLON,
    Token,
    tokenize,
)

TOO_DEEP = "Too many nested brackets: an answer is at most a matrix, like [[1, 2], [3, 4]]."
TOO_MANY = f"Too many entries (at most {MAX_ENTRIES})."
MISSING_ENTRY = "An entry is missing (check for a stray or doubled ',')."
MIXED = "The list mixes numbers and lists; use a list of numbers or a list of rows."
SEPARATOR_IN_PARENTHESES = (
    "A ',' or ';' inside parentheses: write a vector as [1, 2] or (1, 2) and a matrix as "
    "[1 2; 3 4] or [[1, 2], [3, 4]]."
)
_BOUNDARIES = (COMMA, SEMICOLON, LBRACKET, RBRACKET, END)


def parse_array(raw: object, *, line_rows: bool = True) -> np.ndarray:
    """A 1-D or 2-D float64 array from text or nested lists; InvalidAnswer otherwise. With
    `line_rows` False a line break in text is only space (NumPy wraps a long vector so)."""
    if isinstance(raw, str):
        return parse_array_text(raw, line_rows=line_rows)
    if _is_sequence(raw):
        return parse_array_structure(raw)
    if raw is None:
        raise InvalidAnswer(NO_ANSWER)
    raise InvalidAnswer("Expected a list of numbers.")


def parse_number_value(value: object, index: tuple[int, ...] | None = None) -> float:
    """One number from a structured value (int, float or expression string).

    ``index`` (1-based) names the entry in the message when the value is part of an array.
    """
    try:
        return _number_from_value(value)
    except InvalidAnswer as error:
        if index is None:
            raise
        raise InvalidAnswer(f"{_capitalized(entry_label(index))}: {error.message}") from None


def _number_from_value(value: object) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if value is None:
        raise InvalidAnswer(NO_ANSWER)
    if isinstance(value, bool | np.bool_):
        raise InvalidAnswer("true/false is not a number.")
    if isinstance(value, str):
        return parse_scalar(value)
    if isinstance(value, int | np.integer | float | np.floating):
        try:
            number = float(value)
        except OverflowError:
            raise InvalidAnswer(TOO_LARGE) from None
        if not math.isfinite(number):
            raise InvalidAnswer("Answers must be finite numbers.")
        return number
    raise InvalidAnswer("Not a number.")


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- structured input -------------------------------------------------------------------


def _is_sequence(value: object) -> bool:
    return isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim > 0)


def _as_list(value: object) -> list[object]:
    """The items of a list, tuple or array, refusing sizes and depths no answer needs."""
    if isinstance(value, np.ndarray):
        if value.ndim > MAX_ARRAY_DEPTH:
            raise InvalidAnswer(TOO_DEEP)
        if value.size > MAX_ENTRIES:
            raise InvalidAnswer(TOO_MANY)
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise InvalidAnswer("Expected a list of numbers.")
    if len(value) > MAX_ENTRIES:
        raise InvalidAnswer(TOO_MANY)
    return list(value)


def parse_array_structure(raw: object) -> np.ndarray:
    """A 1-D or 2-D array from a list/tuple/array of numbers, strings, or rows of those."""
    items = _as_list(raw)
    nested = [_is_sequence(item) for item in items]
    if items and all(nested):
        rows: list[list[float]] = []
        total = 0
        for r, row in enumerate(items, start=1):
            row_items = _as_list(row)
            total += len(row_items)
            if total > MAX_ENTRIES:
                raise InvalidAnswer(TOO_MANY)
            if any(_is_sequence(item) for item in row_items):
                raise InvalidAnswer(TOO_DEEP)
            rows.append(
                [parse_number_value(item, (r, c)) for c, item in enumerate(row_items, start=1)]
            )
        _check_rectangular([len(row) for row in rows])
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]))
    if any(nested):
        raise InvalidAnswer(MIXED)
    values = [parse_number_value(item, (i,)) for i, item in enumerate(items, start=1)]
    return np.array(values, dtype=np.float64).reshape(len(values))


def _check_rectangular(lengths: list[int]) -> None:
    for r, length in enumerate(lengths, start=1):
        if length != lengths[0]:
            raise InvalidAnswer(
                f"The rows have different lengths: row 1 has {lengths[0]} "
                f"entr{'y' if lengths[0] == 1 else 'ies'}, row {r} has {length}."
            )


# --- typed text ---------------------------------------------------------------------------


@dataclass
class _Bracket:
    """One ``[...]`` group: rows (split by ';') of entries (token lists) or inner groups."""

    rows: list[list[list[Token] | _Bracket]]


def parse_array_text(text: str, *, line_rows: bool = True) -> np.ndarray:
    """A 1-D or 2-D array from typed text; outer brackets are optional."""
    stripped = text.strip()
    if not stripped:
        raise InvalidAnswer(NO_ANSWER)
    if len(stripped) > MAX_FIELD_CHARS:
        raise InvalidAnswer(
            f"The answer is too long ({len(stripped)} characters; at most {MAX_FIELD_CHARS})."
        )
    stripped = _as_brackets(unwrap_array(stripped))
    if not stripped.startswith("["):
        stripped = f"[{stripped}]"
    # First the bracket structure (cheap, no arithmetic), then the entries' values, so
    # that entries can be named by their final row and column.
    structure = _BracketReader(tokenize(stripped), line_rows).read()
    return _build(structure, ())


def _as_brackets(text: str) -> str:
    """A vector written as a tuple, "(0.794, -0.855)" as the CS 457 notes do, in brackets:
    outer parentheses that enclose everything and hold a comma at their own level."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth, comma = 0, False
    for position, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and position < len(text) - 1:
            return text  # the first '(' closes early: "(1+2)*(3, ..." is no tuple
        comma = comma or (ch == "," and depth == 1)
    return f"[{text[1:-1]}]" if comma else text


class _BracketReader:
    """Groups tokens into brackets, rows and entries without evaluating anything."""

    def __init__(self, tokens: list[Token], line_rows: bool = True) -> None:
        self._tokens = tokens
        self._line_rows = line_rows
        self._position = 0
        self._entries = 0

    def read(self) -> _Bracket:
        if self._tokens[0].kind != LBRACKET:
            raise InvalidAnswer("Expected '['.")
        group = self._bracket(depth=1)
        if self._tokens[self._position].kind in (COMMA, SEMICOLON):
            self._position += 1  # MATLAB's "[1 2; 3 4];", a line of a pasted list "[1, 2],"
        if self._tokens[self._position].kind != END:
            raise InvalidAnswer(
                "Unexpected text after the closing ']': an answer is one list, such as [1, 2] "
                "or [[1, 2], [3, 4]]."
            )
        return group

    def _bracket(self, depth: int) -> _Bracket:
        if depth > MAX_ARRAY_DEPTH:
            raise InvalidAnswer(TOO_DEEP)
        self._position += 1  # the '['
        rows: list[list[list[Token] | _Bracket]] = [[]]
        after_comma = False
        while True:
            token = self._tokens[self._position]
            if token.kind == END:
                raise InvalidAnswer("Missing ']'.")
            if token.kind == RBRACKET:  # after a trailing ',' too, as Python reads [1, 2,]
                self._position += 1
                return _Bracket(rows)
            if token.kind == COMMA:
                if after_comma or not rows[-1]:
                    raise InvalidAnswer(MISSING_ENTRY)
                after_comma = True
                self._position += 1
                continue
            if token.kind == SEMICOLON:
                if after_comma:
                    raise InvalidAnswer(MISSING_ENTRY)
                rows.append([])
                self._position += 1
                continue
            if self._breaks_row(token, rows[-1], depth, after_comma):
                rows.append([])
            if token.kind == LBRACKET:
                rows[-1].append(self._bracket(depth + 1))
            else:
                rows[-1].append(self._entry())
            after_comma = False

    def _breaks_row(self, token: Token, row: list, depth: int, after_comma: bool) -> bool:
        """Whether a line break before `token` starts a new row, as ';' would: only in the outer
        brackets, between two entries (after a ',' or inside nested rows it is a space)."""
        return (
            self._line_rows
            and token.newline
            and depth == 1
            and not after_comma
            and bool(row)
            and not isinstance(row[-1], _Bracket)
            and token.kind != LBRACKET
        )

    def _entry(self) -> list[Token]:
        """The tokens of one entry, up to a separator or a MATLAB-style whitespace break."""
        start = self._position
        parens = 0
        while True:
            token = self._tokens[self._position]
            if token.kind in _BOUNDARIES:
                if parens > 0 and token.kind in (COMMA, SEMICOLON):
                    raise InvalidAnswer(SEPARATOR_IN_PARENTHESES)
                break
            if self._position > start and parens == 0 and token.spaced:
                previous = self._tokens[self._position - 1]
                following = self._tokens[self._position + 1]
                if _ends_operand(previous) and _starts_operand(token, following):
                    break
            parens += (token.kind == LPAREN) - (token.kind == RPAREN)
            self._position += 1
        self._entries += 1
        if self._entries > MAX_ENTRIES:
            raise InvalidAnswer(TOO_MANY)
        return [*self._tokens[start : self._position], Token(END, "")]


def _ends_operand(token: Token) -> bool:
    if token.kind == NAME:
        return token.text.lower() not in FUNCTIONS
    return token.kind in (NUMBER, RPAREN)


def _starts_operand(token: Token, following: Token) -> bool:
    if token.kind == OPERATOR:
        return token.text in "+-" and not following.spaced
    return token.kind in (NUMBER, NAME, LPAREN)


def _build(group: _Bracket, prefix: tuple[int, ...]) -> np.ndarray:
    """The array for a bracket group; ``prefix`` is its 1-based position in the outer group."""
    if len(group.rows) > 1:
        return _build_rows(group.rows, prefix)
    groups = [item for item in group.rows[0] if isinstance(item, _Bracket)]
    entries = [item for item in group.rows[0] if not isinstance(item, _Bracket)]
    if groups and entries:
        raise InvalidAnswer(MIXED)
    if groups:
        rows = [_build(inner, (i,)) for i, inner in enumerate(groups, start=1)]
        _check_rectangular([len(row) for row in rows])
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]))
    values = [_evaluate(entry, prefix + (i,)) for i, entry in enumerate(entries, start=1)]
    return np.array(values, dtype=np.float64).reshape(len(values))


def _build_rows(rows: list[list[list[Token] | _Bracket]], prefix: tuple[int, ...]) -> np.ndarray:
    """A matrix written with ';' between rows (a trailing ';' is allowed)."""
    if prefix:
        raise InvalidAnswer(TOO_DEEP)
    if not rows[-1]:
        rows = rows[:-1]
    entry_rows: list[list[list[Token]]] = []
    for r, row in enumerate(rows, start=1):
        if not row:
            raise InvalidAnswer(f"Row {r} is empty (check for a doubled ';').")
        entries = [item for item in row if not isinstance(item, _Bracket)]
        if len(entries) < len(row):
            raise InvalidAnswer("Use either ';' between rows or nested brackets, not both.")
        entry_rows.append(entries)
    _check_rectangular([len(row) for row in entry_rows])
    values = [
        [_evaluate(entry, (r, c)) for c, entry in enumerate(row, start=1)]
        for r, row in enumerate(entry_rows, start=1)
    ]
    return np.array(values, dtype=np.float64).reshape(len(values), len(values[0]))


def _evaluate(tokens: list[Token], index: tuple[int, ...]) -> float:
    try:
        length = sum(len(token.text) + token.spaced for token in tokens)
        if length > MAX_SCALAR_CHARS:
            raise InvalidAnswer(f"The expression is too long (at most {MAX_SCALAR_CHARS}).")
        return evaluate_tokens(tokens)
    except InvalidAnswer as error:
        raise InvalidAnswer(f"{_capitalized(entry_label(index))}: {error.message}") from None
