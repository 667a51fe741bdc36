"""Findings of the fourth API QA round, each through the real API: questions created in
parallel get distinct positions, `?limit=`/`?offset=` refused when they are no page size, a
`?student=` filter naming nobody in the course, course codes unique ignoring case, failed token
requests throttled, and a problem set's PATCH answer sent back as it came.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from helpers import client_for

from exercises import services

pytestmark = pytest.mark.django_db


# --- 1. questions created in parallel without a position ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_new_questions_position_is_read_under_the_lock_that_its_insert_is_made_under(instructor, problem_set, monkeypatch):
    """Two parallel creations both read the set's last position before either stored its
    question, and both became #1 (QA). Now the read takes the set's row lock (PostgreSQL:
    SELECT ... FOR UPDATE; SQLite: the transaction's own write lock, as transactions begin
    IMMEDIATE) in the transaction that inserts the question, so a second creation reads only
    once the first is stored. What this shows, on one connection: the read locks the row and
    runs in the same transaction as the insert. The race itself, on two real PostgreSQL
    connections: test_integration_position_race.py (the suite's shared in-memory SQLite fails
    table locks at once instead of waiting)."""
    from django.db.models.signals import post_save
    from django.test.utils import CaptureQueriesContext

    from exercises.models import Question

    seen: dict[str, object] = {}
    real = services.next_position

    def next_position(problem_set):
        seen["read in"] = connection.in_atomic_block and connection.atomic_blocks[0]
        with CaptureQueriesContext(connection) as queries:
            position = real(problem_set)
        seen["sql"] = [query["sql"] for query in queries.captured_queries]
        return position

    def stored(sender, instance, created, **kwargs):
        seen["stored in"] = connection.in_atomic_block and connection.atomic_blocks[0]

    monkeypatch.setattr(services, "next_position", next_position)
    post_save.connect(stored, sender=Question)
    try:
        url = f"/api/problem-sets/{problem_set.pk}/questions/"
        response = client_for(instructor).post(url, {"kind": "forward_neuron"}, format="json")
    finally:
        post_save.disconnect(stored, sender=Question)
    assert response.status_code == 201 and response.json()["position"] == 1, response.content
    assert seen["read in"] and seen["read in"] is seen["stored in"], seen  # one transaction, still open at the insert
    lock, last = seen["sql"]  # the set's row first, then the last position
    assert "exercises_problemset" in lock and "MAX(" in last, seen["sql"]
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in lock, lock
    else:  # the transaction took SQLite's write lock when it began
        assert connection.vendor == "sqlite" and connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.django_db(transaction=True)
def test_next_position_refuses_to_run_outside_a_transaction(problem_set):
    """Outside the creating transaction its lock would end before the question is stored."""
    with pytest.raises(RuntimeError, match="inside the transaction"):
        services.next_position(problem_set)


# --- 2. ?limit= and ?offset= ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "name"),
    [("limit=abc", "limit"), ("limit=0", "limit"), ("limit=-5", "limit"), ("limit=2.5", "limit"), ("limit=1e3", "limit"),
     ("offset=-1", "offset"), ("offset=x", "offset"), ("limit=10&offset=99999999999999999999", "offset")],
)
def test_a_page_size_or_offset_that_is_no_whole_number_is_a_400_naming_it(instructor, course, query, name):
    """DRF used its default for any of these: ?limit=all answered 100 rows without a word."""
    response = client_for(instructor).get(f"/api/courses/?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "bad_query" and body["parameter"] == name, body
    assert body["detail"].startswith(f"{name} must be a whole number of at least"), body


def test_a_limit_of_any_length_over_the_maximum_is_the_maximum(instructor, course):
    """?limit=99999999999999999999 was a 400 where the docs promise the maximum (QA)."""
    response = client_for(instructor).get("/api/courses/?limit=99999999999999999999")
    assert response.status_code == 200 and response.json()["count"] >= 1, response.content
    offset = client_for(instructor).get("/api/courses/?offset=99999999999999999999").json()
    assert offset["detail"] == "offset must be a whole number of at least 0 and at most 999999999999999999, not '99999999999999999999'."


def test_an_empty_limit_is_the_default_and_a_valid_one_is_taken(instructor, course):
    teacher = client_for(instructor)
    assert teacher.get("/api/courses/?limit=&offset=").status_code == 200
    response = teacher.get("/api/courses/?limit=1&offset=0")
    assert response.status_code == 200 and len(response.json()["results"]) == 1


def test_a_limit_over_the_maximum_is_taken_as_the_maximum_and_next_has_the_rest(instructor, course, monkeypatch):
    """Capped, as LMS APIs cap a page size: a script that follows `next` gets everything."""
    from exercises import api
    from exercises.models import Course, Membership

    assert api.Pagination.max_limit == api.MAX_PAGE_SIZE == 1000
    for number in range(3):
        extra = Course.objects.create(code=f"extra{number}", title="More")
        Membership.objects.create(user=instructor, course=extra, role="instructor")
    monkeypatch.setattr(api.Pagination, "max_limit", 2)
    body = client_for(instructor).get("/api/courses/?limit=5000").json()
    assert body["count"] == 4 and len(body["results"]) == 2
    assert "limit=2" in body["next"], body["next"]


def test_the_schema_documents_the_page_size_and_its_maximum():
    import json

    from rest_framework.test import APIClient

    schema = json.loads(APIClient().get("/api/schema/?format=json").content)
    parameters = {p["name"]: p for p in schema["paths"]["/api/courses/"]["get"]["parameters"]}
    assert parameters["limit"]["schema"]["minimum"] == 1 and "1 to 1000" in parameters["limit"]["description"]
    assert "bad_query" in parameters["offset"]["description"]


# --- 3. ?student= naming nobody in the course -----------------------------------------------------


def test_a_student_filter_naming_nobody_in_the_course_is_a_400_not_an_empty_list(make_question, student, ta, make_user):
    """A TA's typo answered [] and read as "never submitted" (QA)."""
    from exercises.models import Membership

    question = make_question()
    url = f"/api/questions/{question.pk}/submissions/"
    staff = client_for(ta)
    outsider = make_user("outsider")  # an account, but not in this course
    for query, name in [("student=nosuchuser", "student"), (f"student={outsider.username}", "student"),
                        (f"student={student.pk}", "student"), (f"student_id={outsider.pk}", "student_id"),
                        (f"student_id={ta.pk}", "student_id"), ("student_id=99999999", "student_id")]:
        response = staff.get(f"{url}?{query}")
        assert response.status_code == 400, (query, response.content)
        body = response.json()
        assert body["code"] == "bad_filter" and body["parameter"] == name, body
        assert "in this course" in body["detail"], body
    assert "No student named 'nosuchuser' in this course" in staff.get(f"{url}?student=nosuchuser").json()["detail"]
    # a student of the course who has not submitted: an empty list, rightly
    for query in (f"student={student.username}", f"student_id={student.pk}"):
        response = staff.get(f"{url}?{query}")
        assert response.status_code == 200 and response.json()["results"] == [], response.content
    # someone removed from the course after submitting is still found
    services.submit(question, student, {"in_3": "1"})
    Membership.objects.filter(user=student).delete()
    for query in (f"student={student.username}", f"student_id={student.pk}"):
        response = staff.get(f"{url}?{query}")
        assert response.status_code == 200 and len(response.json()["results"]) == 1, response.content


