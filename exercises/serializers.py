"""Request and response shapes of the REST API.

Input serializers are strict: unknown keys, values of the wrong JSON type and, on an update,
read-only fields sent with another value than the object's are refused with a 400 naming the
field (DRF would otherwise ignore the first and last and coerce the second, e.g. a number into a
title). Output serializers whitelist what leaves the server: a student's variant is built
from declared fields only, so an instance's answers, alternatives, misconceptions and solution
cannot leak through it even if `services.student_view` grew a key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, date
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder

from autograder.answers import Tolerance
from exercises.models import Course, Extension, Membership, ProblemSet, Question, Submission
from exercises.permissions import is_released
from exercises.services import (
    PARAMS_CHECK_SEEDS,
    REGRADE_FIELDS,
    code_tolerance_problem,
    loose_tolerance_problem,
    mixed_tolerance,
    penalty_notes,
    times_problem,
)
from nncore.problems import CATALOGUE, ParamError
from nncore.problems.code.kind import TypicalBugPasses

logger = logging.getLogger(__name__)

MAX_POINTS = 10_000.0
MAX_POSITION = 10_000
MAX_ATTEMPTS = 1_000
MAX_TOLERANCE = 1e6

# The JSON types each kind of DRF field accepts (before DRF's own, more lenient, parsing).
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.CharField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "an ISO 8601 date-time string"),
)


def _type_error(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None if field.allow_null else "This field may not be null."
    for field_class, types, description in _JSON_TYPES:
        if isinstance(field, field_class):
            wrong_bool = isinstance(value, bool) and bool not in types
            if wrong_bool or not isinstance(value, types):
                return f"Must be {description}; got {type(value).__name__}."
            return None
    return None


def _shown(field: serializers.Field, instance: Any) -> Any:
    """The field's value as a GET of the instance shows it (a related object's id, a time's text)."""
    try:
        attribute = field.get_attribute(instance)
    except SkipField:
        return None
    found = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
    return None if found is None else field.to_representation(attribute)


def _same(sent: Any, shown: Any) -> bool:
    """Whether a value sent is the one shown, as JSON tells them apart (true is not 1)."""
    return isinstance(sent, bool) == isinstance(shown, bool) and sent == shown


class StrictMixin:
    """Refuse unknown keys and wrongly typed values instead of ignoring or coercing them.

    Read-only fields are ignored on create (a client may post a body it got back, `id` and all).
    On an update one whose value differs from the object's is refused, as DRF would silently keep
    the object's; one sent with its current value is taken, so what a GET returned can be PUT or
    PATCHed back. `requester_fields` describe who asks or what an edit did, not the object (a
    course's `role`, an edited problem set's `rescored`): any value of theirs is ignored."""

    requester_fields: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, f in self.fields.items() if not f.read_only}
            errors: dict[str, list[str]] = {}
            for key in data:
                if key not in self.fields:
                    allowed = ", ".join(sorted(writable)) or "none"
                    errors[str(key)] = [
                        serializers.ErrorDetail(f"Unknown field; allowed fields: {allowed}.", code="unknown_field")
                    ]
                elif key in writable:
                    if message := _type_error(self.fields[key], data[key]):
                        errors[str(key)] = [serializers.ErrorDetail(message, code="wrong_type")]
                elif message := self._read_only_change(key, data[key]):
                    errors[str(key)] = [serializers.ErrorDetail(message, code="read_only")]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def _read_only_change(self, name: str, sent: Any) -> str | None:
        """Why a read-only field's value is refused: on an update, it is not the object's own."""
        if self.instance is None or name in self.requester_fields:
            return None
        shown = _shown(self.fields[name], self.instance)
        if _same(sent, shown):
            return None
        current = json.dumps(shown, cls=JSONEncoder)
        return f"{name} is read-only and cannot be changed here; send its current value ({current}) or leave it out."


