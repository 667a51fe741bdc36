"""Small helpers shared by the service tests (imported as `helpers`, like helpers_worker)."""

from __future__ import annotations

from rest_framework.test import APIClient

from exercises import services


def reference_answers(question, student, factor: float = 1.0) -> dict:
    """The reference answers of the student's current variant, optionally scaled (x3: wrong,
    x1.05: 5 % off). A 0 (or float noise such as -3.3e-16 for one) becomes `factor - 1`
    instead: scaled it would stay right, and a test's score would depend on the variant its ids
    happen to draw."""
    answers = services.current_variant(question, student).instance["answers"]
    return {k: v * factor if abs(v) > 1e-9 or factor == 1.0 else factor - 1.0 for k, v in answers.items()}


def client_for(user) -> APIClient:
    """An API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client
