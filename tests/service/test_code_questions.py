"""Code questions through the service: the API shows the task and no expectation, a submission is
graded in the sandbox with per-case feedback, and without a sandbox nothing runs unsandboxed
unless the development setting says so. Eager grading (in-process) here; the real worker is in
test_integration_code.py. Needs bubblewrap: skipped locally without it, FAILS under CI=true.
"""

from __future__ import annotations

import io
import json
import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from helpers import client_for

from autograder import sandbox_runner
from autograder.code_grading import runs_from_text
from autograder.sandbox import pool as sandbox_pool_module
from exercises import services
from exercises.models import CodeRerun, Submission

S = Submission.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh_runner():
    """Each test gets its own process pool (a setting change must take effect)."""
    sandbox_runner.close_sandbox_pool()
    yield
    sandbox_runner.close_sandbox_pool()


@pytest.fixture
def code_question(make_question):
    return make_question("code_mlp_forward", params={"random_cases": 3}, max_attempts=3)


def submit_code(client, question, source: str, capture) -> dict:
    with capture(execute=True):
        response = client.post(f"/api/questions/{question.pk}/submissions/", {"answers": {"code": source}}, format="json")
    assert response.status_code == 202, response.content
    return client.get(response["Location"]).json()


def test_variant_shows_the_task_and_visible_cases_without_expectations(code_question, student):
    body = client_for(student).get(f"/api/questions/{code_question.pk}/variant/").json()
    code = body["prompt"]["data"]["code"]
    assert code["entry"] == ["forward"] and "def forward" in code["starter"]
    assert code["cases"] and code["hidden_cases"] == 3
    assert all("expect" not in step for case in code["cases"] for step in case["steps"])
    assert "answers" not in body and "misconceptions" not in body
    assert body["fields"] == [{"name": "code", "label": "Your Python code", "shape": [], "type": "code"}]


def test_right_code_gets_full_points_and_a_typical_bug_is_named(
    require_sandbox, fresh_runner, code_question, student, django_capture_on_commit_callbacks
):
    client = client_for(student)
    instance = services.current_variant(code_question, student).instance
    right = submit_code(client, code_question, instance["answers"]["code"]["source"], django_capture_on_commit_callbacks)
    assert (right["status"], right["score"]) == ("graded", 10.0), right
    cases = right["feedback"]["fields"]["code"]["cases"]
    assert len(cases) == len(instance["answers"]["code"]["cases"]) and all(c["passed"] for c in cases)

    bug = instance["misconceptions"][0]
    wrong = submit_code(client, code_question, bug["answers"]["code"], django_capture_on_commit_callbacks)
    assert wrong["status"] == "graded" and wrong["score"] < 10.0
    assert bug["explanation"] in wrong["feedback"]["fields"]["code"]["message"]
    assert not any("expect" in step for c in wrong["feedback"]["fields"]["code"]["cases"] for step in c.get("steps", []))


