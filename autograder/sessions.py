"""Django's database sessions, refusing session keys Django could not have made.

Django's keys are 32 lowercase letters and digits, but any cookie value was looked up: one
holding a NUL character (the cookie "\\000..." decodes to one) made PostgreSQL refuse the query,
a 500 on every page for that browser. Such a cookie now means no session, like an expired one.
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    def _validate_session_key(self, key) -> bool:
        return bool(super()._validate_session_key(key)) and key.isascii() and key.isalnum()
