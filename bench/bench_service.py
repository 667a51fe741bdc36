"""End-to-end benchmark of numeric submissions: POST through gunicorn, Redis, the Celery worker and
PostgreSQL, until the row is graded.

Target (2-core machine): at least 200 graded submissions/s, with p95 submit-to-graded latency
under 300 ms at that load.

What it does (everything on 127.0.0.1, cleaned up on success, failure or Ctrl-C):
1. a fresh PostgreSQL database bench_autograder_<pid> (migrated, dropped at the end), a claimed
   Redis database number (flushed before and after), a temporary AUTOGRADER_VAR_DIR; a course,
   a problem set, three questions (forward_mlp, backprop_chain, softmax_probabilities) and
   --students students with API tokens (bulk-created, unusable passwords);
2. gunicorn (autograder.wsgi) and Celery worker(s) with DJANGO_ENV=production, each in its own
   process group;
3. every student's variant drawn through GET /api/questions/{id}/variant/, then, per phase,
   --submissions POSTs at an offered rate (open loop: sends are scheduled, not paced by replies;
   "max" enqueues them all at once) with the right answers (--wrong-fraction of them with one
   field perturbed), while a thread polls the database for finished rows;
4. per phase: graded/s, submit-to-graded latency from the database (graded_at - submitted_at),
   POST latency, errors, CPU per component (from /proc), PostgreSQL sessions/commits and Redis
   commands per submission, Celery task run times (worker log) and gunicorn request times.

    python bench/bench_service.py [--rates 200,max] [--submissions 2000] [--web-workers 1]
        [--web-threads 4] [--celery-workers CPUS] [--pool solo|prefork|threads] [--concurrency 1] [--profile]

Knobs also read environment defaults: BENCH_WEB_WORKERS, BENCH_WEB_THREADS, BENCH_CELERY_WORKERS,
BENCH_CONCURRENCY, BENCH_POOL, BENCH_CLIENTS. --profile adds an in-process breakdown (SQL per
POST and per grading, cProfile of both, cost of a new database connection). The servers take the
project's settings from the environment: AUTOGRADER_PG_PREPARED_STATEMENTS=0 compares without
PostgreSQL prepared statements.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import _service_harness as h  # noqa: E402
from _answers import perturb  # noqa: E402
from _machine_speed import speed_line  # noqa: E402

if str(h.REPO) not in sys.path:  # the project packages, however the script is started
    sys.path.insert(0, str(h.REPO))
import psycopg  # noqa: E402

TARGET_RATE = 200.0  # graded submissions per second
TARGET_P95_MS = 300.0  # submit-to-graded, at TARGET_RATE
KEPT_UP = 0.98  # a phase "keeps up" when its sustained graded rate is >= 98% of the offered rate
KINDS = ("forward_mlp", "backprop_chain", "softmax_probabilities")
FINISHED = ("graded", "rejected", "error")
CLEARED_ENV = (
    "CELERY_TASK_ALWAYS_EAGER", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL",
    "AUTOGRADER_TEST_GRADING_DELAY", "DJANGO_DEBUG", "DJANGO_SETTINGS_MODULE",
)
TASK_DONE = re.compile(r"Task autograder\.tasks\.grade_submission\[[^\]]+\] succeeded in ([0-9.e-]+)s")
ACCESS_LINE = re.compile(r"^BENCH (\S+) (\S+) (\d{3}) (\d+)$", re.M)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="200,max", help="offered rates per phase, comma-separated; 'max' = all at once")
    p.add_argument("--submissions", type=int, default=2000, help="submissions per phase")
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--warmup", type=int, default=150, help="unmeasured submissions before the phases")
    p.add_argument("--wrong-fraction", type=float, default=0.2, help="share of submissions with one wrong field")
    # defaults: the best of the configurations measured on the 2-core machine (see the report).
    # Fewer processes, less CPU per submission (context switches are dear on this VM): one
    # gunicorn process of 4 threads (2: 164-234 graded/s all at once, 3.2-4.8 ms web CPU per
    # submission; 1: 192-251/s, 3.2-3.9 ms, alternately within one hour) and one solo Celery
    # worker per core (3 on 2 cores: 141-148 graded/s against 144-181 with 2).
    p.add_argument("--web-workers", type=int, default=env_int("BENCH_WEB_WORKERS", 1))
    p.add_argument("--web-threads", type=int, default=env_int("BENCH_WEB_THREADS", 4), help=">1 selects gthread (keep-alive)")
    p.add_argument(
        "--celery-workers", type=int, default=env_int("BENCH_CELERY_WORKERS", os.cpu_count() or 2), help="worker processes (-n)"
    )
    p.add_argument("--concurrency", type=int, default=env_int("BENCH_CONCURRENCY", 1), help="per Celery worker")
    p.add_argument("--pool", default=os.environ.get("BENCH_POOL", "solo"), choices=["prefork", "solo", "threads"])
    p.add_argument("--worker-loglevel", default="INFO", help="INFO logs one line per task (used for task times)")
    p.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True, help="gunicorn access log (request times)")
    p.add_argument("--clients", type=int, default=env_int("BENCH_CLIENTS", 48), help="client sender threads")
    p.add_argument("--drain-timeout", type=float, default=45.0, help="seconds to wait for a phase's backlog")
    p.add_argument("--time-limit", type=float, default=170.0, help="skip remaining phases after this many seconds")
    p.add_argument(
        "--what-if-db-reuse", type=int, default=0, metavar="N",
        help="experiment, not the project's configuration: workers keep their database connection "
        "(CELERY_DB_REUSE_MAX=N set on the Celery app by a start-up shim)",
    )
    p.add_argument(
        "--question", action="append", metavar="KIND[:key=value,...]",
        help="a question of the problem set (repeat for several); default: " + ", ".join(KINDS),
    )
    p.add_argument("--target-rate", type=float, default=TARGET_RATE, help="graded/s the verdict asks for")
    p.add_argument(
        "--target-p95-ms", type=float, default=TARGET_P95_MS, help="p95 submit-to-graded at that rate; 0: none"
    )
    p.add_argument("--profile", action="store_true", help="in-process SQL counts and cProfile of POST and grading")
    p.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with the server logs")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    args.rate_list = []
    for item in args.rates.split(","):
        item = item.strip().lower()
        if item:
            args.rate_list.append(None if item == "max" else float(item))
    if not args.rate_list or any(r is not None and r <= 0 for r in args.rate_list):
        p.error("--rates needs positive numbers or 'max'")
    try:
        args.questions = [parse_question(spec) for spec in (args.question or KINDS)]
    except ValueError as error:
        p.error(str(error))
    if args.pool == "solo" and args.concurrency != 1:
        args.concurrency = 1
    return args


def parse_question(spec: str) -> tuple[str, dict]:
    """"kind" or "kind:key=value,key=value" -> (kind, params); values as JSON where they parse."""
    kind, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--question {spec!r}: parameters are key=value")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return kind.strip(), params


# --- the client side -------------------------------------------------------------------------


@dataclass
class Job:
    path: str
    token: str
    body: bytes


@dataclass
class Sent:
    scheduled: float
    start: float
    end: float
    status: int | str
    submission_id: int | None


@dataclass
class Finished:
    status: str
    submitted_at: float
    grading_started_at: float | None
    graded_at: float | None
    score: float | None


class Poller(threading.Thread):
    """Polls the database for finished submissions among those the client got a 202 for.

    Every figure comes from the rows' own timestamps, so the interval only decides how soon a
    phase sees its end; each poll costs PostgreSQL one index probe per pending id, which with a
    backlog of hundreds every 50 ms was the bench loading the server it measures.
    """

    def __init__(self, db_url: str, interval: float = 0.25):
        super().__init__(name="db-poller", daemon=True)
        self.db_url, self.interval = db_url, interval
        self.lock = threading.Lock()
        self.pending: set[int] = set()
        self.done: dict[int, Finished] = {}
        self.halt = threading.Event()
        self.failure: BaseException | None = None

    def add(self, submission_id: int) -> None:
        with self.lock:
            self.pending.add(submission_id)

    def outstanding(self, ids: set[int]) -> int:
        with self.lock:
            return sum(1 for i in ids if i not in self.done)

    def run(self) -> None:
        try:
            with psycopg.connect(self.db_url, autocommit=True) as conn:
                # primary-key lookups only: no scan of the growing table on the bench's account
                conn.execute("SET enable_seqscan = off")
                conn.execute("SET enable_bitmapscan = off")
                while not self.halt.is_set():
                    with self.lock:
                        ids = list(self.pending)
                    if ids:
                        rows = conn.execute(
                            "SELECT id, status, submitted_at, grading_started_at, graded_at, score"
                            " FROM exercises_submission WHERE id = ANY(%s) AND status = ANY(%s)",
                            (ids, list(FINISHED)),
                        ).fetchall()
                        with self.lock:
                            for sid, status, sub_at, start_at, graded_at, score in rows:
                                self.done[sid] = Finished(
                                    status,
                                    sub_at.timestamp(),
                                    start_at.timestamp() if start_at else None,
                                    graded_at.timestamp() if graded_at else None,
                                    score,
                                )
                                self.pending.discard(sid)
                    self.halt.wait(self.interval)
        except BaseException as exc:  # reported by the phase that waits for us
            self.failure = exc


# What reusing a kept-alive connection the server has just closed (idle timeout) raises; the
# request was never read, so HTTP clients send it again on a new connection (as urllib3 does).
STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def send_all(jobs: list[Job], rate: float | None, port: int, clients: int, poller: Poller, deadline: float) -> list[Sent | None]:
    """Open loop: job i is due at t0 + i/rate (all at t0 for max rate); `clients` threads send."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    sent: list[Sent | None] = [None] * len(jobs)

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while (item := work.get()) is not None:
                index, scheduled = item
                job = jobs[index]
                headers = {
                    "Authorization": f"Token {job.token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                }
                start = time.time()
                status: int | str
                submission_id = None
                reused = conn.sock is not None
                while True:
                    try:
                        conn.request("POST", job.path, job.body, headers)
                        response = conn.getresponse()
                        data = response.read()
                        status = response.status
                        if status == 202:
                            submission_id = int(json.loads(data)["id"])
                    except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                        status = type(exc).__name__
                        conn.close()
                        if reused and isinstance(exc, STALE_CONNECTION):
                            reused = False  # the server closed a kept-alive connection unread: once more
                            continue
                    break
                end = time.time()
                if submission_id is not None:
                    poller.add(submission_id)
                sent[index] = Sent(scheduled, start, end, status, submission_id)
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, name=f"sender-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t0 = time.time() + 0.02
    for index in range(len(jobs)):
        due = t0 + index / rate if rate else t0
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        work.put((index, due))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.time()))
    return sent


