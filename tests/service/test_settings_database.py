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
