"""Submissions that could not be graded (a problem on our side), and sending them to grading again.

A grading that fails (no sandbox in the worker, a bug, the database gone) stores status "error"
with its cause, for the staff. The sweeper tries it again until it has been claimed
services.max_tries() times; then it no longer counts as an attempt to come (its place is given
back to the rows after it). The student is told the submission is kept and will be graded once
the problem is fixed: this is how. The course's instructor sees the count and the latest cause on
the question's page and sends them again; each is queued as it was submitted (same answers, same
submission time, so the same lateness) and graded like any other: one still retried keeps its place
among the attempts, one given up on (attempt_released) takes the next free number
(services._attempt_number), or is refused if the student has used every attempt since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet

from exercises import services
from exercises.models import AuditEntry, Question, Submission

S = Submission.Status
SHOWN_CAUSE_CHARS = 300  # of the latest error's message, on the staff's page


@dataclass(frozen=True)
class Errors:
    """A question's submissions in status error: how many, how many the sweeper still tries
    again by itself, and the latest one's cause (for the staff: it may name internals)."""

    count: int
    retrying: int
    latest_cause: str
    latest_at: datetime | None


def errors_of(question: Question) -> Errors | None:
    """The question's submissions that could not be graded, or None when there are none."""
    rows = Submission.objects.filter(variant__question=question, status=S.ERROR)
    counts = rows.aggregate(count=Count("id"), retrying=Count("id", filter=Q(claims__lt=services.max_tries())))
    if not counts["count"]:
        return None
    latest = rows.order_by("-grading_started_at", "-id").values("error_message", "grading_started_at").first()
    cause = latest["error_message"] or "(no cause was recorded)"
    if len(cause) > SHOWN_CAUSE_CHARS:
        cause = cause[: SHOWN_CAUSE_CHARS - 1] + "…"
    return Errors(counts["count"], counts["retrying"], cause, latest["grading_started_at"])


def grade_again(question: Question, actor) -> list[dict]:
    """Queue the question's submissions in status error for grading again, with an audit entry;
    the rows sent ({submission, student, username}), in submission order. The messages go once
    the transaction commits."""
    with transaction.atomic():
        sent = send_again(Submission.objects.filter(variant__question=question, status=S.ERROR))
        rows = Submission.objects.filter(pk__in=sent).select_related("student").only("pk", "student_id", "student__username")
        report = [services.row_of(row) for row in rows.order_by("submitted_at", "id")]
        if report:
            AuditEntry.objects.create(
                actor=actor,
                course_id=question.problem_set.course_id,
                action="graded_again",
                details={"question": question.pk, "submissions": report},
            )
    return report


def send_again(submissions: QuerySet) -> list[int]:
    """Queue again those of `submissions` that are waiting or could not be graded (not those a
    worker holds: the sweeper takes back a dead worker's); their ids. Locked first, so a worker
    claiming one meanwhile waits and finds it queued. What the admin's action and grade_again
    use; call inside a transaction (the messages wait for its commit)."""
    ids = list(
        submissions.filter(status__in=(S.QUEUED, S.ERROR)).select_for_update(of=("self",)).values_list("pk", flat=True)
    )
    Submission.objects.filter(pk__in=ids).update(status=S.QUEUED, enqueue_count=F("enqueue_count") + 1)
    for pk in ids:
        services.enqueue(pk)
    return ids
