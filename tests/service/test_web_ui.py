"""The web UI (exercises/web.py) through Django's test client: who sees which page, submitting
through the answer form (one submission per form and answers, refusals next to the form with
the typed text kept), polling the result, the worked solution, CSRF and times in the course's zone.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from helpers import reference_answers

from exercises import answer_forms, services
from exercises.models import Course, Extension, Membership, ProblemSet, Submission
from nncore.problems.code.harness import case_source, public_case

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def question(make_question):
    return make_question("forward_neuron", max_attempts=3, attempt_penalty=0.1)


@pytest.fixture
def outsider(make_user):
    """A student of another course."""
    user = make_user("mallory")
    other = Course.objects.create(code="other", title="Another course")
    Membership.objects.create(user=user, course=other, role="student")
    return user


@pytest.fixture
def draft(course):
    """A problem set released tomorrow (students do not see it yet)."""
    now = timezone.now()
    return ProblemSet.objects.create(
        course=course, title="Draft week", release_at=now + timedelta(days=1), due_at=now + timedelta(days=8)
    )


def form_of(page: str) -> dict:
    """The hidden inputs of the answer form on a question page."""
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1) for name in ("form_key", "variant", "student")
    }


def typed(answers: dict) -> dict:
    """Answers as the form posts them (text inputs named answer.<field>)."""
    return {f"answer.{name}": value if isinstance(value, str) else repr(value) for name, value in answers.items()}


def post_answers(client, question, answers: dict, form: dict, **headers):
    return client.post(f"/questions/{question.pk}/submit/", {**form, **typed(answers)}, **headers)


def number_forms(value: float) -> set[str]:
    """How a reference answer could appear on a page: as stored, and rounded as people write it."""
    return {repr(value), f"{value:.12g}", f"{value:.6g}", f"{value:.4g}", f"{value:.3g}"}


# --- who sees what -----------------------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("get", "/"), ("get", "/problem-sets/{set}/"), ("get", "/questions/{question}/"),
    ("post", "/questions/{question}/submit/"), ("get", "/questions/{question}/solution/"),
])
def test_anonymous_visitors_are_sent_to_sign_in(question, method, path):
    url = path.format(set=question.problem_set_id, question=question.pk)
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and response["Location"] == f"/sign-in/?next={url}", response
    # an htmx request (a submit, a poll) whose session ended: told so in the result box, the page
    # and its typed answers stay (going to sign in whole lost them)
    fragment = getattr(Client(), method)(url, **HTMX, HTTP_HX_CURRENT_URL=f"http://testserver/questions/{question.pk}/")
    text = fragment.content.decode()
    assert fragment.status_code == 401 and "HX-Redirect" not in fragment and 'id="submit-result"' in text
    assert "You are signed out" in text and f'href="/sign-in/?next=/questions/{question.pk}/" target="_blank"' in text


def test_signing_in_leads_home_and_signing_out_back(student):
    client = Client()
    page = client.get("/sign-in/")
    assert page.status_code == 200 and '<label for="id_username">' in page.content.decode()
    wrong = client.post("/sign-in/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 200 and 'role="alert"' in wrong.content.decode()
    response = client.post("/sign-in/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Neural networks" in client.get("/").content.decode()
    assert client.post("/sign-out/")["Location"] == "/sign-in/"
    assert client.get("/").status_code == 302


def test_home_lists_the_students_released_sets_with_times_window_and_score(
    question, student, draft, settings, django_capture_on_commit_callbacks
):
    settings.TIME_ZONE = "Europe/Vienna"
    alice = client_for(student)
    with django_capture_on_commit_callbacks(execute=True):  # graded at once (eager Celery)
        services.submit(question, student, {k: str(v) for k, v in reference_answers(question, student).items()})
    page = alice.get("/").content.decode()
    problem_set = question.problem_set
    assert f'href="/problem-sets/{problem_set.pk}/"' in page and "Week 1" in page
    assert "Draft week" not in page  # not released: students do not see it
    due = timezone.localtime(problem_set.due_at)
    assert f'<time datetime="{due.isoformat()}">' in page and due.isoformat().endswith(("+01:00", "+02:00"))
    assert "10 / 10" in page  # the best score so far, of the set's points
    assert "open" in page


def test_home_of_an_instructor_lists_drafts_too(question, instructor, draft):
    page = client_for(instructor).get("/").content.decode()
    assert "Week 1" in page and "Draft week" in page and "not released yet" in page


def test_a_problem_set_page_lists_the_students_questions(question, student):
    page = client_for(student).get(f"/problem-sets/{question.problem_set_id}/").content.decode()
    assert f'href="/questions/{question.pk}/"' in page and "Forward pass of one neuron" in page
    assert "0 / 3" in page and "not attempted" in page
    assert "gradebook" not in page.lower()


def test_the_problem_set_page_counts_attempts_being_graded(question, student, django_capture_on_commit_callbacks):
    """The Attempts column counted graded attempts only: a student who had just submitted saw
    "0 / 3" and could think the submission lost (review). Those being graded are said, as the
    question page says them."""
    alice = client_for(student)
    url = f"/problem-sets/{question.problem_set_id}/"
    with django_capture_on_commit_callbacks(execute=True):  # graded at once
        services.submit(question, student, {"in_3": "1"})
    services.submit(question, student, {"in_3": "2"})  # stays queued (its enqueue is never run)
    page = alice.get(url).content.decode()
    assert re.search(r"<td>1 / 3 \(1 more being graded\)</td>", page), page
    assert "1 of 3 attempts used (1 more being graded)" in alice.get(f"/questions/{question.pk}/").content.decode()
    services.grade_submission_now(Submission.objects.get(status=Submission.Status.QUEUED).pk)
    assert re.search(r"<td>2 / 3</td>", alice.get(url).content.decode())


def test_the_problem_set_page_reads_every_questions_attempts_in_one_query(question, make_question, student):
    """Two counting queries per question (attempts used, attempts being graded): a set of 20
    questions cost 40 statements per page view, 500 students reloading it at the deadline (QA)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = client_for(student)
    url = f"/problem-sets/{question.problem_set_id}/"
    services.submit(question, student, {"in_3": "1"})  # queued: being graded
    with CaptureQueriesContext(connection) as one:
        assert re.search(r"<td>0 / 3 \(1 more being graded\)</td>", alice.get(url).content.decode())
    more = [make_question(max_attempts=2) for _ in range(5)]
    submission, _ = services.submit(more[2], student, {"in_3": "1"})
    services.grade_submission_now(submission.pk)
    with CaptureQueriesContext(connection) as six:
        page = alice.get(url).content.decode()
    assert len(six) == len(one), [q["sql"] for q in six]
    assert re.search(r"<td>0 / 3 \(1 more being graded\)</td>", page) and page.count("<td>0 / 2</td>") == 4
    assert page.count("<td>1 / 2</td>") == 1