class ErrorSerializer(serializers.Serializer):
    """Every 4xx body: a readable message and a stable machine code (plus details for some)."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.JSONField(required=False, help_text="per-field messages of a 400")


# --- catalogue ---------------------------------------------------------------------------------


class ParamSchemaSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["int", "float", "choice", "bool", "int_list"])
    default = serializers.JSONField()
    help = serializers.CharField()
    choices = serializers.ListField(child=serializers.JSONField(), required=False)
    minimum = serializers.FloatField(required=False)
    maximum = serializers.FloatField(required=False)


class KindSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    topic = serializers.CharField()
    version = serializers.IntegerField()
    chained = serializers.BooleanField()
    params = ParamSchemaSerializer(many=True)


# --- courses and memberships -------------------------------------------------------------------


class CourseSerializer(StrictMixin, serializers.ModelSerializer):
    requester_fields = ("role",)  # the caller's, so not compared on an edit (whose serializer knows no roles)
    role = serializers.SerializerMethodField(help_text="your role in the course")

    class Meta:
        model = Course
        fields = ["id", "code", "title", "created_at", "role"]
        read_only_fields = ["id", "created_at", "role"]

    @extend_schema_field(serializers.ChoiceField(choices=Membership.Role.choices, allow_null=True))
    def get_role(self, course: Course) -> str | None:
        return self.context.get("roles", {}).get(course.pk)

    def validate_code(self, code: str) -> str:
        """Codes are unique ignoring case (`DEMO` beside `demo` was two courses: which one a roster
        import or a gradebook meant was a guess); the database's constraint is the last word."""
        others = Course.objects.filter(code__iexact=code)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        taken = others.values_list("code", flat=True).first()
        if taken is not None:
            raise serializers.ValidationError(
                f"The course code {taken!r} is taken (codes are compared ignoring case).", code="unique"
            )
        return code


class MembershipSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(
        source="user_id", read_only=True, help_text="the account's id (the {student_id} of a student's variant URL)"
    )
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "role"]
        read_only_fields = fields


