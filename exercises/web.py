"""The web UI: server-rendered pages (Django templates) with htmx, for students and a little
for the staff.

Thin views, like exercises.api: who may see what comes from exercises.permissions (the same
404s and 403s, with the same messages, as the REST API), what happens from exercises.services
(variants, submitting, solutions), overviews from exercises.progress and exercises.results;
exercises.answer_forms turns the answer form into answers. Every page needs a signed-in user;
POSTs carry Django's CSRF token (htmx sends it in a header, see base.html).
"""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.exceptions import APIException, NotFound, ValidationError

from exercises import (
    answer_forms,
    diagrams,
    extensions,
    grading_errors,
    progress,
    reruns,
    results,
    services,
)
from exercises.api import REFUSAL_STATUS, solution_unavailable
from exercises.models import Question
from exercises.permissions import (
    INSTRUCTOR,
    STAFF_ROLES,
    course_student_named,
    require_instructor,
    require_student,
    submissions_for,
    visible_problem_set,
    visible_question,
    visible_submission,
)
from exercises.serializers import ExtensionGrantSerializer
from exercises.sign_in_limits import LimitedLoginView

HISTORY_SHOWN = 50  # a student's latest submissions listed under the form


class SignInView(LimitedLoginView):
    """Django's sign-in, leading to the home page (or to ?next=); repeated wrong passwords are
    refused for a while (exercises.sign_in_limits)."""

    template_name = "exercises/sign_in.html"
    redirect_authenticated_user = True
    next_page = "ui-home"

    def get_redirect_url(self):
        """?next= unless it is this page itself: signed in already, Django took that for a
        redirect loop and answered 500 (review)."""
        url = super().get_redirect_url()
        return "" if urlparse(url).path == self.request.path else url


class SignOutView(auth_views.LogoutView):
    """Django's sign-out (a POST), back to the sign-in page."""

    next_page = "ui-sign-in"


def is_htmx(request) -> bool:
    """A request htmx made (it answers with a fragment, not a whole page)."""
    return request.headers.get("HX-Request") == "true"


def ui_view(view):
    """Signed-in users only, and the permissions' refusals as the UI's error page.

    Anonymous: redirected to sign in (an htmx request tells the browser to go there whole,
    instead of swapping the sign-in page into a fragment). NotFound, PermissionDenied and the
    API's other refusals: their status and message, the same text as the REST API's."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if is_htmx(request):  # the page stays, and with it the typed answers
                return signed_out_result(request)
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except APIException as refused:
            return error_page(request, refused.status_code, str(refused.detail))
        except services.VariantUnavailable as error:
            return error_page(request, 503, str(error))

    return wrapped


def signed_out_result(request) -> HttpResponse:
    """What an htmx request gets once its session has ended (expired, or signed out in another
    tab): a message in the result box with a sign-in link opening in a new tab. Going to the
    sign-in page whole lost the answers typed in the form (review)."""
    page = urlparse(request.headers.get("HX-Current-URL", "")).path or resolve_url("ui-home")
    refused = services.SubmissionRefused(
        "You are signed out (your session ended, or you signed out in another tab), so nothing was "
        "submitted. Your answers are still in this form: sign in again in the new tab this link "
        "opens, then come back here and submit.",
        "signed_out",
    )
    context = {"refused": refused, "sign_in_url": f"{resolve_url(settings.LOGIN_URL)}?next={page}"}
    return render(request, "exercises/_result.html", context, status=401)


def result_refusal(request, message: str, status: int) -> HttpResponse:
    """A refusal in the result box, for failures before a view runs (a body over the limit)."""
    refused = services.SubmissionRefused(message, "refused")
    return render(request, "exercises/_result.html", {"refused": refused}, status=status)


def csrf_failure(request, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal on the UI's pages (settings.CSRF_FAILURE_VIEW): in the result box for
    htmx, where Django's own page replaced the box and left later clicks without a target."""
    message = (
        "The form's security token did not match (the page is old, or you signed in again "
        "elsewhere): nothing was submitted. Submit again; if this repeats, copy your answers and reload the page."
    )
    if is_htmx(request) and not request.user.is_authenticated:  # the session (and its token) ended
        return signed_out_result(request)
    if is_htmx(request):
        refused = services.SubmissionRefused(message, "csrf")
        return render(request, "exercises/_result.html", {"refused": refused}, status=403)
    return render(request, "exercises/error.html", {"status": 403, "message": message}, status=403)


