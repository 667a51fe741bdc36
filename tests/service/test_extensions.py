"""Per-student extensions: one student's own deadlines for a problem set.

The default problem set (tests/conftest.py) was released an hour ago, is due in a day and takes
late submissions for one more day at a 50 % penalty. Times are moved by editing the stored set,
as the clock would move them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from helpers import client_for, reference_answers

from exercises import extensions, services
from exercises.extensions import Deadlines
from exercises.models import AuditEntry, Extension, ProblemSet, Submission
from exercises.services import SubmissionRefused

pytestmark = pytest.mark.django_db
S = Submission.Status


@pytest.fixture
def bob(make_user, course):
    """A classmate without an extension."""
    from exercises.models import Membership

    user = make_user("bob")
    Membership.objects.create(user=user, course=course, role=Membership.Role.STUDENT)
    return user


def ago(**delta) -> object:
    return timezone.now() - timedelta(**delta)


def ahead(**delta) -> object:
    return timezone.now() + timedelta(**delta)


def move(problem_set: ProblemSet, **times) -> None:
    """Change the stored set's times (as time passing would), keeping the in-memory one in step;
    released well before any of them."""
    ProblemSet.objects.filter(pk=problem_set.pk).update(release_at=ago(days=10), **times)
    problem_set.refresh_from_db()


def submit_and_grade(question, student, answers) -> Submission:
    question.refresh_from_db()
    submission, _ = services.submit(question, student, answers)
    return services.grade_submission_now(submission.pk)


# --- the deadlines a student gets ---------------------------------------------------------------


def test_an_extension_never_makes_a_deadline_earlier(problem_set):
    own = extensions.set_deadlines(problem_set)
    earlier = Extension(problem_set=problem_set, due_at=problem_set.due_at - timedelta(days=5))
    assert extensions.merged(problem_set, earlier) == own
    later = Extension(problem_set=problem_set, due_at=problem_set.due_at + timedelta(hours=3))
    # the set's late window still ends later than the extended due time: it stays
    assert extensions.merged(problem_set, later) == Deadlines(later.due_at, problem_set.late_until)
    beyond = Extension(problem_set=problem_set, due_at=problem_set.late_until + timedelta(days=1))
    assert extensions.merged(problem_set, beyond) == Deadlines(beyond.due_at, None)  # no late window after it
    with_window = Extension(problem_set=problem_set, due_at=beyond.due_at, late_until=beyond.due_at + timedelta(days=1))
    assert extensions.merged(problem_set, with_window).closes_at == with_window.late_until


# --- submitting ---------------------------------------------------------------------------------


def test_an_extended_student_is_on_time_where_a_classmate_is_late_or_closed(make_question, student, bob, instructor, problem_set):
    question = make_question()
    extensions.grant(problem_set, student, ahead(days=5), None, "ill", instructor)
    move(problem_set, due_at=ago(minutes=5), late_until=ahead(hours=1))
    assert submit_and_grade(question, student, reference_answers(question, student)).score == 10.0
    late = submit_and_grade(question, bob, reference_answers(question, bob))
    assert late.late and late.score == 5.0

    move(problem_set, late_until=ago(minutes=1))  # the set has closed for everyone else
    question.refresh_from_db()
    with pytest.raises(SubmissionRefused) as refused:
        services.submit(question, bob, reference_answers(question, bob))
    assert refused.value.code == "closed"
    assert submit_and_grade(question, student, reference_answers(question, student)).score == 10.0


def test_an_extension_closes_at_its_own_time(make_question, student, instructor, problem_set):
    question = make_question()
    move(problem_set, due_at=ago(hours=3), late_until=None)
    extensions.grant(problem_set, student, ago(hours=2), ago(minutes=1), "", instructor)
    question.refresh_from_db()
    with pytest.raises(SubmissionRefused) as refused:
        services.submit(question, student, reference_answers(question, student))
    assert refused.value.code == "closed"
    assert services._local(problem_set.extensions.get().late_until) in refused.value.message


# --- granting and taking back rescore at once ---------------------------------------------------


def test_granting_after_the_fact_lifts_the_late_penalty_and_revoking_puts_it_back(make_question, student, instructor, problem_set):
    question = make_question()
    move(problem_set, due_at=ago(minutes=5))
    late = submit_and_grade(question, student, reference_answers(question, student))
    assert (late.late, late.score) == (True, 5.0)

    extensions.grant(problem_set, student, ahead(days=1), None, "doctor's note", instructor)
    late.refresh_from_db()
    assert (late.late, late.score) == (False, 10.0)
    granted = AuditEntry.objects.get(action="extension_granted")
    assert granted.details["reason"] == "doctor's note" and granted.details["rescored"][0]["new"] == 10.0

    assert extensions.revoke(problem_set, student.pk, instructor)
    late.refresh_from_db()
    assert (late.late, late.score) == (True, 5.0)
    assert AuditEntry.objects.filter(action="extension_revoked").exists()
    assert not extensions.revoke(problem_set, student.pk, instructor)


def test_moving_the_sets_due_time_keeps_extended_students_on_their_own(make_question, student, bob, instructor, problem_set):
    question = make_question()
    extensions.grant(problem_set, student, ahead(days=1, hours=12), None, "", instructor)
    mine = submit_and_grade(question, student, reference_answers(question, student))
    theirs = submit_and_grade(question, bob, reference_answers(question, bob))
    services.update_problem_set(problem_set, {"due_at": ago(minutes=10), "late_until": ahead(days=1)}, instructor)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.late, mine.score) == (False, 10.0)
    assert (theirs.late, theirs.score) == (True, 5.0)


def test_a_granted_extension_must_end_its_late_window_after_its_due_time(student, instructor, problem_set):
    with pytest.raises(extensions.ExtensionError, match="the late window must not end before the due time"):
        extensions.grant(problem_set, student, ahead(days=3), ahead(days=2), "", instructor)
    with pytest.raises(extensions.ExtensionError, match="release"):
        extensions.grant(problem_set, student, ago(days=3), None, "", instructor)
    assert not Extension.objects.exists()


def test_an_extension_that_gives_no_more_time_is_refused(student, instructor, problem_set, client):
    """An extension earlier than the set's own due time was accepted and listed as the student's
    date, while the set's later one held (QA): it is refused, saying the set's times."""
    earlier = problem_set.due_at - timedelta(hours=5)
    with pytest.raises(extensions.ExtensionError, match="no more time: the set itself is due"):
        extensions.grant(problem_set, student, earlier, None, "", instructor)
    with pytest.raises(extensions.ExtensionError, match="late window until"):  # inside the set's late window
        extensions.grant(problem_set, student, problem_set.due_at, problem_set.late_until, "", instructor)
    client.force_login(instructor)
    response = client.post(
        f"/api/problem-sets/{problem_set.pk}/extensions/",
        {"username": student.username, "due_at": earlier.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 400 and "no more time" in response.json()["detail"], response.content
    assert not Extension.objects.exists()
    # a later late window alone is more time
    extensions.grant(problem_set, student, problem_set.due_at, problem_set.late_until + timedelta(days=1), "", instructor)
    assert Extension.objects.count() == 1


# --- worked solutions wait for the last extended student -----------------------------------------


def test_solutions_stay_closed_while_an_extended_student_may_still_submit(make_question, student, bob, instructor, problem_set):
    question = make_question()
    move(problem_set, due_at=ago(hours=2), late_until=ago(hours=1))
    extensions.grant(problem_set, student, ahead(hours=5), None, "", instructor)
    assert not services.solution_visible(question, bob)  # alice could be handed bob's solution
    response = client_for(bob).get(f"/api/questions/{question.pk}/solution/")
    assert response.status_code == 403
    assert datetime.fromisoformat(response.json()["available_at"]) == problem_set.extensions.get().due_at
    assert services._local(problem_set.extensions.get().due_at) in response.json()["detail"]  # readable, not ISO
    Extension.objects.update(due_at=ago(minutes=1))
    assert services.solution_visible(question, bob) and services.solution_visible(question, student)


# --- the API --------------------------------------------------------------------------------------


def test_instructors_grant_list_and_take_back_extensions_through_the_api(make_question, student, instructor, ta, problem_set):
    question = make_question()
    teacher = client_for(instructor)
    url = f"/api/problem-sets/{problem_set.pk}/extensions/"
    due = ahead(days=7)
    response = teacher.post(url, {"username": "alice", "due_at": due.isoformat(), "reason": "accommodation"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "alice" and response.json()["granted_by"] == instructor.username
    again = teacher.post(url, {"username": "alice", "due_at": (due + timedelta(days=1)).isoformat()}, format="json")
    assert again.status_code == 200 and Extension.objects.count() == 1
    listed = client_for(ta).get(url).json()
    assert [row["username"] for row in listed["results"]] == ["alice"]

    variant = client_for(student).get(f"/api/questions/{question.pk}/variant/").json()
    assert datetime.fromisoformat(variant["due_at"]) == due + timedelta(days=1)  # her own due time

    assert teacher.delete(f"{url}{student.pk}/").status_code == 204
    assert not Extension.objects.exists()
    assert teacher.delete(f"{url}{student.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "due_at": "2030-01-01T00:00Z"}, "username"),
        ({"username": "alice", "due_at": "2030-01-02T00:00Z", "late_until": "2030-01-01T00:00Z"}, "late_until"),
        ({"username": "alice"}, "due_at"),
        ({"username": "alice", "due_at": "2030-01-01T00:00Z", "extra": 1}, "extra"),
    ],
)
def test_a_bad_extension_is_a_400_naming_the_field(student, instructor, problem_set, body, field):
    response = client_for(instructor).post(f"/api/problem-sets/{problem_set.pk}/extensions/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not Extension.objects.exists()


def test_an_instructor_is_not_a_student_to_extend(instructor, problem_set):
    response = client_for(instructor).post(
        f"/api/problem-sets/{problem_set.pk}/extensions/", {"username": instructor.username, "due_at": "2030-01-01T00:00Z"}, format="json"
    )
    assert response.status_code == 400 and "not a student of this course" in response.content.decode()


def test_the_web_pages_show_a_student_their_own_deadlines(make_question, student, bob, instructor, problem_set, client):
    question = make_question()
    extensions.grant(problem_set, student, ahead(days=5), None, "", instructor)
    move(problem_set, due_at=ago(hours=2), late_until=ago(hours=1))
    client.force_login(student)
    for url in ("/", f"/problem-sets/{problem_set.pk}/", f"/questions/{question.pk}/"):
        page = client.get(url).content.decode()
        assert "(your extension)" in page and ">open<" in page, url
    client.force_login(bob)
    page = client.get(f"/questions/{question.pk}/").content.decode()
    assert "(your extension)" not in page and ">closed<" in page


def test_each_time_an_extension_moves_is_marked_as_the_students(make_question, student, bob, instructor, problem_set, client):
    """An extension that kept the set's due time and only moved the end of the late window said
    nothing: "(your extension)" came only with a moved due time, so the student was not told the
    later late time was theirs alone (review). Each time that differs from the set's is marked."""
    question = make_question()
    late_until = problem_set.late_until + timedelta(days=3)
    extensions.grant(problem_set, student, problem_set.due_at, late_until, "", instructor)

    def shown(moment) -> str:  # a time as the pages give it (the ui "local" filter)
        return rf'<time datetime="{re.escape(timezone.localtime(moment).isoformat())}">[^<]*</time>'

    client.force_login(student)
    for url in (f"/problem-sets/{problem_set.pk}/", f"/questions/{question.pk}/"):
        page = client.get(url).content.decode()
        assert re.search(rf"late submissions until {shown(late_until)} \(your extension\) at", page), url
        assert re.search(rf"due {shown(problem_set.due_at)} · ", page) and page.count("(your extension)") == 1, url
    home = client.get("/").content.decode()
    assert re.search(rf"<td>{shown(late_until)} \(your extension\)</td>", home), home
    assert re.search(rf"<td>{shown(problem_set.due_at)}</td>", home) and home.count("(your extension)") == 1
    client.force_login(bob)
    assert "(your extension)" not in client.get(f"/questions/{question.pk}/").content.decode()


