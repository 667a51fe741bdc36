"""The Django admin keeps the API's rules: questions are checked as the API checks them, records
(variants, submissions, audit entries) are never added or deleted by hand, and nothing an admin
posts is a 500. Plus what students get from a question saved around those checks anyway.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from exercises import services
from exercises.models import AuditEntry, Question, Submission


@pytest.fixture
def admin_client(db) -> Client:
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root")
    client = Client()
    client.force_login(root)
    return client


def question_form(problem_set, **changes) -> dict:
    data = {
        "problem_set": problem_set.pk, "position": 0, "kind": "forward_neuron", "params": "{}", "points": 10,
        "max_attempts": "", "attempt_penalty": 0, "tolerance": "null", "error_carried_forward": "on",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"kind": "no_such_kind"}, "Unknown kind"),
        ({"tolerance": '"abc"'}, "Must be null or an object"),
        ({"tolerance": '{"sigfigs": 3, "rtol": 0.1}'}, "rtol has no effect"),
        ({"points": -5}, "greater than or equal to 0"),
        ({"attempt_penalty": 7}, "less than or equal to 1"),
        ({"params": '{"sizes": [2, 0]}'}, "sizes"),
        # Django's JSON field re-rendered these, failing with a 500 (exploratory QA on PostgreSQL)
        ({"params": '{"\\ud800": 1}'}, "lone surrogates"),
        ({"params": '{"hidden": "\\ud800"}'}, "lone surrogates"),
        ({"tolerance": '{"\\u0000rtol": 0.1}'}, "NUL"),
        ({"params": '{"sizes": [' + "9" * 5000 + "]}"}, "Enter a valid JSON"),
    ],
)
def test_admin_refuses_a_question_the_api_would_refuse(admin_client, problem_set, changes, says):
    response = admin_client.post("/admin/exercises/question/add/", question_form(problem_set, **changes))
    assert response.status_code == 200 and says in response.content.decode(), response.content.decode()[:2000]
    assert not Question.objects.exists()


def test_admin_saves_a_good_question_with_its_defaults(admin_client, problem_set):
    response = admin_client.post("/admin/exercises/question/add/", question_form(problem_set))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Question.objects.get().params["sizes"] == [2, 1]  # the kind's defaults filled in, as the API does


def test_admin_question_edits_are_audited(admin_client, make_question):
    question = make_question()
    url = f"/admin/exercises/question/{question.pk}/change/"
    response = admin_client.post(url, question_form(question.problem_set, points=7, params='{"sizes": [2, 1]}'))
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="question_edit")
    assert entry.details["changes"]["points"] == {"old": 10.0, "new": 7.0}


def test_admin_keeps_the_edit_rules(admin_client, make_question, student):
    question = make_question()
    services.current_variant(question, student)
    url = f"/admin/exercises/question/{question.pk}/change/"
    response = admin_client.post(url, question_form(question.problem_set, kind="loss_value"))
    assert response.status_code == 200 and "kind and params can no longer change" in response.content.decode()
    question.refresh_from_db()
    assert question.kind == "forward_neuron"


@pytest.mark.parametrize("model", ["variant", "submission", "auditentry"])
def test_records_are_not_added_by_hand(admin_client, model):
    assert admin_client.get(f"/admin/exercises/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/exercises/{model}/add/", {"status": "queued"}).status_code == 403


def test_records_are_not_deleted_by_hand(admin_client, make_question, student, instructor):
    question = make_question()
    submission, _ = services.submit(question, student, {"in_3": "1", "a_3": "0.5"})
    services.regrade_apply(question, {"points": 3}, instructor)
    entry = AuditEntry.objects.get()
    for model, pk in (("submission", submission.pk), ("variant", submission.variant_id), ("auditentry", entry.pk)):
        assert admin_client.post(f"/admin/exercises/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(
        "/admin/exercises/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists() and response.status_code in (200, 302)
    assert Submission.objects.filter(pk=submission.pk).exists()


def test_a_forged_action_selection_is_not_a_500(admin_client):
    response = admin_client.post(
        "/admin/exercises/submission/", {"action": "requeue_submissions", "_selected_action": ["abc"]}
    )
    assert response.status_code == 302


def test_a_question_of_an_unknown_kind_is_a_clear_503_for_students(make_question, student):
    """Saved around every check (a database edit): students got an HTML 500."""
    question = make_question()
    Question.objects.filter(pk=question.pk).update(kind="no_such_kind")
    client = APIClient()
    client.force_authenticate(student)
    response = client.get(f"/api/questions/{question.pk}/variant/")
    assert response.status_code == 503 and response.json()["code"] == "variant_unavailable", response.content
    assert "does not exist" in response.json()["detail"]


def test_a_submission_that_could_not_be_graded_tells_the_student(make_question, student, monkeypatch):
    question = make_question()
    submission, _ = services.submit(question, student, {"in_3": "1", "a_3": "0.5"})

    def broken(*args, **kwargs):
        raise TypeError("expected a Tolerance or a mapping, got str")

    monkeypatch.setattr(services, "grade_submission", broken)
    services.grade_submission_now(submission.pk)
    client = APIClient()
    client.force_authenticate(student)
    body = client.get(f"/api/submissions/{submission.pk}/").json()
    assert body["status"] == "error" and "problem on our side" in body["feedback"]["message"]
    assert "Tolerance" not in str(body)  # the cause is for the staff


def test_the_sets_page_cannot_delete_a_question_with_its_students_work(admin_client, make_question, student, problem_set):
    """Ticking the inline row's Delete and saving the set deleted the question with every
    student's variant and submission, without the confirmation page (QA)."""
    question = make_question(params={})
    submission, _ = services.submit(question, student, {"in_3": "1", "a_3": "0.5"})
    page = admin_client.get(f"/admin/exercises/problemset/{problem_set.pk}/change/").content.decode()
    assert "questions-0-DELETE" not in page
    form = set_form(problem_set, question, **{"questions-0-DELETE": "on"})
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", form)
    assert response.status_code == 302
    assert Question.objects.filter(pk=question.pk).exists() and Submission.objects.filter(pk=submission.pk).exists()


