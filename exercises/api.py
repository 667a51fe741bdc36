"""REST API views: check access (exercises.permissions), validate input (exercises.serializers),
call exercises.services. No grading logic lives here.

Conventions (repeated in the OpenAPI description of each operation):
- Anonymous requests get 401 (with `WWW-Authenticate: Token`); schema and docs are public.
- Objects of a course you are not a member of, problem sets not yet released (for students) and
  other students' submissions are 404, never 403, so the API does not leak what exists. Objects
  you can see but may not act on are 403.
- Every 4xx body is {"detail": message, "code": machine code}; 400s from validation also carry
  "errors" (DRF's per-field messages).
- Bodies are JSON objects. Larger than DATA_UPLOAD_MAX_MEMORY_SIZE: 413; empty: 400 (empty_body);
  malformed, NaN/Infinity, numbers beyond float range, a key twice in one object, nesting deeper
  than MAX_JSON_DEPTH: 400 (parse_error); unknown keys and wrongly typed values: 400.
- Lists are pages of ?limit= (1 to MAX_PAGE_SIZE, default 100; a larger limit is taken as the
  maximum) from ?offset=; a value that is no whole number is 400 (bad_query, with `parameter`).
- POST /api/auth/token/ is throttled per client address and username after too many failed sign-ins,
  here or on the sign-in pages (429 throttled, with Retry-After; exercises.sign_in_limits).
- POST /api/questions/{id}/submissions/ answers 202 Accepted with {id, status, url} and a
  Location header to poll. Repeating it with the same `Idempotency-Key` header answers 200 with
  the same body (the submission's current status) and `Idempotent-Replayed: true`; the same key
  with different answers is 409 (idempotency_conflict).
"""

from __future__ import annotations

import codecs
import json
import logging
import math
import re
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import TooManyFieldsSent
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.http import Http404, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import (
    APIException,
    NotFound,
    ParseError,
    Throttled,
    UnsupportedMediaType,
    ValidationError,
)
from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from autograder.db_connections import connection_lost
from exercises import extensions, grading_errors, hidden_cases, reruns, services, sign_in_limits
from exercises.models import AuditEntry, Course, Membership, Question, Submission
from exercises.permissions import (
    INSTRUCTOR,
    STUDENT,
    course_student_named,
    filtered_submissions,
    is_last_instructor,
    member_course,
    problem_sets_for,
    question_student,
    require_course_creator,
    require_instructor,
    require_staff,
    require_student,
    submissions_for,
    visible_problem_set,
    visible_question,
    visible_submission,
)
from exercises.serializers import (
    CourseSerializer,
    ErrorSerializer,
    ExtensionGrantedSerializer,
    ExtensionGrantSerializer,
    ExtensionSerializer,
    GradeAgainRequestSerializer,
    GradeAgainResultSerializer,
    GradebookSerializer,
    GradingErrorsSerializer,
    HiddenCasesSerializer,
    KindSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    ProblemSetEditedSerializer,
    ProblemSetSerializer,
    QuestionSerializer,
    RegradeRequestSerializer,
    RegradeResultSerializer,
    RerunRequestSerializer,
    RerunResultSerializer,
    SolutionSerializer,
    StaffVariantSerializer,
    SubmissionAcceptedSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    VariantSerializer,
    first_error,
)
from nncore.problems import CATALOGUE, list_kinds

logger = logging.getLogger(__name__)
MAX_JSON_DEPTH = 32
MAX_INT_DIGITS = 308  # beyond this an integer does not fit a float64
IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,200}$")  # printable ASCII, at most the model's 200

# services.SubmissionRefused codes -> HTTP status.
REFUSAL_STATUS = {
    "not_released": status.HTTP_403_FORBIDDEN,
    "closed": status.HTTP_403_FORBIDDEN,
    "no_attempts_left": status.HTTP_409_CONFLICT,
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "bad_format": status.HTTP_400_BAD_REQUEST,
    "idempotency_conflict": status.HTTP_409_CONFLICT,
    "solution_seen": status.HTTP_409_CONFLICT,
    "unreadable_answers": status.HTTP_400_BAD_REQUEST,
    "stale_variant": status.HTTP_409_CONFLICT,
}


# --- errors, parsing, rendering ----------------------------------------------------------------


