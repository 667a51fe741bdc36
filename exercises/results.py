"""What a student reads of a submission in the web UI: its state and the feedback per answer
field, labelled as the question labels it (what GET /api/submissions/{id}/ holds, arranged for a
page; the penalties come from services.penalty_notes, as there)."""

from __future__ import annotations

from dataclasses import dataclass

from exercises import services
from exercises.models import Submission

FINAL = {Submission.Status.GRADED: "graded", Submission.Status.REJECTED: "not graded", Submission.Status.ERROR: "error"}


def pending(submission: Submission) -> bool:
    """Still queued or being graded: the page keeps asking."""
    return submission.status in services.PENDING


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
    labels = {spec["name"]: spec.get("label") or spec["name"] for spec in submission.variant.instance.get("fields", [])}
    ordered = [name for name in labels if name in fields] + [name for name in fields if name not in labels]
    return [FieldFeedback(name, labels.get(name, name), fields[name]) for name in ordered if isinstance(fields[name], dict)]
