"""`manage.py sandbox_status`: how this machine's workers will run student code (printed by the
demo at start). Exit status 0 when code questions can be graded, 1 when they are refused."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from autograder import sandbox_runner


class Command(BaseCommand):
    help = "Say whether student code runs in the bubblewrap sandbox, unsandboxed (development) or not at all."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"student code: {sandbox_runner.sandbox_mode()}")
        ok, _ = sandbox_runner.sandbox_available()
        if not ok and not settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE:
            self.stdout.write(
                "code questions will be marked 'error' until bubblewrap works here "
                "(scripts/install_system_deps.sh as root), or set AUTOGRADER_ALLOW_UNSANDBOXED_CODE=1 "
                "for development only"
            )
            raise SystemExit(1)
