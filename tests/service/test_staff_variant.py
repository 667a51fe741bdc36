"""GET /api/questions/{id}/variants/{student}/: staff see exactly the student's variant, with its answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from helpers import client_for

from exercises.models import ProblemSet, Question, Variant

pytestmark = pytest.mark.django_db


def test_staff_see_the_students_own_variant_with_its_answers(make_question, student, instructor, ta):
    question = make_question("forward_mlp", max_attempts=3)
    mine = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    variant = Variant.objects.get(question=question, student=student)
    for staff in (instructor, ta):
        seen = client_for(staff).get(f"/api/questions/{question.pk}/variants/{student.pk}/").json()
        assert {k: seen[k] for k in mine} == mine  # the same prompt, diagram, fields, attempts, ...
        assert (seen["student"], seen["username"], seen["seed"]) == (student.pk, "alice", variant.seed)
        assert seen["generator_version"] == variant.generator_version
        assert seen["answers"] == variant.instance["answers"] and seen["answers"]
        assert seen["solution"] == variant.instance["solution"] and seen["solution"]
        assert seen["tolerance"] == variant.instance["tolerance"]
        assert seen["misconceptions"] == variant.instance["misconceptions"]
    assert "answers" not in mine and "solution" not in mine


def test_staff_find_a_students_variant_from_the_course_roster(make_question, student, instructor):
    """The memberships list gives each member's account id: the {student_id} of the variant URL."""
    question = make_question()
    teacher = client_for(instructor)
    roster = teacher.get(f"/api/courses/{question.problem_set.course_id}/memberships/").json()["results"]
    alice = next(m for m in roster if m["username"] == "alice")
    assert alice["user"] == student.pk and alice["role"] == "student"
    seen = teacher.get(f"/api/questions/{question.pk}/variants/{alice['user']}/")
    assert seen.status_code == 200 and seen.json()["username"] == "alice"


def test_looking_shows_the_draw_the_student_will_get_without_storing_it(make_question, student, instructor):
    question = make_question()
    seen = client_for(instructor).get(f"/api/questions/{question.pk}/variants/{student.pk}/").json()
    assert not Variant.objects.filter(question=question).exists()
    mine = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    assert mine["prompt"] == seen["prompt"] and mine["fields"] == seen["fields"]
    assert Variant.objects.get(question=question, student=student).seed == seen["seed"]


def test_looking_at_a_draft_leaves_its_settings_editable(course, student, instructor, ta):
    now = timezone.now()
    draft = ProblemSet.objects.create(course=course, title="Draft", release_at=now + timedelta(days=7), due_at=now + timedelta(days=8))
    question = Question.objects.create(problem_set=draft, kind="forward_neuron", params={}, points=10)
    assert client_for(ta).get(f"/api/questions/{question.pk}/variants/{student.pk}/").status_code == 200
    response = client_for(instructor).patch(
        f"/api/questions/{question.pk}/", {"params": {"bias": False}}, format="json"
    )
    assert response.status_code == 200, response.content


def test_unknown_student_is_a_clear_404(make_question, instructor):
    question = make_question()
    response = client_for(instructor).get(f"/api/questions/{question.pk}/variants/999999/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such student in this course."


def test_a_former_students_stored_variant_stays_reachable_for_the_staff(make_question, student, instructor, make_user):
    """The staff question page links every latest submission's variant; for a student who left
    the course (or became a TA) the link answered 404 "No such student in this course" (QA)."""
    from exercises.models import Membership

    question = make_question("forward_mlp")
    client_for(student).get(f"/api/questions/{question.pk}/variant/")
    stored = Variant.objects.get(question=question, student=student)
    Membership.objects.filter(user=student).delete()
    seen = client_for(instructor).get(f"/api/questions/{question.pk}/variants/{student.pk}/")
    assert seen.status_code == 200 and seen.json()["seed"] == stored.seed and seen.json()["username"] == "alice"
    stranger = make_user("mallory")  # never had a variant here: the same 404 as before
    other = client_for(instructor).get(f"/api/questions/{question.pk}/variants/{stranger.pk}/")
    assert other.status_code == 404 and other.json()["detail"] == "No such student in this course."
    assert Variant.objects.filter(question=question).count() == 1  # looking stored nothing
