"""Running graded code submissions again under their question's current limits.

A limit set too tight shows at the deadline: students' code ran out of time or memory. The
instructor raises it (services: limits can only go up once code ran under them) and asks for a
re-run of the graded submissions that hit a limit lower than the current one. A regrade cannot
help: it judges the kept run again and never runs code.

The CodeRerun row is the request and the database holds it. A worker claims it (as a grading
claims its row), runs the code and, in the transaction that writes the new result, deletes it;
the sweeper sends it again when its message was lost (never giving up on one only waiting in a
queue) or its worker died (giving up after services.max_tries() claims: the graded result
stands). A re-run keeps the attempt number as it is when the result is written; its score comes
from the settings as they are then, as a grading's (services.current_settings), with an audit
entry of the old and new scores; graded_at moves on, which a regrade computed from the old run
notices (services.regrade_apply). A run the sandbox failed in the middle of is not written.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from autograder.code_grading import limits_hit, limits_ran_under, runs_from_text, runs_text
from autograder.grading import grade_submission
from exercises import services
from exercises.models import AuditEntry, CodeRerun, Question, Submission

logger = logging.getLogger(__name__)
S = Submission.Status

# What a kept run's JSON text holds where it hit a limit (runs_text writes compact JSON): a text
# match spares reading the others. limits_hit decides.
HIT_TEXTS = ('"status":"timeout"', '"status":"memory"', "MemoryError")
SANDBOX_FAILURE = "killed: sandbox failure"  # outcome._missing's words for a run the sandbox lost


class SandboxFailed(RuntimeError):
    """The sandbox failed during the re-run: its result says nothing about the code."""


@dataclass(frozen=True)
class Candidate:
    """A graded submission whose kept run hit a limit that is higher now."""

    submission: Submission
    hit: tuple[str, ...]  # the limits it hit, as parameter names ("time_limit_s", "memory_mb")
    ran_under: dict  # {parameter: the value it ran under}

    def row(self) -> dict:
        return {**services.row_of(self.submission), "hit": list(self.hit), "ran_under": self.ran_under}


def _hits(code_runs: str, drawn: Mapping) -> tuple[set[str], dict]:
    """The limits (parameter names) a submission's kept runs hit, and the limits they ran under:
    as the run recorded them, else the variant's drawn ones (runs kept before they were
    recorded; until limits could change, the drawn ones were the only ones)."""
    hit: set[str] = set()
    ran_under = limits_ran_under({}, drawn)
    for run in runs_from_text(code_runs).values():
        if isinstance(run, Mapping):
            hit |= limits_hit(run)
            ran_under = limits_ran_under(run, ran_under)
    return hit, ran_under


def _raised(name: str, ran_under, now) -> bool:
    """Whether the limit `name` is higher now than the run's. CPU time is enforced in whole
    seconds (Limits.cpu_rlimit): 1.2 s raised to 1.8 s still runs for 2 s."""
    if not isinstance(ran_under, (int, float)) or not isinstance(now, (int, float)):
        return False
    if name == "time_limit_s":
        return max(1, math.ceil(ran_under)) < max(1, math.ceil(now))
    return ran_under < now


def candidates(question: Question) -> list[Candidate]:
    """The question's graded submissions that ran out of time or memory under a limit lower than
    its current one, with no re-run pending, oldest first."""
    now = services.run_settings(question)
    if not now:  # not a code question (or its params no longer validate)
        return []
    hit_text = Q()
    for text in HIT_TEXTS:
        hit_text |= Q(code_runs__contains=text)
    rows = (
        services.graded_rows(question)
        .filter(hit_text, rerun__isnull=True)
        .select_related("student", "variant")
        .only("pk", "student", "student__username", "code_runs", "variant", "variant__instance")
        .order_by("pk")
    )
    found = []
    for sub in rows:
        hit, ran_under = _hits(sub.code_runs, sub.variant.instance.get("params") or {})
        raised = tuple(sorted(name for name in hit if _raised(name, ran_under.get(name), now.get(name))))
        if raised:
            found.append(Candidate(sub, raised, ran_under))
    return found


def pending_count(question: Question) -> int:
    return CodeRerun.objects.filter(submission__variant__question=question).count()


def request_reruns(question: Question, actor, apply: bool) -> dict:
    """Preview (apply False) or ask for the re-runs: {applied, limits, submissions, pending}.
    Applied: one CodeRerun per candidate and one audit entry, messages sent on commit. The
    question row is locked first: two requests at once (a double click) ask once."""
    if not apply:
        found = candidates(question)
    else:
        with transaction.atomic():
            question = services.locked_question(question.pk)
            found = candidates(question)
            now = timezone.now()
            CodeRerun.objects.bulk_create(  # a conflict only where the lock is not a row lock (SQLite)
                [CodeRerun(submission=c.submission, requested_by=actor, requested_at=now, sent_at=now) for c in found],
                ignore_conflicts=True,
            )
            ours = set(
                CodeRerun.objects.filter(submission__in=[c.submission for c in found], requested_at=now).values_list(
                    "submission_id", flat=True
                )
            )
            found = [c for c in found if c.submission.pk in ours]
            if found:
                AuditEntry.objects.create(
                    actor=actor,
                    course_id=question.problem_set.course_id,
                    action="rerun",
                    details={"question": question.pk, "limits": services.run_settings(question), "submissions": [c.row() for c in found]},
                )
            for candidate in found:
                enqueue(candidate.submission.pk)
    return {
        "applied": apply,
        "limits": services.run_settings(question),
        "submissions": [c.row() for c in found],
        "pending": pending_count(question),
    }


def enqueue(submission_id: int) -> None:
    """Send the re-run's message once the current transaction commits."""
    services.send_after_commit("rerun_code", submission_id)


