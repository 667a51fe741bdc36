"""`manage.py`'s entry: Django's command line, with a clear message instead of a traceback when
the database is not migrated (a command run before the first `make run`, or after an update
that added a migration)."""

from __future__ import annotations

import sys

from django.core.management import execute_from_command_line
from django.db import DatabaseError


def main(argv: list[str]) -> int:
    try:
        execute_from_command_line(argv)
    except DatabaseError as exc:
        unapplied = _unapplied_migrations()
        if not unapplied:
            raise
        print(
            f"error: {exc}\nThe database {_database_name()} is not migrated ({len(unapplied)} migration(s) not "
            f"applied, first {unapplied[0]}). Run `python manage.py migrate` (`make run` does it), with the same "
            "AUTOGRADER_VAR_DIR or DATABASE_URL as this command.",
            file=sys.stderr,
        )
        return 1
    return 0


def _unapplied_migrations() -> list[str]:
    """The migrations the database lacks, as "app.name"; [] when it cannot tell."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        return []
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _database_name() -> str:
    from django.conf import settings

    return str(settings.DATABASES["default"].get("NAME", ""))
