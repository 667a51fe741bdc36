"""AUTOGRADER_TIME_ZONE: where the course runs. A time given without an offset (the browsable API's
date-time fields send no offset) is read there, not in UTC."""

from __future__ import annotations

import json
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


@pytest.fixture
def graz(db, settings) -> tuple[APIClient, str]:
    """An instructor's client for a course run in Europe/Vienna, and its problem-sets URL."""
    settings.TIME_ZONE = "Europe/Vienna"
    teacher = get_user_model().objects.create_user("teacher", password="x")
    course = Course.objects.create(code="ml1", title="ML1")
    Membership.objects.create(user=teacher, course=course, role=Membership.Role.INSTRUCTOR)
    client = APIClient()
    client.force_authenticate(teacher)
    return client, f"/api/courses/{course.pk}/problem-sets/"


def test_a_due_time_without_offset_is_read_in_the_courses_time_zone(graz):
    """A teacher in Graz typing 23:59 into the browsable API's form set the deadline to 00:59
    local time (UTC was the only zone); with AUTOGRADER_TIME_ZONE=Europe/Vienna it is 23:59 there."""
    client, url = graz
    response = client.post(
        url,
        {"title": "Week 1", "release_at": "2026-12-01T08:00", "due_at": "2026-12-07T23:59"},
        format="json",
    )
    assert response.status_code == 201, response.content
    stored = ProblemSet.objects.get(pk=response.json()["id"])
    assert stored.due_at == datetime(2026, 12, 7, 22, 59, tzinfo=UTC)
    assert response.json()["due_at"] == "2026-12-07T23:59:00+01:00"
    # a time with its offset means what it says, whatever the zone
    response = client.post(
        url,
        {"title": "Week 2", "release_at": "2026-12-01T08:00Z", "due_at": "2026-12-14T23:59:00Z"},
        format="json",
    )
    assert ProblemSet.objects.get(pk=response.json()["id"]).due_at == datetime(2026, 12, 14, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "message"),
    [
        # the spring-forward night: 02:00-03:00 does not exist; DRF took 02:30 as 03:30 and showed 02:30
        ("2027-03-28T02:30", "2027-03-28T02:30 does not exist in Europe/Vienna (the clocks go forward then)"),
        # the autumn night: 02:30 happens twice; DRF silently took the first
        ("2027-10-31T02:30", "2027-10-31T02:30 happens twice in Europe/Vienna (the clocks go back then); give its offset: 2027-10-31T02:30+02:00 or 2027-10-31T02:30+01:00"),
    ],
)
def test_a_local_time_a_daylight_saving_change_skips_or_repeats_is_refused(graz, due, message):
    client, url = graz
    body = {"title": "Week 1", "release_at": "2027-03-01T08:00", "due_at": due}
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert not ProblemSet.objects.exists()
    body["due_at"] = due + ":00+01:00"  # with its offset it is one moment: taken
    assert client.post(url, body, format="json").status_code == 201


@pytest.mark.parametrize("field", ["release_at", "late_until"])
def test_a_date_at_the_start_of_the_calendar_is_a_400_not_a_500(graz, field):
    """0001-01-01T00:00 in a zone east of UTC is before year 1 in UTC: an OverflowError in DRF
    made it a 500 (exploratory QA)."""
    client, url = graz
    body = {"title": "Week 1", "release_at": "2026-12-01T08:00", "due_at": "2026-12-07T23:59", field: "0001-01-01T00:00:00"}
    response = client.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert "too near the ends of the calendar" in json.dumps(response.json()), response.json()


@pytest.mark.django_db
def test_refusals_name_times_in_the_courses_time_zone(settings, make_question, student):
    """'this problem set closed at 2026-12-07T22:59:00+00:00' for a course in Graz (review)."""
    from exercises import services

    settings.TIME_ZONE = "Europe/Vienna"
    question = make_question()
    problem_set = question.problem_set
    problem_set.due_at = datetime(2026, 12, 7, 22, 59, tzinfo=UTC)
    problem_set.release_at = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    problem_set.late_until = None
    problem_set.save()
    with pytest.raises(services.SubmissionRefused, match=r"closed at Mon 07 Dec 2026, 23:59 CET \(UTC\+01:00\)"):
        services.submit(question, student, {"x": "1"}, now=datetime(2026, 12, 8, 12, 0, tzinfo=UTC))


@pytest.mark.django_db
def test_a_deadline_with_seconds_is_refused_with_its_seconds(settings, make_question, student):
    """"closed at ..., 10:41" beside a page showing "due 10:41:29": a student who clicked at
    10:41:15 read it as refused before the deadline (QA)."""
    from exercises import services

    settings.TIME_ZONE = "UTC"
    question = make_question()
    problem_set = question.problem_set
    problem_set.release_at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # fixed: the due time is in the past
    problem_set.due_at = datetime(2026, 12, 7, 10, 41, 29, tzinfo=UTC)
    problem_set.late_until = None
    problem_set.save()
    with pytest.raises(services.SubmissionRefused, match=r"closed at Mon 07 Dec 2026, 10:41:29 UTC"):
        services.submit(question, student, {"x": "1"}, now=datetime(2026, 12, 7, 10, 41, 30, tzinfo=UTC))
