"""Every operation of the published OpenAPI schema, fuzzed from the schema itself (Schemathesis):
requests that fit the schema and requests that break it, as each role, against real objects.
Nothing may answer 5xx, and every 4xx must be the API's error body {"detail", "code"}.

test_api_bad_input.py hand-writes hostile bodies for the POST endpoints it knows; this one reads
the schema, so an endpoint added later is fuzzed without anyone remembering to list it. Each
request runs in a transaction that is rolled back, so a DELETE or PUT never changes the objects
the next request is aimed at.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from exercises import services
from exercises.models import Course, Membership, ProblemSet, Question
from nncore.problems import get_kind

EXAMPLES_PER_OPERATION = 6  # per operation, role and mode: about 25 s for the whole schema on PostgreSQL
ROLES = ("anonymous", "outsider", "student", "instructor")
KINDS = (("forward_neuron", {}), ("symmetry_breaking", {}), ("code_softmax", {}), ("backprop_chain", {"notation": "matrix"}))


@pytest.fixture
def world(db, settings) -> dict:
    """A course with an instructor, a student and an outsider (in no course), an open problem set
    with numeric, choice and code questions, and one submission; the API tokens and the ids a
    path parameter can point at."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    users = get_user_model().objects
    course = Course.objects.create(code="nn101", title="NN")
    people = {role: users.create_user(role, password=f"pw-{role}") for role in ROLES[1:]}
    memberships = [
        Membership.objects.create(user=people[role], course=course, role=role) for role in ("instructor", "student")
    ]
    now = timezone.now()
    problem_set = ProblemSet.objects.create(
        course=course, title="Open", release_at=now - timedelta(hours=1), due_at=now + timedelta(days=1)
    )
    questions = [
        Question.objects.create(
            problem_set=problem_set, kind=kind, params=get_kind(kind).validate_params(params), points=10, max_attempts=3
        )
        for kind, params in KINDS
    ]
    submission, _ = services.submit(questions[0], people["student"], {"in_3": "1"})
    return {
        "tokens": {role: Token.objects.create(user=user).key for role, user in people.items()},
        "ids": {
            "course_id": [course.pk],
            "membership_id": [m.pk for m in memberships],
            "problem_set_id": [problem_set.pk],
            "question_id": [q.pk for q in questions],
            "student_id": [people["student"].pk, people["instructor"].pk],
            "submission_id": [submission.pk],
            "kind_id": [kind for kind, _ in KINDS],
        },
    }


@pytest.fixture
def api_schema(world):
    """The schema the API serves, with requests sent in-process to the WSGI application.

    Django closes "old" connections when a request starts and ends; inside the test's transaction
    that would drop the connection (Django's own test client switches it off the same way)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def problems_of(response) -> str | None:
    """What is wrong with a response for any input: a 5xx, or a 4xx not in the error format."""
    if response.status_code >= 500:
        return f"server error {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.text[:200]!r}"
        if not (isinstance(body, dict) and isinstance(body.get("detail"), str) and isinstance(body.get("code"), str)):
            return f"{response.status_code} body is not {{detail, code}}: {str(body)[:200]}"
    return None


def fuzz(operation, role: str, mode: GenerationMode, world: dict, found: list[str]) -> None:
    """Send EXAMPLES_PER_OPERATION generated requests for one operation as one role; note what
    `problems_of` finds. Path ids point at the world's objects more often than not."""
    token = world["tokens"].get(role)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode), data=st.data())
    def check(case, data):
        for name in case.path_parameters or {}:
            if name in world["ids"] and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(world["ids"][name]), label=name)
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        case.headers = {**headers, "Authorization": f"Token {token}"} if token else headers
        with transaction.atomic():
            response = case.call()
            transaction.set_rollback(True)
        problem = problems_of(response)
        if problem:
            sent = f"{case.path_parameters} {case.query} {str(case.body)[:200]}"
            found.append(f"{operation.label} as {role} ({mode}): {problem}; sent {sent}")

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_operation_answers_5xx_or_an_unshaped_error(api_schema, world, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, "the schema lost its operations"
    found: list[str] = []
    fuzzed = 0
    for operation in operations:
        for role in ROLES:
            try:
                fuzz(operation, role, mode, world, found)
                fuzzed += 1
            except Unsatisfiable:
                # no input breaks this operation's schema (a free string in the path): nothing to send
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
    assert fuzzed >= len(operations) * len(ROLES) - 2 * len(ROLES), "too few operations could be fuzzed"
    assert not found, f"{len(found)} bad answer(s), e.g.:\n" + "\n".join(found[:10])
