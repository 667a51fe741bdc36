"""exercises.services: variants, submitting, grading, the sweeper, gradebook, regrades.

Grading is driven by calling grade_submission_now directly (what the Celery task runs); the
enqueue after commit is checked with django_capture_on_commit_callbacks.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from helpers import client_for, reference_answers

from autograder import tasks
from exercises import services
from exercises.models import (
    AuditEntry,
    Course,
    Membership,
    ProblemSet,
    Question,
    Submission,
    Variant,
)
from exercises.services import SubmissionRefused
from nncore.problems import CATALOGUE, get_kind

pytestmark = pytest.mark.django_db
S = Submission.Status
HIDDEN = {"answers", "alternatives", "misconceptions", "solution"}


def submit_and_grade(question, student, answers, **kwargs) -> Submission:
    submission, _ = services.submit(question, student, answers, **kwargs)
    return services.grade_submission_now(submission.pk)


def store_unreadable_and_grade(question, student, answers) -> Submission:
    """A stored row the grader cannot read (submit refuses such answers now; rows stored before,
    or unreadable under a later parser, still reach the worker), graded as the worker does."""
    variant = services.current_variant(question, student)
    submission = Submission.objects.create(variant=variant, student=student, answers=answers, enqueue_count=1)
    return services.grade_submission_now(submission.pk)


def refused(code: str, call, *args, **kwargs) -> str:
    with pytest.raises(SubmissionRefused) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value.message


def all_keys(value) -> set:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# --- variants ---------------------------------------------------------------------------------


def test_variant_seed_is_stable_and_depends_on_every_id(make_question, student, make_user):
    question = make_question()
    seed = services.variant_seed(question, student, 1)
    assert seed == services.variant_seed(question, student, 1)
    assert 0 <= seed < 2**63
    other = make_user("bob")
    assert len({seed, services.variant_seed(question, other, 1), services.variant_seed(question, student, 2)}) == 3


def test_variant_seed_cannot_be_worked_out_from_the_ids(make_question, student, settings):
    """A student knows their question and user ids and can run the generators; the seed must
    still be unknown to them (the old unkeyed hash of the ids handed them their answers)."""
    question = make_question()
    seed = services.variant_seed(question, student, 1)
    unkeyed = hashlib.sha256(f"variant:{question.pk}:{student.pk}:1".encode()).digest()
    assert seed != int.from_bytes(unkeyed[:8], "big") >> 1
    settings.AUTOGRADER_VARIANT_SECRET = "another-installation"
    assert services.variant_seed(question, student, 1) != seed


def test_development_secret_is_random_kept_and_private(tmp_path):
    from autograder.settings import development_secret

    path = tmp_path / "var" / "secret_key"
    key = development_secret(path)
    assert len(key) >= 50 and development_secret(path) == key  # made once, then read
    assert path.stat().st_mode & 0o777 == 0o600
    assert development_secret(tmp_path / "other" / "secret_key") != key


def test_variants_are_per_student_stable_and_match_the_generator(make_question, student, make_user):
    question = make_question("forward_mlp", params={"sizes": [2, 2, 1]})
    first = services.current_variant(question, student)
    assert services.current_variant(question, student).pk == first.pk
    assert Variant.objects.filter(question=question, student=student).count() == 1
    assert first.instance == get_kind("forward_mlp").generate({"sizes": [2, 2, 1]}, first.seed)
    assert first.generator_version == get_kind("forward_mlp").version
    other = services.current_variant(question, make_user("bob"))
    assert other.seed != first.seed and other.instance["prompt"] != first.instance["prompt"]


def test_frozen_instance_is_what_the_student_sees_and_is_graded_against(make_question, student):
    """A later generator change cannot alter a drawn variant: the stored instance is used."""
    question = make_question()
    variant = services.current_variant(question, student)
    frozen = dict(variant.instance, answers={name: 123.0 for name in variant.instance["answers"]})
    Variant.objects.filter(pk=variant.pk).update(instance=frozen)
    assert services.current_variant(question, student).instance["answers"] == frozen["answers"]
    graded = submit_and_grade(question, student, {name: 123.0 for name in frozen["answers"]})
    assert graded.status == S.GRADED and graded.score == question.points


@pytest.mark.parametrize("kind", sorted(CATALOGUE))
def test_student_view_hides_answers_solution_misconceptions_and_alternatives(kind):
    instance = get_kind(kind).generate({}, 7)
    view = services.student_view(instance)
    assert not all_keys(view) & HIDDEN
    assert view["fields"] == instance["fields"] and view["prompt"]["text"] == instance["prompt"]["text"]
    assert set(view) == {"kind", "version", "prompt", "diagram", "fields", "precision"}


def test_the_variant_says_how_precise_a_number_must_be(make_question, student):
    """QA: nothing told a student that 2 decimals of -0.06508 (-0.07) would score 0."""
    question = make_question("hidden_delta")
    body = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    assert body["precision"] == (
        "A number counts as right within 1 % of the exact value: keep at least 3 significant figures (0.0123, not 0.01)."
    )
    question.tolerance = {"rtol": 0.001, "atol": 1e-9}  # a regrade's override is the rule then
    question.save()
    body = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    assert "within 0.1 % of the exact value: keep at least 4 significant figures (0.01235" in body["precision"]
    web = Client()
    web.force_login(student)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    assert '<p class="hint precision">A number counts as right within 0.1 %' in page
    code = make_question("code_softmax")
    assert client_for(student).get(f"/api/questions/{code.pk}/variant/").json()["precision"] == ""


@pytest.mark.parametrize("seed", range(6))
def test_student_view_leaves_out_private_prompt_data(seed):
    """symmetry_breaking's data named the drawn initialisation ("tied", "partial", "random"),
    which alone decides its answers (exploratory audit); the staff's instance keeps it, and an
    instance stored before the kind declared it private is shown without it too."""
    instance = get_kind("symmetry_breaking").generate({}, seed)
    assert instance["prompt"]["data"]["init"] in ("tied", "partial", "random", "zeros", "constant")
    view = services.student_view(instance)
    assert "init" not in view["prompt"]["data"]
    assert set(view["prompt"]["data"]) == set(instance["prompt"]["data"]) - {"init"}
    assert "init" in instance["prompt"]["data"]  # not removed from the stored instance


def test_a_code_prompt_states_the_tolerance_it_is_graded_with():
    """After a tolerance regrade, students' prompts still stated the tolerance of when their
    variant was drawn (noticed in the seventh session)."""
    instance = get_kind("code_mlp_forward").generate({}, 3)
    drawn = instance["tolerance"]
    stated = f"relative tolerance of {drawn['rtol']:g} and an absolute tolerance of {drawn['atol']:g}"
    assert stated in instance["prompt"]["text"]
    assert services.student_view(instance)["prompt"]["text"] == instance["prompt"]["text"]
    text = services.student_view(instance, {"rtol": 0.05})["prompt"]["text"]
    assert f"relative tolerance of 0.05 and an absolute tolerance of {drawn['atol']:g}" in text and stated not in text
    text = services.student_view(instance, {"rtol": 0.001, "atol": 1e-6})["prompt"]["text"]
    assert "relative tolerance of 0.001 and an absolute tolerance of 1e-06" in text
    numeric = get_kind("forward_mlp").generate({}, 3)  # numeric prompts state no tolerance
    assert services.student_view(numeric, {"rtol": 0.05})["prompt"]["text"] == numeric["prompt"]["text"]


def test_a_code_tolerance_override_that_lets_a_typical_bug_pass_every_case_is_named():
    """A teacher's rtol 0.1 on a code question judges every case with it: code_graph_backward's
    dropped direct path a -> c then passed every case of one draw in nine (no random cases), full
    marks for that bug. The generator guards only the parameters' own tolerance."""
    loose = {"rtol": 0.1}
    problem = services.loose_tolerance_problem("code_graph_backward", {"random_cases": 0}, loose)
    assert "typical bug 'Dropped the direct path a → c' passes every test case (seed 14)" in problem
    assert "full marks" in problem
    # the hidden random cases catch it under the same override
    assert services.loose_tolerance_problem("code_graph_backward", {}, loose) is None


