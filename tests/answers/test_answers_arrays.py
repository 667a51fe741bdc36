"""Vectors and matrices typed as text or sent as structured lists."""

import numpy as np
import pytest

from autograder.answers import InvalidAnswer, parse_array
from autograder.answers.limits import MAX_ENTRIES, MAX_FIELD_CHARS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[1, 2]", [1.0, 2.0]),
        ("[1,2,3]", [1.0, 2.0, 3.0]),
        ("1, 2, 3", [1.0, 2.0, 3.0]),
        ("1 2 3", [1.0, 2.0, 3.0]),
        ("[1 2 3]", [1.0, 2.0, 3.0]),
        ("[ 0.5 , -0.25 ]", [0.5, -0.25]),
        ("[1/3, 2^2]", [1 / 3, 4.0]),
        ("[1/3 2^2]", [1 / 3, 4.0]),
        ("[exp(0), sqrt(4)]", [1.0, 2.0]),
        ("[exp(0) sqrt(4)]", [1.0, 2.0]),
        ("[exp (0) 1]", [1.0, 1.0]),
        ("[1 -2]", [1.0, -2.0]),  # MATLAB: a sign glued to a number starts a new entry
        ("[1 - 2]", [-1.0]),  # ... but a spaced operator is binary
        ("[1 -2 +3]", [1.0, -2.0, 3.0]),
        ("[1 + 2, 3]", [3.0, 3.0]),
        ("[2 * 3 4]", [6.0, 4.0]),
        ("[(1 + 2) 3]", [3.0, 3.0]),
        ("[e pi]", [np.e, np.pi]),
        ("[-1e-3 2.5E2]", [-0.001, 250.0]),
        ("[]", []),
        ("[7]", [7.0]),
        # a tuple, as the CS 457 notes write vectors ("Entry 1: Missing ')'" before)
        ("(0.794, -0.855, 0.0534, 0.00722)", [0.794, -0.855, 0.0534, 0.00722]),
        ("((1 + 2), 3)", [3.0, 3.0]),
        ("(1+2)*3, 4", [9.0, 4.0]),  # not a tuple: the first ')' closes early
        ("[0.5(2), 1]", [1.0, 1.0]),  # a product in an entry
        ("[(1 +\n 2), 3]", [3.0, 3.0]),  # a line break is only space
        ("0.5 +\n0.3, 1", [0.8, 1.0]),
    ],
)
def test_vectors_from_text(raw, expected):
    array = parse_array(raw)
    assert array.ndim == 1
    assert array.dtype == np.float64
    np.testing.assert_allclose(array, expected, rtol=1e-15)


@pytest.mark.parametrize(
    "raw",
    [
        "[[1,2],[3,4]]",
        "[[1, 2], [3, 4]]",
        "[1 2; 3 4]",
        "[1, 2; 3, 4]",
        "[1,2;3,4]",
        "1 2; 3 4",
        "[1 2; 3 4;]",
        "[[1 2] [3 4]]",
        "[[1, 2] [3, 4]]",
        "[[1, 2][3, 4]]",
        "[[2/2, 2], [3, 2^2]]",
        "  [ [ 1 , 2 ] , [ 3 , 4 ] ]  ",
        "[\n  [1, 2],\n  [3, 4]\n]",
    ],
)
def test_matrices_from_text(raw):
    np.testing.assert_array_equal(parse_array(raw), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    "raw",
    [
        "1 2\n3 4",  # MATLAB: a line break between entries starts a new row
        "[1 2\n 3 4]",
        "[1, 2\n3, 4]",
        "1 2\r\n3 4\r\n",
        "[\n1 2\n\n3 4\n]",
        "1 2;\n3 4",  # a ';' and a line break are one row break
        "[[ 1.  2.]\n [ 3.  4.]]",  # NumPy's print of a matrix, pasted
        "1 +\n0 2\n3 4",  # after an operator the line goes on
    ],
)
def test_matrix_rows_on_separate_lines(raw):
    """A matrix pasted as lines ('1 2' over '3 4') was read as one row of 4 entries, a wrong shape."""
    np.testing.assert_array_equal(parse_array(raw), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[1, 2,\n 3, 4]", [1.0, 2.0, 3.0, 4.0]),  # after a ',' a line break is only space
        ("0.5\n-0.25", [[0.5], [-0.25]]),  # one entry per line: a column
    ],
)
def test_line_breaks_after_a_comma_or_between_single_entries(raw, expected):
    np.testing.assert_array_equal(parse_array(raw), expected)


