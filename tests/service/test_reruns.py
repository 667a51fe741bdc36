"""Re-running graded code submissions under a raised limit (exercises.reruns): a limit set too
tight is found at the deadline, the instructor raises it, and the submissions that ran out of
time or memory under the old one are run again: same attempt, the new result written over the
old one, which stands until then. Eager Celery here; needs bubblewrap where code runs (skipped
locally without it, FAILS under CI=true)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from helpers import client_for
from test_code_questions import fresh_runner, submit_code  # noqa: F401 - fixture

from autograder import tasks
from autograder.grading import SubmissionGrade
from exercises import reruns, services
from exercises.models import AuditEntry, CodeRerun, Question, Submission

S = Submission.Status
pytestmark = pytest.mark.django_db

HUNGRY = '''
_forward = forward
def forward(*args, **kwargs):
    big = np.ones((12, 1_000_000))  # 96 MB: not within 32 MB
    return _forward(*args, **kwargs)
'''


@pytest.fixture
def tight_question(make_question):
    """A code question whose memory limit (32 MB) is too tight for HUNGRY; one attempt."""
    return make_question("code_mlp_forward", params={"random_cases": 2, "memory_mb": 32}, max_attempts=1)


def hungry_submission(question, student, capture) -> dict:
    reference = services.current_variant(question, student).instance["answers"]["code"]["source"]
    result = submit_code(client_for(student), question, reference + HUNGRY, capture)
    assert result["status"] == "graded" and result["score"] == 0.0, result
    return result


def raise_memory(instructor, question, memory_mb: int = 128) -> None:
    response = client_for(instructor).patch(f"/api/questions/{question.pk}/", {"params": {"memory_mb": memory_mb}}, format="json")
    assert response.status_code == 200, response.content


def test_code_that_ran_out_of_memory_is_run_again_under_the_raised_limit(
    require_sandbox, fresh_runner, tight_question, student, instructor, django_capture_on_commit_callbacks  # noqa: F811
):
    result = hungry_submission(tight_question, student, django_capture_on_commit_callbacks)
    before = Submission.objects.get(pk=result["id"])
    teacher = client_for(instructor)
    url = f"/api/questions/{tight_question.pk}/rerun/"
    unchanged = teacher.post(url, {"apply": False}, format="json").json()
    assert unchanged["submissions"] == [], unchanged  # the limit it ran under is still the question's

    raise_memory(instructor, tight_question)
    preview = teacher.post(url, {"apply": False}, format="json").json()
    assert preview["applied"] is False and preview["limits"] == {"time_limit_s": 2.0, "memory_mb": 128}
    (row,) = preview["submissions"]
    assert (row["submission"], row["username"], row["hit"]) == (before.pk, student.username, ["memory_mb"])
    assert row["ran_under"] == {"time_limit_s": 2.0, "memory_mb": 32}
    assert not CodeRerun.objects.exists() and Submission.objects.get(pk=before.pk).score == 0.0  # a preview changes nothing

    with django_capture_on_commit_callbacks(execute=True):  # eager Celery: the worker's task runs here
        applied = teacher.post(url, {"apply": True}, format="json").json()
    assert applied["applied"] is True and [r["submission"] for r in applied["submissions"]] == [before.pk]
    after = Submission.objects.get(pk=before.pk)
    assert (after.status, after.attempt_number, after.raw_score, after.score) == (S.GRADED, 1, 1.0, 10.0)
    assert after.graded_at > before.graded_at and after.submitted_at == before.submitted_at
    assert json.loads(after.code_runs)["code"]["memory_mb"] == 128
    assert not CodeRerun.objects.exists()
    (audit,) = AuditEntry.objects.filter(action="rerun")
    assert audit.actor == instructor and audit.details["limits"]["memory_mb"] == 128
    assert [r["submission"] for r in audit.details["submissions"]] == [before.pk]
    shown = client_for(student).get(f"/api/submissions/{before.pk}/").json()
    assert shown["score"] == 10.0 and shown["attempt_number"] == 1  # the only attempt, not a new one
    assert teacher.post(url, {"apply": False}, format="json").json()["submissions"] == []  # nothing left to re-run


FIRST_CALL_HUNGRY = '''
_forward = forward
_calls = []
def forward(*args, **kwargs):
    _calls.append(1)
    if len(_calls) == 1:
        big = np.ones((12, 1_000_000))  # 96 MB, in the first case only
    return _forward(*args, **kwargs)
'''


def test_a_regrade_computed_before_a_rerun_landed_does_not_undo_it(
    require_sandbox, fresh_runner, tight_question, student, instructor, django_capture_on_commit_callbacks, monkeypatch  # noqa: F811
):
    """A regrade computes its new scores before its transaction; a re-run written in between
    made them stale, and the regrade wrote its points change over the re-run's result."""
    reference = services.current_variant(tight_question, student).instance["answers"]["code"]["source"]
    result = submit_code(client_for(student), tight_question, reference + FIRST_CALL_HUNGRY, django_capture_on_commit_callbacks)
    ncases = len(result["feedback"]["fields"]["code"]["cases"])
    assert result["score"] == pytest.approx(10.0 * (ncases - 1) / ncases), result  # the first case ran out of memory
    raise_memory(instructor, tight_question)
    with django_capture_on_commit_callbacks(execute=False):  # asked for; its message not sent yet
        asked = reruns.request_reruns(Question.objects.get(pk=tight_question.pk), instructor, apply=True)
    assert [row["submission"] for row in asked["submissions"]] == [result["id"]]
    real = services._regrade
    landed = []

    def regrade_then_rerun(*args, **kwargs):
        rows = list(real(*args, **kwargs))
        if not landed:  # after the regrade's first pass, before its transaction
            landed.append(reruns.rerun_now(result["id"]))
        return iter(rows)

    monkeypatch.setattr(services, "_regrade", regrade_then_rerun)
    services.regrade_apply(Question.objects.get(pk=tight_question.pk), {"points": 20}, instructor)
    assert landed == ["re-run"]
    after = Submission.objects.get(pk=result["id"])
    assert (after.raw_score, after.score) == (1.0, 20.0)  # not 20 * (n - 1) / n from the first pass