class MembershipCreateSerializer(StrictMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)

    def validate_username(self, username: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise serializers.ValidationError(f"No user named {username!r}.", code="unknown_user")
        return user


# --- problem sets and questions ----------------------------------------------------------------


def _date_only(text: str) -> date | None:
    """The date a string names when it has no time of day (2026-12-30, 20261230, 2026-W52-3, each
    of which Django's parser takes as midnight); None for anything else."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class LocalDateTimeField(serializers.DateTimeField):
    """A date-time; one without an offset is read in the server's time zone (AUTOGRADER_TIME_ZONE),
    and refused when that zone skips it or has it twice (a daylight-saving change): DRF would take
    02:30 on the spring-forward night as 03:30 while showing 02:30, and the autumn 02:30 as the
    first of the two. A date without a time of day is refused too: Django reads it as midnight,
    a day early for a deadline meant to last the whole day."""

    default_error_messages = {
        "date_only": "{value} has no time of day; give one, e.g. {day}T23:59.",
        "skipped": "{value} does not exist in {zone} (the clocks go forward then); give the time with its offset.",
        "twice": "{value} happens twice in {zone} (the clocks go back then); give its offset: {first} or {second}.",
        "out_of_range": "{value} is too near the ends of the calendar to convert between time zones; give a real date.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str) and (day := _date_only(value)) is not None:
            self.fail("date_only", value=value, day=day.isoformat())
        return super().to_internal_value(value)

    def enforce_timezone(self, value):
        try:
            return self._in_zone(value)
        except OverflowError:  # 0001-01-01T00:00 east of UTC is before year 1 in UTC
            self.fail("out_of_range", value=value.isoformat(timespec="minutes"))

    def _in_zone(self, value):
        if value.tzinfo is None and (zone := self.default_timezone()) is not None:
            first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
            if first.utcoffset() != second.utcoffset():
                shown, name = value.isoformat(timespec="minutes"), str(zone)
                if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
                    self.fail("skipped", value=shown, zone=name)
                self.fail("twice", value=shown, zone=name, first=first.isoformat(timespec="minutes"),
                          second=second.isoformat(timespec="minutes"))
        return super().enforce_timezone(value)


# A model serializer's date-time fields, read and shown as LocalDateTimeField.
LOCAL_TIME_MAPPING = {**serializers.ModelSerializer.serializer_field_mapping, models.DateTimeField: LocalDateTimeField}


class ProblemSetSerializer(StrictMixin, serializers.ModelSerializer):
    serializer_field_mapping = LOCAL_TIME_MAPPING
    late_penalty = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    released = serializers.SerializerMethodField()

    class Meta:
        model = ProblemSet
        fields = ["id", "course", "title", "release_at", "due_at", "late_until", "late_penalty", "released"]
        read_only_fields = ["id", "course", "released"]

    def get_released(self, problem_set: ProblemSet) -> bool:
        return is_released(problem_set)

    def validate(self, attrs: dict) -> dict:
        def current(name: str):
            return attrs.get(name, getattr(self.instance, name, None))

        problem = times_problem(current("release_at"), current("due_at"), current("late_until"))
        if problem:
            raise serializers.ValidationError({problem[0]: problem[1]})
        return attrs


def validate_tolerance(value: Any) -> dict | None:
    """None (the kind's default) or {"rtol", "atol"} / {"sigfigs"} as autograder.answers reads it."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise serializers.ValidationError(
            'Must be null or an object such as {"rtol": 0.01, "atol": 1e-8} or {"sigfigs": 3}.'
        )
    if not value:
        raise serializers.ValidationError("Name rtol/atol or sigfigs, or send null for the kind's default.")
    mixed = mixed_tolerance(value)
    if mixed:
        raise serializers.ValidationError(mixed)
    try:
        Tolerance.coerce(value)
    except (TypeError, ValueError) as error:
        raise serializers.ValidationError(str(error)) from None
    if any(v >= MAX_TOLERANCE for v in value.values()):
        raise serializers.ValidationError(f"Tolerance values must be below {MAX_TOLERANCE:g}.")
    return dict(value)


def validate_kind_params(kind: str, params: Any) -> dict:
    """The kind's parameters with defaults filled in; a ParamError becomes a 400 on `params`."""
    if not isinstance(params, Mapping):
        raise serializers.ValidationError({"params": "Must be an object mapping parameter names to values."})
    generator = CATALOGUE[kind]
    try:
        values = generator.validate_params(dict(params))
        generator.check_new_params(values)
        for seed in range(PARAMS_CHECK_SEEDS):  # parameters that admit no instance: refused now, not at first use
            try:
                generator.generate(values, seed)
            except TypicalBugPasses as passing:  # the generator's redraws did not help
                raise ParamError(
                    f"with these parameters the typical bug {passing.bug['name']!r} passes every test case "
                    f"(seed {seed}), so a student with that bug would get full marks; use a smaller "
                    "rtol/atol or settings that tell it apart"
                ) from None
    except ParamError as error:
        raise serializers.ValidationError({"params": serializers.ErrorDetail(str(error), code="bad_params")}) from None
    except Exception as error:  # a generator that cannot draw would fail every student later
        logger.exception("kind %s failed to generate with %s", kind, params)
        raise serializers.ValidationError(
            {
                "params": serializers.ErrorDetail(
                    f"Kind {kind!r} produces no question with these parameters "
                    f"({type(error).__name__}: {error}).",
                    code="bad_params",
                )
            }
        ) from None
    return values


class ProblemSetEditedSerializer(ProblemSetSerializer):
    """An edited problem set, with how many graded submissions its new deadlines rescored. The
    input of a PUT or PATCH too, so that its answer can be sent back as it came (QA: "Unknown
    field" for `rescored`)."""

    # what the last edit did, not part of the set: any value sent is ignored, like a course's role
    requester_fields = ("rescored",)
    rescored = serializers.IntegerField(read_only=True, help_text="scores changed by new due/late times or late penalty")

    class Meta(ProblemSetSerializer.Meta):
        fields = [*ProblemSetSerializer.Meta.fields, "rescored"]
        read_only_fields = [*ProblemSetSerializer.Meta.read_only_fields, "rescored"]


class QuestionSerializer(StrictMixin, serializers.ModelSerializer):
    kind = serializers.CharField(max_length=60, help_text="an id from /api/kinds/")
    params = serializers.JSONField(required=False, help_text="the kind's parameters; see /api/kinds/{id}/")
    position = serializers.IntegerField(min_value=0, max_value=MAX_POSITION, required=False)
    points = serializers.FloatField(min_value=0.0, max_value=MAX_POINTS, required=False)
    max_attempts = serializers.IntegerField(
        min_value=1, max_value=MAX_ATTEMPTS, allow_null=True, required=False, help_text="null: unlimited"
    )
    attempt_penalty = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    tolerance = serializers.JSONField(allow_null=True, required=False, help_text="null: the kind's default")
    kind_title = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = [
            "id", "problem_set", "position", "kind", "kind_title", "params", "points", "max_attempts",
            "attempt_penalty", "tolerance", "fresh_variant_per_attempt", "error_carried_forward",
            "per_entry_credit", "all_or_nothing",
        ]
        read_only_fields = ["id", "problem_set", "kind_title"]

    def get_kind_title(self, question: Question) -> str | None:
        kind = CATALOGUE.get(question.kind)
        return kind.title if kind else None

    def to_representation(self, question: Question) -> dict:
        """With context student=True, without the parameters the kind keeps from students."""
        data = super().to_representation(question)
        kind = CATALOGUE.get(question.kind)
        if self.context.get("student") and kind is not None and isinstance(data.get("params"), dict):
            data["params"] = {k: v for k, v in data["params"].items() if k not in kind.private_params}
        return data

    def validate_kind(self, kind: str) -> str:
        if kind not in CATALOGUE:
            raise serializers.ValidationError(
                f"Unknown kind {kind!r}; known kinds: {', '.join(sorted(CATALOGUE))}.", code="unknown_kind"
            )
        return kind

    def validate_tolerance(self, value: Any) -> dict | None:
        return validate_tolerance(value)

    def validate(self, attrs: dict) -> dict:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        if "kind" in attrs or "params" in attrs:
            same_kind = self.instance is not None and kind == self.instance.kind
            params = attrs.get("params", self.instance.params if same_kind else {})
            if self.context.get("merge_params") and same_kind and isinstance(params, dict) and isinstance(self.instance.params, dict):
                params = {**self.instance.params, **params}  # the API's PATCH: only the params it names change
            attrs["params"] = validate_kind_params(kind, params)
        tolerance = attrs.get("tolerance", getattr(self.instance, "tolerance", None))
        problem = code_tolerance_problem(kind, tolerance, changed="tolerance" in attrs or "kind" in attrs)
        if problem is None and ("tolerance" in attrs or "params" in attrs):  # looser than the params' own
            params = attrs.get("params", getattr(self.instance, "params", {}))
            problem = loose_tolerance_problem(kind, params, tolerance)
        if problem:
            raise serializers.ValidationError({"tolerance": [serializers.ErrorDetail(problem, code="bad_tolerance")]})
        return attrs


class ExtensionSerializer(serializers.ModelSerializer):
    serializer_field_mapping = LOCAL_TIME_MAPPING  # granted_at
    student = serializers.IntegerField(source="student_id", read_only=True)
    username = serializers.CharField(source="student.username", read_only=True)
    due_at = LocalDateTimeField(read_only=True)
    late_until = LocalDateTimeField(read_only=True, allow_null=True, help_text="null: the set's late window, if it ends later")
    granted_by = serializers.CharField(source="granted_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Extension
        fields = ["student", "username", "due_at", "late_until", "reason", "granted_by", "granted_at"]
        read_only_fields = fields


class ExtensionGrantedSerializer(ExtensionSerializer):
    """A granted extension, with how many classmates have already opened a worked solution of
    the set (they could hand the extended student the answers)."""

    solutions_seen = serializers.IntegerField(
        read_only=True, help_text="students who have already opened a worked solution of this set"
    )

    class Meta(ExtensionSerializer.Meta):
        fields = [*ExtensionSerializer.Meta.fields, "solutions_seen"]
        read_only_fields = fields


class ExtensionGrantSerializer(StrictMixin, serializers.Serializer):
    """Who gets which deadlines; a student who already has an extension gets these instead."""

    username = serializers.CharField(max_length=150, help_text="a student of the course")
    due_at = LocalDateTimeField(help_text="their due time (never earlier than the set's: the later one counts)")
    late_until = LocalDateTimeField(
        required=False, allow_null=True, help_text="end of their late window; null: the set's, if it ends later"
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("late_until") and attrs["late_until"] < attrs["due_at"]:
            raise serializers.ValidationError({"late_until": "The late window must end after the due time."})
        return attrs


# --- variants, submissions, solutions ----------------------------------------------------------


class AnswerFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    shape = serializers.ListField(child=serializers.IntegerField())
    type = serializers.CharField()
    choices = serializers.JSONField(required=False)
    depends_on = serializers.ListField(child=serializers.CharField(), required=False)


class VariantSerializer(serializers.Serializer):
    """A student's own variant: the prompt and fields only, never answers or solution."""

    question = serializers.IntegerField()
    variant = serializers.IntegerField(help_text="variant number (> 1 with a fresh variant per attempt)")
    kind = serializers.CharField()
    version = serializers.IntegerField()
    prompt = serializers.JSONField(help_text="{text (LaTeX), data}")
    diagram = serializers.JSONField(allow_null=True)
    fields = AnswerFieldSerializer(many=True)
    precision = serializers.CharField(
        help_text="how precise a number must be to count as right, in words; empty for code and choices"
    )
    points = serializers.FloatField()
    max_attempts = serializers.IntegerField(allow_null=True)
    attempt_penalty = serializers.FloatField(help_text="fraction of the points lost per earlier counted attempt")
    all_or_nothing = serializers.BooleanField(
        help_text="true: the points only for a fully right answer (every field, every test case), else 0"
    )
    attempts_used = serializers.IntegerField(help_text="graded attempts")
    attempts_pending = serializers.IntegerField(help_text="submissions waiting to be graded: each will count")
    attempts_left = serializers.IntegerField(
        allow_null=True, help_text="null: unlimited; submissions being graded are already taken off"
    )
    release_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    late_until = serializers.DateTimeField(allow_null=True)
    late_penalty = serializers.FloatField()
    solution_available = serializers.BooleanField()
    solution_seen_at = serializers.DateTimeField(
        allow_null=True, help_text="when the student fetched the worked solution: the variant takes no more submissions"
    )
    submissions_url = serializers.CharField()
    solution_url = serializers.CharField()


class StaffVariantSerializer(VariantSerializer):
    """A student's variant as the course's staff see it: what the student sees, plus the
    reference answers, tolerance, misconceptions and worked solution, and how it was drawn."""

    student = serializers.IntegerField()
    username = serializers.CharField()
    seed = serializers.IntegerField()
    generator_version = serializers.IntegerField()
    answers = serializers.JSONField(help_text="reference answers, by field name")
    tolerance = serializers.JSONField()
    misconceptions = serializers.JSONField(help_text="typical mistakes with the answers they produce")
    solution = serializers.JSONField(help_text="the worked solution, step by step")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "array", "items": {}}],
            "nullable": True,
        },
        "example": {"a_3": "0.832", "W_1": [[1, 2], [3, 4]]},
    }
)
class AnswersField(serializers.Field):
    """{field name: value}: a string as typed, a number, or (nested) lists of them; null = blank.

    Only the outer type is checked here; `services.submit` checks names, values and size
    (bad_format 400, too_large 413) against the student's own variant.
    """

    default_error_messages = {"bad_format": "Must be an object mapping answer field names to values."}

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, Mapping):
            self.fail("bad_format")
        return dict(data)

    def to_representation(self, value: Any) -> Any:
        return value


