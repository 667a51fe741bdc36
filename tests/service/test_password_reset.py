"""Password reset by email (exercises.password_reset): "Forgot your password?" on the sign-in page
sends a single-use link to the account's address; the answer never says whether an account has
the address; an address gets at most AUTOGRADER_PASSWORD_RESET_RATE emails per period; a server
that sends no email says to ask the instructor. Before, a student who forgot their password at
the deadline had no way back in but their instructor."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from exercises.models import PasswordResetRequest


@pytest.fixture
def alice(make_user):
    return make_user("alice", email="alice@uni.example")


def ask_for_link(client: Client, email: str):
    return client.post("/password-reset/", {"email": email})


def link_in(message) -> str:
    """The reset link's path in an email."""
    (url,) = re.findall(r"https?://\S+", message.body)
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_sign_in_page_links_to_the_reset_page(db):
    page = Client().get("/sign-in/").content.decode()
    assert '<a href="/password-reset/" id="forgot-password">Forgot your password?</a>' in page


def test_a_student_sets_a_new_password_from_the_emailed_link_and_signs_in_with_it(alice):
    client = Client()
    response = ask_for_link(client, "Alice@Uni.example")  # any case: the address is the same
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert "works once, for 24 hours" in client.get("/password-reset/sent/").content.decode()
    (message,) = mail.outbox
    assert message.to == ["alice@uni.example"]
    assert message.subject == "Set a new password for the NN autograder"
    assert "for the account alice at testserver" in message.body
    link = link_in(message)
    # Django swaps the token into the session and redirects to .../set-password/
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    page = form_page.content.decode()
    assert "For <strong>alice</strong>." in page and 'name="new_password1"' in page
    set_url = form_page.redirect_chain[-1][0]
    weak = client.post(set_url, {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and "This password is too short" in weak.content.decode()
    done = client.post(set_url, {"new_password1": "a new passphrase 7", "new_password2": "a new passphrase 7"})
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert "Your new password is set" in client.get("/password-reset/done/").content.decode()
    fresh = Client()
    assert fresh.post("/sign-in/", {"username": "alice", "password": "pw-alice"}).status_code == 200  # old: refused
    assert fresh.post("/sign-in/", {"username": "alice", "password": "a new passphrase 7"}).status_code == 302
    # the link works once
    again = Client().get(link, follow=True).content.decode()
    assert "This link has expired or has been used already" in again and 'name="new_password1"' not in again


def test_an_unknown_address_gets_the_same_answer_and_no_email(alice):
    response = ask_for_link(Client(), "nobody@uni.example")
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_a_token_only_account_gets_no_link(make_user):
    """import_roster --no-passwords makes accounts without a usable password (API tokens only)."""
    user = make_user("bot", email="bot@uni.example")
    user.set_unusable_password()
    user.save()
    assert ask_for_link(Client(), "bot@uni.example").status_code == 302
    assert mail.outbox == []


def test_an_address_gets_no_more_links_past_the_rate_whoever_asks(alice, settings):
    settings.AUTOGRADER_PASSWORD_RESET_RATE = (2, 3600)
    for _ in range(2):
        assert ask_for_link(Client(), "alice@uni.example").status_code == 302
    refused = ask_for_link(Client(), "ALICE@uni.example")  # another client, another case
    assert refused.status_code == 429
    assert 3500 <= int(refused["Retry-After"]) <= 3600
    text = refused.content.decode()
    assert "A reset link has been sent to this address 2 times recently" in text and "try again in 60 minutes" in text
    assert len(mail.outbox) == 2
    # an address nobody has is counted the same (the 429 tells nothing about accounts)
    for _ in range(2):
        assert ask_for_link(Client(), "nobody@uni.example").status_code == 302
    assert ask_for_link(Client(), "nobody@uni.example").status_code == 429
    assert PasswordResetRequest.objects.count() == 4


def test_old_requests_age_out(alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.AUTOGRADER_PASSWORD_RESET_RATE = (1, 3600)
    assert ask_for_link(Client(), "alice@uni.example").status_code == 302
    PasswordResetRequest.objects.update(requested_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert ask_for_link(Client(), "alice@uni.example").status_code == 302
    assert len(mail.outbox) == 2
    assert PasswordResetRequest.objects.count() == 1  # the aged-out one is forgotten


def test_a_bad_address_is_named_on_the_form(db):
    response = ask_for_link(Client(), "not an address")
    assert response.status_code == 200
    assert "Email: Enter a valid email address." in response.content.decode()


def test_a_server_without_email_says_to_ask_the_instructor(alice, settings):
    settings.AUTOGRADER_PASSWORD_RESET_BY_EMAIL = False
    for response in (Client().get("/password-reset/"), ask_for_link(Client(), "alice@uni.example")):
        page = response.content.decode()
        assert response.status_code == 200
        assert "This server does not send email" in page and "Ask your instructor" in page
        assert 'name="email"' not in page
    assert mail.outbox == []


def test_a_tampered_link_is_refused(alice):
    client = Client()
    ask_for_link(client, "alice@uni.example")
    link = link_in(mail.outbox[0])
    tampered = link.rstrip("/")[:-2] + "xx/"
    page = client.get(tampered, follow=True).content.decode()
    assert "This link has expired or has been used already" in page


def test_settings_send_by_smtp_when_a_host_is_set_and_refuse_a_bad_security_value():
    import os
    import subprocess
    import sys

    def settings_of(**env):
        code = (
            "from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND, s.AUTOGRADER_PASSWORD_RESET_BY_EMAIL, getattr(s, 'EMAIL_PORT', ''), "
            "getattr(s, 'EMAIL_USE_SSL', ''))"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGRADER_EMAIL", "DJANGO_ENV"))}
        base["DJANGO_SETTINGS_MODULE"] = "autograder.settings"
        return subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True)

    smtp = settings_of(AUTOGRADER_EMAIL_HOST="smtp.uni.example", AUTOGRADER_EMAIL_SECURITY="ssl")
    assert smtp.stdout.split() == ["django.core.mail.backends.smtp.EmailBackend", "True", "465", "True"], smtp.stderr
    development = settings_of()
    assert development.stdout.split()[:2] == ["django.core.mail.backends.filebased.EmailBackend", "True"], development.stderr
    production = settings_of(DJANGO_ENV="production", DJANGO_SECRET_KEY="k" * 50, DJANGO_ALLOWED_HOSTS="nn.example")
    assert production.stdout.split()[1] == "False", production.stderr  # no host: no email, the page says so
    bad = settings_of(AUTOGRADER_EMAIL_SECURITY="tls")
    assert bad.returncode != 0 and "AUTOGRADER_EMAIL_SECURITY='tls' is not one of starttls, ssl, none" in bad.stderr
