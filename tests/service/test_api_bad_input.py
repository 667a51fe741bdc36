"""Hostile and broken request bodies on every POST/PUT/PATCH endpoint: always a 4xx with a
message ({"detail", "code"}), never a 5xx; plus idempotent submission retries and a fuzz test of
the submission endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from exercises.models import Course, Membership, ProblemSet, Question, Submission
from nncore.problems import get_kind


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> dict[str, Any]:
    users = get_user_model().objects
    course = Course.objects.create(code="nn101", title="NN")
    ivan = users.create_user("ivan", password="pw-ivan")
    alice = users.create_user("alice", password="pw-alice")
    users.create_user("newbie", password="pw-newbie")
    Membership.objects.create(user=ivan, course=course, role="instructor")
    Membership.objects.create(user=alice, course=course, role="student")
    now = timezone.now()
    problem_set = ProblemSet.objects.create(
        course=course, title="Open", release_at=now - timedelta(hours=1), due_at=now + timedelta(days=1)
    )
    params = get_kind("forward_neuron").validate_params({})
    question = Question.objects.create(problem_set=problem_set, kind="forward_neuron", params=params, points=10)
    clients = {"anonymous": APIClient()}
    for name, user in (("instructor", ivan), ("student", alice)):
        clients[name] = APIClient()
        clients[name].force_authenticate(user)
    return {
        "clients": clients,
        "ids": {"course": course.pk, "problem_set": problem_set.pk, "question": question.pk},
        "question": question,
        "alice": alice,
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    role: str
    valid: dict  # a body the endpoint accepts; the cases below break it


def _when(hours: float) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


ENDPOINTS = [
    Endpoint("token", "POST", "/api/auth/token/", "anonymous", {"username": "ivan", "password": "pw-ivan"}),
    Endpoint("courses-create", "POST", "/api/courses/", "instructor", {"code": "new", "title": "New"}),
    Endpoint("course-put", "PUT", "/api/courses/{course}/", "instructor", {"code": "nn101", "title": "Renamed"}),
    Endpoint("course-patch", "PATCH", "/api/courses/{course}/", "instructor", {"title": "Renamed"}),
    Endpoint("memberships-add", "POST", "/api/courses/{course}/memberships/", "instructor", {"username": "newbie", "role": "ta"}),
    Endpoint(
        "problem-sets-create", "POST", "/api/courses/{course}/problem-sets/", "instructor",
        {"title": "W2", "release_at": _when(-1), "due_at": _when(48), "late_penalty": 0.5},
    ),
    Endpoint(
        "problem-set-put", "PUT", "/api/problem-sets/{problem_set}/", "instructor",
        {"title": "W1", "release_at": _when(-1), "due_at": _when(48)},
    ),
    Endpoint("problem-set-patch", "PATCH", "/api/problem-sets/{problem_set}/", "instructor", {"late_penalty": 0.25}),
    Endpoint(
        "questions-create", "POST", "/api/problem-sets/{problem_set}/questions/", "instructor",
        {"kind": "forward_neuron", "params": {"lr": 0.5}, "points": 5, "max_attempts": 3, "tolerance": {"rtol": 0.01}},
    ),
    Endpoint(
        "question-put", "PUT", "/api/questions/{question}/", "instructor",
        {"kind": "forward_neuron", "params": {}, "points": 10, "fresh_variant_per_attempt": False},
    ),
    Endpoint("question-patch", "PATCH", "/api/questions/{question}/", "instructor", {"max_attempts": 4, "position": 2}),
    Endpoint("submit", "POST", "/api/questions/{question}/submissions/", "student", {"answers": {"in_3": "1.5", "a_3": 0.8}}),
    Endpoint("regrade", "POST", "/api/questions/{question}/regrade/", "instructor", {"changes": {"points": 5}, "apply": False}),
]

JUNK_VALUES = {
    "nested-junk-object": {"junk": [1, {"deeper": None, "x": [[{}]]}]},
    "nested-junk-list": [[["x"], {"y": 1}]],
    "huge-float": 1e308,
}


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _literal(key: str, literal: str) -> bytes:
    """{"key": <literal>} with the literal spliced in unparsed (NaN, 1e999, ...)."""
    return ('{"' + key + '": ' + literal + "}").encode()


def bad_bodies(endpoint: Endpoint) -> list[tuple[str, bytes, str, int | None]]:
    """(case, raw body, content type, exact status or None for any 4xx)."""
    valid = endpoint.valid
    first = next(iter(valid))
    raw = json.dumps
    cases: list[tuple[str, bytes, str, int | None]] = [
        ("malformed", b'{"' + first.encode() + b'": ', "application/json", 400),
        ("not-json", b"hello there", "application/json", 400),
        ("trailing-garbage", raw(valid).encode() + b"}}", "application/json", 400),
        ("top-level-list", raw([valid]).encode(), "application/json", 400),
        ("top-level-string", b'"text"', "application/json", 400),
        ("top-level-number", b"42", "application/json", 400),
        ("top-level-null", b"null", "application/json", 400),
        ("numbers-as-keys", b'{"1": 2, "2": [3]}', "application/json", 400),
        ("unknown-field", raw({**valid, "surprise": 1}).encode(), "application/json", 400),
        ("nan", _literal(first, "NaN"), "application/json", 400),
        ("infinity", _literal(first, "Infinity"), "application/json", 400),
        ("minus-infinity", _literal(first, "-Infinity"), "application/json", 400),
        ("float-overflow", _literal(first, "1e999"), "application/json", 400),
        ("huge-int", _literal(first, "1" + "0" * 400), "application/json", 400),
        ("giant-int", _literal(first, "1" + "0" * 5000), "application/json", 400),
        ("deep-list", _deep(100_000).encode(), "application/json", 400),
        ("deep-object", ('{"a":' * 20_000 + "1" + "}" * 20_000).encode(), "application/json", 400),
        ("deep-value", _literal(first, _deep(40)), "application/json", 400),
        ("nul-in-value", raw({**valid, first: "a\u0000b"}).encode(), "application/json", 400),
        ("nul-in-key", raw({**valid, "k\u0000": 1}).encode(), "application/json", 400),
        # a lone surrogate: accepted and stored, its row answered every later GET with a 500
        ("surrogate-in-value", _literal(first, '"a\\ud800b"'), "application/json", 400),
        ("surrogate-in-key", b'{"\\udfff": 1}', "application/json", 400),
        ("bad-utf8", b'{"' + first.encode() + b'": "\xff\xfe"}', "application/json", 400),
        ("empty", b"", "application/json", 400),
        ("whitespace", b"   ", "application/json", 400),
        ("text-plain", raw(valid).encode(), "text/plain", None),
        ("too-many-form-fields", "&".join(f"f{i}=1" for i in range(1001)).encode(), "application/x-www-form-urlencoded", None),
        ("oversized", raw({**valid, "pad": "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)}).encode(), "application/json", 413),
    ]
    for key, value in valid.items():
        if isinstance(value, dict):  # NUL inside nested JSON (answers, params, changes): PostgreSQL rejects it
            nested = {**value, next(iter(value), "k"): "x\u0000"}
            cases.append((f"{key}-nul-nested", raw({**valid, key: nested}).encode(), "application/json", 400))
        for label, junk in JUNK_VALUES.items():
            cases.append((f"{key}-{label}", raw({**valid, key: junk}).encode(), "application/json", 400))
        wrong = 12345 if isinstance(value, str) else "not-a-number"
        cases.append((f"{key}-wrong-type", raw({**valid, key: wrong}).encode(), "application/json", 400))
    return cases


CASES = [
    pytest.param(endpoint, case, body, content_type, status, id=f"{endpoint.name}-{case}")
    for endpoint in ENDPOINTS
    for case, body, content_type, status in bad_bodies(endpoint)
]


def send(world, endpoint: Endpoint, body: bytes, content_type: str, **headers):
    client = world["clients"][endpoint.role]
    return client.generic(endpoint.method, endpoint.path.format(**world["ids"]), body, content_type=content_type, **headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_valid_body_is_accepted(world, endpoint: Endpoint):
    """The baseline each bad case breaks: the valid body itself succeeds."""
    response = send(world, endpoint, json.dumps(endpoint.valid).encode(), "application/json")
    assert response.status_code in (200, 201, 202), response.content[:500]


@pytest.mark.parametrize(("endpoint", "case", "body", "content_type", "status"), CASES)
def test_bad_body_is_a_4xx_with_a_message(world, endpoint, case, body, content_type, status):
    response = send(world, endpoint, body, content_type)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, (case, response.content[:300])
    payload = response.json()
    assert isinstance(payload["detail"], str) and payload["detail"], payload
    assert isinstance(payload["code"], str) and payload["code"], payload
    if case == "oversized":
        assert payload["code"] == "too_large" and "limit" in payload["detail"]


def test_a_form_with_too_many_fields_is_a_json_400(world):
    """Django refuses to parse more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields (the token
    endpoint takes forms); that is the client's error, said in the API's form, not a 500."""
    body = "&".join(f"f{i}=1" for i in range(django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = world["clients"]["anonymous"].post("/api/auth/token/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json()["code"] == "too_many_fields", response.content[:300]


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize(
    "path",
    ["/", "/api/courses/", "/api/questions/{question}/submissions/", "/api/docs/", "/api/schema/", "/api-auth/login/", "/admin/login/"],
)
def test_too_many_query_parameters_are_a_json_400_everywhere(world, path, debug, settings):
    """DRF read the query string while choosing a renderer, so the error could not be rendered:
    every URL, the docs and login pages too, answered a bare 500."""
    settings.DEBUG = debug
    query = "&".join(["a"] * (django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    for role in ("anonymous", "student"):
        response = world["clients"][role].get(f"{path.format(**world['ids'])}?{query}")
        assert response.status_code == 400, (role, response.content[:300])
        assert response.json()["code"] == "too_many_fields"


@pytest.mark.parametrize("path", ["/api/courses/", "/admin/exercises/submission/", "/api/docs/"])
def test_a_nul_in_the_query_string_is_a_json_400(world, path, admin_client):
    """The admin's list filters passed ?status=%00 to PostgreSQL, which refuses NUL in text: a 500."""
    for client in (world["clients"]["student"], admin_client):
        response = client.get(f"{path}?status=%00&q=x")
        assert response.status_code == 400 and response.json()["code"] == "bad_query", response.content[:300]
        assert client.get(f"{path}?q=%2500").status_code != 400  # the text "%00" is no NUL