class ApiError(APIException):
    """A refusal with an explicit status, message, code and optional extra keys."""

    def __init__(self, status_code: int, detail: str, code: str, **extra: Any) -> None:
        self.status_code = status_code
        super().__init__(detail, code)
        self.extra = extra


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with every body reshaped to {"detail", "code"} (+ "errors" for 400s)."""
    if isinstance(exc, TooManyFieldsSent):  # a form body with more fields than Django parses
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return Response(
            {"detail": f"The request body has more than {limit} form fields.", "code": "too_many_fields"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, services.VariantUnavailable):
        return Response({"detail": str(exc), "code": "variant_unavailable"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, (OperationalError, InterfaceError)) and connection_lost():
        # the database went away mid-request; a write may or may not have landed before it did
        request = context["request"]
        logger.error("database connection lost during %s %s", request.method, request.path, exc_info=exc)
        return Response(
            {
                "detail": "The connection to the database was lost; this request may not have completed. "
                "Try again in a few seconds (a submission: with the same Idempotency-Key, so it is not stored twice).",
                "code": "unavailable",
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, OperationalError) and "database is locked" in str(exc):
        # SQLite waited its timeout for another writer: nothing of this request was written
        request = context["request"]
        logger.warning("database busy during %s %s: %s", request.method, request.path, exc)
        return Response(
            {"detail": "The database is busy; this request was not carried out. Try again in a few seconds.", "code": "busy"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "2"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        detail, code = first_error(exc.detail)
        response.data = {"detail": detail, "code": code, "errors": response.data}
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "code": str(code), **getattr(exc, "extra", {})}
    return response


def bad_request(request, exception=None) -> HttpResponse:
    """Django's 400 (a Host header not in DJANGO_ALLOWED_HOSTS, a malformed request, a form over
    the size limit) in the API's error form instead of an HTML page; for the web UI's htmx
    requests, a message in the result box, which the JSON replaced (later submits then had no
    target)."""
    if request.headers.get("HX-Request") == "true" and not request.path.startswith("/api/"):
        from exercises.web import result_refusal  # the web module imports this one

        return result_refusal(
            request,
            "The service could not take this form (too large? Very long code or text): nothing was submitted. "
            "Shorten it and submit again.",
            400,
        )
    return JsonResponse({"detail": "Bad request: the service cannot take this request.", "code": "bad_request"}, status=400)


def server_error(request) -> JsonResponse:
    """Django's 500, when something slipped past every check, in the API's error form."""
    detail = "Internal error; the request may not have completed. It was logged; try again in a moment."
    return JsonResponse({"detail": detail, "code": "server_error"}, status=500)


@csrf_exempt  # changes nothing; token clients send no CSRF cookie and must get this JSON, not a 403
def api_not_found(request, *args, **kwargs) -> HttpResponse:
    """Any /api/ URL no route matches: a 404 in the API's error format, never Django's HTML page.

    A URL that lacks only its trailing slash is redirected for GET and HEAD; for other methods the
    reply names the right URL instead, because a redirected POST arrives as a GET and the
    submission in its body would be silently dropped.
    """
    path = request.path_info
    if not path.endswith("/") and _is_api_route(path + "/"):
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        detail = f"No API endpoint at {request.path}: API URLs end with a slash ({request.method} {request.path}/)."
    else:
        detail = f"No API endpoint at {request.path}."
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)


def _is_api_route(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer with {len(text)} digits is too large")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is outside the float range")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON; numbers must be finite")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """An object's members; ValueError for a key it has twice (json keeps the last one silently:
    an answer sent twice was graded on whichever came last)."""
    members = dict(pairs)
    if len(members) < len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= 60 else key[:60] + "..."
                raise ValueError(f"the key {shown!r} appears twice in one object")
            seen.add(key)
    return members


def json_problem(value: Any) -> str | None:
    """What is wrong with parsed JSON that the parser accepts: nesting deeper than
    MAX_JSON_DEPTH, NUL characters (PostgreSQL cannot store them) or lone surrogates ("\\ud800":
    not Unicode text; stored, the row could never be rendered again). Iterative, no recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "strings must not contain NUL (\\u0000) characters"
            if not services.is_unicode_text(item):
                return "strings must not contain lone surrogates (\\ud800-\\udfff): they are not text"
            continue
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            item = list(item.values())
        if isinstance(item, list):
            if depth > MAX_JSON_DEPTH:
                return f"nested deeper than {MAX_JSON_DEPTH} levels"
            stack.extend((child, depth + 1) for child in item)
    return None