def test_the_staffs_question_page_links_the_latest_submissions_and_states_the_parameters(question, student, ta):
    """The staff had no way in the web UI to reach a submission's page (QA): the question page
    said only "list them in the API". It lists the latest ones, each linked, and the parameters."""
    first, _ = services.submit(question, student, {"in_3": "1"})
    services.grade_submission_now(first.pk)
    second, _ = services.submit(question, student, {"in_3": "2"})  # queued
    page = client_for(ta).get(f"/questions/{question.pk}/").content.decode()
    rows = re.findall(r'<tr><td><a href="/submissions/(\d+)/">', page)
    assert rows == [str(second.pk), str(first.pk)], page  # newest first
    table = page.split("Latest submissions", 1)[1]
    assert len(re.findall(r", \d\d:\d\d:\d\d ", table)) == 2  # to the second: rows of one minute apart
    assert "alice" in page and "queued" in page and "graded" in page and "Latest submissions" in page
    assert "<code>bias=true</code>" in page and "<code>hidden=&quot;sigmoid&quot;</code>" in page  # as the API writes them
    assert f'href="/api/questions/{question.pk}/variants/{student.pk}/"' in page  # the student's variant, answers included
    student.first_name, student.last_name = "Alice", "Example"
    student.save()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as two:
        assert "Alice Example (alice)" in client_for(ta).get(f"/questions/{question.pk}/").content.decode()
    services.submit(question, student, {"in_3": "3"})
    with CaptureQueriesContext(connection) as three:
        client_for(ta).get(f"/questions/{question.pk}/")
    assert len(three) == len(two), [q["sql"] for q in three]  # no query per row (names were deferred, review)
    assert "By Alice Example (alice) for" in client_for(ta).get(f"/submissions/{first.pk}/").content.decode()
    assert client_for(student).get(f"/questions/{question.pk}/").content.decode().count("Latest submissions") == 0


def test_staff_see_submission_counts_and_the_gradebook_link(question, student, instructor, ta):
    services.submit(question, student, {"in_3": "1"})
    for user in (instructor, ta):
        page = client_for(user).get(f"/problem-sets/{question.problem_set_id}/").content.decode()
        assert f'href="/api/problem-sets/{question.problem_set_id}/gradebook/?format=csv"' in page
        assert f'href="/api/problem-sets/{question.problem_set_id}/gradebook/?format=csv&amp;excel=1"' in page
        assert re.search(r"<td>1</td>\s*</tr>", page), page  # one submission of the question
    staff_page = client_for(instructor).get(f"/questions/{question.pk}/").content.decode()
    assert "no variants of their own" in staff_page and 'name="form_key"' not in staff_page


@pytest.mark.parametrize("path, message", [
    ("/problem-sets/{set}/", "No such problem set."),
    ("/questions/{question}/", "No such question."),
    ("/questions/{question}/solution/", "No such question."),
])
def test_another_courses_student_gets_the_same_404_as_for_a_missing_object(question, outsider, path, message):
    client = client_for(outsider)
    response = client.get(path.format(set=question.problem_set_id, question=question.pk))
    missing = client.get(path.format(set=999999, question=999999))
    assert response.status_code == missing.status_code == 404
    assert message in response.content.decode() and message in missing.content.decode()
    assert "Forward pass" not in response.content.decode()


def test_an_instructor_of_another_course_sees_nothing_of_this_one(question, make_user):
    teacher = make_user("other-teacher")
    other = Course.objects.create(code="other", title="Another course")
    Membership.objects.create(user=teacher, course=other, role="instructor")
    client = client_for(teacher)
    for path in (f"/problem-sets/{question.problem_set_id}/", f"/questions/{question.pk}/"):
        assert client.get(path).status_code == 404
    assert "Week 1" not in client.get("/").content.decode()


def test_a_draft_is_a_404_for_students(draft, student, make_question):
    from exercises.models import Question

    hidden = Question.objects.create(problem_set=draft, kind="forward_neuron")
    assert client_for(student).get(f"/problem-sets/{draft.pk}/").status_code == 404
    assert client_for(student).get(f"/questions/{hidden.pk}/").status_code == 404


def test_another_students_submission_is_a_404(question, student, make_user, course):
    bob = make_user("bob")
    Membership.objects.create(user=bob, course=course, role="student")
    submission, _ = services.submit(question, student, {"in_3": "1"})
    response = client_for(bob).get(f"/submissions/{submission.pk}/", **HTMX)
    assert response.status_code == 404 and "No such submission." in response.content.decode()
    assert client_for(student).get(f"/submissions/{submission.pk}/", **HTMX).status_code == 200


# --- the question page -------------------------------------------------------------------------


def test_the_question_page_shows_the_prompt_and_one_input_per_field(question, student):
    page = client_for(student).get(f"/questions/{question.pk}/").content.decode()
    view = services.student_view(services.current_variant(question, student).instance)
    assert "A 2-1 feed-forward network" in page or view["prompt"]["text"][:20] in page
    assert '<div class="tex">' in page  # the prompt is typeset by MathJax (served by us)
    assert '/static/mathjax/tex-chtml.js' in page and "cdn" not in page.lower()
    for field in view["fields"]:
        input_id = answer_forms.input_id(field["name"])
        assert f'<label for="{input_id}" class="tex">' in page
        assert f'name="answer.{field["name"]}"' in page
    assert "a number (with a decimal point" in page
    assert re.search(r'name="form_key" value="[A-Za-z0-9_-]{16,}"', page)
    assert 'name="variant" value="1"' in page
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    # the raw data counts from 0 beside a prompt counting from 1 (QA: "order [1, 0]" beside "(2), (1)")
    data = re.search(r"<summary>All the numbers of your variant</summary>(.*?)</details>", page, re.S).group(1)
    assert "count from 0" in data