def error_page(request, status: int, message: str) -> HttpResponse:
    template = "exercises/_error.html" if is_htmx(request) else "exercises/error.html"
    return render(request, template, {"status": status, "message": message}, status=status)


@require_GET
def favicon(request):
    """/favicon.ico, which a browser asks for on every page that links no icon (the API's pages;
    the UI's link exercises/favicon.svg in base.html): that icon instead of a 404."""
    return redirect(static("exercises/favicon.svg"))


# --- overview pages ----------------------------------------------------------------------------


@require_GET
@ui_view
def home(request):
    """The user's courses and their problem sets."""
    return render(request, "exercises/home.html", {"courses": progress.courses_for(request.user)})


@require_GET
@ui_view
def problem_set_page(request, problem_set_id: int):
    """A problem set's questions: a student's standing on each; for the staff, submission counts
    and the gradebook."""
    problem_set, role = visible_problem_set(request.user, problem_set_id)
    if role in STAFF_ROLES:
        return render(request, "exercises/problem_set.html", staff_set_context(problem_set, role))
    context = {
        "problem_set": problem_set,
        "role": role,
        "staff": False,
        "window": progress.window(problem_set, request.user),
        "deadlines": progress.deadlines(problem_set, request.user),
        "questions": progress.student_questions(problem_set, request.user),
    }
    return render(request, "exercises/problem_set.html", context)


def staff_set_context(problem_set, role: str, typed: dict | None = None, errors: dict | None = None) -> dict:
    """The problem set page for the staff: submission counts, the gradebook, the extensions;
    instructors also get the form to grant one (holding what was `typed`, with its `errors`)."""
    rows = problem_set.extensions.select_related("student", "granted_by").order_by("student__username")
    return {
        "problem_set": problem_set,
        "role": role,
        "staff": True,
        "window": progress.window(problem_set),
        "deadlines": progress.deadlines(problem_set),
        "questions": progress.staff_questions(problem_set),
        "gradebook_csv": reverse("api-gradebook", args=[problem_set.pk]) + "?format=csv",
        "extensions": [(e, extensions.merged(problem_set, e)) for e in rows],
        "may_grant": role == INSTRUCTOR,
        "solutions_seen": extensions.solutions_seen(problem_set) if role == INSTRUCTOR else 0,
        "extension_typed": typed or {},
        "extension_errors": errors or {},
    }


@require_POST
@ui_view
def grant_extension(request, problem_set_id: int):
    """The problem set page's extension form (instructors): the same checks as the API's
    (exercises.serializers.ExtensionGrantSerializer; times without an offset are the course's)."""
    problem_set, role = visible_problem_set(request.user, problem_set_id)
    require_instructor(role, "grant extensions")
    typed = {name: request.POST.get(name, "").strip() for name in ("username", "due_at", "late_until", "reason")}
    data = {**typed, "late_until": typed["late_until"] or None}
    if not typed["due_at"]:
        del data["due_at"]  # missing, not of a wrong format
    serializer = ExtensionGrantSerializer(data=data)
    errors = {}
    if serializer.is_valid():
        try:
            student = course_student_named(problem_set.course_id, serializer.validated_data["username"])
            extensions.grant(
                problem_set,
                student,
                serializer.validated_data["due_at"],
                serializer.validated_data.get("late_until"),
                serializer.validated_data["reason"],
                request.user,
            )
            return redirect("ui-problem-set", problem_set_id=problem_set.pk)
        except ValidationError as refused:
            errors = _messages(refused.detail)
        except extensions.ExtensionError as refused:
            errors = {EXTENSION_LABELS["due_at"]: str(refused)[:1].upper() + str(refused)[1:] + "."}
    else:
        errors = _messages(serializer.errors)
    return render(request, "exercises/problem_set.html", staff_set_context(problem_set, role, typed, errors), status=400)


EXTENSION_LABELS = {
    "username": "Username", "due_at": "Due", "late_until": "Late submissions until", "reason": "Reason",
}


def _messages(detail) -> dict[str, str]:
    """{the form's label for a field: its messages as one line} from a DRF error detail (a list or
    one message per field), worded for the form's inputs rather than the API's."""
    messages = {}
    for name, found in dict(detail).items():
        found = found if isinstance(found, list) else [found]
        label = EXTENSION_LABELS.get(name, "")
        messages[label] = " ".join(_form_message(message) for message in found)
    return messages


