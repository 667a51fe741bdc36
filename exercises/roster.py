"""Enrol a class list in a course: read a CSV roster, create the missing accounts, add memberships.

For a course of 500: one file instead of 500 accounts made in the admin and 500 API calls. All or
nothing: a roster with any bad line changes nothing, and every problem is reported with its line
number. Existing accounts are reused untouched (password, names, e-mail); an existing membership
keeps its role, so importing a student list never demotes a TA or an instructor.
"""

from __future__ import annotations

import csv
import itertools
import os
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from rest_framework.authtoken.models import Token

from exercises.models import AuditEntry, Course, Membership

COLUMNS = ("username", "email", "first_name", "last_name")
MAX_ENTRIES = 20_000
MAX_PROBLEMS_SHOWN = 50
_MAX_NAME = 150
_MAX_EMAIL = 254  # the column's length (EmailValidator alone allows 320)


class RosterError(ValueError):
    """The roster cannot be imported; `problems` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown + ([f"... and {more} more"] if more else [])))


@dataclass(frozen=True)
class RosterEntry:
    line: int
    username: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""


@dataclass
class RosterResult:
    """What an import did. `created` holds (username, password, API token) of new accounts; the
    password is "" when accounts were made without one."""

    created: list[tuple[str, str, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    kept_roles: list[tuple[str, str]] = field(default_factory=list)



def new_password() -> str:
    """A random password (72 bits) that starts with a letter or digit: the credentials file is
    opened in spreadsheets, which read a leading -, + or = (token_urlsafe's alphabet has -) as a
    formula and mangle the password."""
    while True:
        password = secrets.token_urlsafe(12)
        if password[0].isalnum():
            return password

# Header names as spreadsheets and LMS exports write them (case, spaces and hyphens aside):
# Moodle's "Email address", "First name" / "firstname", German "Vorname", "Nachname", "E-Mail".
HEADER_NAMES = {
    "username": "username", "user_name": "username", "login": "username", "benutzername": "username",
    "email": "email", "e_mail": "email", "email_address": "email", "mail": "email",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name", "vorname": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name", "family_name": "last_name",
    "nachname": "last_name", "familienname": "last_name",
}
SEPARATORS = (",", ";", "\t")  # a German spreadsheet saves CSV with ";"


def read_roster(lines: Iterable[str]) -> list[RosterEntry]:
    """Entries of a CSV roster with a header row naming `username` and optionally `email`,
    `first_name`, `last_name` (a spreadsheet's export, byte-order mark removed; separated by
    ",", ";" or tabs, as its header line shows); RosterError lists every bad line. Rows whose
    cells are all empty (a spreadsheet's formatted blank rows) are skipped."""
    lines = iter(lines)
    first = next(lines, "")
    separator = _separator(first)
    reader = csv.reader(itertools.chain([first], lines), delimiter=separator)
    found = [name.strip() for name in next(reader, [])]
    while found and not found[-1]:  # a spreadsheet's trailing empty columns ("username,email,,")
        found.pop()
    header = [HEADER_NAMES.get(_header_key(name), name) for name in found]
    if "username" not in header:
        shown = ", ".join(repr(name) for name in found) or "none"
        raise RosterError(
            [
                f"line 1: the header must name a 'username' column (columns: {', '.join(COLUMNS)}); "
                f"found {shown}, read as separated by {_SEPARATOR_NAMES[separator]}"
            ]
        )
    unknown = [name for name, read in zip(found, header, strict=True) if read not in COLUMNS]
    if unknown:
        raise RosterError([f"line 1: unknown column(s) {unknown}; the columns are {', '.join(COLUMNS)} (delete the others)"])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise RosterError([f"line 1: more than one column is {', '.join(repeated)}"])
    width = len(header)
    entries: list[RosterEntry] = []
    problems: list[str] = []
    seen: dict[str, tuple[int, str]] = {}  # casefolded username -> (line, as written)
    for row in reader:
        line = reader.line_num
        if len(entries) >= MAX_ENTRIES:
            raise RosterError([f"line {line}: more than {MAX_ENTRIES} entries; split the roster"])
        cells = [cell.strip() for cell in row]
        if any(cells[width:]):  # empty cells beyond the header (a spreadsheet's) are no problem
            problems.append(f"line {line}: more cells than the header has columns")
            continue
        if not any(cells):  # a blank row, or a spreadsheet's formatted one (",,,")
            continue
        values = dict(zip(header, (cells + [""] * width)[:width], strict=True))
        # as Django's login form reads it: "ﬁle" and "file" are one username, not two accounts
        values["username"] = get_user_model().normalize_username(values["username"])
        entry = RosterEntry(line, **values)
        problems += [f"line {line}: {problem}" for problem in _entry_problems(entry)]
        key = entry.username.casefold()
        if key in seen:
            earlier, written = seen[key]
            if written == entry.username:
                problems.append(f"line {line}: {entry.username!r} is already on line {earlier}")
            else:
                problems.append(
                    f"line {line}: {entry.username!r} differs only in case from {written!r} on line {earlier} "
                    "(one person, one spelling)"
                )
        seen.setdefault(key, (line, entry.username))
        entries.append(entry)
    if not entries and not problems:
        problems.append("the roster lists no one (a header row and one line per person)")
    if problems:
        raise RosterError(problems)
    return entries


_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _separator(header_line: str) -> str:
    """The separator the header line uses most outside quotes (a quoted "Name, Vorname" is one
    column name); "," when it has none."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(SEPARATORS, key=counts.__getitem__)
    return best if counts[best] else ","


def _header_key(name: str) -> str:
    """"Email address" -> "email_address", "E-Mail" -> "e_mail", "First name" -> "first_name"."""
    return "_".join(name.casefold().replace("-", " ").split())


def _entry_problems(entry: RosterEntry) -> list[str]:
    problems = []
    if not entry.username:
        problems.append("the username is empty")
    elif len(entry.username) > _MAX_NAME:
        problems.append(f"the username is longer than {_MAX_NAME} characters")
    else:
        try:
            UnicodeUsernameValidator()(entry.username)
        except ValidationError:
            problems.append(f"{entry.username!r} is not a valid username (letters, digits and @ . + - _ only)")
    if len(entry.email) > _MAX_EMAIL:
        problems.append(f"the e-mail address is longer than {_MAX_EMAIL} characters")
    elif entry.email:
        try:
            EmailValidator()(entry.email)
        except ValidationError:
            problems.append(f"{entry.email!r} is not an e-mail address")
    for name in ("first_name", "last_name"):
        if len(getattr(entry, name)) > _MAX_NAME:
            problems.append(f"{name} is longer than {_MAX_NAME} characters")
    for name in COLUMNS:
        if "\x00" in getattr(entry, name):  # PostgreSQL cannot store it
            problems.append(f"{name} contains a NUL character")
    return problems


def import_roster(
    course: Course,
    entries: list[RosterEntry],
    role: str = Membership.Role.STUDENT,
    *,
    passwords: bool = True,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
) -> RosterResult:
    """Create the accounts the roster names and the system lacks (each with an API token), and
    add each person to `course` with `role` unless already a member.

    Passwords (random, 16 characters) are hashed before the database transaction, in parallel:
    hashing costs ~0.5 s each, and the transaction stays short so a live course is never blocked
    by it. `progress(done, total)` is called while hashing. With `dry_run` the result says what
    would happen and nothing is written (no passwords are made).
    """
    if role not in Membership.Role.values:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(Membership.Role.values)}")
    users = get_user_model().objects
    usernames = [entry.username for entry in entries]
    missing = set(missing_accounts(entries))
    new_entries = [entry for entry in entries if entry.username in missing]
    _refuse_case_only_clashes(new_entries)
    raw = [new_password() if passwords and not dry_run else "" for _ in new_entries]
    secrets_for = {}
    # PBKDF2 (hashlib) releases the GIL: one thread per core hashes a class list in parallel
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = pool.map(lambda password: make_password(password or None), raw)
        for done, (entry, password, hashed) in enumerate(zip(new_entries, raw, hashes, strict=True), 1):
            secrets_for[entry.username] = (password, hashed)
            if progress is not None:
                progress(done, len(new_entries))
    result = RosterResult()
    with transaction.atomic():  # a few bulk statements, whatever the size of the class
        created = users.bulk_create(
            [
                get_user_model()(
                    username=entry.username,
                    email=entry.email,
                    first_name=entry.first_name,
                    last_name=entry.last_name,
                    password=secrets_for[entry.username][1],
                )
                for entry in new_entries
            ]
        )
        tokens = Token.objects.bulk_create([Token(user=user, key=Token.generate_key()) for user in created])
        result.created = [
            (user.username, secrets_for[user.username][0], token.key) for user, token in zip(created, tokens, strict=True)
        ]
        accounts = dict(users.filter(username__in=usernames).values_list("username", "pk"))
        roles = dict(Membership.objects.filter(course=course, user_id__in=accounts.values()).values_list("user_id", "role"))
        joining = []
        for entry in entries:
            user_id = accounts[entry.username]
            if user_id not in roles:
                joining.append(Membership(course=course, user_id=user_id, role=role))
                result.added.append(entry.username)
            elif roles[user_id] != role:
                result.kept_roles.append((entry.username, roles[user_id]))
            else:
                result.already.append(entry.username)
        Membership.objects.bulk_create(joining)
        if joining:  # the import's members in one entry (a class is hundreds of them)
            AuditEntry.objects.create(
                actor=None,
                course=course,
                action="roster_imported",
                details={"role": role, "added": result.added, "accounts_created": len(result.created)},
            )
        if dry_run:
            transaction.set_rollback(True)
    return result


def missing_accounts(entries: list[RosterEntry]) -> list[str]:
    """The roster's usernames that have no account yet (the ones an import creates)."""
    usernames = [entry.username for entry in entries]
    known = set(get_user_model().objects.filter(username__in=usernames).values_list("username", flat=True))
    return [name for name in usernames if name not in known]


def _refuse_case_only_clashes(new_entries: list[RosterEntry]) -> None:
    """RosterError when a new username differs only in case from an existing account: one
    person's second account (an LMS export that changed the spelling), which sign-in would not
    tell from the first. Compared as read_roster compares lines (str.casefold, in Python: SQLite's
    LOWER knows ASCII only)."""
    if not new_entries:
        return
    wanted = {entry.username.casefold(): entry for entry in new_entries}
    found = []
    for existing in get_user_model().objects.values_list("username", flat=True).iterator(chunk_size=5000):
        entry = wanted.get(existing.casefold())
        if entry is not None and entry.username != existing:
            found.append((entry, existing))
    if found:
        found.sort(key=lambda pair: pair[0].line)
        raise RosterError(
            [
                f"line {entry.line}: {entry.username!r} differs only in case from the existing account "
                f"{existing!r}; write it as the account is spelled"
                for entry, existing in found
            ]
        )
