"""A problem set's times in the web UI show their seconds when those are not 0 (QA: a deadline at
23:59:30 showed as 23:59, and a student who submitted at 23:59:40 was late).

Only templates are rendered here (no database): exercises/templates/exercises/_time.html, which
_times.html (problem set and question pages) and home.html use for release, due and late times.
"""

from datetime import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.template.loader import render_to_string

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.fixture(autouse=True)
def vienna(settings):
    settings.TIME_ZONE = "Europe/Vienna"


def at(hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 12, 7, hour, minute, second, microsecond, tzinfo=VIENNA)


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (at(23, 59, 30), "Mon 07 Dec 2026, 23:59:30 CET (UTC+01:00)"),
        (at(23, 59, 1), "Mon 07 Dec 2026, 23:59:01 CET (UTC+01:00)"),
        (at(23, 59), "Mon 07 Dec 2026, 23:59 CET (UTC+01:00)"),
        # a fraction of a second: the minute shown is not later than the time itself
        (at(23, 59, 0, 500_000), "Mon 07 Dec 2026, 23:59 CET (UTC+01:00)"),
    ],
)
def test_a_time_shows_its_seconds_only_when_they_are_not_zero(moment, shown):
    html = render_to_string("exercises/_time.html", {"moment": moment})
    assert html == f'<time datetime="{moment.isoformat()}">{shown}</time>'


def test_the_problem_set_times_show_a_due_time_to_the_second():
    problem_set = SimpleNamespace(release_at=at(8, 0), late_penalty=0.5)
    deadlines = SimpleNamespace(due_at=at(23, 59, 30), late_until=at(23, 59, 59, 999_999), own_due=False, own_late_until=False)
    html = render_to_string("exercises/_times.html", {"problem_set": problem_set, "deadlines": deadlines, "window": "open"})
    assert "Released <time" in html and ">Mon 07 Dec 2026, 08:00 CET (UTC+01:00)</time>" in html
    assert ">Mon 07 Dec 2026, 23:59:30 CET (UTC+01:00)</time> · late submissions until <time" in html
    assert ">Mon 07 Dec 2026, 23:59:59 CET (UTC+01:00)</time> at −50" in html
