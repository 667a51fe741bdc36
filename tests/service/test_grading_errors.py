"""Submissions that could not be graded (exercises.grading_errors): the staff see how many and
why on the question's page and in the API, and the instructor sends them to grading again once
the cause is fixed, as the student's feedback promises. A row given up on gives its attempt back
once, however often it is sent again and fails (services._release_attempt)."""

from __future__ import annotations

import pytest
from django.test import Client
from helpers import client_for, reference_answers

from exercises import grading_errors, services
from exercises.models import AuditEntry, Submission

pytestmark = pytest.mark.django_db
S = Submission.Status


def broken_grading(monkeypatch, message: str = "SandboxUnavailable: bubblewrap (bwrap) is not installed"):
    """Grading raises as a worker without a sandbox does; returns the undo."""

    def broken(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(services, "grade_submission", broken)
    return monkeypatch.undo


def fail_for_good(submission: Submission) -> Submission:
    """Grade the row until its tries are used up, as the worker and the sweeper would."""
    for _ in range(services.max_tries()):
        Submission.objects.filter(pk=submission.pk, status=S.ERROR).update(status=S.QUEUED)
        services.grade_submission_now(submission.pk)
    submission.refresh_from_db()
    assert submission.status == S.ERROR and submission.claims >= services.max_tries()
    return submission


def test_a_row_sent_again_that_fails_again_gives_its_attempt_back_only_once(make_question, student, monkeypatch, settings):
    """Before, a row the admin re-sent after it failed for good moved the later rows up a second
    time when it failed again: attempt numbers below what they were, the penalty of an attempt
    nobody made undone twice, or two rows with one number (an IntegrityError)."""
    settings.AUTOGRADER_MAX_GRADING_TRIES = 2
    question = make_question(attempt_penalty=0.25)
    first = services.grade_submission_now(services.submit(question, student, reference_answers(question, student))[0].pk)
    broken, _ = services.submit(question, student, reference_answers(question, student))
    undo = broken_grading(monkeypatch)
    services.grade_submission_now(broken.pk)
    undo()
    third = services.grade_submission_now(services.submit(question, student, reference_answers(question, student))[0].pk)
    assert (first.attempt_number, third.attempt_number) == (1, 3)  # the failed row may still be graded
    broken_grading(monkeypatch)
    fail_for_good(Submission.objects.get(pk=broken.pk))
    third.refresh_from_db()
    assert (third.attempt_number, third.score) == (2, 7.5)  # its place given back

    assert [row["submission"] for row in grading_errors.grade_again(question, None)] == [broken.pk]
    fail_for_good(Submission.objects.get(pk=broken.pk))  # the cause was not fixed after all
    third.refresh_from_db()
    assert (third.attempt_number, third.score) == (2, 7.5)  # not moved a second time
    assert services.grade_submission_now(first.pk).attempt_number == 1

    monkeypatch.undo()  # fixed now
    grading_errors.grade_again(question, None)
    graded = services.grade_submission_now(broken.pk)
    # submitted second, graded last: the second place is taken, so the next free one
    assert (graded.status, graded.attempt_number, graded.score) == (S.GRADED, 3, 5.0)
    numbers = sorted(Submission.objects.filter(variant__question=question).values_list("attempt_number", flat=True))
    assert numbers == [1, 2, 3]


def test_the_staff_see_how_many_and_why_and_the_instructor_sends_them_again(
    make_question, student, ta, instructor, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.AUTOGRADER_MAX_GRADING_TRIES = 2
    question = make_question()
    graded = services.grade_submission_now(services.submit(question, student, reference_answers(question, student))[0].pk)
    assert grading_errors.errors_of(question) is None
    undo = broken_grading(monkeypatch, "SandboxUnavailable: " + "x" * 400)
    gone = fail_for_good(services.submit(question, student, reference_answers(question, student))[0])
    retrying, _ = services.submit(question, student, reference_answers(question, student))
    services.grade_submission_now(retrying.pk)  # one try of two: the sweeper will try again
    undo()

    found = grading_errors.errors_of(question)
    assert (found.count, found.retrying) == (2, 1)
    assert found.latest_cause.startswith("RuntimeError: SandboxUnavailable: xxx") and len(found.latest_cause) == grading_errors.SHOWN_CAUSE_CHARS
    api = client_for(ta).get(f"/api/questions/{question.pk}/grading-errors/")
    assert api.status_code == 200 and api.json()["count"] == 2 and api.json()["retrying"] == 1
    assert client_for(ta).post(f"/api/questions/{question.pk}/grading-errors/", {}, format="json").status_code == 403
    assert client_for(student).get(f"/api/questions/{question.pk}/grading-errors/").status_code == 403

    web = Client()
    web.force_login(ta)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    assert "2 submissions could not be graded" in page and "(1 still tried again automatically)" in page
    assert "SandboxUnavailable: xxx" in page and "An instructor of the course can send them to grading again" in page
    assert web.post(f"/questions/{question.pk}/grade-again/").status_code == 403
    web.force_login(instructor)
    assert "Grade them again" in web.get(f"/questions/{question.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = web.post(f"/questions/{question.pk}/grade-again/")
    assert response.status_code == 302 and response["Location"] == f"/questions/{question.pk}/"
    assert len(sent) == 2  # one message each, after the commit
    assert set(Submission.objects.filter(pk__in=[gone.pk, retrying.pk]).values_list("status", flat=True)) == {S.QUEUED}
    (audit,) = AuditEntry.objects.filter(action="graded_again")
    assert [row["submission"] for row in audit.details["submissions"]] == [gone.pk, retrying.pk]
    assert audit.actor == instructor and audit.details["question"] == question.pk
    for pk in (gone.pk, retrying.pk):
        services.grade_submission_now(pk)
    rows = Submission.objects.filter(variant__question=question).order_by("submitted_at", "id")
    assert [(r.status, r.attempt_number) for r in rows] == [(S.GRADED, 1), (S.GRADED, 2), (S.GRADED, 3)]
    assert graded.pk == rows[0].pk and 'id="grading-errors"' not in web.get(f"/questions/{question.pk}/").content.decode()
    response = client_for(instructor).post(f"/api/questions/{question.pk}/grading-errors/", {}, format="json")
    assert response.status_code == 200 and response.json() == {"sent": 0, "submissions": []}
    bad = client_for(instructor).post(f"/api/questions/{question.pk}/grading-errors/", {"apply": True}, format="json")
    assert bad.status_code == 400 and "Unknown field" in bad.json()["detail"]
    assert client_for(instructor).get(f"/api/questions/{question.pk}/grading-errors/").json() == {
        "count": 0, "retrying": 0, "latest_cause": "", "latest_at": None,
    }


def test_send_again_leaves_rows_a_worker_holds_and_finished_ones(make_question, student):
    question = make_question()
    subs = [services.submit(question, student, reference_answers(question, student))[0] for _ in range(4)]
    waiting, holding, failed, done = subs
    Submission.objects.filter(pk=holding.pk).update(status=S.GRADING)
    Submission.objects.filter(pk=failed.pk).update(status=S.ERROR, claims=9)
    services.grade_submission_now(done.pk)
    sent = grading_errors.send_again(Submission.objects.filter(pk__in=[s.pk for s in subs]))
    assert sorted(sent) == sorted([waiting.pk, failed.pk])
    states = dict(Submission.objects.values_list("pk", "status"))
    assert (states[holding.pk], states[failed.pk], states[done.pk]) == (S.GRADING, S.QUEUED, S.GRADED)


def test_a_row_sent_again_keeps_no_place_while_it_waits(make_question, student, monkeypatch, settings):
    """Review: a given-up row sent again counted as an attempt still to come, so a submission
    graded meanwhile took a number one too high, and kept it when the row failed again."""
    settings.AUTOGRADER_MAX_GRADING_TRIES = 1
    question = make_question(attempt_penalty=0.25)
    first = services.grade_submission_now(services.submit(question, student, reference_answers(question, student))[0].pk)
    broken, _ = services.submit(question, student, reference_answers(question, student))
    undo = broken_grading(monkeypatch)
    services.grade_submission_now(broken.pk)  # its one try: given up, its place given back
    undo()
    grading_errors.grade_again(question, None)
    meanwhile = services.grade_submission_now(services.submit(question, student, reference_answers(question, student))[0].pk)
    assert (first.attempt_number, meanwhile.attempt_number, meanwhile.score) == (1, 2, 7.5)
    broken_grading(monkeypatch)
    services.grade_submission_now(broken.pk)  # failed again
    meanwhile.refresh_from_db()
    assert (meanwhile.attempt_number, meanwhile.score) == (2, 7.5)


def test_the_migration_marks_the_rows_released_before_the_field_existed(make_question, student, settings):
    """Review: rows given up on before migration 0013 read as not released, and one sent again
    that failed again would have moved the later rows a second time."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("exercises.migrations.0013_submission_attempt_released")
    settings.AUTOGRADER_MAX_GRADING_TRIES = 3
    question = make_question()
    rows = [services.submit(question, student, reference_answers(question, student))[0] for _ in range(4)]
    rejected, spent, retrying, queued = rows
    Submission.objects.filter(pk=rejected.pk).update(status=S.REJECTED)
    Submission.objects.filter(pk=spent.pk).update(status=S.ERROR, claims=3)
    Submission.objects.filter(pk=retrying.pk).update(status=S.ERROR, claims=2)
    migration.mark_released(apps, None)
    released = dict(Submission.objects.values_list("pk", "attempt_released"))
    assert [released[r.pk] for r in rows] == [True, True, False, False]