def test_a_code_tolerance_override_no_looser_than_the_params_runs_nothing(monkeypatch):
    """The generator already makes every bug fail a case under the parameters' tolerance."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("bugs ran")

    monkeypatch.setattr(services, "bugs_passing_every_case", must_not_run)
    for kind, params, tolerance in [
        ("code_graph_backward", {"random_cases": 0}, {"rtol": 1e-7}),
        ("code_graph_backward", {"random_cases": 0, "rtol": 0.1, "atol": 0.01}, {"rtol": 0.1}),
        ("code_graph_backward", {}, None),
        ("code_graph_backward", {}, {"sigfigs": 3}),  # refused by code_tolerance_problem
        ("forward_neuron", {}, {"rtol": 0.5}),
    ]:
        assert services.loose_tolerance_problem(kind, params, tolerance) is None, kind


def test_fresh_variant_per_attempt_moves_on_and_counts_attempts_across_variants(make_question, student):
    question = make_question(fresh_variant_per_attempt=True, max_attempts=3, attempt_penalty=0.25)
    first = services.current_variant(question, student)
    one = submit_and_grade(question, student, reference_answers(question, student))
    second = services.current_variant(question, student)
    assert (first.number, second.number) == (1, 2) and second.seed != first.seed
    two = submit_and_grade(question, student, reference_answers(question, student))
    assert (one.attempt_number, two.attempt_number) == (1, 2)
    assert (one.variant_id, two.variant_id) == (first.pk, second.pk)
    assert two.score == pytest.approx(7.5)
    submit_and_grade(question, student, reference_answers(question, student))
    assert services.current_variant(question, student).number == 3  # capped at the last attempt


def test_fresh_variant_moves_on_at_submit_time_not_when_grading_finishes(make_question, student):
    question = make_question(fresh_variant_per_attempt=True)
    first = services.current_variant(question, student)
    queued, _ = services.submit(question, student, reference_answers(question, student))
    second = services.current_variant(question, student)
    assert queued.variant_id == first.pk and second.number == 2
    services.grade_submission_now(queued.pk)
    assert services.current_variant(question, student).pk == second.pk
    refused("unreadable_answers", services.submit, question, student, {next(iter(reference_answers(question, student))): "?"})
    assert services.current_variant(question, student).pk == second.pk


def test_a_stale_variant_is_refused_and_a_double_click_does_not_answer_an_unseen_variant(make_question, student):
    """The student saw variant 1 and clicked twice: the second POST was graded against variant 2,
    which they never saw, and scored 0 (exploratory QA). Naming the variant answered refuses it."""
    question = make_question(fresh_variant_per_attempt=True, max_attempts=3)
    seen = services.current_variant(question, student)
    answers = reference_answers(question, student)
    first, _ = services.submit(question, student, answers, expected_variant=seen.number)
    message = refused("stale_variant", services.submit, question, student, answers, expected_variant=seen.number)
    assert "variant 1" in message and "current variant is 2" in message
    assert Submission.objects.count() == 1 and first.variant_id == seen.pk
    services.submit(question, student, reference_answers(question, student), expected_variant=2)
    assert Submission.objects.count() == 2


def test_the_variant_number_is_checked_without_fresh_variants_too(make_question, student):
    question = make_question()
    services.current_variant(question, student)
    message = refused("stale_variant", services.submit, question, student, reference_answers(question, student), expected_variant=2)
    assert "you have not been given variant 2" in message and "moved you on" not in message  # QA: it said "moved you on"
    submission, _ = services.submit(question, student, reference_answers(question, student), expected_variant=1)
    assert submission.pk


# --- submitting and grading -------------------------------------------------------------------


def test_attempts_are_numbered_in_submission_order_whatever_the_grading_order(make_question, student):
    """A message lost in a Redis flush (or a killed worker) had the first submission graded after
    the second: it became attempt 2 and paid the second one's attempt penalty (exploratory QA)."""
    question = make_question(attempt_penalty=0.5)
    first, _ = services.submit(question, student, reference_answers(question, student))
    second, _ = services.submit(question, student, reference_answers(question, student, factor=3.0))
    second = services.grade_submission_now(second.pk)
    first = services.grade_submission_now(first.pk)
    assert (first.attempt_number, first.score) == (1, 10.0)
    assert (second.attempt_number, second.score) == (2, 0.0)
    third = submit_and_grade(question, student, reference_answers(question, student))
    assert (third.attempt_number, third.score) == (3, 0.0)  # 1 - 0.5 * 2, floored at 0


def test_a_row_rejected_late_gives_its_place_back(make_question, student):
    """Rows numbered while an earlier one was pending counted it; when it is rejected they move
    up a place and are rescored. Before, the gap made every later attempt pay for it, and with a
    limit of 2 the student was refused their last attempt while the page said 1 was left (review)."""
    question = make_question(max_attempts=2, attempt_penalty=0.5)
    variant = services.current_variant(question, student)
    name = next(iter(reference_answers(question, student)))
    early = Submission.objects.create(variant=variant, student=student, answers={name: "??"}, enqueue_count=1)
    middle, _ = services.submit(question, student, reference_answers(question, student))
    middle = services.grade_submission_now(middle.pk)
    assert (middle.attempt_number, middle.score) == (2, 5.0)  # the pending early row counted
    assert services.grade_submission_now(early.pk).status == S.REJECTED
    middle.refresh_from_db()
    assert (middle.attempt_number, middle.score) == (1, 10.0)
    last = submit_and_grade(question, student, reference_answers(question, student))
    assert (last.status, last.attempt_number, last.score) == (S.GRADED, 2, 5.0)
    refused("no_attempts_left", services.submit, question, student, reference_answers(question, student))


def test_a_failed_grading_counts_while_it_may_still_be_graded_and_not_after(make_question, student, settings):
    """A row that failed on our side keeps its place while the sweeper will try it again (graded
    later, it is still the first attempt); once it is given up, later rows move up."""
    settings.AUTOGRADER_MAX_GRADING_TRIES = 2
    question = make_question(attempt_penalty=0.5)
    broken, _ = services.submit(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=broken.pk).update(status=S.ERROR, claims=1)
    later = submit_and_grade(question, student, reference_answers(question, student))
    assert (later.attempt_number, later.score) == (2, 5.0)
    Submission.objects.filter(pk=broken.pk).update(status=S.QUEUED)  # the sweeper sends it again
    assert services.grade_submission_now(broken.pk).attempt_number == 1

    given_up, _ = services.submit(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=given_up.pk).update(status=S.GRADING, claims=2, grading_started_at=timezone.now() - timedelta(hours=1))
    last = submit_and_grade(question, student, reference_answers(question, student))
    assert last.attempt_number == 4  # the grading row may still finish
    tasks.sweep_stuck_submissions()  # its tries are used up: an error for good
    assert Submission.objects.get(pk=given_up.pk).status == S.ERROR
    last.refresh_from_db()
    assert (last.attempt_number, last.score) == (3, 0.0)


def test_penalties_are_explained_with_the_settings_they_came_from(make_question, student, problem_set, settings):
    """A late, third attempt showed score 3.75 of 10 with raw score 1.0 and no word on why."""
    settings.TIME_ZONE = "Europe/Vienna"
    question = make_question(attempt_penalty=0.25)
    assert services.penalty_notes(submit_and_grade(question, student, reference_answers(question, student))) == []
    submit_and_grade(question, student, reference_answers(question, student))
    ProblemSet.objects.filter(pk=problem_set.pk).update(
        due_at=timezone.now() - timedelta(minutes=1), late_until=timezone.now() + timedelta(hours=1), late_penalty=0.5
    )
    question.refresh_from_db()
    third = submit_and_grade(question, student, reference_answers(question, student))
    assert third.score == pytest.approx(10 * 0.5 * 0.5)
    attempt, late = services.penalty_notes(third)
    assert attempt == "Attempt 3: 50 % off for 2 earlier attempts (25 % each)."
    assert late.startswith("Late: 50 % off, submitted at ") and "after the due time" in late and "(UTC+01:00)" in late
    due = timezone.localtime(ProblemSet.objects.get(pk=problem_set.pk).due_at)
    assert f"after the due time {due:%a %d %b %Y, %H:%M:%S}" in late  # to the second: 23:59:30 after 23:59


