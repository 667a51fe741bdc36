"""The staff's list of a question's submissions narrowed to one student, one state, newest
first (a TA answering a complaint scrolled through the whole course's, oldest first, QA); and a
question created without a position goes after the set's last one (every one was #0, QA)."""

from __future__ import annotations

import pytest
from helpers import client_for

from exercises import services

pytestmark = pytest.mark.django_db


def test_a_questions_submissions_by_student_state_and_newest_first(make_question, student, make_user, course, ta):
    from exercises.models import Membership

    question = make_question()
    bob = make_user("bob")
    Membership.objects.create(user=bob, course=course, role="student")
    first, _ = services.submit(question, student, {"in_3": "1"})
    services.grade_submission_now(first.pk)
    second, _ = services.submit(question, student, {"in_3": "2"})  # queued
    bobs, _ = services.submit(question, bob, {"in_3": "3"})
    url = f"/api/questions/{question.pk}/submissions/"
    staff = client_for(ta)

    def ids(query: str = "") -> list[int]:
        response = staff.get(url + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [first.pk, second.pk, bobs.pk]
    assert ids(f"?student={student.username}") == [first.pk, second.pk]
    assert ids(f"?student_id={bob.pk}") == [bobs.pk]
    assert ids(f"?student={student.username}&status=queued") == [second.pk]
    assert ids("?order=newest") == [bobs.pk, second.pk, first.pk]
    # a name of nobody in the course is refused, not an empty list (usernames may be digits:
    # ?student=<bob's id> names no one)
    nobody = ("?student=nobody", "?student=99999999999999999999", f"?student={bob.pk}")
    for bad in ("?status=done", "?order=random", "?student_id=bob", "?student_id=99999999999999999999", *nobody):
        response = staff.get(url + bad)
        assert response.status_code == 400 and response.json()["code"] == "bad_filter", response.content
    own = client_for(bob).get(f"{url}?student={student.username}").json()["results"]
    assert own == []  # a student's list stays their own


def test_a_question_without_a_position_goes_last(problem_set, instructor):
    teacher = client_for(instructor)
    url = f"/api/problem-sets/{problem_set.pk}/questions/"
    positions = [teacher.post(url, {"kind": "forward_neuron"}, format="json").json()["position"] for _ in range(2)]
    assert positions == [1, 2]
    placed = teacher.post(url, {"kind": "forward_neuron", "position": 7}, format="json").json()
    assert placed["position"] == 7 and teacher.post(url, {"kind": "forward_neuron"}, format="json").json()["position"] == 8
