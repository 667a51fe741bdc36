"""`manage.py seed_demo`: a demo course to try the service, safe to run again.

Creates (once) the course "demo" with one problem set per topic of the catalogue, released now
and due in 14 days (2 more days late at a 20% penalty), and two users, an instructor and a
student. Every run sets and prints their passwords (DEMO_INSTRUCTOR_PASSWORD /
DEMO_STUDENT_PASSWORD, or freshly generated ones) and their API tokens.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from exercises.models import Course, Membership, ProblemSet, Question
from nncore.problems import CATALOGUE

COURSE_CODE = "demo"
# The seeds' topics, in teaching order; kinds not listed here go to a set named by their topic.
SETS = (
    ("Forward pass", ("forward_neuron", "forward_layer", "forward_mlp")),
    ("Loss", ("loss_value",)),
    ("Backpropagation: Δ", ("output_delta", "hidden_delta")),
    ("Gradients and SGD updates", ("weight_gradient", "layer_gradient", "sgd_update")),
    ("Backpropagation step by step", ("backprop_chain",)),
)
USERS = (
    ("demo-instructor", Membership.Role.INSTRUCTOR, "DEMO_INSTRUCTOR_PASSWORD"),
    ("demo-student", Membership.Role.STUDENT, "DEMO_STUDENT_PASSWORD"),
)


def demo_sets() -> list[tuple[str, list[str]]]:
    """(problem set title, kind ids): the seed topics first, then every other catalogue kind."""
    listed = {kind for _, kinds in SETS for kind in kinds}
    sets = [(title, [k for k in kinds if k in CATALOGUE]) for title, kinds in SETS]
    by_topic: dict[str, list[str]] = {}
    for kind_id, kind in CATALOGUE.items():
        if kind_id not in listed:
            by_topic.setdefault(kind.topic, []).append(kind_id)
    sets += [(topic.replace("_", " ").capitalize(), kinds) for topic, kinds in by_topic.items()]
    return [(title, kinds) for title, kinds in sets if kinds]


class Command(BaseCommand):
    help = "Create the demo course, problem sets, an instructor and a student (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            # codes are unique ignoring case: a "DEMO" an instructor made is this course
            course = Course.objects.filter(code__iexact=COURSE_CODE).order_by("pk").first()
            if course is None:
                course = Course.objects.create(code=COURSE_CODE, title="Neural networks (demo)")
            created = self.create_sets(course)
            credentials = [self.create_user(course, *spec) for spec in USERS]
        self.stdout.write(f"Demo course {course.code!r}: {created} new question(s).")
        for username, role, password, token in credentials:
            self.stdout.write(f"  {role:<10} username={username} password={password} token={token}")
        self.stdout.write("Sign in to the web UI (the site's root) with a username and password; API clients send the token.")

    def create_sets(self, course: Course) -> int:
        """Add the demo sets and questions that are missing; never touch what is there.

        The demo is meant to be edited: an instructor may add a second question of a kind, or a
        set with a demo title, and `make run` runs this command at every start. So a set is found
        by title (the first one, if there are several) and a kind counts as present if any
        question of the set has it; new questions go after the set's last one (a demo kind whose
        question was deleted comes back at the next start).
        """
        now = timezone.now()
        created = 0
        for title, kinds in demo_sets():
            problem_set = ProblemSet.objects.filter(course=course, title=title).order_by("id").first()
            if problem_set is None:
                problem_set = ProblemSet.objects.create(
                    course=course,
                    title=title,
                    release_at=now,
                    due_at=now + timedelta(days=14),
                    late_until=now + timedelta(days=16),
                    late_penalty=0.2,
                )
            present = set(problem_set.questions.values_list("kind", flat=True))
            position = max(problem_set.questions.values_list("position", flat=True), default=0)
            for kind in kinds:
                if kind in present:
                    continue
                position += 1
                Question.objects.create(
                    problem_set=problem_set,
                    kind=kind,
                    position=position,
                    points=10.0,
                    max_attempts=3,
                    attempt_penalty=0.1,
                )
                created += 1
        return created

    def create_user(self, course: Course, username: str, role: str, env_name: str) -> tuple:
        user, _ = get_user_model().objects.get_or_create(username=username)
        password = os.environ.get(env_name) or secrets.token_urlsafe(12)
        user.set_password(password)
        user.email = user.email or f"{username}@example.org"  # to try "Forgot your password?"
        user.save()
        Membership.objects.update_or_create(user=user, course=course, defaults={"role": role})
        token, _ = Token.objects.get_or_create(user=user)
        return username, role, password, token.key