def test_correct_and_wrong_answers_are_graded_with_attempt_numbers(make_question, student):
    question = make_question()
    right = submit_and_grade(question, student, reference_answers(question, student))
    assert (right.status, right.attempt_number, right.raw_score, right.score) == (S.GRADED, 1, 1.0, 10.0)
    assert set(right.feedback["fields"]) == set(reference_answers(question, student))
    wrong = submit_and_grade(question, student, reference_answers(question, student, factor=3.0))
    assert (wrong.status, wrong.attempt_number, wrong.score) == (S.GRADED, 2, 0.0)
    assert wrong.graded_at is not None and wrong.grading_started_at is not None
    assert services.attempts_used(question, student) == 2


@pytest.mark.parametrize("kind_id", sorted(k for k in CATALOGUE if not k.startswith("code_")))
def test_every_numeric_kind_is_graded_full_marks_for_its_reference_answers(kind_id, make_question, student):
    """Submitted and graded as the worker does: symmetry_breaking and init_scale, whose choice
    fields list {"id", "label"} options, ended in status "error" before the grader read them."""
    params = {"ask": "choice"} if kind_id == "init_scale" else {}  # its scheme choice field
    question = make_question(kind_id, params=params)
    answers = services.current_variant(question, student).instance["answers"]
    graded = submit_and_grade(question, student, answers)
    assert (graded.status, graded.score) == (S.GRADED, 10.0), graded.feedback


def test_unreadable_answers_are_refused_at_submit_naming_each_field(make_question, student):
    """Found only by the worker, a typo at 23:59 came back after the deadline: the fixed answers
    were then refused (closed) or charged the late penalty (exploratory QA)."""
    question = make_question(max_attempts=1)
    first, second = list(reference_answers(question, student))[:2]
    with pytest.raises(SubmissionRefused) as info:
        services.submit(question, student, {first: "0.90550963105.3", second: "0,5"})
    assert info.value.code == "unreadable_answers" and set(info.value.fields) == {first, second}
    assert "'.' for decimals" in info.value.fields[second] and "no attempt was used" in info.value.message
    assert not Submission.objects.exists()
    graded = submit_and_grade(question, student, reference_answers(question, student))
    assert graded.attempt_number == 1 and graded.score == 10.0


def test_unreadable_stored_answers_are_rejected_and_do_not_use_an_attempt(make_question, student):
    question = make_question(max_attempts=1)
    name = next(iter(reference_answers(question, student)))
    rejected = store_unreadable_and_grade(question, student, {name: "two point five"})
    assert rejected.status == S.REJECTED and rejected.attempt_number is None and rejected.score is None
    assert name in rejected.feedback["fields"] and "not counted" in rejected.feedback["message"]
    assert services.attempts_used(question, student) == 0
    graded = submit_and_grade(question, student, reference_answers(question, student))
    assert graded.attempt_number == 1 and graded.score == 10.0


def test_attempt_penalty_applies_per_earlier_attempt(make_question, student):
    question = make_question(attempt_penalty=0.25)
    scores = [submit_and_grade(question, student, reference_answers(question, student)).score for _ in range(5)]
    assert scores == [10.0, 7.5, 5.0, 2.5, 0.0]


def test_late_submission_loses_the_late_penalty(make_question, student, problem_set):
    question = make_question(attempt_penalty=0.5)
    late_time = problem_set.due_at + timedelta(hours=1)
    late = submit_and_grade(question, student, reference_answers(question, student), now=late_time)
    assert late.late and late.score == 5.0
    again = submit_and_grade(question, student, reference_answers(question, student), now=late_time)
    assert again.score == 2.5  # both penalties multiply: 10 * (1 - 0.5) * (1 - 0.5)


def test_window_refusals(make_question, student, problem_set):
    question = make_question()
    answers = reference_answers(question, student)
    refused("not_released", services.submit, question, student, answers, now=problem_set.release_at - timedelta(seconds=1))
    refused("closed", services.submit, question, student, answers, now=problem_set.late_until + timedelta(seconds=1))
    problem_set.late_until = None
    problem_set.save()
    question.refresh_from_db()
    refused("closed", services.submit, question, student, answers, now=problem_set.due_at + timedelta(seconds=1))
    on_time, _ = services.submit(question, student, answers, now=problem_set.due_at)
    assert not on_time.late
    assert not Submission.objects.filter(late=True).exists()


def test_attempt_limit_counts_queued_submissions_so_a_burst_cannot_exceed_it(make_question, student):
    question = make_question(max_attempts=2)
    answers = reference_answers(question, student)
    first, _ = services.submit(question, student, answers)
    services.submit(question, student, answers)
    message = refused("no_attempts_left", services.submit, question, student, answers)
    assert message == "no attempts left: all 2 attempts are used or being graded"
    services.grade_submission_now(first.pk)
    refused("no_attempts_left", services.submit, question, student, answers)
    assert Submission.objects.count() == 2
    one = make_question(max_attempts=1)  # not "all 1 attempt(s)" (QA)
    services.submit(one, student, reference_answers(one, student))
    message = refused("no_attempts_left", services.submit, one, student, reference_answers(one, student))
    assert message == "no attempts left: the one attempt is used or being graded"


def test_attempt_limit_is_checked_again_at_grading(make_question, student):
    """Rows that got past submit (e.g. a limit lowered later) are rejected, not counted."""
    question = make_question()
    subs = [services.submit(question, student, reference_answers(question, student))[0] for _ in range(3)]
    Question.objects.filter(pk=question.pk).update(max_attempts=2)
    graded = [services.grade_submission_now(s.pk) for s in subs]
    assert [g.status for g in graded] == [S.GRADED, S.GRADED, S.REJECTED]
    assert [g.attempt_number for g in graded] == [1, 2, None]
    assert "No attempts left" in graded[2].feedback["message"]


def test_idempotency_key_returns_the_original_or_conflicts(make_question, student, make_user):
    question = make_question()
    answers = reference_answers(question, student)
    first, created = services.submit(question, student, answers, idempotency_key="k-1")
    again, created_again = services.submit(question, student, answers, idempotency_key="k-1")
    assert created and not created_again and again.pk == first.pk
    assert Submission.objects.count() == 1
    refused("idempotency_conflict", services.submit, question, student, reference_answers(question, student, 2.0), idempotency_key="k-1")
    other_question = make_question("forward_layer")
    refused("idempotency_conflict", services.submit, other_question, student, {}, idempotency_key="k-1")
    bob = make_user("bob")
    theirs, created_bob = services.submit(question, bob, reference_answers(question, bob), idempotency_key="k-1")
    assert created_bob and theirs.pk != first.pk
    refused("bad_format", services.submit, question, student, answers, idempotency_key="x" * 201)


def test_a_retry_with_numbers_the_database_rewrites_is_still_a_replay(make_question, student):
    """PostgreSQL's jsonb gives 1e23 back as 100000000000000000000000 and -0.0 as 0: the retry of
    the very same request was refused as a different submission (409 idempotency_conflict)."""
    question = make_question()
    name = services.current_variant(question, student).instance["fields"][0]["name"]
    other = services.current_variant(question, student).instance["fields"][1]["name"]
    answers = {name: 1e23, other: -0.0}
    first, _ = services.submit(question, student, answers, idempotency_key="big")
    first.refresh_from_db()
    again, created = services.submit(question, student, answers, idempotency_key="big")
    assert again.pk == first.pk and not created
    refused("idempotency_conflict", services.submit, question, student, {name: 1e23, other: 1.5e300}, idempotency_key="big")


def test_idempotent_replay_works_after_the_deadline(make_question, student, problem_set):
    question = make_question()
    answers = reference_answers(question, student)
    first, _ = services.submit(question, student, answers, idempotency_key="retry")
    replay, created = services.submit(question, student, answers, idempotency_key="retry", now=problem_set.late_until + timedelta(days=1))
    assert replay.pk == first.pk and not created


@pytest.mark.parametrize(
    ("answers", "code", "named"),
    [
        ([1, 2], "bad_format", "JSON object"),
        ({"nope": 1, "zzz": 2}, "bad_format", "['nope', 'zzz']"),
        ({"in_3": True}, "bad_format", "in_3"),
        ({"in_3": {"x": 1}}, "bad_format", "in_3"),
        ({"in_3": [[[[1]]]]}, "bad_format", "in_3"),
        ({"in_3": float("nan")}, "bad_format", "finite"),
        ({"in_3": "1" * (services.MAX_ANSWER_BYTES + 1)}, "too_large", "bytes"),
        # in characters, the unit the code limit is stated in (QA: a pasted file was told bytes)
        ({"code": "#" * 900_000}, "too_large", "'code' alone has 900,000 characters (a code answer may have at most 60,000)"),
        ({f"f{i}": 1 for i in range(services.MAX_ANSWER_FIELDS + 1)}, "too_large", "fields"),
    ],
)
def test_bad_payloads_are_refused_synchronously(make_question, student, answers, code, named):
    question = make_question(params={"notation": "graph"})
    assert named in refused(code, services.submit, question, student, answers)
    assert not Submission.objects.exists()