# --- setup -----------------------------------------------------------------------------------


def setup_django(env: dict[str, str]) -> None:
    """Configure this process like the servers (production settings, our database and Redis)."""
    os.environ.update(env)
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"  # testserver: the --profile client
    os.environ["DJANGO_SETTINGS_MODULE"] = "autograder.settings"
    os.environ["AUTOGRADER_LOG_LEVEL"] = "WARNING"  # no per-submission log lines from --profile
    import django

    django.setup()


def create_course(students: int, questions: list[tuple[str, dict]]) -> tuple[list[int], dict[int, str]]:
    """Migrate, then a course with one open problem set, the questions (kind, params) and the students.

    Returns (question ids, {student id: token}).
    """
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from exercises.models import Course, Membership, ProblemSet, Question

    call_command("migrate", verbosity=0, interactive=False)
    user_model = get_user_model()
    now = timezone.now()
    course = Course.objects.create(code="bench", title="Benchmark course")
    problem_set = ProblemSet.objects.create(
        course=course, title="Bench week", release_at=now - timedelta(hours=1),
        due_at=now + timedelta(days=1), late_until=None, late_penalty=0.0,
    )
    created = [
        Question.objects.create(
            problem_set=problem_set, position=i, kind=kind, params=params, points=10.0, max_attempts=None
        )
        for i, (kind, params) in enumerate(questions)
    ]
    unusable = make_password(None)  # one unusable hash for all: no login, no hashing cost
    users = user_model.objects.bulk_create(
        [user_model(username=f"bench{i:05d}", password=unusable) for i in range(students)]
    )
    Membership.objects.bulk_create(
        [Membership(user=u, course=course, role=Membership.Role.STUDENT) for u in users]
    )
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users])
    return [q.pk for q in created], {t.user_id: t.key for t in tokens}