class SafeJSONParser(JSONParser):
    """JSON without NaN/Infinity, out-of-range numbers, NUL characters, duplicate keys or absurd
    nesting (each a 400, never a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        if not _text_encoding(encoding):  # zlib, rot13 (Django already ignores names Python does not know)
            raise ParseError(f"JSON parse error - unsupported charset {encoding!r} (send UTF-8)")
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(
                text,
                parse_constant=_reject_constant,
                parse_int=_parse_int,
                parse_float=_parse_float,
                object_pairs_hook=_unique_keys,
            )
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels") from None
        except ValueError as error:  # includes UnicodeDecodeError and json.JSONDecodeError
            raise ParseError(f"JSON parse error - {error}") from None
        problem = json_problem(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


def _text_encoding(name: str) -> bool:
    """Whether `name` is a codec from bytes to text (Content-Type's charset may name any codec)."""
    try:
        return codecs.lookup(name)._is_text_encoding
    except LookupError:
        return False


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        return json.dumps(data).encode(self.charset)


def _check_body(request) -> None:
    """413 before reading an oversized body (DRF would otherwise read it unbounded or 500)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "The Content-Length header is not a number.", "bad_content_length") from None
    if length < 0:
        raise ApiError(400, "The Content-Length header is negative.", "bad_content_length")
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        raise ApiError(
            413,
            f"The request body has {length} bytes; the limit is {limit} bytes.",
            "too_large",
            limit=limit,
        )


def _require_body(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length == 0:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            raise ApiError(
                411, "Chunked request bodies are not read; send the body with a Content-Length header.", "length_required"
            )
        raise ApiError(400, "The request body is empty; send a JSON object.", "empty_body")
    if not request.content_type:
        raise UnsupportedMediaType("", detail="Set Content-Type: application/json.")


MAX_PAGE_SIZE = 1000


class Pagination(LimitOffsetPagination):
    """?limit=&offset= pages ({count, next, previous, results}): 100 items by default, at most
    MAX_PAGE_SIZE (a larger limit is taken as MAX_PAGE_SIZE, as LMS APIs cap a page size: the
    page's `next` has the rest, and `count` says how many there are). A limit or offset that is no
    whole number (or a limit under 1) is a 400 bad_query naming it; DRF silently used the default,
    so a script sending ?limit=all got 100 rows and no hint why."""

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        limit = query_number(request, self.limit_query_param, minimum=1, cap=self.max_limit)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return query_number(request, self.offset_query_param, minimum=0) or 0

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["description"] = (
                    f"Items per page, 1 to {self.max_limit}; default {self.default_limit}. A larger "
                    f"limit is taken as {self.max_limit} (follow `next` for the rest). Not a whole "
                    "number, or under 1: 400 bad_query."
                )
                parameter["schema"]["minimum"] = 1
            elif parameter["name"] == self.offset_query_param:
                parameter["description"] = "How many items to skip; default 0. Not a whole number: 400 bad_query."
                parameter["schema"]["minimum"] = 0
        return parameters


def query_number(request, name: str, minimum: int, cap: int | None = None) -> int | None:
    """The query parameter `name` as a whole number of at least `minimum` (None when absent or
    empty); a 400 bad_query naming it otherwise. With `cap`, any larger whole number, however
    long, is `cap` (?limit=99999999999999999999 was a 400 where the docs promise the maximum)."""
    text = (request.query_params.get(name) or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        text = text.lstrip("0") or "0"  # zero-padded: the same number
        if cap is not None and len(text) > 18:
            return cap
    if not (text.isascii() and text.isdigit() and len(text) <= 18) or int(text) < minimum:
        shown = text if len(text) <= 40 else text[:40] + "..."
        at_most = " and at most 999999999999999999" if text.isascii() and text.isdigit() else ""
        raise ApiError(
            400, f"{name} must be a whole number of at least {minimum}{at_most}, not {shown!r}.", "bad_query", parameter=name
        )
    return int(text)


class ApiMetadata(SimpleMetadata):
    """OPTIONS: the view's name, description and media types, without DRF's "actions" (the
    writable fields), which DRF finds by calling get_object(): these views resolve their objects
    through exercises.permissions instead, so that call failed with a 500."""

    def determine_actions(self, request, view) -> dict:
        return {}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema of an operation, plus the refusals every operation shares and no
    @extend_schema names one by one: 406 for an Accept header it cannot satisfy, 413 for a body
    over the limit, and on operations that take a body 411 (chunked, no Content-Length), 415
    (not JSON) and 400 (empty or malformed body); a paginated list's 400 bad_query for a bad
    ?limit= or ?offset=. (405 has no place here: an operation the schema lists takes its method.)"""

    COMMON = {
        "406": "not_acceptable: no format the Accept header names is served here",
        "413": "too_large: the request body is over the limit (AUTOGRADER_MAX_BODY_BYTES)",
    }
    WITH_BODY = {
        "400": "empty_body, parse_error (malformed JSON, NaN, a key twice...) or invalid fields",
        "411": "length_required: a chunked body without Content-Length",
        "415": "unsupported_media_type: send Content-Type: application/json",
    }
    BAD_QUERY = "bad_query: ?limit= or ?offset= is not a whole number (limit under 1)"

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        extra = dict(self.COMMON)
        if self.method in ("POST", "PUT", "PATCH"):
            extra.update(self.WITH_BODY)
        if self.method == "GET" and self._is_list_view() and self._get_paginator():
            if "400" in responses:
                described = responses["400"].get("description", "")
                responses["400"]["description"] = f"{described}; {self.BAD_QUERY}" if described else self.BAD_QUERY
            else:
                extra["400"] = self.BAD_QUERY
        for code, description in extra.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(OpenApiResponse(ErrorSerializer, description=description), code)
        return dict(sorted(responses.items()))


class ApiView(GenericAPIView):
    # Base of every view: token then session auth from settings (exercises.authentication, so
    # anonymous is 401), strict JSON, our errors.
    # (A comment, not a docstring: drf-spectacular would show it on every operation.)

    permission_classes = [IsAuthenticated]
    parser_classes = [SafeJSONParser]
    schema = ApiAutoSchema()
    role: str | None = None  # the user's role in the object's course, once a handler looked it up

    def student_context(self) -> dict:
        """Serializer context saying whether the user is a student (who sees less)."""
        return {"student": self.role == STUDENT}

    def get_serializer_context(self) -> dict:
        # also for the forms the browsable API pre-fills with the object after the handler ran
        return {**super().get_serializer_context(), **self.student_context()}

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to ?format=xlsx: a bare "Not found."
            asked = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE) or self.format_kwarg
            formats = ", ".join(sorted({renderer.format for renderer in self.get_renderers()}))
            raise NotFound(f"No format {asked!r} here; the formats are {formats}.", code="unknown_format") from None
    pagination_class = Pagination
    metadata_class = ApiMetadata

    def get_exception_handler(self):
        return api_exception_handler

    def get_queryset(self):
        # Views resolve their objects through exercises.permissions; DRF's browsable API still
        # asks list views for a queryset (to build filter forms, of which there are none).
        return []

    def initial(self, request, *args, **kwargs):
        _check_body(request)
        super().initial(request, *args, **kwargs)
        # only where the view takes the method: elsewhere DRF's 405 is the answer, not "send a body"
        if request.method in ("POST", "PUT", "PATCH") and hasattr(self, request.method.lower()):
            _require_body(request)

    def url(self, name: str, *args: Any) -> str:
        return self.request.build_absolute_uri(reverse(name, args=args))

    def paginated(self, items, serializer_class, **context: Any) -> Response:
        page = self.paginate_queryset(items)
        data = serializer_class(page, many=True, context={"request": self.request, **context}).data
        return self.get_paginated_response(data)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    meaning = {
        400: "invalid input",
        401: "not authenticated",
        403: "visible but not allowed",
        404: "no such object (or not visible to you)",
        409: "conflict",
        413: "body too large",
        503: "unavailable: the database connection was lost (retry after Retry-After seconds, a "
        "submission with the same Idempotency-Key), or, for a variant, the question's generator failed",
    }
    return {c: OpenApiResponse(ErrorSerializer, description=meaning.get(c, "")) for c in (401, *codes, 503)}


# --- catalogue ---------------------------------------------------------------------------------


class KindListView(ApiView):
    """The catalogue of problem generators (any authenticated user)."""

    serializer_class = KindSerializer

    @extend_schema(summary="The problem generators and their parameters", responses={200: KindSerializer(many=True), **errors()})
    def get(self, request):
        return self.paginated(list_kinds(), KindSerializer)


class KindDetailView(ApiView):
    """One generator: its description and parameter schema."""

    serializer_class = KindSerializer

    @extend_schema(summary="One generator's parameter schema", responses={200: KindSerializer, **errors(404)})
    def get(self, request, kind_id: str):
        kind = CATALOGUE.get(kind_id)
        if kind is None:
            raise ApiError(404, f"Unknown kind {kind_id!r}; known kinds: {', '.join(sorted(CATALOGUE))}.", "not_found")
        return Response(KindSerializer(kind.schema()).data)


# --- courses and memberships -------------------------------------------------------------------


def create_course(user, data: dict) -> Course:
    """A new course whose creator is its first instructor."""
    try:
        with transaction.atomic():
            course = Course.objects.create(**data)
            Membership.objects.create(user=user, course=course, role=INSTRUCTOR)
    except IntegrityError:
        raise ApiError(400, f"The course code {data.get('code')!r} is taken (codes are compared ignoring case).", "unique") from None
    return course


def set_membership(course: Course, user, role: str, actor=None) -> tuple[Membership, bool]:
    """Add the user with this role, or change the role of an existing member; audited (who
    may see and grade a course's students is an LMS admin's first question after an incident)."""
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            course=course, user=user, defaults={"role": role}
        )
        if created:
            audit_membership(actor, membership, "member_added")
        elif membership.role != role:
            if is_last_instructor(membership):
                raise ApiError(409, "A course needs at least one instructor.", "last_instructor")
            previous = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            audit_membership(actor, membership, "member_role_changed", previous_role=previous)
    return membership, created