def test_grading_twice_is_a_no_op(make_question, student):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    first = services.grade_submission_now(submission.pk)
    second = services.grade_submission_now(submission.pk)
    assert (second.status, second.attempt_number, second.graded_at) == (S.GRADED, 1, first.graded_at)


def test_a_row_being_graded_elsewhere_is_left_alone_until_abandoned(make_question, student, settings):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=submission.pk).update(status=S.GRADING, grading_started_at=timezone.now())
    assert services.grade_submission_now(submission.pk).status == S.GRADING
    abandoned = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 10)
    Submission.objects.filter(pk=submission.pk).update(grading_started_at=abandoned)
    assert services.grade_submission_now(submission.pk).attempt_number == 1


def test_a_worker_overtaken_mid_grading_drops_its_result(make_question, student, monkeypatch):
    """Sweeper re-enqueues a slow row and another worker grades it: numbered exactly once."""
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    sent = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    nested = []

    def another_worker_meanwhile():
        monkeypatch.setattr(services, "_test_delay", lambda: None)
        assert services.sweep_stuck(0) == 1
        nested.append(services.grade_submission_now(submission.pk))

    monkeypatch.setattr(services, "_test_delay", another_worker_meanwhile)
    final = services.grade_submission_now(submission.pk)
    assert sent == [submission.pk] and nested[0].attempt_number == 1
    assert (final.status, final.attempt_number, final.graded_at) == (S.GRADED, 1, nested[0].graded_at)
    assert Submission.objects.filter(attempt_number__isnull=False).count() == 1


def test_an_exception_while_grading_is_stored_as_error_and_retried_a_bounded_number_of_times(
    make_question, student, monkeypatch, settings
):
    settings.AUTOGRADER_MAX_GRADING_TRIES = 3
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))

    def broken(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(services, "grade_submission", broken)
    sent = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    failed = services.grade_submission_now(submission.pk)
    assert failed.status == S.ERROR and "RuntimeError: engine exploded" in failed.error_message
    for _ in range(5):
        services.sweep_stuck(0)
        services.grade_submission_now(submission.pk)
    failed.refresh_from_db()
    assert failed.status == S.ERROR and failed.enqueue_count == 3 and len(sent) == 2
    monkeypatch.undo()
    Submission.objects.filter(pk=submission.pk).update(status=S.QUEUED)
    assert services.grade_submission_now(submission.pk).status == S.GRADED


def test_an_exception_quoting_a_nul_is_stored_as_an_error(make_question, student, monkeypatch):
    """The row's error message is an exception's text, which may quote student input; a NUL in it
    failed the write on PostgreSQL and left the row in grading."""
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))

    def broken(*args, **kwargs):
        raise ValueError("bad value 'a\x00b\ud800'")

    monkeypatch.setattr(services, "grade_submission", broken)
    failed = services.grade_submission_now(submission.pk)
    failed.refresh_from_db()
    assert failed.status == S.ERROR and "bad value 'a\ufffdb\ufffd'" in failed.error_message


def test_submit_enqueues_after_commit_and_survives_a_broker_failure(make_question, student, monkeypatch, django_capture_on_commit_callbacks):
    question = make_question()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submission, _ = services.submit(question, student, reference_answers(question, student))
    assert len(callbacks) == 1
    submission.refresh_from_db()
    assert submission.status == S.GRADED and submission.enqueue_count == 1  # eager Celery in tests

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.grade_submission, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        queued, _ = services.submit(question, student, reference_answers(question, student))
    queued.refresh_from_db()
    assert queued.status == S.QUEUED  # committed anyway: the sweeper will send it


# --- the sweeper ------------------------------------------------------------------------------


def test_sweeper_requeues_lost_and_crashed_rows_with_backoff_and_a_bound(make_question, student, monkeypatch, settings):
    settings.AUTOGRADER_MAX_GRADING_TRIES = 2
    question = make_question()
    sent = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    subs = [services.submit(question, student, reference_answers(question, student))[0] for _ in range(6)]
    lost, fresh, crashed, hopeless, done, waited = subs
    old = timezone.now() - timedelta(seconds=100)
    Submission.objects.filter(pk__in=[lost.pk, crashed.pk, hopeless.pk, done.pk]).update(submitted_at=old)
    Submission.objects.filter(pk=crashed.pk).update(status=S.GRADING, grading_started_at=old, claims=1)
    Submission.objects.filter(pk=hopeless.pk).update(status=S.GRADING, grading_started_at=old, enqueue_count=2, claims=2)
    # re-sent many times while it only waited in a long queue, then its first grading crashed: one
    # claim, so it is sent again (counting sends, it ended as error after a single crash)
    Submission.objects.filter(pk=waited.pk).update(
        submitted_at=old, status=S.GRADING, grading_started_at=old, enqueue_count=14, claims=1
    )
    services.grade_submission_now(done.pk)
    sent.clear()

    assert services.sweep_stuck(60) == 3
    assert sorted(sent) == sorted([lost.pk, crashed.pk, waited.pk])
    rows = {s.pk: s for s in Submission.objects.all()}
    assert (rows[lost.pk].status, rows[lost.pk].enqueue_count) == (S.QUEUED, 2)
    assert (rows[crashed.pk].status, rows[crashed.pk].enqueue_count) == (S.QUEUED, 2)
    assert rows[hopeless.pk].status == S.ERROR and "did not finish after 2 tries" in rows[hopeless.pk].error_message
    assert (rows[waited.pk].status, rows[waited.pk].enqueue_count, rows[waited.pk].claims) == (S.QUEUED, 15, 1)
    assert rows[fresh.pk].enqueue_count == 1 and rows[done.pk].status == S.GRADED
    assert services.sweep_stuck(60) == 0  # backoff: enqueued twice -> waits 2 x 60 s
    assert services.sweep_stuck(40) == 2


def test_a_row_waiting_in_a_long_backlog_is_sent_again_rarely(make_question, student, monkeypatch):
    """Sends 1, 2, 3, 4 wait 1, 2, 4, 8 timeouts: over 15 timeouts of backlog, 4 re-sends, not 15."""
    question = make_question()
    sent = []
    monkeypatch.setattr(services, "enqueue", sent.append)
    waiting, _ = services.submit(question, student, reference_answers(question, student))
    start = timezone.now()
    for minute in range(1, 16):  # a sweep every timeout (60 s) while the row keeps waiting
        Submission.objects.filter(pk=waiting.pk).update(submitted_at=start - timedelta(seconds=60 * minute + 1))
        services.sweep_stuck(60)
    waiting.refresh_from_db()
    # the first send on submit, then at 1, 2, 4 and 8 timeouts (linear waits: at every one of the 15 sweeps)
    assert len(sent) == 5 and waiting.enqueue_count == 5
    assert [services.resend_backoff(n) for n in (0, 1, 2, 3, 4, 11, 60)] == [1, 1, 2, 4, 8, 1024, 1024]


# --- solution, gradebook, roles ---------------------------------------------------------------


def test_solution_visible_after_attempts_or_after_the_set_closes(make_question, student, problem_set):
    question = make_question(max_attempts=2)
    assert not services.solution_visible(question, student)
    assert not services.solution_visible(question, student, now=problem_set.due_at + timedelta(hours=1))  # late window open
    assert services.solution_visible(question, student, now=problem_set.late_until + timedelta(seconds=1))
    submit_and_grade(question, student, reference_answers(question, student, 2.0))
    assert not services.solution_visible(question, student)
    submit_and_grade(question, student, reference_answers(question, student, 2.0))
    assert services.solution_visible(question, student)
    unlimited = make_question()
    submit_and_grade(unlimited, student, reference_answers(unlimited, student))
    assert not services.solution_visible(unlimited, student)