def test_a_question_with_variants_does_not_move_to_another_set(admin_client, make_question, student, problem_set):
    """Moving a graded question to another (closed) set put its submissions in that set's
    gradebook, late or on time by the old set's times (QA)."""
    from exercises.models import ProblemSet

    other = ProblemSet.objects.create(
        course=problem_set.course, title="Closed", release_at=problem_set.release_at, due_at=problem_set.release_at
    )
    question = make_question()
    url = f"/admin/exercises/question/{question.pk}/change/"
    assert f"{problem_set.course.code}: {other.title}" in admin_client.get(url).content.decode()  # sets named with their course
    services.current_variant(question, student)
    response = admin_client.post(url, question_form(other))
    assert response.status_code == 200 and "cannot move to another problem set" in response.content.decode()
    question.refresh_from_db()
    assert question.problem_set_id == problem_set.pk
    fresh = make_question()
    assert admin_client.post(f"/admin/exercises/question/{fresh.pk}/change/", question_form(other)).status_code == 302
    fresh.refresh_from_db()
    assert fresh.problem_set_id == other.pk  # no student has it yet: it may move


def set_form(problem_set, question, **extra) -> dict:
    """The problem set's admin form with its one question as an inline row, unchanged."""
    return {
        "course": problem_set.course_id, "title": problem_set.title,
        "release_at_0": problem_set.release_at.strftime("%Y-%m-%d"), "release_at_1": problem_set.release_at.strftime("%H:%M:%S"),
        "due_at_0": problem_set.due_at.strftime("%Y-%m-%d"), "due_at_1": problem_set.due_at.strftime("%H:%M:%S"),
        "late_until_0": problem_set.late_until.strftime("%Y-%m-%d"), "late_until_1": problem_set.late_until.strftime("%H:%M:%S"),
        "late_penalty": str(problem_set.late_penalty),
        "questions-TOTAL_FORMS": "1", "questions-INITIAL_FORMS": "1", "questions-MIN_NUM_FORMS": "0", "questions-MAX_NUM_FORMS": "1000",
        "questions-0-id": question.pk, "questions-0-problem_set": problem_set.pk, "questions-0-position": question.position,
        "questions-0-kind": question.kind, "questions-0-params": "{}", "questions-0-points": question.points,
        "questions-0-max_attempts": "", "questions-0-attempt_penalty": question.attempt_penalty,
        **extra,
    }