def test_a_list_of_late_submissions_reads_the_students_due_time_once(make_question, student, instructor, problem_set):
    """The penalty note names the student's own due time: one extension lookup per student for a
    whole list, not one per late row (review)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    question = make_question()
    move(problem_set, due_at=ago(minutes=5))
    for _ in range(4):
        submit_and_grade(question, student, reference_answers(question, student))
    with CaptureQueriesContext(connection) as queries:
        listed = client_for(instructor).get(f"/api/questions/{question.pk}/submissions/").json()
    assert [row["late"] for row in listed["results"]] == [True] * 4 and all(row["penalties"] for row in listed["results"])
    assert sum("exercises_extension" in q["sql"] for q in queries) == 1


def test_the_question_page_says_when_a_classmates_extension_opens_the_solution(make_question, student, bob, instructor, problem_set):
    """Past the set's own close, a classmate's extension keeps the worked solution shut: the page
    said "opens once ... the problem set has closed", and the solution was refused (QA). It now
    says when, without naming anyone."""
    question = make_question(max_attempts=3)
    move(problem_set, due_at=ago(hours=2), late_until=None)
    opens = ahead(days=2).replace(second=0, microsecond=0)
    extensions.grant(problem_set, student, opens, None, "ill", instructor)
    from django.test import Client

    web = Client()
    web.force_login(bob)
    page = web.get(f"/questions/{question.pk}/").content.decode()
    at = services._local(opens)
    assert f"The worked solution opens once you have used all your attempts, or once the problem set has closed for everyone, at {at}." in page
    assert "alice" not in page.split('id="solution"')[1]
    refused = client_for(bob).get(f"/api/questions/{question.pk}/solution/")
    assert refused.status_code == 403 and at in refused.json()["detail"]


def test_granting_says_how_many_classmates_have_already_opened_a_solution(make_question, student, bob, instructor, problem_set):
    """An extension granted after solutions were opened gives its student more time beside
    classmates holding the answers; the instructor was not told (QA)."""
    from django.test import Client

    question = make_question()
    move(problem_set, due_at=ago(hours=2), late_until=None)
    assert client_for(bob).get(f"/api/questions/{question.pk}/solution/").status_code == 200
    web = Client()
    web.force_login(instructor)
    page = web.get(f"/problem-sets/{problem_set.pk}/").content.decode()
    assert "1 student of this course\n      has already opened worked solutions of this set" in page
    body = {"username": student.username, "due_at": ahead(days=2).isoformat(), "reason": "ill"}
    granted = client_for(instructor).post(f"/api/problem-sets/{problem_set.pk}/extensions/", body, format="json")
    assert granted.status_code == 201 and granted.json()["solutions_seen"] == 1, granted.content
    listed = client_for(instructor).get(f"/api/problem-sets/{problem_set.pk}/extensions/").json()["results"]
    assert "solutions_seen" not in listed[0]
