"""Property tests: parsing never fails with anything but InvalidAnswer, and exact references
(however they are typed) are always graded correct."""

import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.answers import (
    FieldSpec,
    InvalidAnswer,
    Tolerance,
    grade_field,
    parse_answer,
    parse_scalar,
)

SPECS = [
    FieldSpec("x"),
    FieldSpec("v", shape=(3,), type="vector"),
    FieldSpec("c", shape=(2, 1), type="vector"),
    FieldSpec("r", shape=(1, 2), type="vector"),
    FieldSpec("W", shape=(2, 3), type="matrix"),
    FieldSpec("one", type="choice", choices=("a", "b", "1")),
    FieldSpec("many", type="choices", choices=("a", "b", "c")),
]
NUMERIC_SPECS = [spec for spec in SPECS if spec.is_numeric]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like answers: the grammar's own characters, names and numbers.
PIECES = [
    "1", "0", "2.5", ".5", "5.", "1e3", "1e-3", "2E+2", "1e308", "1e999", "9", "e", "pi",
    "exp(", "log(", "ln(", "sqrt(", "sin(", "tanh(", "abs(", "nan", "inf", "x", "__import__",
    "(", ")", "[", "]", ",", ";", " ", "  ", "\n", "+", "-", "*", "/", "^", "**", ".",
    "\u2212", "\u00d7", "\u03c0", "'", "_", "%",
]  # fmt: skip
answer_like_text = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
any_text = st.text(max_size=300)
grammar_text = st.text(alphabet="0123456789.eE+-*/^()[],; \tpixlnsqrtcohab", max_size=120)
texts = st.one_of(any_text, answer_like_text, grammar_text)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: includes ints too large for a float
    st.floats(),  # includes nan and +-inf
    texts,
)
json_like = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=5), children, max_size=3),
    ),
    max_leaves=40,
)


def check_parse(raw: object, spec: FieldSpec) -> None:
    """parse_answer either returns a well-formed value or raises InvalidAnswer, nothing else."""
    try:
        parsed = parse_answer(raw, spec)
    except InvalidAnswer as error:
        assert isinstance(error.message, str) and error.message
        return
    if spec.is_numeric:
        assert isinstance(parsed.value, np.ndarray)
        assert parsed.value.shape == spec.shape
        assert parsed.value.dtype == np.float64
        assert np.isfinite(parsed.value).all()
    elif spec.type == "choice":
        assert parsed.value in spec.choices
    else:
        assert parsed.value <= set(spec.choices)


@FUZZ
@given(texts)
def test_parse_scalar_returns_a_finite_float_or_invalid(text):
    try:
        value = parse_scalar(text)
    except InvalidAnswer:
        return
    assert type(value) is float and math.isfinite(value)


@FUZZ
@given(texts, st.sampled_from(SPECS))
def test_parsing_text_never_raises_anything_else(text, spec):
    check_parse(text, spec)


@FUZZ
@given(json_like, st.sampled_from(SPECS))
def test_parsing_structured_input_never_raises_anything_else(raw, spec):
    check_parse(raw, spec)


@FUZZ
@given(json_like, st.sampled_from(NUMERIC_SPECS))
def test_grading_arbitrary_input_gives_a_well_formed_result(raw, spec):
    result = grade_field(raw, spec, np.zeros(spec.shape), per_entry=True)
    assert result.status in ("correct", "partial", "incorrect", "invalid")
    assert 0.0 <= result.score <= 1.0
    assert (result.status == "correct") == (result.score == 1.0)
    assert (result.status == "invalid") <= (result.score == 0.0)
    json.dumps(result.to_dict())


# --- exact references always pass -------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
tolerances = st.one_of(
    st.just(Tolerance()),
    st.just(Tolerance(rtol=0.0, atol=0.0)),
    st.integers(1, 15).map(lambda k: Tolerance(sigfigs=k)),
    st.integers(1, 15).map(lambda k: Tolerance(sigfigs=k, atol=0.0)),
)


def json_text(array: np.ndarray) -> str:
    if array.ndim == 0:
        return repr(float(array))
    return "[" + ", ".join(json_text(row) for row in array) + "]"


def matlab_text(array: np.ndarray) -> str:
    if array.ndim == 0:
        return repr(float(array))
    if array.ndim == 1:
        return "[" + " ".join(repr(float(x)) for x in array) + "]"
    return "[" + "; ".join(" ".join(repr(float(x)) for x in row) for row in array) + "]"


def repr_strings(array: np.ndarray) -> object:
    if array.ndim == 0:
        return repr(float(array))
    return [repr_strings(row) for row in array]


FORMATS = [json_text, matlab_text, repr_strings, lambda a: a.tolist(), lambda a: a]


@st.composite
def references(draw, elements=finite):
    spec = draw(st.sampled_from(NUMERIC_SPECS))
    return spec, draw(hnp.arrays(np.float64, spec.shape, elements=elements))


@FUZZ
@given(references(), st.sampled_from(FORMATS), tolerances)
def test_exact_reference_written_with_repr_is_correct(case, fmt, tolerance):
    spec, reference = case
    result = grade_field(fmt(reference), spec, reference, tolerance=tolerance)
    assert result.status == "correct", (fmt(reference), result)
    assert result.score == 1.0


@FUZZ
@given(references(), st.sampled_from(FORMATS), tolerances, st.data())
def test_exact_reference_is_correct_whatever_the_alternatives_and_misconceptions(
    case, fmt, tolerance, data
):
    spec, reference = case
    others = st.lists(hnp.arrays(np.float64, spec.shape, elements=finite), max_size=3)
    alternatives = data.draw(others)
    misconceptions = [
        {"id": f"m{i}", "explanation": "", "answer": answer}
        for i, answer in enumerate([reference, *data.draw(others)])
    ]
    result = grade_field(
        fmt(reference),
        spec,
        reference,
        tolerance=tolerance,
        alternatives=alternatives,
        misconceptions=misconceptions,
    )
    assert result.status == "correct"
    assert result.misconception is None


@FUZZ
@given(references(st.floats(-1e300, 1e300)), st.integers(1, 15))  # rounding 1.5e308 overflows
def test_reference_rounded_to_the_required_sigfigs_is_correct(case, sigfigs):
    spec, reference = case
    rounded = np.vectorize(lambda x: f"{x:.{sigfigs - 1}e}", otypes=[object])(reference)
    raw = rounded.tolist() if reference.ndim else str(rounded.item())
    result = grade_field(raw, spec, reference, tolerance=Tolerance(sigfigs=sigfigs, atol=0.0))
    assert result.status == "correct", (raw, result)


@FUZZ
@given(
    st.floats(-1e6, 1e6),
    st.floats(-1e6, 1e6),
    st.floats(0, 1),
    st.sampled_from([Tolerance(), Tolerance(sigfigs=3), Tolerance(rtol=0.0, atol=0.0)]),
)
def test_anything_between_exact_and_rounded_path_is_correct(exact, path, t, tolerance):
    between = exact + t * (path - exact)
    between = min(max(between, min(exact, path)), max(exact, path))
    result = grade_field(repr(between), SPECS[0], exact, tolerance=tolerance, alternatives=[path])
    assert result.status == "correct"
