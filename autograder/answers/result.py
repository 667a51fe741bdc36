"""The outcome of grading one field, in a JSON-friendly shape."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Status = Literal["correct", "partial", "incorrect", "invalid"]


@dataclass(frozen=True)
class FieldResult:
    """Grade of one field.

    ``invalid`` means the answer could not be read (the caller should not count the attempt);
    ``wrong_entries`` holds 1-based indices such as ``(2,)`` or ``(2, 1)``; ``misconception``
    is the id of the matched misconception (for instructors), its explanation is in ``message``.
    """

    status: Status
    score: float
    message: str
    notes: list[str] = dataclasses.field(default_factory=list)
    wrong_entries: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    misconception: str | None = None
    field: str = ""

    @classmethod
    def invalid(cls, message: str, notes: list[str] | None = None, field: str = "") -> FieldResult:
        return cls("invalid", 0.0, message, list(notes or []), [], None, field)

    def to_dict(self) -> dict[str, object]:
        """Plain str/float/list/None values only, ready for ``json.dumps``."""
        return {
            "field": self.field,
            "status": self.status,
            "score": float(self.score),
            "message": self.message,
            "notes": [str(note) for note in self.notes],
            "wrong_entries": [[int(i) for i in index] for index in self.wrong_entries],
            "misconception": self.misconception,
        }
