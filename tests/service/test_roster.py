"""Enrolling a class list: `manage.py import_roster` and exercises.roster behind it."""

from __future__ import annotations

import csv
import io
import os
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from exercises.models import AuditEntry, Membership
from exercises.roster import RosterError, import_roster, read_roster

pytestmark = pytest.mark.django_db
User = get_user_model()


def write(tmp_path, text: str, name: str = "roster.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_roster", *args, stdout=out)
    return out.getvalue()


def test_a_class_list_is_enrolled_with_new_accounts_that_can_sign_in(tmp_path, course):
    User.objects.create_user("dora", password="dora-pw")  # an account from another course
    roster = write(
        tmp_path,
        "\ufeffusername,email,first_name,last_name\n"  # a spreadsheet's UTF-8 export starts with a BOM
        "alice,alice@uni.example,Alice,Ng\nbob,,Bob,\n dora ,,,\n",
    )
    credentials = str(tmp_path / "new.csv")

    output = run("nn101", roster, "--credentials", credentials)

    assert "nn101 (Neural networks): 3 added as student, 0 already enrolled, 2 new account(s)" in output
    assert set(Membership.objects.filter(course=course, role="student").values_list("user__username", flat=True)) == {
        "alice",
        "bob",
        "dora",
    }
    alice = User.objects.get(username="alice")
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@uni.example", "Alice", "Ng")
    assert User.objects.get(username="dora").check_password("dora-pw")  # existing account untouched
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o600
    with open(credentials, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["username"] for r in rows] == ["alice", "bob"]
    client = APIClient()
    for row in rows:
        assert User.objects.get(username=row["username"]).check_password(row["password"])
        response = client.post("/api/auth/token/", {"username": row["username"], "password": row["password"]}, format="json")
        assert response.status_code == 200 and response.json()["token"] == row["token"]
    assert not Token.objects.filter(user__username="dora").exists()  # untouched: she gets one by signing in


def test_the_credentials_file_keeps_usernames_from_becoming_formulas(tmp_path, course):
    credentials = str(tmp_path / "new.csv")
    run("nn101", write(tmp_path, "username\n-1+1\n@sum\nalice\n"), "--credentials", credentials)
    with open(credentials, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["username"] for r in rows) == ["'-1+1", "'@sum", "alice"]
    assert all(r["password"][0].isalnum() for r in rows)


def test_running_it_again_changes_nothing(tmp_path, course):
    roster = write(tmp_path, "username\nalice\nbob\n")
    run("nn101", roster)
    passwords = dict(User.objects.values_list("username", "password"))

    output = run("nn101", roster, "--credentials", str(tmp_path / "again.csv"))

    assert "0 added as student, 2 already enrolled, 0 new account(s)" in output
    (entry,) = AuditEntry.objects.filter(action="roster_imported")  # the first run's; none for this one
    assert entry.details == {"role": "student", "added": ["alice", "bob"], "accounts_created": 2}
    assert dict(User.objects.values_list("username", "password")) == passwords
    assert Membership.objects.count() == 2
    # no new accounts, so no credentials file: the same command runs again as is (it refused
    # because the file existed, or wrote one holding only its header line: exploratory QA)
    assert "no new accounts" in output and not (tmp_path / "again.csv").exists()
    run("nn101", roster, "--credentials", str(tmp_path / "again.csv"))


def test_a_dry_run_says_what_would_happen_and_writes_nothing(tmp_path, course):
    """A mistyped course code enrolled a whole class in the wrong course, with no undo."""
    User.objects.create_user("dora")
    credentials = tmp_path / "new.csv"
    output = run("nn101", write(tmp_path, "username\nalice\ndora\n"), "--dry-run", "--credentials", str(credentials))
    assert "dry run, nothing written. nn101 (Neural networks): 2 would be added as student" in output
    assert "1 new account(s): alice" in output
    assert not User.objects.filter(username="alice").exists() and Membership.objects.count() == 0
    assert not AuditEntry.objects.exists()
    assert not credentials.exists()
    assert "hashed" not in output
    credentials.write_text("keep me")  # the real run would refuse it: so does the dry run
    with pytest.raises(CommandError, match="exists; choose a new file"):
        run("nn101", write(tmp_path, "username\nalice\n"), "--dry-run", "--credentials", str(credentials))


def test_a_spreadsheet_workbook_is_refused_as_such(tmp_path, course):
    workbook = tmp_path / "students.csv"
    workbook.write_bytes(b"PK\x03\x04" + bytes(100))  # an .xlsx renamed
    with pytest.raises(CommandError, match="is a spreadsheet workbook"):
        run("nn101", str(workbook))


