"""scripts/run_service.sh (what `make run` calls) starts, serves, grades and stops cleanly.

Runs the embedded default (SQLite, filesystem broker, worker with embedded beat, gunicorn) in a
temporary var dir on a free port: polls /api/schema/, logs in for a token, submits answers
through the API and waits for the worker to grade them, then SIGTERMs the script and checks that
the web server and worker are gone too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
STUDENT_PASSWORD = "student-pass-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, data: dict | None = None, token: str | None = None) -> tuple[int, dict | str]:
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def poll(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run_service.sh exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            value = predicate()
        except (urllib.error.URLError, ConnectionError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def service(tmp_path):
    """The script running in its own process group; killed in the finalizer if still alive."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_DEBUG")}
    env.update(
        AUTOGRADER_VAR_DIR=str(tmp_path),
        AUTOGRADER_PORT=str(port),
        AUTOGRADER_WORKER_CONCURRENCY="1",
        AUTOGRADER_WEB_WORKERS="1",
        DEMO_STUDENT_PASSWORD=STUDENT_PASSWORD,
    )
    log = tmp_path / "run_service.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run_service.sh")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    yield process, f"http://127.0.0.1:{port}", tmp_path, log
    if group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_run_service_serves_grades_and_stops(service):
    process, base, var_dir, log = service
    poll(lambda: request(f"{base}/api/schema/")[0] == 200, 120, "the web server", process, log)
    assert "username=demo-student" in log.read_text() and "token=" in log.read_text()

    status, body = request(f"{base}/api/auth/token/", {"username": "demo-student", "password": STUDENT_PASSWORD})
    assert status == 200, body
    token = body["token"]
    status, body = request(f"{base}/api/courses/", token=token)
    assert status == 200 and "demo" in json.dumps(body)

    with sqlite3.connect(var_dir / "db.sqlite3") as db:
        (question_id,) = db.execute("select id from exercises_question where kind = 'forward_neuron'").fetchone()
    status, variant = request(f"{base}/api/questions/{question_id}/variant/", token=token)
    assert status == 200 and "answers" not in variant, variant
    answers = {field["name"]: "0.5" for field in variant["fields"]}
    status, accepted = request(f"{base}/api/questions/{question_id}/submissions/", {"answers": answers}, token=token)
    assert status == 202, accepted

    def graded():
        code, submission = request(accepted["url"], token=token)
        return submission if code == 200 and submission["status"] == "graded" else None

    submission = poll(graded, 30, "the embedded worker to grade the submission", process, log)
    assert submission["attempt_number"] == 1 and submission["score"] is not None

    process.send_signal(signal.SIGTERM)  # the script only: its trap stops web and worker
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(process.pid), "web server or worker survived the script"