def _form_message(message) -> str:
    """An API message as the form's reader needs it: the date inputs take no offset, so a time the
    clocks skip or repeat needs another time, not an offset (QA: the API's wording asked for one)."""
    code, text = getattr(message, "code", None), str(message)
    if code in ("required", "null", "blank"):
        return "Required."
    if code == "invalid" and "format" in text.lower():
        return "Enter a date and a time."
    if code == "skipped":
        return text.split(";")[0] + ": choose a time outside that hour."
    if code == "twice":
        return text.split(";")[0] + ": choose a time outside that hour, or grant it through the API with the offset."
    return text


@require_POST
@ui_view
def revoke_extension(request, problem_set_id: int, student_id: int):
    """Take a student's extension back from the problem set page (instructors)."""
    problem_set, role = visible_problem_set(request.user, problem_set_id)
    require_instructor(role, "take extensions back")
    if not extensions.revoke(problem_set, student_id, request.user):
        raise NotFound("This student has no extension for this problem set.")
    return redirect("ui-problem-set", problem_set_id=problem_set.pk)


# --- a question: prompt, answer form, submissions ---------------------------------------------------


@require_GET
@ui_view
def question_page(request, question_id: int):
    """A student's own variant of the question with the answer form; for the staff, the
    question's settings and where to look further."""
    question, role = visible_question(request.user, question_id)
    if role in STAFF_ROLES:
        return render(request, "exercises/question_staff.html", staff_question_context(question, role))
    return render(request, "exercises/question.html", question_context(request, question))


@require_POST
@ui_view
def rerun_submissions(request, question_id: int):
    """The staff question page's button: re-run the graded code submissions that ran out of time
    or memory under a lower limit (instructors; exercises.reruns, as the API's rerun)."""
    question, role = visible_question(request.user, question_id)
    require_instructor(role, "re-run submissions")
    reruns.request_reruns(question, request.user, apply=True)
    return redirect("ui-question", question_id=question.pk)


@require_POST
@ui_view
def grade_errors_again(request, question_id: int):
    """The staff question page's button: send the submissions that could not be graded to
    grading again, once the cause is fixed (instructors; exercises.grading_errors, as the API's)."""
    question, role = visible_question(request.user, question_id)
    require_instructor(role, "grade submissions again")
    grading_errors.grade_again(question, request.user)
    return redirect("ui-question", question_id=question.pk)


def staff_question_context(question: Question, role: str) -> dict:
    limits = services.run_settings(question)
    return {
        "errors": grading_errors.errors_of(question),
        "rerun": {"candidates": len(reruns.candidates(question)), "pending": reruns.pending_count(question), "limits": limits}
        if limits
        else None,
        "may_rerun": role == INSTRUCTOR,
        "question": question,
        "problem_set": question.problem_set,
        "title": progress.kind_title(question),
        "window": progress.window(question.problem_set),
        "deadlines": progress.deadlines(question.problem_set),
        "submissions": progress.submission_count(question),
        "submissions_api": reverse("api-question-submissions", args=[question.pk]),
        "latest": progress.latest_submissions(question),
        "tolerance": json.dumps(question.tolerance) if question.tolerance else "",  # a regrade's, over the params' own
        # as the API takes and gives them (JSON: true, 1e-09), not as Python writes them
        "params": [(name, json.dumps(value)) for name, value in sorted((services.validated_params(question) or question.params or {}).items())],
    }


def question_context(
    request, question: Question, typed: dict | None = None, errors: dict | None = None, form_key: str = "", **extra
) -> dict:
    """What the question page shows a student: their variant as services.student_view gives it
    (never answers), the form (holding `typed`, with `errors` per field, keeping a posted
    `form_key`), attempts, history."""
    student = request.user
    variant = services.current_variant(question, student)
    view = services.variant_view(question, variant)
    code = view["prompt"]["data"].get("code")
    starter = code.get("starter", "") if isinstance(code, dict) else ""
    used, pending = services.attempts_used(question, student), services.attempts_pending(question, student)
    window = progress.window(question.problem_set, student)
    # a note in place of the form says why it takes nothing (the attempts' note is apart: a
    # submission's fragment updates it)
    blocked = bool(variant.solution_seen_at) or window in ("closed", "not_released")
    out_of_attempts = out_of(question, used, pending)
    return {
        "question": question,
        "problem_set": question.problem_set,
        "title": progress.kind_title(question),
        "window": window,
        "deadlines": progress.deadlines(question.problem_set, student),
        "variant": variant,
        "view": view,
        "diagram": diagrams.layout(view.get("diagram")),
        "code": code if isinstance(code, dict) else None,
        "inputs": answer_forms.inputs(view["fields"], typed, errors, starter),
        "form_key": form_key or answer_forms.new_form_key(),
        "attempts_used": used,
        "attempts_pending": pending,
        "out_of_attempts": out_of_attempts,
        "answer_blocked": blocked,
        # the form, unless it can take nothing; kept when it holds answers just refused, to copy them
        "form_shown": not (blocked or out_of_attempts) or bool(typed),
        "number": progress.question_number(question),
        "typed_answers": bool(typed),
        **solution_context(question, student, used),
        "history": history(student, question),
        **extra,
    }


