"""A regrade and a grading that finishes at the same moment, on real PostgreSQL connections.

Two threads, each with its own database connection: the finisher holds its finishing
transaction open (settings read FOR SHARE, attempt numbered) while an instructor applies a
regrade. The regrade's UPDATE of the question must wait for the finisher, then regrade the row
the finisher just saved; in the other order the finisher must see the new settings.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from helpers import reference_answers

from exercises import services
from exercises.models import AuditEntry, Submission

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
LOOSE = {"tolerance": {"rtol": 0.1, "atol": 0.1}}


def queued_five_percent_off(question, student, monkeypatch) -> Submission:
    """A queued submission 5 % off the reference (tasks run eagerly in tests: none is sent)."""
    monkeypatch.setattr(services, "enqueue", lambda submission_id: None)
    return services.submit(question, student, reference_answers(question, student, 1.05))[0]


def in_thread(target, *args) -> tuple[threading.Thread, dict]:
    """Run target(*args) on its own database connection; the outcome lands in the dict."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as exc:  # reported by the test
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def assert_waits_for_a_lock(thread: threading.Thread, message: str) -> None:
    """`thread` is blocked on a lock in PostgreSQL (seen in pg_stat_activity), not merely slow."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert thread.is_alive(), message  # finished without waiting
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.01)
    pytest.fail(f"{message} (no lock wait within 10 s)")


def test_a_regrade_waits_for_a_finishing_grading_then_covers_it(make_question, student, instructor, monkeypatch):
    question = make_question()
    submission = queued_five_percent_off(question, student, monkeypatch)
    holding, release = threading.Event(), threading.Event()
    numbered = services._numbered

    def hold_the_transaction_open(*args):
        fields = numbered(*args)
        holding.set()  # settings read FOR SHARE, attempt numbered, row not yet written
        assert release.wait(10)
        return fields

    monkeypatch.setattr(services, "_numbered", hold_the_transaction_open)
    finisher, finished = in_thread(services.grade_submission_now, submission.pk)
    assert holding.wait(10), finished
    regrader, regraded = in_thread(services.regrade_apply, question, LOOSE, instructor)
    assert_waits_for_a_lock(regrader, "the regrade must wait for the finishing transaction's FOR SHARE lock")
    release.set()
    finisher.join(10)
    regrader.join(10)
    assert "error" not in finished and "error" not in regraded, (finished, regraded)
    assert finished["value"].score < 10.0  # saved under the old tolerance ...
    assert regraded["value"] == 1  # ... and then regraded by the instructor's change
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.score, row.attempt_number) == (Submission.Status.GRADED, 10.0, 1)
    assert [d["submission"] for d in AuditEntry.objects.get().details["submissions"]] == [submission.pk]


def test_a_grading_finishing_during_a_regrade_sees_the_new_settings(make_question, student, instructor, monkeypatch):
    question = make_question()
    submission = queued_five_percent_off(question, student, monkeypatch)
    holding, release = threading.Event(), threading.Event()
    graded_rows = services._graded
    calls = []

    def hold_the_regrade_open(changed):
        calls.append(changed)
        if len(calls) == 2:  # inside the transaction: the new settings are written, not committed
            holding.set()
            assert release.wait(10)
        return graded_rows(changed)

    monkeypatch.setattr(services, "_graded", hold_the_regrade_open)
    regrader, regraded = in_thread(services.regrade_apply, question, LOOSE, instructor)
    assert holding.wait(10), regraded
    finisher, finished = in_thread(services.grade_submission_now, submission.pk)
    assert_waits_for_a_lock(finisher, "the finishing transaction must wait for the regrade to commit")
    release.set()
    regrader.join(10)
    finisher.join(10)
    assert "error" not in finished and "error" not in regraded, (finished, regraded)
    assert regraded["value"] == 0  # nothing was graded when the regrade looked
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.score) == (Submission.Status.GRADED, 10.0)  # graded again under rtol 0.1