def stored_timeout(question, student, ran_under: float | None = 1.0, status: str = "timeout") -> Submission:
    """A graded submission whose kept run timed out on its only case (no code runs here)."""
    case = {"status": status, "message": "", "traceback": "", "observations": None}
    run = {"cases": [case], "output": "", "memory_mb": 256}
    if ran_under is not None:
        run["time_limit_s"] = ran_under
    return Submission.objects.create(
        variant=services.current_variant(question, student), student=student, answers={"code": "while True: pass"},
        status=S.GRADED, attempt_number=1, raw_score=0.0, score=0.0, graded_at=timezone.now(),
        code_runs=json.dumps({"code": run}, separators=(",", ":")),
    )


@pytest.mark.parametrize(
    ("ran_under", "status", "time_now", "memory_now", "found"),
    [
        (1.0, "timeout", 2.0, 256, True),
        (None, "timeout", 2.0, 256, True),  # not recorded: it ran under the variant's drawn 1 s
        (None, "timeout", 1.0, 256, False),
        (2.0, "timeout", 2.0, 256, False),
        (1.2, "timeout", 1.8, 256, False),  # both enforced as 2 s of CPU: the same limit
        (1.0, "error", 2.0, 512, False),
        (1.0, "memory", 2.0, 256, False),
        (1.0, "memory", 2.0, 512, True),
    ],
)
def test_which_submissions_are_run_again(make_question, student, ran_under, status, time_now, memory_now, found):
    """Only where the limit it hit is higher now (in whole seconds for CPU time, as enforced),
    from the limit the run recorded or else the variant's drawn one; never an exception."""
    question = make_question("code_mlp_forward", params={"time_limit_s": 1.0, "memory_mb": 256})
    sub = stored_timeout(question, student, ran_under, status)  # the variant drawn with 1 s, 256 MB
    Question.objects.filter(pk=question.pk).update(params={"time_limit_s": time_now, "memory_mb": memory_now})
    question.refresh_from_db()
    assert [c.submission.pk for c in reruns.candidates(question)] == ([sub.pk] if found else [])


def fake_grading(monkeypatch, score: float = 1.0) -> list:
    """reruns' grading replaced: no sandbox, a result of `score`; returns the calls."""
    calls = []

    def grade(instance, answers, policy, runs=None):
        calls.append(instance["params"]["time_limit_s"])
        return SubmissionGrade("graded", score, {"code": {"status": "correct", "score": score}})

    monkeypatch.setattr(reruns, "grade_submission", grade)
    return calls