def test_the_question_page_never_contains_the_reference_answers(make_question, student):
    for kind in ("forward_neuron", "softmax_probabilities", "sgd_update"):
        question = make_question(kind)
        page = client_for(student).get(f"/questions/{question.pk}/").content.decode()
        instance = services.current_variant(question, student).instance
        shown = str(services.student_view(instance)["prompt"])  # numbers the prompt itself states
        for name, value in instance["answers"].items():
            for number in [value] if isinstance(value, (int, float)) else list(_flat(value)):
                if not isinstance(number, float) or abs(number) < 1e-9:
                    continue
                for text in number_forms(number):
                    if text not in shown:
                        assert text not in page, (kind, name, text)
        for step in instance["solution"]:
            assert step["latex"] not in page


def _flat(value):
    if isinstance(value, list):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def test_vector_matrix_choice_and_code_fields_say_what_to_type(make_question, student):
    alice = client_for(student)
    softmax = alice.get(f"/questions/{make_question('softmax_probabilities').pk}/").content.decode()
    assert "a vector of 4 numbers" in softmax and 'type="radio" name="answer.class"' in softmax
    sgd = alice.get(f"/questions/{make_question('sgd_update', params={'notation': 'matrix', 'target': 'layer'}).pk}/")
    assert re.search(r"a \d×\d matrix: rows separated by ; or new lines", sgd.content.decode())
    code_question = make_question("code_softmax")
    code = alice.get(f"/questions/{code_question.pk}/").content.decode()
    starter = services.current_variant(code_question, student).instance["prompt"]["data"]["code"]["starter"]
    assert 'class="code"' in code and "def softmax" in starter and "def softmax" in code


def test_a_code_question_gives_each_visible_case_as_python_to_run(
    make_question, student, require_sandbox, django_capture_on_commit_callbacks
):
    """A failed visible case said "step 4: lin.forward(...) is wrong at index [0, 0]" with no
    way to run it; its inputs were only in the dump of all the variant's numbers. The question
    page and a failed case's feedback give the case as Python to paste after one's code (hidden
    cases never: their steps are not in the feedback), and say that printed output is withheld
    on a question with hidden cases instead of dropping it silently."""
    alice = client_for(student)
    question = make_question("code_mlp_forward")
    instance = services.current_variant(question, student).instance
    visible = [c for c in instance["answers"]["code"]["cases"] if not c.get("hidden")]
    page = alice.get(f"/questions/{question.pk}/").content.decode()
    assert page.count("Run it yourself") == len(visible)
    assert html.escape(case_source(public_case(visible[0]))) in page
    form = form_of(page)
    with django_capture_on_commit_callbacks(execute=True):  # graded at once (eager Celery)
        post_answers(alice, question, {"code": "def forward(Ws, W0s, X, activation):\n    print('hi')\n    return X\n"}, form, **HTMX)
    graded = alice.get(f"/submissions/{Submission.objects.get().pk}/", **HTMX).content.decode()
    assert "<strong>graded</strong>" in graded
    assert graded.count("Run this case yourself") == len(visible)  # every visible case failed
    assert "print(forward([np.array(" in graded and "# step 1" in graded
    printed = "\n".join(["hi"] * len(visible))  # the visible cases' prints; the hidden ones' are not shown
    assert f"<summary>What your code printed while the visible cases ran</summary><pre>{printed}</pre>" in graded
    assert "What your code printed while the hidden test cases ran is not shown" in graded


# --- submitting ----------------------------------------------------------------------------------


def test_a_form_posted_twice_with_the_same_key_stores_one_submission(question, student):
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    answers = reference_answers(question, student)
    first = post_answers(alice, question, answers, form, **HTMX)
    second = post_answers(alice, question, answers, form, **HTMX)  # a double click, a retry
    third = post_answers(alice, question, answers, form)  # the same without htmx
    assert first.status_code == second.status_code == third.status_code == 200, first.content
    assert Submission.objects.count() == 1
    assert form_of(third.content.decode())["form_key"] == form["form_key"]  # the page sent back keeps its key
    submission = Submission.objects.get()
    assert submission.idempotency_key.startswith(f"ui:{form['form_key']}:")
    fragment = first.content.decode()
    assert f'hx-get="/submissions/{submission.pk}/?form=1" hx-trigger="every 1000ms"' in fragment
    assert "queued" in fragment and 'id="history" hx-swap-oob="true"' in fragment
    edited = {**answers, "in_3": f"{float(answers['in_3']) + 0.5:g}"}  # (a fixed "0.1" was the answer on some seeds)
    changed = post_answers(alice, question, edited, form, **HTMX)  # edited, sent again
    assert changed.status_code == 200 and Submission.objects.count() == 2, changed.content.decode()[:3000]


def test_polling_shows_the_grade_score_and_feedback_once_graded(question, student, django_capture_on_commit_callbacks):
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    answers = {**reference_answers(question, student), "a_3": "0.123"}
    with django_capture_on_commit_callbacks(execute=False) as sent:
        post_answers(alice, question, answers, form, **HTMX)
    submission = Submission.objects.get()
    queued = alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode()
    assert 'hx-trigger="every 1000ms"' in queued and "queued" in queued
    # waiting longer (a queue at the deadline), the page asks less often: a quarter of the wait, up to 5 s
    Submission.objects.filter(pk=submission.pk).update(submitted_at=timezone.now() - timedelta(seconds=12))
    assert 'hx-trigger="every 3' in alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode()
    Submission.objects.filter(pk=submission.pk).update(submitted_at=timezone.now() - timedelta(minutes=3))
    assert 'hx-trigger="every 5000ms"' in alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode()
    for send in sent:
        send()  # the worker grades it (eager Celery)
    graded = alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in graded  # polling stops
    assert "<strong>graded</strong>" in graded and "Score: <strong>5</strong> of 10 points" in graded
    assert "fb-correct" in graded and "fb-incorrect" in graded  # per-field feedback
    assert 'id="attempts" hx-swap-oob="true"' in graded and "1 of 3 attempts used" in graded
    whole = alice.get(f"/submissions/{submission.pk}/").content.decode()
    assert "<html" in whole and "Score:" in whole


