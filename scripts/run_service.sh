#!/usr/bin/env bash
# Run the whole service in the foreground: migrate, seed the demo course (prints logins),
# a Celery worker with embedded beat (the stuck-submission sweeper) in the background, and the
# web server. Ctrl-C or SIGTERM stops both.
#
# Embedded default: SQLite and kombu's filesystem broker under $AUTOGRADER_VAR_DIR (./var);
# DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis. Web: gunicorn on
# $AUTOGRADER_HOST:$AUTOGRADER_PORT (127.0.0.1:8000), or `manage.py runserver` when DJANGO_DEBUG
# is set to a true value. Otherwise DEBUG is off here, as for any server people use: Django's
# debug pages show tracebacks, local variables and settings to whoever sends a bad request.
set -euo pipefail
export DJANGO_DEBUG=${DJANGO_DEBUG:-0}
cd "$(dirname "$0")/.."
BIN=${AUTOGRADER_BIN:-.venv/bin}
HOST=${AUTOGRADER_HOST:-127.0.0.1}
PORT=${AUTOGRADER_PORT:-8000}
export AUTOGRADER_VAR_DIR=${AUTOGRADER_VAR_DIR:-$PWD/var}
VAR=$AUTOGRADER_VAR_DIR
mkdir -p "$VAR/broker/queue" "$VAR/broker/processed"

"$BIN/python" manage.py migrate --noinput -v 0
"$BIN/python" manage.py collectstatic --noinput -v 0
"$BIN/python" manage.py seed_demo
"$BIN/python" manage.py sandbox_status || true  # says how student code runs (sandboxed or not)

WORKER_PID=""
SERVER_PID=""
alive() {
    local pid
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}
stop() {  # graceful first (gunicorn finishes requests, Celery a warm shutdown), then SIGKILL
    trap - EXIT INT TERM
    local pids="$SERVER_PID $WORKER_PID" pid i
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 60; i++)); do
        alive $pids || break
        sleep 0.25
    done
    for pid in $pids; do
        pkill -KILL -P "$pid" 2>/dev/null || true  # its pool processes, if it did not stop them
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

start_worker() {
    "$BIN/celery" -A autograder.celery worker -B -s "$VAR/celerybeat-schedule" \
        --concurrency "${AUTOGRADER_WORKER_CONCURRENCY:-2}" --loglevel INFO >>"$VAR/worker.log" 2>&1 &
    WORKER_PID=$!
    echo "worker (pid $WORKER_PID) logs to $VAR/worker.log"
}
start_worker

debug=$(printf '%s' "$DJANGO_DEBUG" | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')  # as settings.env_bool reads it
case "$debug" in
    1|true|yes|on)
        "$BIN/python" manage.py runserver --noreload "$HOST:$PORT" &
        ;;
    *)
        # Recent gunicorn versions also open a control socket in ~/.gunicorn; two instances clash.
        extra=()
        if "$BIN/gunicorn" --help 2>/dev/null | grep -q -- --no-control-socket; then
            extra=(--no-control-socket)
        fi
        "$BIN/gunicorn" autograder.wsgi -b "$HOST:$PORT" --workers "${AUTOGRADER_WEB_WORKERS:-2}" \
            --threads "${AUTOGRADER_WEB_THREADS:-4}" \
            --access-logfile - ${extra[@]+"${extra[@]}"} &
        ;;
esac
SERVER_PID=$!
echo "serving on http://$HOST:$PORT/: open it in a browser and sign in with a demo login above (the web UI;"
echo "API docs at http://$HOST:$PORT/api/docs/); Ctrl-C stops web and worker"
# A worker that dies (killed, out of memory) is started again: the web server keeps taking
# submissions, and the sweeper re-sends what the dead one held. One that dies 5 times within a
# minute is broken, not unlucky: then, or when the web server exits, stop() ends both.
if (( BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 3) )); then
    wait "$SERVER_PID" || true  # no `wait -n` before bash 4.3: the worker is not watched
    exit 0
fi
restarts=()
while true; do
    wait -n || true  # any child's exit, or a trapped signal (stop() has then ended both)
    alive "$SERVER_PID" || break
    alive "$WORKER_PID" && continue
    now=$(date +%s)
    recent=()
    for t in ${restarts[@]+"${restarts[@]}"}; do (( now - t < 60 )) && recent+=("$t"); done
    restarts=(${recent[@]+"${recent[@]}"} "$now")
    if (( ${#restarts[@]} >= 5 )); then
        echo "worker exited 5 times within a minute; stopping (see $VAR/worker.log)"
        break
    fi
    pkill -KILL -f "celery -A autograder.celery worker -B -s $VAR/" 2>/dev/null || true  # its orphaned pool
    echo "worker (pid $WORKER_PID) exited; starting a new one"
    sleep 1
    start_worker
done
