"""Sign-in with the username in any case: "Alice" signs in as alice (a phone capitalises the first
letter of the username box; a student at the deadline read "Please enter a correct username and
password" and thought the password was wrong). The roster import refuses usernames that differ
only in case, so the match is one account; where an older database holds two such accounts,
only the exact spelling signs in.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameAnyCaseBackend(ModelBackend):
    """Django's ModelBackend, finding the account by its exact username first, else by the one
    username equal to it ignoring case; the password is checked as ModelBackend does (and hashed
    against nothing when no account matches, so the time taken does not say which exist)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user_model = get_user_model()
        if username is None:
            username = kwargs.get(user_model.USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = account_named(username)
        if user is None:
            user_model().set_password(password)  # as ModelBackend: the same work for a missing account
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def account_named(username: str):
    """The account with this username, else the only one whose username equals it ignoring
    case, else None."""
    user_model = get_user_model()
    users, field = user_model._default_manager, user_model.USERNAME_FIELD
    exact = users.filter(**{field: username}).first()
    if exact is not None:
        return exact
    matches = list(users.filter(**{f"{field}__iexact": username})[:2])
    return matches[0] if len(matches) == 1 else None