def test_penalties_are_named(question, student, django_capture_on_commit_callbacks):
    alice = client_for(student)
    answers = reference_answers(question, student)
    for _ in range(2):
        form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
        with django_capture_on_commit_callbacks(execute=True):
            post_answers(alice, question, answers, form, **HTMX)
    second = Submission.objects.order_by("pk").last()
    page = alice.get(f"/submissions/{second.pk}/", **HTMX).content.decode()
    assert "Score: <strong>9</strong> of 10 points" in page
    assert "Attempt 2: 10 % off for 1 earlier attempt (10 % each)." in page  # services.penalty_notes, as the API


def test_a_refused_submission_shows_its_message_and_keeps_the_typed_text(question, student):
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    problem_set = question.problem_set
    problem_set.due_at = problem_set.release_at + timedelta(minutes=1)
    problem_set.late_until = None
    problem_set.save()
    answers = {"in_3": "0.731 typed late", "a_3": "1/(1+e^-1)"}
    htmx = post_answers(alice, question, answers, form, **HTMX)
    assert htmx.status_code == 403
    assert "Not submitted:</strong> this problem set closed at" in htmx.content.decode()
    page = post_answers(alice, question, answers, form)  # without htmx: the page, answers in place
    assert page.status_code == 403
    text = page.content.decode()
    assert "this problem set closed at" in text
    assert 'value="0.731 typed late"' in text and 'value="1/(1+e^-1)"' in text
    assert "Traceback" not in text and not Submission.objects.exists()


def test_unreadable_answers_are_named_next_to_their_inputs(question, student):
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    answers = {"in_3": "0,5", "a_3": "1.2.3"}
    htmx = post_answers(alice, question, answers, form, **HTMX)
    assert htmx.status_code == 400, htmx.content
    fragment = htmx.content.decode()
    assert "Not submitted:</strong>" in fragment and "could not be read" in fragment
    for name in answers:  # each message swapped into its field's error slot
        slot = re.search(rf'<p class="field-error" id="answer-{name}-error" hx-swap-oob="true">([^<]+)</p>', fragment)
        assert slot and slot.group(1).strip(), (name, fragment)
    page = post_answers(alice, question, answers, form).content.decode()  # without htmx
    assert 'value="0,5"' in page and 'value="1.2.3"' in page and 'aria-invalid="true"' in page
    assert re.search(r'id="answer-in_3-error">[^<]*\S', page)
    assert not Submission.objects.exists()


def alert_of(response) -> str:
    """The refusal's message in a result box (its role="alert" paragraph)."""
    return re.search(r'<p role="alert"><strong>Not submitted:</strong> (.*?)</p>', response.content.decode(), re.S).group(1)


def test_refusals_name_fields_as_the_form_labels_them(question, student):
    """The result box named fields by the API's names ("in_3: ...", "fill in at least one of
    ['in_3', 'a_3']", "answer(s) ['in_3'] must be a string, ..."): the form labels its inputs
    $in_{3}$ and $a_{3}$, so a student could not tell which input was meant (review). The API's
    message and `fields` keep the names its clients post."""
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    unreadable = post_answers(alice, question, {"in_3": "0,5", "a_3": "1.2.3"}, form, **HTMX)
    whole_page = post_answers(alice, question, {"in_3": "0,5", "a_3": "1.2.3"}, form)
    empty = post_answers(alice, question, {"in_3": "", "a_3": " "}, form, **HTMX)
    unstorable = post_answers(alice, question, {"in_3": "0.5\x00", "a_3": "1"}, form, **HTMX)
    assert [r.status_code for r in (unreadable, whole_page, empty, unstorable)] == [400] * 4
    for response in (unreadable, whole_page):
        message = alert_of(response)
        assert "could not be read" in message, message
        assert re.search(r'<span class="tex">\$in_\{3\}\$</span>: \S', message), message  # typeset as beside the input
        assert re.search(r'<span class="tex">\$a_\{3\}\$</span>: \S', message), message
    assert re.search(r'id="answer-a_3-error"[^>]*>[^<]*\S', whole_page.content.decode())  # and next to its input
    assert alert_of(empty) == (
        'no answers given: fill in at least one of <span class="tex">$in_{3}$</span>, <span class="tex">$a_{3}$</span>'
    )
    assert alert_of(unstorable) == 'some answers cannot be stored, so nothing was submitted: <span class="tex">$in_{3}$</span>'
    slot = re.search(r'<p class="field-error" id="answer-in_3-error" hx-swap-oob="true">([^<]*)</p>', unstorable.content.decode())
    assert slot and "cannot be stored" in slot.group(1)
    for response in (unreadable, whole_page, empty, unstorable):
        assert not re.search(r"\b(in_3|a_3)\b", alert_of(response)), alert_of(response)
    api = alice.post(f"/api/questions/{question.pk}/submissions/", {"answers": {"in_3": "0,5"}}, content_type="application/json")
    assert api.status_code == 400 and set(api.json()["fields"]) == {"in_3"} and "in_3:" in api.json()["detail"]
    both = alice.post(
        f"/api/questions/{question.pk}/submissions/", {"answers": {"in_3": "0,5", "a_3": "[1"}}, content_type="application/json"
    )
    for message in (html.unescape(alert_of(unreadable)), both.json()["detail"]):  # QA: "... decimals).; a_3: ..."
        assert ";" in message and not re.search(r"\.[;.]|[;,]\.", message), message
        assert message.endswith("."), message
    assert not Submission.objects.exists()


