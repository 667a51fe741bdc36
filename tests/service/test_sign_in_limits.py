"""Password guessing at every door: the web UI's /sign-in/, the browsable API's /api-auth/login/,
the admin's login and POST /api/auth/token/ share one count of failed sign-ins per address and
username (exercises.sign_in_limits). Before, only the token endpoint counted: a guesser used the
sign-in page instead, unlimited."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from exercises.models import TokenFailure
from exercises.sign_in_limits import wait_text

SIGN_IN_PAGES = ["/sign-in/", "/api-auth/login/", "/admin/login/"]


def sign_in(client: Client, page: str, username: str, password: str):
    return client.post(page, {"username": username, "password": password})


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_a_sign_in_page_refuses_a_guessed_username_with_429_and_says_how_long(page, make_user, settings):
    staff = make_user("root", is_staff=True, is_superuser=True)  # may sign in at every page
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    client = Client()
    for _ in range(3):
        wrong = sign_in(client, page, staff.username, "guess")
        assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    refused = sign_in(client, page, staff.username, "pw-root")  # even the right password now
    # the admin renders its own LoginView (AdminSite.login): its form refuses, with Django's 200
    assert refused.status_code == (200 if page == "/admin/login/" else 429)
    text = refused.content.decode()
    assert "Too many failed sign-ins for this username from your address" in text, text[:2000]
    assert "Try again in 60 seconds" in text or "Try again in 59 seconds" in text
    assert "_auth_user_id" not in client.session
    if refused.status_code == 429:
        assert 1 <= int(refused["Retry-After"]) <= 60
    other = Client()  # another username from the same address is not refused
    make_user("bob")
    assert sign_in(other, page if page != "/admin/login/" else "/sign-in/", "bob", "pw-bob").status_code == 302


def test_failures_at_one_door_count_at_the_others(student, settings):
    """Two wrong passwords on the sign-in page and one token request make three: the fourth try,
    anywhere, is refused."""
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    web = Client()
    for _ in range(2):
        assert sign_in(web, "/sign-in/", "alice", "nope").status_code == 200
    api = APIClient()
    assert api.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json").status_code == 400
    assert api.post("/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json").status_code == 429
    assert sign_in(web, "/api-auth/login/", "alice", "pw-alice").status_code == 429
    assert TokenFailure.objects.count() == 3


def test_a_refused_username_signs_in_again_once_its_failures_age_out(student, settings):
    from datetime import timedelta

    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (2, 60)
    client = Client()
    for _ in range(2):
        sign_in(client, "/sign-in/", "alice", "nope")
    assert sign_in(client, "/sign-in/", "alice", "pw-alice").status_code == 429
    oldest = TokenFailure.objects.order_by("failed_at").first()
    oldest.failed_at -= timedelta(seconds=61)
    oldest.save()
    assert sign_in(client, "/sign-in/", "alice", "pw-alice").status_code == 302


def test_what_is_not_a_guess_is_not_counted(student, settings):
    """A right password, a form without one, and a student's right password at the admin (which
    refuses non-staff) are no guesses: nothing is counted."""
    assert settings.AUTOGRADER_TOKEN_FAILURE_RATE == (10, 60)  # the default
    for _ in range(12):
        assert sign_in(Client(), "/sign-in/", "alice", "pw-alice").status_code == 302
    assert Client().post("/sign-in/", {"username": "alice"}).status_code == 200
    admin = sign_in(Client(), "/admin/login/", "alice", "pw-alice")
    assert admin.status_code == 200 and "staff account" in admin.content.decode()
    assert not TokenFailure.objects.exists()


def test_the_limit_can_be_turned_off(student, settings):
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = None
    client = Client()
    for _ in range(12):
        assert sign_in(client, "/sign-in/", "alice", "nope").status_code == 200
    assert sign_in(client, "/sign-in/", "alice", "pw-alice").status_code == 302
    assert not TokenFailure.objects.exists()


def test_no_password_typed_as_a_username_is_kept(settings, db):
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (5, 60)
    assert sign_in(Client(), "/sign-in/", "my-secret-password", "x").status_code == 200
    stored = list(TokenFailure.objects.values_list("username_digest", flat=True))
    assert len(stored) == 1 and len(stored[0]) == 64 and "secret" not in stored[0]
    nul = sign_in(Client(), "/sign-in/", "nul\x00name", "x")  # the form refuses it before any check: no guess
    assert nul.status_code == 200 and "Null characters are not allowed" in nul.content.decode()
    assert TokenFailure.objects.count() == 1


def test_the_browsable_api_login_keeps_its_page_and_names():
    from django.urls import reverse

    assert reverse("rest_framework:login") == "/api-auth/login/"
    assert reverse("rest_framework:logout") == "/api-auth/logout/"


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1 second"), (0.2, "1 second"), (59.1, "60 seconds"), (90, "90 seconds"), (91, "2 minutes"), (3600, "60 minutes")]
)
def test_the_wait_is_rounded_up_in_words(seconds, text):
    assert wait_text(seconds) == text


def test_look_alike_spellings_of_a_username_share_its_count(student, settings):
    """Django's sign-in form reads usernames NFKC-normalised: "ａｌｉｃｅ" (full-width) signs in as
    alice. Each spelling had a count of its own (QA: 99 guesses in a minute past the limit)."""
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    assert sign_in(Client(), "/sign-in/", "ａｌｉｃｅ", "pw-alice").status_code == 302  # the same account
    client = Client()
    assert sign_in(Client(), "/sign-in/", " alice\t", "pw-alice").status_code == 302  # stripped, as the form reads it
    for spelling in ("alice", "ａlice", " alｉce "):
        assert sign_in(client, "/sign-in/", spelling, "nope").status_code == 200
    assert sign_in(client, "/sign-in/", "ａｌｉｃｅ", "nope").status_code == 429
    assert sign_in(client, "/sign-in/", "alice", "pw-alice").status_code == 429