def audit_membership(actor, membership: Membership, action: str, **details) -> None:
    """An audit entry for a membership change: whose, which role, and what else `details` says."""
    AuditEntry.objects.create(
        actor=actor,
        course_id=membership.course_id,
        action=action,
        details={"username": membership.user.username, "role": membership.role, **details},
    )


class CourseListView(ApiView):
    """Courses you are a member of; instructors (and staff) create new ones."""

    serializer_class = CourseSerializer

    @extend_schema(summary="Courses you are a member of", responses={200: CourseSerializer(many=True), **errors()})
    def get(self, request):
        roles = dict(Membership.objects.filter(user=request.user).values_list("course_id", "role"))
        courses = Course.objects.filter(pk__in=roles).order_by("code", "id")
        return self.paginated(courses, CourseSerializer, roles=roles)

    @extend_schema(
        summary="Create a course (you become its instructor)",
        description="For site staff, holders of the exercises.add_course permission and anyone who "
        "already teaches a course; others get 403 not_course_creator.",
        responses={201: CourseSerializer, **errors(400, 403)},
    )
    def post(self, request):
        require_course_creator(request.user)
        serializer = CourseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        course = create_course(request.user, serializer.validated_data)
        data = CourseSerializer(course, context={"roles": {course.pk: INSTRUCTOR}}).data
        url = self.url("api-course-detail", course.pk)
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": url})


