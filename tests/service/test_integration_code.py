"""Code submissions graded by a real Celery worker process (prefork: the sandbox starts in
worker_process_init) through Redis and PostgreSQL, with the bubblewrap sandbox.

Reuses the worker fixtures of test_integration_worker.py. Needs bubblewrap as well as the
integration services: skipped locally without them, FAILS under CI=true.
"""

from __future__ import annotations

import pytest
from test_integration_worker import broker, redis_db, start_worker, wait_until_done  # noqa: F401 - fixtures

from exercises import services
from exercises.models import Submission

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
S = Submission.Status


@pytest.fixture
def code_question(make_question, require_sandbox):
    return make_question("code_sgd_step", params={"random_cases": 4})


def test_a_worker_grades_code_in_its_sandbox_and_survives_hostile_code(start_worker, code_question, student):  # noqa: F811
    worker = start_worker("prefork", concurrency=2)
    instance = services.current_variant(code_question, student).instance
    right = instance["answers"]["code"]["source"]
    hostile = "import os\nos.kill(os.getppid(), 9)\nos.kill(1, 9)\nos.kill(-1, 9)\ndef sgd_step(*a):\n    return a\n"
    loop = "def sgd_step(*a):\n    while True:\n        pass\n"
    ids = [services.submit(code_question, student, {"code": code})[0].pk for code in (right, hostile, loop, right)]
    rows = wait_until_done(ids, timeout=60)
    first, attack, spin, again = (rows[i] for i in ids)
    assert (first.status, first.score) == (S.GRADED, 10.0), first.feedback
    assert (attack.status, attack.score) == (S.GRADED, 0.0), attack.feedback
    assert (spin.status, spin.score) == (S.GRADED, 0.0)
    assert all("timeout" in c["message"] for c in spin.feedback["fields"]["code"]["cases"])
    assert (again.status, again.score) == (S.GRADED, 10.0)
    assert "code sandbox ready: sandboxed" in worker.log()
