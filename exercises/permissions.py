"""Who may see and do what in the REST API, as plain functions the views call.

The rule everywhere: an object the user may not even know about (another course's, a problem
set not yet released to a student, another student's submission) is a 404, never a 403, so the
API does not leak what exists; an object the user can see but may not act on is a 403.
Roles come from `services.membership_role` (instructor | ta | student | None), or on the hot
paths (`visible_question`; `visible_submission`, which a waiting page asks every second or few)
from the same lookup folded into the object's query.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from exercises import services, sql
from exercises.models import Course, Membership, ProblemSet, Question, Submission, Variant

INSTRUCTOR = Membership.Role.INSTRUCTOR.value
TA = Membership.Role.TA.value
STUDENT = Membership.Role.STUDENT.value
STAFF_ROLES = (INSTRUCTOR, TA)
User = get_user_model()


def is_released(problem_set: ProblemSet, now: datetime | None = None) -> bool:
    """Students see a problem set (and its questions) from its release time on."""
    return problem_set.release_at <= (now or timezone.now())


# One 404 per kind of object, the same whether it does not exist or the user may not see it:
# a different wording told students which ids exist (other courses', unreleased ones).
NO_COURSE = "No such course."
NO_PROBLEM_SET = "No such problem set."
NO_QUESTION = "No such question."
NO_SUBMISSION = "No such submission."


def course_role(user, course: Course, missing: str = NO_COURSE) -> str:
    """The user's role in the course; 404 `missing` for non-members (they must not learn it exists)."""
    return member_role(services.membership_role(user, course), missing)


def member_role(role: str | None, missing: str = NO_COURSE) -> str:
    """A looked-up role, or 404 `missing` for a non-member (None)."""
    if role is None:
        raise NotFound(missing)
    return role


def _get_or_404(queryset, pk: int, missing: str):
    """The row with this pk, or 404 with the same message as for a row the user may not see."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise NotFound(missing)
    return found


def require_instructor(role: str, action: str) -> None:
    if role != INSTRUCTOR:
        raise PermissionDenied(f"Only the course's instructors may {action}.", code="not_instructor")


def require_course_creator(user) -> None:
    """Who may create a course: site staff, holders of the exercises.add_course permission (an
    administrator grants it) and anyone who already teaches a course. Not every account: a
    student could otherwise make a course and enrol any other account into it."""
    if user.is_staff or user.has_perm("exercises.add_course"):
        return
    if Membership.objects.filter(user=user, role=INSTRUCTOR).exists():
        return
    raise PermissionDenied(
        "Only instructors may create courses; ask an administrator for the permission "
        '"exercises.add_course" (Django admin, user permissions).',
        code="not_course_creator",
    )


def require_staff(role: str, action: str) -> None:
    if role not in STAFF_ROLES:
        raise PermissionDenied(f"Only the course's instructors and TAs may {action}.", code="not_staff")


def require_student(role: str, action: str) -> None:
    if role != STUDENT:
        raise PermissionDenied(
            f"Only students of the course {action}; instructors and TAs have no variants of their own.",
            code="not_a_student",
        )


def course_student(course_id: int, user_id: int):
    """The user with that id if they are a student of the course; 404 otherwise (staff asking
    about someone who is not their student learn nothing about that account)."""
    membership = (
        Membership.objects.select_related("user").filter(course_id=course_id, user_id=user_id, role=STUDENT).first()
    )
    if membership is None:
        raise NotFound("No such student in this course.")
    return membership.user


def question_student(question: Question, user_id: int):
    """course_student, or someone who has left the course (or become staff) with a variant of
    this question: the work they left behind stays in the staff's lists, and its links to their
    variant answered 404 (QA). Anyone else is the same 404."""
    try:
        return course_student(question.problem_set.course_id, user_id)
    except NotFound:
        former = Variant.objects.filter(question=question, student_id=user_id).select_related("student").first()
        if former is None:
            raise
        return former.student


def course_student_named(course_id: int, username: str):
    """The student of the course with that username; 400 naming it otherwise (an instructor
    typing a name gets told, where an id in a URL is a 404), as a list like every field error."""
    membership = (
        Membership.objects.select_related("user")
        .filter(course_id=course_id, user__username=username, role=STUDENT)
        .first()
    )
    if membership is None:
        raise ValidationError({"username": [f"{username!r} is not a student of this course."]})
    return membership.user


def member_course(user, course_id: int) -> tuple[Course, str]:
    course = _get_or_404(Course.objects.all(), course_id, NO_COURSE)
    return course, course_role(user, course)


def visible_problem_set(user, problem_set_id: int) -> tuple[ProblemSet, str]:
    """A problem set of one of the user's courses; students only see released ones."""
    problem_set = _get_or_404(ProblemSet.objects.select_related("course"), problem_set_id, NO_PROBLEM_SET)
    role = course_role(user, problem_set.course, NO_PROBLEM_SET)
    if role == STUDENT and not is_released(problem_set):
        raise NotFound(NO_PROBLEM_SET)
    return problem_set, role


