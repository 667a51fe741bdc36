"""All-or-nothing questions (CodeRunner's default): the points only for a fully right answer.
The raw score keeps the fraction that was right, so switching the setting by a regrade rescores
without grading again, and the student is told why a partly right answer scored 0."""

from __future__ import annotations

import pytest
from helpers import client_for, reference_answers
from test_code_questions import fresh_runner, submit_code  # noqa: F401 - fixture

from exercises import services
from exercises.models import Submission

pytestmark = pytest.mark.django_db


def graded(question, student, answers) -> Submission:
    submission, _ = services.submit(question, student, answers)
    return services.grade_submission_now(submission.pk)


def half_right(question, student) -> dict:
    """forward_neuron's two fields, the first right and the second 3x off."""
    right = reference_answers(question, student)
    wrong = reference_answers(question, student, factor=3.0)
    first, second = sorted(right)
    return {first: right[first], second: wrong[second]}


def test_a_partly_right_answer_scores_0_and_says_why(make_question, student):
    question = make_question(all_or_nothing=True, attempt_penalty=0.25)
    partly = graded(question, student, half_right(question, student))
    assert (partly.raw_score, partly.score) == (0.5, 0.0)
    (note,) = services.penalty_notes(partly)
    assert note.startswith("All or nothing") and "50 % right" in note

    wrong = graded(question, student, reference_answers(question, student, factor=3.0))
    assert (wrong.raw_score, wrong.score) == (0.0, 0.0)
    assert not any("All or nothing" in n for n in services.penalty_notes(wrong))  # nothing to explain

    right = graded(question, student, reference_answers(question, student))
    assert (right.attempt_number, right.raw_score, right.score) == (3, 1.0, 5.0)  # penalties still apply
    assert not any("All or nothing" in n for n in services.penalty_notes(right))


def test_switching_it_by_a_regrade_rescores_without_grading_again(make_question, student, instructor, monkeypatch):
    question = make_question()
    partly = graded(question, student, half_right(question, student))
    right = graded(question, student, reference_answers(question, student))
    assert (partly.score, right.score) == (5.0, 10.0)

    def no_grading(*args, **kwargs):
        raise AssertionError("graded again for a scoring-only change")

    monkeypatch.setattr(services, "grade_submission", no_grading)
    preview = services.regrade_preview(question, {"all_or_nothing": True})
    assert [(d["submission"], d["old"], d["new"]) for d in preview] == [(partly.pk, 5.0, 0.0)]
    assert services.regrade_apply(question, {"all_or_nothing": True}, instructor) == 1
    partly.refresh_from_db()
    right.refresh_from_db()
    assert (partly.raw_score, partly.score, right.score) == (0.5, 0.0, 10.0)
    assert services.regrade_apply(question, {"all_or_nothing": False}, instructor) == 1
    partly.refresh_from_db()
    assert partly.score == 5.0


def test_the_api_sets_it_shows_it_to_students_and_changes_it_only_by_regrade(make_question, student, instructor):
    teacher = client_for(instructor)
    question = make_question()
    response = teacher.patch(f"/api/questions/{question.pk}/", {"all_or_nothing": True}, format="json")
    assert response.status_code == 200 and response.json()["all_or_nothing"] is True

    view = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    assert view["all_or_nothing"] is True
    partly = graded(question, student, half_right(question, student))
    shown = client_for(student).get(f"/api/submissions/{partly.pk}/").json()
    assert shown["score"] == 0.0 and any(n.startswith("All or nothing") for n in shown["penalties"])

    response = teacher.patch(f"/api/questions/{question.pk}/", {"all_or_nothing": False}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "use_regrade"
    url = f"/api/questions/{question.pk}/regrade/"
    response = teacher.post(url, {"changes": {"all_or_nothing": "no"}, "apply": True}, format="json")
    assert response.status_code == 400
    response = teacher.post(url, {"changes": {"all_or_nothing": False}, "apply": True}, format="json")
    assert response.status_code == 200 and response.json()["regraded"] == 1
    partly.refresh_from_db()
    assert partly.score == 5.0


def test_the_question_pages_say_so(make_question, student, instructor):
    from django.test import Client

    question = make_question(all_or_nothing=True)
    for user, said in ((student, "all or nothing: the points only for a fully right answer"), (instructor, "all or nothing (only")):
        client = Client()
        client.force_login(user)
        page = client.get(f"/questions/{question.pk}/")
        assert page.status_code == 200 and said in page.content.decode()


def test_code_passing_some_cases_scores_0(
    require_sandbox, fresh_runner, make_question, student, django_capture_on_commit_callbacks  # noqa: F811
):
    question = make_question("code_mlp_forward", params={"random_cases": 3}, all_or_nothing=True)
    source = services.current_variant(question, student).instance["answers"]["code"]["source"]
    first_call_only = source + (
        "\n_reference = forward\n_calls = []\n\n"
        "def forward(*args, **kwargs):\n"
        "    _calls.append(1)\n"
        "    out = _reference(*args, **kwargs)\n"
        "    return out if len(_calls) == 1 else out + 1.0\n"
    )
    body = submit_code(client_for(student), question, first_call_only, django_capture_on_commit_callbacks)
    cases = body["feedback"]["fields"]["code"]["cases"]
    assert body["status"] == "graded" and 0 < sum(c["passed"] for c in cases) < len(cases)
    assert body["score"] == 0.0 and any(n.startswith("All or nothing") for n in body["penalties"])
    assert Submission.objects.get(pk=body["id"]).raw_score == pytest.approx(1 / len(cases))
