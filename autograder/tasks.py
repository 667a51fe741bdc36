"""Celery tasks: thin wrappers around exercises.services, safe to run twice.

Messages may be lost (broker flush) or delivered twice (acks_late redelivery, sweeper
re-enqueues); the services make that harmless: grading claims the row first and a graded row
is never graded again.
"""

from __future__ import annotations

import logging

from django.conf import settings

from autograder.celery import app
from exercises import password_reset, reruns, services
from exercises.models import Submission

logger = logging.getLogger(__name__)


@app.task(name="autograder.tasks.grade_submission", acks_late=True, ignore_result=True)
def grade_submission(submission_id: int) -> str:
    """Grade one submission by id; returns its status afterwards ('missing' if deleted)."""
    try:
        return services.grade_submission_now(submission_id).status
    except Submission.DoesNotExist:
        logger.warning("submission %s no longer exists; nothing to grade", submission_id)
        return "missing"


@app.task(name="autograder.tasks.rerun_code", acks_late=True, ignore_result=True)
def rerun_code(submission_id: int) -> str:
    """Run a graded code submission again under its question's current limits, if still asked
    (exercises.reruns); a failure leaves the request for the sweeper to send again."""
    try:
        return reruns.rerun_now(submission_id)
    except Submission.DoesNotExist:
        logger.warning("submission %s no longer exists; nothing to re-run", submission_id)
        return "missing"
    except Exception:
        logger.exception("re-running submission %s failed; the sweeper sends it again", submission_id)
        return "failed"


@app.task(name="autograder.tasks.sweep_stuck_submissions", ignore_result=True)
def sweep_stuck_submissions() -> int:
    """Re-enqueue submissions and code re-runs whose message or worker was lost (run
    periodically by beat)."""
    count = services.sweep_stuck(settings.AUTOGRADER_STUCK_AFTER_SECONDS)
    count_reruns = reruns.sweep_reruns(settings.AUTOGRADER_STUCK_AFTER_SECONDS)
    if count or count_reruns:
        logger.info("sweeper re-enqueued %d submission(s) and %d code re-run(s)", count, count_reruns)
    return count + count_reruns


@app.task(name="autograder.tasks.send_password_reset", ignore_result=True)
def send_password_reset(email: str, domain: str, use_https: bool) -> None:
    """Email the reset links for one address (exercises.password_reset.send_links)."""
    password_reset.send_links(email, domain, use_https)

