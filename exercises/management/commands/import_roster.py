"""`manage.py import_roster COURSE_CODE ROSTER.csv`: enrol a class list (see exercises.roster).

    manage.py import_roster nn101 students.csv --credentials new-accounts.csv
    manage.py import_roster nn101 tas.csv --role ta

The roster is a CSV file with a header row: `username` and optionally `email`, `first_name`,
`last_name` (a spreadsheet's "save as CSV" works, byte-order mark included, separated by commas,
semicolons or tabs; headers as LMS exports write them, e.g. "Email address", "First name",
"Vorname", are read too). New accounts get a
random password and an API token, written to --credentials (created with mode 600; never
overwritten) or else printed. Running it again with the same file changes nothing.
"""

from __future__ import annotations

import csv
import os

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from exercises.models import Course, Membership
from exercises.roster import RosterError, import_roster, missing_accounts, read_roster
from exercises.services import is_unicode_text, spreadsheet_text

MAX_FILE_BYTES = 5 * 1024 * 1024


class Command(BaseCommand):
    help = "Enrol a CSV class list in a course, creating the accounts that do not exist yet."

    def add_arguments(self, parser) -> None:
        parser.add_argument("course_code", help="the course's code, as in /api/courses/")
        parser.add_argument("roster", help="CSV file: a header row with username[,email,first_name,last_name]")
        parser.add_argument("--role", default=Membership.Role.STUDENT, choices=Membership.Role.values)
        parser.add_argument("--credentials", help="write new accounts' username,password,token here (a new file)")
        parser.add_argument(
            "--no-passwords", action="store_true", help="new accounts get an API token only (no password login)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check the roster and say what would happen; write nothing"
        )

    def handle(self, *args, **options) -> None:
        code = options["course_code"]
        if "\x00" in code or not is_unicode_text(code):  # bytes that are not UTF-8 in the shell argument
            raise CommandError(f"no course with code {code!r}: course codes are letters, digits, - and _")
        course = Course.objects.filter(code__iexact=code).first()  # unique ignoring case
        if course is None:
            raise CommandError(f"no course with code {options['course_code']!r}; create it first (API or admin)")
        entries = self._read(options["roster"])
        dry_run = options["dry_run"]
        out = options["credentials"]
        # created before the import, so new passwords always have somewhere to go; not when
        # there are none to write (a second run of the same command)
        credentials = None
        if out and missing_accounts(entries):
            if dry_run and os.path.exists(out):  # what the real run would refuse
                raise CommandError(f"{out} exists; choose a new file (credentials are never overwritten)")
            if not dry_run:
                credentials = self._create_credentials_file(out)
        elif out and not dry_run:
            self.stdout.write(f"no new accounts: {out} not written")

        what = "passwords hashed" if not (options["no_passwords"] or dry_run) else "prepared"

        def progress(done: int, total: int) -> None:
            if not dry_run and (done == total or done % 50 == 0):
                self.stdout.write(f"  new accounts: {done}/{total} {what}")

        try:
            result = import_roster(
                course, entries, options["role"], passwords=not options["no_passwords"], progress=progress, dry_run=dry_run
            )
        except BaseException as error:
            if credentials is not None:
                credentials.close()
                os.remove(out)
            if isinstance(error, IntegrityError):
                raise CommandError("an account on the roster was created meanwhile; nothing was imported, run it again") from None
            if isinstance(error, RosterError):
                raise CommandError(f"{options['roster']}: nothing imported.\n{error}") from None
            raise
        if dry_run:
            self.stdout.write(
                f"dry run, nothing written. {course.code} ({course.title}): {len(result.added)} would be added as "
                f"{options['role']}, {len(result.already)} already enrolled, {len(result.created)} new account(s): "
                + (", ".join(name for name, _, _ in result.created[:20]) or "none")
                + (" ..." if len(result.created) > 20 else "")
            )
        elif credentials is not None:
            with credentials:
                writer = csv.writer(credentials)
                writer.writerow(["username", "password", "token"])
                # a username such as "-1+1" would be a formula where the file is opened (passwords
                # never start so: roster.new_password)
                writer.writerows((spreadsheet_text(name), *rest) for name, *rest in result.created)
        elif result.created:
            self.stdout.write("new accounts (username, password, API token):")
            for row in result.created:
                self.stdout.write("  " + "  ".join(value or "-" for value in row))
        if not dry_run:
            self.stdout.write(
                f"{course.code} ({course.title}): {len(result.added)} added as {options['role']}, {len(result.already)} "
                f"already enrolled, {len(result.created)} new account(s)"
                + (f" (credentials in {out})" if out and result.created else "")
            )
        for username, role in result.kept_roles:
            self.stdout.write(f"  {username} is already {_article(role)} {role} in {course.code}: role kept")

    def _read(self, path: str):
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise CommandError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
            with open(path, "rb") as handle:
                if handle.read(4) == b"PK\x03\x04":  # a zip: what .xlsx and .ods files are
                    raise CommandError(f"{path} is a spreadsheet workbook (.xlsx), not CSV; save it as CSV UTF-8")
            with open(path, encoding="utf-8-sig", newline="") as handle:
                return read_roster(handle)
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text; save the roster as CSV UTF-8") from None
        except csv.Error as error:
            raise CommandError(f"{path} is not a readable CSV file: {error}") from None
        except RosterError as error:
            raise CommandError(f"{path}: nothing imported.\n{error}") from None

    def _create_credentials_file(self, path: str):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists; choose a new file (credentials are never overwritten)") from None
        except OSError as error:
            raise CommandError(f"cannot create {path}: {error.strerror}") from None
        return os.fdopen(fd, "w", newline="", encoding="utf-8")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