def out_of(question: Question, used: int, pending: int) -> bool:
    """Whether the student's attempts are all used or being graded (the form takes no more)."""
    return bool(question.max_attempts) and used + pending >= question.max_attempts


def history(student, question: Question) -> list:
    """The student's own submissions of the question, newest first."""
    return list(submissions_for(student, "student", question).order_by("-submitted_at", "-id")[:HISTORY_SHOWN])


@ui_view
def submit(request, question_id: int):
    """Submit the answer form. htmx gets the result box (queued, polling until graded; or the
    refusal) and each field's error message; without htmx the whole page comes back."""
    if request.method != "POST":  # the address bar after a submit without JavaScript: back to the question
        return redirect("ui-question", question_id=question_id)
    question, role = visible_question(request.user, question_id)
    require_student(role, "submit answers")
    answers = answer_forms.answers_from_post(request.POST)
    form_key = request.POST.get("form_key", "")
    variant = _variant_number(request.POST.get("variant", ""))
    if not answer_forms.FORM_KEY.match(form_key) or variant is None:
        refused = services.SubmissionRefused(
            "This form is incomplete (an old or altered page?): reload the question and submit again.", "bad_form"
        )
        return submit_response(request, question, answers, refused=refused, status=400)
    if request.POST.get("student") != str(request.user.pk):  # someone else signed in on this browser since
        refused = services.SubmissionRefused(
            f"This page was opened by another account; you are signed in as {request.user.get_username()} now, "
            "so nothing was submitted. Reload the question to answer as yourself.",
            "other_account",
        )
        return submit_response(request, question, answers, form_key, refused=refused, status=409)
    key = answer_forms.submission_key(form_key, variant, answers)
    try:
        submission, _ = services.submit(question, request.user, answers, idempotency_key=key, expected_variant=variant)
    except services.SubmissionRefused as refused:
        status = REFUSAL_STATUS.get(refused.code, 400)
        return submit_response(request, question, answers, form_key, refused=refused, status=status)
    submission, _ = visible_submission(request.user, submission.pk)  # with its variant and question loaded
    return submit_response(request, question, answers, form_key, submission=submission)


def _variant_number(text: str) -> int | None:
    """The posted variant number; None unless it is ASCII digits ("²".isdigit() is true too)."""
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 10 else None


def submit_response(
    request, question: Question, answers: dict, form_key: str = "", refused=None, submission=None, status: int = 200
):
    """The answer of a submit: a fragment for htmx, else the question page holding the answers
    and the form's key (sending the same answers again is then one submission too). A refusal
    names fields as the form labels them (answer_forms.form_refusal), not by the API's names."""
    if refused is not None:
        refused = answer_forms.form_refusal(refused, refused_fields(request, question, refused))
    errors = dict(getattr(refused, "fields", None) or {})
    context = {"refused": refused, **result_context(submission, request.user)}
    if not is_htmx(request):
        if submission is not None and question.fresh_variant_per_attempt:
            answers, form_key = {}, ""  # the page now shows the next variant's numbers: a fresh form
        page = question_context(request, question, answers, errors, form_key, **context)
        return render(request, "exercises/question.html", page, status=status)
    context["error_slots"] = [
        (answer_forms.input_id(name) + "-error", errors.get(name, "")) for name in answers
    ]
    context["form_shown"] = True  # the form was posted from the page
    if submission is not None:
        context.update(student_updates(request.user, question))
    return render(request, "exercises/_submit_response.html", context, status=status)


