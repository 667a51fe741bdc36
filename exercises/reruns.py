"""Running graded code submissions again under their question's current limits.

A limit set too tight shows at the deadline: students' code ran out of time or memory. The
instructor raises it (services: limits can only go up once code ran under them) and asks for a
re-run of the graded submissions that hit a limit lower than the current one. A regrade cannot
help: it judges the kept run again and never runs code.

The CodeRerun row is the request and the database holds it: the worker deletes it in the
transaction that writes the new result, the sweeper sends its message again if it was lost
(a few times, then gives up: the graded result stands, nothing is lost). A re-run keeps the
attempt number; its score comes from the settings as they are when it is written, as a
grading's (services.current_settings), and graded_at moves on, which a regrade computed from
the old run notices (services.regrade_apply).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from autograder.code_grading import limits_hit, runs_from_text, runs_text
from autograder.grading import grade_submission
from exercises import services
from exercises.models import AuditEntry, CodeRerun, Question, Submission

logger = logging.getLogger(__name__)
S = Submission.Status

# What a kept run's JSON text holds where it hit a limit (runs_text writes compact JSON): a text
# match spares reading the others. limits_hit decides.
HIT_TEXTS = ('"status":"timeout"', '"status":"memory"', "MemoryError")


@dataclass(frozen=True)
class Candidate:
    """A graded submission whose kept run hit a limit that is higher now."""

    submission: Submission
    hit: tuple[str, ...]  # the limits it hit, as parameter names ("time_limit_s", "memory_mb")
    ran_under: dict  # {parameter: the value it ran under, or None when the run did not record it}

    def row(self) -> dict:
        return {**services.row_of(self.submission), "hit": list(self.hit), "ran_under": self.ran_under}


def _hits(code_runs: str) -> tuple[set[str], dict]:
    """The limits (parameter names) a submission's kept runs hit, and the limits they ran under."""
    hit: set[str] = set()
    ran_under: dict = {}
    for run in runs_from_text(code_runs).values():
        if isinstance(run, Mapping):
            hit |= limits_hit(run)
            ran_under = {"time_limit_s": run.get("time_limit_s"), "memory_mb": run.get("memory_mb")}
    return hit, ran_under


def candidates(question: Question) -> list[Candidate]:
    """The question's graded submissions that ran out of time or memory under a limit lower than
    its current one (or one their run did not record), with no re-run pending, oldest first."""
    now = services.run_settings(question)
    if not now:  # not a code question
        return []
    hit_text = Q()
    for text in HIT_TEXTS:
        hit_text |= Q(code_runs__contains=text)
    rows = (
        services.graded_rows(question)
        .filter(hit_text, rerun__isnull=True)
        .select_related("student")
        .only("pk", "student__username", "code_runs", "graded_at", "attempt_number")
        .order_by("pk")
    )
    found = []
    for sub in rows:
        hit, ran_under = _hits(sub.code_runs)
        raised = tuple(sorted(name for name in hit if name in now and _lower(ran_under.get(name), now[name])))
        if raised:
            found.append(Candidate(sub, raised, ran_under))
    return found


def _lower(ran_under, now) -> bool:
    """Whether a run's limit was below the current one (unrecorded: it may have been)."""
    return not isinstance(ran_under, (int, float)) or ran_under < now


def pending_count(question: Question) -> int:
    return CodeRerun.objects.filter(submission__variant__question=question).count()


def request_reruns(question: Question, actor, apply: bool) -> dict:
    """Preview (apply False) or ask for the re-runs: {applied, limits, submissions, pending}.
    Applied: one CodeRerun per candidate and one audit entry, messages sent on commit."""
    found = candidates(question)
    rows = [c.row() for c in found]
    limits = services.run_settings(question)
    if apply and found:
        with transaction.atomic():
            created = CodeRerun.objects.bulk_create(
                [CodeRerun(submission=c.submission, requested_by=actor) for c in found], ignore_conflicts=True
            )
            AuditEntry.objects.create(
                actor=actor,
                course_id=question.problem_set.course_id,
                action="rerun",
                details={"question": question.pk, "limits": limits, "submissions": rows},
            )
            for rerun in created:
                enqueue(rerun.submission_id)
    return {"applied": apply, "limits": limits, "submissions": rows, "pending": pending_count(question)}


