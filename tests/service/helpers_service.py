"""The whole service as `make run` starts it (scripts/run_service.sh), for tests that use it from
outside: over HTTP, or in a real browser. Imported as `helpers_service`, like helpers_worker.

The embedded default (SQLite, filesystem broker, worker with embedded beat, gunicorn) runs in a
temporary var dir on a free port, in its own process group, which `running_service` kills on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STUDENT_PASSWORD = "student-pass-for-tests"
INSTRUCTOR_PASSWORD = "instructor-pass-for-tests"
# Variables of the test run that would send the service elsewhere than its embedded default.
NOT_PASSED_ON = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_DEBUG")


@dataclass
class RunningService:
    process: subprocess.Popen
    base: str  # http://127.0.0.1:PORT
    var_dir: Path
    log: Path

    def poll(self, predicate, timeout: float, what: str):
        """predicate()'s first true value within `timeout` s; fails with the log's tail if the
        script exits or time runs out (connection errors count as "not yet")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"run_service.sh exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                value = predicate()
            except (urllib.error.URLError, ConnectionError, OSError):
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log_tail()}")

    def wait_until_serving(self, timeout: float = 120) -> None:
        self.poll(lambda: request(f"{self.base}/api/schema/")[0] == 200, timeout, "the web server")

    def question_id(self, kind: str) -> int:
        """The demo course's question of this generator kind (read from the service's SQLite)."""
        with contextlib.closing(sqlite3.connect(self.var_dir / "db.sqlite3")) as db:
            (question_id,) = db.execute("select id from exercises_question where kind = ?", (kind,)).fetchone()
        return question_id

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, data: dict | None = None, token: str | None = None) -> tuple[int, dict | str]:
    """(status, JSON body or text) of a GET, or of a POST when `data` is given."""
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


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def running_service(var_dir: Path) -> Iterator[RunningService]:
    """scripts/run_service.sh started in `var_dir`; its process group is killed on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED_ON}
    env.update(
        AUTOGRADER_VAR_DIR=str(var_dir),
        AUTOGRADER_PORT=str(port),
        AUTOGRADER_WORKER_CONCURRENCY="1",
        AUTOGRADER_WEB_WORKERS="1",
        DEMO_STUDENT_PASSWORD=STUDENT_PASSWORD,
        DEMO_INSTRUCTOR_PASSWORD=INSTRUCTOR_PASSWORD,
    )
    log = var_dir / "run_service.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run_service.sh")],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield RunningService(process, f"http://127.0.0.1:{port}", var_dir, log)
    finally:
        if group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
