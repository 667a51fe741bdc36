"""Courses, problem sets, questions, per-student variants and submissions.

The database is the source of truth: a submission row exists (status queued) before any
message is sent, and everything a grade depends on is stored with it (the raw answers and the
variant's frozen instance), so grading can be retried or redone at any time.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone


class Course(models.Model):
    # unique ignoring case too (the constraint below): `DEMO` beside `demo` is one course to people
    code = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("code"),
                name="course_code_unique_ignoring_case",
                violation_error_message="A course with this code exists (codes are compared ignoring case).",
            )
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.title}"


class Membership(models.Model):
    class Role(models.TextChoices):
        INSTRUCTOR = "instructor"
        TA = "ta"
        STUDENT = "student"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=12, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course"], name="one_membership_per_course")]

    def __str__(self) -> str:  # the admin said "Membership object (502)"
        return f"{self.user} in {self.course.code} ({self.role})"

    @property
    def is_staff_role(self) -> bool:
        return self.role in (self.Role.INSTRUCTOR, self.Role.TA)


class ProblemSet(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="problem_sets")
    title = models.CharField(max_length=200)
    release_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # Late policy: submissions after due_at lose late_penalty (fraction) until late_until;
    # after late_until (or after due_at when late_until is null) they are refused.
    late_until = models.DateTimeField(null=True, blank=True)
    late_penalty = models.FloatField(default=0.0)

    class Meta:
        ordering = ["release_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_at__gte=models.F("release_at")), name="due_after_release"),
            models.CheckConstraint(condition=Q(late_penalty__gte=0) & Q(late_penalty__lte=1), name="late_penalty_fraction"),
        ]

    def __str__(self) -> str:
        return self.title


class Extension(models.Model):
    """One student's own deadlines for a problem set (an accommodation, an illness): never earlier
    than the set's own (see exercises.extensions.merged)."""

    problem_set = models.ForeignKey(ProblemSet, on_delete=models.CASCADE, related_name="extensions")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extensions")
    due_at = models.DateTimeField()
    late_until = models.DateTimeField(null=True, blank=True)  # null: the set's late window, if it ends later
    reason = models.CharField(max_length=200, blank=True)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["problem_set", "student"], name="one_extension_per_student"),
            models.CheckConstraint(
                condition=Q(late_until__isnull=True) | Q(late_until__gte=models.F("due_at")), name="extension_late_after_due"
            ),
        ]


class Question(models.Model):
    problem_set = models.ForeignKey(ProblemSet, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=60)  # an id of nncore.problems.CATALOGUE
    params = models.JSONField(default=dict, blank=True)
    points = models.FloatField(default=1.0)
    max_attempts = models.PositiveIntegerField(null=True, blank=True)  # null: unlimited
    attempt_penalty = models.FloatField(default=0.0)  # fraction lost per earlier counted attempt
    tolerance = models.JSONField(null=True, blank=True)  # {"rtol", "atol"} or {"sigfigs"}; null: kind default
    fresh_variant_per_attempt = models.BooleanField(default=False)
    error_carried_forward = models.BooleanField(default=True)
    per_entry_credit = models.BooleanField(default=False)
    # points only for a fully right answer (every field, every test case); raw_score keeps the fraction
    all_or_nothing = models.BooleanField(default=False)

    class Meta:
        ordering = ["problem_set", "position", "id"]

    def __str__(self) -> str:
        return f"{self.problem_set} #{self.position} ({self.kind})"


