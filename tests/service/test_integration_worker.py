"""End to end with real processes: PostgreSQL, Redis and `celery -A autograder.celery worker`.

The test process plays the web server: it calls services.submit (committed rows, the message
sent on commit to a Redis database private to this run) and watches the test database while
worker subprocesses, pointed at the same database and Redis, grade. Each test starts its own
workers and stops them in the fixture's finalizer (SIGTERM, then SIGKILL of the process group).

AUTOGRADER_TEST_GRADING_DELAY (seconds, read by services.grade_submission_now after the claim)
makes grading slow enough to kill a worker in the middle of it.
"""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection
from helpers import reference_answers
from helpers_worker import (
    RedisDatabase,
    RedisServer,
    Worker,
    celery_sending_to,
    database_url,
    wait_for,
    worker_env,
)

from autograder.celery import app
from autograder.tasks import grade_submission
from exercises import services
from exercises.models import Submission

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
S = Submission.Status
FAST_SWEEPER = {"AUTOGRADER_STUCK_AFTER_SECONDS": "1", "AUTOGRADER_SWEEP_EVERY_SECONDS": "1"}


@pytest.fixture(scope="module")
def redis_db(integration_redis_url):
    database = RedisDatabase(integration_redis_url)
    yield database
    database.release()


@pytest.fixture
def broker(redis_db, monkeypatch):
    """The test process sends real messages to the private Redis database (not eagerly)."""
    redis_db.flush()
    with celery_sending_to(app, redis_db.url, monkeypatch):
        yield redis_db


@pytest.fixture
def restartable_broker(tmp_path, redis_server_executable, monkeypatch):
    """A private redis-server the test can kill and start again; the test process sends to it."""
    server = RedisServer(redis_server_executable, tmp_path).start()
    try:
        with celery_sending_to(app, server.url, monkeypatch):
            yield server
    finally:
        server.kill()


@pytest.fixture
def start_worker(broker, tmp_path, celery_bin):
    """start_worker(name, concurrency=1, beat=False, wait=True, **env) -> a running Worker."""
    started: list[Worker] = []
    database = database_url(connection.settings_dict)

    def start(name: str, concurrency: int = 1, beat: bool = False, wait: bool = True, **env) -> Worker:
        var_dir = tmp_path / name
        var_dir.mkdir()
        worker = Worker(name, celery_bin, worker_env(database, broker.url, var_dir, **env), tmp_path, concurrency, beat)
        started.append(worker.start())
        return worker.wait_ready() if wait else worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def question(make_question):
    return make_question(attempt_penalty=0.25)


def submit(question, student, factor: float = 1.0) -> Submission:
    return services.submit(question, student, reference_answers(question, student, factor))[0]


def wait_until_done(ids, timeout: float) -> dict[int, Submission]:
    def done():
        rows = {s.pk: s for s in Submission.objects.filter(pk__in=ids)}
        return rows if all(s.status not in (S.QUEUED, S.GRADING) for s in rows.values()) else None

    return wait_for(done, timeout, f"submissions {sorted(ids)} to be graded")


def graded_log_lines(workers, submission_id: int) -> int:
    pattern = re.compile(rf"graded submission {submission_id}: ")
    return sum(len(pattern.findall(w.log())) for w in workers)


TASK_DONE = re.compile(r"Task autograder\.tasks\.grade_submission\[[^\]]+\] succeeded")


def task_runs(workers) -> int:
    """How many grading task executions the workers' logs report."""
    return sum(len(TASK_DONE.findall(w.log())) for w in workers)


def test_submissions_are_graded_by_a_worker_end_to_end(start_worker, question, student):
    worker = start_worker("solo")
    right = submit(question, student)
    wrong = submit(question, student, factor=3.0)
    name = next(iter(reference_answers(question, student)))
    with pytest.raises(services.SubmissionRefused):  # refused when posted, nothing stored
        services.submit(question, student, {name: "sigma(2"})
    # a row stored before submit read answers (or unreadable under a later parser) is rejected
    unreadable = Submission.objects.create(
        variant=services.current_variant(question, student), student=student, answers={name: "sigma(2"}, enqueue_count=1
    )
    services.enqueue(unreadable.pk)
    rows = wait_until_done([right.pk, wrong.pk, unreadable.pk], timeout=20)
    assert (rows[right.pk].status, rows[right.pk].attempt_number, rows[right.pk].score) == (S.GRADED, 1, 10.0)
    assert (rows[wrong.pk].status, rows[wrong.pk].attempt_number, rows[wrong.pk].score) == (S.GRADED, 2, 0.0)
    assert rows[unreadable.pk].status == S.REJECTED and rows[unreadable.pk].attempt_number is None
    assert rows[right.pk].feedback["fields"][name]["status"] == "correct"
    assert all(graded_log_lines([worker], pk) == 1 for pk in rows)


