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
    graded_rows = services.graded_rows
    calls = []

    def hold_the_regrade_open(changed):
        calls.append(changed)
        if len(calls) == 2:  # inside the transaction: the new settings are written, not committed
            holding.set()
            assert release.wait(10)
        return graded_rows(changed)

    monkeypatch.setattr(services, "graded_rows", hold_the_regrade_open)
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


def test_two_edits_of_a_questions_params_at_once_keep_both(make_question, instructor, monkeypatch):
    """A PATCH merges its params into the question as it read it and saves every field: two at
    once (the time limit raised by one instructor, the memory by another at the deadline) lost
    one of them (review). The edit locks the row before reading it; the second waits, then
    merges into the first one's result."""
    from helpers import client_for

    from exercises import api

    question = make_question("code_mlp_forward", params={"random_cases": 2})
    holding, release = threading.Event(), threading.Event()
    audit = api.audit_question_edit

    def hold_the_first_edit_open(*args):
        audit(*args)
        if not holding.is_set():
            holding.set()  # saved, not yet committed: the row stays locked
            assert release.wait(10)

    monkeypatch.setattr(api, "audit_question_edit", hold_the_first_edit_open)
    url = f"/api/questions/{question.pk}/"
    patch = lambda params: client_for(instructor).patch(url, {"params": params}, format="json")  # noqa: E731
    first, first_done = in_thread(patch, {"memory_mb": 512})
    assert holding.wait(10), first_done
    second, second_done = in_thread(patch, {"time_limit_s": 5})
    assert_waits_for_a_lock(second, "the second edit must wait for the first one's row lock")
    release.set()
    first.join(10)
    second.join(10)
    assert first_done["value"].status_code == second_done["value"].status_code == 200, (first_done, second_done)
    question.refresh_from_db()
    assert (question.params["memory_mb"], question.params["time_limit_s"], question.params["random_cases"]) == (512, 5.0, 2)