def test_a_student_list_never_demotes_staff(tmp_path, course):
    ta = User.objects.create_user("tina")
    Membership.objects.create(user=ta, course=course, role="ta")
    output = run("nn101", write(tmp_path, "username\ntina\nalice\n"))
    assert "tina is already a ta in nn101: role kept" in output
    output = run("nn101", write(tmp_path, "username\ntina\n"), "--role", "instructor")
    assert "tina is already a ta in nn101: role kept" in output
    assert Membership.objects.get(user=ta).role == "ta"
    assert Membership.objects.get(user__username="alice").role == "student"


@pytest.mark.parametrize(
    "text",
    [
        "username;email;first_name;last_name\nalice;alice@uni.example;Alice;Müller\nbob;;Bob;\n",  # German Excel
        "Username\tEmail Address\tFirst Name\tSurname\nalice\talice@uni.example\tAlice\tMüller\nbob\t\tBob\t\n",
        "Benutzername;E-Mail;Vorname;Nachname\r\nalice;alice@uni.example;Alice;Müller\r\nbob;;Bob;\r\n;;;\r\n;;;\r\n",
        "username,email,first_name,last_name\nalice,alice@uni.example,Alice,Müller\n,,,\nbob,,Bob,\n,,,\n",
    ],
)
def test_spreadsheet_and_lms_exports_are_read(tmp_path, course, text):
    """Exploratory QA: a semicolon-separated file (German Excel's CSV), capitalised or LMS-style
    headers and Excel's formatted blank rows (,,,) were all refused."""
    run("nn101", write(tmp_path, text), "--no-passwords")
    alice = User.objects.get(username="alice")
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@uni.example", "Alice", "Müller")
    assert sorted(Membership.objects.values_list("user__username", flat=True)) == ["alice", "bob"]


@pytest.mark.parametrize(("existing", "listed"), [("B.Smith", "b.smith"), ("Ärger", "ärger"), ("STRASSE", "straße")])
def test_a_username_differing_only_in_case_from_an_account_is_refused(tmp_path, course, existing, listed):
    """Compared as lines of one roster are (casefold; SQLite's LOWER knew ASCII only, review)."""
    User.objects.create_user(existing)
    with pytest.raises(CommandError) as error:
        run("nn101", write(tmp_path, f"username\nalice\n{listed}\n"))
    assert f"line 3: '{listed}' differs only in case from the existing account '{existing}'" in str(error.value)
    assert "nothing imported" in str(error.value)
    assert not User.objects.filter(username="alice").exists() and Membership.objects.count() == 0
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        'username;"Name, Vorname"\nalice;"Ng, Alice"\n',  # a quoted comma is no separator
        "username,email,,\nalice,a@uni.example,,\nbob,,,\n",  # a spreadsheet's empty columns
    ],
)
def test_quoted_separators_and_empty_columns(tmp_path, course, text):
    if "Vorname" in text:  # one column too many, named as it was read
        with pytest.raises(CommandError, match=r"unknown column\(s\) \['Name, Vorname'\]"):
            run("nn101", write(tmp_path, text))
        return
    run("nn101", write(tmp_path, text), "--no-passwords")
    assert sorted(User.objects.values_list("username", flat=True)) == ["alice", "bob"]


