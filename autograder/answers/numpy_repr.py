"""NumPy's printed forms, as students paste them from a notebook or a Python prompt.

``array([0.5, -0.25])``, ``np.array([[1., 2.], [3., 4.]])`` (and its repr over several lines)
and ``array([1., 2.], dtype=float32)`` are read as the list inside (QA: "Too many nested
brackets"); NumPy 2's scalars ``np.float64(0.5)`` and a 0-d ``array(0.5)`` as the number inside
(see tokenizer). Strict about the rest: only NumPy's own ``array``, ``np.array`` and
``numpy.array`` around the whole answer, with nothing after the list but a numeric dtype. Any
other ``name([...])`` (``tensor([...])``, ``[array([1]), array([2])]``, ``exp([1, 2])``) is
refused with a message that says what to type instead.
"""

from __future__ import annotations

import re

from .errors import InvalidAnswer
from .expressions import FUNCTIONS

ARRAY_NAMES = frozenset({"array", "np.array", "numpy.array"})
# A call on a list, "name([": found at its "([" (a regex searching for the name itself would try
# every position of a long word), then its name (dotted, as np.array or torch.tensor) before it
_OPEN_CALL = re.compile(r"\(\s*\[")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*"
_NAME_BEFORE = re.compile(f"({_NAME})\\s*\\Z")
_WHOLE_NAME = re.compile(f"({_NAME})\\s*")
_LONGEST_NAME = 40  # characters looked at before a "(["
_DTYPE_TAIL = re.compile(r"\s*,\s*dtype\s*=\s*(['\"]?)([A-Za-z0-9_.]*)\1\s*")
# The dtypes of real numbers that NumPy's repr names (float64 and int64 it leaves out)
NUMERIC_DTYPE = re.compile(
    r"(?:(?:np|numpy)\.)?(?:float(?:16|32|64|128)|u?int(?:8|16|32|64)|half|single|double|longdouble)"
)
DROP_WRAPPER = "type the numbers alone, as [0.5, -0.25] or [[1, 2], [3, 4]]"


def unwrap_array(text: str) -> str:
    """``text`` (stripped) without NumPy's ``array(...)`` around it; InvalidAnswer for any other
    call on a list. Text without ``name([`` anywhere is returned as it is."""
    call = _first_call(text)
    if call is None:
        return text
    name, opened = call
    if not _WHOLE_NAME.fullmatch(text, 0, opened):
        raise InvalidAnswer(_call_message(name, whole=False))
    if name not in ARRAY_NAMES:
        raise InvalidAnswer(_call_message(name, whole=True))
    start = text.index("[", opened)
    end = _closing_bracket(text, start)
    if end is None:
        raise InvalidAnswer(f"Missing ']' in {name}([...]): {DROP_WRAPPER}.")
    rest = text[end + 1 :]
    closing = rest.find(")")
    if closing < 0:
        raise InvalidAnswer(f"Missing ')' at the end of {name}([...]): {DROP_WRAPPER}.")
    if rest[closing + 1 :].strip() not in ("", ",", ";"):  # a trailing separator, as after [...]
        raise InvalidAnswer(
            f"Unexpected text after {name}(...): an answer is one list; {DROP_WRAPPER}."
        )
    _check_tail(rest[:closing], name)
    inner = text[start : end + 1]
    if found := _first_call(inner):
        raise InvalidAnswer(_call_message(found[0], whole=False))
    return inner


def _first_call(text: str) -> tuple[str, int] | None:
    """The first ``name([`` in ``text``: its name (without spaces) and the position of its '('."""
    if "[" not in text or "(" not in text:
        return None
    for opening in _OPEN_CALL.finditer(text):
        before = _NAME_BEFORE.search(text, max(0, opening.start() - _LONGEST_NAME), opening.start())
        if before is not None:
            return re.sub(r"\s+", "", before.group(1)), opening.start()
    return None


def _closing_bracket(text: str, start: int) -> int | None:
    """The position of the ']' that closes the '[' at ``start``, or None."""
    depth = 0
    for position in range(start, len(text)):
        ch = text[position]
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return position
    return None


def _check_tail(tail: str, name: str) -> None:
    """What follows the list inside array(...): nothing, or NumPy's ", dtype=float32"."""
    if not tail.strip():
        return
    dtype = _DTYPE_TAIL.fullmatch(tail)
    if dtype is None:
        shown = _shown(tail.strip())
        raise InvalidAnswer(
            f"'{shown}' after the list in {name}(...) cannot be read (only a dtype such as "
            f"dtype=float32 can follow it): {DROP_WRAPPER}."
        )
    if not NUMERIC_DTYPE.fullmatch(dtype.group(2)):
        raise InvalidAnswer(
            f"dtype={_shown(dtype.group(2))} is not a type of real numbers: answers are real "
            f"numbers; {DROP_WRAPPER}."
        )


def _call_message(name: str, *, whole: bool) -> str:
    """Why ``name([...])`` cannot be read, and what to type instead."""
    function = name.rsplit(".", 1)[-1].lower()
    if function in FUNCTIONS:
        return (
            f"{function} applies to one number at a time: write [{function}(1), {function}(2)], "
            f"not {function}([1, 2])."
        )
    if name in ARRAY_NAMES and not whole:
        return f"NumPy's array(...) can only enclose the whole answer: {DROP_WRAPPER}."
    return f"{_shown(name)}(...) around the numbers cannot be read: {DROP_WRAPPER}."


def _shown(text: str) -> str:
    return text if len(text) <= 30 else text[:30] + "..."


def starts_array_call(text: str) -> bool:
    """Whether ``text`` (stripped) opens with ``name([``: a list in a call, for the array reader
    (a number field reads "array([0.5])" as a list, as it reads "[0.5]")."""
    call = _first_call(text)
    return call is not None and _WHOLE_NAME.fullmatch(text, 0, call[1]) is not None
