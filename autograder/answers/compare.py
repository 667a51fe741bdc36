"""Compare a parsed answer with the reference: tolerance, rounding-aware paths, misconceptions.

A numeric answer is correct entrywise if it is within tolerance of the exact reference, of
any alternative (the reference recomputed with rounded intermediates, as in the lecture
notes), or of the interval [min, max] those values span. Shape and finiteness are checked
first. Caller data (reference, alternatives, misconceptions, tolerance) that does not fit the
field raises ValueError; only the student's answer produces an "invalid" result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nncore.problems.base import step_width

from .feedback import choice_feedback, choices_feedback, numeric_feedback
from .result import FieldResult
from .shapes import describe_shape
from .specs import FieldSpec
from .tolerance import Tolerance

ChoiceValue = str | frozenset[str]


@dataclass(frozen=True)
class Misconception:
    """A known wrong answer; a student answer matching it gets ``explanation`` as feedback."""

    id: str
    name: str
    explanation: str
    answer: object

    @classmethod
    def coerce(cls, value: Misconception | Mapping[str, object]) -> Misconception:
        """From itself or a dict with keys id, answer and optionally name, explanation."""
        if isinstance(value, Misconception):
            return value
        if not isinstance(value, Mapping) or "id" not in value or "answer" not in value:
            raise ValueError(f"a misconception needs at least 'id' and 'answer': {value!r}")
        return cls(
            id=str(value["id"]),
            name=str(value.get("name", "")),
            explanation=str(value.get("explanation", "")),
            answer=value["answer"],
        )


@dataclass(frozen=True)
class Expectation:
    """Everything an answer is compared with, validated once (see :func:`prepare`)."""

    spec: FieldSpec
    tolerance: Tolerance
    reference: np.ndarray | ChoiceValue
    alternatives: tuple[np.ndarray, ...]
    misconceptions: tuple[tuple[Misconception, np.ndarray | ChoiceValue], ...]
    # an updated weight's value before the step (the field's step_from): the answer must also
    # be within nncore's step_width of the reference, i.e. get the change right, not only the sum
    step_from: np.ndarray | None = None

    def accepts(self, got: np.ndarray) -> np.ndarray:
        """Entrywise correctness of a numeric answer of the reference's shape."""
        ok = self.within_tolerance(got)
        if self.step_from is None:
            return ok
        return ok & self.on_step(got, np.asarray(self.reference))

    def on_step(self, got: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Entrywise: is `got` within the step width of `target` (the reference, or a mistake's
        answer) for a step from step_from? Only for a field that has one."""
        with np.errstate(invalid="ignore", over="ignore"):
            return np.abs(got - target) <= step_width(target, self.step_from)

    def within_tolerance(self, got: np.ndarray) -> np.ndarray:
        """Entrywise: within tolerance of the reference, a calculator path or the range between."""
        if got.ndim == 0:
            return np.asarray(self._accepts_number(float(got)))
        reference = np.asarray(self.reference)
        ok = self.tolerance.matches(got, reference)
        for alternative in self.alternatives:
            ok |= self.tolerance.matches(got, alternative)
        if self.alternatives:
            paths = np.stack([reference, *self.alternatives])
            ok |= self.tolerance.matches_range(got, paths.min(axis=0), paths.max(axis=0))
        return ok

    def _accepts_number(self, got: float) -> bool:
        """:meth:`accepts` for a single-number field, in plain floats (the common case)."""
        paths = [float(self.reference), *(float(a) for a in self.alternatives)]
        if any(self.tolerance.matches_number(got, path) for path in paths):
            return True
        return len(paths) > 1 and self.tolerance.matches_number_range(got, min(paths), max(paths))


def prepare(
    spec: FieldSpec | Mapping[str, object],
    reference: object,
    *,
    tolerance: Tolerance | Mapping[str, object] | None = None,
    alternatives: Iterable[object] | None = (),
    misconceptions: Iterable[Misconception | Mapping[str, object]] | None = (),
) -> Expectation:
    """Validate the caller's data for one field; ValueError if it does not fit the spec.

    ``None`` for alternatives or misconceptions means none.
    """
    step_from = spec.get("step_from") if isinstance(spec, Mapping) else None
    spec = FieldSpec.coerce(spec)
    tol = Tolerance.coerce(tolerance)
    mistakes = _field_misconceptions(spec, misconceptions or ())
    alternatives = () if alternatives is None else alternatives
    if spec.is_numeric:
        return Expectation(
            spec,
            tol,
            _numeric(reference, spec, "reference"),
            tuple(_numeric(a, spec, "alternative") for a in alternatives),
            tuple((m, _numeric(m.answer, spec, f"misconception {m.id!r}")) for m in mistakes),
            None if step_from is None else _numeric(step_from, spec, "step_from"),
        )
    if tuple(alternatives):
        raise ValueError("alternatives only apply to numeric fields")
    return Expectation(
        spec,
        tol,
        _choice(reference, spec, "reference"),
        (),
        tuple((m, _choice(m.answer, spec, f"misconception {m.id!r}")) for m in mistakes),
    )


def compare_answer(
    value: object,
    spec: FieldSpec | Mapping[str, object],
    reference: object,
    *,
    tolerance: Tolerance | Mapping[str, object] | None = None,
    alternatives: Iterable[object] = (),
    misconceptions: Iterable[Misconception | Mapping[str, object]] = (),
    per_entry: bool = False,
    reveal: bool = False,
    notes: Sequence[str] = (),
) -> FieldResult:
    """Grade an already-parsed answer value (see :func:`parsing.parse_answer`)."""
    expectation = prepare(
        spec,
        reference,
        tolerance=tolerance,
        alternatives=alternatives,
        misconceptions=misconceptions,
    )
    return compare_prepared(value, expectation, per_entry=per_entry, reveal=reveal, notes=notes)


def compare_prepared(
    value: object,
    expectation: Expectation,
    *,
    per_entry: bool = False,
    reveal: bool = False,
    notes: Sequence[str] = (),
) -> FieldResult:
    """Grade an answer value against a prepared expectation."""
    if expectation.spec.is_numeric:
        return _compare_numeric(value, expectation, per_entry, reveal, list(notes))
    return _compare_choice(value, expectation, per_entry, reveal, list(notes))


def _compare_numeric(
    value: object, expectation: Expectation, per_entry: bool, reveal: bool, notes: list[str]
) -> FieldResult:
    name = expectation.spec.name
    reference = np.asarray(expectation.reference)
    try:
        got = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return FieldResult.invalid("Not a number.", notes, name)
    if got.shape != reference.shape:
        message = f"Expected {describe_shape(reference.shape)}, got {describe_shape(got.shape)}."
        return FieldResult.invalid(message, notes, name)
    if not _all_finite(got):
        return FieldResult.invalid("Answers must be finite numbers.", notes, name)

    ok = expectation.accepts(got)
    if ok.all():
        return FieldResult("correct", 1.0, "Correct.", notes, [], None, name)
    wrong = [tuple(int(i) + 1 for i in index) for index in np.argwhere(~ok)] if got.ndim else []
    score = float(ok.mean()) if per_entry else 0.0
    message = numeric_feedback(
        wrong, reference, reveal=reveal, digits=expectation.tolerance.display_digits
    )
    matches = [
        m
        for m, answer in expectation.misconceptions
        if _matches_all(expectation.tolerance, got, answer)
        and (expectation.step_from is None or expectation.on_step(got, np.asarray(answer)).all())
    ]
    message = _with_explanations(message, matches)
    if not matches and _is_transpose(got, expectation):
        message += " " + TRANSPOSED
    if expectation.step_from is not None and expectation.within_tolerance(got).all():
        message += " " + STEP_TOO_ROUGH  # right to the tolerance, not to the step: maybe rounded away
    elif not matches and _near(got, reference, expectation.tolerance):
        message += " " + ROUNDED_TOO_FAR
    status = "partial" if score > 0 else "incorrect"
    matched_id = matches[0].id if matches else None
    return FieldResult(status, score, message, notes, wrong, matched_id, name)


TRANSPOSED = "Your matrix is the expected one transposed: rows and columns are swapped."
ROUNDED_TOO_FAR = "It is close, though: if you rounded, keep more significant figures."
NEAR_WIDTHS = 10  # how many tolerance widths off still reads as rounding (-0.07 for -0.06508)


def _near(got: np.ndarray, reference: np.ndarray, tolerance: Tolerance) -> bool:
    """Whether every entry is within NEAR_WIDTHS tolerance widths of the reference: a wrong
    answer that reads as one rounded too far (2 decimals of -0.06508), said so in its feedback
    (QA: it only said 'not within tolerance')."""
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.all(np.abs(got - reference) <= NEAR_WIDTHS * tolerance.width(reference)))
STEP_TOO_ROUGH = (
    "The update changes the weight by less than your rounding: give the updated value with more "
    "decimals, so that the change the update makes to it is right to at least two significant figures."
)


def _is_transpose(got: np.ndarray, expectation: Expectation) -> bool:
    """Whether a wrong square matrix is the expected one transposed (a wrong-shaped one is told
    so by the shape check; a square one only got 'entries (1, 2), (2, 1) are off')."""
    return got.ndim == 2 and got.shape[0] == got.shape[1] > 1 and bool(expectation.accepts(got.T).all())


def _with_explanations(message: str, matches: list[Misconception]) -> str:
    """The feedback with the explanation of the first matching misconception and, when other
    mistakes give the same numbers (a sign flipped in the derivative or in the update step),
    theirs too: the answer cannot tell which one the student made."""
    if not matches:
        return message
    message = f"{message} {matches[0].explanation}".strip()
    others = list(dict.fromkeys(m.explanation for m in matches[1:] if m.explanation != matches[0].explanation))
    if others:
        message += " The same numbers also come from another mistake: " + " ".join(others)
    return message


def _compare_choice(
    value: object, expectation: Expectation, per_entry: bool, reveal: bool, notes: list[str]
) -> FieldResult:
    spec = expectation.spec
    try:
        got = _choice(value, spec, "answer")
    except ValueError:
        return FieldResult.invalid("Not one of the options.", notes, spec.name)
    expected = expectation.reference
    if got == expected:
        return FieldResult("correct", 1.0, "Correct.", notes, [], None, spec.name)
    if isinstance(got, frozenset) and isinstance(expected, frozenset):
        right = sum((option in got) == (option in expected) for option in spec.choices)
        score = right / len(spec.choices) if per_entry else 0.0
        message = choices_feedback(got, expected, spec.choices, reveal=reveal)
    else:
        score = 0.0
        message = choice_feedback(str(expected), reveal=reveal)
    matches = [m for m, answer in expectation.misconceptions if answer == got]
    message = _with_explanations(message, matches)
    status = "partial" if score > 0 else "incorrect"
    matched_id = matches[0].id if matches else None
    return FieldResult(status, score, message, notes, [], matched_id, spec.name)


def _field_misconceptions(
    spec: FieldSpec, misconceptions: Iterable[Misconception | Mapping[str, object]]
) -> list[Misconception]:
    """The misconceptions for this field.

    Besides ``{"id", "name", "explanation", "answer"}``, a whole-problem misconception with
    ``"answers": {field name: value}`` is accepted; it is skipped for fields it does not list.
    """
    selected = []
    for item in misconceptions:
        if isinstance(item, Mapping) and "answer" not in item:
            answers = item.get("answers")
            if isinstance(answers, Mapping):
                if spec.name not in answers:
                    continue
                item = {**item, "answer": answers[spec.name]}
        selected.append(Misconception.coerce(item))
    return selected


def _numeric(value: object, spec: FieldSpec, what: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"field {spec.name!r}: {what} is not numeric ({error})") from None
    if array.shape != spec.shape:
        raise ValueError(
            f"field {spec.name!r}: {what} has shape {array.shape}, the field has {spec.shape}"
        )
    if not _all_finite(array):
        raise ValueError(f"field {spec.name!r}: {what} is not finite")
    return array


def _all_finite(array: np.ndarray) -> bool:
    return math.isfinite(array) if array.ndim == 0 else bool(np.isfinite(array).all())


def _matches_all(tolerance: Tolerance, got: np.ndarray, expected: np.ndarray) -> bool:
    """Whether every entry of ``got`` is within tolerance of ``expected`` (same shapes)."""
    if got.ndim == 0:
        return tolerance.matches_number(float(got), float(expected))
    return bool(tolerance.matches(got, np.asarray(expected)).all())


def _choice(value: object, spec: FieldSpec, what: str) -> ChoiceValue:
    """An option id (choice) or a frozenset of ids (choices), all among ``spec.choices``."""
    if spec.type == "choice":
        if not isinstance(value, str) or value not in spec.choices:
            raise ValueError(f"field {spec.name!r}: {what} {value!r} is not an option id")
        return value
    ids = frozenset([value]) if isinstance(value, str) else _frozenset(value)
    if not all(isinstance(i, str) and i in spec.choices for i in ids):
        raise ValueError(f"field {spec.name!r}: {what} {value!r} has ids that are not options")
    return ids


def _frozenset(value: object) -> frozenset[object]:
    if not isinstance(value, Iterable):
        raise ValueError(f"not a collection of option ids: {value!r}")
    try:
        return frozenset(value)
    except TypeError:  # unhashable items
        raise ValueError(f"not a collection of option ids: {value!r}") from None
