"""Students' submissions go before the staff's code re-runs, through a real worker and Redis.

A re-run of every submission of a code question (after its limits were raised) is hundreds of
messages; queued in front of a student's submission at 23:58, they would make it wait for all
of them. Re-runs have their own queue ("reruns"), which a worker reads only while the grading
queue is empty (kombu's "priority" queue order: BRPOP lists the grading queue first).
"""

from __future__ import annotations

import re

import pytest
from helpers_worker import wait_for
from test_integration_worker import (  # noqa: F401 - fixtures
    broker,
    question,
    redis_db,
    start_worker,
    submit,
    wait_until_done,
)

from autograder.celery import app
from autograder.tasks import grade_submission, rerun_code

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
RERUN_DONE = re.compile(r"Task autograder\.tasks\.rerun_code\[[^\]]+\] succeeded in [0-9.e-]+s: 'not asked'")
RECEIVED = re.compile(r"Task autograder\.tasks\.(grade_submission|rerun_code)\[[^\]]+\] received")


def test_reruns_have_their_own_queue():
    assert app.amqp.router.route({}, rerun_code.name)["queue"].name == "reruns"
    assert app.amqp.router.route({}, grade_submission.name)["queue"].name == "celery"


def test_a_worker_grades_submissions_before_queued_reruns(start_worker, broker, question, student):  # noqa: F811
    reruns = 12
    for n in range(reruns):  # ids of no submission: each re-run finds nothing asked
        rerun_code.apply_async((10**9 + n,))
    ids = [submit(question, student).pk for _ in range(3)]
    assert (broker.queue_length("reruns"), broker.queue_length("celery")) == (reruns, 3)

    worker = start_worker("solo")
    wait_until_done(ids, timeout=60)
    wait_for(lambda: len(RERUN_DONE.findall(worker.log())) == reruns, 60, "the re-runs to run")
    order = RECEIVED.findall(worker.log())
    assert order[:3] == ["grade_submission"] * 3, order
    assert order.count("rerun_code") == reruns
