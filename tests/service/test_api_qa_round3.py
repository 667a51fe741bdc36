"""Findings of the third API QA round, each through the real API: field errors always a list,
date-only times refused, read-only fields not silently ignored on an update, a nullable
extension's late_until in the schema, duplicate JSON keys refused, and a Bearer header told
which scheme this API takes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from helpers import client_for, reference_answers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises.models import Course, Extension, ProblemSet, Submission

pytestmark = pytest.mark.django_db


def extensions_url(problem_set: ProblemSet) -> str:
    return f"/api/problem-sets/{problem_set.pk}/extensions/"


def problem_set_url(problem_set: ProblemSet) -> str:
    return f"/api/problem-sets/{problem_set.pk}/"


# --- 1. a field error is a list of messages, also when the view raises it -----------------------


def test_a_username_that_is_no_student_is_a_list_of_messages_like_every_field_error(instructor, problem_set):
    body = {"username": "nobody", "due_at": "2030-01-01T00:00Z"}
    response = client_for(instructor).post(extensions_url(problem_set), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"username": ["'nobody' is not a student of this course."]}
    assert response.json()["detail"] == "username: 'nobody' is not a student of this course."
    assert not Extension.objects.exists()


# --- 2. a date without a time of day --------------------------------------------------------------


@pytest.mark.parametrize(("sent", "day"), [("2026-12-30", "2026-12-30"), ("20261230", "2026-12-30"), ("2026-W52-3", "2026-12-23")])
def test_a_due_date_without_a_time_is_refused_not_taken_as_midnight(instructor, problem_set, sent, day):
    before = problem_set.due_at
    response = client_for(instructor).patch(problem_set_url(problem_set), {"due_at": sent}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]["due_at"] == [f"{sent} has no time of day; give one, e.g. {day}T23:59."]
    assert response.json()["code"] == "date_only"
    problem_set.refresh_from_db()
    assert problem_set.due_at == before


def test_a_due_time_with_a_time_of_day_is_still_taken(instructor, problem_set):
    due = timezone.localtime(problem_set.due_at + timedelta(hours=2)).replace(second=0, microsecond=0, tzinfo=None)
    response = client_for(instructor).patch(problem_set_url(problem_set), {"due_at": due.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    problem_set.refresh_from_db()
    assert timezone.localtime(problem_set.due_at).replace(tzinfo=None) == due


@pytest.mark.parametrize("field", ["release_at", "due_at", "late_until"])
def test_a_new_problem_set_refuses_a_date_only_time(instructor, course, field):
    body = {"title": "W2", "release_at": "2030-01-01T09:00", "due_at": "2030-01-08T09:00", "late_until": "2030-01-09T09:00"}
    body[field] = "2030-01-05"
    response = client_for(instructor).post(f"/api/courses/{course.pk}/problem-sets/", body, format="json")
    assert response.status_code == 400, response.content
    assert "has no time of day" in response.json()["errors"][field][0]
    assert not ProblemSet.objects.filter(title="W2").exists()


@pytest.mark.parametrize("field", ["due_at", "late_until"])
def test_an_extension_refuses_a_date_only_time(instructor, student, problem_set, field):
    body = {"username": student.username, "due_at": "2030-01-08T09:00", "late_until": "2030-01-09T09:00"}
    body[field] = "2030-01-10"
    response = client_for(instructor).post(extensions_url(problem_set), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][field] == ["2030-01-10 has no time of day; give one, e.g. 2030-01-10T23:59."]
    assert not Extension.objects.exists()


# --- 3. read-only fields on an update -----------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("course", "other"), ("id", 987654), ("released", False)])
def test_a_changed_read_only_field_of_a_problem_set_is_refused_naming_it(instructor, problem_set, field, value):
    if value == "other":
        value = Course.objects.create(code="other", title="Other").pk
    response = client_for(instructor).patch(problem_set_url(problem_set), {field: value, "title": "Renamed"}, format="json")
    assert response.status_code == 400, response.content
    message = response.json()["errors"][field][0]
    assert f"{field} is read-only and cannot be changed here" in message
    assert list(response.json()["errors"]) == [field]
    problem_set.refresh_from_db()
    assert problem_set.title == "Week 1" and problem_set.course_id != value


def test_a_problem_set_as_fetched_can_be_put_back_with_its_read_only_fields(instructor, problem_set):
    teacher = client_for(instructor)
    body = teacher.get(problem_set_url(problem_set)).json()
    assert {"id", "course", "released"} <= set(body)
    body["title"] = "Week 1, revised"
    for method in (teacher.put, teacher.patch):
        response = method(problem_set_url(problem_set), body, format="json")
        assert response.status_code == 200, response.content
    problem_set.refresh_from_db()
    assert problem_set.title == "Week 1, revised"


def test_a_question_as_fetched_can_be_put_back_but_not_moved_to_another_set(instructor, problem_set, make_question):
    question = make_question()
    other = ProblemSet.objects.create(
        course=problem_set.course, title="W2", release_at=problem_set.release_at, due_at=problem_set.due_at
    )
    teacher, url = client_for(instructor), f"/api/questions/{question.pk}/"
    body = teacher.get(url).json()
    body["points"] = 7.0
    assert teacher.put(url, body, format="json").status_code == 200
    moved = teacher.patch(url, {"problem_set": other.pk}, format="json")
    assert moved.status_code == 400 and "problem_set is read-only" in moved.json()["errors"]["problem_set"][0]
    question.refresh_from_db()
    assert question.points == 7.0 and question.problem_set_id == problem_set.pk


def test_a_course_as_fetched_can_be_put_back_whatever_the_role_says(instructor, course):
    teacher, url = client_for(instructor), f"/api/courses/{course.pk}/"
    body = teacher.get(url).json()
    assert body["role"] == "instructor"
    body["title"] = "Deep learning"
    assert teacher.put(url, body, format="json").status_code == 200, body
    refused = teacher.patch(url, {"created_at": "2001-01-01T00:00:00Z"}, format="json")
    assert refused.status_code == 400 and "created_at is read-only" in refused.json()["errors"]["created_at"][0]
    course.refresh_from_db()
    assert course.title == "Deep learning"


def test_a_new_problem_set_ignores_read_only_fields_such_as_an_id(instructor, course):
    body = {"id": 987654, "course": 987654, "released": False, "title": "W2", "release_at": "2030-01-01T09:00", "due_at": "2030-01-08T09:00"}
    response = client_for(instructor).post(f"/api/courses/{course.pk}/problem-sets/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] != 987654 and response.json()["course"] == course.pk


# --- 4. the schema of an extension --------------------------------------------------------------


def test_the_schema_says_an_extensions_late_until_may_be_null(instructor, student, problem_set):
    response = client_for(instructor).post(
        extensions_url(problem_set), {"username": student.username, "due_at": "2030-01-01T09:00"}, format="json"
    )
    assert response.status_code == 201 and response.json()["late_until"] is None
    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    late_until = schema["components"]["schemas"]["Extension"]["properties"]["late_until"]
    assert late_until.get("nullable") is True, late_until


# --- 5. duplicate keys in a JSON body -----------------------------------------------------------


def test_a_submission_naming_an_answer_twice_is_refused_and_uses_no_attempt(make_question, student):
    question = make_question()
    name = next(iter(reference_answers(question, student)))
    raw = f'{{"answers": {{"{name}": "0.5", "{name}": "0.7"}}}}'
    response = client_for(student).post(f"/api/questions/{question.pk}/submissions/", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"detail": f"JSON parse error - the key '{name}' appears twice in one object", "code": "parse_error"}
    assert not Submission.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": "A", "title": "B"}',
        '{"title": "A", "late_penalty": {"x": [1, {"deep": 1, "deep": 2}]}}',
    ],
)
def test_a_duplicate_key_at_any_depth_is_a_parse_error_naming_it(instructor, problem_set, raw):
    response = client_for(instructor).patch(problem_set_url(problem_set), raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error", response.content
    assert "appears twice in one object" in response.json()["detail"]
    problem_set.refresh_from_db()
    assert problem_set.title == "Week 1"


def test_the_same_key_in_two_objects_is_no_duplicate(instructor, problem_set):
    raw = '{"title": "A", "late_penalty": {"title": 1}}'
    response = client_for(instructor).patch(problem_set_url(problem_set), raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "wrong_type", response.content


# --- 6. a Bearer token ----------------------------------------------------------------------------


def test_a_bearer_header_is_told_to_send_token_instead(student):
    client = APIClient()
    key = Token.objects.create(user=student).key
    client.credentials(HTTP_AUTHORIZATION="Bearer " + key)
    response = client.get("/api/courses/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    assert "Authorization: Token <key>" in response.json()["detail"], response.json()
    assert response.json()["code"] == "wrong_auth_scheme"
    client.credentials(HTTP_AUTHORIZATION="Token " + key)
    assert client.get("/api/courses/").status_code == 200


def test_a_bearer_header_does_not_sign_out_a_browser_session(student):
    """A proxy in front may add a Bearer header of its own: the session still counts."""
    client = APIClient()
    client.force_login(student)
    client.credentials(HTTP_AUTHORIZATION="Bearer from-a-proxy")
    assert client.get("/api/courses/").status_code == 200
