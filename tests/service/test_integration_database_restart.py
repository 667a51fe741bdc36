"""PostgreSQL drops every connection (a restart, a failover) under a running gunicorn.

gunicorn's threads keep their database connections between requests (CONN_MAX_AGE). Without a
health check the first request on each dropped connection fails with a 500, and a student
submitting at that moment gets an error instead of a 202. The web server here is real gunicorn
(gthread) on the test database; the dropped connections are real: pg_terminate_backend on every
session of the test database but ours.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection
from helpers import reference_answers
from helpers_worker import CLEARED_ENV, RedisDatabase, database_url, wait_for
from rest_framework.authtoken.models import Token

from exercises.models import Submission

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]
THREADS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    """pg_terminate_backend on every other session of this database; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


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