def draw_variants(port: int, question_ids: list[int], tokens: dict[int, str], threads: int = 8) -> Counter:
    """GET every student's variant of every question through the API; status counts."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for token in tokens.values():
        for qid in question_ids:
            work.put((qid, token))
    statuses: Counter = Counter()
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                try:
                    qid, token = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    conn.request("GET", f"/api/questions/{qid}/variant/", headers={"Authorization": f"Token {token}"})
                    response = conn.getresponse()
                    response.read()
                    status: int | str = response.status
                except (OSError, http.client.HTTPException) as exc:
                    status = type(exc).__name__
                    conn.close()
                with lock:
                    statuses[status] += 1
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    return statuses


@dataclass
class Answers:
    right: dict  # what a student who got everything right submits
    mistake: dict | None  # a typical mistake's complete answers (code questions), else None


def load_answers(db: h.PgDatabase) -> dict[tuple[int, int], Answers]:
    """{(question id, student id): Answers}, read straight from the frozen instances.

    A code field's stored answer holds the reference source and its cases: the source is what a
    student submits; the wrong submission is the first misconception's code.
    """
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT question_id, student_id, instance -> 'answers', instance -> 'misconceptions' -> 0 -> 'answers'"
            " FROM exercises_variant"
        ).fetchall()
    out = {}
    for q, s, answers, mistake in rows:
        right = {k: v["source"] if isinstance(v, dict) and "source" in v else v for k, v in answers.items()}
        has_code = any(isinstance(v, dict) for v in answers.values())
        out[(q, s)] = Answers(right, mistake if has_code else None)
    return out


def make_jobs(
    count: int, pairs: list[tuple[int, int]], answers: dict, tokens: dict[int, str], wrong: float, rng: random.Random, offset: int
) -> list[Job]:
    jobs = []
    for i in range(count):
        qid, sid = pairs[(offset + i) % len(pairs)]
        known = answers[(qid, sid)]
        given = dict(known.right)
        if rng.random() < wrong:
            if known.mistake is not None:
                given = dict(known.mistake)
            else:
                name = rng.choice(sorted(given))
                given[name] = perturb(given[name])
        jobs.append(Job(f"/api/questions/{qid}/submissions/", tokens[sid], json.dumps({"answers": given}).encode()))
    return jobs


# --- servers ---------------------------------------------------------------------------------


def server_env(db_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        AUTOGRADER_VAR_DIR=str(var_dir),
        AUTOGRADER_LOG_LEVEL="INFO",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def gunicorn_command(args: argparse.Namespace, port: int, logs: Path) -> list[str]:
    exe = str(Path(sys.executable).with_name("gunicorn"))
    command = [exe, "autograder.wsgi", "-b", f"127.0.0.1:{port}", "--workers", str(args.web_workers)]
    if args.web_threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(args.web_threads)]
    command += ["--backlog", "2048", "--error-logfile", str(logs / "gunicorn-error.log")]
    if args.access_log:
        command += ["--access-logfile", str(logs / "gunicorn-access.log"), "--access-logformat", "BENCH %(m)s %(U)s %(s)s %(D)s"]
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False).stdout
    if "--no-control-socket" in help_text:  # two gunicorns on one machine would share ~/.gunicorn
        command.append("--no-control-socket")
    return command


# --what-if-db-reuse: the worker started through this shim instead of the `celery` script, with
# CELERY_DB_REUSE_MAX set on the app (what a settings.py line `CELERY_DB_REUSE_MAX = N` would do).
# Without it Celery's Django fixup closes the database connection before and after every task.
DB_REUSE_SHIM = (
    "import sys; from autograder.celery import app; "
    "app.conf.update(CELERY_DB_REUSE_MAX=int(sys.argv[1])); app.worker_main(sys.argv[2:])"
)


def celery_command(args: argparse.Namespace, index: int) -> list[str]:
    worker_args = [
        "worker", "-n", f"bench{index}-{os.getpid()}@%h",
        "-P", args.pool, "--concurrency", str(args.concurrency), "--prefetch-multiplier", "1",
        "-l", args.worker_loglevel, "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    if args.what_if_db_reuse:
        return [sys.executable, "-c", DB_REUSE_SHIM, str(args.what_if_db_reuse), *worker_args]
    return [str(Path(sys.executable).with_name("celery")), "-A", "autograder.celery", *worker_args]


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    client_cpu: float
    machine_cpu: float
    pg: dict[str, int]
    redis_commands: int
    scans: dict[str, tuple[int, int, int]]
    log_offsets: dict[str, int] = field(default_factory=dict)


def snapshot(groups: dict[str, list[int]], db: h.PgDatabase, rds: h.RedisDatabase, services: dict[str, h.Service]) -> Snapshot:
    return Snapshot(
        time.time(),
        h.cpu_seconds_by_group(groups),
        h.self_cpu_seconds(),
        h.machine_busy_seconds(),
        db.stats(),
        rds.commands_processed(),
        db.table_scans(),
        {name: s.log_size() for name, s in services.items()},
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def pcts(values: list[float], qs: tuple[float, ...] = (50, 95, 99)) -> str:
    if not values:
        return "n/a"
    parts = [f"p{q:g} {ms(h.percentile(values, q))}" for q in qs]
    return "  ".join(parts) + f"  max {ms(max(values))}  (n={len(values)})"


def sustained_rate(times: list[float]) -> float:
    """Completions per second between the 10th and the 90th percentile completion times."""
    if len(times) < 20:
        return float("nan")
    data = sorted(times)
    lo, hi = int(len(data) * 0.1), int(len(data) * 0.9)
    span = data[hi] - data[lo]
    return (hi - lo) / span if span > 0 else float("inf")


@dataclass
class PhaseResult:
    label: str
    offered: float | None
    sustained: float
    p95_ms: float
    client_p95_ms: float
    unfinished: int
    errors: int
    kept_up: bool


def run_phase(
    label: str, rate: float | None, jobs: list[Job], ctx: dict, args: argparse.Namespace, deadline: float
) -> PhaseResult:
    poller: Poller = ctx["poller"]
    with ctx["db"].connect() as conn:  # fresh statistics, as a long-running database would have
        conn.execute("ANALYZE")
    before = snapshot(ctx["groups"], ctx["db"], ctx["redis"], ctx["services"])
    send_deadline = time.time() + (len(jobs) / rate if rate else 0) + 60
    sent = send_all(jobs, rate, ctx["port"], args.clients, poller, min(send_deadline, deadline))
    sent_ok = [s for s in sent if s is not None]
    ids = {s.submission_id for s in sent_ok if s.submission_id is not None}
    drain_until = min(time.time() + args.drain_timeout, deadline)
    while poller.outstanding(ids) and time.time() < drain_until:
        if poller.failure:
            raise RuntimeError(f"the database poller failed: {poller.failure!r}")
        for service in ctx["services"].values():
            service.check_alive()
        time.sleep(0.05)
    after = snapshot(ctx["groups"], ctx["db"], ctx["redis"], ctx["services"])
    with poller.lock:
        done = {i: poller.done[i] for i in ids if i in poller.done}

    # --- figures
    n = len(jobs)
    statuses = Counter(s.status for s in sent_ok)
    not_sent = n - len(sent_ok)
    errors = sum(c for st, c in statuses.items() if st != 202) + not_sent
    first_start = min((s.start for s in sent_ok), default=float("nan"))
    last_start = max((s.start for s in sent_ok), default=float("nan"))
    by_status = Counter(f.status for f in done.values())
    finished = [f for f in done.values() if f.graded_at is not None]
    graded_times = [f.graded_at for f in finished]
    sustained = sustained_rate(graded_times)
    overall = len(finished) / (max(graded_times) - first_start) if finished else float("nan")
    db_latency = [f.graded_at - f.submitted_at for f in finished]
    sent_by_id = {s.submission_id: s for s in sent_ok if s.submission_id is not None}
    e2e = [f.graded_at - sent_by_id[i].scheduled for i, f in done.items() if f.graded_at is not None]
    queue_wait = [f.grading_started_at - f.submitted_at for f in finished if f.grading_started_at]
    in_worker = [f.graded_at - f.grading_started_at for f in finished if f.grading_started_at]
    post = [s.end - s.start for s in sent_ok]
    client_wait = [s.start - s.scheduled for s in sent_ok]
    full_marks = sum(1 for f in done.values() if f.status == "graded" and f.score is not None and f.score >= 10.0 - 1e-9)
    p95 = h.percentile(db_latency, 95) * 1000 if db_latency else float("nan")
    unfinished = len(ids) - len(done)
    kept_up = bool(rate) and unfinished == 0 and errors == 0 and sustained >= KEPT_UP * rate

    offered = f"{rate:g}/s" if rate else "max (all enqueued at once, open loop)"
    print(f"\n== phase {label}: offered {offered}, {n} submissions, {args.clients} client threads")
    send_span = last_start - first_start
    print(
        f"  sent        {len(sent_ok)} in {send_span:.2f} s ({(len(sent_ok) - 1) / send_span if send_span > 0 else float('nan'):.1f}/s); "
        f"responses {dict(sorted(Counter(str(k) for k in statuses.elements()).items()))}; errors (non-202) {errors}"
    )
    print(
        f"  finished    {dict(by_status)} ({full_marks} with full marks); unfinished after drain {unfinished}"
    )
    print(
        f"  graded/s    {sustained:.1f} sustained (10th-90th percentile of graded_at), "
        f"{overall:.1f} overall (first POST -> last graded)"
    )
    print(f"  submit->graded (DB graded_at - submitted_at)   {pcts(db_latency)}")
    print(f"  scheduled POST -> graded (client clock)        {pcts(e2e)}")
    print(f"    queued (submitted_at -> grading_started_at) {pcts(queue_wait, (50, 95))}")
    print(f"    grading (grading_started_at -> graded_at)   {pcts(in_worker, (50, 95))}")
    print(f"  POST latency (client)                          {pcts(post)}")
    print(f"    client-side wait before sending             {pcts(client_wait, (50, 95))}")

    services: dict[str, h.Service] = ctx["services"]
    if args.access_log:
        access = ctx["access_log"]
        text = access.read_text(errors="replace")[ctx.setdefault("access_offset", 0) :]
        ctx["access_offset"] += len(text)
        server = [int(m.group(4)) / 1e6 for m in ACCESS_LINE.finditer(text) if m.group(1) == "POST"]
        print(f"  gunicorn POST request time (%(D)s)             {pcts(server, (50, 95))}")
    task_times = []
    for name, service in services.items():
        if name.startswith("worker"):
            task_times += [float(x) for x in TASK_DONE.findall(service.log_since(before.log_offsets[name]))]
    if task_times:
        print(f"  celery task run time ('succeeded in')          {pcts(task_times, (50, 95))}")

    wall = after.at - before.at
    count = max(1, len(finished))
    cpu = {k: after.cpu[k] - before.cpu.get(k, 0.0) for k in after.cpu if "(leaders)" not in k}
    leaders = {k: after.cpu[k] - before.cpu.get(k, 0.0) for k in after.cpu if "(leaders)" in k}
    cpu["bench client"] = after.client_cpu - before.client_cpu
    total = sum(cpu.values())
    # whatever else ran on the machine meanwhile (e.g. a test suite): it skews the figures
    cpu["other processes"] = max(0.0, (after.machine_cpu - before.machine_cpu) - total)
    ncpu = ctx["cpus"]
    print(f"  CPU over {wall:.1f} s ({ncpu} CPUs = {ncpu * wall:.1f} CPU-s available): ms per finished submission")
    print(
        "    " + ", ".join(f"{k} {v * 1000 / count:.2f}" for k, v in cpu.items())
        + f"; total of ours {total * 1000 / count:.2f} ms -> {total / (ncpu * wall) * 100:.0f}% of the machine"
    )
    print(
        "    of which group leaders (gunicorn arbiter; Celery main process = consumer + pool dispatch): "
        + ", ".join(f"{k.split()[0]} {v * 1000 / count:.2f}" for k, v in leaders.items())
    )
    pg = {k: after.pg[k] - before.pg[k] for k in after.pg}
    print(
        "  PostgreSQL per submission: "
        + ", ".join(f"{k} {v / count:.2f}" for k, v in pg.items())
        + f"; Redis commands per submission {(after.redis_commands - before.redis_commands) / count:.1f}"
    )
    scans = []
    for table, (seq, rows, idx) in sorted(after.scans.items()):
        seq0, rows0, idx0 = before.scans.get(table, (0, 0, 0))
        if seq - seq0 or idx - idx0:
            scans.append(
                f"{table.removeprefix('exercises_')} seq {(seq - seq0) / count:.2f} "
                f"({(rows - rows0) / count:.0f} rows) idx {(idx - idx0) / count:.2f}"
            )
    print("  table scans per submission: " + "; ".join(scans))
    client_p95 = h.percentile(e2e, 95) * 1000 if e2e else float("nan")
    return PhaseResult(label, rate, sustained, p95, client_p95, unfinished, errors, kept_up)


# --- in-process profile ----------------------------------------------------------------------


def profile_in_process(question_ids: list[int], tokens: dict[int, str], answers: dict, top: int = 18) -> None:
    """SQL per POST and per grading, cProfile of both, cost of a new database connection."""
    import cProfile
    import io
    import pstats
    import statistics

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from exercises import services
    from exercises.models import Submission, Variant

    student_id, token = next(iter(tokens.items()))
    qid = question_ids[min(1, len(question_ids) - 1)]  # backprop_chain by default: the largest instance
    body = json.dumps({"answers": answers[(qid, student_id)].right})
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
    url = f"/api/questions/{qid}/submissions/"

    def post():
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 202, (response.status_code, response.content[:300])

    for _ in range(5):
        post()
    with CaptureQueriesContext(connection) as queries:
        post()
    print(f"\n== profile: one POST {url} (in-process Django test client): {len(queries)} SQL statements")
    for q in queries:
        print(f"    {q['sql'][:150]}")
    timings, cpu = [], []
    for _ in range(100):
        t, c = time.perf_counter(), time.process_time()
        post()
        timings.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(
        f"  in-process POST: median {ms(statistics.median(timings))} wall, {ms(statistics.median(cpu))} CPU of "
        "this process (100 calls; includes the Redis publish, not the HTTP server)"
    )
    _print_profile(cProfile.Profile(time.process_time), post, 200, top, io, pstats)

    variant = Variant.objects.get(question_id=qid, student_id=student_id)
    right = answers[(qid, student_id)].right

    def queued() -> int:
        return Submission.objects.create(variant=variant, student_id=student_id, answers=right, enqueue_count=1).pk

    ids = [queued() for _ in range(260)]  # no message sent: only this process grades them
    for sid in ids[:5]:
        services.grade_submission_now(sid)
    with CaptureQueriesContext(connection) as queries:
        services.grade_submission_now(ids[5])
    print(f"\n== profile: services.grade_submission_now (what the task runs): {len(queries)} SQL statements")
    for q in queries:
        print(f"    {q['sql'][:150]}")
    timings, cpu = [], []
    for sid in ids[6:56]:
        t, c = time.perf_counter(), time.process_time()
        services.grade_submission_now(sid)
        timings.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    mistake = answers[(qid, student_id)].mistake  # a code question's typical bug: feedback matching runs
    if mistake is not None:
        wrong_ids = [Submission.objects.create(variant=variant, student_id=student_id, answers=mistake, enqueue_count=1).pk for _ in range(30)]
        wrong_cpu = []
        for sid in wrong_ids:
            c = time.process_time()
            services.grade_submission_now(sid)
            wrong_cpu.append(time.process_time() - c)
        print(f"  grade_submission_now, the typical mistake's code: median {ms(statistics.median(wrong_cpu[5:]))} CPU")
    from autograder.grading import grade_submission

    policy = services.grading_policy(variant.question)
    pure = []
    for _ in range(50):
        t = time.process_time()
        grade_submission(variant.instance, right, policy)
        pure.append(time.process_time() - t)
    print(
        f"  grade_submission_now: median {ms(statistics.median(timings))} wall, {ms(statistics.median(cpu))} CPU; "
        f"autograder.grading.grade_submission alone: {ms(statistics.median(pure))} CPU (backprop_chain, right answers)"
    )
    pending = iter(ids[56:])
    _print_profile(cProfile.Profile(time.process_time), lambda: services.grade_submission_now(next(pending)), 200, top, io, pstats)

    connects = []
    for _ in range(20):
        connection.close()
        t = time.perf_counter()
        connection.ensure_connection()
        connection.cursor().execute("SELECT 1")
        connects.append(time.perf_counter() - t)
    print(
        f"\n== profile: opening a new Django PostgreSQL connection + SELECT 1: median {ms(statistics.median(connects))} "
        "(Celery's Django fixup closes the connection before and after every task unless CELERY_DB_REUSE_MAX is set)"
    )


def _print_profile(profiler, call, count: int, top: int, io, pstats) -> None:
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    for order in ("cumulative", "tottime"):
        out.seek(0)
        out.truncate()
        stats.sort_stats(order).print_stats(top)
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print(f"  cProfile (CPU time), {count} calls, top {top} by {order}:")
        for line in lines[start:]:
            print(f"    {line[:160]}")


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    deadline = started + args.time_limit
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not h.reachable("127.0.0.1", port)]
    if missing:
        print(f"bench_service: skipped, {' and '.join(missing)} not reachable on 127.0.0.1")
        return 0
    print(speed_line(), flush=True)

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C even when started from a shell that ignores SIGINT for background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tmp = Path(tempfile.mkdtemp(prefix="bench_service_"))
    db: h.PgDatabase | None = None
    rds: h.RedisDatabase | None = None
    services: dict[str, h.Service] = {}
    poller: Poller | None = None
    try:
        db = h.PgDatabase(f"bench_autograder_{os.getpid()}")
        rds = h.RedisDatabase()
        var_dir = tmp / "var"
        var_dir.mkdir()
        env = server_env(db.url, rds.url, var_dir)
        setup_django(env)
        t = time.time()
        question_ids, tokens = create_course(args.students, args.questions)
        from django.db import connections

        connections.close_all()
        print(
            f"setup: database {db.name}, Redis db {rds.number}, {args.students} students, questions "
            f"{dict(zip(question_ids, args.question or KINDS, strict=True))} ({time.time() - t:.1f} s)"
        )

        port = h.free_port()
        h.adopt_orphans()  # keeps replaced sandboxes' CPU time countable (see there)
        services["web"] = h.Service("gunicorn", gunicorn_command(args, port, tmp), env, tmp / "gunicorn.log").start()
        for i in range(args.celery_workers):
            services[f"worker{i}"] = h.Service(f"celery worker {i}", celery_command(args, i), env, tmp / f"worker{i}.log").start()

        def web_ready():
            services["web"].check_alive()
            return h.http_answers(f"http://127.0.0.1:{port}/api/kinds/")

        h.wait_for(web_ready, 60, "gunicorn to answer")

        def workers_ready():
            for name, service in services.items():
                if name.startswith("worker"):
                    service.check_alive()
            logged = all(" ready." in s.log() for n, s in services.items() if n.startswith("worker"))
            # below INFO the worker logs no "ready." line: count consumers blocked on our queue
            return logged or rds.blocked_consumers() >= args.celery_workers

        h.wait_for(workers_ready, 60, "the Celery workers to be ready")
        groups = {"web": [services["web"].pid], "worker": [s.pid for n, s in services.items() if n.startswith("worker")]}
        cpus = len(os.sched_getaffinity(0))
        load1 = os.getloadavg()[0]
        print(
            f"config: {cpus} CPUs (os.cpu_count {os.cpu_count()}); gunicorn {args.web_workers} "
            f"{'gthread x' + str(args.web_threads) + ' threads' if args.web_threads > 1 else 'sync'} worker(s) "
            f"on 127.0.0.1:{port}; Celery {args.celery_workers} worker(s) x -P {args.pool} --concurrency "
            f"{args.concurrency} --prefetch-multiplier 1 -l {args.worker_loglevel}; CONN_MAX_AGE "
            f"{_conn_max_age()} (settings); PostgreSQL synchronous_commit={h.pg_setting('synchronous_commit')}; "
            f"wrong answers {args.wrong_fraction:.0%}; load average before start {load1:.2f}"
        )
        if args.what_if_db_reuse:
            print(
                f"WHAT-IF: workers started with CELERY_DB_REUSE_MAX={args.what_if_db_reuse} (not in the "
                "project's settings; an experiment to size the suggestion)"
            )

        t = time.time()
        statuses = draw_variants(port, question_ids, tokens)
        print(f"variants: {dict(statuses)} in {time.time() - t:.1f} s (GET /api/questions/{{id}}/variant/)")
        if statuses.get(200, 0) != len(question_ids) * len(tokens):
            raise RuntimeError(f"could not draw every variant: {dict(statuses)}\n{services['web'].log_tail()}")
        answers = load_answers(db)
        pairs = sorted(answers)
        rng = random.Random(args.seed)
        rng.shuffle(pairs)

        poller = Poller(db.url)
        poller.start()
        ctx = {
            "poller": poller, "port": port, "db": db, "redis": rds, "services": services, "groups": groups,
            "cpus": cpus, "access_log": tmp / "gunicorn-access.log",
        }
        offset = 0
        if args.warmup:
            warm = make_jobs(args.warmup, pairs, answers, tokens, args.wrong_fraction, rng, offset)
            offset += args.warmup
            with _quiet():
                run_phase("warm-up", 100.0, warm, ctx, args, deadline)
            print(f"warm-up: {args.warmup} submissions at 100/s (not reported)")

        results = []
        for number, rate in enumerate(args.rate_list, 1):
            if time.time() > deadline - 20:
                print(f"\n(time limit: phase {number} skipped)")
                continue
            jobs = make_jobs(args.submissions, pairs, answers, tokens, args.wrong_fraction, rng, offset)
            offset += args.submissions
            results.append(run_phase(str(number), rate, jobs, ctx, args, deadline))
        verdict(results, args.target_rate, args.target_p95_ms)
        print(f"after the phases, {speed_line()}")  # the VM drifts within a run too
        if args.profile:
            profile_in_process(question_ids, tokens, answers)
        print(f"\ntotal bench time {time.time() - started:.1f} s; logs in {tmp}{' (kept)' if args.keep_logs else ' (removed)'}")
        return 0
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}); cleaning up", file=sys.stderr)
        return 130
    finally:
        cleanup(poller, services, db, rds, tmp, args.keep_logs)


class _quiet:
    """Silence stdout (the warm-up phase's figures)."""

    def __enter__(self):
        self.saved, sys.stdout = sys.stdout, open(os.devnull, "w")

    def __exit__(self, *exc):
        sys.stdout.close()
        sys.stdout = self.saved


def _conn_max_age() -> Any:
    from django.conf import settings

    return settings.DATABASES["default"].get("CONN_MAX_AGE")


def verdict(results: list[PhaseResult], target_rate: float, target_p95_ms: float) -> None:
    """The target line: kept up with target_rate (and p95 under target_p95_ms unless 0)?"""
    latency = f", p95 submit->graded < {target_p95_ms:g} ms at that load" if target_p95_ms else ""
    print(f"\n== target: >= {target_rate:g} graded/s{latency}")
    at_target = [r for r in results if r.offered is not None and r.offered >= target_rate]
    capacity = max((r.sustained for r in results), default=float("nan"))
    reasons = []
    if at_target:
        r = min(at_target, key=lambda r: r.offered)
        print(
            f"  at {r.offered:g}/s offered: {r.sustained:.1f} graded/s sustained, p95 {r.p95_ms:.1f} ms "
            f"(client-observed, from the scheduled POST: {r.client_p95_ms:.1f} ms), "
            f"{r.errors} errors, {r.unfinished} unfinished -> {'kept up' if r.kept_up else 'did NOT keep up'}"
        )
        if not r.kept_up:
            reasons.append(f"did not keep up with {r.offered:g}/s")
        if target_p95_ms and not r.p95_ms < target_p95_ms:
            reasons.append(f"p95 {r.p95_ms:.0f} ms >= {target_p95_ms:g} ms")
    else:
        reasons.append(f"no phase offered >= {target_rate:g}/s")
    print(f"  highest sustained graded rate of any phase (capacity when a 'max' phase ran): {capacity:.1f}/s")
    if not capacity >= target_rate * KEPT_UP:
        reasons.append(f"capacity {capacity:.0f}/s < {target_rate:g}/s")
    print("  TARGET MET" if not reasons else "  TARGET MISSED: " + "; ".join(reasons))


def cleanup(poller, services: dict, db, rds, tmp: Path, keep_logs: bool) -> None:
    """Stop everything we started, whatever happened; each step on its own."""
    # a second Ctrl-C or a SIGTERM must not cut the cleanup short
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if poller is not None:
            poller.halt.set()
            poller.join(timeout=5)
        for service in services.values():
            try:
                service.stop()
            except Exception as exc:
                print(f"cleanup: stopping {service.name}: {exc!r}", file=sys.stderr)
        h.reap_orphans()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if db is not None:
            try:
                db.drop()
            except Exception as exc:
                print(f"cleanup: dropping database {db.name}: {exc!r}", file=sys.stderr)
        if rds is not None:
            try:
                rds.release()
            except Exception as exc:
                print(f"cleanup: flushing Redis db {rds.number}: {exc!r}", file=sys.stderr)
        if not keep_logs:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
