"""Edge cases at the service boundary: bytes PostgreSQL cannot store, generators that fail."""

import pytest
from rest_framework.test import APIClient

from exercises import services
from exercises.models import Submission


def test_nul_characters_in_answers_are_refused_as_bad_format(make_question, student):
    question = make_question("forward_neuron")
    with pytest.raises(services.SubmissionRefused) as refused:
        services.submit(question, student, {"in_3": "0.5\x00"})
    assert refused.value.code == "bad_format"
    assert not Submission.objects.filter(student=student).exists()


def test_a_generator_failure_is_a_clear_503_not_a_crash(make_question, student, monkeypatch):
    """Params stored before a generator changed may no longer generate for some seed."""
    question = make_question("forward_neuron")

    def broken(self, params=None, seed=0):
        raise RuntimeError("found no valid instance in 200 draws")

    monkeypatch.setattr(type(services.get_kind("forward_neuron")), "generate", broken)
    with pytest.raises(services.VariantUnavailable, match="could not be generated"):
        services.current_variant(question, student)

    client = APIClient()
    client.force_authenticate(student)
    response = client.get(f"/api/questions/{question.pk}/variant/")
    assert response.status_code == 503
    assert response.json()["code"] == "variant_unavailable"
    assert "instructor" in response.json()["detail"]
