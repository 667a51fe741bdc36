#!/usr/bin/env bash
# The whole suite: lint, the nncore import boundary, then pytest.
# Uses PostgreSQL and Redis on 127.0.0.1 when they answer (always under CI=true, where the
# integration tests fail rather than skip if a service is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

.venv/bin/ruff check nncore autograder exercises tests bench
.venv/bin/lint-imports

# Does something listen on host:port? (pg_isready when installed; a TCP connect otherwise.)
answers() {
    "$PY" -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()' \
        "$1" "$2" 2>/dev/null
}
postgres_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432 -t 2
    else
        answers 127.0.0.1 5432
    fi
}

# PostgreSQL when reachable: pytest-django creates (and drops) the database test_test.
if [ -z "${DATABASE_URL:-}" ] && postgres_answers; then
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
fi
# Redis for the integration tests only (each run takes its own database number and flushes it);
# unit tests run Celery eagerly and never touch a broker.
if [ -z "${AUTOGRADER_TEST_REDIS_URL:-}" ] && answers 127.0.0.1 6379; then
    export AUTOGRADER_TEST_REDIS_URL=redis://127.0.0.1:6379
fi
echo "run_tests: database ${DATABASE_URL:-sqlite (embedded)}; integration redis ${AUTOGRADER_TEST_REDIS_URL:-none}"

exec "$PY" -m pytest "$@"