def test_a_worker_killed_mid_grading_loses_nothing_and_grades_once(start_worker, question, student, broker):
    doomed = start_worker("doomed", AUTOGRADER_TEST_GRADING_DELAY="60")
    submission = submit(question, student)
    wait_for(lambda: Submission.objects.get(pk=submission.pk).status == S.GRADING, 15, "the worker to claim the row")
    doomed.kill()
    assert Submission.objects.get(pk=submission.pk).attempt_number is None
    assert broker.queue_length() == 0  # the message is unacked by a dead worker, not back in the queue

    rescuer = start_worker("rescuer", beat=True, **FAST_SWEEPER)
    row = wait_until_done([submission.pk], timeout=25)[submission.pk]
    assert (row.status, row.attempt_number, row.score) == (S.GRADED, 1, 10.0)
    assert row.enqueue_count >= 2  # re-sent by the sweeper, not by the broker

    for _ in range(2):  # late duplicates of the message are no-ops
        grade_submission.delay(submission.pk)
    wait_for(lambda: task_runs([rescuer]) >= 3, 15, "the duplicate messages to be processed")
    after = Submission.objects.get(pk=submission.pk)
    assert (after.attempt_number, after.graded_at) == (1, row.graded_at)
    assert Submission.objects.filter(attempt_number__isnull=False).count() == 1
    assert graded_log_lines([doomed, rescuer], submission.pk) == 1


def test_flushed_broker_is_recovered_by_the_sweeper(start_worker, question, student, make_user, broker):
    bob = make_user("bob")
    subs = [submit(question, who) for _ in range(4) for who in (student, bob)]
    assert broker.queue_length() == len(subs)
    broker.flush()  # Redis forgets every message; the rows are still queued in the database
    assert broker.queue_length() == 0

    start_worker("sweeping", beat=True, **FAST_SWEEPER)
    rows = wait_until_done([s.pk for s in subs], timeout=30)
    assert all(r.status == S.GRADED for r in rows.values())
    for who in (student, bob):
        assert sorted(r.attempt_number for r in rows.values() if r.student_id == who.pk) == [1, 2, 3, 4]


def test_two_workers_never_grade_a_submission_twice(start_worker, make_question, make_user):
    workers = [start_worker(f"racer{i}", concurrency=2, wait=False) for i in (1, 2)]
    for worker in workers:
        worker.wait_ready()
    plain, fresh = make_question(), make_question("forward_layer", fresh_variant_per_attempt=True)
    students = [make_user(f"s{i}") for i in range(3)]
    subs = []
    for _ in range(4):
        for question in (plain, fresh):
            for who in students:
                submission = submit(question, who)
                subs.append(submission)
                for _ in range(2):  # duplicates on purpose
                    grade_submission.delay(submission.pk)
    started = time.monotonic()
    rows = wait_until_done([s.pk for s in subs], timeout=40)
    wait_for(lambda: task_runs(workers) >= 3 * len(subs), 20, "every duplicate message to be processed")
    assert all((r.status, r.score) == (S.GRADED, 10.0) for r in rows.values())
    for question in (plain, fresh):
        for who in students:
            numbers = sorted(r.attempt_number for r in rows.values() if r.student_id == who.pk and r.variant.question_id == question.pk)
            assert numbers == [1, 2, 3, 4]
    assert all(graded_log_lines(workers, pk) == 1 for pk in rows)
    assert time.monotonic() - started < 40