def refused_fields(request, question: Question, refused) -> list[dict]:
    """The answer fields a refusal was judged against (the student's current variant's, as
    services.submit checks them); only read when it names a field."""
    if not getattr(refused, "names", None):
        return []
    return services.peek_variant(question, request.user).instance.get("fields", [])


def student_updates(student, question: Question) -> dict:
    """What else on the question page a submission changes: the history, attempts used, the
    link to the worked solution (the last attempt graded opens it: it showed only after a
    reload) and, with the form on the page, its button (the last attempt sent turns it off; one
    not counted, e.g. unreadable, turns it on again)."""
    used, pending = services.attempts_used(question, student), services.attempts_pending(question, student)
    return {
        "question": question,
        "history": history(student, question),
        "attempts_used": used,
        "attempts_pending": pending,
        "out_of_attempts": out_of(question, used, pending),
        **solution_context(question, student, used),
    }


def solution_context(question: Question, student, used: int) -> dict:
    """Whether the page links the worked solution, and if not, when it opens."""
    available, opens = services.solution_state(question, student, used=used)
    return {"solution_available": available, "solution_opens": opens}


def result_context(submission, viewer=None) -> dict:
    """The result box's context for a submission (none: an empty box). `next_variant`: tell the
    student a next attempt has new numbers (only when it is theirs, graded, and they have an
    attempt left: after the last one it said "reload for your next one", QA)."""
    if submission is None:
        return {"submission": None}
    question = submission.variant.question
    pending = results.pending(submission)
    next_variant = (
        question.fresh_variant_per_attempt
        and not pending
        and viewer is not None
        and viewer.pk == submission.student_id
        and not out_of(question, services.attempts_used(question, viewer), services.attempts_pending(question, viewer))
    )
    return {
        "submission": submission,
        "next_variant": next_variant,
        "pending": pending,
        "poll_after_ms": results.poll_after_ms(submission),
        "state": results.state_words(submission),
        "penalties": services.penalty_notes(submission),
        "field_feedback": results.field_feedback(submission),
        "points_possible": submission.variant.question.points,
    }


@require_GET
@ui_view
def submission_page(request, submission_id: int):
    """A submission's state, score and feedback: the result box htmx polls every second while
    it is queued or being graded (then with the student's updated history), or a whole page."""
    submission, role = visible_submission(request.user, submission_id)
    question = submission.variant.question
    context = {"question": question, "problem_set": question.problem_set, **result_context(submission, request.user)}
    staff = role in STAFF_ROLES
    if not is_htmx(request):
        context["answers"] = results.submitted_answers(submission)
        if staff:
            context.update(staff=True, hidden_cases=results.hidden_cases_in_full(submission))
        return render(request, "exercises/submission.html", context)
    context["form_shown"] = request.GET.get("form") == "1"  # the poll of a page with the form
    if not context["pending"]:
        if staff:  # the last poll of the staff's page brings its hidden-cases section too
            context.update(staff_done=True, hidden_cases=results.hidden_cases_in_full(submission))
        else:
            context.update(student_updates(request.user, question))
    return render(request, "exercises/_submission_poll.html", context)


@require_http_methods(["GET", "POST"])
@ui_view
def solution_page(request, question_id: int):
    """The worked solution of the student's variant, once available. The first time, a GET asks
    and only the POST of its button shows it and records it (the same services calls as the
    REST API's solution view: that variant takes no more submissions); a link another site
    leads the student to cannot spend their variant (review)."""
    question, role = visible_question(request.user, question_id)
    require_student(role, "have solutions of their own variants")
    if not services.solution_visible(question, request.user):
        raise solution_unavailable(question, services.attempts_used(question, request.user))
    variant = services.solution_variant(question, request.user)
    if request.method == "POST":
        services.mark_solution_seen(variant)
        return redirect("ui-solution", question_id=question.pk)
    context = {"question": question, "problem_set": question.problem_set, "title": progress.kind_title(question), "variant": variant}
    if variant.solution_seen_at is None:
        return render(request, "exercises/solution_confirm.html", context)
    # a code field's answer is its reference source (a step shows it) and its test cases, hidden
    # ones included: listed, it was the whole internal structure, 7,400 px of it (QA)
    answers = [
        (label, value)
        for _, label, value in results.in_field_order(variant.instance, variant.instance.get("answers", {}))
        if not (isinstance(value, dict) and "source" in value)
    ]
    return render(
        request, "exercises/solution.html", {**context, "steps": variant.instance.get("solution", []), "answers": answers}
    )
