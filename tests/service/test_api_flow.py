"""The whole course of events through the REST API, as real clients would do it.

An instructor (token auth) creates a course, a problem set and a question; a student (session
auth) gets a variant that reveals nothing, submits a wrong answer (a known misconception) and a
right one, polls until graded, reads the feedback, runs out of attempts and then sees the
solution; the instructor reads the gradebook (JSON and CSV) and regrades (preview, then apply).
Grading runs eagerly: the on-commit task is executed in-process (conftest makes Celery eager).
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from exercises.models import AuditEntry, Submission, Variant

SECRET_KEYS = {"answers", "solution", "misconceptions", "alternatives"}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def keys_anywhere(value: Any) -> set[str]:
    """Every object key at any depth of a JSON value."""
    found, stack = set(), [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.update(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


@pytest.fixture
def people(db):
    users = get_user_model().objects
    teacher = users.create_user("teacher", password="pw-teacher")
    # what an administrator grants a new instructor, so they can create their first course
    teacher.user_permissions.add(Permission.objects.get(codename="add_course", content_type__app_label="exercises"))
    return {"teacher": teacher, "alice": users.create_user("alice", password="pw-alice")}


@pytest.fixture
def teacher_client(people) -> APIClient:
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "teacher", "password": "pw-teacher"}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION="Token " + response.json()["token"])
    return client


@pytest.fixture
def alice_client(people) -> APIClient:
    client = APIClient()
    assert client.login(username="alice", password="pw-alice")
    return client


def submit_and_poll(client: APIClient, question_id: int, answers: dict, capture) -> dict:
    """POST answers (grading runs on commit), then poll the Location until a final status."""
    with capture(execute=True):
        response = client.post(f"/api/questions/{question_id}/submissions/", {"answers": answers}, format="json")
    assert response.status_code == 202, response.content
    accepted = response.json()
    assert set(accepted) == {"id", "status", "url"}
    assert response["Location"] == accepted["url"]
    for _ in range(50):
        result = client.get(response["Location"])
        assert result.status_code == 200
        if result.json()["status"] in ("graded", "rejected", "error"):
            return result.json()
        time.sleep(0.05)
    raise AssertionError(f"submission never finished grading: {result.json()}")


def test_course_to_regrade(teacher_client, alice_client, people, django_capture_on_commit_callbacks):
    teacher, alice = teacher_client, alice_client
    capture = django_capture_on_commit_callbacks

    # --- the instructor sets up a course, a problem set and a question -------------------------
    response = teacher.post("/api/courses/", {"code": "nn101", "title": "Neural networks"}, format="json")
    assert response.status_code == 201, response.content
    course = response.json()
    assert course["role"] == "instructor"
    response = teacher.post(f"/api/courses/{course['id']}/memberships/", {"username": "alice", "role": "student"}, format="json")
    assert response.status_code == 201 and response.json()["role"] == "student"

    response = teacher.post(
        f"/api/courses/{course['id']}/problem-sets/",
        {"title": "Week 1", "release_at": iso(timedelta(hours=-1)), "due_at": iso(timedelta(days=7))},
        format="json",
    )
    assert response.status_code == 201, response.content
    problem_set = response.json()
    assert problem_set["released"] is True

    questions_url = f"/api/problem-sets/{problem_set['id']}/questions/"
    response = teacher.post(questions_url, {"kind": "forward_neuron", "params": {"sizes": [2, 99]}}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "bad_params" and "sizes" in response.json()["detail"]
    response = teacher.post(questions_url, {"kind": "no_such_kind"}, format="json")
    assert response.status_code == 400 and "forward_neuron" in response.json()["detail"]

    response = teacher.post(
        questions_url,
        {"kind": "forward_neuron", "params": {"style": "hand"}, "points": 10, "max_attempts": 2},
        format="json",
    )
    assert response.status_code == 201, response.content
    question = response.json()
    assert question["params"]["sizes"] == [2, 1]  # defaults filled in by the kind's validation
    qid = question["id"]

    # --- the student sees the course, the set and their own variant, and nothing secret --------
    listing = alice.get("/api/courses/").json()
    assert [c["code"] for c in listing["results"]] == ["nn101"] and listing["results"][0]["role"] == "student"
    for url in (f"/api/courses/{course['id']}/problem-sets/", questions_url, f"/api/questions/{qid}/"):
        response = alice.get(url)
        assert response.status_code == 200
        assert not keys_anywhere(response.json()) & SECRET_KEYS, url

    response = alice.get(f"/api/questions/{qid}/variant/")
    assert response.status_code == 200
    variant = response.json()
    assert not keys_anywhere(variant) & SECRET_KEYS
    assert variant["attempts_used"] == 0 and variant["attempts_left"] == 2
    assert variant["solution_available"] is False
    assert [f["name"] for f in variant["fields"]] == ["in_3", "a_3"]
    assert variant["prompt"]["text"]

    response = alice.get(f"/api/questions/{qid}/solution/")
    assert response.status_code == 403
    assert response.json()["code"] == "solution_not_available" and "2 attempts" in response.json()["detail"]

    # --- a wrong answer: one field carries a known misconception ------------------------------
    instance = Variant.objects.get(question_id=qid, student=people["alice"]).instance
    assert instance["prompt"]["text"] == variant["prompt"]["text"]
    mistake = instance["misconceptions"][0]
    wrong = {name: str(instance["answers"][name]) for name in ("in_3", "a_3")}
    wrong.update({name: str(value) for name, value in mistake["answers"].items()})
    graded = submit_and_poll(alice, qid, wrong, capture)
    assert graded["status"] == "graded" and graded["attempt_number"] == 1
    assert graded["score"] < 10 and graded["points"] == 10
    fields = graded["feedback"]["fields"]
    wrong_fields = {name for name, f in fields.items() if f["status"] != "correct"}
    assert wrong_fields == set(mistake["answers"])
    for name in wrong_fields:
        assert mistake["explanation"] in fields[name]["message"]
    assert not keys_anywhere(graded["feedback"]) & SECRET_KEYS

    variant = alice.get(f"/api/questions/{qid}/variant/").json()
    assert variant["attempts_used"] == 1 and variant["attempts_left"] == 1
    assert alice.get(f"/api/questions/{qid}/solution/").status_code == 403

    # --- the right answer, then out of attempts: the solution opens --------------------------
    right = {name: str(instance["answers"][name]) for name in ("in_3", "a_3")}
    graded = submit_and_poll(alice, qid, right, capture)
    assert graded["status"] == "graded" and graded["score"] == pytest.approx(10.0)
    assert all(f["status"] == "correct" for f in graded["feedback"]["fields"].values())

    variant = alice.get(f"/api/questions/{qid}/variant/").json()
    assert variant["attempts_left"] == 0 and variant["solution_available"] is True
    response = alice.get(f"/api/questions/{qid}/solution/")
    assert response.status_code == 200
    solution = response.json()
    assert solution["answers"] == instance["answers"] and solution["solution"] == instance["solution"]

    response = alice.post(f"/api/questions/{qid}/submissions/", {"answers": right}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "no_attempts_left"

    mine = alice.get(f"/api/questions/{qid}/submissions/").json()
    assert mine["count"] == 2 and {s["student"] for s in mine["results"]} == {"alice"}

    # --- gradebook ----------------------------------------------------------------------------
    assert alice.get(f"/api/problem-sets/{problem_set['id']}/gradebook/").status_code == 403
    book = teacher.get(f"/api/problem-sets/{problem_set['id']}/gradebook/").json()
    assert [q["id"] for q in book["questions"]] == [qid]
    (row,) = book["rows"]
    assert row["username"] == "alice" and row["scores"][str(qid)] == pytest.approx(10.0)

    for response in (
        teacher.get(f"/api/problem-sets/{problem_set['id']}/gradebook/?format=csv"),
        teacher.get(f"/api/problem-sets/{problem_set['id']}/gradebook/", HTTP_ACCEPT="text/csv"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert 'filename="nn101-week-1-gradebook.csv"' in response["Content-Disposition"]
        table = list(csv.reader(io.StringIO(response.content.decode())))
        assert table[0][0] == "username" and table[1][0] == "alice" and float(table[1][-1]) == pytest.approx(10.0)
    excel = teacher.get(f"/api/problem-sets/{problem_set['id']}/gradebook/?format=csv&excel=1")
    assert excel.status_code == 200 and excel.content.startswith(b"\xef\xbb\xbfusername,name,enrolled,")
    assert excel["Content-Type"].startswith("text/csv")

    # --- regrade: preview changes nothing, apply rescales every graded submission -------------
    regrade_url = f"/api/questions/{qid}/regrade/"
    before = dict(Submission.objects.values_list("pk", "score"))
    response = teacher.post(regrade_url, {"changes": {"points": 20}, "apply": False}, format="json")
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["applied"] is False
    assert {r["submission"]: (r["old"], r["new"]) for r in preview["affected"]} == {
        pk: (pytest.approx(score), pytest.approx(2 * score)) for pk, score in before.items() if score
    }
    assert dict(Submission.objects.values_list("pk", "score")) == before

    response = teacher.post(regrade_url, {"changes": {"points": 20}, "apply": True}, format="json")
    assert response.status_code == 200 and response.json() == {
        "applied": True,
        "changes": {"points": 20.0},
        "regraded": len(preview["affected"]),
        "not_regraded": [],
    }
    after = alice.get(f"/api/submissions/{graded['id']}/").json()
    assert after["score"] == pytest.approx(20.0) and after["points"] == 20
    assert AuditEntry.objects.filter(action="regrade").count() == 1

    # Scoring settings now change only through regrade; other settings still edit freely.
    response = teacher.patch(f"/api/questions/{qid}/", {"tolerance": {"rtol": 0.5}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "use_regrade"
    response = teacher.patch(f"/api/questions/{qid}/", {"params": {"style": "random"}}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "has_variants"
    response = teacher.patch(f"/api/questions/{qid}/", {"position": 3}, format="json")
    assert response.status_code == 200 and response.json()["position"] == 3
    assert AuditEntry.objects.filter(action="question_edit").count() == 1


def test_memberships_keep_an_instructor(teacher_client, people):
    course = teacher_client.post("/api/courses/", {"code": "c1", "title": "C"}, format="json").json()
    url = f"/api/courses/{course['id']}/memberships/"
    (me,) = teacher_client.get(url).json()["results"]
    response = teacher_client.post(url, {"username": "teacher", "role": "student"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "last_instructor"
    assert teacher_client.delete(f"{url}{me['id']}/").status_code == 409
    added = teacher_client.post(url, {"username": "alice", "role": "ta"}, format="json")
    assert added.status_code == 201
    changed = teacher_client.post(url, {"username": "alice", "role": "instructor"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "instructor"
    assert teacher_client.delete(f"{url}{me['id']}/").status_code == 204
    response = teacher_client.post(url, {"username": "nobody", "role": "student"}, format="json")
    assert response.status_code == 404  # no longer a member of the course at all
    # each change audited: who did it, whose membership, which role (QA: membership changes left no trace)
    entries = AuditEntry.objects.filter(course_id=course["id"]).order_by("id")
    assert [(e.action, e.actor.username, e.details) for e in entries] == [
        ("member_added", "teacher", {"username": "alice", "role": "ta"}),
        ("member_role_changed", "teacher", {"username": "alice", "role": "instructor", "previous_role": "ta"}),
        ("member_removed", "teacher", {"username": "teacher", "role": "instructor"}),
    ]


def test_token_and_anonymous(people):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "bad_credentials"
    response = client.get("/api/courses/")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    token = client.post("/api/auth/token/", "username=alice&password=pw-alice", content_type="application/x-www-form-urlencoded")
    assert token.status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token " + token.json()["token"])
    assert client.get("/api/courses/").status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    for path in ("/api/questions/{question_id}/submissions/", "/api/problem-sets/{problem_set_id}/gradebook/"):
        assert path in schema
