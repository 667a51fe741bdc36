"""Two questions created at the same moment without a position, on real PostgreSQL connections.

Each creation runs in its own thread with its own connection. The first holds its transaction
open after reading the set's last position; the second must wait for it (the set's row lock in
services.next_position) and then place its question after the first one. Without the lock both
read the same last position and became #1 (QA).
"""

from __future__ import annotations

import threading

import pytest
from helpers import client_for
from test_integration_regrade_race import assert_waits_for_a_lock, in_thread

from exercises import services
from exercises.models import Question

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_questions_created_at_once_get_distinct_positions(instructor, problem_set, monkeypatch):
    real = services.next_position
    first_read = threading.Event()
    release_first = threading.Event()

    def next_position(problem_set):
        position = real(problem_set)
        if not first_read.is_set():  # the first creation: stay in its transaction for a while
            first_read.set()
            release_first.wait(10)
        return position

    monkeypatch.setattr(services, "next_position", next_position)
    url = f"/api/problem-sets/{problem_set.pk}/questions/"

    def create():
        return client_for(instructor).post(url, {"kind": "forward_neuron"}, format="json")

    first, first_outcome = in_thread(create)
    assert first_read.wait(10), "the first creation never read a position"
    second, second_outcome = in_thread(create)
    assert_waits_for_a_lock(second, "the second creation read the last position without waiting for the first")
    release_first.set()
    for thread in (first, second):
        thread.join(20)
    responses = [first_outcome.get("value"), second_outcome.get("value")]
    assert all(r is not None and r.status_code == 201 for r in responses), (first_outcome, second_outcome)
    assert sorted(r.json()["position"] for r in responses) == [1, 2]
    assert sorted(Question.objects.filter(problem_set=problem_set).values_list("position", flat=True)) == [1, 2]
