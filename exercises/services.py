"""The business logic of the service: variants, submissions, grading, sweeping, gradebook, regrades.

Plain functions over the models; the REST API and the Celery tasks both call them. The database
is the source of truth: a submission row (status queued) is committed before any message is
sent, and grading reads only what is stored (the raw answers and the variant's frozen instance),
so a lost message is re-sent by the sweeper and a duplicate message is a no-op.

Grading a submission, with no transaction open while grading:
0. read the row with its variant, question and problem set (one query; a finished row stops here).
1. claim: one conditional UPDATE queued -> grading (atomic on every database; the loser of a
   race updates 0 rows and stops). The claim token is grading_started_at.
2. grade the stored answers against the stored instance (pure Python, no database).
3. finish: in one transaction whose first statement writes (PostgreSQL row lock; on SQLite the
   write lock, taken before any read so the busy timeout applies), lock the (question, student)
   pair, number the attempt and save with one UPDATE conditional on the claim token: a row that
   is no longer ours is left alone. A rejection (no attempt number) is that UPDATE alone.
A worker killed between 1 and 3 leaves the row "grading"; a redelivered message may re-claim it
once the task's hard time limit has passed (the old worker is dead by then), and the sweeper
resets it after AUTOGRADER_STUCK_AFTER_SECONDS. Either way the attempt is numbered exactly once.

Failures: an exception while grading stores status "error" with the message (and logs it). The
sweeper retries error rows, and re-enqueues crashed "grading" rows, until the row has been
enqueued AUTOGRADER_MAX_GRADING_TRIES times (default 5); after that an error row stays, with
its answers, for a human: after a fix, the admin's "re-enqueue" action grades it again.

Test-only hook: AUTOGRADER_TEST_GRADING_DELAY (seconds, ignored with DJANGO_ENV=production)
sleeps after the claim, so integration tests can kill a worker in the middle of grading.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import logging
import math
import os
import time
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from autograder.answers import InvalidAnswer, Tolerance, join_messages, parse_answer
from autograder.code_grading import (
    MAX_SOURCE_CHARS,
    CodeRunNotKept,
    bugs_passing_every_case,
    limits_ran_under,
    refuse_to_run,
    runs_from_text,
    runs_text,
    source_text,
    syntax_problem,
    with_run_settings,
    with_tolerance,
)
from autograder.grading import GradingPolicy, apply_penalties, blank, grade_submission
from autograder.sandbox.script import storable_text
from exercises import extensions
from exercises.models import (
    AuditEntry,
    CodeRerun,
    Extension,
    Membership,
    ProblemSet,
    Question,
    Submission,
    Variant,
)
from exercises.sql import (
    RowLoader,
    columns,
    current,
    execute,
    fetch_one,
    insert_row,
    load_models,
    prep,
    table,
)
from nncore.problems import ParamError, get_kind
from nncore.problems.code.kind import ATOL_PARAM, RTOL_PARAM, RUN_SETTINGS, tolerance_text
from nncore.problems.code_kinds import KINDS as CODE_KINDS

logger = logging.getLogger(__name__)

MAX_ANSWER_FIELDS = 500  # an upper bound before the instance is known; names are checked after
# The JSON of all answers as stored (UTF-8): a real submission is a few KB; room for the longest
# code answer (code_grading.MAX_SOURCE_CHARS characters, at most 4 bytes each), whose limit is
# the one the student is told (a 30,000-character CJK answer was refused by bytes: QA).
MAX_ANSWER_BYTES = 256 * 1024
MAX_LIST_DEPTH = 3  # matrices as nested lists; anything deeper is not an answer
CODE_KIND_IDS = frozenset(kind.id for kind in CODE_KINDS)
# Settings that decide scores: once submissions are graded they change only through a regrade.
SCORING_FIELDS = ("points", "tolerance", "attempt_penalty", "per_entry_credit", "error_carried_forward", "all_or_nothing")
REGRADE_FIELDS = (*SCORING_FIELDS, "max_attempts")
PENDING = (Submission.Status.QUEUED, Submission.Status.GRADING)
# The submissions that count as attempts (graded with an attempt number), and those that will.
COUNTED = Q(status=Submission.Status.GRADED, attempt_number__isnull=False)
WILL_COUNT = Q(status__in=PENDING)
S = Submission.Status


class SubmissionRefused(Exception):  # noqa: N818 - the API maps it to a 4xx, it is not a crash
    """A submission that is not accepted; `code` is stable for clients, `message` is for people."""

    def __init__(self, message: str, code: str, fields: dict[str, str] | None = None, names: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or {}  # field name -> what is wrong with its answer
        # the answer fields the message names, by the internal names API clients use; the web UI
        # names them by the labels its form shows instead (exercises.answer_forms.form_refusal)
        self.names = list(names or self.fields)


class VariantUnavailable(Exception):  # noqa: N818 - the API maps it to 503
    """The question's generator failed for this student's seed: a bug to fix, not the student's."""


class RegradeError(ValueError):
    """Invalid regrade changes (unknown or out-of-range settings); the message names them."""


# --- variants ---------------------------------------------------------------------------------


