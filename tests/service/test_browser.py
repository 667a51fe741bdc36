"""In a real browser (Debian's chromium driven by Playwright) against the service as `make run`
starts it: the API docs page works on a closed network, a student can sign in, submit answers
through the docs' "Try it out" and get them graded by the worker, and the same through the web
UI (exercises/web.py): its answer form, htmx polling and MathJax, all served by the service.

Every request the browser makes outside the service is refused and recorded, so a page that
still loads a script from a CDN fails here instead of rendering blank for a course on a closed
network. Skipped locally when chromium or Playwright is missing; FAILS under CI=true.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time

import pytest
from helpers_service import INSTRUCTOR_PASSWORD, STUDENT_PASSWORD, running_service

IN_CI = os.environ.get("CI") == "true"  # no integration mark: the service runs on SQLite, no servers needed

CHROMIUM_ARGS = [  # as root without a display, on a network that refuses Google's hosts
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_executable() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        return _unavailable("no chromium executable (Debian package chromium; scripts/install_system_deps.sh installs it)")
    return found


def _unavailable(message: str):
    if IN_CI:
        pytest.fail(message + " (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("service")) as running:
        running.wait_until_serving()
        yield running


@pytest.fixture(scope="module")
def browser():
    executable = _chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pyproject.toml, dev extra)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, service):
    """A fresh browser context (no cookies) whose requests outside the service are refused;
    `page.outside` lists the URLs it tried."""
    context = browser.new_context()
    outside: list[str] = []

    def refuse_outside(route):
        if route.request.url.startswith(service.base + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", refuse_outside)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.outside = outside
    yield page
    context.close()


def sign_in(page, service, username: str, password: str) -> None:
    """Through DRF's login page, as a person would; it leads on to the API docs."""
    page.goto(f"{service.base}/api-auth/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#submit-id-submit")
    page.wait_for_url("**/api/docs/")


def operation(page, method: str, path: str):
    """The docs' block of one operation (e.g. "post", "/api/questions/{question_id}/submissions/")."""
    block = page.locator(f".opblock-{method}", has_text=path)
    block.first.wait_for()
    assert block.count() == 1, f"{block.count()} blocks for {method.upper()} {path}"
    return block


def test_docs_render_from_our_own_files(page, service):
    page.goto(f"{service.base}/api/docs/")
    page.wait_for_load_state("networkidle")
    assert page.outside == [], f"the docs page fetched from outside the service: {page.outside}"
    submit = operation(page, "post", "/api/questions/{question_id}/submissions/")
    assert "Submit answers for grading" in submit.inner_text()
    assert page.locator(".opblock-summary").count() >= 20  # every route of the API is listed


