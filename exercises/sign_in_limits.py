"""Password guessing: failed sign-ins counted per client address and username, refused past
settings.AUTOGRADER_TOKEN_FAILURE_RATE until the oldest failure has aged out.

One count for every way in (the API token endpoint, the web UI's sign-in, the browsable API's
and the admin's login pages): a guesser refused at one door is refused at the others. Failures
are rows of exercises.TokenFailure, so every web process and host counts the same ones (a
per-process cache would let each gunicorn worker count its own). Only failures count, per
username: a class behind one address (a NAT) is not refused because one of them mistyped.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from exercises.models import TokenFailure


def client_address(request) -> str:
    """The client's address as DRF's throttles identify it (REMOTE_ADDR, or behind
    AUTOGRADER_NUM_PROXIES proxies the X-Forwarded-For entry the nearest one added)."""
    return (BaseThrottle().get_ident(request) or "unknown")[:100]


def username_digest(username: object) -> str:
    """SHA-256 of the username sent, read as the sign-in forms read it: NFKC-normalised and
    stripped (QA: "ｄemo-student", full-width d, and review: " alice", each signed in as that
    account with a count of its own), lower-cased (usernames sign in in any case,
    exercises.auth_backends: "ALICE" and "alice" are one count). Any text (NUL, lone surrogates)
    can be stored, and no password typed into the username box is kept."""
    text = unicodedata.normalize("NFKC", str(username if username is not None else "")).strip().lower()
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def seconds_refused(address: str, digest: str) -> float | None:
    """Seconds until this username may try again from this address, or None when it may now."""
    failures = TokenFailure.objects.filter(address=address, username_digest=digest)
    return seconds_over_rate(failures, "failed_at", settings.AUTOGRADER_TOKEN_FAILURE_RATE)


def seconds_over_rate(events, time_field: str, rate: tuple[int, int] | None) -> float | None:
    """Seconds until `events` (a queryset of timed rows) has fewer than rate's count within its
    period again, or None when it has now (or there is no rate)."""
    if rate is None:
        return None
    count, seconds = rate
    now = timezone.now()
    recent = list(
        events.filter(**{f"{time_field}__gt": now - timedelta(seconds=seconds)})
        .order_by(f"-{time_field}")
        .values_list(time_field, flat=True)[:count]
    )
    if len(recent) < count:
        return None
    return max(1.0, (recent[-1] + timedelta(seconds=seconds) - now).total_seconds())


def record_failure(address: str, digest: str) -> None:
    """Count a failed sign-in (and forget those older than the period)."""
    rate = settings.AUTOGRADER_TOKEN_FAILURE_RATE
    if rate is None:
        return
    now = timezone.now()
    TokenFailure.objects.filter(failed_at__lte=now - timedelta(seconds=rate[1])).delete()
    TokenFailure.objects.create(address=address, username_digest=digest, failed_at=now)


def wait_text(seconds: float) -> str:
    """"42 seconds" or "3 minutes": how long a refused sign-in waits, rounded up."""
    if seconds <= 90:
        whole = math.ceil(seconds)
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class LimitedSignIn:
    """A Django sign-in form that refuses a username with too many recent failures from the
    client's address before checking the password, and counts each wrong password (a right one
    for an account that may not sign in here, say a student at the admin, is not a guess)."""

    refused_seconds: float | None = None

    def clean(self):
        if self.request is None:  # built without a request (not by a login view): nothing to count by
            return super().clean()
        address = client_address(self.request)
        digest = username_digest(self.data.get("username"))
        self.refused_seconds = seconds_refused(address, digest)
        if self.refused_seconds is not None:
            raise forms.ValidationError(
                "Too many failed sign-ins for this username from your address. "
                f"Try again in {wait_text(self.refused_seconds)}.",
                code="throttled",
            )
        try:
            return super().clean()
        except forms.ValidationError:
            if self.user_cache is None and self.cleaned_data.get("password"):
                record_failure(address, digest)
            raise


class LimitedAuthenticationForm(LimitedSignIn, AuthenticationForm):
    """The web UI's and the browsable API's sign-in form."""


class LimitedLoginView(LoginView):
    """Django's LoginView with LimitedAuthenticationForm; a refused sign-in is a 429 with
    Retry-After (the page says how long), so scripts and proxies see it for what it is."""

    authentication_form = LimitedAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "refused_seconds", None) is not None:
            response.status_code = 429
            response["Retry-After"] = str(math.ceil(form.refused_seconds))
        return response


class LimitedAdminAuthenticationForm(LimitedSignIn, AdminAuthenticationForm):
    """The admin's sign-in form."""