def test_a_students_own_list_tells_nothing_about_other_names(make_question, student):
    question = make_question()
    response = client_for(student).get(f"/api/questions/{question.pk}/submissions/?student=nosuchuser")
    assert response.status_code == 200 and response.json()["results"] == []


# --- 4. course codes unique ignoring case ---------------------------------------------------------


def test_a_course_code_differing_only_in_case_is_refused(instructor, course):
    from exercises.models import Course

    teacher = client_for(instructor)
    response = teacher.post("/api/courses/", {"code": "NN101", "title": "Same course?"}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "unique" and "ignoring case" in body["errors"]["code"][0], body
    assert "'nn101'" in body["errors"]["code"][0]
    other = Course.objects.create(code="other", title="Other")
    from exercises.models import Membership

    Membership.objects.create(user=instructor, course=other, role="instructor")
    renamed = teacher.patch(f"/api/courses/{other.pk}/", {"code": "Nn101"}, format="json")
    assert renamed.status_code == 400 and renamed.json()["code"] == "unique", renamed.content
    assert sorted(Course.objects.values_list("code", flat=True)) == ["nn101", "other"]
    # a course may change the case of its own code
    assert teacher.patch(f"/api/courses/{course.pk}/", {"code": "NN101"}, format="json").status_code == 200


def test_the_database_refuses_codes_differing_only_in_case(course):
    from django.db import IntegrityError, transaction

    from exercises.models import Course

    with pytest.raises(IntegrityError), transaction.atomic():
        Course.objects.create(code="NN101", title="Sneaked past the API")


def test_a_race_past_the_check_is_still_a_400(instructor, course, monkeypatch):
    """Two creations at once both pass the serializer's check; the constraint decides."""
    from exercises.models import Course
    from exercises.serializers import CourseSerializer

    monkeypatch.setattr(CourseSerializer, "validate_code", lambda self, code: code)
    response = client_for(instructor).post("/api/courses/", {"code": "NN101", "title": "Twin"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unique", response.content
    assert "ignoring case" in response.json()["detail"]
    assert Course.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_renames_codes_an_older_database_has_twice_ignoring_case():
    """The constraint cannot be created over such codes: the oldest course keeps its code, later
    ones get a free -2, -3... suffix, each with an audit entry, instead of a failed deployment."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("exercises", "0009_audit_entry_plural")], [("exercises", "0010_course_code_ignoring_case_token_failures")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps.get_model("exercises", "Course")
        first = old.objects.create(code="demo", title="first")
        second = old.objects.create(code="DEMO", title="second")
        taken = old.objects.create(code="Demo-2", title="already has the suffix")
        third = old.objects.create(code="Demo", title="third")
        long_one = old.objects.create(code="x" * 40, title="long")
        long_two = old.objects.create(code="X" * 40, title="long twin")
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    from exercises.models import AuditEntry, Course

    codes = dict(Course.objects.values_list("pk", "code"))
    assert codes[first.pk] == "demo" and codes[taken.pk] == "Demo-2"
    assert codes[second.pk] == "DEMO-3" and codes[third.pk] == "Demo-4"
    assert codes[long_one.pk] == "x" * 40 and codes[long_two.pk] == "X" * 38 + "-2"
    assert len({code.lower() for code in codes.values()}) == len(codes)
    entries = {e.course_id: e.details for e in AuditEntry.objects.filter(action="course_code_renamed")}
    assert entries[second.pk] == {"old": "DEMO", "new": "DEMO-3", "reason": "another course has the same code ignoring case"}
    assert set(entries) == {second.pk, third.pk, long_two.pk}


# --- 5. failed token requests are throttled -------------------------------------------------------


def token(client, username: str, password: str, **extra):
    return client.post("/api/auth/token/", {"username": username, "password": password}, format="json", **extra)


def test_an_address_guessing_passwords_gets_429_with_retry_after(student, settings):
    from rest_framework.test import APIClient

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    client = APIClient()
    for attempt in range(3):  # a new X-Forwarded-For each time is no new address
        response = token(client, student.username, f"guess-{attempt}", HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}")
        assert response.status_code == 400 and response.json()["code"] == "bad_credentials", response.content
    refused = token(client, student.username, "pw-alice")  # even the right password, now
    assert refused.status_code == 429, refused.content
    assert refused.json()["code"] == "throttled" and "Too many failed token requests" in refused.json()["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    # another address is not affected
    assert token(client, student.username, "pw-alice", REMOTE_ADDR="192.0.2.7").status_code == 200


def test_one_persons_typos_do_not_lock_out_others_behind_the_same_address(student, make_user, settings):
    """A class behind one NAT (or a proxy when AUTOGRADER_NUM_PROXIES is unset): failures count
    per username too (review: 10 typos from anyone refused every correct login for a minute)."""
    from rest_framework.test import APIClient

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    make_user("bob")
    client = APIClient()
    for _ in range(3):
        assert token(client, "bob", "typo").status_code == 400
    assert token(client, "bob", "pw-bob").status_code == 429  # bob waits
    assert token(client, student.username, "pw-alice").status_code == 200  # alice does not
    for _ in range(3):  # a guesser trying names that do not exist is counted per name as well
        assert token(client, "nosuchuser", "x").status_code == 400
    assert token(client, "nosuchuser", "x").status_code == 429


def test_any_username_text_is_counted_and_none_is_kept(settings):
    """The failures are keyed by a digest of the username sent: whatever a client sends as one
    (the schema fuzzer's object holding a NUL made PostgreSQL refuse the throttle's query: a 500)
    is a plain 400, and a password typed into the username box is not kept."""
    from rest_framework.test import APIClient

    from exercises.models import TokenFailure

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (2, 60)
    client = APIClient()
    odd = json.dumps({"username": {"a\x00": [1]}, "password": "x"})
    response = client.post("/api/auth/token/", odd, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"], response.content
    body = json.dumps({"username": "my-secret-password", "password": "x"})
    for _ in range(2):
        assert client.post("/api/auth/token/", body, content_type="application/json").status_code == 400
    assert client.post("/api/auth/token/", body, content_type="application/json").status_code == 429
    stored = list(TokenFailure.objects.values_list("username_digest", flat=True))
    assert len(stored) == 2 and all(len(d) == 64 and "secret" not in d for d in stored)
    assert client.options("/api/auth/token/").status_code == 200  # only a POST is throttled


def test_a_throttled_address_is_let_in_again_once_its_failures_age_out(student, settings):
    from datetime import timedelta

    from rest_framework.test import APIClient

    from exercises.models import TokenFailure

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (2, 60)
    client = APIClient()
    for _ in range(2):
        assert token(client, student.username, "wrong").status_code == 400
    assert token(client, student.username, "pw-alice").status_code == 429
    oldest = TokenFailure.objects.order_by("failed_at").first()
    oldest.failed_at -= timedelta(seconds=61)
    oldest.save()
    assert token(client, student.username, "pw-alice").status_code == 200
    token(client, student.username, "wrong")  # counted; the aged-out row is deleted
    assert TokenFailure.objects.count() == 2


def test_successful_token_requests_are_not_counted(student, settings):
    """A class behind one address fetching its tokens at once (and the suite's own tests) is
    never refused: only failures count."""
    from rest_framework.test import APIClient

    from exercises.models import TokenFailure

    assert settings.AUTOGRADER_TOKEN_FAILURE_RATE == (10, 60)  # the default
    client = APIClient()
    for _ in range(25):
        assert token(client, student.username, "pw-alice").status_code == 200
    assert not TokenFailure.objects.exists()


def test_the_throttle_can_be_turned_off(student, settings):
    from rest_framework.test import APIClient

    from exercises.models import TokenFailure

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = None
    client = APIClient()
    for _ in range(12):
        assert token(client, student.username, "wrong").status_code == 400
    assert not TokenFailure.objects.exists()


@pytest.mark.parametrize(
    ("text", "rate"), [("10/minute", (10, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), ("3/day", (3, 86400)), ("off", None)]
)
def test_the_rate_setting_reads_drfs_form(monkeypatch, text, rate):
    from autograder.settings import throttle_rate

    monkeypatch.setenv("TEST_RATE", text)
    assert throttle_rate("TEST_RATE", "10/minute") == rate


@pytest.mark.parametrize("text", ["ten/minute", "10", "10/fortnight", "0/minute", "-1/minute"])
def test_a_rate_setting_that_is_no_rate_refuses_to_start(monkeypatch, text):
    from django.core.exceptions import ImproperlyConfigured

    from autograder.settings import throttle_rate

    monkeypatch.setenv("TEST_RATE", text)
    with pytest.raises(ImproperlyConfigured, match="TEST_RATE"):
        throttle_rate("TEST_RATE", "10/minute")


# --- 6. a problem set's PATCH answer sent back ----------------------------------------------------


def test_a_problem_sets_edit_answer_can_be_sent_back_as_it_came(instructor, problem_set):
    teacher, url = client_for(instructor), f"/api/problem-sets/{problem_set.pk}/"
    answer = teacher.patch(url, {"title": "Week 1, revised"}, format="json")
    assert answer.status_code == 200 and answer.json()["rescored"] == 0, answer.content
    body = answer.json()
    for method in (teacher.patch, teacher.put):
        body["title"] += "!"
        response = method(url, body, format="json")
        assert response.status_code == 200, response.content
    body["rescored"] = 99  # what an earlier edit did: any value is ignored
    assert teacher.patch(url, body, format="json").status_code == 200
    problem_set.refresh_from_db()
    assert problem_set.title == "Week 1, revised!!"
    # other unknown keys are still refused
    refused = teacher.patch(url, {"rescore": 1}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "unknown_field"


# --- 7. the refusals every operation shares, in the schema ----------------------------------------


def test_the_schema_documents_the_refusals_every_operation_shares():
    import json

    from rest_framework.test import APIClient

    paths = json.loads(APIClient().get("/api/schema/?format=json").content)["paths"]
    operations = {(method, path): op for path, ops in paths.items() for method, op in ops.items() if isinstance(op, dict) and "responses" in op}
    for (method, path), operation in operations.items():
        codes = set(operation["responses"])
        assert {"406", "413"} <= codes, (method, path, codes)
        if method in ("post", "put", "patch"):
            assert {"400", "411", "415"} <= codes, (method, path, codes)
    lists = [("get", "/api/courses/"), ("get", "/api/questions/{question_id}/submissions/")]
    for key in lists:
        assert "bad_query" in operations[key]["responses"]["400"]["description"], key
    error = operations[("patch", "/api/problem-sets/{problem_set_id}/")]["responses"]["415"]
    assert error["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "429" in operations[("post", "/api/auth/token/")]["responses"]