class SubmissionCreateSerializer(StrictMixin, serializers.Serializer):
    answers = AnswersField()
    variant = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="the variant number these answers are for (from GET .../variant/); a stale one is 409 stale_variant",
    )


class SubmissionAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Submission.Status.choices)
    url = serializers.CharField(help_text="poll this until status is graded, rejected or error")


class SubmissionSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="variant.question_id", read_only=True)
    variant = serializers.IntegerField(source="variant.number", read_only=True)
    student = serializers.CharField(source="student.username", read_only=True)
    points = serializers.FloatField(source="variant.question.points", read_only=True)
    answers = AnswersField(read_only=True, help_text="exactly as submitted")
    feedback = serializers.JSONField(read_only=True, help_text="{status, score, fields: {name: feedback}, message}")
    penalties = serializers.SerializerMethodField(help_text="why score is below raw_score × points, one sentence each")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id", "url", "question", "variant", "student", "status", "attempt_number", "raw_score",
            "score", "points", "late", "penalties", "answers", "feedback", "submitted_at", "graded_at",
        ]
        read_only_fields = fields

    def get_penalties(self, submission: Submission) -> list[str]:
        return penalty_notes(submission, self.context.setdefault("due_times", {}))

    def get_url(self, submission: Submission) -> str:
        path = reverse("api-submission-detail", args=[submission.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class HiddenCasesSerializer(serializers.Serializer):
    submission = serializers.IntegerField()
    withheld = serializers.BooleanField(help_text="whether the student's feedback leaves hidden cases' details out")
    kept = serializers.BooleanField(
        help_text="false: the run was not kept (too large to store, or graded before runs were kept), so nothing can be shown"
    )
    fields = serializers.JSONField(
        help_text="{code field: its feedback with every case in full (steps with inputs, message, traceback) "
        "and everything the code printed}; {} when nothing is withheld"
    )
    message = serializers.CharField()


class SolutionSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    variant = serializers.IntegerField()
    solution = serializers.JSONField(help_text="the worked solution, step by step")
    answers = serializers.JSONField(help_text="the reference answers {field name: value}")


# --- gradebook and regrade ---------------------------------------------------------------------


class GradebookQuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Question
        fields = ["id", "position", "kind", "points"]
        read_only_fields = fields


class GradebookRowSerializer(serializers.Serializer):
    student_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(help_text="the student's full name; empty when none is set")
    enrolled = serializers.BooleanField(
        help_text="a student of the course now (false: left the course, or staff who tried the questions)"
    )
    scores = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="{question id: best score, null if never graded}"
    )
    total = serializers.FloatField()
    ungraded = serializers.IntegerField(help_text="submissions waiting to be graded or that failed on our side")
    late = serializers.IntegerField(help_text="graded submissions made after the due time")


class GradebookSerializer(serializers.Serializer):
    problem_set = serializers.IntegerField()
    title = serializers.CharField()
    questions = GradebookQuestionSerializer(many=True)
    rows = GradebookRowSerializer(many=True, help_text="one row per student")


class RegradeChangesSerializer(StrictMixin, serializers.ModelSerializer):
    points = serializers.FloatField(min_value=0.0, max_value=MAX_POINTS, required=False)
    attempt_penalty = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    tolerance = serializers.JSONField(allow_null=True, required=False)
    max_attempts = serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS, allow_null=True, required=False)

    class Meta:
        model = Question
        fields = list(REGRADE_FIELDS)
        extra_kwargs = {name: {"required": False} for name in REGRADE_FIELDS}

    def validate_tolerance(self, value: Any) -> dict | None:
        return validate_tolerance(value)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(
                f"Name at least one change among: {', '.join(REGRADE_FIELDS)}.", code="no_changes"
            )
        return attrs


