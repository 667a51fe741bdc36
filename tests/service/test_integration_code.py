"""Code submissions graded by a real Celery worker process (prefork: the sandbox starts in
worker_process_init) through Redis and PostgreSQL, with the bubblewrap sandbox.

Reuses the worker fixtures of test_integration_worker.py. Needs bubblewrap as well as the
integration services: skipped locally without them, FAILS under CI=true.
"""

from __future__ import annotations

import pytest
from helpers_worker import wait_for
from test_integration_worker import broker, redis_db, start_worker, wait_until_done  # noqa: F401 - fixtures

from exercises import reruns, services
from exercises.models import CodeRerun, Question, Submission

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


def test_a_worker_runs_code_again_under_a_raised_limit(start_worker, make_question, require_sandbox, student, instructor):  # noqa: F811
    """The instructor's re-run of code that ran out of memory under a too-tight limit, through
    the broker to a real worker: the same row, the same attempt, graded under the raised limit."""
    start_worker("solo")
    question = make_question("code_mlp_forward", params={"random_cases": 2, "memory_mb": 32})
    source = services.current_variant(question, student).instance["answers"]["code"]["source"]
    hungry = source + "\n_forward = forward\ndef forward(*a, **k):\n    big = np.ones((12, 1_000_000))\n    return _forward(*a, **k)\n"
    submission = services.submit(question, student, {"code": hungry})[0]
    graded = wait_until_done([submission.pk], timeout=60)[submission.pk]
    assert (graded.status, graded.score, graded.attempt_number) == (S.GRADED, 0.0, 1), graded.feedback

    Question.objects.filter(pk=question.pk).update(params={**question.params, "memory_mb": 128})
    asked = reruns.request_reruns(Question.objects.get(pk=question.pk), instructor, apply=True)
    assert [row["submission"] for row in asked["submissions"]] == [submission.pk]
    wait_for(lambda: not CodeRerun.objects.exists(), 60, "the re-run to be written")
    after = Submission.objects.get(pk=submission.pk)
    assert (after.status, after.score, after.attempt_number) == (S.GRADED, 10.0, 1), after.feedback
    assert after.graded_at > graded.graded_at