def visible_question(user, question_id: int) -> tuple[Question, str]:
    """A question of a problem set the user can see (see `visible_problem_set`).

    One query for the question, its problem set and the user's role (every submission asks
    this, so it is plain SQL, see exercises.sql)."""
    row = sql.fetch_one(
        f"SELECT {sql.columns(Question, 'q')}, {sql.columns(ProblemSet, 'p')}, "
        f"(SELECT m.role FROM {sql.table(Membership)} m WHERE m.course_id = p.course_id AND m.user_id = %s) "
        f"FROM {sql.table(Question)} q JOIN {sql.table(ProblemSet)} p ON p.id = q.problem_set_id "
        "WHERE q.id = %s",
        [user.pk if getattr(user, "is_authenticated", False) else None, question_id],
    )
    if row is None:
        raise NotFound(NO_QUESTION)
    question, question.problem_set = sql.load_models(row, Question, ProblemSet)
    role = member_role(row[-1], NO_QUESTION)
    if role == STUDENT and not is_released(question.problem_set):
        raise NotFound(NO_QUESTION)
    return question, role


def visible_submission(user, submission_id: int) -> tuple[Submission, str]:
    """A student's own submission, or any submission of a course the user teaches; with its
    variant, question, problem set, course and student, and the user's role, in one statement
    (plain SQL: a waiting student's page asks about it every second or few, and through the ORM
    this lookup was most of such a request's CPU). Its kept code runs load only when read."""
    deferred = {Submission: ("code_runs",)}
    row = sql.fetch_one(
        f"SELECT {sql.columns(Submission, 's', deferred[Submission])}, {sql.columns(Variant, 'v')}, "
        f"{sql.columns(Question, 'q')}, {sql.columns(ProblemSet, 'p')}, {sql.columns(Course, 'c')}, "
        f"{sql.columns(User, 'u')}, (SELECT m.role FROM {sql.table(Membership)} m WHERE m.course_id = c.id "
        f"AND m.user_id = %s) FROM {sql.table(Submission)} s JOIN {sql.table(Variant)} v ON v.id = s.variant_id "
        f"JOIN {sql.table(Question)} q ON q.id = v.question_id JOIN {sql.table(ProblemSet)} p ON p.id = q.problem_set_id "
        f"JOIN {sql.table(Course)} c ON c.id = p.course_id JOIN {sql.table(User)} u ON u.id = s.student_id WHERE s.id = %s",
        [user.pk if getattr(user, "is_authenticated", False) else None, submission_id],
    )
    role = row[-1] if row is not None else None
    if role is None:
        raise NotFound(NO_SUBMISSION)
    submission, variant, question, problem_set, course, student = sql.load_models(
        row, Submission, Variant, Question, ProblemSet, Course, User, deferred=deferred
    )
    if role not in STAFF_ROLES and submission.student_id != user.pk:
        raise NotFound(NO_SUBMISSION)
    problem_set.course = course
    question.problem_set = problem_set
    variant.question = question
    submission.variant, submission.student = variant, student
    return submission, role


def problem_sets_for(role: str, course: Course) -> QuerySet[ProblemSet]:
    problem_sets = course.problem_sets.all()
    if role == STUDENT:
        problem_sets = problem_sets.filter(release_at__lte=timezone.now())
    return problem_sets


def submissions_for(user, role: str, question: Question) -> QuerySet[Submission]:
    """Students list their own submissions; instructors and TAs every submission."""
    submissions = (
        Submission.objects.filter(variant__question=question)
        .select_related("variant__question__problem_set", "student")
        .defer("code_runs")
    )
    if role not in STAFF_ROLES:
        submissions = submissions.filter(student=user)
    return submissions.order_by("submitted_at", "id")


def is_last_instructor(membership: Membership) -> bool:
    """Whether this is the course's only instructor (who must not be demoted or removed: nobody
    could then manage the course)."""
    return (
        membership.role == INSTRUCTOR
        and not Membership.objects.filter(course_id=membership.course_id, role=INSTRUCTOR).exclude(pk=membership.pk).exists()
    )


def filtered_submissions(submissions: QuerySet[Submission], params) -> QuerySet[Submission]:
    """The list narrowed by the query's `student` (a username), `student_id`, `status` and
    `order` (oldest first, or newest): a TA answering one student's complaint found their
    submissions among all of the course's, 100 a page, oldest first (QA). Usernames are often
    student numbers, so an id is asked for by its own name. ValueError for a value not known."""
    student = (params.get("student") or "").strip()
    if student:
        submissions = submissions.filter(student__username=student)
    student_id = (params.get("student_id") or "").strip()
    if student_id:
        if not (student_id.isascii() and student_id.isdigit() and len(student_id) <= 12):
            raise ValueError(f"student_id must be a user id (digits), not {student_id!r}")
        submissions = submissions.filter(student_id=int(student_id))
    status = params.get("status")
    if status:
        if status not in Submission.Status.values:
            raise ValueError(f"status must be one of {', '.join(Submission.Status.values)}, not {status!r}")
        submissions = submissions.filter(status=status)
    order = params.get("order") or "oldest"
    if order not in ("oldest", "newest"):
        raise ValueError(f"order must be oldest or newest, not {order!r}")
    return submissions.order_by("-submitted_at", "-id") if order == "newest" else submissions