def test_gradebook_has_best_scores_per_question_and_csv(make_question, student, make_user, course, problem_set):
    q1, q2 = make_question(), make_question("forward_layer", points=4.0)
    bob = make_user("bob")
    Membership.objects.create(user=bob, course=course, role=Membership.Role.STUDENT)
    carol = make_user("carol")  # enrolled, never submitted
    Membership.objects.create(user=carol, course=course, role=Membership.Role.STUDENT)
    outsider = make_user("dave")  # not enrolled (e.g. dropped) but submitted
    submit_and_grade(q1, student, reference_answers(q1, student, 2.0))
    submit_and_grade(q1, student, reference_answers(q1, student))
    submit_and_grade(q2, student, reference_answers(q2, student))
    submit_and_grade(q1, bob, reference_answers(q1, bob, 2.0))
    store_unreadable_and_grade(q1, outsider, {next(iter(reference_answers(q1, outsider))): "??"})  # rejected only
    services.submit(q2, bob, reference_answers(q2, bob))  # waiting in the queue at export time

    rows = {row["username"]: row for row in services.gradebook(problem_set)}
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    assert rows["alice"]["scores"] == {str(q1.pk): 10.0, str(q2.pk): 4.0} and rows["alice"]["total"] == 14.0
    assert rows["bob"]["scores"] == {str(q1.pk): 0.0, str(q2.pk): None} and rows["bob"]["total"] == 0.0
    assert rows["carol"]["scores"] == {str(q1.pk): None, str(q2.pk): None} and type(rows["carol"]["total"]) is float
    assert rows["dave"]["student_id"] == outsider.pk
    # a submission still waiting is told apart from none at all (exploratory QA: both were blank)
    assert (rows["bob"]["ungraded"], rows["carol"]["ungraded"], rows["dave"]["ungraded"]) == (1, 0, 0)

    # who is in the course now, and by their names (QA: an LMS import needs both)
    assert [(row["enrolled"], row["name"]) for row in rows.values()] == [(True, "")] * 3 + [(False, "")]

    table = list(csv.reader(io.StringIO(services.gradebook_csv(problem_set))))
    assert table[0] == [
        "username", "name", "enrolled", f"q{q1.pk}_forward_neuron", f"q{q2.pk}_forward_layer", "ungraded", "late", "total"
    ]
    assert table[1] == ["alice", "", "yes", "10.0", "4.0", "0", "0", "14.0"]
    assert table[2] == ["bob", "", "yes", "0.0", "", "1", "0", "0.0"]
    assert table[3] == ["carol", "", "yes", "", "", "0", "0", "0.0"]  # a float, as for all
    assert table[4] == ["dave", "", "no", "", "", "0", "0", "0.0"]


def test_gradebook_names_students_and_opens_in_excel_with_its_accents(course, make_user, make_question):
    question = make_question()
    müller = make_user("jm")
    müller.first_name, müller.last_name = "Jörg", "Müller"
    müller.save()
    Membership.objects.create(user=müller, course=course, role=Membership.Role.STUDENT)
    formula = make_user("x1")
    formula.first_name = "=HYPERLINK(1)"
    formula.save()
    Membership.objects.create(user=formula, course=course, role=Membership.Role.STUDENT)
    assert [row["name"] for row in services.gradebook(question.problem_set)] == ["Jörg Müller", "=HYPERLINK(1)"]

    plain = services.gradebook_csv(question.problem_set)
    assert plain.startswith("username,") and "Jörg Müller" in plain
    excel = services.gradebook_csv(question.problem_set, excel=True)
    assert excel.encode("utf-8").startswith(b"\xef\xbb\xbfusername,")  # the byte order mark Excel reads UTF-8 by
    table = list(csv.reader(io.StringIO(excel.encode("utf-8").decode("utf-8-sig"))))
    assert table[1][:3] == ["jm", "Jörg Müller", "yes"] and table[2][1] == "'=HYPERLINK(1)"


def test_gradebook_counts_late_submissions(make_question, student, problem_set):
    question = make_question()
    submit_and_grade(question, student, reference_answers(question, student))
    ProblemSet.objects.filter(pk=problem_set.pk).update(
        due_at=timezone.now() - timedelta(minutes=1), late_until=timezone.now() + timedelta(hours=1)
    )
    question.refresh_from_db()
    submit_and_grade(question, student, reference_answers(question, student))
    assert services.gradebook(problem_set)[0]["late"] == 1


def test_gradebook_rows_are_alphabetical_as_a_class_list(course, make_user, make_question):
    """Code-point order put "Zora" before "adam" and "Özil" after "zack" (exploratory QA)."""
    question = make_question()
    for name in ("zack", "Zora", "adam", "Özil", "oliver", "Bea"):
        Membership.objects.create(user=make_user(name), course=course, role=Membership.Role.STUDENT)
    names = [row["username"] for row in services.gradebook(question.problem_set)]
    assert names == ["adam", "Bea", "oliver", "Özil", "zack", "Zora"]


@pytest.mark.parametrize(
    ("username", "shown"),
    [("-1+1", "'-1+1"), ("+49", "'+49"), ("@sum", "'@sum"), ("alice-b", "alice-b"), ("a@b.example", "a@b.example")],
)
def test_gradebook_csv_keeps_usernames_from_becoming_formulas(course, make_user, make_question, username, shown):
    question = make_question()
    Membership.objects.create(user=make_user(username), course=course, role=Membership.Role.STUDENT)
    table = list(csv.reader(io.StringIO(services.gradebook_csv(question.problem_set))))
    assert table[1][0] == shown


def test_membership_role(student, instructor, course, make_user):
    assert services.membership_role(student, course) == "student"
    assert services.membership_role(instructor, course) == "instructor"
    assert services.membership_role(make_user("stranger"), course) is None
    assert services.membership_role(None, course) is None


# --- regrades ---------------------------------------------------------------------------------


def test_regrade_preview_and_apply_with_audit(make_question, student, make_user, instructor):
    question = make_question(attempt_penalty=0.5)
    bob = make_user("bob")
    near = submit_and_grade(question, student, reference_answers(question, student, 1.05))  # 5% off
    right = submit_and_grade(question, bob, reference_answers(question, bob))
    assert (near.score, right.score) == (0.0, 10.0)
    changes = {"tolerance": {"rtol": 0.1, "atol": 0.1}}

    preview = services.regrade_preview(question, changes)
    assert preview == [{"submission": near.pk, "student": student.pk, "username": "alice", "old": 0.0, "new": 10.0}]
    question.refresh_from_db()
    assert question.tolerance is None and not AuditEntry.objects.exists()  # preview saves nothing

    assert services.regrade_apply(question, changes, instructor) == 1
    near.refresh_from_db()
    question.refresh_from_db()
    assert (near.score, near.raw_score, near.attempt_number) == (10.0, 1.0, 1)
    assert question.tolerance == {"rtol": 0.1, "atol": 0.1}
    audit = AuditEntry.objects.get()
    assert (audit.actor, audit.action, audit.course_id) == (instructor, "regrade", question.problem_set.course_id)
    assert audit.details["changes"] == {"tolerance": {"old": None, "new": {"rtol": 0.1, "atol": 0.1}}}
    assert audit.details["submissions"] == preview

    assert services.regrade_apply(question, {"points": 20}, instructor) == 2
    assert sorted(Submission.objects.values_list("score", flat=True)) == [20.0, 20.0]


def test_regrade_keeps_attempt_and_late_penalties(make_question, student, problem_set, instructor):
    question = make_question(attempt_penalty=0.5)
    # off by 1 + |v| (at least 1): wrong for every v (v * 2 + 1 was right for an instance with v = -1)
    wrong = {k: v + 1 + abs(v) for k, v in reference_answers(question, student).items()}
    assert submit_and_grade(question, student, wrong).score == 0.0
    late = submit_and_grade(question, student, reference_answers(question, student), now=problem_set.due_at + timedelta(hours=1))
    assert late.score == 2.5
    assert services.regrade_preview(question, {"points": 4}) == [  # the first stays at 0
        {"submission": late.pk, "student": student.pk, "username": "alice", "old": 2.5, "new": 1.0}
    ]


def regrade_during_grading(monkeypatch, question, changes, instructor) -> None:
    """Make the next grading apply `changes` as a regrade after it has read the question."""
    real = services.grade_submission
    done = []

    def grade_then_regrade(*args, **kwargs):
        result = real(*args, **kwargs)
        if not done:
            done.append(services.regrade_apply(Question.objects.get(pk=question.pk), changes, instructor))
        return result

    monkeypatch.setattr(services, "grade_submission", grade_then_regrade)


