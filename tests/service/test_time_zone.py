"""AUTOGRADER_TIME_ZONE: where the course runs. A time given without an offset (the browsable API's
date-time fields send no offset) is read there, not in UTC."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from exercises.models import Course, Membership, ProblemSet


def time_zone_setting(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_TIME_ZONE"}
    if value is not None:
        env["AUTOGRADER_TIME_ZONE"] = value
    env["DJANGO_SETTINGS_MODULE"] = "autograder.settings"
    code = "from django.conf import settings; print(settings.TIME_ZONE)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_the_time_zone_comes_from_the_environment_and_defaults_to_utc():
    assert time_zone_setting(None).stdout.strip() == "UTC"
    assert time_zone_setting("Europe/Vienna").stdout.strip() == "Europe/Vienna"


def test_an_unknown_time_zone_refuses_to_start_with_a_clear_message():
    done = time_zone_setting("Europe/Graz")
    assert done.returncode != 0
    assert "AUTOGRADER_TIME_ZONE='Europe/Graz' is not a time zone name" in done.stderr


@pytest.mark.django_db
def test_a_due_time_without_offset_is_read_in_the_courses_time_zone(settings):
    """A teacher in Graz typing 23:59 into the browsable API's form set the deadline to 00:59
    local time (UTC was the only zone); with AUTOGRADER_TIME_ZONE=Europe/Vienna it is 23:59 there."""
    settings.TIME_ZONE = "Europe/Vienna"
    teacher = get_user_model().objects.create_user("teacher", password="x")
    course = Course.objects.create(code="ml1", title="ML1")
    Membership.objects.create(user=teacher, course=course, role=Membership.Role.INSTRUCTOR)
    client = APIClient()
    client.force_authenticate(teacher)
    response = client.post(
        f"/api/courses/{course.pk}/problem-sets/",
        {"title": "Week 1", "release_at": "2026-12-01T08:00", "due_at": "2026-12-07T23:59"},
        format="json",
    )
    assert response.status_code == 201, response.content
    stored = ProblemSet.objects.get(pk=response.json()["id"])
    assert stored.due_at == datetime(2026, 12, 7, 22, 59, tzinfo=UTC)
    assert response.json()["due_at"] == "2026-12-07T23:59:00+01:00"
    # a time with its offset means what it says, whatever the zone
    response = client.post(
        f"/api/courses/{course.pk}/problem-sets/",
        {"title": "Week 2", "release_at": "2026-12-01T08:00Z", "due_at": "2026-12-14T23:59:00Z"},
        format="json",
    )
    assert ProblemSet.objects.get(pk=response.json()["id"]).due_at == datetime(2026, 12, 14, 23, 59, tzinfo=UTC)
