"""Suite-wide test setup: which database, which services, Celery eager by default, small factories.

- The database comes from DATABASE_URL: scripts/run_tests.sh points it at the local PostgreSQL
  when one answers (pytest-django then creates test_<name>), else the suite runs on SQLite.
- Tests marked `integration` need PostgreSQL, Redis and a Celery worker executable. When one is
  missing they are skipped locally and FAIL under CI=true, naming what is missing.
- Everything else runs Celery eagerly (a task runs in-process when sent), so no test writes to a
  broker by accident; the integration fixtures point the app at a real Redis instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parent.parent

# Property tests draw the same examples on every run (a CI run must not pass or fail by luck);
# HYPOTHESIS_PROFILE=explore draws fresh ones, to hunt for new counterexamples locally.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
IN_CI = os.environ.get("CI") == "true"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def redis_url() -> str:
    """The Redis server integration tests use (a database number is chosen per run)."""
    return os.environ.get("AUTOGRADER_TEST_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def celery_executable() -> str | None:
    candidate = Path(sys.executable).with_name("celery")
    return str(candidate) if candidate.exists() else shutil.which("celery")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@cache
def missing_services() -> tuple[str, ...]:
    """Names of the services the integration tests need but cannot reach."""
    from django.conf import settings

    missing = []
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        missing.append("PostgreSQL (DATABASE_URL does not select PostgreSQL; tests run on SQLite)")
    elif not _reachable(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)):
        missing.append(f"PostgreSQL at {db.get('HOST')}:{db.get('PORT')} (not reachable)")
    parsed = urlparse(redis_url())
    if not _reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        missing.append(f"Redis at {redis_url()} (not reachable)")
    if celery_executable() is None:
        missing.append("a Celery worker (no `celery` executable next to the Python interpreter)")
    return tuple(missing)


def pytest_report_header(config):
    from django.conf import settings

    db = settings.DATABASES["default"]
    return [f"database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('NAME')}; redis for integration: {redis_url()}"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("integration") is None:
        return
    missing = missing_services()
    if missing:
        message = "integration test needs: " + "; ".join(missing)
        if IN_CI:
            pytest.fail(message + " (CI=true: integration tests must run)", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _celery_eager():
    """Run tasks in-process unless a test switches the app to a real broker."""
    from autograder.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True, scope="session")
def _fixed_variant_secret():
    """The same variant seeds on every machine and run: a failure that depends on a student's
    numbers reproduces (development keys are random per checkout, var/secret_key)."""
    from django.test.utils import override_settings

    with override_settings(AUTOGRADER_VARIANT_SECRET="tests: a fixed variant secret"):
        yield


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """PBKDF2 costs ~0.3 s per user; tests need working passwords, not slow ones."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def require_sandbox() -> None:
    """Skip, or FAIL under CI=true, unless bubblewrap can run student code on this machine."""
    from autograder.sandbox import sandbox_available

    ok, reason = sandbox_available()
    if not ok:
        if IN_CI:
            pytest.fail(f"the sandbox must work under CI=true, but: {reason}")
        pytest.skip(f"sandbox unavailable: {reason}")


@pytest.fixture(scope="session")
def redis_server_executable() -> str:
    """Skip, or FAIL under CI=true, unless `redis-server` is installed (a test restarts its own)."""
    found = shutil.which("redis-server")
    if found is None:
        message = "no redis-server executable (Debian package redis-server; scripts/install_system_deps.sh installs it)"
        if IN_CI:
            pytest.fail(message + " (CI=true: integration tests must run)")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def integration_redis_url() -> str:
    return redis_url()


@pytest.fixture(scope="session")
def celery_bin() -> str | None:
    return celery_executable()


# --- small factories shared by the service tests ---------------------------------------------


@pytest.fixture
def make_user(db):
    from django.contrib.auth import get_user_model

    def make(username: str, **extra):
        return get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)

    return make


@pytest.fixture
def course(db):
    from exercises.models import Course

    return Course.objects.create(code="nn101", title="Neural networks")


def make_member(make_user, course, username: str, role: str):
    """A new user with that role in the course."""
    from exercises.models import Membership

    user = make_user(username)
    Membership.objects.create(user=user, course=course, role=role)
    return user


@pytest.fixture
def instructor(make_user, course):
    return make_member(make_user, course, "teacher", "instructor")


@pytest.fixture
def ta(make_user, course):
    return make_member(make_user, course, "tina", "ta")


@pytest.fixture
def student(make_user, course):
    return make_member(make_user, course, "alice", "student")


@pytest.fixture
def problem_set(course):
    """Released an hour ago, due in a day, late until two days at a 50% penalty."""
    from django.utils import timezone

    from exercises.models import ProblemSet

    now = timezone.now()
    return ProblemSet.objects.create(
        course=course,
        title="Week 1",
        release_at=now - timedelta(hours=1),
        due_at=now + timedelta(days=1),
        late_until=now + timedelta(days=2),
        late_penalty=0.5,
    )


@pytest.fixture
def make_question(problem_set):
    from exercises.models import Question

    def make(kind: str = "forward_neuron", **fields):
        fields.setdefault("points", 10.0)
        return Question.objects.create(problem_set=problem_set, kind=kind, **fields)

    return make