def test_a_regrade_applied_while_a_submission_is_graded_also_covers_it(make_question, student, instructor, monkeypatch):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student, 1.05))  # 5% off
    regrade_during_grading(monkeypatch, question, {"tolerance": {"rtol": 0.1, "atol": 0.1}}, instructor)
    graded = services.grade_submission_now(submission.pk)  # graded under rtol 1e-2, saved after the regrade
    graded.refresh_from_db()
    assert (graded.status, graded.raw_score, graded.score) == (S.GRADED, 1.0, 10.0)
    assert graded.feedback["score"] == 1.0


def test_code_graded_again_after_a_regrade_is_judged_again_not_run_again(
    require_sandbox, make_question, student, instructor, monkeypatch
):
    """When a regrade lands while code is being graded, the grading is redone under the new
    settings from the run it already has: the student's code ran once."""
    from autograder import sandbox_runner

    question = make_question("code_mlp_forward", params={"random_cases": 1})
    source = services.current_variant(question, student).instance["answers"]["code"]["source"]
    submission, _ = services.submit(question, student, {"code": source})
    regrade_during_grading(monkeypatch, question, {"tolerance": {"rtol": 0.1, "atol": 0.01}}, instructor)
    runs = []
    real_run = sandbox_runner.run_cases

    def counting(*args, **kwargs):
        runs.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sandbox_runner, "run_cases", counting)
    try:
        graded = services.grade_submission_now(submission.pk)
    finally:
        sandbox_runner.close_sandbox_pool()
    assert (graded.status, graded.score) == (S.GRADED, 10.0) and len(runs) == 1


def test_a_regrade_keeps_raw_scores_and_feedback_true_when_the_points_do_not_move(make_question, student, instructor):
    """With the question worth 0 points a tolerance regrade changed no score, so nothing was
    written: the raw score and feedback stayed 'wrong', and the next points change rescored
    from that stale raw score (exploratory QA: 0 of 10 after points were restored)."""
    question = make_question(points=10.0)
    row = submit_and_grade(question, student, reference_answers(question, student, 1.05))  # 5% off
    assert row.raw_score == 0.0
    services.regrade_apply(question, {"points": 0.0}, instructor)
    assert services.regrade_apply(question, {"tolerance": {"rtol": 0.1, "atol": 0.1}}, instructor) == 0  # no score moved
    row.refresh_from_db()
    assert (row.raw_score, row.score, row.feedback["score"]) == (1.0, 0.0, 1.0)
    services.regrade_apply(question, {"points": 10.0}, instructor)
    row.refresh_from_db()
    assert row.score == 10.0


def test_a_code_row_without_a_kept_run_is_still_rescored_for_new_points(make_question, student, instructor):
    """A tolerance and points change at once left the rows it could not judge again on the old
    points scale (7.1 of 20 instead of 14.3), until an unrelated deadline edit rescored them."""
    question = make_question("code_mlp_forward", points=10.0)
    row = Submission.objects.create(
        variant=services.current_variant(question, student), student=student, answers={"code": "x = 1"},
        status="graded", attempt_number=1, raw_score=0.5, score=5.0,
    )
    left: list = []
    services.regrade_apply(question, {"tolerance": {"rtol": 0.1, "atol": 0.01}, "points": 20.0}, instructor, left)
    row.refresh_from_db()
    assert row.score == 10.0 and row.raw_score == 0.5 and [r["submission"] for r in left] == [row.pk]


def test_grading_again_after_a_regrade_runs_outside_any_transaction(make_question, student, instructor, monkeypatch):
    from django.db import connection

    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student, 1.05))
    regrade_during_grading(monkeypatch, question, {"tolerance": {"rtol": 0.1, "atol": 0.1}}, instructor)
    first_grading = services.grade_submission
    depths = []

    def recording(*args, **kwargs):
        depths.append(len(connection.atomic_blocks))
        return first_grading(*args, **kwargs)

    monkeypatch.setattr(services, "grade_submission", recording)
    outside = len(connection.atomic_blocks)  # the test's own transaction
    assert services.grade_submission_now(submission.pk).score == 10.0
    assert depths == [outside, outside]  # graded twice, before and after the regrade; no lock held


def test_a_failure_when_grading_again_marks_the_row_error(make_question, student, instructor, monkeypatch):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    regrade_during_grading(monkeypatch, question, {"tolerance": {"rtol": 0.1, "atol": 0.1}}, instructor)
    calls = []
    regrading = services.grade_submission

    def fail_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("sandbox went away")
        return regrading(*args, **kwargs)

    monkeypatch.setattr(services, "grade_submission", fail_second_time)
    row = services.grade_submission_now(submission.pk)
    row.refresh_from_db()
    assert (row.status, row.error_message) == (S.ERROR, "RuntimeError: sandbox went away")


def test_a_retry_racing_its_original_for_the_last_attempt_is_a_replay(make_question, student, monkeypatch):
    question = make_question(max_attempts=1)
    answers = reference_answers(question, student)
    check = services.check_answers_format
    originals = []

    def original_commits_meanwhile(value):  # runs after the retry's first look-up of its key
        check(value)
        if not originals:
            monkeypatch.setattr(services, "check_answers_format", check)
            originals.append(services.submit(question, student, answers, idempotency_key="k1")[0])

    monkeypatch.setattr(services, "check_answers_format", original_commits_meanwhile)
    replayed, created = services.submit(question, student, answers, idempotency_key="k1")
    assert (replayed.pk, created) == (originals[0].pk, False)  # not "no attempts left"
    assert Submission.objects.count() == 1


def test_a_row_graded_while_a_regrade_computes_is_regraded_too(make_question, student, make_user, instructor, monkeypatch):
    question = make_question()
    bob = make_user("bob")
    near = submit_and_grade(question, student, reference_answers(question, student, 1.05))  # 5% off
    assert near.score < 10.0
    late_row, _ = services.submit(question, bob, reference_answers(question, bob, 1.05))  # still queued
    first_pass = services._regrade
    passes = []

    def regrade_then_grade_bobs(changed, **kwargs):
        rows = list(first_pass(changed, **kwargs))
        passes.append(kwargs)
        if len(passes) == 1:  # bob's row finishes (under the old settings) before the transaction
            assert services.grade_submission_now(late_row.pk).score < 10.0
        return rows

    monkeypatch.setattr(services, "_regrade", regrade_then_grade_bobs)
    assert services.regrade_apply(question, {"tolerance": {"rtol": 0.1, "atol": 0.1}}, instructor) == 2
    assert passes[1] == {"only": {late_row.pk}, "regrade_answers": True, "not_regraded": []}  # the second pass: bob's row only
    near.refresh_from_db()
    late_row.refresh_from_db()
    assert (near.score, late_row.score) == (10.0, 10.0)
    assert [d["submission"] for d in AuditEntry.objects.get().details["submissions"]] == [near.pk, late_row.pk]


@pytest.mark.parametrize("blank", [{}, {"in_3": None, "a_3": None}, {"in_3": "  ", "a_3": ""}])
def test_a_blank_submission_is_not_an_attempt(make_question, student, blank):
    """Nothing filled in (a slip of the button) was graded 0 and used up the attempt, which on a
    one-attempt question also opened the worked solution. Refused at once: stored and rejected
    by the worker later, it would have held the attempt while queued."""
    question = make_question(max_attempts=1)
    assert "no answers given" in refused("empty_answers", services.submit, question, student, blank)
    assert not Submission.objects.exists()
    assert not services.solution_visible(question, student)
    real = submit_and_grade(question, student, reference_answers(question, student))
    assert real.status == S.GRADED and real.attempt_number == 1
    partly = {"in_3": "1.0"}  # one field answered: an attempt like any other (the blank one scores 0)
    other = make_question(max_attempts=3)
    assert submit_and_grade(other, student, partly).attempt_number == 1


def test_blank_code_is_not_an_attempt_and_runs_nothing(make_question, student):
    from autograder.grading import grade_submission

    def no_running(*args, **kwargs):
        raise AssertionError("blank code was run")

    instance = services.current_variant(make_question("code_mlp_forward"), student).instance
    result = grade_submission(instance, {"code": "  \n\t"}, run_code=no_running)
    assert result.status == "rejected" and "No answers were given" in result.message