def _abandoned_before():
    """A claim older than this is a dead worker's (the task's hard time limit has passed)."""
    return timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)


def rerun_now(submission_id: int) -> str:
    """Run a submission's code again under its question's current limits and write the new
    result, if its re-run is still asked for and nobody else is running it (what the task runs;
    a duplicate message finds none). Returns what happened, in a word or two; raises when the
    run failed (the request is released for the sweeper)."""
    rerun = CodeRerun.objects.filter(submission_id=submission_id).first()
    if rerun is None:
        return "not asked"
    started = timezone.now()
    claimed = CodeRerun.objects.filter(
        Q(started_at__isnull=True) | Q(started_at__lt=_abandoned_before()), pk=rerun.pk
    ).update(started_at=started, claims=F("claims") + 1)
    if not claimed:
        return "running elsewhere"
    rerun.started_at = started
    try:
        outcome = _rerun(rerun)
    except Exception:
        _release(rerun)
        raise
    if outcome is None:
        _release(rerun)
        return "settings kept changing"  # sent again by the sweeper
    return outcome


def _release(rerun: CodeRerun) -> None:
    """Give the claim back (the sweeper sends the request again, counting the claim)."""
    CodeRerun.objects.filter(pk=rerun.pk, started_at=rerun.started_at).update(started_at=None)


def _rerun(rerun: CodeRerun) -> str | None:
    submission = services.for_grading(rerun.submission_id)
    question = submission.variant.question
    runs = None
    for _ in range(services.POLICY_TRIES):
        policy = services.grading_policy(question)
        instance = services.graded_instance(question, submission.variant.instance)
        result = grade_submission(instance, submission.answers, policy, runs=runs)
        if runs is None and _sandbox_failed(result):
            raise SandboxFailed(f"the sandbox failed while re-running submission {submission.pk}")
        written = _write(submission, rerun, result, policy)
        if written is not None:
            return written
        runs = {name: run.to_dict() for name, run in result.runs.items()}  # judge again, do not run again
    return None


def _sandbox_failed(result) -> bool:
    return any(case.message.startswith(SANDBOX_FAILURE) for run in result.runs.values() for case in run.cases)


def _write(submission: Submission, rerun: CodeRerun, result, policy) -> str | None:
    """Write the re-run's result under the settings and attempt number as they are now, as a
    grading's finish does (the pair locked, the question FOR SHARE); None when the policy
    changed meanwhile (judge again)."""
    question = submission.variant.question
    with transaction.atomic():
        services.lock_pair(question.pk, submission.student_id)
        if not CodeRerun.objects.filter(pk=rerun.pk, started_at=rerun.started_at).exists():
            return "done already"  # by a worker that took over a claim it thought abandoned
        row = Submission.objects.filter(pk=submission.pk).values("status", "graded_at", "attempt_number", "raw_score", "score").first()
        if row is None or row["status"] != S.GRADED:  # released or regraded into another state meanwhile
            CodeRerun.objects.filter(pk=rerun.pk).delete()
            return "not graded"
        services.current_settings(submission)  # the settings and lateness as they are now
        if services.grading_policy(question) != policy:
            return None
        CodeRerun.objects.filter(pk=rerun.pk).delete()
        if result.status != "graded":  # cannot be read now (a parser made stricter since): it stands
            return "kept"
        score = services.final_score(question, result.score, row["attempt_number"], submission.late)
        Submission.objects.filter(pk=submission.pk).update(
            raw_score=result.score,
            score=score,
            late=submission.late,
            feedback=result.to_dict(),
            code_runs=runs_text(result.runs),
            graded_at=timezone.now(),
        )
        AuditEntry.objects.create(
            actor=rerun.requested_by,
            course_id=question.problem_set.course_id,
            action="rerun_result",
            details={
                **services.row_of(submission),
                "question": question.pk,
                "old": {"raw_score": row["raw_score"], "score": row["score"]},
                "new": {"raw_score": result.score, "score": score},
            },
        )
    logger.info("submission %s re-run: %s -> %s points", submission.pk, row["score"], score)
    return "re-run"


def sweep_reruns(older_than_seconds: float) -> int:
    """Send again the re-runs whose message was lost (waiting longer than one timeout, then 2,
    4, ... as the sends grow; never given up: it may only be waiting in a long queue) or whose
    worker died (claimed longer than the task's time limit ago); give up on one claimed
    services.max_tries() times (its graded result stands; audited). Returns how many were sent."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    abandoned = _abandoned_before()
    sent = 0
    for rerun in CodeRerun.objects.filter(sent_at__lt=cutoff).select_related("submission__variant__question__problem_set", "submission__student").order_by("sent_at")[:1000]:
        if rerun.started_at is not None and rerun.started_at >= abandoned:
            continue  # running now
        same = CodeRerun.objects.filter(pk=rerun.pk, sends=rerun.sends, started_at=rerun.started_at)
        if rerun.claims >= services.max_tries():
            if same.delete()[0]:
                _give_up(rerun)
            continue
        if rerun.started_at is None and rerun.sent_at >= now - timedelta(seconds=older_than_seconds * services.resend_backoff(rerun.sends)):
            continue
        if same.update(sends=F("sends") + 1, sent_at=now, started_at=None):
            enqueue(rerun.submission_id)
            sent += 1
    return sent


def _give_up(rerun: CodeRerun) -> None:
    submission = rerun.submission
    question = submission.variant.question
    logger.warning("gave up re-running submission %s after %d runs; its result stands", submission.pk, rerun.claims)
    AuditEntry.objects.create(
        actor=None,
        course_id=question.problem_set.course_id,
        action="rerun_given_up",
        details={**services.row_of(submission), "question": question.pk, "runs": rerun.claims},
    )