class RegradeRequestSerializer(StrictMixin, serializers.Serializer):
    changes = RegradeChangesSerializer()
    apply = serializers.BooleanField(default=False, help_text="false: preview only")

    def get_initial(self) -> dict:
        """The browsable API's form starts from no change at all. Its default, every field at its
        empty value, posted as is would also reset what the instructor did not touch
        (max_attempts null is unlimited attempts, the credit options off)."""
        return {"changes": {}, "apply": False}


class RegradeRowSerializer(serializers.Serializer):
    submission = serializers.IntegerField()
    student = serializers.IntegerField(help_text="user id")
    username = serializers.CharField()
    old = serializers.FloatField(allow_null=True)
    new = serializers.FloatField(allow_null=True)


class NotRegradedRowSerializer(serializers.Serializer):
    submission = serializers.IntegerField()
    student = serializers.IntegerField(help_text="user id")
    username = serializers.CharField()


class RegradeResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    changes = serializers.DictField()
    affected = RegradeRowSerializer(many=True, required=False, help_text="preview: whose score would change")
    regraded = serializers.IntegerField(required=False, help_text="apply: how many submissions' scores changed")
    not_regraded = NotRegradedRowSerializer(
        many=True,
        help_text="graded code submissions a tolerance change leaves as they are: their runs were not kept "
        "(results over 256 KB, or graded before December 2026), and a regrade never runs code",
    )


