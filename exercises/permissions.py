"""Who may see and do what in the REST API, as plain functions the views call.

The rule everywhere: an object the user may not even know about (another course's, a problem
set not yet released to a student, another student's submission) is a 404, never a 403, so the
API does not leak what exists; an object the user can see but may not act on is a 403.
Roles come from `services.membership_role` (instructor | ta | student | None).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied

from exercises import services
from exercises.models import Course, Membership, ProblemSet, Question, Submission

INSTRUCTOR = Membership.Role.INSTRUCTOR.value
TA = Membership.Role.TA.value
STUDENT = Membership.Role.STUDENT.value
STAFF_ROLES = (INSTRUCTOR, TA)


def is_released(problem_set: ProblemSet, now: datetime | None = None) -> bool:
    """Students see a problem set (and its questions) from its release time on."""
    return problem_set.release_at <= (now or timezone.now())


def course_role(user, course: Course) -> str:
    """The user's role in the course; 404 for non-members (they must not learn it exists)."""
    role = services.membership_role(user, course)
    if role is None:
        raise NotFound("No such course.")
    return role


def require_instructor(role: str, action: str) -> None:
    if role != INSTRUCTOR:
        raise PermissionDenied(f"Only the course's instructors may {action}.", code="not_instructor")


def require_staff(role: str, action: str) -> None:
    if role not in STAFF_ROLES:
        raise PermissionDenied(f"Only the course's instructors and TAs may {action}.", code="not_staff")


def require_student(role: str, action: str) -> None:
    if role != STUDENT:
        raise PermissionDenied(
            f"Only students of the course {action}; instructors and TAs have no variants of their own.",
            code="not_a_student",
        )


def member_course(user, course_id: int) -> tuple[Course, str]:
    course = get_object_or_404(Course, pk=course_id)
    return course, course_role(user, course)


def visible_problem_set(user, problem_set_id: int) -> tuple[ProblemSet, str]:
    """A problem set of one of the user's courses; students only see released ones."""
    problem_set = get_object_or_404(ProblemSet.objects.select_related("course"), pk=problem_set_id)
    role = course_role(user, problem_set.course)
    if role == STUDENT and not is_released(problem_set):
        raise NotFound("No such problem set.")
    return problem_set, role


def visible_question(user, question_id: int) -> tuple[Question, str]:
    """A question of a problem set the user can see (see `visible_problem_set`)."""
    question = get_object_or_404(
        Question.objects.select_related("problem_set__course"), pk=question_id
    )
    role = course_role(user, question.problem_set.course)
    if role == STUDENT and not is_released(question.problem_set):
        raise NotFound("No such question.")
    return question, role


def visible_submission(user, submission_id: int) -> tuple[Submission, str]:
    """A student's own submission, or any submission of a course the user teaches."""
    submission = get_object_or_404(
        Submission.objects.select_related("variant__question__problem_set__course", "student"),
        pk=submission_id,
    )
    role = services.membership_role(user, submission.variant.question.problem_set.course)
    if role is None or (role not in STAFF_ROLES and submission.student_id != user.pk):
        raise NotFound("No such submission.")
    return submission, role


def problem_sets_for(role: str, course: Course) -> QuerySet[ProblemSet]:
    problem_sets = course.problem_sets.all()
    if role == STUDENT:
        problem_sets = problem_sets.filter(release_at__lte=timezone.now())
    return problem_sets


def submissions_for(user, role: str, question: Question) -> QuerySet[Submission]:
    """Students list their own submissions; instructors and TAs every submission."""
    submissions = Submission.objects.filter(variant__question=question).select_related(
        "variant__question", "student"
    )
    if role not in STAFF_ROLES:
        submissions = submissions.filter(student=user)
    return submissions.order_by("submitted_at", "id")
