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

from celery import Celery  # noqa: E402 - after the environment above

app = Celery("autograder", include=["autograder.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
