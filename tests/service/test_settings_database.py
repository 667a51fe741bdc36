"""Database settings from the environment: PostgreSQL prepares the hot statements unless told not to."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PG_URL = "postgres://postgres@127.0.0.1:5432/anything"


def database_options(**env: str) -> dict:
    """settings.DATABASES["default"] as a fresh process computes it from `env` (no connection made)."""
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTOGRADER_PG_PREPARED_STATEMENTS")}
    full.update(env, DJANGO_SETTINGS_MODULE="autograder.settings")
    code = "import json; from django.conf import settings; print(json.dumps(settings.DATABASES['default'], default=str))"
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_postgresql_uses_prepared_statements_by_default():
    database = database_options(DATABASE_URL=PG_URL)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["OPTIONS"]["server_side_binding"] is True
    assert database["OPTIONS"]["prepare_threshold"] == 5


@pytest.mark.parametrize("off", ["0", "false", "no"])
def test_prepared_statements_can_be_turned_off_for_a_transaction_pooler(off):
    options = database_options(DATABASE_URL=PG_URL, AUTOGRADER_PG_PREPARED_STATEMENTS=off).get("OPTIONS", {})
    assert "prepare_threshold" not in options and "server_side_binding" not in options


def test_sqlite_gets_no_postgresql_options(tmp_path):
    database = database_options(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert "prepare_threshold" not in database["OPTIONS"]
    assert database["OPTIONS"]["timeout"] == 20
    # writers wait for each other from the start of a transaction (tests/service/test_run_service.py)
    assert database["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert database["OPTIONS"]["init_command"] == "PRAGMA journal_mode=WAL;"


def test_the_embedded_broker_looks_for_messages_often(tmp_path):
    """kombu's filesystem transport sleeps `polling_interval` whenever it finds nothing to take,
    which with one task in flight per worker process is after every task: its default of 1 s held
    the embedded default to ~2 gradings/s. Read back from the transport kombu builds, so a
    misspelt option name (silently ignored by kombu) fails here."""
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL")}
    full.update(DJANGO_SETTINGS_MODULE="autograder.settings", AUTOGRADER_VAR_DIR=str(tmp_path))
    code = (
        "from autograder.celery import app; connection = app.connection_for_read(); "
        "print(connection.transport.driver_type, connection.transport.polling_interval)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, check=True)
    driver, interval = done.stdout.split()
    assert driver == "filesystem" and float(interval) <= 0.1, done.stdout


def test_a_command_on_a_database_not_yet_migrated_says_so_without_a_traceback(tmp_path):
    """`manage.py` before the first `make run` (QA): the SQLite file is new and empty."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    full.update(AUTOGRADER_VAR_DIR=str(tmp_path))
    command = [sys.executable, "manage.py", "shell", "-c", "from exercises.models import Course; Course.objects.count()"]
    done = subprocess.run(command, cwd=root, env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    assert f"The database {tmp_path / 'db.sqlite3'} is not migrated" in done.stderr
    assert "Run `python manage.py migrate`" in done.stderr
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=full, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    done = subprocess.run(command, cwd=root, env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
