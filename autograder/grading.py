"""Grade one submission of a question instance: every field, error carried forward, the score.

Plain Python (no Django): the Celery task and the regrade preview both call `grade_submission`
with the stored instance and the stored raw answers, so a regrade is exactly the first grading
with a new policy.

Rules:
- An unreadable field makes the whole submission "rejected": the student gets a message per
  field and the attempt is not counted. An empty field is simply unanswered (0 for that field).
- For chained kinds with error carried forward on, a field that is wrong against the reference
  but right against `recompute(instance, student's own answers)` gets full credit, with a note.
  The kind decides what it builds on: an activation value its activation does not give (a
  sigmoid's 0) is not carried, and the field gets a note saying so (`uncarried`).
- The raw score is the mean of the field scores (0..1); attempt and late penalties are applied
  by `apply_penalties`.
- A code field (Python source) is run on the instance's test cases in the sandbox and scored by
  the fraction of cases passed (autograder.code_grading); a source that does not parse is
  unreadable like any other field. The runs come back in `SubmissionGrade.runs` (kept with the
  submission as code_grading.runs_text, for the staff only); given back to a regrade, the code
  is judged again, not run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from autograder.answers import (
    FieldResult,
    FieldSpec,
    InvalidAnswer,
    Misconception,
    Tolerance,
    grade_field,
    parse_answer,
)
from autograder.code_grading import CodeResult, CodeRun, RunCases, grade_code
from nncore.problems import get_kind

MAX_FIELDS = 200


@dataclass(frozen=True)
class GradingPolicy:
    """Per-question options an instructor sets."""

    tolerance: Mapping[str, Any] | None = None  # overrides the instance's default tolerance
    per_entry: bool = False  # partial credit per entry of vectors and matrices
    error_carried_forward: bool = True
    reveal: bool = False  # show expected values in feedback


@dataclass
class SubmissionGrade:
    """The outcome: 'graded' with a score, or 'rejected' (unreadable input, attempt not counted)."""

    status: str
    score: float
    fields: dict[str, dict] = field(default_factory=dict)
    message: str = ""
    runs: dict[str, CodeRun] = field(default_factory=dict)  # code field -> how its code ran (not feedback)

    def to_dict(self) -> dict:
        return {"status": self.status, "score": self.score, "fields": self.fields, "message": self.message}


def grade_submission(
    instance: Mapping,
    answers: Any,
    policy: GradingPolicy = GradingPolicy(),
    run_code: RunCases | None = None,
    runs: Mapping[str, Mapping] | None = None,
) -> SubmissionGrade:
    """Grade raw `answers` ({field name: raw input}) against a stored instance.

    Code fields run in `run_code` (default: this process's sandbox, autograder.sandbox_runner),
    which raises autograder.sandbox.SandboxUnavailable when student code cannot be run safely;
    a code field with a run in `runs` (code_grading.runs_from_text of what an earlier grading
    kept) is judged from it.
    """
    if not isinstance(answers, Mapping):
        return SubmissionGrade("rejected", 0.0, message="answers must be an object mapping field names to values")
    fields = instance["fields"]
    names = [f["name"] for f in fields]
    unknown = sorted(str(k) for k in answers if k not in names)[:10]
    if unknown:
        return SubmissionGrade(
            "rejected", 0.0, message=f"unknown answer field(s) {unknown}; this question has {names}"
        )
    if all(blank(answers.get(name)) for name in names):  # a slip of the button, not an attempt
        return SubmissionGrade(
            "rejected", 0.0, message="No answers were given; fill in the fields and submit again. This attempt was not counted."
        )
    tolerance = Tolerance.coerce(policy.tolerance or instance.get("tolerance"))
    results: dict[str, FieldResult | CodeResult] = {}
    for spec in fields:
        name = spec["name"]
        raw = answers.get(name)
        if blank(raw):
            results[name] = FieldResult("incorrect", 0.0, "No answer given.", field=name)
            continue
        if spec["type"] == "code":
            results[name] = grade_code(
                raw,
                instance,
                run_code or _default_runner(),
                field_name=name,
                tolerance=policy.tolerance,
                stored_run=(runs or {}).get(name),
            )
            continue
        results[name] = _grade_number_field(raw, spec, instance, tolerance, policy, _misconceptions_for(instance, name))
    invalid = [n for n, r in results.items() if r.status == "invalid"]
    if invalid:
        return SubmissionGrade(
            "rejected",
            0.0,
            {n: r.to_dict() for n, r in results.items() if r.status == "invalid"},
            f"Some answers could not be read ({', '.join(invalid)}); fix them and submit again. "
            "This attempt was not counted.",
        )
    ruled_out = _ruled_out_mistakes(instance, results)
    if instance.get("chained") and policy.error_carried_forward:
        results = _carry_errors_forward(instance, answers, results, tolerance, policy)
    if ruled_out:
        results = _name_possible_mistakes(instance, answers, results, ruled_out, tolerance, policy)
    score = float(np.mean([r.score for r in results.values()])) if results else 0.0
    code_runs = {n: r.run for n, r in results.items() if isinstance(r, CodeResult) and r.run is not None}
    return SubmissionGrade("graded", score, {n: r.to_dict() for n, r in results.items()}, runs=code_runs)


CARRIED_PATHS = (3, 4)  # figures of the calculator paths from a student's own earlier answers
CARRIED_ERROR = "Correct for your earlier answers (error carried forward)."
# every earlier field was right: the student only carried their own rounding, which is no error
CARRIED_ROUNDING = "Correct for the rounded values of your earlier answers."
TYPED_HALF_UNIT = 0.005  # half a unit of the 3rd significant figure, relative to the number


def _recomputed(kind, instance: Mapping, given: Mapping, figures: int | None) -> dict:
    """recompute (along a calculator path with `figures`); {} where the student's values give
    no finite result."""
    try:
        with np.errstate(all="ignore"):
            return kind.recompute(instance, given, round_to=figures)
    except (ValueError, FloatingPointError, OverflowError):
        return {}


_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def _typed_ends(answers: Mapping, given: Mapping) -> list[dict]:
    """`given` with every number the student typed as a plain decimal moved down, then up, by
    half a unit of its last digit, at most half a unit of the third significant figure (what
    the promise of 3 figures covers; "0" stays 0): the ends of the values it may stand for.
    [] when there is none."""
    halves = {}
    for name, value in given.items():
        raw = answers.get(name)
        if isinstance(raw, str) and _PLAIN_NUMBER.fullmatch(raw) and np.ndim(value) == 0:
            last_digit = 0.5 * 10.0 ** Decimal(raw.strip()).as_tuple().exponent
            halves[name] = min(last_digit, TYPED_HALF_UNIT * abs(float(value)))
    if not halves:
        return []
    return [{**given, **{name: float(given[name]) + sign * half for name, half in halves.items()}} for sign in (-1, 1)]


def _finite_like(value: Any, carried: np.ndarray) -> bool:
    """Whether a path's value can stand beside the carried answer: finite, of its shape."""
    if value is None:
        return False
    array = np.asarray(value, dtype=np.float64)
    return array.shape == carried.shape and bool(np.all(np.isfinite(array)))


def blank(raw: Any) -> bool:
    """No answer: absent, null, text with nothing but whitespace (code included), or an empty
    list (no box ticked: no kind's right answer is the empty set, and a form with nothing ticked
    must not cost an attempt)."""
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list) and not raw)