@pytest.mark.parametrize("charset", ["rot13", "zlib", "bz2", "hex"])
def test_a_charset_that_is_no_text_encoding_is_a_400(world, charset):
    """Content-Type's charset may name any Python codec: zlib's decoder raised TypeError (a 500)."""
    body = json.dumps({"answers": {"in_3": "1"}}).encode()
    url = f"/api/questions/{world['ids']['question']}/submissions/"
    response = world["clients"]["student"].post(url, body, content_type=f"application/json; charset={charset}")
    assert response.status_code == 400 and response.json()["code"] == "parse_error", response.content[:300]
    assert "charset" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_a_session_cookie_django_could_not_have_made_is_no_session(world):
    """A session cookie holding a NUL (the cookie value "\\000abc..." decodes to one) was looked up
    in the database, which refused it: every page, anonymous ones too, answered 500."""
    from django.test import Client

    for value in ('"\\000abcdefghij"', "abc\u00e9defghijkl", "not-a-key-but-long"):
        client = Client()
        client.cookies["sessionid"] = value
        for path in ("/api/kinds/", "/api/docs/", "/admin/"):
            response = client.get(path)
            assert response.status_code in (200, 302, 401), (value, path, response.status_code)  # anonymous


def test_a_foreign_host_header_is_a_json_400(world):
    """DisallowedHost: Django's HTML 400 page before."""
    response = world["clients"]["student"].post(
        f"/api/questions/{world['ids']['question']}/submissions/", {"answers": {"in_3": "1"}}, format="json", HTTP_HOST="evil.example"
    )
    assert response.status_code == 400 and response.json()["code"] == "bad_request", response.content[:300]
    assert not Submission.objects.exists()


