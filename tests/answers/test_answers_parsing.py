"""parse_answer: dispatch by field type, shape checks and leniency, choices, specs."""

import numpy as np
import pytest

from autograder.answers import FieldSpec, InvalidAnswer, ParsedAnswer, parse_answer

NUMBER = FieldSpec("y", "output y")
VECTOR = FieldSpec("v", shape=(3,), type="vector")
COLUMN = FieldSpec("h", shape=(3, 1), type="vector")
ROW = FieldSpec("r", shape=(1, 3), type="vector")
MATRIX = FieldSpec("W", shape=(2, 3), type="matrix")
CHOICE = FieldSpec("act", type="choice", choices=("relu", "sigmoid", "tanh"))
CHOICES = FieldSpec("true", type="choices", choices=("a", "b", "c", "d"))


def invalid_message(raw, spec) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(raw, spec)
    return caught.value.message


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.82", 0.82),
        (" 1/3 ", 1 / 3),
        (0.5, 0.5),
        (2, 2.0),
        (np.float64(0.25), 0.25),
        (np.int32(7), 7.0),
        (np.array(1.5), 1.5),
        ("exp(-1)", np.exp(-1)),
    ],
)
def test_number_fields(raw, expected):
    parsed = parse_answer(raw, NUMBER)
    assert isinstance(parsed, ParsedAnswer)
    assert parsed.value.shape == ()
    assert parsed.value.dtype == np.float64
    assert float(parsed.value) == pytest.approx(expected, rel=1e-15)
    assert parsed.notes == ()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "No answer given"),
        (None, "No answer given"),
        (True, "true/false is not a number"),
        ({"value": 1}, "Not a number"),
        (object(), "Not a number"),
        (float("nan"), "finite"),
        (float("-inf"), "finite"),
        (10**400, "too large"),
        ("[0.5]", "Expected a single number, got a vector of 1 entry"),
        ([0.5, 0.2], "Expected a single number, got a vector of 2 entries"),
        ("1, 2", "Enter a single number"),
        ("0,5", "use '.' for decimals"),
    ],
)
def test_invalid_number_fields(raw, fragment):
    assert fragment in invalid_message(raw, NUMBER)


# --- vectors, matrices and the shape rules ----------------------------------------------------


@pytest.mark.parametrize("raw", ["[1, 2, 3]", "1 2 3", "1, 2, 3", [1, 2, 3], ["1", "2", "3"]])
def test_vector_field(raw):
    parsed = parse_answer(raw, VECTOR)
    np.testing.assert_array_equal(parsed.value, [1.0, 2.0, 3.0])
    assert parsed.notes == ()


@pytest.mark.parametrize("raw", ["[[1, 2, 3]]", "[1; 2; 3]", [[1], [2], [3]], [[1, 2, 3]]])
def test_vector_field_accepts_row_or_column_with_a_note(raw):
    parsed = parse_answer(raw, VECTOR)
    assert parsed.value.shape == (3,)
    np.testing.assert_array_equal(parsed.value, [1.0, 2.0, 3.0])
    assert parsed.notes == ("Your answer was read as a vector of 3 entries.",)


def test_column_vector_given_as_column():
    parsed = parse_answer("[1; 2; 3]", COLUMN)
    assert parsed.value.shape == (3, 1)
    assert parsed.notes == ()


def test_column_vector_given_flat_gets_a_note():
    parsed = parse_answer("[1, 2, 3]", COLUMN)
    np.testing.assert_array_equal(parsed.value, [[1.0], [2.0], [3.0]])
    assert parsed.notes == ("Your list was read as the 3×1 column vector asked for.",)


def test_column_vector_given_as_row_gets_a_note():
    parsed = parse_answer("[[1, 2, 3]]", COLUMN)
    np.testing.assert_array_equal(parsed.value, [[1.0], [2.0], [3.0]])
    assert parsed.notes == ("Your row vector was read as the 3×1 column vector asked for.",)


def test_row_vector_given_flat_gets_a_note():
    parsed = parse_answer([1, 2, 3], ROW)
    assert parsed.value.shape == (1, 3)
    assert parsed.notes == ("Your list was read as the 1×3 row vector asked for.",)


def test_row_vector_given_as_column_is_a_shape_error():
    message = invalid_message("[1; 2; 3]", ROW)
    assert message == (
        "Expected a 1×3 row vector, got a 3×1 column vector. Rows and columns seem to be swapped."
    )


@pytest.mark.parametrize("raw", ["[[1,2,3],[4,5,6]]", "[1 2 3; 4 5 6]", [[1, 2, 3], [4, 5, 6]]])
def test_matrix_field(raw):
    parsed = parse_answer(raw, MATRIX)
    np.testing.assert_array_equal(parsed.value, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    ("raw", "spec", "message"),
    [
        (
            "[[1,2],[3,4],[5,6]]",
            MATRIX,
            "Expected a 2×3 matrix, got a 3×2 matrix. Rows and columns seem to be swapped.",
        ),
        ("[1, 2, 3, 4, 5, 6]", MATRIX, "Expected a 2×3 matrix, got a vector of 6 entries."),
        ("[[1, 2, 3]]", MATRIX, "Expected a 2×3 matrix, got a 1×3 row vector."),
        ("[[1]]", MATRIX, "Expected a 2×3 matrix, got a 1×1 matrix."),
        ("7", MATRIX, "Expected a 2×3 matrix, got a vector of 1 entry."),
        ("[]", MATRIX, "Expected a 2×3 matrix, got an empty list."),
        ("[1, 2]", VECTOR, "Expected a vector of 3 entries, got a vector of 2 entries."),
        ("[1, 2, 3, 4]", COLUMN, "Expected a 3×1 column vector, got a vector of 4 entries."),
        ("[1; 2]", COLUMN, "Expected a 3×1 column vector, got a 2×1 column vector."),
        ([[1, 2], [3, 4]], VECTOR, "Expected a vector of 3 entries, got a 2×2 matrix."),
        (0.5, VECTOR, "Expected a vector of 3 entries, got a single number."),
    ],
)
def test_shape_mismatch_states_both_shapes(raw, spec, message):
    assert invalid_message(raw, spec) == message


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "No answer given"),
        (None, "No answer given"),
        ("[1, 2, x]", "Entry 3: Unknown name 'x'"),
        ([1, None, 3], "Entry 2: No answer given"),
        ([1, True, 3], "Entry 2: true/false"),
        ("[[[1, 2, 3]]]", "Too many nested brackets"),
        ({"v": [1, 2, 3]}, "Not a number"),
    ],
)
def test_invalid_vector_fields(raw, fragment):
    assert fragment in invalid_message(raw, VECTOR)


