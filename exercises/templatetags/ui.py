"""Template filters of the web UI: numbers, times in the course's zone, prompt text and data."""

from __future__ import annotations

import math
import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from exercises import hidden_cases, progress, services
from nncore.problems.code.harness import case_source

register = template.Library()
MAX_DEPTH = 6  # prompt data is a few levels deep; anything deeper is shown as text


@register.filter
def num(value) -> str:
    """A number as a person writes it: 0.5, -2, 1.6e-05 (12 significant figures at most)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.12g}"


@register.filter
def points(value) -> str:
    """Points as shown next to a score: 10, 7.5, 6.667."""
    return "–" if value is None else f"{round(float(value), 3):g}"


@register.filter
def local(moment: datetime | None, precision: str = "") -> SafeString | str:
    """A time in the course's zone (settings.TIME_ZONE, as services._local), readable and with
    its offset in a <time> element: to the second when it has any, as services._local (cut to
    the minute, a deadline read earlier than it is); `|local:"seconds"` always to the second (a
    table of submissions made the same minute)."""
    if moment is None:
        return ""
    here = timezone.localtime(moment)
    return format_html('<time datetime="{}">{}</time>', here.isoformat(), services._local(moment, seconds=precision == "seconds" or None))


@register.filter
def person(user) -> str:
    """A user as people read them: "Clara Classmate (classmate)", or the username alone."""
    full = user.get_full_name().strip()
    return f"{full} ({user.get_username()})" if full else user.get_username()


_CODE = re.compile(r"`([^`\n]+)`")


@register.filter
def prompt_html(text: str) -> SafeString:
    """Prompt text as HTML: escaped, `code` in <code>, blank lines between paragraphs. LaTeX
    stays as written, for MathJax to typeset ($...$)."""
    paragraphs = [p for p in re.split(r"\n\s*\n", str(text)) if p.strip()]
    return mark_safe("".join(f"<p>{_paragraph(p)}</p>" for p in paragraphs))


def _paragraph(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", escape(text)).replace("\n", "<br>")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_vector(value) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _is_matrix(value) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_vector(row) for row in value)


@register.filter
def data_html(value, depth: int = 0) -> SafeString:
    """Prompt data as HTML: numbers, vectors as [a, b], matrices as tables, objects as
    definition lists, lists as numbered lists."""
    if depth > MAX_DEPTH:
        return escape(str(value))
    if value is None:
        return mark_safe("–")
    if isinstance(value, bool):
        return mark_safe("yes" if value else "no")
    if _is_number(value):
        return format_html('<span class="num">{}</span>', num(value))
    if isinstance(value, str):
        return format_html("<pre>{}</pre>", value) if "\n" in value else escape(value)
    if _is_matrix(value):
        rows = "".join(
            "<tr>" + "".join(format_html("<td>{}</td>", num(v)) for v in row) + "</tr>" for row in value
        )
        return mark_safe(f'<table class="matrix"><tbody>{rows}</tbody></table>')
    if _is_vector(value):
        return format_html('<span class="num">[{}]</span>', ", ".join(num(v) for v in value))
    if isinstance(value, dict):
        items = "".join(
            format_html("<dt>{}</dt><dd>{}</dd>", key, data_html(item, depth + 1)) for key, item in value.items()
        )
        return mark_safe(f"<dl>{items}</dl>")
    if isinstance(value, list):
        return mark_safe("<ol>" + "".join(format_html("<li>{}</li>", data_html(v, depth + 1)) for v in value) + "</ol>")
    return escape(str(value))


@register.filter
def layers(network) -> list[dict]:
    """A network's layers for the weights table: l, W^l, W_0^l and the activation's name."""
    if not isinstance(network, dict) or not isinstance(network.get("layers"), list):
        return []
    shown = []
    for index, layer in enumerate(network["layers"], start=1):
        if not isinstance(layer, dict):
            continue
        activation = layer.get("activation")
        shown.append(
            {
                "index": index,
                "W": layer.get("W"),
                "W0": layer.get("W0"),
                "activation": activation.get("name") if isinstance(activation, dict) else activation,
            }
        )
    return shown


@register.filter
def case_code(case) -> str:
    """A visible test case's steps as Python to paste after one's code (its inputs included),
    or "" for a case without steps (a hidden one)."""
    return case_source(case) if isinstance(case, dict) and case.get("steps") else ""


@register.filter
def hides_output(cases) -> bool:
    """Whether a code answer's feedback withholds printed output: it has hidden cases whose
    details are not shown (the same for every submission of the question: no signal in it)."""
    return hidden_cases.withholds(cases)


@register.filter
def get(mapping, key):
    """mapping[key] in a template (None when missing)."""
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def percent(fraction) -> str:
    """A fraction as a percentage: 0.2 -> "20 %"."""
    return "" if fraction is None else f"{round(float(fraction) * 100, 2):g} %"


@register.filter
def number_in_set(question) -> int:
    """The question's place in its set, as its page and the set's page number it."""
    return progress.question_number(question)
