#!/usr/bin/env bash
# The whole suite: lint, the nncore import boundary, then pytest.
# Uses PostgreSQL and Redis on 127.0.0.1 when they answer (always under CI=true, where the
# integration tests fail rather than skip if a service is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

.venv/bin/ruff check nncore autograder exercises tests bench
.venv/bin/lint-imports

exec "$PY" -m pytest "$@"