def test_a_server_error_is_json_too(world, monkeypatch):
    """Whatever slips past every check answers in the API's form (handler500), not an HTML page."""
    from rest_framework.test import APIClient as Client

    from exercises import api

    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(api, "list_kinds", broken)
    client = Client(raise_request_exception=False)
    client.force_authenticate(world["alice"])
    response = client.get("/api/kinds/")
    assert response.status_code == 500 and response.json()["code"] == "server_error", response.content[:300]


def test_a_chunked_body_is_refused_with_411_not_called_empty(world):
    """Django reads a body only by its Content-Length; a chunked one arrives empty. Saying
    "the body is empty" sent a client looking for the wrong bug."""
    url = f"/api/questions/{world['ids']['question']}/submissions/"
    response = world["clients"]["student"].post(url, b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and response.json()["code"] == "length_required", response.content[:300]


# --- idempotency ---------------------------------------------------------------------------


def test_retried_submission_with_the_same_key_creates_one(world):
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    body = {"answers": {"in_3": "1.5", "a_3": "0.8"}}
    first = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    again = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == first.json() and again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1

    conflict = client.post(url, {"answers": {"in_3": "2"}}, format="json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    other = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="retry-2")
    assert other.status_code == 202 and Submission.objects.count() == 2


def test_a_failed_query_on_a_working_connection_is_not_called_unavailable(world, monkeypatch):
    """A bug is not an outage: no 503 inviting a retry, the error goes on to Django's handler
    (500 and a logged traceback)."""
    from exercises import services

    def fails(*args, **kwargs):
        raise OperationalError("no such column: exercises_submission.nothing")

    monkeypatch.setattr(services, "submit", fails)
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    with pytest.raises(OperationalError, match="no such column"):
        client.post(url, {"answers": {"in_3": "1.5"}}, format="json")


def test_a_database_busy_past_its_wait_is_a_503_to_retry(world, monkeypatch):
    """SQLite gave up waiting for another writer (its 20 s): nothing of the request was written,
    so the client is told to retry, not shown a 500."""
    from exercises import services

    def busy(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "submit", busy)
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    response = client.post(url, {"answers": {"in_3": "1.5"}}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "2"
    assert response.json()["code"] == "busy" and "Try again" in response.json()["detail"]


@pytest.mark.parametrize("key", ["x" * 201, "naïve-ключ"])
def test_bad_idempotency_key_is_400(world, key):
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    response = client.post(url, {"answers": {}}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["code"] == "bad_idempotency_key"
    assert Submission.objects.count() == 0


def test_unknown_answer_field_is_refused_at_once(world):
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    response = client.post(url, {"answers": {"W_99": "1"}}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "bad_format"
    assert "W_99" in response.json()["detail"]


# --- fuzz ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=16,
)
answer_maps = st.dictionaries(st.sampled_from(["in_3", "a_3", "W_1", "", "0"]) | st.text(max_size=4), json_values, max_size=4)
bodies = st.one_of(
    answer_maps.map(lambda answers: json.dumps({"answers": answers}).encode()),
    st.fixed_dictionaries({"answers": json_values}).map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=64),
    st.text(alphabet='{}[]":,0123456789eE.-+ aNInfity\\u\x00', max_size=40).map(str.encode),
)


@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, key=st.none() | st.text(max_size=8))
def test_fuzz_submission_endpoint_never_5xx(world, body: bytes, key: str | None):
    client, url = world["clients"]["student"], f"/api/questions/{world['ids']['question']}/submissions/"
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = client.generic("POST", url, body, content_type="application/json", **headers)
    assert response.status_code < 500, (body[:200], response.content[:300])
    if response.status_code >= 400:
        assert response.json()["detail"]


# --- URLs that match no route ---------------------------------------------------------------


WRITES = [e for e in ENDPOINTS if e.method != "GET"]


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("endpoint", WRITES, ids=[e.name for e in WRITES])
def test_a_write_without_the_trailing_slash_is_refused_and_names_the_url(world, endpoint, debug, settings):
    """Django would redirect it (a POST then arrives as a GET: the submission silently lost) or,
    in DEBUG, fail with a 500. Instead: a JSON 404 naming the right URL, and nothing stored."""
    settings.DEBUG = debug
    path = endpoint.path.format(**world["ids"])
    before = (Submission.objects.count(), Course.objects.count(), Question.objects.count())
    client = world["clients"][endpoint.role]
    response = client.generic(endpoint.method, path.rstrip("/"), json.dumps(endpoint.valid), content_type="application/json")
    assert response.status_code == 404, response.content[:300]
    assert response.json() == {
        "detail": f"No API endpoint at {path.rstrip('/')}: API URLs end with a slash ({endpoint.method} {path}).",
        "code": "not_found",
    }
    assert (Submission.objects.count(), Course.objects.count(), Question.objects.count()) == before


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_read_without_the_trailing_slash_is_redirected(world, debug, settings):
    settings.DEBUG = debug
    response = world["clients"]["student"].get("/api/courses?limit=1")
    assert response.status_code == 301 and response["Location"] == "/api/courses/?limit=1"


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("role", ["anonymous", "student"])
@pytest.mark.parametrize("path", ["/api/nope/", "/api/nope", "/api/questions/1/nope/", "/api/courses/abc/"])
def test_an_unknown_api_url_is_a_json_404(world, path, role, debug, settings):
    settings.DEBUG = debug
    for method in ("GET", "POST", "DELETE"):
        response = world["clients"][role].generic(method, path, "{}", content_type="application/json")
        assert response.status_code == 404, (method, response.content[:200])
        assert response.json() == {"detail": f"No API endpoint at {path}.", "code": "not_found"}


@pytest.mark.parametrize("body", ["", "{}"], ids=["no body", "a body"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/courses/"), ("PATCH", "/api/kinds/"), ("POST", "/api/questions/{question}/"), ("PUT", "/api/questions/{question}/submissions/")],
)
def test_a_method_the_endpoint_lacks_is_405_with_or_without_a_body(world, method, path, body):
    """Not a 400 "the request body is empty": the body is not what is wrong."""
    response = world["clients"]["instructor"].generic(
        method, path.format(**world["ids"]), body, **({"content_type": "application/json"} if body else {})
    )
    assert response.status_code == 405, response.content[:200]
    assert response.json()["code"] == "method_not_allowed"


def test_the_submit_answer_has_its_documented_shape(world):
    """The 202 body is built by hand on the hot path: it must stay what the schema documents."""
    from exercises.serializers import SubmissionAcceptedSerializer

    path = f"/api/questions/{world['ids']['question']}/submissions/"
    response = world["clients"]["student"].post(path, json.dumps({"answers": {"in_3": "1"}}), content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == set(SubmissionAcceptedSerializer().fields)
    assert SubmissionAcceptedSerializer(data=body).is_valid(), body
    assert response["Location"] == body["url"] and body["url"].endswith(f"/api/submissions/{body['id']}/")


def test_unreadable_answers_are_a_400_naming_each_field_and_nothing_is_stored(world):
    path = f"/api/questions/{world['ids']['question']}/submissions/"
    body = json.dumps({"answers": {"in_3": "0,5", "a_3": "0.9055096.3"}})
    response = world["clients"]["student"].post(path, body, content_type="application/json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == "unreadable_answers" and set(payload["fields"]) == {"in_3", "a_3"}
    assert "'.' for decimals" in payload["fields"]["in_3"] and "in_3" in payload["detail"]
    assert not Submission.objects.exists()


def test_a_stale_variant_number_is_409_and_pending_attempts_show_on_the_variant(world):
    question = world["question"]
    question.max_attempts, question.fresh_variant_per_attempt = 2, True
    question.save()
    client = world["clients"]["student"]
    variant = client.get(f"/api/questions/{question.pk}/variant/").json()
    assert (variant["variant"], variant["attempts_left"], variant["attempts_pending"]) == (1, 2, 0)
    path = f"/api/questions/{question.pk}/submissions/"
    body = json.dumps({"answers": {"in_3": "1"}, "variant": 1})
    assert client.post(path, body, content_type="application/json").status_code == 202
    again = client.post(path, body, content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "stale_variant"
    variant = client.get(f"/api/questions/{question.pk}/variant/").json()  # grading has not run
    assert (variant["variant"], variant["attempts_used"], variant["attempts_pending"], variant["attempts_left"]) == (2, 0, 1, 1)
    bad = client.post(path, json.dumps({"answers": {"in_3": "1"}, "variant": 0}), content_type="application/json")
    assert bad.status_code == 400
