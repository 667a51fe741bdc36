"""PostgreSQL drops every connection (a restart, a failover) under running gunicorn and Celery.

gunicorn's threads and the Celery workers keep their database connections between requests and
tasks. Before autograder.db_connections, the first request on each dropped connection was a 500
(a student submitting at that moment got an error instead of a 202), and the first task on each
failed and waited for the sweeper. The servers here are real gunicorn (gthread) and a real
Celery worker on the test database; the dropped connections are real: pg_terminate_backend on
every session of the test database but the test's own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from helpers import reference_answers
from helpers_worker import (
    CLEARED_ENV,
    RedisDatabase,
    Worker,
    celery_sending_to,
    database_url,
    free_port,
    wait_for,
    worker_env,
)
from rest_framework.authtoken.models import Token

from autograder.celery import app
from autograder.db_connections import close_hung_up_connections, connection_lost
from exercises import services
from exercises.models import Submission

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]
THREADS = 3


def post(url: str, body: dict, token: str) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": f"Token {token}"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def gunicorn(tmp_path, integration_redis_url):
    """A production-mode gunicorn (1 worker, THREADS threads) on the test database."""
    redis_db = RedisDatabase(integration_redis_url)  # its messages are never consumed here
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(
        DATABASE_URL=database_url(connection.settings_dict),
        CELERY_BROKER_URL=redis_db.url,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        AUTOGRADER_VAR_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "gunicorn.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")), "autograder.wsgi", "-b", f"127.0.0.1:{port}",
        "--workers", "1", "--worker-class", "gthread", "--threads", str(THREADS), "--access-logfile", "-",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kinds/", timeout=2)
        except urllib.error.HTTPError:
            return True  # 401: it serves
        except OSError:
            return False
        return True

    wait_for(answers, 30, "gunicorn to answer")
    yield f"http://127.0.0.1:{port}", log
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    redis_db.release()


def drop_other_connections() -> int:
    """pg_terminate_backend on every other session of this database, and wait until they are
    gone (the call only signals them); how many there were."""
    others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with connection.cursor() as cursor:
        cursor.execute(others)
        pids = [pid for (pid,) in cursor.fetchall()]
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    def gone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(others)
            return not {pid for (pid,) in cursor.fetchall()} & set(pids)

    wait_for(gone, 10, f"sessions {pids} to end", interval=0.02)
    return len(pids)


def hang_up_on_this_connection() -> int:
    """Have the server terminate this thread's Django connection (from another session) and
    wait until the session is gone; its backend pid."""
    import psycopg

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
        ended = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
        wait_for(lambda: other.execute(ended, [pid]).fetchone()[0], 10, f"session {pid} to end", interval=0.02)
    return pid


def test_submissions_right_after_the_database_dropped_every_connection_are_accepted(
    gunicorn, make_question, student
):
    base, log = gunicorn
    question = make_question()
    token = Token.objects.create(user=student).key
    url = f"{base}/api/questions/{question.pk}/submissions/"
    body = {"answers": reference_answers(question, student)}
    for _ in range(3 * THREADS):  # every thread opens its connection and keeps it
        assert post(url, body, token)[0] == 202
    assert drop_other_connections() >= 1

    answers = [post(url, body, token) for _ in range(3 * THREADS)]

    assert [status for status, _ in answers] == [202] * (3 * THREADS), (answers, log.read_text()[-3000:])
    ids = [json.loads(text)["id"] for _, text in answers]
    assert Submission.objects.filter(pk__in=ids).count() == len(ids)


@pytest.fixture
def broker(integration_redis_url, monkeypatch):
    """The test process sends real grading messages to a private Redis database."""
    redis_db = RedisDatabase(integration_redis_url)
    try:
        with celery_sending_to(app, redis_db.url, monkeypatch):
            yield redis_db
    finally:
        redis_db.release()


def test_a_worker_whose_connection_was_dropped_grades_the_next_submission_at_once(
    broker, tmp_path, celery_bin, make_question, student
):
    question = make_question()
    # the sweeper waits a minute: a submission graded sooner was graded from its own message
    env = worker_env(
        database_url(connection.settings_dict), broker.url, tmp_path / "var",
        AUTOGRADER_STUCK_AFTER_SECONDS="60", AUTOGRADER_SWEEP_EVERY_SECONDS="1",
    )
    (tmp_path / "var").mkdir()
    worker = Worker("keeper", celery_bin, env, tmp_path, beat=True).start()
    try:
        worker.wait_ready()
        first = services.submit(question, student, reference_answers(question, student))[0]
        wait_for(lambda: Submission.objects.get(pk=first.pk).status == Submission.Status.GRADED, 30, "the first grading")
        assert drop_other_connections() >= 1
        second = services.submit(question, student, reference_answers(question, student))[0]
        wait_for(lambda: Submission.objects.get(pk=second.pk).status == Submission.Status.GRADED, 20, "the second grading")
    finally:
        worker.stop()
    row = Submission.objects.get(pk=second.pk)
    assert (row.attempt_number, row.enqueue_count) == (2, 1)


def test_only_a_connection_the_server_hung_up_on_is_replaced():
    connection.ensure_connection()
    assert close_hung_up_connections() == 0  # idle and healthy: kept, no query sent
    assert connection.connection is not None and not connection_lost()
    pid = hang_up_on_this_connection()
    wait_for(close_hung_up_connections, 5, "the hang-up to reach the socket", interval=0.05)
    with connection.cursor() as cursor:  # a new connection
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


def test_a_query_on_a_dropped_connection_counts_as_lost():
    """What the API's 503 relies on: after the server drops the connection, the failed query
    leaves it marked lost (and a failed query on a working connection does not)."""
    from django.db import OperationalError, ProgrammingError

    with pytest.raises(ProgrammingError), connection.cursor() as cursor:
        cursor.execute("SELECT no_such_column FROM exercises_submission")
    assert not connection_lost()
    hang_up_on_this_connection()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection_lost()
    connection.close()


def test_a_request_whose_connection_the_server_drops_mid_request_is_a_503_to_retry(make_question, student, monkeypatch):
    """The connection dies after the check at the request's start (the server terminates it
    while the view runs): a JSON 503 that says when to retry and to keep the Idempotency-Key,
    not Django's HTML 500."""
    from rest_framework.test import APIClient

    question = make_question()
    client = APIClient()
    client.force_authenticate(student)
    url = f"/api/questions/{question.pk}/submissions/"
    real_submit = services.submit

    def submit_after_the_server_hangs_up(*args, **kwargs):
        hang_up_on_this_connection()
        return real_submit(*args, **kwargs)

    answers = reference_answers(question, student)
    monkeypatch.setattr(services, "submit", submit_after_the_server_hangs_up)
    try:
        response = client.post(url, {"answers": answers}, format="json")
    finally:
        connection.close()  # the dropped one; the next query opens a new connection
    assert response.status_code == 503 and response["Retry-After"] == "5", response.content[:300]
    assert response.json()["code"] == "unavailable" and "Idempotency-Key" in response.json()["detail"]