def test_a_new_late_penalty_rescores_late_submissions_at_once(make_question, student, problem_set, instructor):
    """Editing the set's penalty left stored scores as they were, and the next unrelated regrade
    of each question applied it silently."""
    question = make_question(points=10.0)
    late = submit_and_grade(question, student, reference_answers(question, student), now=problem_set.due_at + timedelta(hours=1))
    assert late.late and late.score == 5.0
    assert services.update_problem_set(problem_set, {"late_penalty": 0.2}, instructor) == 1
    late.refresh_from_db()
    assert late.late and late.score == 8.0
    entry = AuditEntry.objects.get(action="problem_set_deadlines")
    assert entry.details["changes"] == {"late_penalty": {"old": 0.5, "new": 0.2}}
    assert [(d["old"], d["new"]) for d in entry.details["submissions"]] == [(5.0, 8.0)]
    assert services.regrade_preview(question, {"points": 10.0}) == []  # nothing left to surface later
    assert services.update_problem_set(problem_set, {"title": "Renamed"}, instructor) == 0
    assert AuditEntry.objects.filter(action="problem_set_deadlines").count() == 1


def test_a_new_title_or_release_time_is_audited(problem_set, instructor):
    """An early release shows every question to the class: who moved it, and from when."""
    old_release, old_title = problem_set.release_at, problem_set.title
    earlier = old_release - timedelta(days=2)
    services.update_problem_set(problem_set, {"title": "Week 1: forward passes", "release_at": earlier}, instructor)
    entry = AuditEntry.objects.get(action="problem_set_edit")
    assert entry.actor == instructor and entry.details == {
        "problem_set": problem_set.pk,
        "changes": {
            "title": {"old": old_title, "new": "Week 1: forward passes"},
            "release_at": {"old": old_release.isoformat(), "new": earlier.isoformat()},
        },
    }
    services.update_problem_set(problem_set, {"title": "Week 1: forward passes"}, instructor)  # no change
    assert AuditEntry.objects.filter(action="problem_set_edit").count() == 1


def test_an_extended_due_time_lifts_the_late_penalty(make_question, student, problem_set, instructor):
    question = make_question(points=10.0)
    submission = submit_and_grade(question, student, reference_answers(question, student), now=problem_set.due_at + timedelta(hours=1))
    Submission.objects.filter(pk=submission.pk).update(submitted_at=problem_set.due_at + timedelta(hours=1))
    assert services.update_problem_set(problem_set, {"due_at": problem_set.due_at + timedelta(days=1)}, instructor) == 1
    submission.refresh_from_db()
    assert not submission.late and submission.score == 10.0
    assert services.update_problem_set(problem_set, {"due_at": problem_set.due_at - timedelta(days=1)}, instructor) == 1
    submission.refresh_from_db()
    assert submission.late and submission.score == 5.0


def test_a_deadline_edit_reaches_submissions_still_being_graded(make_question, student, problem_set, instructor, monkeypatch):
    """The worker read the set before grading; an edit landing meanwhile must not be undone by
    its late save (it re-reads the penalty and its own late flag in the finishing transaction)."""
    question = make_question(points=10.0)
    submission, _ = services.submit(question, student, reference_answers(question, student), now=problem_set.due_at + timedelta(hours=1))
    assert submission.late
    real = services.grade_submission

    def grade_then_edit(*args, **kwargs):
        result = real(*args, **kwargs)
        services.update_problem_set(ProblemSet.objects.get(pk=problem_set.pk), {"late_penalty": 0.1}, instructor)
        return result

    monkeypatch.setattr(services, "grade_submission", grade_then_edit)
    assert services.grade_submission_now(submission.pk).score == 9.0


def test_an_extension_reaches_submissions_not_graded_yet(make_question, student, problem_set, instructor):
    question = make_question(points=10.0)
    queued, _ = services.submit(question, student, reference_answers(question, student), now=problem_set.due_at + timedelta(hours=1))
    Submission.objects.filter(pk=queued.pk).update(submitted_at=problem_set.due_at + timedelta(hours=1))
    services.update_problem_set(problem_set, {"due_at": problem_set.due_at + timedelta(days=1)}, instructor)
    graded = services.grade_submission_now(queued.pk)
    assert not graded.late and graded.score == 10.0


def test_points_and_penalty_regrades_rescore_without_grading_again(make_question, student, instructor, monkeypatch):
    """Grading again is for changes that alter how answers are judged. A points change on a code
    question ran every student's code again inside the instructor's request (84 s in QA)."""
    question = make_question(points=10.0)
    graded = submit_and_grade(question, student, reference_answers(question, student))
    raw = graded.raw_score
    assert raw == 1.0 and graded.score == 10.0

    def no_grading(*args, **kwargs):
        raise AssertionError("graded again for a scoring-only change")

    monkeypatch.setattr(services, "grade_submission", no_grading)
    preview = services.regrade_preview(question, {"points": 4})
    assert [(d["old"], d["new"]) for d in preview] == [(graded.score, pytest.approx(graded.score * 0.4))]
    assert services.regrade_apply(question, {"points": 4, "attempt_penalty": 0.5}, instructor) == 1
    graded.refresh_from_db()
    assert graded.raw_score == raw and graded.score == pytest.approx(4.0 * raw)  # attempt 1: no penalty yet
    with pytest.raises(AssertionError, match="graded again"):
        services.regrade_preview(question, {"tolerance": {"rtol": 0.5, "atol": 0.5}})


@pytest.mark.parametrize(
    ("kind", "changes", "grades_again"),
    [
        ("code_mlp_forward", {"points": 2}, False),
        ("code_mlp_forward", {"per_entry_credit": True, "error_carried_forward": False}, False),  # code: cases decide
        ("code_mlp_forward", {"tolerance": {"rtol": 0.1, "atol": 0.1}}, True),
        ("forward_neuron", {"points": 2, "max_attempts": 3, "attempt_penalty": 0.1}, False),
        ("forward_neuron", {"per_entry_credit": True}, True),
        ("backprop_chain", {"error_carried_forward": False}, True),
        ("backprop_chain", {"all_or_nothing": True}, False),  # the stored raw scores decide
        ("code_mlp_forward", {"all_or_nothing": True}, False),
    ],
)
def test_which_regrades_grade_again(make_question, kind, changes, grades_again):
    assert services._changes_grading(make_question(kind), changes) is grades_again


def test_points_changed_while_grading_apply_to_the_late_save(make_question, student, instructor, monkeypatch):
    question = make_question(points=10.0)
    submission, _ = services.submit(question, student, reference_answers(question, student))
    regrade_during_grading(monkeypatch, question, {"points": 4}, instructor)
    graded = services.grade_submission_now(submission.pk)
    graded.refresh_from_db()
    assert (graded.status, graded.raw_score, graded.score) == (S.GRADED, 1.0, 4.0)


@pytest.mark.parametrize(
    "changes",
    [{}, {"kind": "loss_value"}, {"points": -1}, {"attempt_penalty": 2}, {"tolerance": {"bogus": 1}}, {"tolerance": {"sigfigs": 0}}, {"tolerance": {"sigfigs": 3, "rtol": 0.1}}, {"per_entry_credit": "yes"}],
)
def test_invalid_regrade_changes_are_refused(make_question, instructor, changes):
    question = make_question()
    with pytest.raises(services.RegradeError):
        services.regrade_preview(question, changes)
    with pytest.raises(ValueError):
        services.regrade_apply(question, changes, instructor)
    assert not AuditEntry.objects.exists()


def test_chained_question_with_errors_carried_forward(make_question, student):
    """Later parts consistent with an early slip get credit only when the question carries errors."""
    scores = {}
    for ecf in (True, False):
        question = make_question("backprop_chain", error_carried_forward=ecf)
        assert submit_and_grade(question, student, reference_answers(question, student)).score == 10.0
        instance = services.current_variant(question, student).instance
        # a slip a sigmoid, tanh or ReLU unit can give (a_3 + 0.3 may pass 1, which is not carried:
        # about 1 instance in 3), large enough to change every later value (checked over 1,000 seeds)
        a_3 = instance["answers"]["a_3"]
        answers = dict(instance["answers"], a_3=a_3 * 0.5 if abs(a_3) > 0.2 else a_3 + 0.3)
        carried = get_kind("backprop_chain").recompute(instance, answers)
        answers.update({k: float(v) for k, v in carried.items() if k != "a_3"})
        scores[ecf] = submit_and_grade(question, student, answers).raw_score
    assert scores[False] < scores[True] < 1


