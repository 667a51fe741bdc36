"""Per-student extensions: one student's own due time (and late window) for a problem set.

An extension never makes a deadline earlier: a student's due time is the later of the set's and
the extension's, and their late window ends at the latest of the two ends that come after it.
Submissions are late by the student's own due time; worked solutions open for everyone once the
last extended student's deadline has passed too, so answers shown to the class cannot reach a
student who may still submit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from exercises.models import AuditEntry, Extension, ProblemSet, Submission, Variant


@dataclass(frozen=True)
class Deadlines:
    """When a student's submissions turn late (due_at) and are refused (after closes_at)."""

    due_at: datetime
    late_until: datetime | None

    @property
    def closes_at(self) -> datetime:
        return self.late_until or self.due_at


class ExtensionError(ValueError):
    """An extension that cannot be granted; the message says why."""


def set_deadlines(problem_set: ProblemSet) -> Deadlines:
    """The set's own deadlines (a late window ending before the due time is none)."""
    late = problem_set.late_until if problem_set.late_until and problem_set.late_until > problem_set.due_at else None
    return Deadlines(problem_set.due_at, late)


def merged(problem_set: ProblemSet, extension: Extension | None) -> Deadlines:
    """The set's deadlines with `extension` applied: never earlier than the set's own."""
    own = set_deadlines(problem_set)
    if extension is None:
        return own
    due = max(own.due_at, extension.due_at)
    ends = [end for end in (own.late_until, extension.late_until) if end is not None and end > due]
    return Deadlines(due, max(ends) if ends else None)


def deadlines_for(problem_set: ProblemSet, student_id: int) -> Deadlines:
    """A student's deadlines for the set (one query)."""
    extension = Extension.objects.filter(problem_set=problem_set, student_id=student_id).first()
    return merged(problem_set, extension)


def solutions_open_at(problem_set: ProblemSet) -> datetime:
    """When the set's worked solutions open to every student: after its own close and every
    extended student's."""
    closes = set_deadlines(problem_set).closes_at
    latest = problem_set.extensions.aggregate(due=Max("due_at"), late=Max("late_until"))
    return max(t for t in (closes, latest["due"], latest["late"]) if t is not None)


def solutions_seen(problem_set: ProblemSet) -> int:
    """How many students have already opened a worked solution of the set: an extension granted
    now gives its student more time beside classmates who could hand them the answers."""
    return Variant.objects.filter(question__problem_set=problem_set, solution_seen_at__isnull=False).values("student_id").distinct().count()


def grant(problem_set: ProblemSet, student, due_at: datetime, late_until: datetime | None, reason: str, actor) -> Extension:
    """Give (or change) a student's extension; their submissions are late or not by it from now
    on, graded ones rescored at once. Audited."""
    if late_until is not None and late_until < due_at:
        raise ExtensionError("the late window must not end before the due time")
    with transaction.atomic():
        # locked as deadline edits lock it, and used as locked: an edit that committed while we
        # waited is what the rescoring must apply
        problem_set = ProblemSet.objects.select_for_update().get(pk=problem_set.pk)
        if due_at < problem_set.release_at:
            raise ExtensionError("the due time must not be before the problem set's release time")
        own = set_deadlines(problem_set)
        if merged(problem_set, Extension(due_at=due_at, late_until=late_until)) == own:
            # stored, it would be listed as the student's date while the set's later one holds
            window = f", late window until {own.late_until.isoformat()}" if own.late_until else ""
            raise ExtensionError(
                f"this gives the student no more time: the set itself is due {own.due_at.isoformat()}{window}; "
                "give a later due time (or a later end of the late window)"
            )
        before = Extension.objects.filter(problem_set=problem_set, student=student).first()
        extension, _ = Extension.objects.update_or_create(
            problem_set=problem_set,
            student=student,
            defaults={"due_at": due_at, "late_until": late_until, "reason": reason, "granted_by": actor},
        )
        rescored = relabel_late(problem_set, student.pk, merged(problem_set, extension))
        _audit(problem_set, student.pk, actor, "extension_granted", extension, rescored, before)
    return extension


def revoke(problem_set: ProblemSet, student_id: int, actor) -> bool:
    """Take a student's extension back (their submissions after the set's due time are late
    again, and rescored). False if they had none. By id: a student who has left the course
    still has theirs taken back (it would keep the class's solutions closed)."""
    with transaction.atomic():
        problem_set = ProblemSet.objects.select_for_update().get(pk=problem_set.pk)
        extension = Extension.objects.filter(problem_set=problem_set, student_id=student_id).first()
        if extension is None:
            return False
        extension.delete()
        rescored = relabel_late(problem_set, student_id, set_deadlines(problem_set))
        _audit(problem_set, student_id, actor, "extension_revoked", extension, rescored)
    return True


def relabel_late(problem_set: ProblemSet, student_id: int, deadlines: Deadlines) -> list[dict]:
    """Mark the student's submissions of the set late or on time by `deadlines` and rescore
    their graded ones from the stored raw scores; the score changes."""
    from exercises.services import rescore  # services imports this module

    rows = Submission.objects.filter(variant__question__problem_set=problem_set, student_id=student_id)
    flag_late(rows, deadlines.due_at)
    return rescore(problem_set, rows)


def flag_late(rows, due_at: datetime) -> None:
    """Late = submitted after `due_at`, for every row (queued, grading or failed ones are scored
    with it later)."""
    rows.filter(late=True, submitted_at__lte=due_at).update(late=False)
    rows.filter(late=False, submitted_at__gt=due_at).update(late=True)


def students_with_extensions(problem_set: ProblemSet) -> dict[int, Extension]:
    return {e.student_id: e for e in problem_set.extensions.all()}


def _audit(
    problem_set: ProblemSet,
    student_id: int,
    actor,
    action: str,
    extension: Extension,
    rescored: list[dict],
    before: Extension | None = None,
) -> None:
    details = {"problem_set": problem_set.pk, "student": student_id, **_times(extension), "rescored": rescored}
    if before is not None:
        details["before"] = _times(before)
    AuditEntry.objects.create(actor=actor, course_id=problem_set.course_id, action=action, details=details)


def _times(extension: Extension) -> dict:
    return {
        "due_at": extension.due_at.isoformat(),
        "late_until": extension.late_until.isoformat() if extension.late_until else None,
        "reason": extension.reason,
    }
