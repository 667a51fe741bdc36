"""Replace kept database connections the server has hung up on, before a request or task uses one.

Web threads and Celery workers keep their PostgreSQL connection between requests and tasks
(CONN_MAX_AGE, CELERY_DB_REUSE_MAX). A PostgreSQL restart or failover drops all of them, and the
first query on each then fails: a student's POST was a 500. Django's CONN_HEALTH_CHECKS finds
dropped connections with a `SELECT 1` round trip per request, which cost about a tenth of the
service's throughput (bench/bench_service.py). A server that hangs up sends its goodbye
(FATAL 57P01) and closes the socket, so an idle connection whose socket is readable is one to
replace: one zero-timeout poll, no round trip. (A connection lost without a word, say a network
partition, is still found by the query that fails: the API answers 503 (`connection_lost`), a
task fails and the sweeper sends it again.)
"""

from __future__ import annotations

import select

from django.db import connections


def close_hung_up_connections(**_signal_kwargs) -> int:
    """Close every idle PostgreSQL connection of this thread whose server has hung up or sent
    something unasked; the next query opens a new one. Returns how many were closed."""
    closed = 0
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.vendor != "postgresql" or conn.in_atomic_block:
            continue
        if raw.closed or raw.broken or _readable(raw):
            conn.close()
            closed += 1
    return closed


def _readable(raw) -> bool:
    """Whether the idle connection's socket has data or end-of-file waiting (never blocks)."""
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # no socket any more
        return True


def connection_lost() -> bool:
    """Whether this thread's database connection is gone (closed or broken by the server or the
    network), as opposed to a query that failed on a working connection (a lock, a timeout, a
    bug): what an OperationalError is worth a "retry" answer for."""
    raw = connections["default"].connection
    return raw is None or bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))