def test_a_rerun_asked_twice_or_sent_twice_runs_once(make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks):
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    calls = fake_grading(monkeypatch)
    with django_capture_on_commit_callbacks(execute=False) as sent:
        first = reruns.request_reruns(question, instructor, apply=True)
        second = reruns.request_reruns(question, instructor, apply=True)
    assert len(first["submissions"]) == 1 and second["submissions"] == [] and second["pending"] == 1
    assert len(sent) == 1 and CodeRerun.objects.count() == 1
    assert tasks.rerun_code(sub.pk) == "re-run" and calls == [2.0]  # under the question's limit now
    assert tasks.rerun_code(sub.pk) == "not asked" and calls == [2.0]  # a duplicate message: nothing runs
    sub.refresh_from_db()
    assert (sub.raw_score, sub.score, sub.attempt_number) == (1.0, 10.0, 1)


def test_a_lost_rerun_is_sent_again_and_never_given_up_while_it_only_waits(
    make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks, settings
):
    """Sends are not runs: one waiting behind a long queue (500 re-runs, workers down) was
    deleted after five sends (review). The sweeper backs off and keeps it."""
    settings.AUTOGRADER_MAX_GRADING_TRIES = 3
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)  # its message lost (not executed)
    assert reruns.sweep_reruns(120) == 0  # just sent
    for sends in (2, 3, 4, 5, 6):
        CodeRerun.objects.update(sent_at=timezone.now() - timedelta(seconds=120 * 2 ** (sends - 2) - 1))
        assert reruns.sweep_reruns(120) == 0  # backing off: not yet
        CodeRerun.objects.update(sent_at=timezone.now() - timedelta(seconds=120 * 2 ** (sends - 2) + 1))
        with django_capture_on_commit_callbacks(execute=False) as sent:
            assert reruns.sweep_reruns(120) == 1
        assert len(sent) == 1 and CodeRerun.objects.get().sends == sends
    calls = fake_grading(monkeypatch)
    assert tasks.rerun_code(sub.pk) == "re-run" and calls == [2.0]  # the sixth message, at last


def test_a_rerun_whose_worker_dies_is_sent_again_and_given_up_after_the_tries(
    make_question, student, instructor, django_capture_on_commit_callbacks, settings
):
    settings.AUTOGRADER_MAX_GRADING_TRIES = 2
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)
    long_ago = timezone.now() - timedelta(hours=1)
    CodeRerun.objects.update(started_at=long_ago, claims=1, sent_at=long_ago)  # a worker claimed it and died
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert reruns.sweep_reruns(120) == 1
    rerun = CodeRerun.objects.get()
    assert len(sent) == 1 and rerun.started_at is None and rerun.claims == 1
    CodeRerun.objects.update(started_at=long_ago, claims=2, sent_at=long_ago)  # and the next one too
    assert reruns.sweep_reruns(120) == 0 and not CodeRerun.objects.exists()
    (given_up,) = AuditEntry.objects.filter(action="rerun_given_up")
    assert given_up.details["submission"] == sub.pk and given_up.details["runs"] == 2
    sub.refresh_from_db()
    assert (sub.status, sub.score) == (S.GRADED, 0.0)  # the graded result stands


def test_a_rerun_being_run_is_not_run_twice(make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks):
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)
    CodeRerun.objects.update(started_at=timezone.now(), claims=1)  # another worker runs it now
    calls = fake_grading(monkeypatch)
    assert tasks.rerun_code(sub.pk) == "running elsewhere" and calls == []
    assert reruns.sweep_reruns(0) == 0  # nor is it sent again while it runs


def test_a_rerun_whose_grading_fails_is_left_for_the_sweeper(make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks):
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)

    def broken(*args, **kwargs):
        raise RuntimeError("the sandbox is gone")

    monkeypatch.setattr(reruns, "grade_submission", broken)
    assert tasks.rerun_code(sub.pk) == "failed"
    rerun = CodeRerun.objects.get(submission=sub)
    assert rerun.started_at is None and rerun.claims == 1  # released, the run counted
    sub.refresh_from_db()
    assert (sub.status, sub.score) == (S.GRADED, 0.0)


