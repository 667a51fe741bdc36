"""Django settings, all from environment variables with safe defaults.

Embedded default (no servers): SQLite in var/ and Celery on kombu's filesystem transport.
DATABASE_URL selects PostgreSQL (or any dj-database-url URL); REDIS_URL / CELERY_BROKER_URL selects
Redis. With DJANGO_ENV=production, DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS are required and
DEBUG is off unless explicitly enabled.
"""

from __future__ import annotations

import os
import secrets
import time
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AUTOGRADER_VAR_DIR", BASE_DIR / "var"))
PRODUCTION = os.environ.get("DJANGO_ENV", "development") == "production"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    return [v.strip() for v in value.split(",") if v.strip()] if value else default


def development_secret(path: Path) -> str:
    """A random key made on first use and kept in `path` (mode 600): a development instance
    shares no secret with the source code, so nobody can forge its sessions or work out its
    variant seeds. Concurrent first starts (web and worker) agree: the first write wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be between creating and writing it
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise ImproperlyConfigured(f"{path} is empty; delete it to make a new development key") from None
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production")
    SECRET_KEY = development_secret(VAR_DIR / "secret_key")
# Variant seeds are an HMAC of (question, student, number) under this secret: a student who knows
# the ids and the (public) generators still cannot work out their seed, hence their answers.
AUTOGRADER_VARIANT_SECRET = os.environ.get("AUTOGRADER_VARIANT_SECRET") or SECRET_KEY
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "exercises.web.csrf_failure"  # the web UI's result box, not Django's page

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not from a CDN (see SPECTACULAR_SETTINGS)
    "django_htmx",  # the web UI's htmx, served from here ({% htmx_script %})
    "exercises",
]

SESSION_ENGINE = "autograder.sessions"  # database sessions; a cookie with a NUL is no session

MIDDLEWARE = [
    "autograder.middleware.refuse_unparseable_query",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "autograder.urls"
WSGI_APPLICATION = "autograder.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Connections are kept (CONN_MAX_AGE); those the server has dropped (a PostgreSQL restart or
# failover) are replaced before a request or task uses them: autograder.db_connections, a socket
# poll instead of Django's CONN_HEALTH_CHECKS round trip.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: wait for locks instead of failing at once. A
    # transaction takes the write lock when it begins (IMMEDIATE): one that read first and wrote
    # later (select_for_update is a plain SELECT on SQLite) failed at once with "database is
    # locked" instead of waiting when another write was under way (QA: 8 of 16 parallel edits of
    # a problem set). WAL: pages and polls read while a grading writes.
    sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    sqlite_options["timeout"] = 20
    sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
    sqlite_options.setdefault("init_command", "PRAGMA journal_mode=WAL;")
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "AUTOGRADER_PG_PREPARED_STATEMENTS", True
):
    # Server-side binding with prepared statements: the hot paths run the same few statements,
    # and planning them again each time cost PostgreSQL more CPU than running them (the service
    # benchmark: ~2.7 -> ~2.0 ms of PostgreSQL CPU per submission). Turn off behind a pooler in
    # transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("server_side_binding", True)  # options given in DATABASE_URL win
    options.setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
# Where the course runs: a release or due time given without an offset (what the browsable API's
# date-time fields send, and the admin's) is read in this zone, and times are shown in it (with
# their offset). UTC by default; a course in Graz sets Europe/Vienna, or 23:59 means 00:59 there.
TIME_ZONE = os.environ.get("AUTOGRADER_TIME_ZONE", "UTC").strip() or "UTC"
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"AUTOGRADER_TIME_ZONE={TIME_ZONE!r} is not a time zone name; use an IANA name such as "
        "Europe/Vienna, America/Chicago or UTC"
    ) from None
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # MathJax for the web UI's LaTeX, from the django-static-mathjax package: its TeX-to-HTML
    # bundle and what that loads, not the package's 2,700 other files
    "exercises.static_finders.MathJaxFinder",
]
# Pages that need a login send people to the web UI's sign-in page, which leads to its home page;
# DRF's login page (/api-auth/login/) still leads to the API docs.
# Usernames sign in in any case when one account matches (exercises.auth_backends)
AUTHENTICATION_BACKENDS = ["exercises.auth_backends.UsernameAnyCaseBackend"]
LOGIN_URL = "ui-sign-in"
LOGIN_REDIRECT_URL = "/api/docs/"

# Request limits: a submission is a few KB; anything far larger is refused with 413. Room for
# the longest code answer (60,000 characters, code_grading.MAX_SOURCE_CHARS) in any script as a
# client may encode it: a CJK character is 6 bytes as a JSON \u escape, 9 in a web form (%E4%B8%AD).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("AUTOGRADER_MAX_BODY_BYTES", 1024 * 1024))

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [  # token first: an anonymous request is 401 (WWW-Authenticate: Token)
        "exercises.authentication.TokenAuth",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Throttles tell clients apart by REMOTE_ADDR, or behind this many reverse proxies by the
    # X-Forwarded-For entry the nearest added (DRF's default, None, took the whole header as the
    # client sent it: a password guesser made up a new "address" per request).
    "NUM_PROXIES": int(os.environ.get("AUTOGRADER_NUM_PROXIES", "0")),
}


def throttle_rate(name: str, default: str) -> tuple[int, int] | None:
    """An environment rate such as `10/minute` (DRF's form: a count, then per second, minute, hour
    or day) as (count, seconds); None for `off`. Anything else refuses to start."""
    text = os.environ.get(name, default).strip().lower()
    if text in ("off", "0", "none"):
        return None
    count, _, period = text.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period[:1])
    if not (count.isdigit() and int(count) > 0 and seconds and period in ("s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day")):
        raise ImproperlyConfigured(f"{name}={text!r} is not a rate such as 10/minute, 100/hour or off")
    return int(count), seconds


# Failed sign-ins (wrong username or password) at POST /api/auth/token/, /sign-in/,
# /api-auth/login/ and /admin/login/ (exercises.sign_in_limits), one count for all: a username with
# this many from one address within the period is refused there (429 with Retry-After; the
# admin's login page says so with its usual 200) until the oldest of them is a period old. Counted in the database (exercises.TokenFailure), so every web
# process and host shares the count, without a cache server; successful requests are not counted
# (a lab behind one address fetching tokens is never refused).
AUTOGRADER_TOKEN_FAILURE_RATE = throttle_rate("AUTOGRADER_TOKEN_FAILURE_RATE", "10/minute")

# Password reset by email (exercises.password_reset: "Forgot your password?" on the sign-in page).
# AUTOGRADER_EMAIL_HOST set: sent by SMTP. Unset in development: written to files in
# VAR_DIR/sent-mail/ (nothing leaves the machine; the page says where). Unset in production: the
# page tells students to ask their instructor or the administrator (who sets one in the admin).
EMAIL_HOST = os.environ.get("AUTOGRADER_EMAIL_HOST", "").strip()
EMAIL_HOST_USER = os.environ.get("AUTOGRADER_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("AUTOGRADER_EMAIL_PASSWORD", "")
EMAIL_SECURITY = os.environ.get("AUTOGRADER_EMAIL_SECURITY", "").strip().lower() or "starttls"
if EMAIL_SECURITY not in ("starttls", "ssl", "none"):
    raise ImproperlyConfigured(f"AUTOGRADER_EMAIL_SECURITY={EMAIL_SECURITY!r} is not one of starttls, ssl, none")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("AUTOGRADER_EMAIL_PORT") or {"starttls": 587, "ssl": 465, "none": 25}[EMAIL_SECURITY])
    EMAIL_USE_TLS = EMAIL_SECURITY == "starttls"
    EMAIL_USE_SSL = EMAIL_SECURITY == "ssl"
    EMAIL_TIMEOUT = 10  # a mail server that hangs holds up one page, not a web worker forever
elif not PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "sent-mail")
# the sender: many relays (Microsoft 365, Gmail) refuse any but the signed-in mailbox
DEFAULT_FROM_EMAIL = os.environ.get("AUTOGRADER_EMAIL_FROM") or (
    EMAIL_HOST_USER if "@" in EMAIL_HOST_USER else "nn-autograder@localhost"
)
AUTOGRADER_PASSWORD_RESET_BY_EMAIL = bool(EMAIL_HOST) or not PRODUCTION
# Reset emails one address may be sent within the period (whoever asks), and how long a link works
AUTOGRADER_PASSWORD_RESET_RATE = throttle_rate("AUTOGRADER_PASSWORD_RESET_RATE", "3/hour")
# ...and reset links one client (address) may ask for, for any addresses, per period
AUTOGRADER_PASSWORD_RESET_CLIENT_RATE = throttle_rate("AUTOGRADER_PASSWORD_RESET_CLIENT_RATE", "10/hour")
PASSWORD_RESET_TIMEOUT = 24 * 3600
SPECTACULAR_SETTINGS = {
    "TITLE": "Neural-network autograder API",
    "DESCRIPTION": "Courses, problem sets, per-student variants, submissions and grading.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # exercises.api_urls.IdConverter: ids are 64-bit integers in the schema, not patterned strings
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}},
    # The docs page's scripts and styles from our own static files (drf-spectacular-sidecar), not
    # drf-spectacular's default of the newest swagger-ui-dist on cdn.jsdelivr.net: the docs then
    # work on a closed network, and no third party's current code runs on our origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery: the database is the source of truth; the broker only wakes workers. ---------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # kombu looks for new messages this often when it finds none, and with one message per
        # worker process in flight that is after every task: its default of 1 s capped grading
        # at ~2 submissions/s (a 300-student rush took 150 s). Listing the folder costs ~nothing.
        "polling_interval": 0.05,
    }
else:
    # "priority": a worker's BRPOP lists its queues in CELERY_TASK_QUEUES' order, so the grading
    # queue is always read first and the re-runs' queue only when no submission waits
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "queue_order_strategy": "priority"}
# Students' submissions before the staff's code re-runs: a re-run of a whole question is
# hundreds of messages, which must not make a submission at 23:58 wait behind them. Every
# worker reads both queues (no -Q needed), the grading queue first.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("reruns", Exchange("reruns"), routing_key="reruns"),
)
CELERY_TASK_ROUTES = {"autograder.tasks.rerun_code": {"queue": "reruns"}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = int(os.environ.get("AUTOGRADER_TASK_TIME_LIMIT", 60))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("AUTOGRADER_TASK_SOFT_TIME_LIMIT", 50))
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the DB connection around every task unless told to reuse it; a new
# PostgreSQL connection per grading cost ~7 ms of CPU (bench/bench_service.py). Stale or broken
# connections are still replaced (autograder/celery.py, close_old_connections).
CELERY_DB_REUSE_MAX = int(os.environ.get("AUTOGRADER_DB_REUSE_MAX", 1000))
CELERY_RESULT_BACKEND = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A submission still queued/grading after this many seconds is re-enqueued by the sweeper.
AUTOGRADER_STUCK_AFTER_SECONDS = int(os.environ.get("AUTOGRADER_STUCK_AFTER_SECONDS", 120))
# After this many sends, a submission that keeps failing stays in status "error" for an admin.
AUTOGRADER_MAX_GRADING_TRIES = int(os.environ.get("AUTOGRADER_MAX_GRADING_TRIES", 5))
AUTOGRADER_SWEEP_EVERY_SECONDS = float(os.environ.get("AUTOGRADER_SWEEP_EVERY_SECONDS", 30))
# Student code runs only inside the bubblewrap sandbox (autograder.sandbox). Without bubblewrap a
# worker refuses code questions (status "error" with the reason) unless this development setting
# allows running them as plain subprocesses (same limits and seccomp filter, no namespaces).
AUTOGRADER_ALLOW_UNSANDBOXED_CODE = env_bool("AUTOGRADER_ALLOW_UNSANDBOXED_CODE", False)
if PRODUCTION and AUTOGRADER_ALLOW_UNSANDBOXED_CODE:
    raise ImproperlyConfigured("AUTOGRADER_ALLOW_UNSANDBOXED_CODE is a development setting only")
# The sandbox's fork server is replaced after this many runs (a fresh interpreter now and then).
AUTOGRADER_SANDBOX_MAX_JOBS = int(os.environ.get("AUTOGRADER_SANDBOX_MAX_JOBS", 500))
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-submissions": {
        "task": "autograder.tasks.sweep_stuck_submissions",
        "schedule": AUTOGRADER_SWEEP_EVERY_SECONDS,
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"without_traceback": {"()": "autograder.log_filters.WithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("AUTOGRADER_LOG_LEVEL", "INFO")},
    # requests Django refuses with a 400 (body or field count over the limits): one line each
    "loggers": {
        f"django.security.{name}": {"filters": ["without_traceback"]}
        for name in ("RequestDataTooBig", "TooManyFieldsSent", "TooManyFilesSent")
    },
}
