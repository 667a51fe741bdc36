"""The Celery app: configuration from Django settings (CELERY_* names), tasks in autograder.tasks.

Start a worker with `celery -A autograder.celery worker` (add `-B` for the embedded beat that runs
the stuck-submission sweeper). The broker only wakes workers; the database holds every state.
"""

from __future__ import annotations

import os

# Grading is many tiny NumPy problems run in parallel processes: one BLAS thread per process
# avoids oversubscription. Set before anything imports NumPy.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autograder.settings")

from celery import Celery, signals  # noqa: E402 - after the environment above
from celery.app.defaults import DEFAULTS  # noqa: E402
from kombu.transport import TRANSPORT_ALIASES  # noqa: E402

# filesystem:// (the embedded default broker) writes each message whole before readers see it
TRANSPORT_ALIASES["filesystem"] = "autograder.broker_filesystem:Transport"

CELERY_SETTING_NAMES = [name for name in DEFAULTS if not name.isupper()]  # the lowercase (current) names

app = Celery("autograder", include=["autograder.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
# Resolve every setting once, in front of the chain: a publish reads about a dozen, and each read
# through Django's lazy settings object cost ~10 us (a quarter of the web process's `delay`).
# Django settings do not change at run time; tests that reconfigure Celery set app.conf directly.
app.conf.update({name: app.conf[name] for name in CELERY_SETTING_NAMES})
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _replace_stale_connections(task=None, **_kwargs) -> None:
    """Keep one DB connection per worker process across tasks (CELERY_DB_REUSE_MAX), but drop it
    when it is broken, older than CONN_MAX_AGE or hung up on by the server, as around each web
    request. Not for eager tasks: they run inside a web request that owns its connection."""
    if task is not None and task.request.is_eager:
        return
    from django.db import close_old_connections

    from autograder.db_connections import close_hung_up_connections

    close_old_connections()
    close_hung_up_connections()


@signals.worker_process_init.connect
def _start_sandbox(**_kwargs) -> None:
    """Start this worker process's sandbox now, so no student waits for its cold start."""
    from autograder.sandbox import SandboxUnavailable
    from autograder.sandbox_runner import sandbox_mode, sandbox_pool

    try:
        sandbox_pool()
    except SandboxUnavailable:
        import logging

        logging.getLogger(__name__).warning("no sandbox in this worker: %s", sandbox_mode())


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _stop_sandbox(**_kwargs) -> None:
    from autograder.sandbox_runner import close_sandbox_pool

    close_sandbox_pool()