def test_admin_deadline_edits_rescore_like_the_api(admin_client, make_question, student, problem_set):
    """Also with the set's questions on the page as inline rows: one stored with params {} (as
    seed_demo and the admin store them) and variants drawn must not block the save."""
    from datetime import timedelta

    question = make_question(points=10.0, params={})
    late, _ = services.submit(question, student, {"in_3": "1", "a_3": "0.5"}, now=problem_set.due_at + timedelta(hours=1))
    Submission.objects.filter(pk=late.pk).update(status="graded", attempt_number=1, raw_score=1.0, score=5.0, late=True)
    form = {
        "course": problem_set.course_id, "title": problem_set.title,
        "release_at_0": problem_set.release_at.strftime("%Y-%m-%d"), "release_at_1": problem_set.release_at.strftime("%H:%M:%S"),
        "due_at_0": problem_set.due_at.strftime("%Y-%m-%d"), "due_at_1": problem_set.due_at.strftime("%H:%M:%S"),
        "late_until_0": problem_set.late_until.strftime("%Y-%m-%d"), "late_until_1": problem_set.late_until.strftime("%H:%M:%S"),
        "late_penalty": "0.1",
        "questions-TOTAL_FORMS": "1", "questions-INITIAL_FORMS": "1", "questions-MIN_NUM_FORMS": "0", "questions-MAX_NUM_FORMS": "1000",
        "questions-0-id": question.pk, "questions-0-problem_set": problem_set.pk, "questions-0-position": 0,
        "questions-0-kind": "forward_neuron", "questions-0-params": "{}", "questions-0-points": 10.0,
        "questions-0-max_attempts": "", "questions-0-attempt_penalty": 0.0,
    }
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    late.refresh_from_db()
    assert late.score == 9.0
    assert AuditEntry.objects.get(action="problem_set_deadlines").details["changes"]["late_penalty"] == {"old": 0.5, "new": 0.1}


def test_an_admin_can_reopen_a_variant_whose_solution_was_shown_by_mistake(admin_client, make_question, student):
    question = make_question()
    variant = services.current_variant(question, student)
    services.mark_solution_seen(variant)
    with pytest.raises(services.SubmissionRefused):
        services.submit(question, student, {"in_3": "1"})
    response = admin_client.post("/admin/exercises/variant/", {"action": "reopen_variants", "_selected_action": [variant.pk]})
    assert response.status_code == 302
    submission, created = services.submit(question, student, {"in_3": "1"})
    assert created


def test_a_submission_record_is_read_only():
    """What was submitted and how it was graded (the code runs a regrade trusts included) are
    records; staff send a row back to grading with the "re-enqueue" action, not by editing it."""
    from django.contrib import admin as django_admin

    from exercises.models import Submission

    model_admin = django_admin.site._registry[Submission]
    editable = {f.name for f in Submission._meta.fields} - set(model_admin.readonly_fields) - {"id"}
    assert editable == set()


def test_an_action_on_a_selection_of_non_ascii_digits_is_refused(admin_client, make_question, student):
    """"²".isdigit() is true, and int("²") fails: the guard let it through to a 500."""
    response = admin_client.post(
        "/admin/exercises/submission/", {"action": "requeue_submissions", "_selected_action": ["²"]}
    )
    assert response.status_code == 302


