"""Django admin: browse and fix courses, problem sets, questions, variants and submissions.

Variants and submissions are records of what a student saw and sent, so they are read-only; a
stuck or failed submission can be sent back to the workers with the "re-enqueue" action.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import F

from exercises import services
from exercises.models import (
    AuditEntry,
    Course,
    Membership,
    ProblemSet,
    Question,
    Submission,
    Variant,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "created_at"]
    search_fields = ["code", "title"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "course", "role"]
    list_filter = ["role", "course"]
    search_fields = ["user__username", "course__code"]


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["position", "kind", "params", "points", "max_attempts", "attempt_penalty"]


@admin.register(ProblemSet)
class ProblemSetAdmin(admin.ModelAdmin):
    list_display = ["title", "course", "release_at", "due_at", "late_until", "late_penalty"]
    list_filter = ["course"]
    search_fields = ["title"]
    inlines = [QuestionInline]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "points", "max_attempts", "attempt_penalty", "fresh_variant_per_attempt"]
    list_filter = ["kind", "problem_set__course"]
    search_fields = ["kind", "problem_set__title"]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["id", "question", "student", "number", "seed", "generator_version", "created_at"]
    list_filter = ["question__problem_set__course"]
    search_fields = ["student__username"]
    readonly_fields = ["question", "student", "number", "seed", "generator_version", "instance", "created_at"]


@admin.action(description="Re-enqueue selected submissions that are not graded yet")
def requeue_submissions(modeladmin, request, queryset):
    pending = queryset.exclude(status__in=[Submission.Status.GRADED, Submission.Status.REJECTED])
    ids = list(pending.values_list("pk", flat=True))
    pending.update(status=Submission.Status.QUEUED, enqueue_count=F("enqueue_count") + 1)
    for pk in ids:
        services.enqueue(pk)
    modeladmin.message_user(request, f"{len(ids)} submission(s) re-enqueued.")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["id", "student", "variant", "status", "attempt_number", "score", "late", "submitted_at"]
    list_filter = ["status", "late", "variant__question__problem_set__course"]
    search_fields = ["student__username", "idempotency_key"]
    readonly_fields = [
        "variant", "student", "answers", "idempotency_key", "attempt_number", "raw_score", "score",
        "feedback", "late", "submitted_at", "grading_started_at", "graded_at", "enqueue_count", "error_message",
    ]
    actions = [requeue_submissions]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "course", "action"]
    list_filter = ["action", "course"]
    readonly_fields = ["actor", "course", "action", "details", "created_at"]
