"""Helpers for the integration tests: real Celery worker processes, a private Redis database.

A `Worker` is `celery -A autograder.celery worker` in its own process group (start_new_session),
so `kill()` (SIGKILL) and `stop()` (SIGTERM, then SIGKILL) reach the pool children and an
embedded beat too. Readiness is the "<name>@<host> ready." line in its log file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import redis

REPO = Path(__file__).resolve().parents[2]
CLAIM_KEY = "autograder-integration-tests"
CLEARED_ENV = ("CELERY_TASK_ALWAYS_EAGER", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "AUTOGRADER_TEST_GRADING_DELAY")


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll until predicate() is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to (the test database in a test)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class RedisDatabase:
    """A Redis database number (1-15) claimed for this test run with a marker key, then flushed."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        for number in range(15, 0, -1):
            client = redis.Redis.from_url(f"{self.base_url}/{number}", socket_timeout=5)
            if client.set(CLAIM_KEY, os.getpid(), nx=True, ex=1800):
                self.number, self.client = number, client
                self.flush()
                return
        raise RuntimeError("every Redis database 1-15 is claimed by another test run")

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.number}"

    def flush(self) -> None:
        """FLUSHDB: the broker forgets every message (our database only, not other runs')."""
        self.client.flushdb()
        self.client.set(CLAIM_KEY, os.getpid(), ex=1800)

    def queue_length(self, queue: str = "celery") -> int:
        return int(self.client.llen(queue))

    def release(self) -> None:
        self.client.flushdb()
        self.client.close()


class RedisServer:
    """A private `redis-server` on a free port, nothing kept on disk: kill() and start() again
    is a Redis restart that forgets every message (as the machine's own Redis does)."""

    def __init__(self, executable: str, directory: Path):
        self.port = free_port()
        self.command = [
            executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(directory), "--daemonize", "no", "--logfile", str(directory / "redis.log"),
        ]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.process.returncode}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(answers, 10, f"redis-server on port {self.port}")
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL: every connection drops, every message is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class Worker:
    """One `celery worker` process (optionally with embedded beat) and its log file."""

    def __init__(self, name: str, celery: str, env: dict, directory: Path, concurrency: int = 1, beat: bool = False):
        self.name, self.env, self.directory = name, env, directory
        self.log_path = directory / f"{name}.log"
        command = [
            celery, "-A", "autograder.celery", "worker", "-n", f"{name}@%h", "-c", str(concurrency),
            "-P", "prefork", "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        if beat:
            command += ["-B", "-s", str(directory / f"{name}-beat-schedule")]
        self.command = command
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self, timeout: float = 30) -> Worker:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_for(ready, timeout, f"worker {self.name} to be ready (log {self.log_path})")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: main process, pool children, beat."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, grace: float = 8) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left after `grace` seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal_group(signal.SIGKILL)  # stray pool children, even if the main one exited
        if self.process.poll() is None:
            self.process.wait(timeout=10)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)  # the group this worker leads (start_new_session)
        except ProcessLookupError:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def celery_sending_to(app, broker_url: str, monkeypatch):
    """The test process sends real grading messages to `broker_url` (not eagerly), then back.

    CELERY_BROKER_URL is cleared for the duration: Celery's broker_url reads it first."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    names = ("broker_url", "broker_transport_options", "task_always_eager")
    saved = {name: app.conf[name] for name in names}
    app.conf.update(broker_url=broker_url, broker_transport_options={"visibility_timeout": 3600}, task_always_eager=False)
    reset_producer_pools(app)
    try:
        yield
    finally:
        reset_producer_pools(app)
        app.conf.update(saved)


def reset_producer_pools(app) -> None:
    """Drop cached broker connections so the next send uses the current broker_url.

    kombu shares producer pools per connection URL process-wide, so those are reset as well.
    """
    kombu.pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def worker_env(database: str, broker: str, var_dir: Path, **extra: str) -> dict:
    """The environment of a worker: our test database and Redis, a private var dir, INFO logs."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(
        DATABASE_URL=database,
        CELERY_BROKER_URL=broker,
        AUTOGRADER_VAR_DIR=str(var_dir),
        AUTOGRADER_LOG_LEVEL="INFO",
        DJANGO_SETTINGS_MODULE="autograder.settings",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env