def _default_runner() -> RunCases:
    from autograder.sandbox_runner import run_cases  # Django settings: only when code is graded

    return run_cases


def apply_penalties(raw_score: float, attempt_number: int, attempt_penalty: float, late_penalty: float) -> float:
    """Score after a per-attempt penalty (fraction per earlier attempt) and a late penalty fraction.
    Not rounded: the caller rounds once, after scaling to points (rounding here too gave 1/7 of
    5 points as 0.714285 instead of 0.714286)."""
    factor = max(0.0, 1.0 - attempt_penalty * max(0, attempt_number - 1)) * max(0.0, 1.0 - late_penalty)
    return raw_score * factor


def _grade_number_field(
    raw: Any, spec: Mapping, instance: Mapping, tolerance: Tolerance, policy: GradingPolicy, misconceptions: list
) -> FieldResult:
    """One non-code field (number, vector, matrix or choice) against the instance's answer, its
    calculator paths and the given modelled mistakes."""
    return grade_field(
        raw,
        spec,
        instance["answers"][spec["name"]],
        tolerance=tolerance,
        alternatives=instance.get("alternatives", {}).get(spec["name"], ()),
        misconceptions=misconceptions,
        per_entry=policy.per_entry,
        reveal=policy.reveal,
    )


def _name_possible_mistakes(
    instance: Mapping, answers: Mapping, results: dict, ruled_out: set[str], tolerance: Tolerance, policy: GradingPolicy
) -> dict:
    """Fields that matched a modelled mistake, graded again with only the mistakes the student's
    other answers allow, when one of those fits: the feedback then names it, and not the others."""
    refined_results = dict(results)
    for name, result in results.items():
        if not isinstance(result, FieldResult) or result.misconception is None:
            continue
        candidates = _misconceptions_for(instance, name)
        consistent = [m for m in candidates if m.id not in ruled_out]
        if len(consistent) == len(candidates) or not consistent:
            continue
        spec = next(spec for spec in instance["fields"] if spec["name"] == name)
        refined = _grade_number_field(answers[name], spec, instance, tolerance, policy, consistent)
        if refined.misconception is not None:
            refined_results[name] = refined
    return refined_results