def test_answers_to_a_variant_no_longer_current_are_refused(make_question, student, django_capture_on_commit_callbacks):
    question = make_question("forward_neuron", fresh_variant_per_attempt=True, max_attempts=3)
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    assert form["variant"] == "1"
    with django_capture_on_commit_callbacks(execute=True):
        services.submit(question, student, {"in_3": "1"})  # another tab: the student moved on to variant 2
    response = post_answers(alice, question, {"in_3": "2"}, form, **HTMX)
    assert response.status_code == 409 and "reload the question" in response.content.decode()
    assert Submission.objects.count() == 1
    assert 'name="variant" value="2"' in alice.get(f"/questions/{question.pk}/").content.decode()


def test_a_form_without_its_key_is_refused_without_a_trace(question, student):
    response = client_for(student).post(f"/questions/{question.pk}/submit/", {"answer.in_3": "1"}, **HTMX)
    assert response.status_code == 400 and "reload the question" in response.content.decode()
    assert not Submission.objects.exists()


def test_staff_cannot_submit(question, instructor):
    response = client_for(instructor).post(f"/questions/{question.pk}/submit/", {"answer.in_3": "1"})
    assert response.status_code == 403 and "instructors and TAs have no variants" in response.content.decode()


def test_posts_need_the_csrf_token(question, student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    page = client.get(f"/questions/{question.pk}/").content.decode()
    form = form_of(page)
    refused = client.post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "1"}, **HTMX)
    assert refused.status_code == 403 and not Submission.objects.exists()
    # in the result box, keeping its id (Django's own page replaced it: later clicks had no target)
    assert 'id="submit-result"' in refused.content.decode() and "security token" in refused.content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)  # what htmx sends (hx-headers)
    accepted = client.post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "1"}, HTTP_X_CSRFTOKEN=token, **HTMX)
    assert accepted.status_code == 200 and Submission.objects.count() == 1


# --- the worked solution ---------------------------------------------------------------------------


def test_the_solution_link_appears_when_available_and_opening_it_is_recorded(make_question, student):
    question = make_question("forward_neuron", max_attempts=1)
    alice = client_for(student)
    before = alice.get(f"/questions/{question.pk}/").content.decode()
    assert f'href="/questions/{question.pk}/solution/"' not in before
    early = alice.get(f"/questions/{question.pk}/solution/")
    assert early.status_code == 403 and "The solution becomes available once" in early.content.decode()
    submission, _ = services.submit(question, student, {"in_3": "1"})
    services.grade_submission_now(submission.pk)  # the one attempt is used
    page = alice.get(f"/questions/{question.pk}/").content.decode()
    assert f'href="/questions/{question.pk}/solution/"' in page
    assert page.index("takes no more") < page.index(f'href="/questions/{question.pk}/solution/"')  # warned first
    asked = alice.get(f"/questions/{question.pk}/solution/")  # a GET only asks: a link from elsewhere spends nothing
    instance = services.current_variant(question, student).instance
    assert asked.status_code == 200 and "Show the worked solution" in asked.content.decode()
    assert instance["solution"][0]["latex"] not in asked.content.decode()
    assert services.current_variant(question, student).solution_seen_at is None
    shown = alice.post(f"/questions/{question.pk}/solution/")
    assert shown.status_code == 302 and shown["Location"] == f"/questions/{question.pk}/solution/"
    assert services.current_variant(question, student).solution_seen_at is not None  # as the API records it
    solution = alice.get(f"/questions/{question.pk}/solution/")
    assert solution.status_code == 200 and instance["solution"][0]["latex"] in solution.content.decode()
    after = alice.get(f"/questions/{question.pk}/").content.decode()
    assert "You have seen the worked solution of this variant" in after


def test_the_graded_last_attempt_brings_the_solution_link_without_a_reload(
    make_question, student, django_capture_on_commit_callbacks
):
    """The result box htmx swapped in showed the last attempt graded, but the worked solution's
    link (available now) only appeared after a reload (review): the graded fragment replaces
    the page's solution section too, with the same warning first."""
    question = make_question("forward_neuron", max_attempts=1)
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    link = f'href="/questions/{question.pk}/solution/"'
    with django_capture_on_commit_callbacks(execute=False) as sent:
        queued = post_answers(alice, question, reference_answers(question, student), form, **HTMX).content.decode()
    assert '<section class="solution" id="solution" hx-swap-oob="true">' in queued and link not in queued  # not graded yet
    submission = Submission.objects.get()
    for send in sent:
        send()  # the worker grades it (eager Celery)
    graded = alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode()
    section = graded.split('<section class="solution" id="solution" hx-swap-oob="true">')[1].split("</section>")[0]
    assert link in section and section.index("takes no more") < section.index(link)  # warned first, as the page does
    assert section == alice.get(f"/questions/{question.pk}/").content.decode().split('<section class="solution" id="solution">')[1].split("</section>")[0]


def test_the_last_attempt_turns_the_form_off_without_a_reload(make_question, student, django_capture_on_commit_callbacks):
    """After the last attempt the form stayed until a reload, and a submit from it was then
    refused (review): the submission's fragment turns the button off and shows the note the
    page shows, and the grading's fragment keeps them so."""
    question = make_question("forward_neuron", max_attempts=2)
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    button = re.compile(r'<button type="submit" id="submit-answers"[^>]*>[^<]*</button>')
    note = re.compile(r'<p class="warning" role="note" id="attempts-note"[^>]*>[^<]*</p>')
    with django_capture_on_commit_callbacks(execute=True):
        first = post_answers(alice, question, reference_answers(question, student, 3.0), form, **HTMX).content.decode()
    assert button.search(first).group() == '<button type="submit" id="submit-answers" hx-swap-oob="true">Submit answers</button>'
    assert " hidden>" in note.search(first).group()
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    with django_capture_on_commit_callbacks(execute=False) as sent:
        last = post_answers(alice, question, reference_answers(question, student), form, **HTMX).content.decode()
    assert button.search(last).group() == '<button type="submit" id="submit-answers" hx-swap-oob="true" disabled>No attempts left</button>'
    assert note.search(last).group().endswith(">You have used all 2 attempts (the last being graded).</p>")
    submission = Submission.objects.latest("pk")
    poll = f"/submissions/{submission.pk}/?form=1"
    assert f'hx-get="{poll}"' in last  # the result box polls as a box beside the form
    for send in sent:
        send()  # the worker grades it (eager Celery)
    graded = alice.get(poll, **HTMX).content.decode()
    assert button.search(graded).group() == '<button type="submit" id="submit-answers" hx-swap-oob="true" disabled>No attempts left</button>'
    assert note.search(graded).group().endswith(">You have used all 2 attempts.</p>")
    # a page without the form (loaded after the last attempt) has no button to swap: none is sent
    assert not button.search(alice.get(f"/submissions/{submission.pk}/", **HTMX).content.decode())
    page = alice.get(f"/questions/{question.pk}/").content.decode()
    assert 'id="answer-form"' not in page
    assert note.search(page).group() == note.search(graded).group().replace(' hx-swap-oob="true"', "")


