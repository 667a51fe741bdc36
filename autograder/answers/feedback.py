"""Student-facing wording for wrong answers; expected values appear only when ``reveal``."""

from __future__ import annotations

from collections.abc import Iterable, Set

import numpy as np

from .shapes import entry_position

MAX_LISTED_ENTRIES = 10
_SENTENCE_ENDS = (".", "?", "!")


def as_clause(message: str) -> str:
    """A message without its closing full stop, to be followed by "; " or "," in a longer
    sentence ("Missing ']'." -> "Missing ']'"); an ellipsis, '?' or '!' stays."""
    text = message.strip()
    if text.endswith(".") and not text.endswith(".."):
        return text[:-1]
    return text


def join_messages(messages: Iterable[str], separator: str = "; ") -> str:
    """Several messages (each a sentence ending in '.') as one sentence: their own full stops
    dropped, one at the end. QA: "; ".join left "... (use '.' for decimals).; a_3: ..." in the
    summary of unreadable answers. Empty messages are left out; nothing gives ""."""
    clauses = [clause for clause in (as_clause(message) for message in messages) if clause]
    if not clauses:
        return ""
    joined = separator.join(clauses)
    return joined if joined.endswith(_SENTENCE_ENDS) else joined + "."


def format_number(value: float, digits: int) -> str:
    """``value`` with ``digits`` significant digits, e.g. 0.3481."""
    return f"{value:.{digits}g}"


def numeric_feedback(
    wrong: list[tuple[int, ...]], reference: np.ndarray, *, reveal: bool, digits: int
) -> str:
    """Which entries are off (by 1-based position) and, if ``reveal``, what was expected."""
    if reference.ndim == 0:
        if reveal:
            expected = format_number(float(reference), digits)
            return f"Not within tolerance of the expected value ≈ {expected}."
        return "Not within tolerance of the expected value."
    listed = wrong[:MAX_LISTED_ENTRIES]
    more = len(wrong) - len(listed)
    if reveal:
        sentences = [
            f"Entry {entry_position(index)} is off: expected ≈ "
            f"{format_number(float(reference[tuple(i - 1 for i in index)]), digits)}."
            for index in listed
        ]
        if more:
            sentences.append(f"{more} more entries are off.")
        return " ".join(sentences)
    if len(wrong) == 1:
        return f"Entry {entry_position(wrong[0])} is off."
    positions = ", ".join(entry_position(index) for index in listed)
    tail = f" and {more} more" if more else ""
    return f"{len(wrong)} of {reference.size} entries are off: {positions}{tail}."


def choice_feedback(expected: str, *, reveal: bool) -> str:
    if reveal:
        return f"That is not the right option; the answer is '{expected}'."
    return "That is not the right option."


def choices_feedback(
    chosen: Set[str], expected: Set[str], options: tuple[str, ...], *, reveal: bool
) -> str:
    """How many options are misclassified; if ``reveal``, which to add and which to drop."""
    if reveal:
        missing = [option for option in options if option in expected - chosen]
        extra = [option for option in options if option in chosen - expected]
        parts = []
        if missing:
            parts.append(f"Also select: {', '.join(missing)}.")
        if extra:
            parts.append(f"Do not select: {', '.join(extra)}.")
        return " ".join(parts)
    wrong = len(chosen ^ expected)
    verb = "is" if wrong == 1 else "are"
    return f"Your selection is not right: {wrong} of {len(options)} options {verb} marked wrongly."
