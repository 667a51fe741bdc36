"""Usernames sign in in any case (exercises.auth_backends): a phone capitalising "Alice" in the
username box got "Please enter a correct username and password" (QA). Every door goes through
the same backend: the web UI's sign-in, the API's token endpoint, the admin."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from exercises.models import TokenFailure


@pytest.mark.parametrize("typed", ["Alice", "ALICE", " alice "])
def test_the_web_sign_in_takes_the_username_in_any_case(student, typed):
    client = Client()
    response = client.post("/sign-in/", {"username": typed, "password": "pw-alice"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.session["_auth_user_id"] == str(student.pk)


def test_the_token_endpoint_takes_the_username_in_any_case(student):
    response = APIClient().post("/api/auth/token/", {"username": "ALICE", "password": "pw-alice"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["token"] == student.auth_token.key


def test_a_wrong_password_is_still_refused_in_any_case(student):
    response = Client().post("/sign-in/", {"username": "Alice", "password": "pw-bob"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_two_accounts_differing_only_in_case_sign_in_by_their_exact_names(make_user):
    """An older database may hold both (the roster import refuses such pairs now): the exact
    spelling signs in to its own account, another spelling to neither."""
    lower, upper = make_user("bob"), make_user("Bob")
    for name, user in (("bob", lower), ("Bob", upper)):
        client = Client()
        assert client.post("/sign-in/", {"username": name, "password": f"pw-{name}"}).status_code == 302
        assert client.session["_auth_user_id"] == str(user.pk)
    assert Client().post("/sign-in/", {"username": "BOB", "password": "pw-bob"}).status_code == 200


def test_case_variants_share_one_count_of_failed_sign_ins(student, settings):
    """A guesser cycling ALICE, Alice, aLice... would otherwise get a fresh count per spelling."""
    settings.AUTOGRADER_TOKEN_FAILURE_RATE = (3, 60)
    for typed in ("alice", "ALICE", "Alice"):
        assert Client().post("/sign-in/", {"username": typed, "password": "guess"}).status_code == 200
    assert Client().post("/sign-in/", {"username": "aLiCe", "password": "pw-alice"}).status_code == 429
    assert TokenFailure.objects.values("username_digest").distinct().count() == 1


def test_the_admin_takes_the_username_in_any_case(make_user):
    make_user("root", is_staff=True, is_superuser=True)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "Root", "password": "pw-root", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
