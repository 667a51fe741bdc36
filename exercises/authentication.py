"""API token authentication: DRF's (same header, same errors, plus one for a Bearer header), with
the token and its user read in one plain SQL query, because every API request pays for it (see
exercises.sql).

Its own module, so that settings.REST_FRAMEWORK can name it: DRF imports authentication classes
while it defines APIView, before any view module could be imported.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from exercises import sql


class TokenAuth(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's TokenAuthentication; `Bearer <key>` gets a 401 saying
    so (DRF ignored the header and answered "Authentication credentials were not provided.")."""

    def authenticate(self, request):
        scheme = get_authorization_header(request).split()[:1]
        if scheme and scheme[0].lower() == b"bearer" and not _signed_in(request):
            raise AuthenticationFailed(
                "This API takes the header `Authorization: Token <key>`, not Bearer: "
                "send the same key with the word Token in front of it.",
                code="wrong_auth_scheme",
            )
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        user_model = get_user_model()
        user_pk = sql.quote(user_model._meta.pk.column)
        row = sql.fetch_one(
            f"SELECT {sql.columns(Token, 't')}, {sql.columns(user_model, 'u')} FROM {sql.table(Token)} t "
            f"JOIN {sql.table(user_model)} u ON u.{user_pk} = t.user_id WHERE t.key = %s",
            [key],
        )
        if row is None:
            raise AuthenticationFailed(gettext_lazy("Invalid token."))
        token, token.user = sql.load_models(row, Token, user_model)
        if not token.user.is_active:
            raise AuthenticationFailed(gettext_lazy("User inactive or deleted."))
        return token.user, token


def _signed_in(request) -> bool:
    """Whether the browser session signs the request in: a proxy in front may add a Bearer header
    of its own, which must not lock out the session's user."""
    user = getattr(request._request, "user", None)
    return bool(user and user.is_authenticated)
