"""What a student reads of a submission in the web UI: its state and the feedback per answer
field, labelled as the question labels it (what GET /api/submissions/{id}/ holds, arranged for a
page; the penalties come from services.penalty_notes, as there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from exercises import hidden_cases, services
from exercises.models import Submission

FINAL = {Submission.Status.GRADED: "graded", Submission.Status.REJECTED: "not graded", Submission.Status.ERROR: "error"}


def pending(submission: Submission) -> bool:
    """Still queued or being graded: the page keeps asking."""
    return submission.status in services.PENDING


POLL_FIRST_MS = 1000  # a submission graded in a second or two shows at once
POLL_MAX_MS = 5000


def poll_after_ms(submission: Submission, now: datetime | None = None) -> int:
    """How often (ms) the page asks again about a submission still queued or being graded: every
    second at first, then less often as the wait grows (a quarter of it, up to 5 s). At a
    deadline 500 students waiting behind a queue, each asking every second, would load the web
    server more than their submissions do. An interval ("every"), not a delay after each answer:
    a request that fails swaps nothing in, and the box keeps asking at the same pace."""
    waited_ms = ((now or timezone.now()) - submission.submitted_at).total_seconds() * 1000
    return int(min(POLL_MAX_MS, max(POLL_FIRST_MS, waited_ms / 4)))


def state_words(submission: Submission) -> str:
    if submission.status == Submission.Status.QUEUED:
        return "queued: waiting to be graded"
    if submission.status == Submission.Status.GRADING:
        return "being graded"
    return FINAL.get(submission.status, str(submission.status))


@dataclass
class FieldFeedback:
    name: str
    label: str
    feedback: dict  # the grader's: status, score, message, notes, (code) cases, output


def field_feedback(submission: Submission) -> list[FieldFeedback]:
    """The feedback of each answer field, in the question's order, with its label."""
    fields = (submission.feedback or {}).get("fields") or {}
    return [
        FieldFeedback(name, label, value)
        for name, label, value in in_field_order(submission.variant.instance, fields)
        if isinstance(value, dict)
    ]


@dataclass
class HiddenCasesInFull:
    message: str  # what follows, or why nothing can be shown
    fields: list[FieldFeedback]  # each code field's feedback with every case in full


def hidden_cases_in_full(submission: Submission) -> HiddenCasesInFull | None:
    """For the staff: the hidden test cases the student's feedback withholds, in full and
    labelled (hidden_cases.hidden_cases_in_full); None when it withholds nothing."""
    full = hidden_cases.hidden_cases_in_full(submission)
    if not full.withheld:
        return None
    labelled = in_field_order(submission.variant.instance, full.fields)
    return HiddenCasesInFull(full.message, [FieldFeedback(name, label, value) for name, label, value in labelled])


@dataclass
class SubmittedAnswer:
    label: str
    text: str
    code: bool  # shown as a block of code


def submitted_answers(submission: Submission) -> list[SubmittedAnswer]:
    """What was submitted, field by field in the question's order (the submission page showed
    only the feedback: neither the teacher nor the student could see the code that was graded)."""
    instance = submission.variant.instance
    types = {spec["name"]: spec.get("type") for spec in instance.get("fields", [])}
    answers = submission.answers if isinstance(submission.answers, dict) else {}
    return [
        SubmittedAnswer(
            _third_person(label), value if isinstance(value, str) else json.dumps(value), types.get(name) == "code"
        )
        for name, label, value in in_field_order(instance, answers)
    ]


def _third_person(label: str) -> str:
    """A form's label as the submission page shows it to the student and the staff alike: the
    code field's "Your Python code" as "Python code" (the label is part of the frozen variant)."""
    if label.startswith("Your ") and len(label) > 5:
        return label[5].upper() + label[6:]
    return label


def in_field_order(instance: dict, values: dict) -> list[tuple[str, str, object]]:
    """(name, label, value) of each entry of `values` keyed by answer field, in the order the
    question asks the fields (a dict read back from jsonb has its keys in another order); keys
    that are no field come last, labelled by their name."""
    labels = {spec["name"]: spec.get("label") or spec["name"] for spec in instance.get("fields", [])}
    ordered = [name for name in labels if name in values] + [name for name in values if name not in labels]
    return [(name, labels.get(name, name), values[name]) for name in ordered]