def _ruled_out_mistakes(instance: Mapping, results: Mapping[str, Any]) -> set[str]:
    """The modelled mistakes the student did not make: each changes some field the student got
    right. When one field's numbers come from several mistakes (a + update and a sign error
    both flip w_new), its feedback then names the one the other answers leave possible."""
    return {
        m["id"]
        for m in instance.get("misconceptions", [])
        if any(name in results and results[name].status == "correct" for name in m["answers"])
    }


def _misconceptions_for(instance: Mapping, name: str) -> list[Misconception]:
    return [
        Misconception(m["id"], m["name"], m["explanation"], m["answers"][name])
        for m in instance.get("misconceptions", [])
        if name in m["answers"]
    ]


def _carry_errors_forward(
    instance: Mapping, answers: Mapping, results: dict[str, FieldResult], tolerance: Tolerance, policy: GradingPolicy
) -> dict[str, FieldResult]:
    """Re-grade wrong later fields against values recomputed from the student's own answers."""
    if all(result.status == "correct" for result in results.values()):
        return results  # nothing to re-grade
    given = {}
    for spec in instance["fields"]:
        raw = answers.get(spec["name"])
        if raw is None or spec["type"] in ("choice", "choices"):
            continue
        try:
            given[spec["name"]] = parse_answer(raw, FieldSpec.coerce(spec)).value
        except InvalidAnswer:
            continue
    kind = get_kind(instance["kind"])
    expected = _recomputed(kind, instance, given, None)  # {} where the student's values overflow
    # The student's own values carried on with a calculator (3 or 4 figures written), and from
    # the ends of what they typed: "0.963" may stand for the 0.96276 they kept working with.
    paths = [_recomputed(kind, instance, given, figures) for figures in CARRIED_PATHS]
    paths += [_recomputed(kind, instance, typed, None) for typed in _typed_ends(answers, given)]
    out = dict(results)
    for name, why in (kind.uncarried(instance, given) if hasattr(kind, "uncarried") else {}).items():
        if name in out and out[name].status != "correct":  # the value later answers were not judged from
            out[name] = replace(out[name], notes=[*out[name].notes, why])
    earlier_all_right = True  # no field before this one was wrong: nothing was carried but rounding
    for spec in instance["fields"]:
        name = spec["name"]
        all_right_so_far = earlier_all_right
        earlier_all_right = earlier_all_right and results[name].status == "correct"
        if results[name].status == "correct" or name not in expected or name not in given:
            continue
        carried = np.asarray(expected[name], dtype=np.float64)
        if not np.all(np.isfinite(carried)):
            continue
        alternatives = [path[name] for path in paths if _finite_like(path.get(name), carried)]
        regraded = grade_field(
            answers[name], spec, carried.tolist(), tolerance=tolerance, alternatives=alternatives, per_entry=policy.per_entry
        )
        if regraded.score > results[name].score:
            out[name] = FieldResult(
                regraded.status,
                regraded.score,
                CARRIED_ROUNDING if all_right_so_far else CARRIED_ERROR,
                list(regraded.notes),
                list(regraded.wrong_entries),
                None,
                name,
            )
    return out
