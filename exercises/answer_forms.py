"""The web UI's answer form: one input per answer field of a variant (what to type, in words),
the answers a posted form holds, the idempotency key its submission is stored under, and a
refusal of its answers as the form shows it (fields named by their labels).

Text inputs are named `answer.<field>`; a set-of-choices field's checkboxes `choices.<field>`,
with a hidden empty one so that the field is always posted; ticking nothing is no answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from autograder.answers import as_clause

ANSWER, CHOICES = "answer.", "choices."
FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # what new_form_key makes, give or take
UNSTORABLE = "This answer holds a character that cannot be stored (such as a NUL, from copying and pasting): type it again."
NOT_ASKED = "This form holds answers the question does not ask (an old or altered page?): reload the question and submit again."


@dataclass
class AnswerInput:
    """One answer field as the form shows it."""

    name: str
    label: str  # LaTeX allowed (typeset on the page)
    type: str  # number | vector | matrix | choice | choices | code
    hint: str  # the expected shape in words
    input_id: str
    value: Any = ""  # what is typed: text, or the ticked option ids
    error: str = ""
    rows: int = 1
    options: list[tuple[str, str]] = field(default_factory=list)  # (id, label) for choice fields

    @property
    def post_name(self) -> str:
        return (CHOICES if self.type == "choices" else ANSWER) + self.name

    @property
    def multiline(self) -> bool:
        return self.type in ("matrix", "code")

    @property
    def error_id(self) -> str:
        return f"{self.input_id}-error"


def shape_words(spec: dict) -> str:
    """What a field expects, as a student reads it."""
    shape = list(spec.get("shape") or [])
    kind = spec.get("type", "number")
    if kind == "code":
        return "Python code: complete the starter code below (Tab indents, Shift+Tab unindents; Esc, then Tab, moves on)"
    if kind == "choice":
        return "choose one option"
    if kind == "choices":
        return "tick every option that applies"
    if kind == "vector":  # shape (n,), (n, 1) or (1, n)
        n = max(shape, default=1)
        return f"a vector of {n} number{'s' if n != 1 else ''}, separated by commas or spaces"
    if kind == "matrix" and len(shape) == 2:
        return f"a {shape[0]}×{shape[1]} matrix: rows separated by ; or new lines"
    return "a number (with a decimal point: 0.5, not 0,5)"


def _options(spec: dict) -> list[tuple[str, str]]:
    """(id, label) of each choice: the instance lists plain ids or {"id", "label"} options."""
    options = []
    for choice in spec.get("choices") or []:
        if isinstance(choice, dict):
            options.append((str(choice.get("id")), str(choice.get("label", choice.get("id")))))
        else:
            options.append((str(choice), str(choice)))
    return options


def input_id(name: str) -> str:
    """An HTML id for a field's input (field names are identifiers such as W1_new)."""
    return "answer-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def inputs(fields: list[dict], typed: dict | None = None, errors: dict | None = None, starter: str = "") -> list[AnswerInput]:
    """The form's inputs for a variant's answer fields, holding what was `typed` (else a code
    field's `starter` code) and each field's error message."""
    typed, errors = typed or {}, errors or {}
    shown = []
    for spec in fields:
        name, kind = spec["name"], spec.get("type", "number")
        shape = list(spec.get("shape") or [])
        value = typed.get(name, starter if kind == "code" else ([] if kind == "choices" else ""))
        if kind == "code":
            rows = max(12, min(40, str(value).count("\n") + 3))
        elif kind == "matrix" and shape:
            rows = shape[0] + 1
        else:
            rows = 1
        shown.append(
            AnswerInput(
                name=name,
                label=str(spec.get("label") or name),
                type=kind,
                hint=shape_words(spec),
                input_id=input_id(name),
                value=value,
                error=str(errors.get(name, "")),
                rows=rows,
                options=_options(spec),
            )
        )
    return shown


def answers_from_post(post) -> dict[str, Any]:
    """{field: typed text, or the list of ticked option ids} from a posted answer form."""
    answers: dict[str, Any] = {}
    for key in post:
        if key.startswith(ANSWER):
            answers[key[len(ANSWER):]] = post.get(key)
        elif key.startswith(CHOICES):
            answers[key[len(CHOICES):]] = [value for value in post.getlist(key) if value]
    return answers


def new_form_key() -> str:
    """A fresh key for a rendered form (its hidden `form_key` input)."""
    return secrets.token_urlsafe(16)


def submission_key(form_key: str, variant: int | None, answers: dict) -> str:
    """The idempotency key a form's submission is stored under: the form's own key with a digest
    of what it holds. The same form sent twice with the same answers (a double click, a retry
    after a network error) is one submission; changed answers in that form are a new one, not
    an idempotency conflict."""
    digest = hashlib.sha256(json.dumps([variant, answers], sort_keys=True).encode()).hexdigest()[:32]
    return f"ui:{form_key}:{digest}"


@dataclass
class FormRefusal:
    """A refusal as the answer form shows it: `message` names fields by their labels (HTML, the
    labels typeset as on the page), `fields` holds the message under each field's input."""

    message: SafeString | str
    code: str
    fields: dict[str, str] = field(default_factory=dict)


def form_refusal(refused, specs: list[dict]) -> FormRefusal:
    """`refused` (a services.SubmissionRefused) as the form shows it. Its message names answer
    fields by their internal names ("in_3", "dLdW"), which API clients post; a student only
    knows them by the labels beside the inputs, so the fields are named by those, each with its
    message next to its input. `specs`: the answer fields of the variant it was judged against
    (only read when the refusal names a field)."""
    names = getattr(refused, "names", None) or []
    if not names:
        return FormRefusal(refused.message, refused.code, dict(refused.fields))
    labels = {spec["name"]: str(spec.get("label") or spec["name"]) for spec in specs}
    if any(name not in labels for name in names):  # not a field of this page's form
        return FormRefusal(NOT_ASKED, refused.code)
    if refused.fields:  # unreadable answers: what is wrong with each
        each = ((labels[name], as_clause(message)) for name, message in refused.fields.items())
        listed = format_html_join("; ", '<span class="tex">{}</span>: {}', each)
        message = format_html("some answers could not be read, so nothing was submitted and no attempt was used: {}.", listed)
        return FormRefusal(message, refused.code, dict(refused.fields))
    named = format_html_join(", ", '<span class="tex">{}</span>', ((labels[name],) for name in names))
    if refused.code == "empty_answers":
        return FormRefusal(format_html("no answers given: fill in at least one of {}", named), refused.code)
    return FormRefusal(  # check_answers_format's values that cannot be stored
        format_html("some answers cannot be stored, so nothing was submitted: {}", named),
        refused.code,
        dict.fromkeys(names, UNSTORABLE),
    )