def test_an_attempt_limit_raised_meanwhile_turns_the_form_on_again(make_question, student, django_capture_on_commit_callbacks):
    """The last attempt turns the button off; when the teacher allows more attempts while it is
    graded, the graded fragment turns it on again (no reload needed)."""
    question = make_question("forward_neuron", max_attempts=1)
    alice = client_for(student)
    form = form_of(alice.get(f"/questions/{question.pk}/").content.decode())
    with django_capture_on_commit_callbacks(execute=False) as sent:
        last = post_answers(alice, question, reference_answers(question, student), form, **HTMX).content.decode()
    assert 'disabled>No attempts left</button>' in last
    question.max_attempts = 2
    question.save(update_fields=["max_attempts"])
    for send in sent:
        send()
    graded = alice.get(f"/submissions/{Submission.objects.get().pk}/?form=1", **HTMX).content.decode()
    assert '<button type="submit" id="submit-answers" hx-swap-oob="true">Submit answers</button>' in graded
    assert re.search(r'id="attempts-note" hx-swap-oob="true" hidden></p>', graded)


def test_times_and_penalty_of_the_late_window(question, student):
    problem_set = question.problem_set
    problem_set.due_at = timezone.now() - timedelta(minutes=5)
    problem_set.release_at = problem_set.due_at - timedelta(days=1)
    problem_set.save()
    page = client_for(student).get("/").content.decode()
    assert "late window: −50 %" in page


def test_the_root_is_the_ui_and_the_api_docs_stay(student):
    assert Client().get("/")["Location"].startswith("/sign-in/")
    assert Client().get("/api/docs/").status_code == 200


def test_pages_link_the_sites_icon_and_favicon_ico_leads_to_it(question, student):
    """Browsers asked for /favicon.ico on every page and got a 404 (review): the pages link an
    icon of our static files, and /favicon.ico (asked for by pages that link none: the API's)
    leads to it."""
    from django.contrib.staticfiles import finders

    icon = '<link rel="icon" href="/static/exercises/favicon.svg" type="image/svg+xml">'
    alice = client_for(student)
    for page in (Client().get("/sign-in/"), alice.get("/"), alice.get(f"/questions/{question.pk}/"), alice.get("/questions/999999/")):
        assert icon in page.content.decode(), page
    found = finders.find("exercises/favicon.svg")  # what collectstatic gathers and the service serves
    assert found and Path(found).read_text().startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    response = Client().get("/favicon.ico")  # signed in or not
    assert response.status_code == 302 and response["Location"] == "/static/exercises/favicon.svg"


def test_a_variant_number_in_other_digits_is_a_refusal_not_a_crash(question, student):
    form = form_of(client_for(student).get(f"/questions/{question.pk}/").content.decode())
    response = client_for(student).post(f"/questions/{question.pk}/submit/", {**form, "variant": "²", "answer.in_3": "1"}, **HTMX)
    assert response.status_code == 400 and "form is incomplete" in response.content.decode()


def test_an_empty_form_with_checkboxes_uses_no_attempt(make_question, student):
    """The hidden input that posts a checkbox group made an untouched form an answer ([]): graded 0,
    an attempt used (review)."""
    question = make_question("symmetry_breaking", max_attempts=3)
    client = client_for(student)
    page = client.get(f"/questions/{question.pk}/").content.decode()
    groups = re.findall(r'<input type="hidden" name="(choices\.[^"]+)" value="">', page)
    assert groups  # what a browser posts for a group with nothing ticked
    response = client.post(f"/questions/{question.pk}/submit/", {**form_of(page), **dict.fromkeys(groups, "")}, **HTMX)
    assert response.status_code == 400 and "no answers given" in response.content.decode()
    assert not Submission.objects.exists()


def test_without_javascript_a_fresh_variant_gets_a_fresh_form(make_question, student):
    """The page after a submit showed the next variant's numbers with the last answers still filled
    in: submitting again answered the new numbers with the old answers (review)."""
    question = make_question("forward_neuron", fresh_variant_per_attempt=True, max_attempts=3)
    client = client_for(student)
    form = form_of(client.get(f"/questions/{question.pk}/").content.decode())
    page = client.post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "123.25", "answer.a_3": "0.5"}).content.decode()
    assert 'name="variant" value="2"' in page and "123.25" not in page.split('id="answer-form"')[1].split("</form>")[0]


def test_a_question_that_takes_no_more_submissions_shows_why_instead_of_the_form(make_question, student):
    """A closed set or used-up attempts still showed the form and its Submit button (review)."""
    question = make_question("forward_neuron", max_attempts=1)
    alice = client_for(student)
    assert 'id="answer-form"' in alice.get(f"/questions/{question.pk}/").content.decode()
    services.submit(question, student, {"in_3": "1", "a_3": "0.5"})
    page = alice.get(f"/questions/{question.pk}/").content.decode()
    assert 'id="answer-form"' not in page and "You have used all 1 attempts" in page
    problem_set = question.problem_set
    problem_set.due_at, problem_set.late_until = problem_set.release_at + timedelta(minutes=1), None
    problem_set.save()
    page = alice.get(f"/questions/{question.pk}/").content.decode()
    assert 'id="answer-form"' not in page and "This problem set has closed" in page