# --- the demo data ----------------------------------------------------------------------------


def test_seed_demo_is_idempotent_and_covers_the_catalogue(monkeypatch):
    monkeypatch.setenv("DEMO_STUDENT_PASSWORD", "student-pass-123")
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())
    course = Course.objects.get(code="demo")
    assert set(Question.objects.filter(problem_set__course=course).values_list("kind", flat=True)) == set(CATALOGUE)
    assert Question.objects.count() == len(CATALOGUE) and Course.objects.count() == 1
    sets = ProblemSet.objects.filter(course=course)
    assert sets.count() >= 5 and all(s.release_at <= timezone.now() < s.due_at for s in sets)
    assert "password=student-pass-123" in out.getvalue() and out.getvalue().count("token=") == 2
    student = Membership.objects.get(course=course, role="student").user
    assert student.check_password("student-pass-123")
    question = Question.objects.filter(problem_set__course=course).first()
    assert submit_and_grade(question, student, reference_answers(question, student)).score == question.points


def test_seed_demo_takes_a_demo_course_spelled_in_capitals():
    """Codes are unique ignoring case: with a `DEMO` course there, creating `demo` raised
    IntegrityError at every `make run` (review)."""
    Course.objects.create(code="DEMO", title="Someone's demo")
    call_command("seed_demo", stdout=io.StringIO())
    assert list(Course.objects.values_list("code", flat=True)) == ["DEMO"]
    assert Question.objects.filter(problem_set__course__code="DEMO").count() == len(CATALOGUE)


def test_seed_demo_runs_again_after_an_instructor_edited_the_demo():
    """`make run` seeds at every start: an instructor's extra question of a demo kind, a second
    set with a demo title and moved positions must not break it, and stay as they are."""
    call_command("seed_demo", stdout=io.StringIO())
    course = Course.objects.get(code="demo")
    first_set = ProblemSet.objects.filter(course=course).order_by("id").first()
    original = list(first_set.questions.order_by("position"))
    extra = Question.objects.create(problem_set=first_set, kind=original[0].kind, params=original[0].params, position=2)
    twin = ProblemSet.objects.create(
        course=course, title=first_set.title, release_at=first_set.release_at, due_at=first_set.due_at
    )
    Question.objects.create(problem_set=twin, kind=original[0].kind, params=original[0].params, position=1)
    original[-1].delete()  # the instructor removed one demo question
    before = Question.objects.count()

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert "1 new question(s)" in out.getvalue()  # only the deleted one is back
    assert Question.objects.count() == before + 1
    restored = first_set.questions.get(kind=original[-1].kind)
    assert restored.position == max(q.position for q in first_set.questions.exclude(pk=restored.pk)) + 1
    assert Question.objects.get(pk=extra.pk).position == 2 and twin.questions.count() == 1


# --- admin ------------------------------------------------------------------------------------


def test_admin_pages_render_and_requeue_action(client, make_user, make_question, student):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=submission.pk).update(status=S.ERROR, error_message="boom")
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    for model in ("course", "membership", "problemset", "question", "variant", "submission", "auditentry"):
        assert client.get(f"/admin/exercises/{model}/").status_code == 200, model
    assert client.get(f"/admin/exercises/submission/{submission.pk}/change/").status_code == 200
    response = client.post(
        "/admin/exercises/submission/",
        {"action": "requeue_submissions", "_selected_action": [submission.pk]},
    )
    assert response.status_code == 302
    submission.refresh_from_db()
    assert (submission.status, submission.enqueue_count) == (S.QUEUED, 2)


def test_a_deadline_edit_through_the_api_says_how_many_scores_it_changed(make_question, student, problem_set, instructor):
    """Moving the due time a minute earlier (fixing a typo) silently took three students from 10
    to 7; the response now says so (exploratory QA)."""
    from rest_framework.test import APIClient

    question = make_question()
    submit_and_grade(question, student, reference_answers(question, student))
    client = APIClient()
    client.force_authenticate(instructor)
    url = f"/api/problem-sets/{problem_set.pk}/"
    moved = {"due_at": (timezone.now() - timedelta(minutes=1)).isoformat(), "late_until": (timezone.now() + timedelta(hours=1)).isoformat(), "late_penalty": 0.3}
    response = client.patch(url, moved, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rescored"] == 1 and Submission.objects.get().score == pytest.approx(7.0)
    assert client.patch(url, {"title": "Week 1 (renamed)"}, format="json").json()["rescored"] == 0


def test_settings_refused_for_new_questions_still_draw_for_a_question_saved_with_them(make_question, student, instructor, problem_set):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(instructor)
    body = {"kind": "weight_decay_update", "params": {"lr": 0.5, "lam": 1.0}}
    response = client.post(f"/api/problem-sets/{problem_set.pk}/questions/", body, format="json")
    assert response.status_code == 400 and "2·lr·lam below 1" in response.content.decode()
    saved_before = make_question("weight_decay_update", params={"lr": 0.5, "lam": 1.0})
    assert services.current_variant(saved_before, student).instance["answers"]


def test_lateness_is_worked_out_again_when_the_grade_is_saved(make_question, student, problem_set):
    """A deadline edit or an extension that commits while a row is being graded: the grading read
    the late flag with the snapshot its statement started with, before the edit (review, on
    PostgreSQL). Lateness now comes from submitted_at and the due time as they are at the save."""
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=submission.pk).update(late=True)  # what a stale read would say
    graded = services.grade_submission_now(submission.pk)
    assert (graded.late, graded.score) == (False, 10.0)
    assert Submission.objects.get(pk=submission.pk).late is False


def test_final_score_is_rounded_once_after_scaling_to_points(make_question):
    question = make_question(attempt_penalty=0.1)
    question.points = 5.0
    assert services.final_score(question, 1 / 7, 1, late=False) == 0.714286  # not 0.142857 * 5 = 0.714285
    assert services.final_score(question, 1 / 7, 3, late=False) == 0.571429  # 5/7 * 0.8, not 0.114286 * 5
    question.problem_set.late_penalty = 0.5
    assert services.final_score(question, 1 / 7, 1, late=True) == 0.357143


def test_scores_stored_with_the_old_double_rounding_are_not_a_regrade_change(make_question, student):
    """Before scores were rounded once, 1/7 of 5 points was stored as 0.714285 (now 0.714286):
    a regrade's preview must not list every such row as changed."""
    question = make_question()
    submission = submit_and_grade(question, student, reference_answers(question, student))
    Submission.objects.filter(pk=submission.pk).update(raw_score=1 / 7, score=round(5 * round(1 / 7, 6), 6))
    assert services.regrade_preview(question, {"points": 5.0}) == []
    changed = services.regrade_preview(question, {"points": 5.0001})
    assert [(row["old"], row["new"]) for row in changed] == [(0.714285, 0.714300)]


def test_a_regrade_computed_before_an_attempt_was_released_scores_the_new_number(make_question, student, instructor, monkeypatch):
    """An earlier attempt released (rejected, or given up on) between a regrade's first pass and
    its transaction renumbered this row 2 -> 1; the regrade wrote the penalty of attempt 2 (review)."""
    question = make_question(attempt_penalty=0.5)
    submission_and_grade = [submit_and_grade(question, student, reference_answers(question, student)) for _ in range(2)]
    second = submission_and_grade[1]
    assert (second.attempt_number, second.score) == (2, 5.0)
    real = services._regrade
    done = []

    def regrade_then_renumber(*args, **kwargs):
        rows = list(real(*args, **kwargs))
        if not done:  # as services._release_attempt leaves the row: moved up one place, rescored
            done.append(Submission.objects.filter(pk=submission_and_grade[0].pk).update(status=S.REJECTED, attempt_number=None))
            Submission.objects.filter(pk=second.pk).update(attempt_number=1, score=10.0)
        return iter(rows)

    monkeypatch.setattr(services, "_regrade", regrade_then_renumber)
    services.regrade_apply(question, {"points": 20}, instructor)
    second.refresh_from_db()
    assert (second.attempt_number, second.score) == (1, 20.0)  # not 10.0: attempt 2's penalty
