"""scripts/run_service.sh (what `make run` calls) starts, serves, grades and stops cleanly.

Runs the embedded default (SQLite, filesystem broker, worker with embedded beat, gunicorn) in a
temporary var dir on a free port: polls /api/schema/, logs in for a token, submits answers
through the API and waits for the worker to grade them, then SIGTERMs the script and checks that
the web server and worker are gone too.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

import pytest
from helpers_service import (
    INSTRUCTOR_PASSWORD,
    STUDENT_PASSWORD,
    group_alive,
    request,
    running_service,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def service(tmp_path):
    with running_service(tmp_path) as running:
        yield running


def test_run_service_serves_grades_and_stops(service):
    process, base = service.process, service.base
    service.wait_until_serving()
    printed = service.log_text()
    assert "username=demo-student" in printed and "token=" in printed

    status, body = request(f"{base}/no-such-page/")  # DEBUG is off: no URL list, settings or tracebacks
    assert status == 404 and "URLconf" not in body and "settings" not in body.lower(), body[:500]

    token = _student_token(service)
    status, body = request(f"{base}/api/courses/", token=token)
    assert status == 200 and "demo" in json.dumps(body)

    submission = _submit_and_wait(service, token)
    assert submission["attempt_number"] == 1 and submission["score"] is not None

    _stop_and_check(process)


def test_instructor_edits_at_the_same_moment_wait_for_each_other_instead_of_failing(service):
    """On the embedded SQLite, a transaction that read first and wrote later (select_for_update is
    a plain SELECT there) failed at once with "database is locked" (a 500) when another write
    was under way: 8 of 16 parallel edits of a problem set (QA, schemathesis)."""
    service.wait_until_serving()
    status, body = request(f"{service.base}/api/auth/token/", {"username": "demo-instructor", "password": INSTRUCTOR_PASSWORD})
    assert status == 200, body
    token = body["token"]
    question_id = service.question_id("forward_neuron")
    status, question = request(f"{service.base}/api/questions/{question_id}/", token=token)
    assert status == 200, question
    problem_set_url = f"{service.base}/api/problem-sets/{question['problem_set']}/"
    question_url = f"{service.base}/api/questions/{question_id}/"
    edits = [(problem_set_url, {"title": f"Week {i}"}) for i in range(12)]
    edits += [(question_url, {"points": 10 + i}) for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(len(edits)) as pool:
        statuses = list(pool.map(lambda edit: _patch(*edit, token=token)[0], edits))
    assert statuses == [200] * len(edits), (statuses, service.log_tail())
    assert "database is locked" not in service.log_text()


def _patch(url: str, data: dict, token: str) -> tuple[int, str]:
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    req = urllib.request.Request(url, json.dumps(data).encode(), headers, method="PATCH")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _stop_and_check(process) -> None:
    process.send_signal(signal.SIGTERM)  # the script only: its trap stops web and worker
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(process.pid), "web server or worker survived the script"


def _student_token(service) -> str:
    """The demo student's API token, by logging in as a client would."""
    status, body = request(f"{service.base}/api/auth/token/", {"username": "demo-student", "password": STUDENT_PASSWORD})
    assert status == 200, body
    return body["token"]


def _submit_and_wait(service, token: str, kind: str = "forward_neuron") -> dict:
    """Submit answers to the demo question of `kind` as the student of `token`; the graded row."""
    base = service.base
    question_id = service.question_id(kind)
    status, variant = request(f"{base}/api/questions/{question_id}/variant/", token=token)
    assert status == 200 and "answers" not in variant, variant
    answers = {field["name"]: "0.5" for field in variant["fields"]}
    status, accepted = request(f"{base}/api/questions/{question_id}/submissions/", {"answers": answers}, token=token)
    assert status == 202, accepted

    def graded():
        code, submission = request(accepted["url"], token=token)
        return submission if code == 200 and submission["status"] == "graded" else None

    return service.poll(graded, 60, "the worker to grade the submission")


def test_a_killed_worker_is_started_again_and_the_web_server_keeps_serving(service):
    """The script used to stop the web server too when the worker died (an OOM kill, an operator's
    kill -9): the whole service went down. Now a new worker starts and grading goes on."""
    service.wait_until_serving()
    first = _worker_pids(service)
    assert len(first) == 1, service.log_tail()
    # the worker, its pool process and beat (started a few seconds after the web server)
    old_processes = service.poll(lambda: _celery_processes(service, at_least=3), 60, "the worker's processes")
    assert first[0] in old_processes, old_processes
    os.kill(first[0], signal.SIGKILL)
    service.poll(lambda: len(_worker_pids(service)) == 2, 30, "a new worker")
    assert "exited; starting a new one" in service.log_text()
    assert not old_processes & _celery_processes(service)  # no orphan of the dead one left
    assert _submit_and_wait(service, _student_token(service))["attempt_number"] == 1
    _stop_and_check(service.process)


def _worker_pids(service) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker \(pid (\d+)\) logs to", service.log_text())]


def _celery_processes(service, at_least: int = 0) -> set[int]:
    """Pids of the Celery processes of this service (their command line names its var dir); an
    empty set while there are fewer than `at_least`."""
    marker = f"{service.var_dir}/celerybeat-schedule".encode()
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue  # ended meanwhile
            if marker in cmdline and b"celery" in cmdline:
                pids.add(int(entry))
    return pids if len(pids) >= at_least else set()