def test_small_things_a_browser_found(question, student):
    """Signed in already, /sign-in/?next=/sign-in/ was a 500 (Django's redirect-loop check); the
    submit URL left in the address bar without JavaScript was a blank 405; a username of spaces
    re-rendered the sign-in page without a word (review)."""
    alice = client_for(student)
    response = alice.get("/sign-in/?next=/sign-in/")
    assert response.status_code == 302 and response["Location"] == "/"
    response = alice.get(f"/questions/{question.pk}/submit/")
    assert response.status_code == 302 and response["Location"] == f"/questions/{question.pk}/"
    page = Client().post("/sign-in/", {"username": "   ", "password": "x"}).content.decode()
    assert 'role="alert"' in page and "This field is required" in page


def test_the_solution_lists_answers_in_the_order_the_question_asks_them(make_question, student):
    question = make_question("forward_neuron", max_attempts=1)
    services.submit(question, student, {"in_3": "1", "a_3": "0.5"})
    services.grade_submission_now(Submission.objects.get().pk)
    client_for(student).post(f"/questions/{question.pk}/solution/")
    page = client_for(student).get(f"/questions/{question.pk}/solution/").content.decode()
    answers = page.split('<dl class="answers">')[1]
    assert answers.index("in_") < answers.index("a_")


def test_two_questions_of_one_kind_are_told_apart_by_their_number(make_question, student):
    """Two forward_neuron questions of one set had the same title on their pages (review)."""
    first, second = make_question("forward_neuron"), make_question("forward_neuron")
    alice = client_for(student)
    assert "<h1>Question 1: Forward pass of one neuron</h1>" in alice.get(f"/questions/{first.pk}/").content.decode()
    assert "<h1>Question 2: Forward pass of one neuron</h1>" in alice.get(f"/questions/{second.pk}/").content.decode()


def test_instructors_grant_and_take_back_extensions_on_the_problem_set_page(question, student, instructor, ta, settings):
    """Through the page, as through the API: a student's own due time, shown to the staff, with
    the same checks (a naive time is the course's; a username that is no student is named)."""
    settings.TIME_ZONE = "Europe/Vienna"
    teacher = client_for(instructor)
    url = f"/problem-sets/{question.problem_set_id}/"
    page = teacher.get(url).content.decode()
    assert 'id="extension-form"' in page and "None." in page
    refused = teacher.post(f"{url}extensions/", {"username": "nobody", "due_at": "2030-01-01T10:00"})
    assert refused.status_code == 400 and "is not a student of this course" in refused.content.decode()
    assert 'value="nobody"' in refused.content.decode()  # what was typed stays
    granted = teacher.post(f"{url}extensions/", {"username": "alice", "due_at": "2030-01-01T10:00", "reason": "<b>ill</b>"})
    assert granted.status_code == 302 and granted["Location"] == url
    extension = Extension.objects.get()
    assert extension.due_at == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)  # 10:00 in Vienna
    page = teacher.get(url).content.decode()
    assert "alice" in page and "&lt;b&gt;ill&lt;/b&gt;" in page and "Take back" in page
    ta_page = client_for(ta).get(url).content.decode()
    assert "alice" in ta_page and 'id="extension-form"' not in ta_page and "Take back" not in ta_page
    assert client_for(ta).post(f"{url}extensions/{student.pk}/revoke/").status_code == 403
    assert client_for(student).post(f"{url}extensions/", {"username": "alice", "due_at": "2030-01-01T10:00"}).status_code == 403
    assert teacher.post(f"{url}extensions/{student.pk}/revoke/").status_code == 302
    assert not Extension.objects.exists()
    assert teacher.post(f"{url}extensions/{student.pk}/revoke/").status_code == 404


def test_the_extension_form_speaks_of_its_own_inputs_and_shows_the_window_that_holds(question, student, instructor, settings):
    """QA: the form's errors were the API's ("due_at: Datetime has wrong format. Use one of these
    formats instead: ...", an offset the date input cannot take), and a student left with the
    set's late window was listed as having none ("Late until -")."""
    settings.TIME_ZONE = "Europe/Vienna"
    teacher = client_for(instructor)
    url = f"/problem-sets/{question.problem_set_id}/"

    def refusal(**typed) -> str:
        response = teacher.post(f"{url}extensions/", {"username": "alice", **typed})
        assert response.status_code == 400
        return re.sub(r"\s+", " ", response.content.decode().split('class="refused"')[1].split("</div>")[0])

    assert "<p>Due: Enter a date and a time.</p>" in refusal(due_at="next friday")
    assert "<p>Due: Required.</p>" in refusal(due_at="")
    twice = refusal(due_at="2030-10-27T02:30")  # the clocks go back at 03:00 that night
    assert "Due: 2030-10-27T02:30 happens twice in Europe/Vienna (the clocks go back then): choose a time" in twice
    assert "give its offset" not in twice
    skipped = refusal(due_at="2030-03-31T02:30")
    assert "does not exist in Europe/Vienna (the clocks go forward then): choose a time outside that hour" in skipped
    late = refusal(due_at="2030-01-02T10:00", late_until="2030-01-01T10:00")
    assert "Late submissions until: The late window must end after the due time." in late
    problem_set = question.problem_set
    assert "Due: This gives the student no more time" in refusal(due_at=timezone.localtime(problem_set.due_at).strftime("%Y-%m-%dT%H:%M"))
    assert not Extension.objects.exists()

    problem_set.late_until = problem_set.due_at + timedelta(days=7)
    problem_set.save()
    due = timezone.localtime(problem_set.due_at + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert teacher.post(f"{url}extensions/", {"username": "alice", "due_at": due}).status_code == 302
    row = teacher.get(url).content.decode().split("<tbody>")[-1].split("</tr>")[0]
    assert services._local(problem_set.late_until) in row and "(the set's)" in row


def test_a_page_opened_by_another_account_submits_nothing(question, student, make_user, course):
    """Alice's page left open while Bob signed in on the same browser stored her answers as Bob's
    submission, against his numbers (review)."""
    bob = make_user("bob")
    Membership.objects.create(user=bob, course=course, role=Membership.Role.STUDENT)
    form = form_of(client_for(student).get(f"/questions/{question.pk}/").content.decode())
    response = client_for(bob).post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "0.42"}, **HTMX)
    assert response.status_code == 409 and "opened by another account" in response.content.decode()
    assert not Submission.objects.exists()