def test_rows_on_lines_of_different_lengths_name_both():
    with pytest.raises(InvalidAnswer, match="row 1 has 2 entries, row 2 has 1"):
        parse_array("1 2\n3")


@pytest.mark.parametrize(
    ("raw", "shape"),
    [
        ("[1; 2; 3]", (3, 1)),
        ("[[1], [2], [3]]", (3, 1)),
        ("[[1, 2, 3]]", (1, 3)),
        ("[1 2 3;]", (1, 3)),
        ("[[]]", (1, 0)),
        ("[[], []]", (2, 0)),
    ],
)
def test_shapes_from_text(raw, shape):
    assert parse_array(raw).shape == shape


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([1, 2], [1.0, 2.0]),
        ((1, 2.5), [1.0, 2.5]),
        (["1/3", "2^2"], [1 / 3, 4.0]),
        ([1, "0.5"], [1.0, 0.5]),
        ([[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]]),
        ([["1", 2], (3, "2*2")], [[1.0, 2.0], [3.0, 4.0]]),
        (np.array([1, 2]), [1.0, 2.0]),
        (np.array([[1.5, 2], [3, 4]]), [[1.5, 2.0], [3.0, 4.0]]),
        ([np.float32(0.5), np.int64(2)], [0.5, 2.0]),
        ([np.array(3.0)], [3.0]),
        ([10**20], [1e20]),
        ([], []),
    ],
)
def test_structured_input(raw, expected):
    array = parse_array(raw)
    assert array.dtype == np.float64
    np.testing.assert_allclose(array, expected, rtol=1e-15)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("[1, 2", "Missing ']'"),
        ("[[1, 2], [3, 4]", "Missing ']'"),
        ("[1, 2]]", "after the closing ']'"),
        ("[1, 2] [3]", "after the closing ']'"),
        ("[1,,2]", "entry is missing"),
        ("[1, 2,,]", "entry is missing"),  # one trailing ',' is read (test_trailing_separators)
        ("[, 1]", "entry is missing"),
        ("[1, ; 2]", "entry is missing"),
        ("[1 2; ; 3 4]", "Row 2 is empty"),
        ("[1 2; 3]", "rows have different lengths: row 1 has 2 entries, row 2 has 1"),
        ("[[1, 2], [3]]", "rows have different lengths: row 1 has 2 entries, row 2 has 1"),
        ("[[1], [2, 3]]", "row 1 has 1 entry, row 2 has 2"),
        ("[1, [2, 3]]", "mixes numbers and lists"),
        ("[[1, 2], 3]", "mixes numbers and lists"),
        ("[[1, 2]; [3, 4]]", "either ';' between rows or nested brackets"),
        ("[[1; 2]]", "Too many nested brackets"),
        ("[[[1]]]", "Too many nested brackets"),
        ("[1, x]", "Entry 2: Unknown name 'x'"),
        ("[1, 2; 3, 1/0]", "Entry (2, 2): Division by zero"),
        ("[[1, 2], [3, nan]]", "Entry (2, 2): Answers must be finite"),
        ("[1 2; 3 4+]", "Entry (2, 2): The expression is incomplete"),
        ("[1 2; 3 4 +]", "row 1 has 2 entries, row 2 has 3"),
        ("[1, 2^2^2^2^2^2]", "Entry 2: The number is too large"),
        ("[1, (2]", "Entry 2: Missing ')'"),
        ("[1, 2)]", "Entry 2: Unmatched ')'"),
        ("[1, 2} ]", "Unexpected character '}'"),
        ("[1, 0,5]", None),  # reads as three entries; the shape check reports it later
        ("((1, 2), (3, 4))", "',' or ';' inside parentheses"),
        ("[1, (2, 3)]", "',' or ';' inside parentheses"),
        ("", "No answer given"),
        ("   ", "No answer given"),
    ],
)
def test_invalid_text_arrays(raw, fragment):
    if fragment is None:
        assert parse_array(raw).shape == (3,)
        return
    with pytest.raises(InvalidAnswer) as caught:
        parse_array(raw)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([1, True], "Entry 2: true/false is not a number"),
        ([False], "Entry 1: true/false"),
        ([1, None], "Entry 2: No answer given"),
        ([1, {"a": 1}], "Entry 2: Not a number"),
        ([1, {1, 2}], "Entry 2: Not a number"),
        ([1, b"2"], "Entry 2: Not a number"),
        ([1, 2j], "Entry 2: Not a number"),
        ([1, float("nan")], "Entry 2: Answers must be finite"),
        ([float("inf")], "Entry 1: Answers must be finite"),
        ([10**400], "Entry 1: The number is too large"),
        ([[1, 2], [3, "x"]], "Entry (2, 2): Unknown name 'x'"),
        ([[1, 2], [3, None]], "Entry (2, 2): No answer given"),
        ([1, [2]], "mixes numbers and lists"),
        ([[1], 2], "mixes numbers and lists"),
        ([[1, 2], [3]], "rows have different lengths"),
        ([[[1]]], "Too many nested brackets"),
        ([[1, [2]]], "Too many nested brackets"),
        ([1, "[2]"], "Entry 2: Unexpected '['"),
        ([1, "1" * 500], "Entry 2: The expression is too long"),
        (np.zeros((2, 2, 2)), "Too many nested brackets"),
        (np.array([True, False]), "true/false"),
        (np.array(["1/2", "abc"]), "Entry 2: Unknown name 'abc'"),
        ({"a": 1}, "Expected a list of numbers"),
        (None, "No answer given"),
        (3.5, "Expected a list of numbers"),
    ],
)
def test_invalid_structured_arrays(raw, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        parse_array(raw)
    assert fragment in caught.value.message


def test_deep_brackets_in_text_are_refused_quickly():
    with pytest.raises(InvalidAnswer, match="Too many nested brackets"):
        parse_array("[" * 4_000 + "1" + "]" * 4_000)


def test_deep_brackets_beyond_the_length_limit_are_refused_by_length():
    with pytest.raises(InvalidAnswer, match="too long"):
        parse_array("[" * 10_000 + "1" + "]" * 10_000)


def test_one_megabyte_of_text_is_refused_by_length():
    with pytest.raises(InvalidAnswer, match="too long"):
        parse_array("[" + "1," * 500_000 + "1]")


def test_text_just_under_the_length_limit_is_read():
    entries = ["1"] * (MAX_FIELD_CHARS // 3)
    text = " ".join(entries)[: MAX_FIELD_CHARS - 2]
    with pytest.raises(InvalidAnswer, match="Too many entries"):
        parse_array(text)


def test_deeply_nested_python_lists_are_refused_without_recursion():
    deep: list = [1.0]
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidAnswer, match="Too many nested brackets"):
        parse_array(deep)


def test_self_containing_list_is_refused():
    loop: list = [1.0]
    loop.append(loop)
    with pytest.raises(InvalidAnswer, match="mixes numbers and lists"):
        parse_array(loop)
    only: list = []
    only.append(only)
    with pytest.raises(InvalidAnswer, match="Too many nested brackets"):
        parse_array(only)


def test_too_many_entries_are_refused():
    with pytest.raises(InvalidAnswer, match="Too many entries"):
        parse_array([0.0] * (MAX_ENTRIES + 1))
    with pytest.raises(InvalidAnswer, match="Too many entries"):
        parse_array([[0.0] * 40] * 40)
    with pytest.raises(InvalidAnswer, match="Too many entries"):
        parse_array(np.zeros(10**6))
    assert parse_array([0.0] * MAX_ENTRIES).shape == (MAX_ENTRIES,)


def test_long_entry_inside_text_array_is_refused():
    with pytest.raises(InvalidAnswer, match="Entry 2: The expression is too long"):
        parse_array("[1, " + "+".join(["1"] * 150) + "]")
