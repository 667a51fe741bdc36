"""Where a user stands, for the web UI's overview pages: their courses, each problem set's window
(open, late, closed) and a student's best scores, attempts and status per question; for the
staff, how many submissions each question has. Read-only summaries over exercises.services and
exercises.permissions, so the pages state the rules exactly as submitting applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from exercises import extensions, services
from exercises.extensions import Deadlines
from exercises.models import Course, Membership, ProblemSet, Question, Submission
from exercises.permissions import STAFF_ROLES, problem_sets_for
from nncore.problems import CATALOGUE

NOT_RELEASED, OPEN, LATE, CLOSED = "not_released", "open", "late", "closed"
GRADED = Submission.Status.GRADED


def window(problem_set: ProblemSet, student=None, now: datetime | None = None) -> str:
    """NOT_RELEASED, OPEN, LATE (submissions lose the late penalty) or CLOSED, judged by the
    same check `services.submit` makes: for `student`, by their own deadlines (an extension);
    without one (the staff), by the set's."""
    try:
        late = services.check_window(problem_set, now or timezone.now(), student.pk if student else None)
    except services.SubmissionRefused as refused:  # "not_released" or "closed"
        return refused.code
    return LATE if late else OPEN


@dataclass(frozen=True)
class ShownDeadlines(Deadlines):
    """Deadlines as a page shows them, with which of the times are the student's own: an
    extension may move the due time, the end of the late window, or both."""

    own_due: bool = False
    own_late_until: bool = False


def deadlines(problem_set: ProblemSet, student=None) -> ShownDeadlines:
    """The due time and late window shown: the student's own (an extension), or the set's;
    each time that differs from the set's is marked as theirs."""
    own = extensions.set_deadlines(problem_set)
    theirs = extensions.deadlines_for(problem_set, student.pk) if student else own
    return ShownDeadlines(
        theirs.due_at,
        theirs.late_until,
        own_due=theirs.due_at != own.due_at,
        own_late_until=theirs.late_until is not None and theirs.late_until != own.late_until,
    )


def question_number(question: Question) -> int:
    """The question's place in its set (1, 2, ...), as the set's page numbers it."""
    return list(question.problem_set.questions.values_list("pk", flat=True)).index(question.pk) + 1


def kind_title(question: Question) -> str:
    """The question's kind as people read it ("Forward pass of one neuron")."""
    kind = CATALOGUE.get(question.kind)
    return kind.title if kind else question.kind


@dataclass
class SetSummary:
    """A problem set on the home page; `score` is the student's (None for the staff)."""

    problem_set: ProblemSet
    window: str
    deadlines: ShownDeadlines
    questions: int
    points: float
    score: float | None = None


@dataclass
class CourseSummary:
    course: Course
    role: str
    sets: list[SetSummary] = field(default_factory=list)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


def courses_for(user) -> list[CourseSummary]:
    """The user's courses (by code), each with the problem sets they may see (students: the
    released ones), their windows, points and, for a student, the best scores added up."""
    summaries = []
    for membership in Membership.objects.filter(user=user).select_related("course").order_by("course__code", "course_id"):
        summary = CourseSummary(membership.course, membership.role)
        sets = list(problem_sets_for(membership.role, membership.course))
        totals = {
            row["problem_set"]: row
            for row in Question.objects.filter(problem_set__in=sets)
            .values("problem_set")
            .annotate(points=Sum("points"), questions=Count("pk"))
        }
        scores = {} if summary.is_staff else _set_scores(user, sets)
        for problem_set in sets:
            row = totals.get(problem_set.pk, {})
            summary.sets.append(
                SetSummary(
                    problem_set,
                    window(problem_set, None if summary.is_staff else user),
                    deadlines(problem_set, None if summary.is_staff else user),
                    row.get("questions", 0),
                    row.get("points") or 0.0,
                    None if summary.is_staff else scores.get(problem_set.pk, 0.0),
                )
            )
        summaries.append(summary)
    return summaries


def _set_scores(student, sets: list[ProblemSet]) -> dict[int, float]:
    """Per problem set, the sum of the student's best graded score on each question (as the
    gradebook adds them up)."""
    totals: dict[int, float] = {}
    rows = (
        Submission.objects.filter(student=student, status=GRADED, variant__question__problem_set__in=sets)
        .values("variant__question", "variant__question__problem_set")
        .annotate(best=Max("score"))
    )
    for row in rows:
        if row["best"] is not None:
            key = row["variant__question__problem_set"]
            totals[key] = round(totals.get(key, 0.0) + row["best"], 6)
    return totals


@dataclass
class QuestionSummary:
    """One question of a problem set page: for a student their attempts, best score and
    status; for the staff the number of submissions."""

    question: Question
    title: str
    attempts_used: int = 0
    pending: int = 0
    best: float | None = None
    status: str = ""
    submissions: int = 0


def student_questions(problem_set: ProblemSet, student) -> list[QuestionSummary]:
    """The student's standing on each question of the set."""
    questions = list(problem_set.questions.all())
    for question in questions:
        question.problem_set = problem_set
    rows = {
        row["variant__question"]: row
        for row in Submission.objects.filter(student=student, variant__question__in=questions)
        .values("variant__question")
        .annotate(
            best=Max("score", filter=Q(status=GRADED)),
            used=Count("pk", filter=services.COUNTED),  # services.attempts_used, for every question at once
            pending=Count("pk", filter=services.WILL_COUNT),  # services.attempts_pending
        )
    }
    summaries = []
    for question in questions:
        row = rows.get(question.pk, {})
        summary = QuestionSummary(
            question, kind_title(question), attempts_used=row.get("used", 0), pending=row.get("pending", 0), best=row.get("best")
        )
        summary.status = _status(summary)
        summaries.append(summary)
    return summaries


def _status(summary: QuestionSummary) -> str:
    """A few words on where the student stands on a question."""
    question = summary.question
    if summary.pending:
        return "being graded"
    if summary.best is not None and question.points and summary.best >= question.points:
        return "full marks"
    if question.max_attempts and summary.attempts_used >= question.max_attempts:
        return "no attempts left"
    if summary.attempts_used:
        return "attempted"
    return "not attempted"


def staff_questions(problem_set: ProblemSet) -> list[QuestionSummary]:
    """Each question of the set with its number of submissions (every student's, every status)."""
    counts = dict(
        Submission.objects.filter(variant__question__problem_set=problem_set)
        .values("variant__question")
        .annotate(n=Count("pk"))
        .values_list("variant__question", "n")
    )
    return [
        QuestionSummary(question, kind_title(question), submissions=counts.get(question.pk, 0))
        for question in problem_set.questions.all()
    ]


def submission_count(question: Question) -> int:
    return Submission.objects.filter(variant__question=question).count()


LATEST_SUBMISSIONS = 50  # on the staff's question page; the API lists them all


def latest_submissions(question: Question, limit: int = LATEST_SUBMISSIONS) -> list[Submission]:
    """The question's most recent submissions, every student's, newest first (for the staff's
    page, each linking to its submission page)."""
    return list(
        Submission.objects.filter(variant__question=question)
        .select_related("student")
        .only(
            "status", "score", "attempt_number", "late", "submitted_at",
            "student__username", "student__first_name", "student__last_name",  # the |person filter's
        )
        .order_by("-submitted_at", "-id")[:limit]
    )