def variant_seed(question: Question, student, number: int, retry: int = 0) -> int:
    """A 63-bit seed from the ids, keyed with AUTOGRADER_VARIANT_SECRET: the same student always
    gets the same variant, and nobody without the secret can work it out. (A plain hash of the
    ids let a student recompute their seed, and from it their answers with `nncore show`.)
    `retry` k > 0: the k-th fallback seed, for a seed the generator cannot draw from."""
    message = f"variant:{question.pk}:{student.pk}:{number}" + (f":retry{retry}" if retry else "")
    digest = hmac.new(settings.AUTOGRADER_VARIANT_SECRET.encode(), message.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# A student's seed the generator fails on (extreme parameters: about 1 seed in 100 to 4,000 in a
# fuzz of teacher settings that pass the save-time check) is replaced by the next fallback seed,
# deterministically, instead of a 503 at the moment the student opens the question.
SEED_RETRIES = 5


def current_variant(question: Question, student, number: int | None = None) -> Variant:
    """The student's variant to work on, drawn and frozen on first access.

    With fresh_variant_per_attempt each attempt moves to a new variant (capped at the last
    allowed attempt, so a student out of attempts keeps seeing the last one). Attempts still
    being graded count: otherwise a grading that finishes between "show the variant" and
    "submit" would attach the answers to a variant the student never saw.
    """
    variant = peek_variant(question, student, number)
    if variant.pk is not None:
        return variant
    try:
        with transaction.atomic():
            variant.save(force_insert=True)
            return variant
    except IntegrityError:  # a concurrent request drew the same variant first: use theirs
        return Variant.objects.get(question=question, student=student, number=variant.number)


def peek_variant(question: Question, student, number: int | None = None) -> Variant:
    """The student's current variant as `current_variant` gives it, without storing a new one:
    the stored row, or the same deterministic draw unsaved (pk None). Staff looking at a
    student's variant use this, so looking never freezes a draft question's settings.
    `number`: the current variant's number when the caller has just worked it out."""
    if number is None:
        number = _variant_number(question, student)
    existing = Variant.objects.filter(question=question, student=student, number=number).first()
    if existing is not None:
        return existing
    try:
        kind = get_kind(question.kind)
    except ValueError:  # saved around the API's checks (a database edit): say so, not a 500
        raise VariantUnavailable(
            f"this question's kind {question.kind!r} does not exist; the course staff must fix the question"
        ) from None
    instance = error = None
    for retry in range(SEED_RETRIES + 1):
        seed = variant_seed(question, student, number, retry)
        try:
            instance = kind.generate(question.params, seed)
            break
        except ParamError as exc:  # the settings themselves: no other seed helps
            error = exc
            break
        except (ValueError, RuntimeError) as exc:
            error = exc
            logger.warning("generating %s (question %s) failed for seed %s: %s", question.kind, question.pk, seed, exc)
    if instance is None:
        logger.error("generating %s (question %s) failed for every seed of student %s", question.kind, question.pk, student.pk)
        raise VariantUnavailable(
            "This question could not be generated for you; the instructor has to fix its settings. "
            f"({error})"
        )
    return Variant(
        question=question, student=student, number=number, seed=seed, generator_version=kind.version, instance=instance
    )


def _variant_number(question: Question, student) -> int:
    """Which of the student's variants is current: 1, or the next attempt's (see current_variant)."""
    if not question.fresh_variant_per_attempt:
        return 1
    number = _attempts_taken(question, student) + 1
    return min(number, question.max_attempts) if question.max_attempts else number


# The answer fields of a stored instance, extracted by the database (a 10 KB instance is not
# sent, decoded and dropped for a list of a few names); elsewhere the whole instance is read.
FIELDS_OF_INSTANCE = {"postgresql": "instance -> 'fields'", "sqlite": "json_extract(instance, '$.fields')"}


def _answer_fields(question: Question, student) -> tuple[int, int, list[dict], bool]:
    """(id, number, answer fields, whether the student has seen its worked solution) of the
    current variant, read without the rest of its instance; draws the variant if it is new."""
    extract = FIELDS_OF_INSTANCE.get(current().vendor, "instance")
    number = _variant_number(question, student)
    row = fetch_one(
        f"SELECT id, {extract}, solution_seen_at FROM {table(Variant)} "
        "WHERE question_id = %s AND student_id = %s AND number = %s",
        [question.pk, student.pk, number],
    )
    if row is None:
        variant = current_variant(question, student, number)
        return variant.pk, number, variant.instance["fields"], variant.solution_seen_at is not None
    value = json.loads(row[1]) if isinstance(row[1], (str, bytes)) else row[1]
    return row[0], number, value if extract != "instance" else value["fields"], row[2] is not None


def solution_variant(question: Question, student) -> Variant:
    """The variant whose worked solution the student is shown: the one their last graded
    attempt answered (with a fresh variant per attempt the newest variant may be one they never
    answered), else their current one."""
    last = (
        graded_rows(question).filter(student=student).select_related("variant").order_by("-submitted_at", "-id").first()
    )
    return last.variant if last is not None else current_variant(question, student)


def mark_solution_seen(variant: Variant) -> None:
    """Record that the student has been shown this variant's worked solution (the first time)."""
    Variant.objects.filter(pk=variant.pk, solution_seen_at__isnull=True).update(solution_seen_at=timezone.now())


def variant_view(question: Question, variant: Variant) -> dict:
    """What the student sees of their variant, under the question's settings as they are now."""
    return student_view(graded_instance(question, variant.instance), question.tolerance)


def graded_instance(question: Question, instance: dict) -> dict:
    """The variant's instance as the question runs its code now: a code question's limits
    (RUN_SETTINGS) may have been raised since the variant was drawn, and the question's current
    ones apply (with the prompt stating them). Judging a kept run needs only the drawn instance."""
    settings = run_settings(question)
    return with_run_settings(instance, settings) if settings else instance


def run_settings(question: Question) -> dict:
    """A code question's current RUN_SETTINGS; {} for other kinds (or params no longer valid)."""
    if question.kind not in CODE_KIND_IDS:
        return {}
    params = validated_params(question) or {}
    return {name: params[name] for name in RUN_SETTINGS if name in params}


def student_view(instance: dict, tolerance: dict | None = None) -> dict:
    """What a student may see of an instance: never answers, alternatives, misconceptions,
    solution, or prompt data its kind keeps private (also in instances stored before it did).
    With the question's `tolerance` override, a code prompt states the tolerance it is graded
    with (its text was written when the variant was drawn, before a regrade changed it), and so
    does each of its visible cases (they said the drawn one beside the prompt's new one, QA)."""
    data = instance["prompt"].get("data", {})
    text = instance["prompt"]["text"]
    if tolerance and instance["kind"] in CODE_KIND_IDS:
        text = _with_stated_tolerance(text, instance.get("tolerance") or {}, tolerance)
        code = data.get("code")
        if isinstance(code, dict) and isinstance(code.get("cases"), list):
            data = {**data, "code": {**code, "cases": [with_tolerance(case, tolerance) for case in code["cases"]]}}
    try:
        private = get_kind(instance["kind"]).private_data
    except ValueError:  # a kind no longer in the catalogue: its instance is shown as stored
        private = ()
    if private:
        data = {key: value for key, value in data.items() if key not in private}
    return {
        "kind": instance["kind"],
        "version": instance["version"],
        "prompt": {"text": text, "data": data},
        "diagram": instance.get("diagram"),
        "fields": instance["fields"],
        "precision": precision_text(instance, tolerance),
    }


def precision_text(instance: dict, tolerance: dict | None = None) -> str:
    """How precise a number must be to count as right, in words (the question's tolerance
    override, else the instance's); "" for code (its prompt states its own) and choice questions."""
    numeric = any(f.get("type") in ("number", "vector", "matrix") for f in instance.get("fields", []))
    if not numeric or instance["kind"] in CODE_KIND_IDS:
        return ""
    try:
        return Tolerance.coerce(tolerance or instance.get("tolerance")).describe()
    except (TypeError, ValueError):  # a stored tolerance this version cannot read: say nothing
        return ""


def _with_stated_tolerance(text: str, drawn: dict, override: dict) -> str:
    """The prompt with its tolerance sentence restated for `override` (rtol and atol, each one
    given replacing the drawn one, as code_grading applies them); unchanged if it has none."""
    if not {"rtol", "atol"} <= set(drawn) or not {"rtol", "atol"} & set(override):
        return text
    effective = {name: float(override.get(name, drawn[name])) for name in ("rtol", "atol")}
    return text.replace(tolerance_text(drawn), tolerance_text(effective))


def attempts_used(question: Question, student) -> int:
    """Counted attempts: graded submissions that received an attempt number."""
    return graded_rows(question).filter(student=student).count()


def attempts_pending(question: Question, student) -> int:
    """Submissions still waiting to be graded: each will count as an attempt."""
    return Submission.objects.filter(WILL_COUNT, variant__question=question, student=student).count()


def solution_visible(
    question: Question, student, now: datetime | None = None, used: int | None = None, opens_at: datetime | None = None
) -> bool:
    """The worked solution is shown once the student is out of attempts (see
    solution_opens_on_attempts) or the set has closed. `used`: attempts_used(question, student)
    when the caller has it already (a page shows both), else it is counted here.

    "Closed" is the end of the late window when there is one, and of every student's extension
    (exercises.extensions), so nobody still allowed to submit can be handed the solution. A
    solution the student has opened stays open (see _opened_before).
    """
    now = now or timezone.now()
    if now >= (opens_at or extensions.solutions_open_at(question.problem_set)):
        return True
    if solution_opens_on_attempts(question) and (attempts_used(question, student) if used is None else used) >= question.max_attempts:
        return True
    return _opened_before(question, student)


def _opened_before(question: Question, student) -> bool:
    """Whether the student already opened the worked solution they would be shown: it stays
    open (an extension granted to a classmate afterwards moved the set's opening later and took
    it away from them: QA; showing it again tells them nothing new)."""
    if not Variant.objects.filter(question=question, student=student, solution_seen_at__isnull=False).exists():
        return False
    return solution_variant(question, student).solution_seen_at is not None


def solution_opens_on_attempts(question: Question) -> bool:
    """Whether using up the attempts opens the worked solution: with an attempt limit, unless
    the solution answers every variant (a code question's reference implementation: one
    student's throwaway attempt would hand a passing solution to the whole class)."""
    return bool(question.max_attempts) and not get_kind(question.kind).solution_fits_every_variant


def solution_state(question: Question, student, used: int | None = None) -> tuple[bool, str]:
    """(solution_visible, solution_opens_when) for a page that shows both, reading the set's
    opening time once."""
    opens_at = extensions.solutions_open_at(question.problem_set)
    return solution_visible(question, student, used=used, opens_at=opens_at), solution_opens_when(question, opens_at)


def solution_opens_when(question: Question, opens_at: datetime | None = None) -> str:
    """When the worked solution opens, as the question page says it (after "opens "), with the
    time: the set closes for everyone only after every extension (a student past their own
    deadline read "once the problem set has closed" and found it still shut: QA)."""
    at = _local(opens_at or extensions.solutions_open_at(question.problem_set))
    if solution_opens_on_attempts(question):
        return f"once you have used all your attempts, or once the problem set has closed for everyone, at {at}"
    if get_kind(question.kind).solution_fits_every_variant:
        return f"once the problem set has closed for everyone, at {at} (its code passes every student's tests)"
    return f"once the problem set has closed for everyone, at {at}"


# --- submitting -------------------------------------------------------------------------------


def submit(
    question: Question,
    student,
    answers: Any,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    expected_variant: int | None = None,
) -> tuple[Submission, bool]:
    """Store a submission (status queued) and enqueue its grading after commit.

    Returns (submission, created); created is False when `idempotency_key` was already used
    with the same answers (the original is returned). Raises SubmissionRefused: among others
    for answers the grader could not read (nothing stored, no attempt used: the student fixes
    them at once, not after the queue), and, when `expected_variant` (the variant number the
    student answered) is given, for a variant that is no longer the current one.

    The common case, no attempt limit and no key, is two statements (the variant's id and answer
    fields, then one INSERT in autocommit); the (question, student) lock and the count are taken
    only when there is a limit to check. Load `question` with its problem set (as
    permissions.visible_question does), or reading it is one more query.
    """
    now = now or timezone.now()
    if idempotency_key is not None and not (isinstance(idempotency_key, str) and 0 < len(idempotency_key) <= 200):
        raise SubmissionRefused("the idempotency key must be a string of 1 to 200 characters", "bad_format")
    if idempotency_key and (replayed := _replay_of_key(student.pk, idempotency_key, question, answers)):
        return replayed, False
    check_answers_format(answers)
    late = check_window(question.problem_set, now, student.pk)
    if question.fresh_variant_per_attempt:
        return _submit_to_fresh_variant(question, student, answers, idempotency_key, now, late, expected_variant)
    variant_id, number, fields, solution_seen = _answer_fields(question, student)
    _check_variant(expected_variant, number)
    _check_field_names(fields, answers)
    check_readable(fields, answers, entry_names(question), starter_code(question))
    submission = _new_submission(variant_id, student, answers, idempotency_key, now, late)
    if not question.max_attempts:
        _refuse_if_solution_seen(solution_seen)
        return _insert(submission, question)
    with transaction.atomic():
        lock_pair(question.pk, student.pk)
        # a retry that waited for the pair lock while its original committed
        if replayed := _replay_or_refuse_under_lock(question, student, answers, idempotency_key):
            return replayed, False
        _refuse_if_solution_seen(solution_seen)  # after the count: out of attempts is the first reason
        return _insert(submission, question)


def _new_submission(variant_id: int, student, answers: Any, idempotency_key: str | None, now: datetime, late: bool) -> Submission:
    """The row to INSERT: queued, sent once, submitted at the moment its lateness was judged."""
    return Submission(
        variant_id=variant_id,
        student=student,
        answers=answers,
        idempotency_key=idempotency_key or None,
        late=late,
        submitted_at=now,
        enqueue_count=1,
    )


def _replay_or_refuse_under_lock(question: Question, student, answers: Any, idempotency_key: str | None) -> Submission | None:
    """With the pair locked: the original of a retried key (it may have committed while we
    waited), else a refusal when the attempts are used up or being graded, else None."""
    if idempotency_key and (replayed := _replay_of_key(student.pk, idempotency_key, question, answers)):
        return replayed
    if question.max_attempts and _attempts_taken(question, student) >= question.max_attempts:
        raise SubmissionRefused(
            f"no attempts left: {_all_attempts(question.max_attempts)} used or being graded",
            "no_attempts_left",
        )
    return None


def _submit_to_fresh_variant(
    question: Question,
    student,
    answers: Any,
    idempotency_key: str | None,
    now: datetime,
    late: bool,
    expected_variant: int | None,
) -> tuple[Submission, bool]:
    """`submit` when each attempt has its own variant: which variant is current depends on the
    attempts taken, so it is worked out under the (question, student) lock, where two quick
    submissions (a double click, two tabs) see each other's rows."""
    current_variant(question, student)  # drawn outside the lock: the lock is on a variant row
    with transaction.atomic():
        lock_pair(question.pk, student.pk)
        if replayed := _replay_or_refuse_under_lock(question, student, answers, idempotency_key):
            return replayed, False
        variant_id, number, fields, solution_seen = _answer_fields(question, student)
        if question.kind not in CODE_KIND_IDS:  # code answers any variant: its cases are the variant's
            _check_variant(expected_variant, number)
        _check_field_names(fields, answers)
        check_readable(fields, answers, entry_names(question), starter_code(question))
        _refuse_if_solution_seen(solution_seen)
        return _insert(_new_submission(variant_id, student, answers, idempotency_key, now, late), question)


def _check_variant(expected: int | None, current_number: int) -> None:
    """Refuse answers to a variant that is not the current one (fresh variant per attempt: an
    earlier submission moved the student on while this page still showed the old numbers)."""
    if expected is not None and expected != current_number:
        why = (
            " (an earlier submission of yours moved you on)"
            if expected < current_number
            else f" (you have not been given variant {expected} of this question)"
        )
        raise SubmissionRefused(
            f"these answers are for variant {expected}, but your current variant is {current_number}{why}; "
            "reload the question and answer the numbers it shows now",
            "stale_variant",
        )


def entry_names(question: Question) -> tuple[str, ...]:
    """The functions or classes a code question's test cases call (its kind's); () for others."""
    return get_kind(question.kind).entry if question.kind in CODE_KIND_IDS else ()


def starter_code(question: Question) -> str | None:
    """The code a code question's editor starts from (its kind's), None for other questions."""
    return get_kind(question.kind).starter if question.kind in CODE_KIND_IDS else None


def _code_lines(source: str) -> list[str]:
    """A source's lines without a byte-order mark, line endings, trailing spaces or blank ends:
    what two sources must share to be the same code as typed."""
    return [line.rstrip() for line in source_text(source).strip().splitlines()]


def check_readable(fields: list[dict], answers: dict, entry: Sequence[str] = (), starter: str | None = None) -> None:
    """Refuse answers the grader could not read, naming each field and what is wrong: a typo
    found now costs nothing, found by the worker after the deadline it costs the attempt. Code
    that does not parse, or defines none of the `entry` names, is refused too, and so is the
    `starter` code unchanged (its stubs only raise NotImplementedError: QA, it used an attempt)."""
    problems = {}
    for spec in fields:
        raw = answers.get(spec["name"])
        if blank(raw):
            continue
        if spec["type"] == "code":  # what grade_code refuses before running anything
            problem = syntax_problem(raw, entry) if isinstance(raw, str) else "The code answer must be text (Python source)."
            if not problem and starter and _code_lines(raw) == _code_lines(starter):
                problem = "This is the starter code unchanged (its functions only raise NotImplementedError): write your solution into it first."
            if problem:
                problems[spec["name"]] = problem
            continue
        try:
            value = parse_answer(raw, spec).value
        except InvalidAnswer as error:
            problems[spec["name"]] = error.message
            continue
        if spec["type"] not in ("choice", "choices") and not np.isfinite(value).all():
            problems[spec["name"]] = "Answers must be finite numbers."
    if problems:
        listed = join_messages(f"{name}: {message}" for name, message in problems.items())
        raise SubmissionRefused(
            f"some answers could not be read, so nothing was submitted and no attempt was used: {listed}",
            "unreadable_answers",
            fields=problems,
        )


def _refuse_if_solution_seen(solution_seen: bool) -> None:
    """A variant whose worked solution the student fetched takes no more submissions, even when
    an instructor adds attempts or extends the deadline afterwards (see mark_solution_seen)."""
    if solution_seen:
        raise SubmissionRefused(
            "you have seen the worked solution of this variant, so it takes no more submissions",
            "solution_seen",
        )


def _insert(submission: Submission, question: Question) -> tuple[Submission, bool]:
    """INSERT the new row and enqueue it after commit.

    With an idempotency key a concurrent request may have inserted the same key first: the
    unique constraint refuses ours and theirs is replayed. Inside a transaction the INSERT
    gets a savepoint so the transaction survives that IntegrityError; in autocommit it needs none.
    """
    if submission.idempotency_key is None:
        insert_row(submission)
    else:
        try:
            with transaction.atomic() if current().in_atomic_block else contextlib.nullcontext():
                insert_row(submission)
        except IntegrityError:
            replayed = _replay_of_key(submission.student_id, submission.idempotency_key, question, submission.answers)
            if replayed is None:  # the constraint refused something else
                raise
            return replayed, False
    enqueue(submission.pk)
    return submission, True


def check_answers_format(answers: Any) -> None:
    """Cheap structural checks: an object of at most MAX_ANSWER_FIELDS bounded, finite values."""
    if not isinstance(answers, dict):
        raise SubmissionRefused("answers must be a JSON object mapping field names to values", "bad_format")
    if len(answers) > MAX_ANSWER_FIELDS:
        raise SubmissionRefused(f"too many answer fields ({len(answers)} > {MAX_ANSWER_FIELDS})", "too_large")
    try:  # as stored: UTF-8 (escaped, a CJK comment counted 6 bytes a character, QA)
        size = len(json.dumps(answers, allow_nan=False, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        raise SubmissionRefused("answers must be JSON with finite numbers only", "bad_format") from None
    if size > MAX_ANSWER_BYTES:
        raise SubmissionRefused(_too_large_message(answers, size), "too_large")
    bad = sorted(str(name) for name, value in answers.items() if not _answer_value_ok(value))
    if bad:
        raise SubmissionRefused(
            f"answer(s) {bad[:10]} must be a string, a number or a list of them", "bad_format", names=bad
        )


def _too_large_message(answers: dict, size: int) -> str:
    """Why answers over MAX_ANSWER_BYTES are refused, naming the longest text in characters,
    the unit the code limit is stated in (QA: a pasted 900,000-character file was told its size
    in bytes of UTF-8, while 60,001 characters were told the code limit)."""
    message = f"answers are too large ({size:,} bytes of UTF-8; at most {MAX_ANSWER_BYTES:,})"
    texts = [(len(value), str(name)) for name, value in answers.items() if isinstance(value, str)]
    if texts and (longest := max(texts))[0] > size // 2:  # one text makes most of it: name it
        length, name = longest
        shown = name if len(name) <= 40 else name[:40] + "..."
        message += f": {shown!r} alone has {length:,} characters"
        if length > MAX_SOURCE_CHARS:
            message += f" (a code answer may have at most {MAX_SOURCE_CHARS:,})"
    return message


def _answer_value_ok(value: Any, depth: int = 0) -> bool:
    if value is None:
        return True
    if isinstance(value, str):  # PostgreSQL cannot store NUL; a lone surrogate cannot be rendered
        return "\x00" not in value and is_unicode_text(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, list) and depth < MAX_LIST_DEPTH:
        return all(v is not None and _answer_value_ok(v, depth + 1) for v in value)
    return False


def is_unicode_text(text: str) -> bool:
    """Whether a str is real Unicode text: JSON's "\\ud800" gives a lone surrogate, which no
    encoding can write out (the response rendering it fails)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_field_names(fields: list[dict], answers: dict) -> None:
    names = [f["name"] for f in fields]
    unknown = sorted(str(k) for k in answers if k not in names)
    if unknown:
        raise SubmissionRefused(
            f"unknown answer field(s) {unknown[:10]}; this question has {names}", "bad_format", names=unknown
        )
    if all(blank(answers.get(name)) for name in names):  # refused at once: a blank row would hold an attempt
        raise SubmissionRefused(f"no answers given: fill in at least one of {names}", "empty_answers", names=names)


def check_window(problem_set: ProblemSet, now: datetime, student_id: int | None) -> bool:
    """Whether a submission now is late; refuses before release and after the student's (late)
    deadline (the set's own for None). Before the set's due time no extension can matter, so
    none is read (the common case costs no query)."""
    if now < problem_set.release_at:
        raise SubmissionRefused(f"this problem set opens at {_local(problem_set.release_at)}", "not_released")
    if now <= problem_set.due_at:
        return False
    if student_id is None:
        deadlines = extensions.set_deadlines(problem_set)
    else:
        deadlines = extensions.deadlines_for(problem_set, student_id)
    if now <= deadlines.due_at:
        return False
    if deadlines.late_until is not None and now <= deadlines.late_until:
        return True
    raise SubmissionRefused(f"this problem set closed at {_local(deadlines.closes_at)}", "closed")


def _local(moment: datetime, seconds: bool | None = None) -> str:
    """A time as students read it: in the course's time zone (AUTOGRADER_TIME_ZONE), to the
    minute, or to the second when it has any (or `seconds` says so), with its zone and offset:
    "Mon 07 Dec 2026, 23:59 CET (UTC+01:00)" (machine-readable times are in the API's date
    fields). A refusal at 10:41:15 of a set "closed at 10:41" read as refused early (QA)."""
    here = timezone.localtime(moment)
    if seconds is None:
        seconds = bool(here.second)  # a fraction alone: the minute shown is not later than the time
    return here.strftime("%a %d %b %Y, %H:%M:%S " if seconds else "%a %d %b %Y, %H:%M ") + zone_text(here)


def zone_text(moment: datetime) -> str:
    """ "CET (UTC+01:00)", or "UTC": the zone of an aware time as people read it."""
    name = moment.tzname() or ""
    offset = moment.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else ""
    return name if name == offset or name in ("UTC",) else f"{name} ({offset})".strip()


def _all_attempts(count: int, *, past: bool = False) -> str:
    """ "all 3 attempts are" / "the one attempt is" ("all 1 attempt(s)" read as a machine's, QA)."""
    verb = ("were" if past else "are") if count != 1 else ("was" if past else "is")
    return f"all {count} attempts {verb}" if count != 1 else f"the one attempt {verb}"


def _replay_of_key(student_id: int, key: str, question: Question, answers: Any) -> Submission | None:
    """The submission the student already stored under this idempotency key (see `_replay`),
    or None when the key is new."""
    original = Submission.objects.filter(student_id=student_id, idempotency_key=key).first()
    return None if original is None else _replay(original, question, answers)


def _replay(original: Submission, question: Question, answers: Any) -> Submission:
    """The original submission for a reused idempotency key, if the request is the same."""
    if original.variant.question_id != question.pk or _as_stored(original.answers) != _as_stored(answers):
        raise SubmissionRefused(
            "this idempotency key was already used for a different submission", "idempotency_conflict"
        )
    return original


def _as_stored(value: Any) -> Any:
    """`value` with every number as a float: PostgreSQL's jsonb gives 1e23 back as the integer
    10**23 and -0.0 as 0, so a retry of the same request compares equal to what was stored."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        try:
            return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0
        except OverflowError:  # an int beyond floats (the API refuses those before)
            return value
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    return value


def _attempts_taken(question: Question, student) -> int:
    """Counted attempts plus submissions still waiting to be graded (they will count)."""
    return Submission.objects.filter(COUNTED | WILL_COUNT, variant__question=question, student=student).count()


def lock_pair(question_id: int, student_id: int) -> None:
    """Serialize writers for one (question, student): touch their first variant's row.

    An UPDATE rather than SELECT ... FOR UPDATE: on PostgreSQL both lock the row, but on SQLite
    only a write as the first statement of a transaction waits for the lock instead of failing.
    """
    execute(
        f"UPDATE {table(Variant)} SET seed = seed WHERE id = (SELECT id FROM {table(Variant)} "
        "WHERE question_id = %s AND student_id = %s ORDER BY number, id LIMIT 1)",
        [question_id, student_id],
    )


def enqueue(submission_id: int) -> None:
    """Send the grading message once the current transaction commits (at once outside one)."""
    send_after_commit("grade_submission", submission_id)


def send_after_commit(task_name: str, submission_id: int) -> None:
    """Send autograder.tasks.<task_name>(submission_id) once the current transaction commits (a
    grading, or a code re-run: exercises.reruns). A broker failure is logged, not raised: the row
    is committed and the sweeper sends it again."""

    def send() -> None:
        from autograder import tasks  # the tasks module imports this one

        try:
            # argsrepr/kwargsrepr given: Celery would otherwise build them with its saferepr
            getattr(tasks, task_name).apply_async((submission_id,), argsrepr=f"({submission_id},)", kwargsrepr="{}")
        except Exception:
            logger.exception("could not send %s of submission %s; the sweeper will retry", task_name, submission_id)

    transaction.on_commit(send)


# --- grading ----------------------------------------------------------------------------------


def grade_submission_now(submission_id: int) -> Submission:
    """Grade one submission if nobody has (what the Celery task runs); returns the row after.

    Idempotent: a graded, rejected or errored row, or one another worker is grading, is
    returned unchanged. Raises Submission.DoesNotExist for an unknown id.
    """
    submission, token = claimed_for_grading(submission_id)
    if token is None:
        return submission
    _test_delay()
    question = submission.variant.question
    runs = None
    for _ in range(POLICY_TRIES):
        policy = grading_policy(question)
        try:
            instance = graded_instance(question, submission.variant.instance)
            result = grade_submission(instance, submission.answers, policy, runs=runs)
        except Exception as exc:
            logger.exception("grading submission %s failed", submission_id)
            ours = _finish_error(submission, token, f"{type(exc).__name__}: {exc}")
            break
        ours = _finish(submission, token, result, policy)
        if ours is not None:
            break
        # a regrade changed the settings while we graded (`question` now holds the new ones):
        # judge again under them, without running the code again
        runs = {name: run.to_dict() for name, run in result.runs.items()}
        logger.info("submission %s: question %s settings changed while grading; grading again", submission_id, question.pk)
    else:
        ours = _finish_error(submission, token, "the question's settings kept changing while grading; sent again later")
    if not ours:
        logger.info("submission %s was taken over by another worker; result dropped", submission_id)
        return Submission.objects.get(pk=submission_id)
    return submission


def grading_policy(question: Question) -> GradingPolicy:
    """The question's grading options as autograder.grading expects them."""
    return GradingPolicy(
        tolerance=question.tolerance or None,
        per_entry=question.per_entry_credit,
        error_carried_forward=question.error_carried_forward,
    )


def for_grading(submission_id: int) -> Submission:
    """The row with its variant, question and problem set (what grading reads): one query."""
    row = fetch_one(
        f"SELECT {_grading_columns()} FROM {table(Submission)} s JOIN {table(Variant)} v ON v.id = s.variant_id "
        f"JOIN {table(Question)} q ON q.id = v.question_id JOIN {table(ProblemSet)} p ON p.id = q.problem_set_id "
        "WHERE s.id = %s",
        [submission_id],
    )
    if row is None:
        raise Submission.DoesNotExist(f"no submission {submission_id}")
    return _grading_row(row)


def claimed_for_grading(submission_id: int) -> tuple[Submission, datetime | None]:
    """The row as for_grading reads it, claimed as _claim claims it: (row, our claim token), or
    (row as it is, None) when it is not ours to grade. Raises Submission.DoesNotExist.

    On PostgreSQL the usual case, a queued row, is one statement: an UPDATE that claims the row
    and returns it with its variant, question and problem set (a statement less per grading).
    SQLite cannot return the joined rows from an UPDATE: there, and for a row this cannot claim,
    the row is read and then claimed."""
    if current().vendor == "postgresql":
        now = timezone.now()
        row = fetch_one(
            f"UPDATE {table(Submission)} s SET status = %s, grading_started_at = %s, claims = s.claims + 1 "
            f"FROM {table(Variant)} v JOIN {table(Question)} q ON q.id = v.question_id "
            f"JOIN {table(ProblemSet)} p ON p.id = q.problem_set_id "
            "WHERE s.id = %s AND v.id = s.variant_id AND (s.status = %s OR (s.status = %s AND s.grading_started_at < %s)) "
            f"RETURNING {_grading_columns()}",
            [S.GRADING, prep(Submission, "grading_started_at", now), submission_id, S.QUEUED, S.GRADING,
             prep(Submission, "grading_started_at", _abandoned_before(now))],
        )
        if row is not None:
            return _grading_row(row), now
    submission = for_grading(submission_id)
    return submission, _claim(submission)


def _grading_columns() -> str:
    """The columns of a for_grading row: the submission, its variant, question and problem set."""
    return f"{columns(Submission, 's')}, {columns(Variant, 'v')}, {columns(Question, 'q')}, {columns(ProblemSet, 'p')}"


def _grading_row(row: tuple) -> Submission:
    """The submission of a for_grading row, with its variant, question and problem set attached."""
    submission, variant, question, problem_set = load_models(row, Submission, Variant, Question, ProblemSet)
    question.problem_set = problem_set
    variant.question = question
    submission.variant = variant
    return submission


def _abandoned_before(now: datetime) -> datetime:
    """A claim older than this was abandoned (its worker died past the hard time limit)."""
    return now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)


def _claim(submission: Submission) -> datetime | None:
    """Mark the row grading if it is queued (or abandoned past the hard time limit); the token.

    The conditional UPDATE decides; the row as read only spares it when it cannot succeed
    (a duplicate message for a finished row). On success the in-memory row is updated too.
    """
    now = timezone.now()
    abandoned = _abandoned_before(now)
    if not (
        submission.status == S.QUEUED
        or (submission.status == S.GRADING and submission.grading_started_at and submission.grading_started_at < abandoned)
    ):
        return None
    at = prep(Submission, "grading_started_at", now)
    claimed = execute(
        f"UPDATE {table(Submission)} SET status = %s, grading_started_at = %s, claims = claims + 1 WHERE id = %s "
        "AND (status = %s OR (status = %s AND grading_started_at < %s))",
        [S.GRADING, at, submission.pk, S.QUEUED, S.GRADING, prep(Submission, "grading_started_at", abandoned)],
    )
    if not claimed:  # someone else was quicker: report the row as it is now
        submission.refresh_from_db()
        return None
    submission.status, submission.grading_started_at = S.GRADING, now
    submission.claims += 1
    return now


def _test_delay() -> None:
    delay = float(os.environ.get("AUTOGRADER_TEST_GRADING_DELAY") or 0)
    if delay > 0 and not settings.PRODUCTION:
        time.sleep(delay)


def _save_if_ours(submission: Submission, token: datetime, **fields: Any) -> bool:
    """Write `fields` only if the row is still claimed with our token (one conditional UPDATE,
    which also row-locks it on PostgreSQL); mirror them on the in-memory row when written."""
    conn = current()
    assignments = ", ".join(f"{conn.ops.quote_name(Submission._meta.get_field(name).column)} = %s" for name in fields)
    written = execute(
        f"UPDATE {table(Submission)} SET {assignments} WHERE id = %s AND status = %s AND grading_started_at = %s",
        [
            *(prep(Submission, name, value, conn) for name, value in fields.items()),
            submission.pk, S.GRADING, prep(Submission, "grading_started_at", token, conn),
        ],
    )
    if written:
        for name, value in fields.items():
            setattr(submission, name, value)
    return bool(written)


POLICY_TRIES = 5  # gradings of one claim when a regrade keeps changing the settings meanwhile


def _finish(submission: Submission, token: datetime, result, policy: GradingPolicy) -> bool | None:
    """Save a grading result: number the attempt, apply penalties, or reject without counting.

    Returns False when the row was taken over meanwhile (nothing written), None when the
    question's grading policy is no longer `policy` (a regrade landed while grading: nothing
    written, grade again outside any transaction). Runs in one transaction that first locks the
    (question, student) pair (a write, so on SQLite the write lock is held before the count is
    read), then reads the settings and the counts, then writes the row.
    """
    with transaction.atomic():
        lock_pair(submission.variant.question_id, submission.student_id)
        if result.status != "graded":  # unreadable answers: no attempt number
            ours = _save_if_ours(submission, token, **_rejected(result.to_dict()))
            if ours:
                _release_attempt(submission)
        else:
            number, counted = current_settings(submission)
            if grading_policy(submission.variant.question) != policy:
                return None
            fields = _numbered(submission, result, number, counted)
            ours = _save_if_ours(submission, token, **fields)
            if ours and fields["status"] == S.REJECTED:
                _release_attempt(submission)
    if ours:
        _log_graded(submission)
    return ours


def current_settings(submission: Submission) -> tuple[int, int]:
    """Refresh the question's regradable settings in place; (the attempt number, the pair's
    attempts counted so far).

    Settings as they are now, not as they were read before grading: a regrade applied meanwhile
    must not be undone by this late save. Attempts count per (question, student) across
    variants (fresh_variant_per_attempt); the caller holds the pair lock, so the counts stand.

    The same for the problem set's late penalty and whether this row is late: worked out here
    from its submitted_at and the student's due time (the set's, or their extension's if later),
    so a deadline edit or an extension granted while it was queued or being graded applies.

    Locks the question and its problem set FOR SHARE first, in a statement of its own (PostgreSQL):
    a regrade's UPDATE of the question, a deadline edit or an extension (which lock the problem
    set) then waits for this transaction (and its own pass over graded rows sees this row), or
    this one waits for it to commit. The read comes after, in its own statement, so it sees what
    that commit wrote (a statement that waited for a lock still reads with the snapshot it
    started with). On SQLite the write lock orders them the same way. Call inside the finishing
    transaction. Raises Submission.DoesNotExist if the question was deleted meanwhile.
    """
    question = submission.variant.question
    if current().features.has_select_for_update:
        fetch_one(
            f"SELECT q.id FROM {table(Question)} q JOIN {table(ProblemSet)} p ON p.id = q.problem_set_id "
            "WHERE q.id = %s FOR SHARE",
            [question.pk],
        )
    pair = (
        f"FROM {table(Submission)} s JOIN {table(Variant)} v ON v.id = s.variant_id "
        "WHERE v.question_id = q.id AND v.student_id = %s AND s.student_id = %s"
    )
    earlier = "AND (s.submitted_at < %s OR (s.submitted_at = %s AND s.id < %s))"
    counted = "(s.status = %s AND s.attempt_number IS NOT NULL)"  # COUNTED, as SQL
    at = prep(Submission, "submitted_at", submission.submitted_at)
    who = (submission.student_id, submission.student_id)
    row = fetch_one(
        f"SELECT {columns(Question, 'q')}, p.late_penalty, "
        f"(SELECT CASE WHEN own.submitted_at > p.due_at AND NOT EXISTS (SELECT 1 FROM {table(Extension)} e "
        "WHERE e.problem_set_id = p.id AND e.student_id = own.student_id AND e.due_at >= own.submitted_at) "
        f"THEN 1 ELSE 0 END FROM {table(Submission)} own WHERE own.id = %s), "
        # earlier attempts, counted or to count (waiting, or failed on our side with tries left);
        # a row that gave its place back and was sent again by the staff takes the next free one
        # when graded (_attempt_number), so it keeps no place meanwhile
        f"(SELECT COUNT(*) {pair} {earlier} AND ({counted} OR (NOT s.attempt_released AND "
        "(s.status IN (%s, %s) OR (s.status = %s AND s.claims < %s))))), "
        f"(SELECT MAX(s.attempt_number) {pair} {earlier} AND {counted}), "
        f"(SELECT MAX(s.attempt_number) {pair} AND {counted}), "
        f"(SELECT COUNT(*) {pair} AND {counted}) "
        f"FROM {table(Question)} q JOIN {table(ProblemSet)} p ON p.id = q.problem_set_id WHERE q.id = %s",
        [
            submission.pk,
            *who, at, at, submission.pk, S.GRADED, S.QUEUED, S.GRADING, S.ERROR, max_tries(),
            *who, at, at, submission.pk, S.GRADED,
            *who, S.GRADED,
            *who, S.GRADED,
            question.pk,
        ],
    )
    if row is None:
        raise Submission.DoesNotExist(f"question {question.pk} of submission {submission.pk} no longer exists")
    now_set = RowLoader.of(Question).load(row)
    for name in REGRADE_FIELDS:
        setattr(question, name, getattr(now_set, name))
    question.problem_set.late_penalty = row[-6]
    submission.late = bool(row[-5])
    return _attempt_number(submission, row[-4], row[-3] or 0, row[-2] or 0), row[-1]


def max_tries() -> int:
    """Gradings of one row before the sweeper gives up on it (AUTOGRADER_MAX_GRADING_TRIES)."""
    return getattr(settings, "AUTOGRADER_MAX_GRADING_TRIES", 5)


def _attempt_number(submission: Submission, earlier: int, highest_earlier: int, highest: int) -> int:
    """The attempt number by submission order, whatever order the rows are graded in (a message
    lost in a Redis flush and re-sent by the sweeper, or a killed worker, must not make the
    first submission pay the second one's attempt penalty): one more than the earlier counted
    or pending submissions, and above every earlier row's number. A pending row that will never
    count gives its place back (_release_attempt); should a number be taken anyway (a failed
    row re-sent by the staff after that), the next free one after all of them."""
    number = max(earlier, highest_earlier) + 1
    if number > highest:  # the usual case: no query (a queryset costs ~0.5 ms to build)
        return number
    taken = graded_rows(submission.variant.question).filter(student_id=submission.student_id, attempt_number=number)
    return highest + 1 if taken.exists() else number


def _release_attempt(submission: Submission) -> None:
    """A row that will never count (rejected, or failed for good) was counted as an attempt to
    come by the rows graded after it: each of those moves up one place and is rescored, so
    nobody pays a penalty for an attempt that never counted, nor is refused for lack of one.
    Once per row (attempt_released): a row the staff send to grading again after it failed for
    good (exercises.grading_errors) that fails again, or is then rejected, moves nobody a second
    time. Call with the (question, student) pair locked."""
    if submission.attempt_released or not Submission.objects.filter(pk=submission.pk, attempt_released=False).update(
        attempt_released=True
    ):
        return
    submission.attempt_released = True
    question = submission.variant.question
    later = (
        graded_rows(question)
        .filter(student_id=submission.student_id)
        .filter(Q(submitted_at__gt=submission.submitted_at) | Q(submitted_at=submission.submitted_at, pk__gt=submission.pk))
        .select_related("variant__question__problem_set")
        .defer("code_runs")
        .order_by("attempt_number")  # each moves into the place just freed below it
    )
    for row in later:
        row.attempt_number -= 1
        row.score = final_score(row.variant.question, row.raw_score, row.attempt_number, row.late)
        row.save(update_fields=["attempt_number", "score"])
        logger.info("submission %s is now attempt %s (submission %s did not count)", row.pk, row.attempt_number, submission.pk)


def _rejected(feedback: dict) -> dict:
    """The fields of a rejected row: finished, not counted as an attempt."""
    return {
        "status": S.REJECTED,
        "raw_score": None,
        "score": None,
        "feedback": feedback,
        "graded_at": timezone.now(),
        "error_message": "",
    }


def _numbered(submission: Submission, result, number: int, counted: int) -> dict:
    """The fields of a graded row: attempt `number` and the score after penalties, or a
    rejection when `counted` attempts already use up the limit (it may have been lowered after
    submitting). Call with the (question, student) pair locked."""
    question = submission.variant.question
    if question.max_attempts and counted >= question.max_attempts:
        return _rejected({
            "status": "rejected",
            "score": 0.0,
            "fields": {},
            "message": f"No attempts left: {_all_attempts(question.max_attempts, past=True)} already used.",
        })
    fields = {
        "status": S.GRADED,
        "late": submission.late,
        "attempt_number": number,
        "raw_score": result.score,
        "score": final_score(question, result.score, number, submission.late),
        "feedback": result.to_dict(),
        "graded_at": timezone.now(),
        "error_message": "",
    }
    if result.runs:  # code fields: kept so a regrade judges them again without running the code
        fields["code_runs"] = runs_text(result.runs)
    return fields


def _log_graded(submission: Submission) -> None:
    """One line per finished grading (the integration tests count them: never two per row)."""
    logger.info(
        "graded submission %s: %s, attempt %s, score %s",
        submission.pk, submission.status, submission.attempt_number, submission.score,
    )


# What a student reads on a submission that could not be graded; the cause (error_message) is for
# the staff and may name internals.
ERROR_FEEDBACK = {
    "status": "error",
    "score": None,
    "fields": {},
    "message": "This submission could not be graded because of a problem on our side, not in your "
    "answers. It is kept: it is tried again automatically, or sent to grading again by the course "
    "staff once the problem is fixed, and then graded like any other submission.",
}


def _finish_error(submission: Submission, token: datetime, message: str) -> bool:
    """Mark the row an error; the message (an exception's text, which may quote anything) is stored
    as storable text."""
    message = storable_text(message[:2000])
    with transaction.atomic():
        lock_pair(submission.variant.question_id, submission.student_id)
        ours = _save_if_ours(submission, token, status=S.ERROR, error_message=message, feedback=dict(ERROR_FEEDBACK))
        if ours and submission.claims >= max_tries():  # no more tries: it will not count
            _release_attempt(submission)
    return ours


def _give_up(submission: Submission, unchanged: Q) -> None:
    """The sweeper's end for a row whose gradings keep dying: an error that no longer counts as
    an attempt to come."""
    with transaction.atomic():
        lock_pair(submission.variant.question_id, submission.student_id)
        gave_up = Submission.objects.filter(unchanged, pk=submission.pk).update(
            status=S.ERROR,
            error_message=f"grading did not finish after {submission.claims} tries (worker crash or time limit)",
            feedback=dict(ERROR_FEEDBACK),
        )
        if gave_up:
            _release_attempt(submission)


def penalty_notes(submission: Submission, due_times: dict | None = None) -> list[str]:
    """Why a graded submission's points are below its raw score, one sentence per penalty, from
    the settings as they are now (a regrade or a deadline change rescores with those too).
    `due_times`: a cache of the students' due times for a list of submissions (one extension
    lookup per student, not per late row)."""
    if submission.status != S.GRADED or submission.attempt_number is None:
        return []
    question = submission.variant.question
    notes = []
    if question.all_or_nothing and submission.raw_score and not fully_right(submission.raw_score):  # partly right
        notes.append(
            f"All or nothing: this question gives its points only for a fully right answer; this one was "
            f"{_percent(submission.raw_score)} right, so it scores 0."
        )
        return notes  # no penalty applies to 0 points
    earlier = submission.attempt_number - 1
    if earlier and question.attempt_penalty:
        lost = min(1.0, question.attempt_penalty * earlier)
        notes.append(
            f"Attempt {submission.attempt_number}: {_percent(lost)} off for {earlier} earlier "
            f"attempt{'s' if earlier > 1 else ''} ({_percent(question.attempt_penalty)} each)."
        )
    problem_set = question.problem_set
    if submission.late and problem_set.late_penalty:
        key = (problem_set.pk, submission.student_id)
        cache = {} if due_times is None else due_times
        if key not in cache:  # theirs, with an extension
            cache[key] = extensions.deadlines_for(problem_set, submission.student_id).due_at
        due = cache[key]
        notes.append(
            f"Late: {_percent(problem_set.late_penalty)} off, submitted at {_local(submission.submitted_at, seconds=True)}, "
            f"after the due time {_local(due, seconds=True)}."  # 23:59:30 after 23:59:00 reads as such
        )
    return notes


def fully_right(raw_score: float) -> bool:
    """Every field (every test case of a code field) right: a mean of field scores of 1.0 each
    is exactly 1.0."""
    return raw_score >= 1.0


def _percent(fraction: float) -> str:
    return f"{round(100 * fraction, 2):g} %"


def final_score(question: Question, raw_score: float, attempt_number: int, late: bool) -> float:
    """Points after the attempt penalty and, for a late submission, the set's late penalty;
    none for a partly right answer to an all-or-nothing question."""
    if question.all_or_nothing and not fully_right(raw_score):
        return 0.0
    late_penalty = question.problem_set.late_penalty if late else 0.0
    return round(question.points * apply_penalties(raw_score, attempt_number, question.attempt_penalty, late_penalty), 6)


# --- the sweeper ------------------------------------------------------------------------------


def sweep_stuck(older_than_seconds: float) -> int:
    """Re-enqueue submissions whose message or worker was lost; returns how many were sent.

    - queued rows older than the timeout times 1, 2, 4, 8... by their sends (a lost message is
      sent again after one timeout; a row only waiting in a long backlog a few times, not at
      every sweep);
    - grading rows whose claim is older than the timeout (the worker died): back to queued, or
      to error once they have been claimed AUTOGRADER_MAX_GRADING_TRIES times (a submission
      that keeps killing workers must stop; re-sends while only queued do not count);
    - error rows, until they reach that number of claims.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    tries = max_tries()
    sent = []
    for sub in Submission.objects.filter(status=S.QUEUED, submitted_at__lt=cutoff).only(
        "pk", "submitted_at", "enqueue_count"
    )[:1000]:
        if sub.submitted_at < now - timedelta(seconds=older_than_seconds * resend_backoff(sub.enqueue_count)):
            if _requeue(Q(status=S.QUEUED, enqueue_count=sub.enqueue_count), sub.pk):
                sent.append(sub.pk)
    for sub in Submission.objects.filter(
        Q(status=S.GRADING, grading_started_at__lt=cutoff)
        | Q(status=S.ERROR, claims__lt=tries, grading_started_at__lt=cutoff)
    ).select_related("variant__question").only(
        "pk", "status", "grading_started_at", "enqueue_count", "claims", "student_id", "submitted_at", "attempt_released",
        "variant__question_id", "variant__question__points", "variant__question__attempt_penalty",
    )[:1000]:
        same = Q(status=sub.status, enqueue_count=sub.enqueue_count, grading_started_at=sub.grading_started_at)
        if sub.status == S.GRADING and sub.claims >= tries:
            _give_up(sub, same)
        elif _requeue(same, sub.pk):
            sent.append(sub.pk)
    for pk in sent:
        enqueue(pk)
    return len(sent)


def resend_backoff(sends: int) -> int:
    """How many stuck timeouts a queued row sent `sends` times waits before the next send:
    1, 1, 2, 4, ... (doubling, capped at 1024). Linear waits re-sent a 20-minute backlog at a
    120 s timeout ten times over (QA: thousands of duplicate messages after restarts)."""
    return 2 ** min(max(sends - 1, 0), 10)


def _requeue(unchanged: Q, pk: int) -> bool:
    """Back to queued with one more enqueue, only if nobody changed the row since we read it."""
    return bool(
        Submission.objects.filter(unchanged, pk=pk).update(status=S.QUEUED, enqueue_count=F("enqueue_count") + 1)
    )


# --- gradebook --------------------------------------------------------------------------------


def gradebook(problem_set: ProblemSet) -> list[dict]:
    """One row per student: best score per question (None if never graded), the total, and how
    many of their submissions are not graded yet (waiting, or failed on our side: a student with
    none graded is not a student who never submitted) and were graded late.

    Rows cover the course's students and anyone else who submitted (who left the course, or
    staff trying the questions: `enrolled` is False for them), sorted by username; `name` is the
    full name ("" when none is set).
    """
    questions = list(problem_set.questions.all())
    best = {
        (row["student"], row["variant__question"]): row["best"]
        for row in Submission.objects.filter(variant__question__problem_set=problem_set, status=S.GRADED)
        .values("student", "variant__question")
        .annotate(best=Max("score"))
    }
    counts = {
        row["student"]: row
        for row in Submission.objects.filter(variant__question__problem_set=problem_set)
        .values("student")
        .annotate(
            ungraded=Count("id", filter=Q(status__in=(*PENDING, S.ERROR))),
            late=Count("id", filter=Q(status=S.GRADED, late=True)),
        )
    }
    students = {
        m.user_id: m.user
        for m in Membership.objects.filter(course_id=problem_set.course_id, role=Membership.Role.STUDENT).select_related("user")
    }
    enrolled = set(students)
    for sub in Submission.objects.filter(variant__question__problem_set=problem_set).exclude(
        student_id__in=students
    ).select_related("student"):
        students[sub.student_id] = sub.student
    rows = []
    # as a class list is read: "Zora" after "adam", "Öz" among the o's (not after every z)
    for user in sorted(students.values(), key=lambda u: _sort_key(u.get_username())):
        scores = {str(q.pk): best.get((user.pk, q.pk)) for q in questions}
        rows.append(
            {
                "student_id": user.pk,
                "username": user.get_username(),
                "name": user.get_full_name(),
                "enrolled": user.pk in enrolled,
                "scores": scores,
                "total": round(sum((s for s in scores.values() if s is not None), 0.0), 6),  # 0.0, not 0, when none
                "ungraded": counts.get(user.pk, {}).get("ungraded", 0),
                "late": counts.get(user.pk, {}).get("late", 0),
            }
        )
    return rows


def _sort_key(name: str) -> tuple[str, str]:
    """Alphabetical ignoring case and accents, ties in code-point order (a stable total order)."""
    letters = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in letters if not unicodedata.combining(c)), name


def gradebook_csv(problem_set: ProblemSet, *, excel: bool = False) -> str:
    """The gradebook as CSV: username, name, enrolled (yes/no), one column per question
    (q<id>_<kind>), the ungraded and late submission counts, total (last, where scripts reading
    earlier exports found it). `excel`: starts with a byte order mark, without which Excel reads
    UTF-8 as its local code page ("MÃ¼ller"); scripts reading plain UTF-8 would see it in the
    first header, so it is asked for."""
    questions = list(problem_set.questions.all())
    out = io.StringIO()
    if excel:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n" if excel else "\n")
    writer.writerow(
        ["username", "name", "enrolled", *[f"q{q.pk}_{q.kind}" for q in questions], "ungraded", "late", "total"]
    )
    for row in gradebook(problem_set):
        scores = [row["scores"][str(q.pk)] for q in questions]
        writer.writerow(
            [
                spreadsheet_text(row["username"]),
                spreadsheet_text(row["name"]),
                "yes" if row["enrolled"] else "no",
                *["" if s is None else s for s in scores],
                row["ungraded"],
                row["late"],
                row["total"],
            ]
        )
    return out.getvalue()


def spreadsheet_text(text: str) -> str:
    """Text a spreadsheet shows as text: one starting with = + - @ (usernames may, e.g. "-1+1")
    would be read as a formula, so it gets a leading apostrophe (OWASP's CSV-injection advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --- regrades ---------------------------------------------------------------------------------


def regrade_preview(question: Question, changes: dict, not_regraded: list | None = None) -> list[dict]:
    """Whose score would change if the question's settings changed: submission, student, old, new.
    Submissions it would leave as they are (code whose run was not kept) go to `not_regraded`."""
    changed = _apply_changes(question, changes)
    regrade_answers = _changes_grading(changed, changes)
    computed = _regrade(changed, regrade_answers=regrade_answers, not_regraded=not_regraded)
    return [diff for diff, _, _ in computed if diff is not None]


# Settings that change how answers are judged (the rest only turn raw scores into points).
GRADING_FIELDS = ("tolerance", "error_carried_forward", "per_entry_credit")


def _changes_grading(question: Question, changes: dict) -> bool:
    """Whether the changes need the answers graded again, not only the stored raw scores rescored.

    Code is judged by its test cases alone, so of these only the tolerance matters there; a
    tolerance change judges each submission's kept run again (no code runs in a regrade).
    """
    relevant = ("tolerance",) if _is_code_question(question) else GRADING_FIELDS
    return any(name in changes for name in relevant)


def _is_code_question(question: Question) -> bool:
    return question.kind in CODE_KIND_IDS


def regrade_apply(question: Question, changes: dict, actor, not_regraded: list | None = None) -> int:
    """Save the changes, regrade every graded submission, audit it; returns how many changed.
    Submissions it leaves as they are (code whose run was not kept) go to `not_regraded`.

    The regrading itself (judging again; for code, the kept runs) happens before the
    transaction: graded rows never change their answers, instance, attempt or lateness, so
    those results stay valid. The transaction saves the settings first (which waits for
    gradings finishing under the old settings, see `current_settings`), regrades only rows
    graded since, and writes. Gradings finishing later see the new settings.
    """
    changed = _apply_changes(question, changes)
    before = Question.objects.filter(pk=question.pk).values(*changes).get()
    regrade_answers = _changes_grading(changed, changes)
    seen: dict[int, tuple] = {}
    left: list[dict] = []
    computed = list(_regrade(changed, seen=seen, regrade_answers=regrade_answers, not_regraded=left))
    with transaction.atomic():
        changed.save(update_fields=list(changes))  # a write first: on SQLite the transaction then holds the write lock
        # graded since the read, graded again (a code re-run, exercises.reruns) or renumbered (an
        # earlier attempt released): computed afresh, as the rows are now
        now_graded = graded_rows(changed).values_list("pk", "graded_at", "attempt_number")
        since = {pk for pk, *state in now_graded if seen.get(pk) != tuple(state)}
        if since:
            computed = [entry for entry in computed if entry[1].pk not in since]
            left = [row for row in left if row["submission"] not in since]
            computed += _regrade(changed, only=since, regrade_answers=regrade_answers, not_regraded=left)
        diffs = []
        for diff, sub, result in computed:
            if diff is not None:
                sub.score = diff["new"]
                diffs.append(diff)
            if result is None:  # rescored from the stored raw score
                sub.save(update_fields=["score"])
            else:  # the new raw score and feedback even when the points stay (0 points, a full penalty)
                sub.raw_score, sub.feedback = result.score, result.to_dict()
                sub.save(update_fields=["raw_score", "score", "feedback"])
        AuditEntry.objects.create(
            actor=actor,
            course_id=changed.problem_set.course_id,
            action="regrade",
            details={
                "question": changed.pk,
                "changes": {name: {"old": before[name], "new": getattr(changed, name)} for name in changes},
                "submissions": diffs,
                "not_regraded": left,
            },
        )
    if not_regraded is not None:
        not_regraded += left
    for name in changes:
        setattr(question, name, getattr(changed, name))
    return len(diffs)




def question_edit_conflict(question: Question, changes: dict) -> tuple[str, str] | None:
    """(code, message) for edits that would desynchronise stored work, else None: a new kind or
    params after variants were drawn (their instances are frozen; a code question's limits,
    RUN_SETTINGS, excepted), a limit lowered once code ran under it, or scoring settings after
    grading (the regrade endpoint recomputes the scores). The API and the admin both ask it.
    Params count as changed only if they differ once the kind's defaults are filled in: stored
    {} (seed_demo) and the same values written out are one set of parameters."""
    if question.pk is None:
        return None
    changed = {name for name, value in changes.items() if getattr(question, name) != value}
    drawn_differ: list[str] = []  # the params that change what is drawn
    if "params" in changed and changes.get("kind", question.kind) == question.kind:
        drawn_differ = _params_changing_draws(question, changes["params"])
        if not drawn_differ:
            changed.discard("params")  # the same params, or only run settings: variants stay valid
    if changed & {"kind", "params"} and question.variants.exists():
        if "kind" not in changed and question.kind in CODE_KIND_IDS:
            return "has_variants", _drawn_params_message(question, drawn_differ)
        return (
            "has_variants",
            "Students already have variants of this question; kind and params can no longer change. "
            "Create a new question instead.",
        )
    lowered = _limits_lowered(question, changes.get("params")) if "params" in changes else []
    if lowered:
        return (
            "limit_lowered",
            f"Submissions were already graded (or are being graded) under {', '.join(lowered)}; a lower limit would grade later "
            "submissions more strictly than earlier ones. Once submissions are graded a limit can only go down as far as "
            "the highest one they ran under.",
        )
    if changed & set(SCORING_FIELDS) and graded_rows(question).exists():
        fields = ", ".join(sorted(changed & set(SCORING_FIELDS)))
        return (
            "use_regrade",
            f"Submissions were already graded; change {fields} through "
            f"/api/questions/{question.pk}/regrade/ so their scores are recomputed.",
        )
    return None


def _drawn_params_message(question: Question, names: list[str]) -> str:
    """The 409 for a code question's params that would change what its variants were drawn with."""
    current = validated_params(question) or {}
    as_they_are = ", ".join(f"{name}={json.dumps(current[name])}" for name in names if name in current)
    message = (
        "Students already have variants of this question, drawn with its params: of those only the limits "
        f"({' and '.join(RUN_SETTINGS)}) can still change. These would change too: {', '.join(names)}. "
        + (f"Send them as they are ({as_they_are}), or create a new question." if as_they_are else "Create a new question instead.")
    )
    if {"rtol", "atol"} & set(names):
        message += f" To compare more loosely or strictly, regrade with a tolerance (/api/questions/{question.pk}/regrade/)."
    return message


def _limits_lowered(question: Question, params: Any) -> list[str]:
    """The code question's limits that `params` would set below one a graded (or grading)
    submission ran under, each as that highest limit ("time_limit_s=2.0", ...). Set back down to
    what the runs had (a typo of 20 for 2 corrected), a limit is not lowered for anyone (QA: it
    was refused, naming a limit nothing had run under)."""
    if question.kind not in CODE_KIND_IDS or not isinstance(params, dict):
        return []
    now = run_settings(question)
    lower = [name for name in RUN_SETTINGS if isinstance(params.get(name), (int, float)) and name in now and params[name] < now[name]]
    if not lower:
        return []
    ran = _highest_limits_run(question, lower, now)
    return [f"{name}={json.dumps(ran[name])}" for name in lower if ran[name] is not None and params[name] < ran[name]]


def _highest_limits_run(question: Question, names: list[str], now: dict) -> dict:
    """{limit: the highest value a graded or grading submission of the question ran under, or
    None when none did}. Graded rows ran under what their kept runs say (limits_ran_under: as
    recorded, else their variant's drawn ones, as exercises.reruns reads them); a row being
    graded or re-run, and one whose run was not kept (too large), count as run under the current
    limit. Reads every graded row's runs: only asked when a limit would go down."""
    ran: list[Mapping] = []
    if CodeRerun.objects.filter(submission__variant__question=question).exists():  # running under `now`
        ran.append(now)
    rows = Submission.objects.filter(COUNTED | Q(status=S.GRADING), variant__question=question)
    for status, code_runs, drawn in rows.values_list("status", "code_runs", "variant__instance__params").iterator(chunk_size=500):
        runs = [run for run in runs_from_text(code_runs).values() if isinstance(run, dict)]
        if status == S.GRADING or not runs:
            ran.append(now)
        else:
            ran += [limits_ran_under(run, {**now, **(drawn if isinstance(drawn, dict) else {})}) for run in runs]
    return {
        name: max((limits[name] for limits in ran if isinstance(limits.get(name), (int, float))), default=None)
        for name in names
    }


def _params_changing_draws(question: Question, params: Any) -> list[str]:
    """The names of `params` that differ from the question's (defaults filled in on both sides)
    and change what is drawn; a code question's RUN_SETTINGS do not. Every name when either
    side does not validate (the serializer reports why)."""
    old = validated_params(question)
    try:
        new = get_kind(question.kind).validate_params(params)
    except ValueError:
        new = None
    if old is None or new is None:
        return sorted(set(old or {}) | set(params if isinstance(params, dict) else {})) or ["params"]
    free = RUN_SETTINGS if question.kind in CODE_KIND_IDS else ()
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name) and name not in free)


def locked_question(question_id: int) -> Question:
    """The question row as it is now, locked for update until the transaction ends (PostgreSQL;
    SQLite takes its write lock at the first write), with its problem set and course."""
    return Question.objects.select_for_update(of=("self",)).select_related("problem_set__course").get(pk=question_id)


def times_problem(release_at, due_at, late_until) -> tuple[str, str] | None:
    """(field, message) when a problem set's times are out of order, or None: released, then due,
    then the late window's end (the API and the admin both ask; the admin saved a late window
    ending before the due time, after which every API edit of the set was refused, QA)."""
    if release_at and due_at and due_at < release_at:
        return "due_at", "The due time must not be before the release time."
    if late_until and due_at and late_until < due_at:
        return "late_until", "The late window must end after the due time."
    return None


def next_position(problem_set: ProblemSet) -> int:
    """The position after the set's last question (created without one, every question was #0).

    Call it inside the transaction that creates the question: it locks the set's row until that
    transaction ends, so a second question created at the same time reads the maximum only once
    the first is stored (two parallel creations both got the same position: QA). On SQLite the
    transaction itself is the lock (it begins IMMEDIATE, see autograder.settings)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_position must run inside the transaction that creates the question")
    list(ProblemSet.objects.select_for_update().filter(pk=problem_set.pk).values_list("pk", flat=True))
    return (problem_set.questions.aggregate(last=Max("position"))["last"] or 0) + 1


def validated_params(question: Question) -> dict | None:
    """The stored parameters with the kind's defaults filled in (None if they no longer validate)."""
    try:
        return get_kind(question.kind).validate_params(question.params)
    except ValueError:
        return None


DEADLINE_FIELDS = ("due_at", "late_until", "late_penalty")


def update_problem_set(problem_set: ProblemSet, changes: dict, actor) -> int:
    """Save validated edits of a problem set; when its deadlines or late penalty change, rescore
    its graded submissions to match and audit it. Returns how many scores changed. A new title or
    release time is audited too (an early release shows the questions to every student).

    When the due time moves, a graded submission is late if it was submitted after the new one:
    an extension lifts the penalty from what is now on time. Scores come from the stored raw scores (nothing
    is graded again). Without this the new penalty surfaced silently in the next, unrelated
    regrade of each question.
    """
    with transaction.atomic():
        # Locked first: a grading finishing meanwhile re-reads the penalty and its late flag FOR
        # SHARE (current_settings), so it either waits for this edit or is rescored below.
        stored = ProblemSet.objects.select_for_update().get(pk=problem_set.pk)
        before = {name: getattr(stored, name) for name in DEADLINE_FIELDS}
        shown_before = {name: getattr(stored, name) for name in SHOWN_FIELDS}
        for name, value in changes.items():
            setattr(problem_set, name, value)
        problem_set.save()
        _audit_changes(problem_set, "problem_set_edit", shown_before, actor)
        if all(getattr(problem_set, name) == old for name, old in before.items()):
            return 0
        rows = Submission.objects.filter(variant__question__problem_set=problem_set)
        if problem_set.due_at != before["due_at"]:  # queued, grading or failed rows too: scored later
            extended = extensions.students_with_extensions(problem_set)
            extensions.flag_late(rows.exclude(student_id__in=extended), problem_set.due_at)
            for student_id, extension in extended.items():  # late by their own due time
                extensions.flag_late(rows.filter(student_id=student_id), extensions.merged(problem_set, extension).due_at)
        diffs = rescore(problem_set, rows)
        AuditEntry.objects.create(
            actor=actor,
            course_id=problem_set.course_id,
            action="problem_set_deadlines",
            details={
                "problem_set": problem_set.pk,
                "changes": {
                    name: {"old": _audit_value(old), "new": _audit_value(getattr(problem_set, name))}
                    for name, old in before.items()
                    if getattr(problem_set, name) != old
                },
                "submissions": diffs,
            },
        )
    return len(diffs)


def rescore(problem_set: ProblemSet, rows) -> list[dict]:
    """Rescore the graded submissions among `rows` (of the set) from their stored raw scores,
    with the set's penalties and each row's late flag as they are now; the score changes."""
    questions = {q.pk: q for q in problem_set.questions.all()}
    for question in questions.values():
        question.problem_set = problem_set
    graded = rows.filter(status=S.GRADED, raw_score__isnull=False).annotate(question_id=F("variant__question_id"))
    diffs = []
    for sub in graded.select_related("student").defer("code_runs").order_by("pk"):  # no variant: instances are large
        diff = score_change(sub, final_score(questions[sub.question_id], sub.raw_score, sub.attempt_number, sub.late))
        if diff is not None:
            diffs.append({**diff, "late": sub.late})
            sub.score = diff["new"]
            sub.save(update_fields=["score"])
    return diffs


SHOWN_FIELDS = ("title", "release_at", "course_id")  # course: an admin moving a set (without student work)


def _audit_changes(problem_set: ProblemSet, action: str, before: dict, actor) -> None:
    """An audit entry of the fields in `before` that the edit changed (none if nothing did)."""
    changes = {
        name: {"old": _audit_value(old), "new": _audit_value(getattr(problem_set, name))}
        for name, old in before.items()
        if getattr(problem_set, name) != old
    }
    if changes:
        AuditEntry.objects.create(
            actor=actor,
            course_id=problem_set.course_id,
            action=action,
            details={"problem_set": problem_set.pk, "changes": changes},
        )


def _audit_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _apply_changes(question: Question, changes: dict) -> Question:
    """A fresh copy of the question with validated `changes` applied (not saved)."""
    if not isinstance(changes, dict) or not changes:
        raise RegradeError(f"changes must be a non-empty object with some of {list(REGRADE_FIELDS)}")
    unknown = sorted(set(changes) - set(REGRADE_FIELDS))
    if unknown:
        raise RegradeError(f"cannot regrade with changed {unknown}; allowed: {list(REGRADE_FIELDS)}")
    copy = Question.objects.select_related("problem_set").get(pk=question.pk)
    for name, value in changes.items():
        setattr(copy, name, _valid_setting(name, value))
    problem = code_tolerance_problem(copy.kind, copy.tolerance, changed="tolerance" in changes)
    if problem is None and "tolerance" in changes:
        problem = loose_tolerance_problem(copy.kind, copy.params, copy.tolerance)
    if problem:
        raise RegradeError(problem)
    return copy


def _valid_setting(name: str, value: Any) -> Any:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "points" and number and value >= 0 and math.isfinite(value):
        return float(value)
    if name == "attempt_penalty" and number and 0 <= value <= 1:
        return float(value)
    if name in ("error_carried_forward", "per_entry_credit", "all_or_nothing") and isinstance(value, bool):
        return value
    if name == "max_attempts" and (value is None or (number and int(value) == value and value >= 1)):
        return None if value is None else int(value)
    if name == "tolerance" and _tolerance_ok(value):
        return value
    raise RegradeError(f"invalid value {value!r} for {name!r}")


def code_tolerance_problem(kind: str, tolerance: Any, changed: bool = True) -> str | None:
    """Why a tolerance does not suit a code question, or None: its cases compare arrays with
    rtol and atol (significant figures are for typed numbers and were silently ignored), no
    tighter than the parameters' own minimums (the expected values are stored to ~12
    significant figures: under rtol 0 the reference implementation itself failed, QA) and, when
    it is being `changed`, no looser than their maximums (atol 100 gave np.zeros_like full marks
    on softmax, whose typical bugs give NaN and so never pass under any tolerance, QA); one
    stored before that check does not block an edit of something else (a limit at the deadline)."""
    if kind not in CODE_KIND_IDS or not isinstance(tolerance, dict):
        return None
    if "sigfigs" in tolerance:
        return 'code questions compare their results with {"rtol", "atol"}; sigfigs is for typed answers'
    for param in (RTOL_PARAM, ATOL_PARAM):
        value = tolerance.get(param.name)
        if value is not None and float(value) < param.minimum:
            return (
                f"{param.name} {value:g} is tighter than the results can be compared (the expected values are "
                f"stored rounded): use at least {param.minimum:g}, or null for the question's own"
            )
        if changed and value is not None and float(value) > param.maximum:
            return (
                f"{param.name} {value:g} is too loose to tell wrong results from right ones: use at most "
                f"{param.maximum:g}, or null for the question's own"
            )
    return None


# Draws tried when a question's settings are saved: one seed let parameters through that failed
# for a third of the students (batch_norm with ε = 0); a few cost milliseconds, once per edit.
PARAMS_CHECK_SEEDS = 5
# A code question's looser tolerance override is tried on more: the generator only makes the bugs
# fail under the parameters' own tolerance, and a bug passing one draw in nine under the override
# (code_graph_backward, no random cases, rtol 0.1: first on seed 14) passed none of seeds 0-4.
# About 30 ms a draw for code_sequential, once per edit of the tolerance.
TOLERANCE_CHECK_SEEDS = 20


def loose_tolerance_problem(kind: str, params: Any, tolerance: Any) -> str | None:
    """Why a code question's tolerance override would give a typical bug full marks (its code
    passes every case of a draw, seeds 0-19, judged under the override as grading applies it), or
    None. An override no looser than the parameters' rtol and atol cannot: the generator makes
    every bug fail a case under those, so only a looser one draws and runs anything."""
    if kind not in CODE_KIND_IDS or not isinstance(tolerance, dict):
        return None
    if not tolerance.keys() & {"rtol", "atol"}:  # sigfigs: code_tolerance_problem refuses it
        return None
    generator = get_kind(kind)
    try:
        values = generator.validate_params(dict(params or {}))
    except ParamError:  # the parameters' own check says so
        return None
    if all(float(tolerance.get(name, values[name])) <= values[name] for name in ("rtol", "atol")):
        return None
    for seed in range(TOLERANCE_CHECK_SEEDS):
        try:
            instance = generator.generate(values, seed)
        except (ValueError, RuntimeError):  # a seed the parameters cannot draw: their own check
            continue
        passing = bugs_passing_every_case(instance, tolerance=tolerance)
        if passing:
            return (
                f"with this tolerance the typical bug {passing[0]['name']!r} passes every test case "
                f"(seed {seed}), so a student with that bug would get full marks; use a smaller rtol/atol"
            )
    return None


def mixed_tolerance(value: dict) -> str | None:
    """Why a tolerance naming both sigfigs and rtol is refused (the figures decide and rtol would
    be silently ignored), or None. The API's serializers and the regrade check both ask it."""
    if "sigfigs" in value and "rtol" in value:
        return (
            'rtol has no effect with sigfigs: send {"rtol", "atol"} or {"sigfigs"} (atol may go with '
            "sigfigs as the smallest accepted difference)."
        )
    return None


def _tolerance_ok(value: Any) -> bool:
    """None (the kind's default) or a non-empty rtol/atol/sigfigs object autograder.answers accepts."""
    if value is None:
        return True
    if not isinstance(value, dict) or not value or mixed_tolerance(value):
        return False
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e6 for v in value.values()):
        return False
    try:
        Tolerance.coerce(value)
    except (TypeError, ValueError):
        return False
    return True


def graded_rows(question: Question):
    """The question's graded (counted) submissions."""
    return Submission.objects.filter(COUNTED, variant__question=question)


def _regrade(
    question: Question,
    *,
    seen: dict[int, tuple] | None = None,
    only: set[int] | None = None,
    regrade_answers: bool = True,
    not_regraded: list | None = None,
):
    """(diff, submission, new result) for every graded submission whose score, raw score or
    feedback would change (diff None when only the raw score or feedback does: a question worth
    0 points, a penalty of 1).

    `only` limits it to those ids; `seen` collects every row looked at: id -> (graded_at,
    attempt_number). Without
    `regrade_answers` the stored raw scores are rescored (result None): what points and penalty
    changes need, without grading again. Code is judged from its kept run and never runs here:
    a row without one is only rescored from its raw score, and listed in `not_regraded`.
    """
    policy = grading_policy(question)
    subs = graded_rows(question).select_related("student")
    if regrade_answers:
        subs = subs.select_related("variant")
    else:
        subs = subs.defer("code_runs")
    if only is not None:
        subs = subs.filter(pk__in=only)
    for sub in subs.order_by("pk"):
        if seen is not None:
            seen[sub.pk] = (sub.graded_at, sub.attempt_number)
        result = None
        if regrade_answers:
            try:
                result = grade_submission(
                    sub.variant.instance, sub.answers, policy, run_code=refuse_to_run, runs=runs_from_text(sub.code_runs)
                )
            except CodeRunNotKept:
                if not_regraded is not None:
                    not_regraded.append(row_of(sub))
            if result is not None and result.status != "graded":  # graded under older rules (a blank one scored 0): kept
                continue
        raw = sub.raw_score if result is None else result.score
        if raw is None:
            continue
        diff = score_change(sub, final_score(question, raw, sub.attempt_number, sub.late))
        if diff is not None or (result is not None and (raw != sub.raw_score or result.to_dict() != sub.feedback)):
            yield diff, sub, result


SCORE_NOISE = 1e-5  # points: below any real change (scores are kept to 6 decimals)


def score_change(sub: Submission, new: float) -> dict | None:
    """The audit/preview row of a graded submission whose score becomes `new`, or None when it
    stays: within SCORE_NOISE, so scores stored before a score was rounded once (1/7 of 5 points
    as 0.714286, now 0.714285) do not fill a regrade's preview as changes. `sub.student` should
    be loaded."""
    if sub.score is not None and abs(new - sub.score) <= SCORE_NOISE:
        return None
    return {**row_of(sub), "old": sub.score, "new": new}


def row_of(sub: Submission) -> dict:
    """Which submission, whose: the start of a regrade's report rows."""
    return {"submission": sub.pk, "student": sub.student_id, "username": sub.student.get_username()}


def membership_role(user, course) -> str | None:
    """The user's role in the course ("instructor", "ta", "student") or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user, course=course).values_list("role", flat=True).first()
