"""API token authentication: DRF's (same header, same errors), with the token and its user read in
one plain SQL query, because every API request pays for it (see exercises.sql).

Its own module, so that settings.REST_FRAMEWORK can name it: DRF imports authentication classes
while it defines APIView, before any view module could be imported.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from exercises import sql


class TokenAuth(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's TokenAuthentication."""

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