class RerunRequestSerializer(StrictMixin, serializers.Serializer):
    apply = serializers.BooleanField(default=False, help_text="false: preview only")


class RerunRowSerializer(NotRegradedRowSerializer):
    hit = serializers.ListField(child=serializers.CharField(), help_text="the limits its run hit: time_limit_s, memory_mb")
    ran_under = serializers.DictField(help_text="{time_limit_s, memory_mb} it ran under; null where its run did not record one")


class RerunResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    limits = serializers.DictField(help_text="the question's limits now, which the re-runs apply")
    submissions = RerunRowSerializer(
        many=True, help_text="graded submissions that ran out of time or memory under a lower limit (applied: sent to re-run)"
    )
    pending = serializers.IntegerField(help_text="re-runs asked for and not written yet")


class GradingErrorsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="submissions of this question that could not be graded (status error)")
    retrying = serializers.IntegerField(help_text="of those, how many the service still tries again by itself")
    latest_cause = serializers.CharField(allow_blank=True, help_text="the latest one's cause, for the staff (may name internals); '' when none")
    latest_at = serializers.DateTimeField(allow_null=True, help_text="when its grading started")


class GradeAgainRequestSerializer(StrictMixin, serializers.Serializer):
    """An empty object: sending them again takes no options."""


class GradeAgainResultSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="how many were queued for grading again")
    submissions = NotRegradedRowSerializer(many=True, help_text="the submissions queued")


# --- auth --------------------------------------------------------------------------------------


class TokenRequestSerializer(StrictMixin, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text='send as "Authorization: Token <token>"')


def first_error(detail: Any, prefix: str = "") -> tuple[str, str]:
    """The first message (prefixed with its field path) and code of a ValidationError's detail."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            label = "" if key == api_settings.NON_FIELD_ERRORS_KEY else str(key)
            return first_error(value, f"{prefix}.{label}" if prefix and label else prefix or label)
    elif isinstance(detail, list):
        for item in detail:
            return first_error(item, prefix)
    message = str(detail)
    code = getattr(detail, "code", None) or "invalid"
    return (f"{prefix}: {message}" if prefix else message), code

