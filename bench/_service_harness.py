"""Plumbing for bench/bench_service.py: a throw-away PostgreSQL database, a claimed Redis database
number, server processes in their own process groups, readiness waits, CPU accounting from /proc
and percentiles. Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_BASE_URL = "redis://127.0.0.1:6379"
# The same marker the integration tests use (tests/service/helpers_worker.py), so a test run and
# a bench run never pick the same Redis database number.
REDIS_CLAIM_KEY = "autograder-integration-tests"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- PostgreSQL ------------------------------------------------------------------------------


class PgDatabase:
    """CREATE DATABASE on construction; drop() (WITH (FORCE): other sessions are cut) at the end."""

    def __init__(self, name: str):
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        self.name = name
        self.url = f"postgres://postgres@127.0.0.1:5432/{name}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)

    def stats(self) -> dict[str, int]:
        """Counters of pg_stat_database for this database (sessions, commits, rows)."""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT sessions, xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted,"
                " tup_updated FROM pg_stat_database WHERE datname = %s",
                (self.name,),
            ).fetchone()
        keys = ("sessions", "xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
        return dict(zip(keys, (int(v or 0) for v in row), strict=True)) if row else dict.fromkeys(keys, 0)

    def table_scans(self) -> dict[str, tuple[int, int, int]]:
        """{table: (seq_scan, seq_tup_read, idx_scan)} for the tables of this database."""
        with self.connect() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            rows = conn.execute(
                "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) FROM pg_stat_user_tables"
            ).fetchall()
        return {name: (int(a), int(b), int(c)) for name, a, b, c in rows}

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def pg_setting(name: str) -> str:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return str(conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0])


# --- Redis -----------------------------------------------------------------------------------


class RedisDatabase:
    """A Redis database number (15..1) claimed with a marker key, flushed before and after."""

    def __init__(self, base_url: str = REDIS_BASE_URL):
        for number in range(15, 0, -1):
            client = redis.Redis.from_url(f"{base_url}/{number}", socket_timeout=5)
            if client.set(REDIS_CLAIM_KEY, f"bench:{os.getpid()}", nx=True, ex=900):
                self.number, self.client, self.url = number, client, f"{base_url}/{number}"
                self.flush()
                return
            client.close()
        raise RuntimeError("every Redis database 1-15 is claimed (by test or bench runs)")

    def flush(self) -> None:
        self.client.flushdb()
        self.client.set(REDIS_CLAIM_KEY, f"bench:{os.getpid()}", ex=900)

    def commands_processed(self) -> int:
        return int(self.client.info("stats")["total_commands_processed"])

    def blocked_consumers(self) -> int:
        """Clients of this database waiting in BRPOP (a Celery worker consuming its queues)."""
        return sum(
            1 for c in self.client.client_list() if int(c.get("db", -1)) == self.number and c.get("cmd") == "brpop"
        )

    def release(self) -> None:
        self.client.flushdb()  # also removes the claim marker
        self.client.close()


# --- processes -------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).

    When a worker replaces its sandbox, bubblewrap's inner process (which has reaped the fork
    server and so carries its CPU time) outlives the outer one and is re-parented. To the VM's
    init it would be reaped at some unknown moment and its CPU time lost from the "sandbox"
    line; re-parented to the bench it stays a zombie with readable times until
    `reap_orphans` at the end.
    """
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_orphans() -> None:
    """Reap whatever `adopt_orphans` collected (call after every service has stopped)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Service:
    """One server command in its own session / process group, output to a log file.

    stop(): SIGTERM to the group, SIGKILL whatever is left after `grace` seconds. If the bench
    process itself dies, the group leader gets SIGTERM (PR_SET_PDEATHSIG).
    """

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name, self.command, self.env, self.log_path = name, command, env, log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # started before any thread exists
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]

    def stop(self, grace: float = 8.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # stray children of the group, even if the leader exited
        if self.process.poll() is None:
            self.process.wait(timeout=10)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def http_answers(url: str) -> bool:
    """Any HTTP status (a 401 included) means the server is serving."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


# --- CPU accounting from /proc ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces; it is enclosed in the first "(" and the last ")".
    return [text[: text.index(" ")], text[text.index("(") + 1 : text.rindex(")")], *text[text.rindex(")") + 2 :].split()]


def _all_pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def cpu_seconds_by_group(pgids: dict[str, Iterable[int]], sandbox_starters: Iterable[str] = ("worker",)) -> dict[str, float]:
    """CPU time (user + system, seconds) per named set of process groups, plus "postgres"
    (every postgres process, with the postmaster's reaped children), "redis" and "sandbox"
    (bubblewrap and the fork servers it runs, with the student children they reaped; bwrap
    starts a new session, so they are in none of the workers' groups).

    CPU of processes that ended between two snapshots is kept through whoever reaped them: a
    recycled fork server through its bwrap, a replaced sandbox through the Celery worker that
    started it (the reaped time of the `sandbox_starters` groups counts as "sandbox": with the
    bench's solo pool a worker's only children are its sandboxes). Without that, a sandbox
    replaced mid-phase made the "sandbox" line negative and its CPU showed up under "other
    processes"."""
    starters = set(sandbox_starters)
    wanted = {pgid: name for name, ids in pgids.items() for pgid in ids}
    totals = dict.fromkeys([*pgids, "postgres", "redis", "sandbox"], 0.0)
    for pid in _all_pids():
        f = _stat_fields(pid)
        if f is None:
            continue
        comm, pgrp = f[1], int(f[4])
        # fields (1-based in proc(5)): 14 utime, 15 stime, 16 cutime, 17 cstime
        own = (int(f[13]) + int(f[14])) / CLK_TCK
        reaped = (int(f[15]) + int(f[16])) / CLK_TCK
        if pgrp in wanted:
            totals[wanted[pgrp]] += own
            if wanted[pgrp] in starters:
                totals["sandbox"] += reaped
            if pid == pgrp:  # the group leader: gunicorn arbiter, Celery main (consumer) process
                leader = f"{wanted[pgrp]} (leaders)"
                totals[leader] = totals.get(leader, 0.0) + own
        elif comm == "postgres" or comm.startswith("postgres:"):
            # the postmaster also carries the CPU time of backends that have exited
            totals["postgres"] += own + (reaped if int(f[3]) == 1 or _is_postmaster(f) else 0.0)
        elif comm.startswith("redis-server"):
            totals["redis"] += own
        elif comm == "bwrap":
            totals["sandbox"] += own + reaped
        elif _parent_comm(f) == "bwrap":  # a fork server: the children it forked are reaped
            totals["sandbox"] += own + reaped
    return totals


def _parent_comm(fields: list[str]) -> str | None:
    parent = _stat_fields(int(fields[3]))
    return None if parent is None else parent[1]


def _is_postmaster(fields: list[str]) -> bool:
    parent = _stat_fields(int(fields[3]))
    return parent is None or not parent[1].startswith("postgres")


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all CPUs, not idle/iowait), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# --- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list; nan when empty."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)
