"""``grade_field``: parse a raw answer, then compare it; the one call most callers need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .compare import Misconception, compare_prepared, prepare
from .errors import InvalidAnswer
from .parsing import parse_answer
from .result import FieldResult
from .specs import FieldSpec
from .tolerance import Tolerance


def grade_field(
    raw: object,
    spec: FieldSpec | Mapping[str, object],
    reference: object,
    *,
    tolerance: Tolerance | Mapping[str, object] | None = None,
    alternatives: Iterable[object] | None = (),
    misconceptions: Iterable[Misconception | Mapping[str, object]] | None = (),
    per_entry: bool = False,
    reveal: bool = False,
) -> FieldResult:
    """Grade the student's ``raw`` input for one field.

    An unreadable answer gives status "invalid" (do not count the attempt). The caller's data
    is validated first, so a bad reference raises ValueError whatever the student typed.
    """
    expectation = prepare(
        spec,
        reference,
        tolerance=tolerance,
        alternatives=alternatives,
        misconceptions=misconceptions,
    )
    try:
        parsed = parse_answer(raw, expectation.spec)
    except InvalidAnswer as error:
        return FieldResult.invalid(error.message, field=expectation.spec.name)
    return compare_prepared(
        parsed.value, expectation, per_entry=per_entry, reveal=reveal, notes=parsed.notes
    )
