"""Password reset by email: Django's own views and signed single-use links (valid for
PASSWORD_RESET_TIMEOUT, void once the password changes), with the web UI's pages, limits on
emails per address and per client, and a plain answer when this server sends no email.

The answer to a request is the same, and as quick, whether or not an account has the address
(a worker sends the email): nobody learns who studies here. Only a refused request says so, and
that is counted per address typed and per client, whatever the accounts, so it tells nothing
about them either.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse_lazy
from rest_framework.authtoken.models import Token

from exercises.models import PasswordResetRequest
from exercises.sign_in_limits import client_address, seconds_over_rate, username_digest, wait_text

logger = logging.getLogger(__name__)


def email_digest(email: str) -> str:
    """SHA-256 of an address as the sign-in count digests a username (NFKC, stripped,
    lower-cased): Django finds accounts by it ignoring case, so "Alice@X" and "alice@x" share one
    count."""
    return username_digest(email)


def claim_request(email: str, client: str) -> float | None:
    """Count a reset email to `email` asked by `client`, or refuse it: None when it may go, else
    the seconds until it may (the refused request is not kept). Counted first and checked after,
    against the requests before it: concurrent requests cannot all pass one check (review: 12 at
    once sent 12 emails under a 3/hour rate)."""
    rates = (
        ({"email_digest": email_digest(email)}, settings.AUTOGRADER_PASSWORD_RESET_RATE),
        ({"client": client}, settings.AUTOGRADER_PASSWORD_RESET_CLIENT_RATE),
    )
    if all(rate is None for _, rate in rates):
        return None
    mine = PasswordResetRequest.objects.create(email_digest=email_digest(email), client=client)
    longest = max(rate[1] for _, rate in rates if rate is not None)
    PasswordResetRequest.objects.filter(requested_at__lt=mine.requested_at - timedelta(seconds=longest)).delete()
    waits = [
        seconds_over_rate(PasswordResetRequest.objects.filter(pk__lt=mine.pk, **same), "requested_at", rate)
        for same, rate in rates
    ]
    waits = [wait for wait in waits if wait is not None]
    if not waits:
        return None
    mine.delete()
    return max(waits)


def valid_hours() -> str:
    """How long a reset link works, in hours ("24")."""
    return f"{settings.PASSWORD_RESET_TIMEOUT / 3600:g}"


def development_mail_dir() -> str | None:
    """Where this server writes its emails instead of sending them (development only), else None."""
    if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        return str(settings.EMAIL_FILE_PATH)
    return None


def send_links(email: str, domain: str, use_https: bool) -> None:
    """Email a reset link to every active account with this address and a password (Django's
    PasswordResetForm; a failed send is logged there). Run by the worker (send_in_background)."""
    form = PasswordResetForm({"email": email})
    if form.is_valid():
        form.save(
            domain_override=domain,
            use_https=use_https,
            subject_template_name=RequestResetView.subject_template_name,
            email_template_name=RequestResetView.email_template_name,
            extra_email_context={"valid_hours": valid_hours()},
        )


def send_in_background(email: str, domain: str, use_https: bool) -> None:
    """Have a worker send the links (autograder.tasks.send_password_reset) once the request's
    transaction commits: the answer then takes the same time whether or not an account has the
    address, and a slow mail server holds up no web thread (review). A lost message loses only
    that email: the student asks again. The address is kept out of the task's log line."""

    def send() -> None:
        from autograder import tasks  # the tasks module imports exercises

        try:
            tasks.send_password_reset.apply_async((email, domain, use_https), argsrepr="(...)", kwargsrepr="{}")
        except Exception:
            logger.exception("could not queue a password-reset email")

    transaction.on_commit(send)


class RequestResetView(auth_views.PasswordResetView):
    """"Forgot your password?": an email address in, a reset link out to every active account
    with that address and a password (Django's PasswordResetForm); past the rate, a 429 that
    says how long to wait."""

    template_name = "exercises/password_reset.html"
    email_template_name = "exercises/password_reset_email.txt"
    subject_template_name = "exercises/password_reset_subject.txt"
    success_url = reverse_lazy("ui-password-reset-sent")

    def get_context_data(self, **kwargs):
        return super().get_context_data(by_email=settings.AUTOGRADER_PASSWORD_RESET_BY_EMAIL, **kwargs)

    def post(self, request, *args, **kwargs):
        if not settings.AUTOGRADER_PASSWORD_RESET_BY_EMAIL:
            return self.get(request, *args, **kwargs)  # the page says to ask the instructor
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        wait = claim_request(email, client_address(self.request))
        if wait is not None:
            form.add_error(
                None,
                "Too many reset links have been asked for this address or from your connection "
                f"recently; check your inbox and spam folder, or try again in {wait_text(wait)}.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
            return response
        send_in_background(email, self.request.get_host(), self.request.is_secure())
        return HttpResponseRedirect(self.get_success_url())


class ResetSentView(auth_views.PasswordResetDoneView):
    template_name = "exercises/password_reset_sent.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(mail_dir=development_mail_dir(), valid_hours=valid_hours(), **kwargs)


class SetNewPasswordView(auth_views.PasswordResetConfirmView):
    """The link's page: a new password twice (Django's validators say what is wrong with one);
    a used or expired link says so and offers a new one."""

    template_name = "exercises/password_reset_confirm.html"
    success_url = reverse_lazy("ui-password-reset-complete")

    def form_valid(self, form):
        """Set the password and void the account's API token too: a reset after a stolen
        password must lock the thief out of the API as well (review)."""
        response = super().form_valid(form)
        Token.objects.filter(user=form.user).delete()
        return response


class ResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "exercises/password_reset_complete.html"
