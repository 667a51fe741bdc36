"""scripts/run_service.sh (what `make run` calls) starts, serves, grades and stops cleanly.

Runs the embedded default (SQLite, filesystem broker, worker with embedded beat, gunicorn) in a
temporary var dir on a free port: polls /api/schema/, logs in for a token, submits answers
through the API and waits for the worker to grade them, then SIGTERMs the script and checks that
the web server and worker are gone too.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from helpers_service import STUDENT_PASSWORD, group_alive, request, running_service

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

    status, body = request(f"{base}/api/auth/token/", {"username": "demo-student", "password": STUDENT_PASSWORD})
    assert status == 200, body
    token = body["token"]
    status, body = request(f"{base}/api/courses/", token=token)
    assert status == 200 and "demo" in json.dumps(body)

    question_id = service.question_id("forward_neuron")
    status, variant = request(f"{base}/api/questions/{question_id}/variant/", token=token)
    assert status == 200 and "answers" not in variant, variant
    answers = {field["name"]: "0.5" for field in variant["fields"]}
    status, accepted = request(f"{base}/api/questions/{question_id}/submissions/", {"answers": answers}, token=token)
    assert status == 202, accepted

    def graded():
        code, submission = request(accepted["url"], token=token)
        return submission if code == 200 and submission["status"] == "graded" else None

    submission = service.poll(graded, 30, "the embedded worker to grade the submission")
    assert submission["attempt_number"] == 1 and submission["score"] is not None

    process.send_signal(signal.SIGTERM)  # the script only: its trap stops web and worker
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(process.pid), "web server or worker survived the script"
