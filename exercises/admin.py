"""Django admin: browse and fix courses, problem sets, questions, variants and submissions.

Variants, submissions and audit entries are records of what a student saw and sent and of who
changed what, so they are read-only and cannot be added or deleted here; a stuck or failed
submission can be sent back to the workers with the "re-enqueue" action. Questions are checked
as the API checks them.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.fields import InvalidJSONInput
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from exercises import grading_errors, services
from exercises.models import (
    AuditEntry,
    Course,
    Extension,
    Membership,
    ProblemSet,
    Question,
    Submission,
    Variant,
)
from exercises.permissions import is_last_instructor
from exercises.sign_in_limits import LimitedAdminAuthenticationForm

# Wrong passwords at the admin's login count with every other sign-in's (exercises.sign_in_limits).
admin.site.login_form = LimitedAdminAuthenticationForm


class ModelAdmin(admin.ModelAdmin):
    """Django's ModelAdmin, refusing an action on a selection that is not ids (Django filters by
    it unchecked: a ValueError, answered with a 500)."""

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(value.isascii() and value.isdigit() for value in selected):  # "²".isdigit() too
            self.message_user(request, "The selection is not a list of ids.", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


@admin.register(Course)
class CourseAdmin(ModelAdmin):
    """A course's members are listed on their own page (linked): as rows of this one, a course of
    500 took 6 s to open and could not be saved (5 fields a row, Django's 1000-field limit, QA)."""

    list_display = ["code", "title", "created_at"]
    search_fields = ["code", "title"]
    readonly_fields = ["members"]

    @admin.display(description="Members")
    def members(self, course: Course) -> str:
        if course.pk is None:
            return "Add members once the course is saved."
        counts = dict(course.memberships.values_list("role").annotate(n=Count("id")))
        url = reverse("admin:exercises_membership_changelist") + f"?course__id__exact={course.pk}"
        said = ", ".join(f"{counts[role]} {role}{'s' if counts[role] != 1 else ''}" for role in sorted(counts)) or "none yet"
        return format_html('{} (<a href="{}">list and edit them</a>)', said, url)


class MembershipAdminForm(forms.ModelForm):
    """The API's rule in the admin too: the course's last instructor is neither demoted nor moved
    (the admin made a course without one, whose staff calls were all refused, QA)."""

    class Meta:
        model = Membership
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        stored = Membership.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        leaves = stored is not None and (cleaned.get("role") != stored.role or cleaned.get("course") != stored.course)
        if leaves and is_last_instructor(stored):
            raise ValidationError("A course needs at least one instructor: make another member an instructor first.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "course", "role"]
    list_filter = ["role", "course"]
    search_fields = ["user__username", "course__code"]

    def has_delete_permission(self, request, obj=None) -> bool:
        """Not the course's last instructor (the delete page, and the bulk action for a selection
        holding one, answer 403)."""
        return super().has_delete_permission(request, obj) and (obj is None or not is_last_instructor(obj))


class CheckedJSONField(forms.JSONField):
    """A JSON form field refusing what the API's parser refuses (NUL, lone surrogates, absurd
    nesting; integers beyond Python's 4300 digits) with a form error. Django's field let such
    input through to the re-rendered form, which failed with a 500."""

    def to_python(self, value):
        try:
            data = super().to_python(value)
        except ValueError as error:  # ValidationError is not one; the digit limit's error is
            raise ValidationError(f"Enter a valid JSON: {error}", code="invalid") from None
        problem = _json_problem(data)
        if problem:
            raise ValidationError(f"Enter a valid JSON: {problem}", code="invalid")
        return data

    def bound_data(self, data, initial):
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            parsed = json.loads(data, cls=self.decoder)
        except ValueError:
            return InvalidJSONInput(data)
        return InvalidJSONInput(data) if _json_problem(parsed) else parsed


def _json_problem(data) -> str | None:
    from exercises.api import json_problem  # the API module imports the admin's models first

    return json_problem(data)


class QuestionAdminForm(forms.ModelForm):
    """The API's checks for a question, in the admin too: a known kind, parameters that draw,
    a valid tolerance and ranges (QuestionSerializer), and no kind/params change once students
    have variants nor scoring change once submissions are graded (regrade instead). Without them
    an admin could save a question that answered every student with a 500."""

    class Meta:
        model = Question
        fields = "__all__"
        field_classes = {"params": CheckedJSONField, "tolerance": CheckedJSONField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        position = self.fields.get("position")
        if position is not None and self.instance.pk is None:  # as the API: a new question goes last
            position.required, position.initial = False, None
            position.help_text = "Leave empty to put the question after the set's last one."
        problem_set = self.fields.get("problem_set")
        if problem_set is not None:  # sets by course and title: "Week 1" alone exists in every course
            problem_set.queryset = problem_set.queryset.select_related("course")
            problem_set.label_from_instance = lambda ps: f"{ps.course.code}: {ps.title}"

    def clean(self):
        from exercises.serializers import QuestionSerializer  # the API's validation, not a copy

        cleaned = super().clean()
        original = Question.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        if original is not None and not self.has_changed():
            return cleaned  # an untouched inline row (its params may predate defaults being filled in)
        meta = QuestionSerializer.Meta
        writable = [
            name
            for name in meta.fields
            if name in cleaned and name not in meta.read_only_fields and not (name == "position" and cleaned[name] is None)
        ]
        names = writable if original is None else [name for name in writable if name in self.changed_data]
        serializer = QuestionSerializer(original, data={name: cleaned[name] for name in names}, partial=True)
        if not serializer.is_valid():
            for name, errors in serializer.errors.items():
                messages = [str(e) for e in (errors if isinstance(errors, list) else [errors])]
                self.add_error(name if name in self.fields else None, messages)
            return cleaned
        cleaned.update(serializer.validated_data)  # params with their defaults filled in
        if original is not None and "problem_set" in self.changed_data and original.variants.exists():
            raise ValidationError(
                "Students already have variants of this question: it cannot move to another problem set (its "
                "submissions were judged late or on time by this set's times). Create a new question there instead.",
                code="has_variants",
            )
        if original is not None:
            conflict = services.question_edit_conflict(original, {name: cleaned[name] for name in names})
            if conflict is not None:
                raise ValidationError(conflict[1], code=conflict[0])
        return cleaned

    def save(self, commit=True):
        """A new question without a position goes after the set's last one (it took position 0,
        first, renumbering every question the students knew by number: QA). The admin saves
        inside a transaction, which services.next_position needs for its lock."""
        question = self.instance
        if question.pk is None and self.cleaned_data.get("position") is None:
            question.position = services.next_position(question.problem_set)
        return super().save(commit)


class QuestionInline(admin.TabularInline):
    """The set's questions as rows. No delete box: it deleted a question with its students'
    variants and submissions on a plain Save, without the confirmation page (QA). A question is
    deleted from its own page, which refuses while students have work on it."""

    model = Question
    form = QuestionAdminForm
    extra = 0
    can_delete = False
    fields = ["position", "kind", "params", "points", "max_attempts", "attempt_penalty"]


class ProblemSetAdminForm(forms.ModelForm):
    """The API's rules in the admin too: times in order (a late window ending before the due
    time was saved here, after which the API refused every edit of the set, QA), a late penalty
    that is a fraction, and no move to another course once students have work in the set (it
    took their submissions out of their reach and into another course's gradebook, QA)."""

    class Meta:
        model = ProblemSet
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        problem = services.times_problem(cleaned.get("release_at"), cleaned.get("due_at"), cleaned.get("late_until"))
        if problem:
            self.add_error(problem[0], problem[1])
        penalty = cleaned.get("late_penalty")
        if penalty is not None and not 0 <= penalty <= 1:
            self.add_error("late_penalty", "The late penalty is a fraction of the points, from 0 to 1 (0.2: 20 % off).")
        moved = self.instance.pk and "course" in self.changed_data
        if moved and (Variant.objects.filter(question__problem_set=self.instance).exists() or self.instance.extensions.exists()):
            self.add_error(
                "course",
                "Students of this course already have work or extensions in this set: it cannot move to another "
                "course. Create the set in that course instead.",
            )
        return cleaned


@admin.register(ProblemSet)
class ProblemSetAdmin(ModelAdmin):
    form = ProblemSetAdminForm
    list_display = ["title", "course", "release_at", "due_at", "late_until", "late_penalty"]
    list_filter = ["course"]
    search_fields = ["title"]
    inlines = [QuestionInline]

    def save_model(self, request, obj, form, change):
        """Edits go through services.update_problem_set, as in the API: new deadlines or a new
        late penalty rescore the set's graded submissions, with an audit entry."""
        if not change:
            return super().save_model(request, obj, form, change)
        stored = ProblemSet.objects.get(pk=obj.pk)
        services.update_problem_set(stored, {name: form.cleaned_data[name] for name in form.changed_data}, request.user)


@admin.register(Extension)
class ExtensionAdmin(ModelAdmin):
    """Read here; granted and taken back through the API (or services), which rescore and audit."""

    list_display = ["problem_set", "student", "due_at", "late_until", "reason", "granted_by", "granted_at"]
    search_fields = ["student__username", "problem_set__title"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Question)
class QuestionAdmin(ModelAdmin):
    form = QuestionAdminForm

    def save_model(self, request, obj, form, change):
        """Edits are audited as the API audits them (question_edit, old and new values)."""
        from exercises.api import audit_question_edit
        from exercises.serializers import QuestionSerializer

        if not change:
            return super().save_model(request, obj, form, change)
        before = QuestionSerializer(Question.objects.get(pk=obj.pk)).data
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_question_edit(obj, before, request.user)
    list_display = ["__str__", "kind", "points", "max_attempts", "attempt_penalty", "fresh_variant_per_attempt"]
    list_filter = ["kind", "problem_set__course"]
    search_fields = ["kind", "problem_set__title"]


class RecordAdmin(ModelAdmin):
    """Records of what happened (what a student saw and sent, who changed what): never made or
    deleted by hand (adding one was an IntegrityError 500; deleting loses a student's work or
    the audit trail)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Let the students submit these variants again (forget that they saw the solution)")
def reopen_variants(modeladmin, request, queryset):
    """For a worked solution shown by mistake (a wrong due time, say): the variant takes
    submissions again. The student has seen the answers: a decision for the course staff."""
    count = queryset.exclude(solution_seen_at=None).update(solution_seen_at=None)
    modeladmin.message_user(request, f"{count} variant(s) reopened.")


@admin.register(Variant)
class VariantAdmin(RecordAdmin):
    actions = [reopen_variants]
    list_display = ["id", "question", "student", "number", "seed", "generator_version", "solution_seen_at", "created_at"]
    list_filter = ["question__problem_set__course"]
    search_fields = ["student__username"]
    readonly_fields = [
        "question", "student", "number", "seed", "generator_version", "instance", "created_at", "solution_seen_at",
    ]


@admin.action(description="Re-enqueue selected submissions that are waiting or could not be graded")
def requeue_submissions(modeladmin, request, queryset):
    with transaction.atomic():
        sent = grading_errors.send_again(queryset)
    modeladmin.message_user(request, f"{len(sent)} submission(s) re-enqueued (those being graded are left to their worker).")


@admin.register(Submission)
class SubmissionAdmin(RecordAdmin):
    list_display = ["id", "student", "variant", "status", "attempt_number", "score", "late", "submitted_at"]
    list_filter = ["status", "late", "variant__question__problem_set__course"]
    search_fields = ["student__username", "idempotency_key"]
    readonly_fields = [
        "variant", "student", "answers", "idempotency_key", "status", "attempt_number", "raw_score", "score",
        "feedback", "code_runs", "late", "submitted_at", "grading_started_at", "graded_at", "enqueue_count", "claims",
        "error_message", "attempt_released",
    ]
    actions = [requeue_submissions]


@admin.register(AuditEntry)
class AuditEntryAdmin(RecordAdmin):
    list_display = ["created_at", "actor", "course", "action"]
    list_filter = ["action", "course"]
    readonly_fields = ["actor", "course", "action", "details", "created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