class CourseDetailView(ApiView):
    """A course you are a member of; instructors edit it."""

    serializer_class = CourseSerializer

    @extend_schema(summary="A course", responses={200: CourseSerializer, **errors(404)})
    def get(self, request, course_id: int):
        course, role = member_course(request.user, course_id)
        return Response(CourseSerializer(course, context={"roles": {course.pk: role}}).data)

    def _update(self, request, course_id: int, partial: bool) -> Response:
        course, role = member_course(request.user, course_id)
        require_instructor(role, "edit the course")
        serializer = CourseSerializer(course, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise ApiError(400, "That course code is taken (codes are compared ignoring case).", "unique") from None
        return Response(CourseSerializer(course, context={"roles": {course.pk: role}}).data)

    @extend_schema(summary="Replace a course's code and title (instructors)", responses={200: CourseSerializer, **errors(400, 403, 404)})
    def put(self, request, course_id: int):
        return self._update(request, course_id, partial=False)

    @extend_schema(summary="Edit a course (instructors)", responses={200: CourseSerializer, **errors(400, 403, 404)})
    def patch(self, request, course_id: int):
        return self._update(request, course_id, partial=True)


class MembershipListView(ApiView):
    """A course's members; instructors list and add them (by username and role)."""

    serializer_class = MembershipSerializer

    @extend_schema(summary="A course's members (instructors)", responses={200: MembershipSerializer(many=True), **errors(403, 404)})
    def get(self, request, course_id: int):
        course, role = member_course(request.user, course_id)
        require_instructor(role, "list members")
        memberships = course.memberships.select_related("user").order_by("role", "user__username")
        return self.paginated(memberships, MembershipSerializer)

    @extend_schema(
        summary="Add a member by username, or change a member's role (instructors)",
        request=MembershipCreateSerializer,
        responses={201: MembershipSerializer, 200: MembershipSerializer, **errors(400, 403, 404, 409)},
        description="201 when the user was added, 200 when an existing member's role was set. "
        "Demoting the last instructor is 409 (last_instructor).",
    )
    def post(self, request, course_id: int):
        course, role = member_course(request.user, course_id)
        require_instructor(role, "manage members")
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership, created = set_membership(
            course, serializer.validated_data["username"], serializer.validated_data["role"], request.user
        )
        return Response(
            MembershipSerializer(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MembershipDetailView(ApiView):
    """One membership; instructors remove it (not the last instructor)."""

    serializer_class = MembershipSerializer

    @extend_schema(summary="Remove a member (instructors)", responses={204: None, **errors(403, 404, 409)})
    def delete(self, request, course_id: int, membership_id: int):
        course, role = member_course(request.user, course_id)
        require_instructor(role, "manage members")
        with transaction.atomic():
            membership = get_object_or_404(course.memberships.select_for_update(), pk=membership_id)
            if is_last_instructor(membership):
                raise ApiError(409, "A course needs at least one instructor.", "last_instructor")
            audit_membership(request.user, membership, "member_removed")
            membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- problem sets and questions ----------------------------------------------------------------


class ProblemSetListView(ApiView):
    """A course's problem sets (students see released ones); instructors create them."""

    serializer_class = ProblemSetSerializer

    @extend_schema(
        summary="A course's problem sets (students: released ones)",
        responses={200: ProblemSetSerializer(many=True), **errors(404)},
    )
    def get(self, request, course_id: int):
        course, role = member_course(request.user, course_id)
        return self.paginated(problem_sets_for(role, course), ProblemSetSerializer)

    @extend_schema(summary="Create a problem set (instructors)", responses={201: ProblemSetSerializer, **errors(400, 403, 404)})
    def post(self, request, course_id: int):
        course, role = member_course(request.user, course_id)
        require_instructor(role, "create problem sets")
        serializer = ProblemSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        problem_set = serializer.save(course=course)
        url = self.url("api-problem-set-detail", problem_set.pk)
        return Response(ProblemSetSerializer(problem_set).data, status=status.HTTP_201_CREATED, headers={"Location": url})


class ProblemSetDetailView(ApiView):
    """A problem set (students: once released); instructors edit it."""

    serializer_class = ProblemSetSerializer

    @extend_schema(summary="A problem set", responses={200: ProblemSetSerializer, **errors(404)})
    def get(self, request, problem_set_id: int):
        problem_set, _ = visible_problem_set(request.user, problem_set_id)
        return Response(ProblemSetSerializer(problem_set).data)

    def _update(self, request, problem_set_id: int, partial: bool) -> Response:
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_instructor(role, "edit problem sets")
        # the edited serializer: the answer's `rescored`, sent back with the rest, is ignored
        serializer = ProblemSetEditedSerializer(problem_set, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        rescored = services.update_problem_set(problem_set, serializer.validated_data, request.user)
        return Response({**ProblemSetSerializer(problem_set).data, "rescored": rescored})

    @extend_schema(summary="Replace a problem set (instructors)", responses={200: ProblemSetEditedSerializer, **errors(400, 403, 404)})
    def put(self, request, problem_set_id: int):
        return self._update(request, problem_set_id, partial=False)

    @extend_schema(
        summary="Edit a problem set (instructors)",
        description="New due/late times or late penalty rescore the set's graded submissions at once "
        "(late = submitted after the due time; from the stored raw scores) and write an audit entry; "
        "`rescored` says how many scores changed.",
        responses={200: ProblemSetEditedSerializer, **errors(400, 403, 404)},
    )
    def patch(self, request, problem_set_id: int):
        return self._update(request, problem_set_id, partial=True)


def edit_conflict(question: Question, changes: dict) -> ApiError | None:
    """services.question_edit_conflict as the API's 409."""
    conflict = services.question_edit_conflict(question, changes)
    return None if conflict is None else ApiError(409, conflict[1], conflict[0])


def audit_question_edit(question: Question, before: dict, actor) -> None:
    after = QuestionSerializer(question).data
    diff = {k: {"old": before[k], "new": after[k]} for k in after if before.get(k) != after[k]}
    if diff:
        AuditEntry.objects.create(
            actor=actor,
            course_id=question.problem_set.course_id,
            action="question_edit",
            details={"question": question.pk, "changes": diff},
        )


class ExtensionListView(ApiView):
    """Per-student extensions of a problem set (instructors grant them; TAs read them)."""

    serializer_class = ExtensionSerializer

    @extend_schema(
        summary="The set's per-student extensions (instructors and TAs)",
        responses={200: ExtensionSerializer(many=True), **errors(403, 404)},
    )
    def get(self, request, problem_set_id: int):
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_staff(role, "see extensions")
        rows = problem_set.extensions.select_related("student", "granted_by").order_by("student__username")
        return self.paginated(rows, ExtensionSerializer)

    @extend_schema(
        summary="Give a student their own deadlines, or change them (instructors)",
        description="The student's submissions are late or on time by their own due time from now on; "
        "graded ones are rescored at once (from the stored raw scores) and it is audited. An extension "
        "never makes a deadline earlier than the set's. Worked solutions open to the whole class once "
        "the last extended student's deadline has passed too; `solutions_seen` says how many students "
        "have already opened one (they could hand the extended student the answers). 201 when new, 200 "
        "when changed.",
        request=ExtensionGrantSerializer,
        responses={201: ExtensionGrantedSerializer, 200: ExtensionGrantedSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, problem_set_id: int):
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_instructor(role, "grant extensions")
        serializer = ExtensionGrantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        student = course_student_named(problem_set.course_id, data["username"])
        existed = problem_set.extensions.filter(student=student).exists()
        try:
            extension = extensions.grant(problem_set, student, data["due_at"], data.get("late_until"), data["reason"], request.user)
        except extensions.ExtensionError as error:
            raise ApiError(400, str(error), "bad_extension") from None
        extension.solutions_seen = extensions.solutions_seen(problem_set)
        return Response(
            ExtensionGrantedSerializer(extension).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class ExtensionDetailView(ApiView):
    """One student's extension; instructors take it back."""

    serializer_class = ExtensionSerializer

    @extend_schema(
        summary="Take a student's extension back (instructors)",
        description="Their submissions after the set's due time are late again, rescored at once.",
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, problem_set_id: int, student_id: int):
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_instructor(role, "take extensions back")
        if not extensions.revoke(problem_set, student_id, request.user):
            raise NotFound("This student has no extension for this problem set.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuestionListView(ApiView):
    """A problem set's questions; instructors add them."""

    serializer_class = QuestionSerializer

    @extend_schema(summary="A problem set's questions", responses={200: QuestionSerializer(many=True), **errors(404)})
    def get(self, request, problem_set_id: int):
        problem_set, self.role = visible_problem_set(request.user, problem_set_id)
        return self.paginated(problem_set.questions.all(), QuestionSerializer, **self.student_context())

    @extend_schema(
        summary="Add a question (instructors)",
        description="`kind` must be in /api/kinds/ and `params` must pass the kind's validation "
        "(400 with code bad_params and the generator's message otherwise). Without `position` it "
        "goes after the set's last question.",
        responses={201: QuestionSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, problem_set_id: int):
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_instructor(role, "create questions")
        serializer = QuestionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():  # next_position locks the set until the question is stored
            position = serializer.validated_data.get("position")
            if position is None:
                position = services.next_position(problem_set)
            question = serializer.save(problem_set=problem_set, position=position)
        url = self.url("api-question-detail", question.pk)
        return Response(QuestionSerializer(question).data, status=status.HTTP_201_CREATED, headers={"Location": url})


class QuestionDetailView(ApiView):
    """A question's settings (never an instance's answers); instructors edit it."""

    serializer_class = QuestionSerializer

    @extend_schema(summary="A question (its settings; never an instance's answers)", responses={200: QuestionSerializer, **errors(404)})
    def get(self, request, question_id: int):
        question, self.role = visible_question(request.user, question_id)
        return Response(QuestionSerializer(question, context=self.student_context()).data)

    def _update(self, request, question_id: int, partial: bool) -> Response:
        question, role = visible_question(request.user, question_id)
        require_instructor(role, "edit questions")
        with transaction.atomic():
            # the row as it is now, locked until saved: the save writes every field, and a PATCH
            # merges params into what it read, so an older copy would undo a concurrent edit or regrade
            question = services.locked_question(question.pk)
            before = QuestionSerializer(question).data
            # a PATCH's params name only the ones to change (a merge); a PUT's are the whole set
            serializer = QuestionSerializer(question, data=request.data, partial=partial, context={"merge_params": partial})
            serializer.is_valid(raise_exception=True)
            conflict = edit_conflict(question, serializer.validated_data)
            if conflict is not None:
                raise conflict
            serializer.save()
            audit_question_edit(question, before, request.user)
        return Response(serializer.data)

    @extend_schema(
        summary="Replace a question (instructors)",
        description="params are the whole set (those left out take their defaults). "
        "409 has_variants: kind/params cannot change once students have variants, except a code "
        "question's limits time_limit_s and memory_mb (they apply to gradings from then on); 409 "
        "limit_lowered: once submissions are graded a limit cannot go below the highest one they ran under; "
        "409 use_regrade: scoring settings cannot change once submissions are graded (use regrade).",
        responses={200: QuestionSerializer, **errors(400, 403, 404, 409)},
    )
    def put(self, request, question_id: int):
        return self._update(request, question_id, partial=False)

    @extend_schema(
        summary="Edit a question (instructors)",
        description="params name only the ones to change; the others keep their values. "
        "409 has_variants: kind/params cannot change once students have variants, except a code "
        "question's limits time_limit_s and memory_mb (they apply to gradings from then on); 409 "
        "limit_lowered: once submissions are graded a limit cannot go below the highest one they ran under; "
        "409 use_regrade: scoring settings cannot change once submissions are graded (use regrade).",
        responses={200: QuestionSerializer, **errors(400, 403, 404, 409)},
    )
    def patch(self, request, question_id: int):
        return self._update(request, question_id, partial=True)


# --- variants, submissions, solutions ----------------------------------------------------------


def attempts_left(question: Question, used: int) -> int | None:
    return None if question.max_attempts is None else max(0, question.max_attempts - used)


class VariantView(ApiView):
    """The requesting student's own variant of a question."""

    serializer_class = VariantSerializer

    @extend_schema(
        summary="My variant of the question (drawn on first access)",
        description="The prompt, diagram and answer fields of your own variant, attempts used and "
        "left, the due time, whether the worked solution is available and when you fetched it (the "
        "variant then takes no more submissions). Students only.",
        responses={200: VariantSerializer, **errors(403, 404)},
    )
    def get(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_student(role, "have variants")
        data = self.variant_data(question, request.user, services.current_variant(question, request.user))
        return Response(VariantSerializer(data).data)

    def variant_data(self, question: Question, student, variant) -> dict:
        """What the student sees of their variant, with attempts and times."""
        used = services.attempts_used(question, student)
        pending = services.attempts_pending(question, student)
        problem_set = question.problem_set
        deadlines = extensions.deadlines_for(problem_set, student.pk)  # the student's own
        return {
            **services.variant_view(question, variant),
            "question": question.pk,
            "variant": variant.number,
            "points": question.points,
            "max_attempts": question.max_attempts,
            "attempt_penalty": question.attempt_penalty,
            "all_or_nothing": question.all_or_nothing,
            "attempts_used": used,
            "attempts_pending": pending,
            "attempts_left": attempts_left(question, used + pending),
            "release_at": problem_set.release_at,
            "due_at": deadlines.due_at,
            "late_until": deadlines.late_until,
            "late_penalty": problem_set.late_penalty,
            "solution_available": services.solution_visible(question, student, used=used),
            "solution_seen_at": variant.solution_seen_at,
            "submissions_url": self.url("api-question-submissions", question.pk),
            "solution_url": self.url("api-question-solution", question.pk),
        }


class StaffVariantView(VariantView):
    """One student's variant as the course's staff see it."""

    serializer_class = StaffVariantSerializer

    @extend_schema(
        summary="A student's variant, with its answers (instructors and TAs)",
        description="What the student sees (if they have not opened the question yet, the draw "
        "they will get; looking does not store it), plus the reference answers, tolerance, typical mistakes "
        "and worked solution, the seed and the generator version: to check a student's numbers "
        "or answer \"my question looks wrong\". Draft problem sets too; a former student's (who left "
        "the course or became staff) stored variant too. 404 if the user is neither.",
        responses={200: StaffVariantSerializer, **errors(403, 404)},
    )
    def get(self, request, question_id: int, student_id: int):
        question, role = visible_question(request.user, question_id)
        require_staff(role, "see students' variants")
        student = question_student(question, student_id)
        variant = services.peek_variant(question, student)  # never stored here: see peek_variant
        data = self.variant_data(question, student, variant)
        instance = variant.instance
        data.update(
            student=student.pk,
            username=student.get_username(),
            seed=variant.seed,
            generator_version=variant.generator_version,
            answers=instance["answers"],
            tolerance=instance.get("tolerance"),
            misconceptions=instance.get("misconceptions", []),
            solution=instance.get("solution", []),
        )
        return Response(StaffVariantSerializer(data).data)


def idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "Idempotency-Key must be 1 to 200 printable ASCII characters.", "bad_idempotency_key"
        )
    return key


def refusal(error: Exception) -> ApiError:
    code = getattr(error, "code", None) or "refused"
    message = getattr(error, "message", None) or str(error)
    extra = {"fields": error.fields} if getattr(error, "fields", None) else {}
    return ApiError(REFUSAL_STATUS.get(code, status.HTTP_400_BAD_REQUEST), message, code, **extra)


def check_student_filter(question: Question, submissions, params) -> None:
    """A 400 bad_filter when the staff's `student` (a username) or `student_id` names nobody who
    is a student of the course or has submitted to this question (one since removed from the
    course still has their submissions): a typo answered an empty list, read as "never
    submitted" (QA)."""
    for name, lookup in (("student", "username"), ("student_id", "pk")):
        value = (params.get(name) or "").strip()
        if not value:
            continue
        course_id = question.problem_set.course_id
        if Membership.objects.filter(course_id=course_id, role=STUDENT, **{f"user__{lookup}": value}).exists():
            continue
        if submissions.filter(**{f"student__{lookup}": value}).exists():
            continue
        shown = value if len(value) <= 60 else value[:60] + "..."
        if name == "student":
            detail = f"No student named {shown!r} in this course (student takes a username; an id goes in student_id)."
        else:
            detail = f"No student with id {shown} in this course (student_id takes a user id; a username goes in student)."
        raise ApiError(400, detail, "bad_filter", parameter=name)


IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Retrying with the same key returns the original submission (200) instead of a new one.",
)


class SubmissionListView(ApiView):
    """Submit answers (students) and list submissions of a question."""

    serializer_class = SubmissionSerializer

    @extend_schema(
        summary="Submissions for the question (students: their own; instructors/TAs: all)",
        parameters=[
            OpenApiParameter(
                "student", str, description="only this student's (username); staff: 400 bad_filter if no student of the course has it"
            ),
            OpenApiParameter(
                "student_id", int, description="only this student's (user id); staff: 400 bad_filter if no student of the course has it"
            ),
            OpenApiParameter("status", str, enum=list(Submission.Status.values), description="only those in this state"),
            OpenApiParameter("order", str, enum=["oldest", "newest"], description="by submission time; default oldest"),
        ],
        responses={200: SubmissionSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        visible = submissions_for(request.user, role, question)
        try:
            submissions = filtered_submissions(visible, request.query_params)
        except ValueError as error:
            raise ApiError(400, str(error), "bad_filter") from None
        if role != STUDENT:  # a student's list is their own: a name there tells them nothing
            check_student_filter(question, visible, request.query_params)
        return self.paginated(submissions, SubmissionSerializer)

    @extend_schema(
        summary="Submit answers for grading",
        description="202 Accepted with {id, status, url} and a Location header to poll. With an "
        "Idempotency-Key header, a retry answers 200 with the same body (current status) and "
        "`Idempotent-Replayed: true`; the same key with different answers is 409. Refusals: "
        "not_released 403, closed 403, no_attempts_left 409, too_large 413, bad_format 400, "
        "unreadable_answers 400 (with `fields`: field name -> what is wrong; nothing stored, no "
        "attempt used), idempotency_conflict 409, solution_seen 409 (the student has fetched this "
        "variant's worked solution: an instructor who adds attempts or extends the deadline later "
        "does not reopen it), stale_variant 409 (`variant` was given and is not the current one: "
        "with a fresh variant per attempt, an earlier submission moved the student on).",
        parameters=[IDEMPOTENCY_PARAM],
        request=SubmissionCreateSerializer,
        responses={
            202: SubmissionAcceptedSerializer,
            200: OpenApiResponse(SubmissionAcceptedSerializer, description="idempotent replay"),
            **errors(400, 403, 404, 409, 413),
        },
    )
    def post(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_student(role, "submit answers")
        key = idempotency_key(request)
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            submission, created = services.submit(
                question,
                request.user,
                serializer.validated_data["answers"],
                idempotency_key=key,
                expected_variant=serializer.validated_data.get("variant"),
            )
        except services.SubmissionRefused as error:
            raise refusal(error) from None
        url = self.url("api-submission-detail", submission.pk)
        # the SubmissionAcceptedSerializer shape, built directly: this answer is the hot path
        body = {"id": submission.pk, "status": str(submission.status), "url": url}
        headers = {"Location": url}
        if not created:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK, headers=headers)


class SubmissionDetailView(ApiView):
    """One submission: status, score, points and per-field feedback."""

    serializer_class = SubmissionSerializer

    @extend_schema(
        summary="A submission: status, score and per-field feedback",
        description="Yours, or any submission of a course you teach.",
        responses={200: SubmissionSerializer, **errors(404)},
    )
    def get(self, request, submission_id: int):
        submission, _ = visible_submission(request.user, submission_id)
        return Response(SubmissionSerializer(submission, context={"request": request}).data)


class SubmissionHiddenCasesView(ApiView):
    """A code submission's hidden test cases in full, for the course's staff."""

    serializer_class = HiddenCasesSerializer

    @extend_schema(
        summary="A code submission's hidden test cases in full (instructors and TAs)",
        description="What the student's feedback withholds of the hidden test cases (their inputs, the "
        "student's messages and tracebacks, what the code printed while they ran), judged again from "
        "the run kept with the submission, as a regrade would judge it; no code runs. withheld false "
        "(and message saying why) for a numeric question, a submission not graded, or one whose "
        "feedback shows every case. 403 not_staff for students.",
        responses={200: HiddenCasesSerializer, **errors(403, 404)},
    )
    def get(self, request, submission_id: int):
        submission, role = visible_submission(request.user, submission_id)
        require_staff(role, "see hidden test cases in full")
        full = hidden_cases.hidden_cases_in_full(submission)
        data = {"submission": submission.pk, "withheld": full.withheld, "kept": full.kept, "fields": full.fields, "message": full.message}
        return Response(HiddenCasesSerializer(data).data)


def solution_unavailable(question: Question, used: int) -> ApiError:
    opens = extensions.solutions_open_at(question.problem_set)
    due = services._local(opens)  # as people read it; available_at is the machine's form
    if services.solution_opens_on_attempts(question):
        message = (
            f"The solution becomes available once you have used all {question.max_attempts} attempts "
            f"(you have used {used}) or once the problem set has closed for everyone, at {due}."
        )
    else:
        message = f"The solution becomes available once the problem set has closed for everyone, at {due}."
    return ApiError(403, message, "solution_not_available", available_at=timezone.localtime(opens).isoformat())


class SolutionView(ApiView):
    """The worked solution of the student's own variant, once available."""

    serializer_class = SolutionSerializer

    @extend_schema(
        summary="The worked solution and answers of my variant, once available",
        description="403 solution_not_available (with when it becomes available) before that. Once "
        "fetched, the variant takes no more submissions (409 solution_seen), even if attempts are added "
        "or the deadline is extended later.",
        responses={200: SolutionSerializer, **errors(403, 404)},
    )
    def get(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_student(role, "have solutions of their own variants")
        if not services.solution_visible(question, request.user):
            raise solution_unavailable(question, services.attempts_used(question, request.user))
        variant = services.solution_variant(question, request.user)
        if request.method == "GET":  # a HEAD sends no body: the student has seen nothing
            services.mark_solution_seen(variant)  # this variant now takes no more submissions
        instance = variant.instance
        data = {
            "question": question.pk,
            "variant": variant.number,
            "solution": instance["solution"],
            "answers": instance["answers"],
        }
        return Response(SolutionSerializer(data).data)


# --- gradebook and regrade ---------------------------------------------------------------------


class GradebookView(ApiView):
    """Best score per question per student, as JSON or CSV (instructors and TAs)."""

    serializer_class = GradebookSerializer
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(
        summary="Best score per question per student (instructors/TAs)",
        description=(
            "JSON by default; `?format=csv` or `Accept: text/csv` returns a CSV attachment "
            "(UTF-8; with `excel=1` it starts with a byte order mark, so Excel shows accented names)."
        ),
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"]),
            OpenApiParameter("excel", OpenApiTypes.BOOL, description="CSV only: start with a byte order mark"),
        ],
        responses={
            (200, "application/json"): GradebookSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
            **errors(403, 404),
        },
    )
    def get(self, request, problem_set_id: int):
        problem_set, role = visible_problem_set(request.user, problem_set_id)
        require_staff(role, "see the gradebook")
        if request.accepted_renderer.format == "csv":
            name = slugify(f"{problem_set.course.code}-{problem_set.title}") or f"problem-set-{problem_set.pk}"
            return Response(
                services.gradebook_csv(problem_set, excel=request.query_params.get("excel") in ("1", "true")),
                headers={"Content-Disposition": f'attachment; filename="{name}-gradebook.csv"'},
            )
        data = {
            "problem_set": problem_set.pk,
            "title": problem_set.title,
            "questions": problem_set.questions.all(),
            "rows": services.gradebook(problem_set),
        }
        return Response(GradebookSerializer(data).data)

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400 and getattr(request, "accepted_renderer", None).__class__ is CSVRenderer:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class RegradeView(ApiView):
    """Preview or apply a scoring change to every graded submission (instructors)."""

    serializer_class = RegradeRequestSerializer

    @extend_schema(
        summary="Preview or apply a scoring change to every graded submission (instructors)",
        description='{"changes": {...}, "apply": false} lists whose score would change; '
        '"apply": true saves the change, regrades from the stored answers and instances and '
        "writes an audit entry. Code is judged again from each submission's kept run, never run; "
        "submissions without one keep their scores and are listed in not_regraded.",
        request=RegradeRequestSerializer,
        responses={200: RegradeResultSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_instructor(role, "regrade")
        serializer = RegradeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data["changes"])
        not_regraded: list[dict] = []
        try:
            if serializer.validated_data["apply"]:
                count = services.regrade_apply(question, changes, request.user, not_regraded)
                data = {"applied": True, "changes": changes, "regraded": count}
            else:
                data = {
                    "applied": False,
                    "changes": changes,
                    "affected": services.regrade_preview(question, changes, not_regraded),
                }
        except services.RegradeError as error:
            raise ApiError(400, str(error), "bad_changes") from None
        return Response(RegradeResultSerializer({**data, "not_regraded": not_regraded}).data)


class RerunView(ApiView):
    """Run graded code submissions again under the question's raised limits (instructors)."""

    serializer_class = RerunRequestSerializer

    @extend_schema(
        summary="Re-run code submissions that ran out of time or memory under a lower limit (instructors)",
        description='{"apply": false} lists the graded submissions of this code question whose code ran out '
        "of time or memory under a limit lower than the question's current one; \"apply\": true sends them to "
        "the worker, which runs each again under the current limits and writes the new result (same attempt; "
        "the old result stands until then), with an audit entry. Raise time_limit_s or memory_mb first "
        "(PATCH the question's params). A regrade never runs code; this does.",
        request=RerunRequestSerializer,
        responses={200: RerunResultSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_instructor(role, "re-run submissions")
        if not services.entry_names(question):
            raise ApiError(400, "Only code questions run code: this question has nothing to re-run.", "not_code")
        if not services.run_settings(question):
            raise ApiError(409, "This question's params no longer validate (see its kind); fix them before re-running.", "bad_params")
        serializer = RerunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = reruns.request_reruns(question, request.user, serializer.validated_data["apply"])
        return Response(RerunResultSerializer(data).data)


class GradingErrorsView(ApiView):
    """A question's submissions that could not be graded (staff), and grading them again (instructors)."""

    serializer_class = GradeAgainRequestSerializer

    @extend_schema(
        summary="Submissions of this question that could not be graded (staff)",
        description="How many of the question's submissions are in status error (a problem on the service's "
        "side: no sandbox in the worker, a bug, the database gone), how many the service still tries again by "
        "itself, and the latest one's cause.",
        responses={200: GradingErrorsSerializer, **errors(403, 404)},
    )
    def get(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_staff(role, "see submissions that could not be graded")
        found = grading_errors.errors_of(question)
        data = {"count": 0, "retrying": 0, "latest_cause": "", "latest_at": None} if found is None else vars(found)
        return Response(GradingErrorsSerializer(data).data)

    @extend_schema(
        summary="Grade this question's submissions that could not be graded again (instructors)",
        description="Once the cause is fixed: queues every submission of the question in status error for "
        "grading, as it was submitted (same answers and submission time, so the same lateness), with an audit "
        "entry. Each is graded like any other: one still retried keeps its place among the attempts, one given up "
        "on (which gave its place back) takes the next free number, or is refused if the attempts are used up. Send {}.",
        request=GradeAgainRequestSerializer,
        responses={200: GradeAgainResultSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, question_id: int):
        question, role = visible_question(request.user, question_id)
        require_instructor(role, "grade submissions again")
        GradeAgainRequestSerializer(data=request.data).is_valid(raise_exception=True)
        sent = grading_errors.grade_again(question, request.user)
        return Response(GradeAgainResultSerializer({"sent": len(sent), "submissions": sent}).data)


# --- auth --------------------------------------------------------------------------------------


class TokenThrottle(BaseThrottle):
    """Refuses token requests for a username from an address with too many recent failed
    sign-ins (exercises.sign_in_limits: counted with the web UI's and the admin's), until the
    oldest of those has aged out: password guessing. Only POST can fail to sign in."""

    wait_seconds = 0.0

    @staticmethod
    def username(request) -> str:
        """The digest of the username sent; "" for an unreadable body (the view says why)."""
        try:
            data = request.data
        except ParseError:
            return ""
        return sign_in_limits.username_digest(data.get("username") if hasattr(data, "get") else None)

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        wait = sign_in_limits.seconds_refused(sign_in_limits.client_address(request), self.username(request))
        if wait is None:
            return True
        self.wait_seconds = wait
        return False

    def wait(self) -> float:
        return self.wait_seconds


def record_token_failure(request) -> None:
    """Count a failed token request against its address and username."""
    sign_in_limits.record_failure(sign_in_limits.client_address(request), TokenThrottle.username(request))


class TokenView(ApiView):
    """Exchange a username and password for an API token."""

    serializer_class = TokenRequestSerializer
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    # multipart too: the browsable API's HTML form posts multipart/form-data (415 before)
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="Obtain an API token with username and password",
        description="400 bad_credentials for a wrong username or password. A username with too many "
        "of those recently from one address (AUTOGRADER_TOKEN_FAILURE_RATE, by default 10 a minute) "
        "gets 429 throttled there, with Retry-After (seconds), until the oldest of them has aged out.",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="too many failed requests for this username from this address; see Retry-After"),
        },
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request=request._request, **serializer.validated_data)
        if user is None or not user.is_active:
            record_token_failure(request)
            raise ApiError(400, "Unable to log in with these credentials.", "bad_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response(TokenSerializer({"token": token.key}).data)

    def throttled(self, request, wait):
        raise Throttled(wait, detail="Too many failed token requests for this username from your address.")