def test_a_course_of_500_opens_and_saves(admin_client, course, make_user):
    """Its members were rows of the course's page: 6 s to open, and Save was a 400 (Django's
    1000-field limit, QA). They are counted and linked to their own list."""
    from exercises.models import Course, Membership

    Membership.objects.bulk_create(
        [Membership(user=make_user(f"s{i:03}"), course=course, role="student") for i in range(250)]
        + [Membership(user=make_user("prof"), course=course, role="instructor")]
    )
    url = f"/admin/exercises/course/{course.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "1 instructor, 250 students" in page and f"membership/?course__id__exact={course.pk}" in page
    response = admin_client.post(url, {"code": course.code, "title": "Renamed"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Course.objects.get(pk=course.pk).title == "Renamed"


def test_the_admin_keeps_a_courses_last_instructor(admin_client, course, instructor, student):
    from exercises.models import Membership

    last = Membership.objects.get(user=instructor, course=course)
    url = f"/admin/exercises/membership/{last.pk}/change/"
    demoted = admin_client.post(url, {"user": instructor.pk, "course": course.pk, "role": "student"})
    assert demoted.status_code == 200 and "needs at least one instructor" in demoted.content.decode()
    assert admin_client.post(f"/admin/exercises/membership/{last.pk}/delete/", {"post": "yes"}).status_code == 403
    other = Membership.objects.get(user=student, course=course)
    both = admin_client.post(
        "/admin/exercises/membership/", {"action": "delete_selected", "_selected_action": [last.pk, other.pk], "post": "yes"}
    )
    assert both.status_code == 403 and Membership.objects.filter(pk__in=[last.pk, other.pk]).count() == 2
    assert admin_client.post(f"/admin/exercises/membership/{other.pk}/delete/", {"post": "yes"}).status_code == 302


def test_the_admin_keeps_a_sets_times_in_order_and_its_students_work_in_its_course(admin_client, make_question, student, problem_set):
    from exercises.models import Course

    form = set_form(problem_set, make_question(params={}))
    backwards = {**form, "late_until_0": (problem_set.due_at - timedelta(days=1)).strftime("%Y-%m-%d")}
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", backwards)
    assert response.status_code == 200 and "The late window must end after the due time." in response.content.decode()
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", {**form, "late_penalty": "1.5"})
    assert response.status_code == 200 and "a fraction of the points, from 0 to 1" in response.content.decode()
    other = Course.objects.create(code="ml202", title="ML")
    services.current_variant(problem_set.questions.get(), student)
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", {**form, "course": other.pk})
    assert response.status_code == 200 and "cannot move to another course" in response.content.decode()
    problem_set.refresh_from_db()
    assert problem_set.course_id != other.pk


def test_a_question_added_without_a_position_goes_last_as_in_the_api(admin_client, make_question, problem_set):
    """The add form pre-filled position 0: the new question came first and every question the
    students knew as "Question 4" became "Question 5" (QA)."""
    first, second = make_question(position=1), make_question(position=2)
    page = admin_client.get("/admin/exercises/question/add/").content.decode()
    assert "Leave empty to put the question after the set's last one." in page
    response = admin_client.post("/admin/exercises/question/add/", question_form(problem_set, position=""))
    assert response.status_code == 302, response.content.decode()[:2000]
    added = Question.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert added.position == 3
    assert list(problem_set.questions.order_by("position", "id").values_list("pk", flat=True)) == [first.pk, second.pk, added.pk]
    # a position typed in is kept
    admin_client.post("/admin/exercises/question/add/", question_form(problem_set, position="7"))
    assert problem_set.questions.order_by("-id").first().position == 7


def test_new_inline_rows_without_positions_go_last_in_order(admin_client, make_question, problem_set):
    question = make_question(position=4)
    form = set_form(problem_set, question)
    form.update({"questions-TOTAL_FORMS": "3"})
    for row in (1, 2):
        form.update({
            f"questions-{row}-problem_set": problem_set.pk, f"questions-{row}-position": "", f"questions-{row}-kind": "forward_neuron",
            f"questions-{row}-params": "{}", f"questions-{row}-points": "10", f"questions-{row}-max_attempts": "",
            f"questions-{row}-attempt_penalty": "0",
        })
    response = admin_client.post(f"/admin/exercises/problemset/{problem_set.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(problem_set.questions.order_by("id").values_list("position", flat=True)) == [4, 5, 6]
