"""Password reset by email: Django's own views and signed single-use links (valid for
PASSWORD_RESET_TIMEOUT, void once the password changes), with the web UI's pages, a limit on
emails per address, and a plain answer when this server sends no email.

The answer to a request is the same whether or not an account has the address (nobody learns
who studies here); only a refused request says so, and that is counted per address typed,
whoever asks, so it tells nothing about accounts either.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy

from exercises.models import PasswordResetRequest
from exercises.sign_in_limits import seconds_over_rate, username_digest, wait_text


def email_digest(email: str) -> str:
    """SHA-256 of an address as the reset form reads it (NFKC, stripped), lower-cased: Django
    finds accounts by it ignoring case, so "Alice@X" and "alice@x" share one count."""
    return username_digest(str(email).lower())


def seconds_until_allowed(email: str) -> float | None:
    """Seconds until another reset email may go to this address, or None when one may now."""
    requests = PasswordResetRequest.objects.filter(email_digest=email_digest(email))
    return seconds_over_rate(requests, "requested_at", settings.AUTOGRADER_PASSWORD_RESET_RATE)


def record_request(email: str) -> None:
    """Count a reset email to this address (and forget requests older than the period)."""
    rate = settings.AUTOGRADER_PASSWORD_RESET_RATE
    if rate is None:
        return
    request = PasswordResetRequest.objects.create(email_digest=email_digest(email))
    PasswordResetRequest.objects.filter(requested_at__lt=request.requested_at - timedelta(seconds=rate[1])).delete()


def valid_hours() -> str:
    """How long a reset link works, in hours ("24")."""
    return f"{settings.PASSWORD_RESET_TIMEOUT / 3600:g}"


def development_mail_dir() -> str | None:
    """Where this server writes its emails instead of sending them (development only), else None."""
    if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
        return str(settings.EMAIL_FILE_PATH)
    return None


class RequestResetView(auth_views.PasswordResetView):
    """"Forgot your password?": an email address in, a reset link out to every active account
    with that address and a password (Django's PasswordResetForm); past the rate, a 429 that
    says how long to wait."""

    template_name = "exercises/password_reset.html"
    email_template_name = "exercises/password_reset_email.txt"
    subject_template_name = "exercises/password_reset_subject.txt"
    success_url = reverse_lazy("ui-password-reset-sent")

    @property
    def extra_email_context(self) -> dict:
        return {"valid_hours": valid_hours()}

    def get_context_data(self, **kwargs):
        return super().get_context_data(by_email=settings.AUTOGRADER_PASSWORD_RESET_BY_EMAIL, **kwargs)

    def post(self, request, *args, **kwargs):
        if not settings.AUTOGRADER_PASSWORD_RESET_BY_EMAIL:
            return self.get(request, *args, **kwargs)  # the page says to ask the instructor
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        wait = seconds_until_allowed(email)
        if wait is not None:
            form.add_error(
                None,
                f"A reset link has been sent to this address {settings.AUTOGRADER_PASSWORD_RESET_RATE[0]} "
                f"times recently; check your inbox and spam folder, or try again in {wait_text(wait)}.",
            )
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(wait))
            return response
        record_request(email)
        return super().form_valid(form)


class ResetSentView(auth_views.PasswordResetDoneView):
    template_name = "exercises/password_reset_sent.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(mail_dir=development_mail_dir(), valid_hours=valid_hours(), **kwargs)


class SetNewPasswordView(auth_views.PasswordResetConfirmView):
    """The link's page: a new password twice (Django's validators say what is wrong with one);
    a used or expired link says so and offers a new one."""

    template_name = "exercises/password_reset_confirm.html"
    success_url = reverse_lazy("ui-password-reset-complete")


class ResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "exercises/password_reset_complete.html"