def test_a_restarted_redis_loses_nothing_and_the_worker_reconnects(
    restartable_broker, tmp_path, celery_bin, question, student, make_user
):
    """Redis killed and started again (empty) under a running worker: submissions sent while it
    was down are committed and re-sent by the sweeper, the worker reconnects and grades the ones
    sent after the restart from their own message, each graded once."""
    server, bob = restartable_broker, make_user("bob")
    var_dir = tmp_path / "survivor"
    var_dir.mkdir()
    # rows count as stuck after 20 s: the worker retries its broker connection 2 s, then 6 s after
    # losing it, and the rows sent after the restart must reach it by their own message, not the
    # sweeper
    sweeper = {**FAST_SWEEPER, "AUTOGRADER_STUCK_AFTER_SECONDS": "20"}
    env = worker_env(database_url(connection.settings_dict), server.url, var_dir, **sweeper)
    worker = Worker("survivor", celery_bin, env, tmp_path, beat=True).start()
    try:
        worker.wait_ready()
        before = [submit(question, who) for who in (student, bob)]
        wait_until_done([s.pk for s in before], timeout=30)
        server.kill()  # every connection drops, nothing is kept
        during = [submit(question, who) for who in (student, bob)]  # cannot be sent: committed anyway
        assert all(Submission.objects.get(pk=s.pk).status == S.QUEUED for s in during)
        server.start()  # an empty Redis on the same port
        after = [submit(question, who) for who in (student, bob)]  # sent on a fresh connection
        rows = wait_until_done([s.pk for s in before + during + after], timeout=60)
    finally:
        worker.stop()
    assert all(r.status == S.GRADED for r in rows.values())
    for who in (student, bob):
        assert sorted(r.attempt_number for r in rows.values() if r.student_id == who.pk) == [1, 2, 3]
    assert all(rows[s.pk].enqueue_count >= 2 for s in during)  # the sweeper sent them again
    assert all(rows[s.pk].enqueue_count == 1 for s in after)  # their own message reached the worker
    assert all(graded_log_lines([worker], pk) == 1 for pk in rows)


def test_the_worker_judges_lateness_by_the_students_extension(start_worker, question, student, instructor):
    """Lateness is worked out when the worker saves the grade, from the student's own due time: an
    extension that committed while the row waited (here written straight to the table, as a grant
    racing the grading would leave it, without the grant's own relabelling) still applies."""
    from datetime import timedelta

    from django.utils import timezone

    from exercises.models import Extension, ProblemSet

    problem_set = question.problem_set
    ProblemSet.objects.filter(pk=problem_set.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    question.refresh_from_db()
    late = submit(question, student)
    assert Submission.objects.get(pk=late.pk).late  # judged at submit by the set's due time
    Extension.objects.create(problem_set=problem_set, student=student, due_at=timezone.now() + timedelta(days=1))
    start_worker("solo")
    row = wait_until_done([late.pk], timeout=20)[late.pk]
    assert (row.status, row.late, row.score) == (S.GRADED, False, 10.0)


def test_a_submission_that_could_not_be_graded_is_graded_when_the_instructor_sends_it_again(
    start_worker, question, student, instructor
):
    """A grading that fails on our side (here a variant the worker cannot read, as a worker
    without its sandbox fails a code question) is an error for good after its tries; once the
    cause is fixed, the instructor's "grade again" sends it through Redis to a real worker, which
    grades it as the first attempt it was."""
    from exercises import grading_errors
    from exercises.models import Variant

    row = submit(question, student)
    variant = Variant.objects.get(pk=row.variant_id)
    Variant.objects.filter(pk=variant.pk).update(instance={**variant.instance, "fields": None})
    start_worker("solo", AUTOGRADER_MAX_GRADING_TRIES="1")
    failed = wait_until_done([row.pk], timeout=20)[row.pk]
    assert (failed.status, failed.attempt_number, failed.attempt_released) == (S.ERROR, None, True)
    assert "TypeError" in failed.error_message
    assert grading_errors.errors_of(question).count == 1

    Variant.objects.filter(pk=variant.pk).update(instance=variant.instance)  # the cause fixed
    assert [r["submission"] for r in grading_errors.grade_again(question, instructor)] == [row.pk]
    graded = wait_until_done([row.pk], timeout=20)[row.pk]
    assert (graded.status, graded.attempt_number, graded.score) == (S.GRADED, 1, 10.0), graded.feedback
    assert grading_errors.errors_of(question) is None