def test_student_submits_through_the_docs_and_is_graded(page, service):
    sign_in(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("forward_neuron")
    variant = page.context.request.get(f"{service.base}/api/questions/{question_id}/variant/")
    assert variant.status == 200, variant.text()
    answers = {field["name"]: "0.5" for field in variant.json()["fields"]}

    submit = operation(page, "post", "/api/questions/{question_id}/submissions/")
    submit.locator(".opblock-summary").click()
    submit.get_by_role("button", name="Try it out").click()
    submit.locator("input[placeholder='question_id']").fill(str(question_id))
    submit.locator("textarea.body-param__text").fill(json.dumps({"answers": answers}))
    submit.get_by_role("button", name="Execute").click()
    status = submit.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    body = submit.locator(".live-responses-table tbody .response-col_description .microlight").first.inner_text()
    assert status.inner_text().strip() == "202", body  # the session's CSRF token went along
    accepted = json.loads(body)
    assert accepted["status"] == "queued"

    def graded():
        response = page.context.request.get(accepted["url"])
        submission = response.json() if response.status == 200 else {}
        return submission if submission.get("status") == "graded" else None

    submission = service.poll(graded, 30, "the worker to grade the submission made in the browser")
    assert submission["attempt_number"] == 1
    assert set(submission["feedback"]["fields"]) == set(answers), submission["feedback"]
    assert page.outside == []


def test_browsable_api_shows_the_students_course(page, service):
    sign_in(page, service, "demo-student", STUDENT_PASSWORD)
    page.goto(f"{service.base}/api/courses/")
    assert "Django REST framework" in page.title()  # the HTML page, not raw JSON
    listing = page.locator(".response-info").inner_text()
    assert '"count": 1' in listing and "demo" in listing.lower()
    assert page.outside == []


def service_row(service, sql: str, *params) -> tuple:
    """One row of a query on the service's own SQLite database."""
    with contextlib.closing(sqlite3.connect(service.var_dir / "db.sqlite3")) as db:
        return db.execute(sql, params).fetchone()


def demo_student_variant(service, question_id: int) -> dict:
    """The demo student's stored variant of the question (its instance, answers included), read
    from the service's database as the staff API would show it."""
    (instance,) = service_row(
        service,
        "select v.instance from exercises_variant v join auth_user u on u.id = v.student_id "
        "where u.username = 'demo-student' and v.question_id = ? order by v.number desc",
        question_id,
    )
    return json.loads(instance)


def stored_submissions(service, question_id: int) -> int:
    (count,) = service_row(
        service,
        "select count(*) from exercises_submission s join exercises_variant v on v.id = s.variant_id where v.question_id = ?",
        question_id,
    )
    return count


def test_student_answers_in_the_web_ui_and_sees_the_grade_without_reloading(page, service):
    failed = []  # our own requests that failed (a missing MathJax font, a 500)
    page.on("response", lambda response: failed.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    page.goto(f"{service.base}/")  # the site's root is the web UI: sign in first
    page.wait_for_url("**/sign-in/?next=/")
    page.get_by_label("Username").fill("demo-student")
    page.get_by_label("Password").fill(STUDENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.base}/")
    page.get_by_role("link", name="Forward pass", exact=True).click()
    question_id = service.question_id("forward_layer")  # one no other test submits to
    page.locator(f"a[href='/questions/{question_id}/']").click()
    page.wait_for_url(f"**/questions/{question_id}/")
    page.locator(".prompt mjx-container").first.wait_for()  # the prompt's LaTeX typeset by MathJax

    instance = demo_student_variant(service, question_id)  # drawn when the page was opened
    for name, value in instance["answers"].items():
        page.locator(f"#answer-{name}").fill(repr(value))
    page.evaluate("window.notReloaded = true")
    submit = page.get_by_role("button", name="Submit answers")
    submit.dblclick()  # a double click...
    submit.click()  # ...and one more once the first answer is back: the same form, the same answers

    result = page.locator("#submit-result.graded")
    result.wait_for(timeout=60_000)  # polled every second until the worker has graded it
    assert "Score: 10 of 10 points" in result.inner_text()
    assert page.evaluate("window.notReloaded") is True  # swapped in by htmx, no reload
    assert page.locator("#answer-form input[name^='answer.']").first.input_value() == repr(instance["answers"][instance["fields"][0]["name"]])
    assert stored_submissions(service, question_id) == 1
    posts = service.log_text().count(f"POST /questions/{question_id}/submit/ ")
    assert posts >= 2, f"{posts} POST(s): the repeated form never reached the server"  # one stored all the same
    assert "1 of 3 attempts used" in page.locator("#attempts").inner_text()
    assert page.outside == [], f"the web UI fetched from outside the service: {page.outside}"
    assert failed == [], failed


def test_a_failed_poll_does_not_stop_the_page_asking(page, service):
    """The page asks less often as the wait grows; written as a delay after each answer, one
    failed request (a deploy, a proxy's 502, wifi at the deadline) ended the asking for good
    while the page said it kept asking (QA). It asks at an interval, which a failure leaves."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("weight_gradient")  # one no other test submits to
    page.goto(f"{service.base}/questions/{question_id}/")
    instance = demo_student_variant(service, question_id)
    for name, value in instance["answers"].items():
        page.locator(f"#answer-{name}").fill(repr(value))
    aborted = []

    def fail_the_first_poll(route):
        if not aborted:
            aborted.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/submissions/*/**", fail_the_first_poll)
    page.get_by_role("button", name="Submit answers").click()
    page.locator("#poll-note").wait_for(timeout=30_000)  # "the service did not answer just now"
    page.locator("#submit-result.graded").wait_for(timeout=60_000)
    assert len(aborted) == 1 and "Score: 10 of 10 points" in page.locator("#submit-result").inner_text()


def test_a_students_exception_text_is_never_typeset_into_links_or_styles(page, service):
    """A code submission raising "$\\href{javascript:...}{...}$" was typeset by MathJax when htmx
    swapped the graded result in: a javascript: link (and a full-page \\style overlay) in the
    page of whoever watched it being graded (review). Only class="tex" elements are typeset, and
    MathJax has no html macros and its ui/safe filter."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("code_softmax")
    page.goto(f"{service.base}/questions/{question_id}/")
    payload = r"$\href{javascript:alert(1)}{\style{background:red}{\text{x}}}$ \(\class{evil}{y}\) $$\cssId{boom}{z}$$"
    page.locator("#answer-code").fill(f"def softmax(z):\n    raise ValueError(r'''{payload}''')\n")
    page.get_by_role("button", name="Submit answers").click()
    page.locator("#submit-result.graded").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)  # MathJax typesets what was swapped in asynchronously
    assert "ValueError" in page.locator("#submit-result").inner_text()
    for selector in ("a[href^='javascript:']", "[style*='background']", ".evil", "#boom"):
        assert page.locator(f"#submit-result {selector}").count() == 0, selector
    # and should such text ever reach a formula, MathJax itself makes none of them
    page.evaluate(
        """async (tex) => { const probe = document.createElement("p"); probe.id = "probe"; probe.className = "tex";
        probe.textContent = tex + " $\\require{html}\\href{javascript:alert(2)}{w}$"; document.body.appendChild(probe);
        await MathJax.typesetPromise([probe]); }""",
        payload,
    )
    assert page.locator("#probe mjx-container").count() >= 1  # it was typeset
    for selector in ("a[href^='javascript:']", "[style*='background']", ".evil", "#boom"):
        assert page.locator(f"#probe {selector}").count() == 0, selector
    assert page.outside == []


def sign_in_ui(page, service, username: str, password: str) -> None:
    page.goto(f"{service.base}/sign-in/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.base}/")


def test_the_staff_watching_a_code_submission_see_its_hidden_cases_once_graded(page, service):
    """The hidden test cases in full came only with a reload: the poll swapped the result box
    alone (noted in review). The row is put back to "being graded" in the service's database
    while the instructor's page opens, then finished: no worker timing decides what is seen."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("code_mlp_forward")
    page.goto(f"{service.base}/questions/{question_id}/")
    page.locator("#answer-code").fill("def forward(*args, **kwargs):\n    raise ValueError('not yet')\n")
    page.get_by_role("button", name="Submit answers").click()
    page.locator("#submit-result.graded").wait_for(timeout=60_000)
    (submission_id,) = service_row(
        service,
        "select max(s.id) from exercises_submission s join exercises_variant v on v.id = s.variant_id where v.question_id = ?",
        question_id,
    )
    set_status(service, submission_id, "grading")

    page.context.clear_cookies()
    sign_in_ui(page, service, "demo-instructor", INSTRUCTOR_PASSWORD)
    page.goto(f"{service.base}/submissions/{submission_id}/")
    assert "being graded" in page.locator("#submit-result").inner_text().lower()
    assert page.locator("#hidden-cases").count() == 1 and page.locator("#hidden-cases h2").count() == 0
    page.evaluate("window.notReloaded = true")
    set_status(service, submission_id, "graded")
    page.locator("#hidden-cases h2", has_text="Hidden test cases in full").wait_for(timeout=30_000)
    assert page.locator("#hidden-cases").count() == 1  # replaced, not added beside the placeholder
    assert "Run this case yourself" in page.locator("#hidden-cases").inner_text()
    assert page.evaluate("window.notReloaded") is True
    assert page.outside == []


def set_status(service, submission_id: int, status: str) -> None:
    """Put a stored submission in `status` (grading: claimed just now, so the sweeper leaves it)."""
    with contextlib.closing(sqlite3.connect(service.var_dir / "db.sqlite3", timeout=30)) as db, db:
        db.execute(
            "update exercises_submission set status = ?, grading_started_at = strftime('%Y-%m-%d %H:%M:%f', 'now') where id = ?",
            (status, submission_id),
        )


def test_a_page_left_open_across_a_sign_in_elsewhere_still_submits_and_keeps_the_answers(page, service):
    """Signing out and in again in another tab changed the CSRF token: the open page's submit got
    Django's 403 page in its result box, and once signed out, going to sign in lost the typed
    answers (review)."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("loss_value")
    page.goto(f"{service.base}/questions/{question_id}/")
    first = page.locator("#answer-form input[name^='answer.']").first
    first.fill("0.125")
    saved = page.context.cookies()

    page.context.clear_cookies()  # the session ends (signed out in another tab, or expired)
    page.get_by_role("button", name="Submit answers").click()
    page.locator("#submit-result.refused").wait_for()
    assert "You are signed out" in page.locator("#submit-result").inner_text()
    assert first.input_value() == "0.125" and page.url.endswith(f"/questions/{question_id}/")

    other = page.context.new_page()  # signs in again in another tab: a new session and CSRF token
    sign_in_ui(other, service, "demo-student", STUDENT_PASSWORD)
    other.close()
    assert {c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"} != {
        c["value"] for c in saved if c["name"] == "csrftoken"
    }
    page.get_by_role("button", name="Submit answers").click()
    page.locator("#submit-result.queued, #submit-result.grading, #submit-result.graded").first.wait_for()
    assert stored_submissions(service, question_id) == 1
    assert page.outside == []


def test_typed_answers_survive_a_reload_and_leave_the_browser_at_sign_out(page, service):
    """A reload, a crash or a closed tab at 23:58 lost what was typed; drafts are kept in this
    browser per student, question and variant, and removed when the student signs out (a shared
    lab computer)."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("hidden_delta")
    page.goto(f"{service.base}/questions/{question_id}/")
    first = page.locator("#answer-form input[name^='answer.']").first
    first.fill("0.0625")
    page.reload()
    assert page.locator("#answer-form input[name^='answer.']").first.input_value() == "0.0625"
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('ag-draft:')).length") == 1
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in/")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('ag-draft:')).length") == 0
    assert stored_submissions(service, question_id) == 0  # a draft is not a submission
    assert page.outside == []


def test_tab_indents_in_a_code_box_and_escape_then_tab_moves_on(page, service):
    """Tab in the code box moved the focus out of it, so students indented with the space bar
    (QA). It indents now (the selected lines when several; Shift+Tab unindents), undoably, and
    keeps the draft; Escape, then Tab, still leaves the box (no keyboard trap)."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("code_fgsm")  # one no other test submits to
    page.goto(f"{service.base}/questions/{question_id}/")
    box = page.locator("#answer-code")
    box.fill("def f(x):\nreturn x\nprint(1)")
    box.focus()
    page.evaluate("document.getElementById('answer-code').setSelectionRange(10, 10)")  # start of "return x"
    page.keyboard.press("Tab")
    assert box.input_value() == "def f(x):\n    return x\nprint(1)"
    assert page.evaluate("document.activeElement.id") == "answer-code"
    page.evaluate("document.getElementById('answer-code').setSelectionRange(0, 30)")  # every line
    page.keyboard.press("Tab")
    assert box.input_value() == "    def f(x):\n        return x\n    print(1)"
    page.keyboard.press("Shift+Tab")
    assert box.input_value() == "def f(x):\n    return x\nprint(1)"
    page.keyboard.press("Control+z")  # undoable, as typing is
    assert box.input_value() == "    def f(x):\n        return x\n    print(1)"
    page.reload()
    assert page.locator("#answer-code").input_value() == "    def f(x):\n        return x\n    print(1)"  # the draft kept it
    page.locator("#answer-code").focus()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") != "answer-code"
    assert "Esc, then Tab, moves on" in page.locator("#answer-code-hint").inner_text()
    assert page.outside == []


def test_the_last_graded_attempt_shows_the_solution_link_without_reloading(page, service):
    """The graded result of a student's last attempt was swapped in, but the worked solution's
    link appeared only after a reload (review): the graded fragment swaps the page's solution
    section too."""
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("output_delta")  # one no other test submits to (3 attempts)
    page.goto(f"{service.base}/questions/{question_id}/")
    page.evaluate("window.notReloaded = true")
    link = page.locator(f"a[href='/questions/{question_id}/solution/']")
    answer = page.locator("#answer-form input[name^='answer.']").first
    for attempt, value in enumerate(("0.5", "0.25", "0.125"), start=1):
        assert link.count() == 0, f"the solution was linked before attempt {attempt}"
        answer.fill(value)
        page.get_by_role("button", name="Submit answers").click()
        page.locator("#attempts", has_text=f"{attempt} of 3 attempts used").wait_for(timeout=60_000)  # graded
    link.wait_for()
    assert "Before you look" in page.locator("section.solution").inner_text()
    # the form takes no more: its button is off and the page's note says why (it stayed on)
    assert page.get_by_role("button", name="No attempts left").is_disabled()
    assert page.locator("#attempts-note").inner_text() == "You have used all 3 attempts."
    assert page.evaluate("window.notReloaded") is True  # swapped in by htmx
    assert stored_submissions(service, question_id) == 3
    assert page.outside == []


def test_the_sites_icon_is_served(page, service):
    """/favicon.ico was a 404 on every page (review): the UI's pages link the icon, and
    /favicon.ico (what a browser asks for on the API's pages, which link none) leads to it."""
    page.goto(f"{service.base}/sign-in/")
    href = page.locator("link[rel='icon']").get_attribute("href")
    for url in (service.base + href, f"{service.base}/favicon.ico"):
        response = page.context.request.get(url)  # a redirect is followed
        assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml"), (url, response.status)
    assert page.outside == []


def test_a_long_list_of_weights_wraps_at_800_pixels(page, service):
    """QA: a prompt's weights were one inline formula ("$w_{0,3} = ...,\\; w_{1,3} = ...$"),
    which MathJax does not break: at 800 px it ran off the screen. ui.js cuts such a list into
    one formula per weight before MathJax typesets it, so the line wraps between weights."""
    page.set_viewport_size({"width": 800, "height": 900})
    sign_in_ui(page, service, "demo-student", STUDENT_PASSWORD)
    question_id = service.question_id("dead_relu")  # its prompt has the longest list of weights
    page.goto(f"{service.base}/questions/{question_id}/")
    prompt = page.locator(".prompt")
    prompt.locator("mjx-container").first.wait_for()
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    # every formula of the prompt inside the prompt's box (a formula wider than it would need
    # scrolling: .prompt .tex scrolls rather than widen the page)
    outside = page.evaluate(
        "() => { const box = document.querySelector('.prompt').getBoundingClientRect();"
        " return Array.from(document.querySelectorAll('.prompt mjx-container'))"
        ".map(e => [e.getBoundingClientRect(), e.textContent.slice(0, 40)])"
        ".filter(([r]) => r.left < box.left - 1 || r.right > box.right + 1)"
        ".map(([r, text]) => [Math.round(r.left), Math.round(r.right), text]); }"
    )
    assert outside == [], outside
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert page.outside == []


def test_a_student_who_forgot_the_password_sets_one_from_the_emailed_link(page, service):
    """"Forgot your password?" on the sign-in page, the link from the email the worker of the
    development server writes to var/sent-mail/, a new password, and a sign-in with it (exercises.password_reset).
    The new password is the old one again: the other tests of this module sign in with it."""
    mail_dir = service.var_dir / "sent-mail"
    sent_before = set(mail_dir.glob("*.log")) if mail_dir.exists() else set()
    page.goto(f"{service.base}/sign-in/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill("demo-student@example.org")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_url("**/password-reset/sent/")
    assert "we have sent it a link to set a new password" in page.locator("#reset-sent").inner_text()
    new_mail = None
    for _ in range(300):  # the worker sends it (autograder.tasks.send_password_reset)
        sent = set(mail_dir.glob("*.log")) - sent_before if mail_dir.exists() else set()
        if sent and (new_mail := sent.pop()).stat().st_size > 0:
            break
        time.sleep(0.1)
    assert new_mail is not None, f"no email in {mail_dir} after 30 s"
    (link,) = [line for line in new_mail.read_text().splitlines() if "/password-reset/" in line]
    assert link.startswith(service.base + "/password-reset/"), link
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(STUDENT_PASSWORD)
    page.get_by_label("New password again").fill(STUDENT_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url("**/password-reset/done/")
    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Username").fill("demo-student")
    page.get_by_label("Password").fill(STUDENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{service.base}/")
    page.goto(link)  # used once: void
    assert "has been used already" in page.locator("#reset-link-void").inner_text()
    assert page.outside == [], page.outside

