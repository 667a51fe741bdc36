"""A variant whose worked solution the student has fetched takes no more submissions.

The solution opens when a student is out of attempts or the set has closed. An instructor may
later add attempts or extend the deadline; without this rule a student who had read the answers
could then submit them for full marks (found by exploratory QA: attempt 2 scored 10/10).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from exercises import services
from exercises.models import Submission


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def submit(client, question, answers, capture):
    with capture(execute=True):  # the grading task runs eagerly on commit
        return client.post(f"/api/questions/{question.pk}/submissions/", {"answers": answers}, format="json")


def wrong_answers(question, student) -> dict:
    fields = services.current_variant(question, student).instance["fields"]
    return {field["name"]: "12345" for field in fields}


def test_added_attempts_do_not_reopen_a_variant_whose_solution_was_seen(
    make_question, student, instructor, django_capture_on_commit_callbacks
):
    question = make_question(max_attempts=1)
    alice, teacher = client_for(student), client_for(instructor)
    assert submit(alice, question, wrong_answers(question, student), django_capture_on_commit_callbacks).status_code == 202
    assert alice.get(f"/api/questions/{question.pk}/variant/").json()["solution_seen_at"] is None
    head = alice.head(f"/api/questions/{question.pk}/solution/")  # a link checker's HEAD shows nothing
    assert head.status_code == 200 and not head.content
    assert alice.get(f"/api/questions/{question.pk}/variant/").json()["solution_seen_at"] is None
    solution = alice.get(f"/api/questions/{question.pk}/solution/")
    assert solution.status_code == 200
    assert alice.get(f"/api/questions/{question.pk}/variant/").json()["solution_seen_at"] is not None
    answers = {name: str(value) for name, value in solution.json()["answers"].items()}

    response = teacher.post(
        f"/api/questions/{question.pk}/regrade/", {"changes": {"max_attempts": 3}, "apply": True}, format="json"
    )
    assert response.status_code == 200, response.content
    response = submit(alice, question, answers, django_capture_on_commit_callbacks)
    assert response.status_code == 409 and response.json()["code"] == "solution_seen", response.content
    assert "worked solution" in response.json()["detail"]


def test_an_extended_deadline_does_not_reopen_it_either(
    make_question, student, instructor, problem_set, django_capture_on_commit_callbacks
):
    question = make_question()
    alice, teacher = client_for(student), client_for(instructor)
    past = timezone.now() - timedelta(minutes=5)
    problem_set.due_at, problem_set.late_until = past, None
    problem_set.save()
    assert alice.get(f"/api/questions/{question.pk}/solution/").status_code == 200  # closed: open to all

    response = teacher.patch(
        f"/api/problem-sets/{problem_set.pk}/", {"due_at": (timezone.now() + timedelta(days=1)).isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    response = submit(alice, question, wrong_answers(question, student), django_capture_on_commit_callbacks)
    assert response.status_code == 409 and response.json()["code"] == "solution_seen", response.content


def test_a_fresh_variant_per_attempt_is_a_new_chance(
    make_question, student, instructor, django_capture_on_commit_callbacks
):
    """The rule is per variant: with fresh variants the next attempt has other numbers, and
    students who never fetched the solution are not touched."""
    question = make_question(max_attempts=1, fresh_variant_per_attempt=True)
    alice, teacher = client_for(student), client_for(instructor)
    assert submit(alice, question, wrong_answers(question, student), django_capture_on_commit_callbacks).status_code == 202
    assert alice.get(f"/api/questions/{question.pk}/solution/").status_code == 200
    teacher.post(f"/api/questions/{question.pk}/regrade/", {"changes": {"max_attempts": 2}, "apply": True}, format="json")

    response = submit(alice, question, wrong_answers(question, student), django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    assert Submission.objects.get(pk=response.json()["id"]).variant.number == 2


@pytest.mark.parametrize("role", ["instructor", "ta"])
def test_staff_looking_at_a_variant_does_not_close_it(make_question, student, instructor, ta, role, django_capture_on_commit_callbacks):
    question = make_question(max_attempts=2)
    staff = client_for(instructor if role == "instructor" else ta)
    response = staff.get(f"/api/questions/{question.pk}/variants/{student.pk}/")
    assert response.status_code == 200, response.content
    response = submit(client_for(student), question, wrong_answers(question, student), django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content


def test_the_solution_shown_is_of_the_variant_last_answered(
    make_question, student, problem_set, django_capture_on_commit_callbacks
):
    """With a fresh variant per attempt, the newest variant (drawn when the student looked at the
    next attempt) was shown although they never answered it (exploratory QA)."""
    question = make_question(fresh_variant_per_attempt=True, max_attempts=3)
    alice = client_for(student)
    answered = services.current_variant(question, student)
    assert submit(alice, question, wrong_answers(question, student), django_capture_on_commit_callbacks).status_code == 202
    assert alice.get(f"/api/questions/{question.pk}/variant/").json()["variant"] == 2  # drawn, never answered
    problem_set.due_at, problem_set.late_until = timezone.now() - timedelta(minutes=5), None
    problem_set.save()
    solution = alice.get(f"/api/questions/{question.pk}/solution/").json()
    assert solution["variant"] == 1 and solution["answers"] == answered.instance["answers"]


def test_a_solution_already_opened_stays_open_when_a_classmate_gets_an_extension(make_question, student, instructor, problem_set, make_user):
    """alice opened the worked solution once the set closed; an extension granted to a classmate
    afterwards moved the set's opening later and took it away from her (QA). Showing it again
    tells her nothing new; a classmate who never opened it still waits."""
    from exercises import extensions
    from exercises.models import Membership

    bob = make_user("bob")
    Membership.objects.create(user=bob, course=problem_set.course, role=Membership.Role.STUDENT)
    question = make_question()
    client_for(bob).get(f"/api/questions/{question.pk}/variant/")
    past = timezone.now() - timedelta(minutes=5)
    problem_set.due_at, problem_set.late_until = past, None
    problem_set.save()
    alice = client_for(student)
    first = alice.get(f"/api/questions/{question.pk}/solution/")
    assert first.status_code == 200
    carol = make_user("carol")
    Membership.objects.create(user=carol, course=problem_set.course, role=Membership.Role.STUDENT)
    extensions.grant(problem_set, carol, timezone.now() + timedelta(days=2), None, "ill", instructor)
    again = alice.get(f"/api/questions/{question.pk}/solution/")
    assert again.status_code == 200 and again.json() == first.json()
    assert client_for(bob).get(f"/api/questions/{question.pk}/solution/").status_code == 403
    assert client_for(carol).get(f"/api/questions/{question.pk}/solution/").status_code == 403
