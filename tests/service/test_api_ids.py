"""Ids in URLs: any number that is not a stored id is a 404, however large, never a 500."""

from __future__ import annotations

import re

import pytest
from django.urls import get_resolver
from rest_framework.test import APIClient

from exercises.api_urls import BIGINT_MAX

pytestmark = pytest.mark.django_db


def api_routes_with_ids() -> list[str]:
    """Every /api/ route that takes an id, with each id written as {}."""
    routes = []
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) == "api/":
            routes += [
                "/api/" + re.sub(r"<id:\w+>", "{}", str(p.pattern)) for p in pattern.url_patterns if "<id:" in str(p.pattern)
            ]
    return routes


def test_every_api_route_with_an_id_is_listed():
    assert len(api_routes_with_ids()) >= 12


@pytest.mark.parametrize("number", [BIGINT_MAX, BIGINT_MAX + 1, 10**30, 10**400])
def test_huge_ids_are_404_not_500(instructor, number):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(instructor)
    for route in api_routes_with_ids():
        path = route.replace("{}", str(number))
        for method in ("get", "post", "patch", "delete"):
            response = getattr(client, method)(path, {}, format="json")
            assert response.status_code in (404, 405), (method, path, response.status_code, response.content[:200])