def test_tas_are_enrolled_with_role_ta_and_printed_credentials_without_passwords(tmp_path, course):
    output = run("nn101", write(tmp_path, "username\ntina\n"), "--role", "ta", "--no-passwords")
    assert Membership.objects.get(user__username="tina").role == "ta"
    assert not User.objects.get(username="tina").has_usable_password()
    token = Token.objects.get(user__username="tina").key
    assert f"tina  -  {token}" in output
    assert "new accounts: 1/1 prepared" in output and "hashed" not in output  # no password was


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("username\nalice\nal ice\nbob\n", ["line 3: 'al ice' is not a valid username"]),
        ("username,email\nalice,not-an-address\n", ["line 2: 'not-an-address' is not an e-mail address"]),
        ("username\nalice\nbob\nalice\n", ["line 4: 'alice' is already on line 2"]),
        ("username,email\nalice,\n,b@uni.example\n", ["line 3: the username is empty"]),
        ("username\nal\x00ice\n", ["line 2: 'al\\x00ice' is not a valid username"]),
        ("username\n" + "x" * 151 + "\n", ["line 2: the username is longer than 150 characters"]),
        ("name,email\nalice,a@b.example\n", ["line 1: the header must name a 'username' column"]),
        ("username,phone\nalice,123\n", ["line 1: unknown column(s) ['phone']"]),
        ("username\nalice,extra\n", ["line 2: more cells than the header has columns"]),
        ("username\n", ["the roster lists no one"]),
        ("username\nal ice\nbo b\n", ["line 2:", "line 3:"]),  # every bad line, not just the first
        # found on PostgreSQL: each passed the checks and then failed the database write
        ("username,first_name\nalice,Al\x00ice\n", ["line 2: first_name contains a NUL character"]),
        ("username,email\nalice," + "a" * 250 + "@b.example\n", ["line 2: the e-mail address is longer than 254"]),
        ("username\nﬁle\nfile\n", ["line 3: 'file' is already on line 2"]),  # one login name (NFKC)
        # an LMS export spelling one person twice (exploratory QA: two accounts were made)
        ("username\nB.Smith@x.at\nb.smith@x.at\n", ["line 3: 'b.smith@x.at' differs only in case from 'B.Smith@x.at' on line 2"]),
        # a semicolon file's header names no username column: say what was read
        ("name;email\nalice;a@b.example\n", ["found 'name', 'email', read as separated by semicolons"]),
        ("username,Email,E-Mail\nalice,a@b.example,a@b.example\n", ["line 1: more than one column is email"]),
    ],
)
def test_a_bad_roster_imports_nothing_and_names_every_bad_line(tmp_path, course, text, problems):
    credentials = tmp_path / "new.csv"
    with pytest.raises(CommandError) as error:
        run("nn101", write(tmp_path, text), "--credentials", str(credentials))
    message = str(error.value)
    assert "nothing imported" in message
    for problem in problems:
        assert problem in message
    assert User.objects.count() == 0 and Membership.objects.count() == 0
    assert not credentials.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "ROSTER"], "no course with code 'nope'"),
        (["nn\udcff", "ROSTER"], "no course with code"),  # the shell passed a byte that is not UTF-8
        (["nn101", "/no/such/roster.csv"], "cannot read /no/such/roster.csv"),
        (["nn101", "ROSTER", "--credentials", "EXISTING"], "exists; choose a new file"),
    ],
)
def test_command_errors_say_what_is_wrong(tmp_path, course, args, message):
    roster = write(tmp_path, "username\nalice\n")
    existing = write(tmp_path, "keep me", name="existing.csv")
    args = [roster if a == "ROSTER" else existing if a == "EXISTING" else a for a in args]
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert Membership.objects.count() == 0
    assert open(existing).read() == "keep me"


def test_a_roster_that_is_not_utf8_or_not_csv_is_refused(tmp_path, course):
    with pytest.raises(CommandError, match="not UTF-8"):
        run("nn101", write(tmp_path, "username\nJosé\n", encoding="latin-1"))
    with pytest.raises(CommandError, match="not a readable CSV file: field larger than field limit"):
        run("nn101", write(tmp_path, "username\n" + "a" * 200_000 + "\n"))
    assert User.objects.count() == 0


def test_passwords_are_hashed_before_the_transaction(course, monkeypatch):
    """Hashing takes ~0.5 s a password: it must not hold the database for a whole class."""
    from django.db import connections

    main = connections["default"]  # this thread's connection (hashing runs in other threads)
    depths = []  # nested atomic blocks (savepoints) open on it while each password is hashed
    monkeypatch.setattr("exercises.roster.make_password", lambda raw: depths.append(len(main.savepoint_ids)) or "md5$x$y")
    outside = len(main.savepoint_ids)
    result = import_roster(course, read_roster(io.StringIO("username\nalice\nbob\n")))
    assert [name for name, _, _ in result.created] == ["alice", "bob"]
    assert depths == [outside, outside]


def test_read_roster_reports_problems_as_lines():
    with pytest.raises(RosterError) as error:
        read_roster(io.StringIO("username\nbad name\n"))
    assert error.value.problems == ["line 2: 'bad name' is not a valid username (letters, digits and @ . + - _ only)"]


def test_new_passwords_never_start_like_a_spreadsheet_formula(monkeypatch):
    """token_urlsafe may start with "-", which a spreadsheet opening the credentials file reads
    as a formula (about 1 account in 64)."""
    from exercises import roster

    drawn = iter(["-abcdefghijklmnop", "_abcdefghijklmnop", "Zabcdefghijklmnop"])
    monkeypatch.setattr(roster.secrets, "token_urlsafe", lambda n: next(drawn))
    assert roster.new_password() == "Zabcdefghijklmnop"
    monkeypatch.undo()
    assert all(roster.new_password()[0].isalnum() for _ in range(2000))
