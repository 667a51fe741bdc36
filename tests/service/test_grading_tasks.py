"""autograder.celery and autograder.tasks: configuration, task wrappers, eager runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from autograder import tasks
from autograder.celery import app
from exercises import services
from exercises.models import Submission

S = Submission.Status


def test_app_configuration_comes_from_django_settings():
    assert app.main == "autograder"
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    schedule = app.conf.beat_schedule["sweep-stuck-submissions"]
    assert schedule["task"] == tasks.sweep_stuck_submissions.name
    assert {tasks.grade_submission.name, tasks.sweep_stuck_submissions.name} <= set(app.tasks)
    assert tasks.grade_submission.acks_late


def test_worker_processes_use_one_blas_thread():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run(
        [sys.executable, "-c", "import autograder.celery, os; print(os.environ['OPENBLAS_NUM_THREADS'])"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )
    assert out.stdout.strip() == "1"


@pytest.mark.django_db
def test_grade_task_grades_once_and_tolerates_missing_rows(make_question, student):
    question = make_question()
    answers = services.current_variant(question, student).instance["answers"]
    submission, _ = services.submit(question, student, answers)
    assert tasks.grade_submission.delay(submission.pk).get() == "graded"  # eager in tests
    assert tasks.grade_submission(submission.pk) == "graded"
    submission.refresh_from_db()
    assert (submission.attempt_number, submission.score) == (1, question.points)
    assert tasks.grade_submission(10**9) == "missing"


@pytest.mark.django_db
def test_eager_enqueue_on_commit_grades_the_submission(make_question, student, django_capture_on_commit_callbacks):
    question = make_question()
    answers = services.current_variant(question, student).instance["answers"]
    with django_capture_on_commit_callbacks(execute=True):
        submission, _ = services.submit(question, student, answers)
    submission.refresh_from_db()
    assert submission.status == S.GRADED


@pytest.mark.django_db
def test_sweep_task_uses_the_configured_timeout(make_question, student, monkeypatch, settings):
    question = make_question()
    submission, _ = services.submit(question, student, {"in_3": "1"})
    Submission.objects.filter(pk=submission.pk).update(submitted_at=timezone.now() - timedelta(seconds=30))
    sent = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    settings.AUTOGRADER_STUCK_AFTER_SECONDS = 60
    assert tasks.sweep_stuck_submissions() == 0
    settings.AUTOGRADER_STUCK_AFTER_SECONDS = 10
    assert tasks.sweep_stuck_submissions() == 1 and sent == [submission.pk]
