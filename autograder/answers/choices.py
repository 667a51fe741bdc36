"""Read a single-choice answer (one option id) or a set-of-choices answer (a set of ids)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import NO_ANSWER, InvalidAnswer
from .limits import MAX_FIELD_CHARS, MAX_OPTIONS, MAX_SCALAR_CHARS


def parse_choice(raw: object, allowed: Sequence[str]) -> str:
    """The chosen option id; it must be one of ``allowed``."""
    if raw is None:
        raise InvalidAnswer(NO_ANSWER)
    if isinstance(raw, list | tuple | set | frozenset):
        raise InvalidAnswer("Choose exactly one option.")
    return _option_id(raw, allowed)


def parse_choices(raw: object, allowed: Sequence[str]) -> frozenset[str]:
    """The set of chosen option ids. A list is the selection; it may be empty (none chosen).

    Text is split at commas and whitespace, so ``"a, c"`` selects options a and c.
    """
    if raw is None:
        raise InvalidAnswer(NO_ANSWER)
    if isinstance(raw, str):
        if not raw.strip():
            raise InvalidAnswer(NO_ANSWER)
        if len(raw) > MAX_FIELD_CHARS:
            raise InvalidAnswer("The answer is too long.")
        items: list[object] = [item for item in re.split(r"[,\s]+", raw.strip()) if item]
    elif isinstance(raw, list | tuple | set | frozenset):
        if len(raw) > MAX_OPTIONS:
            raise InvalidAnswer("Too many options selected.")
        items = list(raw)
    else:
        raise InvalidAnswer("Expected a list of option ids.")
    return frozenset(_option_id(item, allowed) for item in items)


def _option_id(raw: object, allowed: Sequence[str]) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidAnswer("Expected an option id.")
    choice = raw.strip()
    if not choice:
        raise InvalidAnswer(NO_ANSWER)
    if len(choice) > MAX_SCALAR_CHARS:
        raise InvalidAnswer("The option id is too long.")
    if choice not in allowed:
        shown = choice if len(choice) <= 30 else choice[:30] + "..."
        raise InvalidAnswer(f"'{shown}' is not one of the options ({', '.join(allowed)}).")
    return choice