def test_a_run_the_sandbox_failed_in_is_not_written(make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks):
    """A sandbox lost mid-run reads as "killed" cases: written, it replaced a result with 0 points
    that said nothing about the code (review)."""
    from autograder.code_grading import CaseRun, CodeRun

    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)
    lost = CodeRun((CaseRun("killed", "killed: sandbox failure (lost the server)"),))

    def grade(instance, answers, policy, runs=None):
        return SubmissionGrade("graded", 0.0, {"code": {"status": "incorrect", "score": 0.0}}, runs={"code": lost})

    monkeypatch.setattr(reruns, "grade_submission", grade)
    assert tasks.rerun_code(sub.pk) == "failed"
    assert CodeRerun.objects.filter(submission=sub, started_at=None).exists()
    before = sub.graded_at
    sub.refresh_from_db()
    assert sub.graded_at == before


def test_a_rerun_scores_with_the_attempt_number_as_it_is_when_written(
    make_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks
):
    """An earlier attempt released while the code ran moved this row to attempt 1; the re-run
    scored it as attempt 2 with the penalty (review)."""
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0}, attempt_penalty=0.5)
    sub = stored_timeout(question, student)
    Submission.objects.filter(pk=sub.pk).update(attempt_number=2)
    with django_capture_on_commit_callbacks(execute=False):
        reruns.request_reruns(question, instructor, apply=True)

    def grade_while_renumbered(instance, answers, policy, runs=None):
        Submission.objects.filter(pk=sub.pk).update(attempt_number=1)  # as services._release_attempt does
        return SubmissionGrade("graded", 1.0, {"code": {"status": "correct", "score": 1.0}})

    monkeypatch.setattr(reruns, "grade_submission", grade_while_renumbered)
    assert tasks.rerun_code(sub.pk) == "re-run"
    sub.refresh_from_db()
    assert (sub.attempt_number, sub.raw_score, sub.score) == (1, 1.0, 10.0)
    (audit,) = AuditEntry.objects.filter(action="rerun_result")
    assert audit.actor == instructor and audit.details["old"]["score"] == 0.0 and audit.details["new"]["score"] == 10.0


def test_the_api_refuses_what_it_cannot_rerun(make_question, student, ta, instructor):
    numeric = make_question()
    response = client_for(instructor).post(f"/api/questions/{numeric.pk}/rerun/", {"apply": True}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_code"
    broken = make_question("code_mlp_forward", params={"random_cases": "many"})
    response = client_for(instructor).post(f"/api/questions/{broken.pk}/rerun/", {"apply": False}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "bad_params"
    code = make_question("code_mlp_forward")
    url = f"/api/questions/{code.pk}/rerun/"
    assert client_for(ta).post(url, {"apply": True}, format="json").status_code == 403
    bad = client_for(instructor).post(url, {"apply": "maybe"}, format="json")
    assert bad.status_code == 400 and "apply" in bad.json()["detail"]


def test_the_staff_question_page_offers_the_rerun_to_instructors(make_question, student, ta, instructor, monkeypatch, django_capture_on_commit_callbacks):
    question = make_question("code_mlp_forward", params={"time_limit_s": 2.0})
    sub = stored_timeout(question, student)
    web = Client()
    web.force_login(ta)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    assert "1 graded submission ran out of time or memory" in page and "<code>time_limit_s=2.0</code>" in page
    assert "An instructor of the course can run them again" in page and "ui-rerun" not in page
    assert web.post(f"/questions/{question.pk}/rerun/").status_code == 403
    web.force_login(instructor)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    assert "Run it again under the current limits" in page
    calls = fake_grading(monkeypatch)
    with django_capture_on_commit_callbacks(execute=False):
        response = web.post(f"/questions/{question.pk}/rerun/")
    assert response.status_code == 302 and response["Location"] == f"/questions/{question.pk}/"
    page = web.get(f"/questions/{question.pk}/").content.decode()
    assert "1 re-run waiting for the worker" in page and "ran out of time or memory under" not in page
    tasks.rerun_code(sub.pk)
    assert calls == [2.0] and 'id="reruns"' not in web.get(f"/questions/{question.pk}/").content.decode()