@pytest.mark.parametrize(("source", "said"), [("def forward(:\n    pass\n", "line 1"), (5, "must be text"), ("#" * 61_000, "too long")])
def test_code_the_grader_cannot_run_is_refused_at_submit_without_using_an_attempt(code_question, student, source, said):
    """A syntax error found by the worker came back after the queue (at 23:59, after the
    deadline) and, rejected, left a gap that cost a later attempt (review)."""
    response = client_for(student).post(
        f"/api/questions/{code_question.pk}/submissions/", {"answers": {"code": source}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unreadable_answers" and said in response.json()["fields"]["code"]
    assert not Submission.objects.exists() and services.attempts_used(code_question, student) == 0


def test_a_tolerance_regrade_judges_the_stored_runs_and_runs_no_code(
    require_sandbox, fresh_runner, code_question, student, instructor, monkeypatch, django_capture_on_commit_callbacks
):
    """A tolerance regrade used to run every student's code again inside the instructor's request
    (a class of 500, some of it looping to its time limit, outlived the web timeout). Each graded
    row now keeps how its code ran; the regrade judges that again and runs nothing."""
    instance = services.current_variant(code_question, student).instance
    reference = instance["answers"]["code"]["source"]
    off_by_a_bit = reference.replace("    return A\n", "    return A * (1 + 1e-4)\n")
    assert off_by_a_bit != reference
    result = submit_code(client_for(student), code_question, off_by_a_bit, django_capture_on_commit_callbacks)
    assert result["status"] == "graded" and result["score"] < 5.0, result  # outputs of 0 stay right
    assert "code_runs" not in result and "observations" not in json.dumps(result)  # hidden cases' values
    row = Submission.objects.get(pk=result["id"])
    run = runs_from_text(row.code_runs)["code"]
    assert len(run["cases"]) == len(instance["answers"]["code"]["cases"])
    assert all(case["status"] == "ok" and case["observations"] for case in run["cases"])

    def must_not_run(*args, **kwargs):
        raise AssertionError("the student's code ran again")

    monkeypatch.setattr(sandbox_runner, "run_cases", must_not_run)
    client = client_for(instructor)
    url = f"/api/questions/{code_question.pk}/regrade/"
    loose = {"tolerance": {"rtol": 1e-3, "atol": 1e-8}}
    preview = client.post(url, {"changes": loose}, format="json")
    assert preview.status_code == 200, preview.content
    assert [(a["submission"], a["old"], a["new"]) for a in preview.json()["affected"]] == [(row.pk, row.score, 10.0)]
    applied = client.post(url, {"changes": loose, "apply": True}, format="json")
    assert applied.status_code == 200 and applied.json()["regraded"] == 1, applied.content
    row.refresh_from_db()
    assert row.score == 10.0 and row.feedback["fields"]["code"]["status"] == "correct"
    assert runs_from_text(row.code_runs)["code"] == run  # the same run, judged again
    # and the student's prompt states the new tolerance, not the one of when it was drawn
    prompt = client_for(student).get(f"/api/questions/{code_question.pk}/variant/").json()["prompt"]
    assert "relative tolerance of 0.001 and an absolute tolerance of 1e-08" in prompt["text"]
    # and so does each visible case (they kept the drawn one beside the prompt's new one, QA)
    shown = prompt["data"]["code"]["cases"]
    assert shown and all(case["tolerance"] == {"rtol": 1e-3, "atol": 1e-8} for case in shown)
    assert all(case["tolerance"] != {"rtol": 1e-3, "atol": 1e-8} for case in instance["prompt"]["data"]["code"]["cases"])


@pytest.mark.parametrize(
    "source",
    [
        'print("out\\x00put \\ud800")\n{reference}',
        'raise ValueError("x\\x00y \\ud800")\ndef forward(*args):\n    pass\n',  # defines forward: not refused at submit
        'def forward(*args):\n    raise ValueError("x\\x00y \\ud800")\n',
    ],
    ids=["printed", "raised_on_import", "raised_in_a_call"],
)
def test_nul_and_lone_surrogates_from_student_code_are_stored_as_replacement_characters(
    require_sandbox, fresh_runner, code_question, student, django_capture_on_commit_callbacks, source
):
    """PostgreSQL cannot store a NUL character or a lone surrogate as text: code that printed or
    raised one left its submission in "grading" until it was marked an error. (Observed values
    carry them too: tests/sandbox/test_code_grading.py forges those.)"""
    reference = services.current_variant(code_question, student).instance["answers"]["code"]["source"]
    result = submit_code(client_for(student), code_question, source.format(reference=reference), django_capture_on_commit_callbacks)
    assert result["status"] == "graded", result
    row = Submission.objects.get(pk=result["id"])
    stored = json.dumps(row.feedback, ensure_ascii=False) + row.code_runs
    assert "\x00" not in stored
    stored.encode("utf-8")  # no lone surrogate


def test_without_a_sandbox_code_is_refused_with_the_reason_and_kept(
    fresh_runner, code_question, student, monkeypatch, settings, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sandbox_pool_module, "sandbox_available", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(sandbox_runner, "sandbox_available", lambda: (False, "bubblewrap (bwrap) is not installed"))
    settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE = False
    source = services.current_variant(code_question, student).instance["answers"]["code"]["source"]
    result = submit_code(client_for(student), code_question, source, django_capture_on_commit_callbacks)
    assert result["status"] == "error"
    row = Submission.objects.get(pk=result["id"])
    assert "bubblewrap" in row.error_message and row.answers == {"code": source}
    assert sandbox_runner.sandbox_mode().startswith("code questions refused")


def test_the_development_setting_runs_code_unsandboxed_and_says_so(
    fresh_runner, code_question, student, monkeypatch, settings, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sandbox_pool_module, "sandbox_available", lambda: (False, "no bwrap here"))
    monkeypatch.setattr(sandbox_runner, "sandbox_available", lambda: (False, "no bwrap here"))
    settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE = True
    source = services.current_variant(code_question, student).instance["answers"]["code"]["source"]
    result = submit_code(client_for(student), code_question, source, django_capture_on_commit_callbacks)
    assert (result["status"], result["score"]) == ("graded", 10.0), result
    assert sandbox_runner.sandbox_pool().sandboxed is False
    assert sandbox_runner.sandbox_mode().startswith("UNSANDBOXED")


def test_production_refuses_the_unsandboxed_setting():
    import subprocess
    import sys

    env = dict(os.environ, DJANGO_ENV="production", DJANGO_SECRET_KEY="x" * 50, DJANGO_ALLOWED_HOSTS="a.example",
               AUTOGRADER_ALLOW_UNSANDBOXED_CODE="1", DJANGO_SETTINGS_MODULE="autograder.settings")
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "AUTOGRADER_ALLOW_UNSANDBOXED_CODE" in done.stderr


def test_sandbox_status_says_how_code_runs(require_sandbox, monkeypatch, settings):
    out = io.StringIO()
    call_command("sandbox_status", stdout=out)
    assert out.getvalue().startswith("student code: sandboxed: bubblewrap")

    monkeypatch.setattr(sandbox_runner, "sandbox_available", lambda: (False, "bubblewrap (bwrap) is not installed"))
    settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE = False
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("sandbox_status", stdout=out)
    assert exit_info.value.code == 1
    assert "code questions refused: bubblewrap (bwrap) is not installed" in out.getvalue()


def test_a_code_solution_opens_when_the_set_closes_not_when_a_students_attempts_run_out(
    require_sandbox, fresh_runner, make_question, student, django_capture_on_commit_callbacks
):
    """Out of attempts, a student was handed the worked solution of a code question while the
    set was open (QA): its reference implementation passes every classmate's tests, so one
    throwaway attempt gave the whole class the answer. A code solution waits for the set to
    close for everyone; a numeric one still opens with the attempts (its numbers are the
    student's own)."""
    question = make_question("code_softmax", max_attempts=1)
    client = client_for(student)
    junk = submit_code(client, question, "def softmax(Z):\n    return None\n", django_capture_on_commit_callbacks)
    assert junk["status"] == "graded" and services.attempts_used(question, student) == 1
    assert not services.solution_visible(question, student)
    refused = client.get(f"/api/questions/{question.pk}/solution/")
    assert refused.status_code == 403 and "closed for everyone" in refused.json()["detail"]
    assert "attempts" not in refused.json()["detail"]
    web = Client()
    web.force_login(student)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    at = services._local(question.problem_set.late_until)
    assert f"opens once the problem set has closed for everyone, at {at} (its code passes every student" in page
    assert f'href="/questions/{question.pk}/solution/"' not in page
    assert web.get(f"/questions/{question.pk}/solution/").status_code == 403
    problem_set = question.problem_set
    problem_set.due_at = timezone.now() - timedelta(minutes=1)
    problem_set.release_at = problem_set.due_at - timedelta(days=1)
    problem_set.late_until = None  # closed for everyone (no late window, no extension)
    problem_set.save()
    assert services.solution_visible(question, student)
    assert client.get(f"/api/questions/{question.pk}/solution/").status_code == 200

    problem_set.due_at = timezone.now() + timedelta(days=1)  # open again
    problem_set.save()
    numeric = make_question("forward_neuron", max_attempts=1)
    assert not services.solution_visible(numeric, student)
    submission, _ = services.submit(numeric, student, {"in_3": "1"})
    services.grade_submission_now(submission.pk)
    assert services.solution_visible(numeric, student)  # its own numbers: opens with the attempts


RAISES_WITH_ITS_INPUT = '''
def forward(*args, **kwargs):
    print("printed while running on", len(args[0]))
    raise ValueError("the input's length was " + str(len(args[0])))
'''


def test_the_staff_see_the_hidden_cases_in_full_without_running_the_code_again(
    require_sandbox, fresh_runner, code_question, student, ta, monkeypatch, django_capture_on_commit_callbacks
):
    """A teacher asked "why does random_3 fail?" saw only what the student sees (QA): which
    step failed and the exception's class; the run with every detail was in the Django admin,
    which course staff cannot open. The API and the submission page now show the staff the
    hidden cases in full (inputs, message, traceback, printed output), judged from the kept run."""
    result = submit_code(client_for(student), code_question, RAISES_WITH_ITS_INPUT, django_capture_on_commit_callbacks)
    assert result["status"] == "graded" and result["score"] == 0.0, result
    withheld = [c for c in result["feedback"]["fields"]["code"]["cases"] if c["hidden"]]
    assert len(withheld) == 3 and all("steps" not in c and "length was" not in c["message"] for c in withheld)
    visible_count = len(result["feedback"]["fields"]["code"]["cases"]) - len(withheld)
    assert result["feedback"]["fields"]["code"]["output"].count("printed while running") == visible_count

    def must_not_run(*args, **kwargs):
        raise AssertionError("the student's code ran again")

    monkeypatch.setattr(sandbox_runner, "run_cases", must_not_run)
    stored = Submission.objects.get(pk=result["id"])
    url = f"/api/submissions/{result['id']}/hidden-cases/"
    refused = client_for(student).get(url)
    assert refused.status_code == 403 and refused.json()["code"] == "not_staff"

    body = client_for(ta).get(url).json()
    assert (body["withheld"], body["kept"]) == (True, True), body
    cases = body["fields"]["code"]["cases"]
    hidden = [c for c in cases if c["hidden"]]
    assert [c["name"] for c in hidden] == [c["name"] for c in withheld]
    row = Submission.objects.get(pk=result["id"])
    drawn = [c for c in row.variant.instance["answers"]["code"]["cases"] if c.get("hidden")]
    for shown, case in zip(hidden, drawn, strict=True):
        assert shown["steps"] == [{k: v for k, v in step.items() if k != "expect"} for step in case["steps"]]
        assert "the input's length was" in shown["message"] and "ValueError" in shown["traceback"]
    assert body["fields"]["code"]["output"].count("printed while running") == len(cases)
    after = Submission.objects.get(pk=result["id"])
    assert (after.feedback, after.raw_score, after.code_runs) == (stored.feedback, stored.raw_score, stored.code_runs)  # nothing stored changed

    web = Client()
    web.force_login(ta)
    page = web.get(f"/submissions/{result['id']}/").content.decode()
    assert "Hidden test cases in full" in page and "What the code printed, all cases" in page
    staff_part = page.split("Hidden test cases in full", 1)[1]
    for case in hidden:  # each hidden case with the student's message and traceback, runnable
        shown = staff_part.split(f"<code>{case['name']}</code> (hidden)", 1)[1].split("</li>", 1)[0]
        assert "raised ValueError: the input&#x27;s length was" in shown and "Traceback (most recent call last)" in shown
        assert "Run this case yourself" in shown
    assert staff_part.count("<li>") == len(hidden)  # the visible cases are shown once, above
    web.force_login(student)
    own = web.get(f"/submissions/{result['id']}/").content.decode()
    assert "Hidden test cases in full" not in own
    assert all(f"<code>{case['name']}</code> (hidden)" in own for case in withheld) and "forward(...) raised ValueError" in own
    assert own.count("raised ValueError: the input&#x27;s length was") == visible_count

    row.code_runs = ""  # a run too large to keep
    row.save(update_fields=["code_runs"])
    gone = client_for(ta).get(url).json()
    assert (gone["withheld"], gone["kept"], gone["fields"]) == (True, False, {}) and "not kept" in gone["message"]
    web.force_login(ta)
    assert "run was not kept" in web.get(f"/submissions/{result['id']}/").content.decode()


def test_nothing_is_withheld_when_the_question_shows_its_hidden_cases(
    require_sandbox, fresh_runner, make_question, student, instructor, django_capture_on_commit_callbacks
):
    question = make_question("code_mlp_forward", params={"random_cases": 2, "show_hidden_cases": True})
    result = submit_code(client_for(student), question, RAISES_WITH_ITS_INPUT, django_capture_on_commit_callbacks)
    assert all("steps" in c for c in result["feedback"]["fields"]["code"]["cases"]), result
    body = client_for(instructor).get(f"/api/submissions/{result['id']}/hidden-cases/").json()
    assert (body["withheld"], body["fields"]) == (False, {}) and "shows every test case" in body["message"]


def test_a_code_questions_limits_can_change_after_students_have_variants(
    require_sandbox, fresh_runner, code_question, student, instructor, ta, django_capture_on_commit_callbacks
):
    """A too-tight limit found at the deadline could not be fixed: any params change once a
    variant existed was a 409 (QA). The limits (time_limit_s, memory_mb) do not change what is
    drawn: they may change, and gradings from then on apply them to every variant. Once
    submissions are graded they cannot go below what those ran under; show_hidden_cases stays as it was drawn
    (feedback is stored as judged: on and off again would leave hidden inputs in it, QA)."""
    services.current_variant(code_question, student)
    teacher = client_for(instructor)
    url = f"/api/questions/{code_question.pk}/"
    patched = teacher.patch(url, {"params": {"memory_mb": 32}}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["params"]["memory_mb"] == 32 and patched.json()["params"]["random_cases"] == 3  # a PATCH merges

    drawn = teacher.patch(url, {"params": {"random_cases": 5, "rtol": 1e-3}}, format="json")
    assert drawn.status_code == 409 and drawn.json()["code"] == "has_variants"
    detail = drawn.json()["detail"]
    assert "only the limits (time_limit_s and memory_mb) can still change" in detail and "random_cases, rtol" in detail
    assert "Send them as they are (random_cases=3, rtol=1e-06)" in detail and "regrade with a tolerance" in detail
    replaced = teacher.put(url, {"kind": "code_mlp_forward", "params": {"memory_mb": 64}, "points": 10}, format="json")
    assert replaced.status_code == 409 and "These would change too: random_cases." in replaced.json()["detail"]
    shown = teacher.patch(url, {"params": {"show_hidden_cases": True}}, format="json")
    assert shown.status_code == 409 and "show_hidden_cases" in shown.json()["detail"]

    prompt = client_for(student).get(f"{url}variant/").json()["prompt"]["text"]
    assert "2 s of CPU time and 32 MB of memory" in prompt and "256 MB" not in prompt

    reference = services.current_variant(code_question, student).instance["answers"]["code"]["source"]
    hungry = reference + '''
_forward = forward
def forward(*args, **kwargs):
    big = np.ones((12, 1_000_000))  # 96 MB: within the drawn 256 MB, not within 32 MB
    return _forward(*args, **kwargs)
'''
    result = submit_code(client_for(student), code_question, hungry, django_capture_on_commit_callbacks)
    messages = [case["message"] for case in result["feedback"]["fields"]["code"]["cases"]]
    assert result["score"] == 0.0 and all("out of memory (the limit is 32 MB)" in m for m in messages), messages

    lowered = teacher.patch(url, {"params": {"memory_mb": 16}}, format="json")
    assert lowered.status_code == 409 and lowered.json()["code"] == "limit_lowered", lowered.content
    assert "memory_mb=32" in lowered.json()["detail"] and "can only go down as far as" in lowered.json()["detail"]
    raised = teacher.patch(url, {"params": {"memory_mb": 128, "time_limit_s": 3}}, format="json")
    assert raised.status_code == 200, raised.content
    # what ran under 32 MB still says 32 MB: in the staff's view and after a regrade judged it again
    full = client_for(ta).get(f"/api/submissions/{result['id']}/hidden-cases/").json()
    assert all("the limit is 32 MB" in c["message"] for c in full["fields"]["code"]["cases"]), full
    regraded = teacher.post(f"{url}regrade/", {"changes": {"tolerance": {"rtol": 1e-5}}, "apply": True}, format="json")
    assert regraded.status_code == 200, regraded.content
    row = Submission.objects.get(pk=result["id"])
    assert all("the limit is 32 MB" in c["message"] for c in row.feedback["fields"]["code"]["cases"])
    again = submit_code(client_for(student), code_question, hungry, django_capture_on_commit_callbacks)
    assert again["score"] == 10.0, again  # graded under the raised limit
    assert "3 s of CPU time and 128 MB of memory" in client_for(student).get(f"{url}variant/").json()["prompt"]["text"]


def test_the_hidden_cases_view_says_why_it_has_nothing_to_show(make_question, student, ta):
    numeric = make_question("forward_neuron")
    submission, _ = services.submit(numeric, student, {"in_3": "1"})
    body = client_for(ta).get(f"/api/submissions/{submission.pk}/hidden-cases/").json()
    assert body["withheld"] is False and "not a code question" in body["message"]
    code = make_question("code_softmax")
    queued = Submission.objects.create(variant=services.current_variant(code, student), student=student, answers={"code": "x = 1"})
    body = client_for(ta).get(f"/api/submissions/{queued.pk}/hidden-cases/").json()
    assert body["withheld"] is False and "waiting to be graded" in body["message"]


def test_a_raised_limit_can_go_back_down_to_what_the_graded_runs_had(
    require_sandbox, fresh_runner, code_question, student, instructor, django_capture_on_commit_callbacks
):
    """QA: 2 s raised to 3 s (or a typo of 20) could not go back to 2 s: the refusal named 3 s,
    which nothing had run under. A limit may go down to the highest one graded code ran under."""
    reference = services.current_variant(code_question, student).instance["answers"]["code"]["source"]
    graded = submit_code(client_for(student), code_question, reference, django_capture_on_commit_callbacks)
    assert graded["status"] == "graded" and graded["score"] == 10.0, graded
    teacher = client_for(instructor)
    url = f"/api/questions/{code_question.pk}/"
    assert teacher.patch(url, {"params": {"time_limit_s": 20, "memory_mb": 512}}, format="json").status_code == 200
    back = teacher.patch(url, {"params": {"time_limit_s": 2, "memory_mb": 256}}, format="json")
    assert back.status_code == 200, back.content
    assert back.json()["params"]["time_limit_s"] == 2 and back.json()["params"]["memory_mb"] == 256
    lower = teacher.patch(url, {"params": {"time_limit_s": 1, "memory_mb": 128}}, format="json")
    assert lower.status_code == 409 and lower.json()["code"] == "limit_lowered", lower.content
    assert "time_limit_s=2.0, memory_mb=256" in lower.json()["detail"], lower.json()["detail"]
    # a re-run in progress runs under the current limits (review: it could land under a higher one)
    assert teacher.patch(url, {"params": {"time_limit_s": 20}}, format="json").status_code == 200
    rerun = CodeRerun.objects.create(submission_id=graded["id"], requested_by=instructor)
    pending = teacher.patch(url, {"params": {"time_limit_s": 2}}, format="json")
    assert pending.status_code == 409 and "time_limit_s=20" in pending.json()["detail"], pending.content
    rerun.delete()
    assert teacher.patch(url, {"params": {"time_limit_s": 2}}, format="json").status_code == 200
    # a run kept before limits were recorded ran under its variant's drawn ones (2 s), as re-runs read it
    row = Submission.objects.get(pk=graded["id"])
    runs = json.loads(row.code_runs)
    for run in runs.values():
        run.pop("time_limit_s"), run.pop("memory_mb")
    Submission.objects.filter(pk=row.pk).update(code_runs=json.dumps(runs))
    assert teacher.patch(url, {"params": {"time_limit_s": 5}}, format="json").status_code == 200
    assert teacher.patch(url, {"params": {"time_limit_s": 2}}, format="json").status_code == 200
    drawn = teacher.patch(url, {"params": {"time_limit_s": 1}}, format="json")
    assert drawn.status_code == 409 and "time_limit_s=2.0" in drawn.json()["detail"], drawn.content
    # a run whose limits were not kept counts as run under the current ones
    Submission.objects.filter(pk=graded["id"]).update(code_runs="")
    assert teacher.patch(url, {"params": {"time_limit_s": 3}}, format="json").status_code == 200
    refused = teacher.patch(url, {"params": {"time_limit_s": 2}}, format="json")
    assert refused.status_code == 409 and "time_limit_s=3" in refused.json()["detail"], refused.content


def test_a_limit_cannot_be_lowered_while_code_runs_under_it(code_question, student, instructor):
    """A submission being graded under the old limit finishes under it: a lower one would grade
    the later submissions more strictly (review: only graded ones were counted)."""
    submission, _ = services.submit(code_question, student, {"code": "def forward(*a):\n    return a\n"})
    Submission.objects.filter(pk=submission.pk).update(status=S.GRADING, grading_started_at=timezone.now())
    lowered = client_for(instructor).patch(f"/api/questions/{code_question.pk}/", {"params": {"time_limit_s": 1}}, format="json")
    assert lowered.status_code == 409 and lowered.json()["code"] == "limit_lowered", lowered.content
    Submission.objects.filter(pk=submission.pk).update(status=S.QUEUED)  # not run yet: it will run under the new one
    assert client_for(instructor).patch(f"/api/questions/{code_question.pk}/", {"params": {"time_limit_s": 1}}, format="json").status_code == 200
