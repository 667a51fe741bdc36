"""The one exception the answer parsers raise: a student-readable reason an answer is unusable."""

from __future__ import annotations

NO_ANSWER = "No answer given."


class InvalidAnswer(Exception):
    """An answer that cannot be read; ``message`` is shown to the student as is.

    Deliberately not a ``ValueError`` subclass, so it cannot be confused with (or hide)
    programming errors raised by numpy or by the caller's own data.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
