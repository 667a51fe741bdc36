"""Every API endpoint x every role -> the exact status code, from one table.

Roles: anonymous; a student of the course ("student", who owns the submission in the world);
another student of the same course ("classmate"); a student of another course; a TA; the
course's instructor; an instructor of another course. Adding an endpoint means adding a row.

Conventions checked here: anonymous is 401 everywhere except schema/docs (and the token
endpoint, which is public: wrong credentials are 400); objects of a course you are not in, problem
sets a student cannot see yet and other students' submissions are 404; objects you can see but
may not act on are 403; every 4xx body has "detail" and "code".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from exercises import extensions, services
from exercises.models import Course, Membership, ProblemSet, Question
from nncore.problems import get_kind

ROLES = ("anonymous", "student", "classmate", "other_student", "ta", "instructor", "other_instructor")
USERS = {
    "student": ("alice", "A", "student"),
    "classmate": ("bob", "A", "student"),
    "other_student": ("carol", "B", "student"),
    "ta": ("tina", "A", "ta"),
    "instructor": ("ivan", "A", "instructor"),
    "other_instructor": ("olga", "B", "instructor"),
}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


def make_question(problem_set: ProblemSet, **extra) -> Question:
    params = get_kind("forward_neuron").validate_params({})
    return Question.objects.create(problem_set=problem_set, kind="forward_neuron", params=params, points=10, **extra)


@pytest.fixture
def world(db) -> dict[str, Any]:
    """Two courses, three problem sets in course A (open, draft, closed) and one graded submission."""
    now = timezone.now()
    courses = {"A": Course.objects.create(code="nn101", title="NN"), "B": Course.objects.create(code="ml202", title="ML")}
    users = {}
    for role, (username, course, member_role) in USERS.items():
        users[role] = get_user_model().objects.create_user(username, password="pw-" + username)
        Membership.objects.create(user=users[role], course=courses[course], role=member_role)
    get_user_model().objects.create_user("newbie", password="pw-newbie")
    a = courses["A"]
    open_ps = ProblemSet.objects.create(course=a, title="Open", release_at=now - timedelta(hours=1), due_at=now + timedelta(days=1))
    draft_ps = ProblemSet.objects.create(course=a, title="Draft", release_at=now + timedelta(days=1), due_at=now + timedelta(days=2))
    closed_ps = ProblemSet.objects.create(course=a, title="Closed", release_at=now - timedelta(days=3), due_at=now - timedelta(days=1))
    q_open, q_draft, q_closed = (make_question(ps, max_attempts=3) for ps in (open_ps, draft_ps, closed_ps))
    submission, _ = services.submit(q_open, users["student"], {"in_3": "1", "a_3": "0.5"})
    services.grade_submission_now(submission.pk)
    extensions.grant(open_ps, users["classmate"], now + timedelta(days=2), None, "ill", users["instructor"])
    return {
        "users": users,
        "ids": {
            "course": a.pk,
            "open_ps": open_ps.pk,
            "draft_ps": draft_ps.pk,
            "q_open": q_open.pk,
            "q_draft": q_draft.pk,
            "q_closed": q_closed.pk,
            "submission": submission.pk,
            "student_membership": Membership.objects.get(user=users["student"]).pk,
            "student_user": users["student"].pk,
            "classmate_user": users["classmate"].pk,
            "ta_user": users["ta"].pk,
            "other_student_user": users["other_student"].pk,
        },
    }


def problem_set_body(role: str) -> dict:
    return {"title": "Week 2", "release_at": iso(timedelta(hours=-1)), "due_at": iso(timedelta(days=3))}


def extension_body(role: str) -> dict:
    return {"username": "alice", "due_at": iso(timedelta(days=4)), "reason": "accommodation"}


def question_body(role: str) -> dict:
    return {"kind": "forward_neuron", "params": {}, "points": 10, "max_attempts": 3}


def token_body(role: str) -> dict:
    if role == "anonymous":
        return {"username": "alice", "password": "wrong"}
    username = USERS[role][0]
    return {"username": username, "password": "pw-" + username}


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str  # formatted with world["ids"]
    expected: tuple[int, ...]  # in ROLES order
    body: Any = None  # a dict, or a callable(role) -> dict for bodies built at request time
    headers: dict[str, str] = field(default_factory=dict)


#                           anon student classmate other_st  ta  instr other_instr
EVERYONE = (401, 200, 200, 200, 200, 200, 200)
MEMBERS = (401, 200, 200, 404, 200, 200, 404)
STAFF_ONLY_VIEW = (401, 404, 404, 404, 200, 200, 404)  # unreleased objects
INSTRUCTOR_ACT = (401, 403, 403, 404, 403, 200, 404)
INSTRUCTOR_CREATE = (401, 403, 403, 404, 403, 201, 404)
INSTRUCTOR_ACT_DRAFT = (401, 404, 404, 404, 403, 200, 404)
STAFF_READ = (401, 403, 403, 404, 200, 200, 404)
STUDENT_ONLY = (401, 200, 200, 404, 403, 403, 404)

ROWS = [
    Row("kinds-list", "GET", "/api/kinds/", EVERYONE),
    Row("kind-detail", "GET", "/api/kinds/forward_neuron/", EVERYONE),
    Row("kind-unknown", "GET", "/api/kinds/no_such_kind/", (401, 404, 404, 404, 404, 404, 404)),
    Row("courses-list", "GET", "/api/courses/", EVERYONE),
    Row("courses-create", "POST", "/api/courses/", (401, 403, 403, 403, 403, 201, 201), {"code": "new-course", "title": "New"}),
    Row("course-get", "GET", "/api/courses/{course}/", MEMBERS),
    Row("course-put", "PUT", "/api/courses/{course}/", INSTRUCTOR_ACT, {"code": "nn101", "title": "Renamed"}),
    Row("course-patch", "PATCH", "/api/courses/{course}/", INSTRUCTOR_ACT, {"title": "Renamed"}),
    Row("course-missing", "GET", "/api/courses/999999/", (401, 404, 404, 404, 404, 404, 404)),
    Row("memberships-list", "GET", "/api/courses/{course}/memberships/", (401, 403, 403, 404, 403, 200, 404)),
    Row("memberships-add", "POST", "/api/courses/{course}/memberships/", INSTRUCTOR_CREATE, {"username": "newbie", "role": "student"}),
    Row("membership-delete", "DELETE", "/api/courses/{course}/memberships/{student_membership}/", (401, 403, 403, 404, 403, 204, 404)),
    Row("problem-sets-list", "GET", "/api/courses/{course}/problem-sets/", MEMBERS),
    Row("problem-sets-create", "POST", "/api/courses/{course}/problem-sets/", INSTRUCTOR_CREATE, problem_set_body),
    Row("problem-set-get", "GET", "/api/problem-sets/{open_ps}/", MEMBERS),
    Row("problem-set-get-draft", "GET", "/api/problem-sets/{draft_ps}/", STAFF_ONLY_VIEW),
    Row("problem-set-put", "PUT", "/api/problem-sets/{open_ps}/", INSTRUCTOR_ACT, problem_set_body),
    Row("problem-set-patch", "PATCH", "/api/problem-sets/{open_ps}/", INSTRUCTOR_ACT, {"title": "Renamed"}),
    Row("problem-set-patch-draft", "PATCH", "/api/problem-sets/{draft_ps}/", INSTRUCTOR_ACT_DRAFT, {"title": "Renamed"}),
    Row("questions-list", "GET", "/api/problem-sets/{open_ps}/questions/", MEMBERS),
    Row("questions-list-draft", "GET", "/api/problem-sets/{draft_ps}/questions/", STAFF_ONLY_VIEW),
    Row("questions-create", "POST", "/api/problem-sets/{open_ps}/questions/", INSTRUCTOR_CREATE, question_body),
    Row("question-get", "GET", "/api/questions/{q_open}/", MEMBERS),
    Row("question-get-draft", "GET", "/api/questions/{q_draft}/", STAFF_ONLY_VIEW),
    Row("question-put", "PUT", "/api/questions/{q_open}/", INSTRUCTOR_ACT, question_body),
    Row("question-patch", "PATCH", "/api/questions/{q_open}/", INSTRUCTOR_ACT, {"max_attempts": 5}),
    Row("question-patch-draft", "PATCH", "/api/questions/{q_draft}/", INSTRUCTOR_ACT_DRAFT, {"max_attempts": 5}),
    Row("variant", "GET", "/api/questions/{q_open}/variant/", STUDENT_ONLY),
    Row("variant-draft", "GET", "/api/questions/{q_draft}/variant/", (401, 404, 404, 404, 403, 403, 404)),
    Row("staff-variant", "GET", "/api/questions/{q_open}/variants/{student_user}/", STAFF_READ),
    Row("staff-variant-draft", "GET", "/api/questions/{q_draft}/variants/{student_user}/", STAFF_ONLY_VIEW),
    # not a student of this course (their TA; a student of another course): 404 for staff
    Row("staff-variant-not-student", "GET", "/api/questions/{q_open}/variants/{ta_user}/", (401, 403, 403, 404, 404, 404, 404)),
    Row("staff-variant-other-course", "GET", "/api/questions/{q_open}/variants/{other_student_user}/", (401, 403, 403, 404, 404, 404, 404)),
    Row("submit", "POST", "/api/questions/{q_open}/submissions/", (401, 202, 202, 404, 403, 403, 404), {"answers": {"in_3": "1"}}),
    Row("submit-closed", "POST", "/api/questions/{q_closed}/submissions/", (401, 403, 403, 404, 403, 403, 404), {"answers": {}}),
    Row("submit-draft", "POST", "/api/questions/{q_draft}/submissions/", (401, 404, 404, 404, 403, 403, 404), {"answers": {}}),
    Row("submissions-list", "GET", "/api/questions/{q_open}/submissions/", MEMBERS),
    Row("submission-get", "GET", "/api/submissions/{submission}/", (401, 200, 404, 404, 200, 200, 404)),
    Row("submission-missing", "GET", "/api/submissions/999999/", (401, 404, 404, 404, 404, 404, 404)),
    # the course's staff only: the student who made it is refused (403), anyone else finds nothing
    Row("submission-hidden-cases", "GET", "/api/submissions/{submission}/hidden-cases/", (401, 403, 404, 404, 200, 200, 404)),
    # The student used 1 of 3 attempts and the set is open: no solution yet; the closed set shows it.
    Row("solution", "GET", "/api/questions/{q_open}/solution/", (401, 403, 403, 404, 403, 403, 404)),
    Row("solution-closed", "GET", "/api/questions/{q_closed}/solution/", STUDENT_ONLY),
    Row("gradebook", "GET", "/api/problem-sets/{open_ps}/gradebook/", STAFF_READ),
    Row("gradebook-csv", "GET", "/api/problem-sets/{open_ps}/gradebook/?format=csv", STAFF_READ),
    Row("gradebook-accept-csv", "GET", "/api/problem-sets/{open_ps}/gradebook/", STAFF_READ, headers={"HTTP_ACCEPT": "text/csv"}),
    Row("extensions-list", "GET", "/api/problem-sets/{open_ps}/extensions/", STAFF_READ),
    Row("extensions-grant", "POST", "/api/problem-sets/{open_ps}/extensions/", INSTRUCTOR_CREATE, extension_body),
    Row("extension-revoke", "DELETE", "/api/problem-sets/{open_ps}/extensions/{classmate_user}/", (401, 403, 403, 404, 403, 204, 404)),
    Row("extension-revoke-none", "DELETE", "/api/problem-sets/{open_ps}/extensions/{student_user}/", (401, 403, 403, 404, 403, 404, 404)),
    Row("regrade-preview", "POST", "/api/questions/{q_open}/regrade/", INSTRUCTOR_ACT, {"changes": {"points": 5}, "apply": False}),
    Row("regrade-apply", "POST", "/api/questions/{q_open}/regrade/", INSTRUCTOR_ACT, {"changes": {"points": 5}, "apply": True}),
    # a numeric question runs no code: the instructor is told so (400 not_code), the rest refused as for a regrade
    Row("rerun", "POST", "/api/questions/{q_open}/rerun/", (401, 403, 403, 404, 403, 400, 404), {"apply": False}),
    Row("grading-errors", "GET", "/api/questions/{q_open}/grading-errors/", STAFF_READ),
    Row("grading-errors-grade-again", "POST", "/api/questions/{q_open}/grading-errors/", INSTRUCTOR_ACT, {}),
    Row("token", "POST", "/api/auth/token/", (400, 200, 200, 200, 200, 200, 200), token_body),
    Row("schema", "GET", "/api/schema/", (200,) * 7),
    Row("docs", "GET", "/api/docs/", (200,) * 7),
]

CASES = [
    pytest.param(row, role, expected, id=f"{row.name}-{role}")
    for row in ROWS
    for role, expected in zip(ROLES, row.expected, strict=True)
]


def request(world: dict, row: Row, role: str, **headers: str):
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(world["users"][role])
    body = row.body(role) if callable(row.body) else row.body
    return client.generic(
        row.method,
        row.path.format(**world["ids"]),
        data=None if body is None else json.dumps(body),
        content_type="application/json",
        **{**row.headers, **headers},
    )


@pytest.mark.parametrize(("row", "role", "expected"), CASES)
def test_status(world, row: Row, role: str, expected: int):
    response = request(world, row, role)
    assert response.status_code == expected, (row.name, role, response.content[:500])
    if 400 <= expected < 500:
        body = response.json()
        assert body["detail"] and body["code"], body
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Token")


OPTIONS_PATHS = sorted({row.path.split("?")[0] for row in ROWS if row.name not in ("schema", "docs")})


@pytest.mark.parametrize("path", OPTIONS_PATHS)
def test_options_describes_every_endpoint(world, path: str):
    """OPTIONS (what DRF's browsable API and CORS preflights send) is 401 for anonymous and the
    view's description for anyone signed in, never a server error; it reveals no object, so it
    is 200 even where GET would be 404."""
    for role in ROLES:
        response = request(world, Row("options", "OPTIONS", path, ()), role)
        public = path == "/api/auth/token/"
        expected = 200 if role != "anonymous" or public else 401
        assert response.status_code == expected, (path, role, response.content[:300])
        if expected == 200:
            body = response.json()
            assert body["name"] and "application/json" in body["renders"], body
            assert "actions" not in body


HTML_ROWS = [row for row in ROWS if row.method == "GET" and row.name not in ("schema", "docs") and "csv" not in row.name]


@pytest.mark.parametrize("row", HTML_ROWS, ids=[row.name for row in HTML_ROWS])
@pytest.mark.parametrize("role", ["anonymous", "student", "instructor"])
def test_browsable_api_renders(world, row: Row, role: str):
    """The same requests from a browser (Accept: text/html) render DRF's browsable API, same status."""
    response = request(world, row, role, HTTP_ACCEPT="text/html")
    assert response.status_code == row.expected[ROLES.index(role)]
    assert response["Content-Type"].startswith("text/html")


def _routes(patterns, prefix: str = ""):
    """(route, view class) for every URL pattern, routes with <converters> as X."""
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield re.sub(r"<[^>]+>", "X", prefix + str(pattern.pattern)), getattr(pattern.callback, "cls", None)


def test_every_route_and_method_has_a_row():
    """A new /api/ route, or a new method on one, without a row in ROWS fails here."""
    from django.urls import get_resolver

    served = {
        (route, method.upper())
        for route, view in _routes(get_resolver().url_patterns)
        if route.startswith("api/")
        for method in ("get", "post", "put", "patch", "delete")
        if hasattr(view, method)
    }
    covered = {
        (re.sub(r"\{[^}]+\}|999999|forward_neuron|no_such_kind", "X", row.path.split("?")[0].lstrip("/")), row.method)
        for row in ROWS
    }
    assert len(served) > 20
    assert served - covered == set()


@pytest.mark.parametrize(
    ("role", "hidden", "missing"),
    [
        ("classmate", "/api/submissions/{submission}/", "/api/submissions/999999/"),
        ("other_student", "/api/submissions/{submission}/", "/api/submissions/999999/"),
        ("student", "/api/questions/{q_draft}/", "/api/questions/999999/"),
        ("other_student", "/api/questions/{q_open}/", "/api/questions/999999/"),
        ("other_student", "/api/questions/{q_open}/variant/", "/api/questions/999999/variant/"),
        ("student", "/api/problem-sets/{draft_ps}/", "/api/problem-sets/999999/"),
        ("other_student", "/api/problem-sets/{open_ps}/", "/api/problem-sets/999999/"),
        ("other_student", "/api/courses/{course}/", "/api/courses/999999/"),
    ],
)
def test_a_hidden_object_and_a_missing_one_answer_the_same_404(world, role, hidden, missing):
    """The wording told which ids exist: 'No such submission.' for another student's, Django's
    'No Submission matches the given query.' for none (exploratory audit). Same body now."""
    answers = [request(world, Row("probe", "GET", path, ()), role) for path in (hidden, missing)]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json()


def test_students_do_not_see_parameters_that_give_an_answer_away(world):
    """symmetry_breaking with init fixed to "tied" by the instructor: the question's params told
    students the answer ("does not break symmetry") before they saw the weights (review)."""
    open_ps = ProblemSet.objects.get(pk=world["ids"]["open_ps"])
    params = get_kind("symmetry_breaking").validate_params({"init": "tied"})
    question = Question.objects.create(problem_set=open_ps, kind="symmetry_breaking", params=params, points=1, position=9)

    def params_seen(role: str, path: str) -> dict:
        client = APIClient()
        client.force_authenticate(world["users"][role])
        body = client.get(path).json()
        found = body if "params" in body else next(q for q in body["results"] if q["id"] == question.pk)
        return found["params"]

    for path in (f"/api/questions/{question.pk}/", f"/api/problem-sets/{open_ps.pk}/questions/"):
        assert "init" not in params_seen("student", path)
        assert params_seen("student", path)["steps"] == params["steps"]  # the rest is shown
        assert params_seen("instructor", path)["init"] == "tied"
        assert params_seen("ta", path)["init"] == "tied"

    def page(role: str, path: str) -> str:  # the browsable API pre-fills its edit form with the object
        client = APIClient()
        client.force_authenticate(world["users"][role])
        return client.get(path, HTTP_ACCEPT="text/html").content.decode()

    for path in (f"/api/questions/{question.pk}/", f"/api/problem-sets/{open_ps.pk}/questions/"):
        assert "&quot;init&quot;" not in page("student", path) and "tied" not in page("student", path)
    assert "&quot;init&quot;: &quot;tied&quot;" in page("instructor", f"/api/questions/{question.pk}/")


def test_an_unknown_format_names_the_formats(world):
    """?format=xlsx was DRF's bare 'Not found.' (exploratory QA)."""
    client = APIClient()
    client.force_authenticate(world["users"]["instructor"])
    response = client.get(f"/api/problem-sets/{world['ids']['open_ps']}/gradebook/?format=xlsx")
    assert response.status_code == 404
    assert response.json()["detail"] == "No format 'xlsx' here; the formats are api, csv, json."
    assert response.json()["code"] == "unknown_format"
    assert client.get(f"/api/problem-sets/{world['ids']['open_ps']}/gradebook/?format=csv").status_code == 200


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("code_sgd_step", {"atol": 0.01, "lr": 1e-4, "activation": "tanh"}),
        ("code_fgsm", {"atol": 0.01, "eps": 0.001, "activation": "tanh"}),
        ("code_linear_module", {"atol": 0.01, "lrate": 1e-4}),
    ],
)
def test_code_settings_under_which_a_typical_bug_passes_every_case_are_refused(world, kind, params):
    """A fuzz of teacher settings: with a loose tolerance or a tiny step, the typical bug's code
    (e.g. + instead of - in the update) passed every test case, so it earned full marks. The
    generator now redraws such a draw; under these settings the bug passes every one of them."""
    client = APIClient()
    client.force_authenticate(world["users"]["instructor"])
    url = f"/api/problem-sets/{world['ids']['open_ps']}/questions/"
    response = client.post(url, {"kind": kind, "params": params, "points": 1}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "bad_params"
    assert "passes every test case" in response.content.decode() and "full marks" in response.content.decode()
    assert client.post(url, {"kind": kind, "params": {}, "points": 1}, format="json").status_code == 201
