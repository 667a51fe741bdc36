"""Small helpers shared by the service tests (imported as `helpers`, like helpers_worker)."""

from __future__ import annotations

from rest_framework.test import APIClient

from exercises import services


def reference_answers(question, student, factor: float = 1.0) -> dict:
    """The reference answers of the student's current variant, optionally scaled (wrong)."""
    return {k: v * factor for k, v in services.current_variant(question, student).instance["answers"].items()}


def client_for(user) -> APIClient:
    """An API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client