def enqueue(submission_id: int) -> None:
    """Send the re-run's message once the current transaction commits; a broker failure is
    logged, not raised (the sweeper sends it again)."""

    def send() -> None:
        from autograder.tasks import rerun_code  # the tasks module imports this one

        try:
            rerun_code.apply_async((submission_id,), argsrepr=f"({submission_id},)", kwargsrepr="{}")
        except Exception:
            logger.exception("could not send the re-run of submission %s; the sweeper will retry", submission_id)

    transaction.on_commit(send)


def rerun_now(submission_id: int) -> str:
    """Run a submission's code again under its question's current limits and write the new
    result, if its re-run is still asked for (what the task runs; a duplicate message finds
    none). Returns what happened, in a word or two."""
    rerun = CodeRerun.objects.filter(submission_id=submission_id).first()
    if rerun is None:
        return "not asked"
    submission = services.for_grading(submission_id)
    if submission.status != S.GRADED:
        CodeRerun.objects.filter(pk=rerun.pk).delete()
        return "not graded"
    question = submission.variant.question
    runs = None
    for _ in range(services.POLICY_TRIES):
        policy = services.grading_policy(question)
        instance = services.graded_instance(question, submission.variant.instance)
        result = grade_submission(instance, submission.answers, policy, runs=runs)
        written = _write(submission, rerun, result, policy)
        if written is not None:
            return written
        runs = {name: run.to_dict() for name, run in result.runs.items()}  # judge again, do not run again
    return "settings kept changing"  # the request stays: the sweeper sends it again


def _write(submission: Submission, rerun: CodeRerun, result, policy) -> str | None:
    """Write the re-run's result under the settings as they are now, as a grading's finish does
    (the pair locked, the question FOR SHARE); None when its policy changed meanwhile."""
    question = submission.variant.question
    with transaction.atomic():
        services.lock_pair(question.pk, submission.student_id)
        if not CodeRerun.objects.filter(pk=rerun.pk).exists():
            return "done already"
        services.current_settings(submission)  # the settings and lateness as they are now
        if services.grading_policy(question) != policy:
            return None
        CodeRerun.objects.filter(pk=rerun.pk).delete()
        if result.status != "graded":  # cannot be read now (a parser made stricter since): it stands
            return "kept"
        score = services.final_score(question, result.score, submission.attempt_number, submission.late)
        written = Submission.objects.filter(pk=submission.pk, status=S.GRADED, graded_at=submission.graded_at).update(
            raw_score=result.score,
            score=score,
            late=submission.late,
            feedback=result.to_dict(),
            code_runs=runs_text(result.runs),
            graded_at=timezone.now(),
        )
    if not written:
        return "changed meanwhile"
    logger.info("submission %s re-run: %s -> %s points", submission.pk, submission.score, score)
    return "re-run"


def sweep_reruns(older_than_seconds: float) -> int:
    """Send again the re-runs whose message was lost or whose worker died (after one timeout,
    then 2, 4, ... as the sends grow); after services.max_tries() sends, give up on one (its
    graded result stands). Returns how many were sent."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    sent = 0
    for rerun in CodeRerun.objects.filter(sent_at__lt=cutoff).order_by("sent_at")[:1000]:
        if rerun.sent_at >= now - timedelta(seconds=older_than_seconds * services.resend_backoff(rerun.sends)):
            continue
        same = CodeRerun.objects.filter(pk=rerun.pk, sends=rerun.sends)
        if rerun.sends >= services.max_tries():
            if same.delete()[0]:
                logger.warning("gave up re-running submission %s after %d sends; its result stands", rerun.submission_id, rerun.sends)
            continue
        if same.update(sends=F("sends") + 1, sent_at=now):
            enqueue(rerun.submission_id)
            sent += 1
    return sent