class Variant(models.Model):
    """One student's own instance of a question, frozen when first drawn."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="variants")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="variants")
    number = models.PositiveIntegerField(default=1)  # > 1 only with fresh_variant_per_attempt
    seed = models.BigIntegerField()
    generator_version = models.PositiveIntegerField()
    instance = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When the student first fetched this variant's worked solution: it takes no more submissions
    # (an instructor who later adds attempts or extends the deadline must not hand out the answers).
    solution_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "student", "number"], name="one_variant_per_number")
        ]

    def __str__(self) -> str:
        return f"variant {self.number} of question {self.question_id} for student {self.student_id}"


class Submission(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        GRADING = "grading"
        GRADED = "graded"
        REJECTED = "rejected"  # unreadable answers: not counted as an attempt
        ERROR = "error"

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="submissions")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    answers = models.JSONField()  # exactly as submitted
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempt_number = models.PositiveIntegerField(null=True, blank=True)  # set when counted
    raw_score = models.FloatField(null=True, blank=True)  # 0..1 before penalties
    score = models.FloatField(null=True, blank=True)  # points after penalties
    feedback = models.JSONField(default=dict, blank=True)
    # Code fields: how the student's code ran on each case, as JSON text ({field: CodeRun.to_dict()},
    # autograder.code_grading.runs_text; "" for none), for the staff and for regrades, which judge
    # it again instead of running the code. Text, not jsonb: kept exactly as judged (jsonb would
    # write 1e300 out as 301 digits). Never shown to students: it holds hidden cases' values.
    code_runs = models.TextField(blank=True, default="")
    late = models.BooleanField(default=False)
    # When the service took the answers (services.submit sets it to the moment it judged late or on
    # time, so the two agree); lateness is worked out again from it when the grade is saved.
    submitted_at = models.DateTimeField(default=timezone.now)
    grading_started_at = models.DateTimeField(null=True, blank=True)
    graded_at = models.DateTimeField(null=True, blank=True)
    enqueue_count = models.PositiveIntegerField(default=0)
    # Gradings started (claims), what the sweeper bounds: re-sends of a row only waiting in a long
    # queue raise enqueue_count, not this, so they do not use up the tries of a crashing one.
    claims = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    # Set when the row was given up on (rejected, or failed for good) and the rows after it moved
    # up into its place (services._release_attempt): a row the staff send to grading again and
    # that fails again must not move them a second time.
    attempt_released = models.BooleanField(default=False)

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="one_submission_per_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["variant", "attempt_number"],
                condition=Q(attempt_number__isnull=False),
                name="one_submission_per_attempt",
            ),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"])]


class CodeRerun(models.Model):
    """A graded code submission the staff asked to run again under its question's current limits
    (raised after it ran out of time or memory). The row is the request: the rerun task claims
    it, and deletes it when it writes the new result; the sweeper sends it again if its message
    was lost or its worker died. The graded result stands until then (exercises.reruns)."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="rerun")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(default=timezone.now)  # the last send of its message
    sends = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(null=True, blank=True)  # claimed by a worker (None: waiting)
    claims = models.PositiveIntegerField(default=0)  # runs started: what the sweeper bounds, not sends

    def __str__(self) -> str:
        return f"re-run of submission {self.submission_id}"


class AuditEntry(models.Model):
    """Who changed what and when: question edits, regrades, extensions, code re-runs and
    membership changes (member_added, member_role_changed, member_removed, roster_imported)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="audit_entries")
    action = models.CharField(max_length=40)
    details = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} #{self.pk}"


class TokenFailure(models.Model):
    """A sign-in (API token, web UI, browsable API or admin) with a wrong username or password,
    from `address` (the client's IP address as DRF's throttles identify it) for a username:
    exercises.sign_in_limits refuses that username's sign-ins from that address while it has too
    many recent ones (password guessing). Kept in the database, so every web process and host
    counts the same failures; rows older than the throttle's window are deleted as new ones are
    written."""

    address = models.CharField(max_length=100)
    # SHA-256 of the username sent (counted per username too; never the text: it may be a
    # password typed in the wrong box, or hold what PostgreSQL cannot store)
    username_digest = models.CharField(max_length=64, default="")
    failed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["address", "failed_at"], name="token_failure_by_address")]

    def __str__(self) -> str:
        return f"failed token request from {self.address} at {self.failed_at:%Y-%m-%d %H:%M:%S}"


class PasswordResetRequest(models.Model):
    """A request for a password-reset email to an address (exercises.password_reset): past
    AUTOGRADER_PASSWORD_RESET_RATE requests for one address within its period, no more emails go
    there until the oldest has aged out, whoever asks (nobody can flood a student's inbox), and
    past AUTOGRADER_PASSWORD_RESET_CLIENT_RATE from one client, that client asks no more.
    Counted whether or not an account has the address, so the answer tells nobody which do."""

    # SHA-256 of the address as typed, lower-cased (never the address itself)
    email_digest = models.CharField(max_length=64)
    # who asked, as DRF's throttles identify clients: one client may not ask for every address
    client = models.CharField(max_length=100, default="")
    requested_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["email_digest", "requested_at"], name="reset_request_by_email"),
            models.Index(fields=["client", "requested_at"], name="reset_request_by_client"),
        ]

    def __str__(self) -> str:
        return f"password reset request at {self.requested_at:%Y-%m-%d %H:%M:%S}"
