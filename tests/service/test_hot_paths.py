"""The per-submission hot paths: plain-SQL loading, statement budgets, and the races the lean
submit and grading paths must still get right (on whichever database the suite runs on).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from helpers import reference_answers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises import services, sql
from exercises.models import ProblemSet, Question, Submission, Variant

pytestmark = pytest.mark.django_db
S = Submission.Status


def field_values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def load_raw(model, pk):
    """The row as sql.RowLoader loads it from a plain `SELECT <columns()>`."""
    row = sql.fetch_one(f"SELECT {sql.columns(model, 't')} FROM {sql.table(model)} t WHERE t.id = %s", [pk])
    return sql.RowLoader.of(model).load(row)


def test_row_loader_reads_every_field_as_the_orm_does(make_question, student):
    question = make_question(tolerance={"rtol": 0.01}, max_attempts=3, per_entry_credit=True)
    submission, _ = services.submit(question, student, reference_answers(question, student), idempotency_key="k")
    services.grade_submission_now(submission.pk)  # datetimes, floats, JSON feedback, attempt number
    token = Token.objects.create(user=student)
    for model, pk in (
        (Submission, submission.pk),
        (Variant, submission.variant_id),
        (Question, question.pk),
        (ProblemSet, question.problem_set_id),
        (get_user_model(), student.pk),
    ):
        assert field_values(load_raw(model, pk)) == field_values(model.objects.get(pk=pk)), model.__name__
    raw_token = sql.RowLoader.of(Token).load(
        sql.fetch_one(f"SELECT {sql.columns(Token, 't')} FROM {sql.table(Token)} t", [])
    )
    assert field_values(raw_token) == field_values(token)


def test_graded_row_returned_matches_the_stored_row(make_question, student):
    question = make_question(attempt_penalty=0.1)
    first, _ = services.submit(question, student, reference_answers(question, student, 2.0))
    second, _ = services.submit(question, student, reference_answers(question, student))
    for submission in (first, second):
        returned = services.grade_submission_now(submission.pk)
        assert field_values(returned) == field_values(Submission.objects.get(pk=submission.pk))
    assert Submission.objects.get(pk=second.pk).attempt_number == 2


def test_submit_without_limit_or_key_is_two_statements(make_question, student):
    question = Question.objects.select_related("problem_set").get(pk=make_question().pk)
    answers = reference_answers(question, student)
    with CaptureQueriesContext(connection) as queries:
        services.submit(question, student, answers)
    assert len(queries) == 2, [q["sql"] for q in queries]


def test_grading_reads_the_row_once_and_writes_three_times(make_question, student):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    with CaptureQueriesContext(connection) as queries:
        services.grade_submission_now(submission.pk)
    statements = [q["sql"].split()[0].upper() for q in queries if "SAVEPOINT" not in q["sql"]]
    # the row claimed and read (on PostgreSQL one UPDATE ... RETURNING; SQLite reads, then
    # claims); pair lock; on PostgreSQL the question and set locked FOR SHARE in a statement of
    # their own (a statement that waited for a lock reads with its old snapshot); the question's
    # settings, the set's late penalty, whether the row is late (a regrade, deadline edit or
    # extension meanwhile) and the attempt counts; save
    postgresql = connection.vendor == "postgresql"
    claim = ["UPDATE"] if postgresql else ["SELECT", "UPDATE"]
    locks = ["SELECT"] if postgresql else []
    assert statements == [*claim, "UPDATE", *locks, "SELECT", "UPDATE"], [q["sql"] for q in queries]
    if postgresql:
        assert "RETURNING" in queries[0]["sql"] and '"exercises_problemset" p' in queries[0]["sql"]
    settings_read = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "FROM \"exercises_question\" q JOIN" in q["sql"]]
    assert len(settings_read) == 1 + len(locks)
    assert settings_read[0].endswith("FOR SHARE") == postgresql
    assert not settings_read[-1].endswith("FOR SHARE")
    with CaptureQueriesContext(connection) as queries:
        assert services.grade_submission_now(submission.pk).status == S.GRADED
    # a duplicate message only reads the row (on PostgreSQL after the claim found nothing to claim)
    assert [q["sql"].split()[0].upper() for q in queries] == (["UPDATE", "SELECT"] if postgresql else ["SELECT"])
    assert Submission.objects.get(pk=submission.pk).claims == 1


def test_claimed_for_grading_claims_a_queued_or_abandoned_row_once(make_question, student, settings):
    """The claim (one statement on PostgreSQL) returns the row with its variant, question and
    problem set, marked grading with its token; a row being graded is not claimed again until
    its claim is older than the hard time limit; a graded row never is."""
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    claimed, token = services.claimed_for_grading(submission.pk)
    assert token is not None and (claimed.status, claimed.grading_started_at, claimed.claims) == (S.GRADING, token, 1)
    assert claimed.variant.question.pk == question.pk and claimed.variant.question.problem_set.pk == question.problem_set_id
    assert claimed.variant.instance == services.current_variant(question, student).instance
    stored = Submission.objects.get(pk=submission.pk)
    assert (stored.status, stored.grading_started_at, stored.claims) == (S.GRADING, token, 1)
    again, second_token = services.claimed_for_grading(submission.pk)
    assert second_token is None and again.grading_started_at == token
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 10)
    Submission.objects.filter(pk=submission.pk).update(grading_started_at=long_ago)
    taken_over, third_token = services.claimed_for_grading(submission.pk)
    assert third_token is not None and third_token > long_ago and taken_over.claims == 2
    assert services.grade_submission_now(submission.pk).status == S.GRADING  # claimed by us: another call leaves it
    Submission.objects.filter(pk=submission.pk).update(status=S.GRADED)
    assert services.claimed_for_grading(submission.pk)[1] is None
    with pytest.raises(Submission.DoesNotExist):
        services.claimed_for_grading(10**9)


def test_api_submission_is_four_statements_with_token_auth(make_question, student):
    question = make_question()
    answers = reference_answers(question, student)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(user=student).key)
    url = f"/api/questions/{question.pk}/submissions/"
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, {"answers": answers}, format="json")
    assert response.status_code == 202, response.content
    assert len(queries) == 4, [q["sql"] for q in queries]  # token + user, question + role, variant, INSERT


def test_token_auth_refuses_unknown_tokens_and_inactive_users(make_question, student):
    question = make_question()
    client = APIClient()
    url = f"/api/questions/{question.pk}/variant/"
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get(url)
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    token = Token.objects.create(user=student)
    client.credentials(HTTP_AUTHORIZATION="Token " + token.key)
    assert client.get(url).status_code == 200
    get_user_model().objects.filter(pk=student.pk).update(is_active=False)
    response = client.get(url)
    assert response.status_code == 401 and response.json()["detail"] == "User inactive or deleted."


def test_claim_lost_between_read_and_update_is_not_graded(make_question, student):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    read = services.for_grading(submission.pk)
    elsewhere = timezone.now()
    Submission.objects.filter(pk=submission.pk).update(status=S.GRADING, grading_started_at=elsewhere)
    assert services._claim(read) is None
    assert (read.status, read.grading_started_at) == (S.GRADING, elsewhere)


def test_abandoned_claim_is_taken_over_and_the_old_claimer_writes_nothing(make_question, student, settings):
    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    old = services.for_grading(submission.pk)
    old_token = services._claim(old)
    Submission.objects.filter(pk=submission.pk).update(
        grading_started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 10)
    )
    assert services.grade_submission_now(submission.pk).attempt_number == 1
    assert not services._finish_error(old, old_token, "late result")
    stored = Submission.objects.get(pk=submission.pk)
    assert (stored.status, stored.attempt_number, stored.error_message) == (S.GRADED, 1, "")


def check_key_race_replays(question, student, monkeypatch) -> None:
    """The key lookup missed, then another request inserted the same key: ours replays theirs."""
    answers = reference_answers(question, student)
    real_check = services._check_field_names

    def racing_request(fields, given):
        real_check(fields, given)
        variant = services.current_variant(question, student)
        Submission.objects.create(variant=variant, student=student, answers=given, idempotency_key="race")

    monkeypatch.setattr(services, "_check_field_names", racing_request)
    replayed, created = services.submit(question, student, answers, idempotency_key="race")
    assert not created
    assert Submission.objects.filter(idempotency_key="race").count() == 1
    assert replayed.pk == Submission.objects.get(idempotency_key="race").pk
    assert Submission.objects.count() == 1  # a surrounding transaction survived the refused INSERT


@pytest.mark.parametrize("max_attempts", [None, 5])
def test_key_race_in_a_transaction_is_replayed(make_question, student, monkeypatch, max_attempts):
    check_key_race_replays(make_question(max_attempts=max_attempts), student, monkeypatch)


@pytest.mark.django_db(transaction=True)
def test_key_race_in_autocommit_is_replayed(make_question, student, monkeypatch):
    assert not connection.in_atomic_block
    check_key_race_replays(make_question(), student, monkeypatch)


def test_answer_fields_without_json_extraction_reads_the_whole_instance(make_question, student, monkeypatch):
    question = make_question()
    variant = services.current_variant(question, student)
    extracted = services._answer_fields(question, student)
    monkeypatch.setattr(services, "FIELDS_OF_INSTANCE", {})
    assert services._answer_fields(question, student) == extracted == (variant.pk, 1, variant.instance["fields"], False)


def test_answer_fields_draws_a_missing_variant(make_question, student):
    question = make_question()
    variant_id, number, fields, solution_seen = services._answer_fields(question, student)
    variant = Variant.objects.get(pk=variant_id)
    assert (variant.student_id, variant.question_id, fields) == (student.pk, question.pk, variant.instance["fields"])
    assert solution_seen is False and number == variant.number == 1


# Without RETURNING insert_row falls back to the ORM's save, which needs lastrowid: SQLite only
# (PostgreSQL always has RETURNING).
RETURNING_CASES = [True] if "postgresql" in settings.DATABASES["default"]["ENGINE"] else [True, False]


@pytest.mark.parametrize("returning", RETURNING_CASES)
def test_insert_row_stores_what_save_would(make_question, student, monkeypatch, returning):
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", returning)
    variant = services.current_variant(make_question(), student)
    row = Submission(variant=variant, student=student, answers={"a_3": [1.5, None]}, late=True, enqueue_count=1)
    sql.insert_row(row)
    assert row.pk is not None and row.submitted_at is not None and not row._state.adding
    stored = Submission.objects.get(pk=row.pk)
    assert field_values(stored) == field_values(row)
    assert (stored.status, stored.feedback, stored.idempotency_key) == (S.QUEUED, {}, None)


def test_a_submission_is_looked_up_with_everything_it_shows_in_one_statement(make_question, student, instructor):
    """A waiting student's page asks about the submission every second or few; the lookup went
    through the ORM in two statements and was most of such a request's CPU. Now one statement
    loads the submission, its variant, question, problem set, course, student and the role."""
    from exercises.permissions import visible_submission

    question = make_question()
    submission, _ = services.submit(question, student, reference_answers(question, student))
    services.grade_submission_now(submission.pk)
    for user, role in ((student, "student"), (instructor, "instructor")):
        with CaptureQueriesContext(connection) as queries:
            loaded, found_role = visible_submission(user, submission.pk)
            assert loaded.variant.question.problem_set.course.pk == question.problem_set.course_id
            assert loaded.student.username == "alice"
        assert len(queries) == 1 and found_role == role, [q["sql"] for q in queries]
        assert field_values(loaded.variant) == field_values(Variant.objects.get(pk=submission.variant_id))
        assert field_values(loaded.variant.question) == field_values(Question.objects.get(pk=question.pk))
        expected = field_values(Submission.objects.get(pk=submission.pk))
        assert "code_runs" in loaded.get_deferred_fields()
        assert field_values(loaded) == expected  # the deferred code runs load when read