WRAPPED = "[3.86212600e-02 9.83933370e-04 9.96394511e-05 7.83791683e-05\n 2.24483656e-01 5.00000000e-01]"


@pytest.mark.parametrize(
    ("raw", "spec", "expected"),
    [
        (WRAPPED, FieldSpec("p", shape=(6,), type="vector"), [0.0386212600, 9.83933370e-04, 9.96394511e-05, 7.83791683e-05, 0.224483656, 0.5]),
        ("[0.1 0.2 0.3 0.4\n 0.5 0.6]", FieldSpec("p", shape=(6, 1), type="vector"), [[0.1], [0.2], [0.3], [0.4], [0.5], [0.6]]),
        ("1 2\n3 4", FieldSpec("p", shape=(4,), type="vector"), [1.0, 2.0, 3.0, 4.0]),
        ("1 2 3\n4 5 6", MATRIX, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    ],
)
def test_a_vector_numpy_wrapped_over_lines_is_one_vector(raw, spec, expected):
    """NumPy prints a long vector over several lines; with lines read as matrix rows, 8 softmax
    probabilities pasted from print(p) became a 2x4 matrix (review). Lines are rows when that
    fits the field, else only spaces."""
    np.testing.assert_array_equal(parse_answer(raw, spec).value, expected)


@pytest.mark.parametrize(
    ("raw", "spec", "message"),
    [
        ("1 2 3\n4 5", VECTOR, "Expected a vector of 3 entries, got a vector of 5 entries."),
        ("1 2 3\n4 5 6\n7 8 9", MATRIX, "Expected a 2×3 matrix, got a 3×3 matrix."),
        ("1 2 3\n4 5 6", VECTOR, "Expected a vector of 3 entries, got a 2×3 matrix."),  # W pasted into b
        ("1,\n5", NUMBER, "Unexpected ','"),  # a number field reads no rows (review)
    ],
)
def test_lines_that_fit_neither_reading_keep_the_fields_message(raw, spec, message):
    assert invalid_message(raw, spec).startswith(message)


def test_spec_may_be_a_dict():
    parsed = parse_answer("[1 2 3; 4 5 6]", {"name": "W", "shape": [2, 3], "type": "matrix"})
    assert parsed.value.shape == (2, 3)


# --- choices ------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("relu", "relu"), ("  tanh ", "tanh")])
def test_choice(raw, expected):
    assert parse_answer(raw, CHOICE).value == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "No answer given"),
        (None, "No answer given"),
        ("softmax", "'softmax' is not one of the options (relu, sigmoid, tanh)"),
        ("RELU", "not one of the options"),
        (["relu"], "Choose exactly one option"),
        (True, "Expected an option id"),
        (1.5, "Expected an option id"),
        ("x" * 1000, "too long"),
    ],
)
def test_invalid_choice(raw, fragment):
    assert fragment in invalid_message(raw, CHOICE)


def test_integer_option_ids_are_read_as_text():
    spec = FieldSpec("q", type="choice", choices=("1", "2"))
    assert parse_answer(2, spec).value == "2"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["a", "c"], {"a", "c"}),
        (("c", "a", "a"), {"a", "c"}),
        ({"b"}, {"b"}),
        ([], set()),
        ("a, c", {"a", "c"}),
        ("a c", {"a", "c"}),
        ("d", {"d"}),
    ],
)
def test_choices(raw, expected):
    value = parse_answer(raw, CHOICES).value
    assert isinstance(value, frozenset)
    assert value == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "No answer given"),
        (None, "No answer given"),
        (["a", "e"], "'e' is not one of the options"),
        (["a", None], "Expected an option id"),
        (["a", True], "Expected an option id"),
        (["a", ["b"]], "Expected an option id"),
        ({"a": True}, "Expected a list of option ids"),
        (["a"] * 5000, "Too many options"),
        ("a," * 20_000, "too long"),
    ],
)
def test_invalid_choices(raw, fragment):
    assert fragment in invalid_message(raw, CHOICES)


# --- specs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "text"},
        {"type": "number", "shape": (2,)},
        {"type": "vector", "shape": ()},
        {"type": "vector", "shape": (2, 2)},
        {"type": "matrix", "shape": (4,)},
        {"type": "matrix", "shape": (0, 2)},
        {"type": "matrix", "shape": (2, True)},
        {"type": "choice"},
        {"type": "choices", "choices": ("a", "a")},
        {"type": "choice", "choices": ("a",), "shape": (1,)},
    ],
)
def test_bad_specs_are_programming_errors(kwargs):
    with pytest.raises(ValueError):
        FieldSpec("f", **kwargs)


def test_spec_from_dict_ignores_unrelated_keys():
    spec = FieldSpec.coerce({"name": "v", "shape": [3], "type": "vector", "unit": "V"})
    assert spec == FieldSpec("v", shape=(3,), type="vector")