def test_a_form_over_the_size_limit_is_said_in_the_result_box(question, student, settings):
    """Django's 400 for a body over the limit was the API's JSON, swapped over the result box:
    later submits had no target and silently did nothing (review)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = client_for(student)
    form = form_of(client.get(f"/questions/{question.pk}/").content.decode())
    response = client.post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "1" * 5000}, **HTMX)
    text = response.content.decode()
    assert response.status_code == 400 and 'id="submit-result"' in text and "too large" in text
    assert not Submission.objects.exists()


def test_a_form_over_the_size_limit_is_logged_in_one_line(question, student, settings, caplog):
    """The student gets a clear 400; the log got Django's whole traceback for each one (QA)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = client_for(student)
    form = form_of(client.get(f"/questions/{question.pk}/").content.decode())
    with caplog.at_level(logging.INFO):
        client.post(f"/questions/{question.pk}/submit/", {**form, "answer.in_3": "1" * 5000}, **HTMX)
    (record,) = [r for r in caplog.records if r.name == "django.security.RequestDataTooBig"]
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in record.getMessage()
    assert record.exc_info is None and not any(r.exc_info for r in caplog.records)


def test_pages_about_a_question_name_it_by_its_number_in_the_set(make_question, student):
    """Questions created without a position were 'Question 0' in breadcrumbs and on the submission
    page, 'Question 2' on their own page (review)."""
    make_question("forward_neuron")
    second = make_question("forward_neuron")
    submission, _ = services.submit(second, student, {"in_3": "1", "a_3": "0.5"})
    page = client_for(student).get(f"/submissions/{submission.pk}/").content.decode()
    assert ">Question 2</a>" in page and "question 2</a>" in page and "Question 0" not in page


def test_the_submission_page_shows_what_was_submitted_to_the_student_and_the_teacher(make_question, student, instructor):
    """The submission page showed the feedback only: neither the teacher nor the student could
    see the code that was graded (QA). Code shows as a block, as typed (escaped); a number
    answer beside its label."""
    code_question = make_question("code_softmax")
    source = "import numpy as np\n\ndef softmax(Z):\n    return np.exp(Z) / np.sum(np.exp(Z), axis=0)  # <b>not bold</b>\n"
    code_submission, _ = services.submit(code_question, student, {"code": source})
    numeric = make_question("forward_neuron")
    number_submission, _ = services.submit(numeric, student, {"in_3": "0.25"})
    for viewer in (student, instructor):
        page = client_for(viewer).get(f"/submissions/{code_submission.pk}/").content.decode()
        block = page.split('<pre class="code">')[1].split("</pre>")[0]
        assert html.unescape(block) == source and "<b>" not in block
        # the teacher does not read "Your Python code" above a student's code (QA)
        assert '<h3 class="tex">Python code</h3>' in page and "Your Python code" not in page
        page = client_for(viewer).get(f"/submissions/{number_submission.pk}/").content.decode()
        section = page.split('<section class="submitted"')[1].split("</section>")[0]
        assert "<code>0.25</code>" in section


def test_the_staff_page_states_a_tolerance_override_and_the_task_keeps_its_lines(make_question, student, ta):
    """A regrade's tolerance was invisible on the staff page, whose params said the drawn rtol
    (QA); a class signature of 30 lines read as one paragraph (QA)."""
    question = make_question("code_sequential", tolerance={"rtol": 0.01})
    staff_page = client_for(ta).get(f"/questions/{question.pk}/").content.decode()
    assert "<dt>Tolerance</dt><dd><code>{&quot;rtol&quot;: 0.01}</code>" in staff_page
    page = client_for(student).get(f"/questions/{question.pk}/").content.decode()
    signature = page.split('<pre class="code signature">', 1)[1].split("</pre>", 1)[0]
    assert "class Linear" in signature and signature.count("\n") > 10


def test_a_code_solution_shows_the_reference_code_not_the_answer_structure(make_question, student, problem_set):
    """The worked solution of a code question listed its answer as the internal structure (source,
    entry, every case with its expected values, hidden ones included: 7,400 px) and its
    reference step as "see the code" in the math font (QA)."""
    question = make_question("code_softmax")
    services.submit(question, student, {"code": "def softmax(z):\n    return z\n"})
    problem_set.due_at = timezone.now() - timedelta(minutes=1)
    problem_set.release_at = problem_set.due_at - timedelta(days=1)
    problem_set.late_until = None
    problem_set.save()
    web = Client()
    web.force_login(student)
    assert web.post(f"/questions/{question.pk}/solution/").status_code == 302
    page = web.get(f"/questions/{question.pk}/solution/").content.decode()
    reference = services.current_variant(question, student).instance["answers"]["code"]["source"]
    assert '<pre class="code">' in page and html.escape(reference) in page
    assert "see the code" not in page and "<h2>Answers</h2>" not in page and "expect" not in page


def test_reload_for_new_numbers_is_said_only_while_an_attempt_is_left(make_question, student, ta):
    """After the last attempt the result still said "reload the question for your next one", and
    the staff read it on the student's submission too (QA)."""
    question = make_question(fresh_variant_per_attempt=True, max_attempts=2)
    said = "Each attempt has its own numbers"
    web = Client()
    web.force_login(student)
    first, _ = services.submit(question, student, {"in_3": "1"})
    services.grade_submission_now(first.pk)
    assert said in web.get(f"/submissions/{first.pk}/").content.decode()
    assert said not in client_for(ta).get(f"/submissions/{first.pk}/").content.decode()
    last, _ = services.submit(question, student, {"in_3": "1"})
    services.grade_submission_now(last.pk)
    assert said not in web.get(f"/submissions/{last.pk}/").content.decode()
