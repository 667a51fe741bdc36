"""Answers as students paste them: NumPy's printed arrays and scalars, and a trailing separator.

QA: ``array([0.5, -0.25])`` pasted from a notebook got "Too many nested brackets" (it was read
as a list holding a list), and a trailing ',' was refused while a trailing ';' was read.
"""

import numpy as np
import pytest

from autograder.answers import InvalidAnswer, parse_answer, parse_array

VECTOR = {"name": "a", "type": "vector", "shape": (2,)}
MATRIX = {"name": "W", "type": "matrix", "shape": (2, 2)}
NUMBER = {"name": "x"}


# --- NumPy's array(...) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("array([0.5, -0.25])", [0.5, -0.25]),
        ("array([ 0.5 , -0.25])", [0.5, -0.25]),  # NumPy's own spacing
        ("np.array([0.5, -0.25])", [0.5, -0.25]),
        ("numpy.array([0.5, -0.25])", [0.5, -0.25]),
        ("  array ( [0.5, -0.25] )  ", [0.5, -0.25]),
        ("array([1., 2.], dtype=float32)", [1.0, 2.0]),
        ("array([1, 2], dtype=int32)", [1.0, 2.0]),
        ("array([1, 2], dtype=np.uint8)", [1.0, 2.0]),
        ("np.array([1, 2], dtype='float16')", [1.0, 2.0]),
        ("array([1.e-10, 2.e+00])", [1e-10, 2.0]),
        ("array([1, 2]),", [1.0, 2.0]),  # a trailing separator, as after [1, 2]
        ("array([0.5 -0.25])", [0.5, -0.25]),  # printed without commas is still two entries
    ],
)
def test_numpy_array_repr_of_a_vector_is_read_as_its_list(raw, expected):
    array = parse_array(raw)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, expected)
    np.testing.assert_array_equal(parse_answer(raw, VECTOR).value, expected)


@pytest.mark.parametrize(
    "raw",
    [
        "array([[1., 2.], [3., 4.]])",
        "np.array([[1, 2], [3, 4]])",
        "array([[1., 2.],\n       [3., 4.]])",  # the repr as printed, over two lines
        "array([[1., 2.],\r\n       [3., 4.]], dtype=float32)",
        "array([[1, 2],\n       [3, 4],])",
    ],
)
def test_numpy_array_repr_of_a_matrix_is_read_as_its_rows(raw):
    np.testing.assert_array_equal(parse_array(raw), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(parse_answer(raw, MATRIX).value, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    "value",
    [
        np.array([0.5, -0.25]),
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.arange(30) / 7,  # wrapped over several lines by NumPy
        np.array([[0.1234567891, -1e-7, 3e5], [2.0, -0.0, 1 / 3]]),
        np.array([1.5, 2.25], dtype=np.float32),
        np.array([[1, -2], [3, 4]], dtype=np.int32),
    ],
)
def test_what_numpy_prints_reads_back(value):
    """repr() as NumPy prints it (8 significant digits by default) and the list of NumPy 2's
    scalars (``[np.float64(0.5), np.float64(-0.25)]``, what list(a) shows)."""
    spec = {"name": "v", "type": "matrix" if value.ndim == 2 else "vector", "shape": value.shape}
    for raw in (repr(value), repr(value.tolist()), repr(list(value)) if value.ndim == 1 else repr(value)):
        np.testing.assert_allclose(parse_answer(raw, spec).value, value, rtol=1e-7, atol=0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("np.float64(0.5474)", 0.5474),  # NumPy 2 prints a scalar so
        ("np.float32(-0.25)", -0.25),
        ("numpy.int64(3)", 3.0),
        ("array(0.5)", 0.5),  # a 0-d array
        ("-np.float64(0.5)", -0.5),
        ("2*np.float64(0.5)", 1.0),
    ],
)
def test_numpy_scalars_are_read_as_their_number(raw, expected):
    assert float(parse_answer(raw, NUMBER).value) == expected


def test_a_numpy_array_in_a_number_field_is_told_its_shape():
    with pytest.raises(InvalidAnswer, match="Expected a single number, got a vector of 1 entry"):
        parse_answer("array([0.5])", NUMBER)


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        # other libraries' wrappers: what to type instead, not "Too many nested brackets"
        ("tensor([0.5, -0.25])", ["tensor(...) around the numbers", "type the numbers alone, as [0.5, -0.25]"]),
        ("torch.tensor([1., 2.], requires_grad=True)", ["torch.tensor(...)", "type the numbers alone"]),
        ("matrix([[1, 2], [3, 4]])", ["matrix(...)", "[[1, 2], [3, 4]]"]),
        # array(...) only around the whole answer
        ("[array([1, 2]), array([3, 4])]", ["array(...) can only enclose the whole answer", "[[1, 2], [3, 4]]"]),
        ("array([array([1, 2])])", ["array(...) can only enclose the whole answer"]),
        ("array([1, 2]) + 1", ["Unexpected text after array(...)", "type the numbers alone"]),
        ("array([1, 2]", ["Missing ')' at the end of array([...])"]),
        ("array([1, 2)", ["Missing ']' in array([...])"]),
        # nothing but a numeric dtype after the list
        ("array([1, 2], dtype=complex128)", ["dtype=complex128 is not a type of real numbers", "type the numbers alone"]),
        ("array([1, 2], dtype=object)", ["dtype=object is not a type of real numbers"]),
        ("array([True, False], dtype=bool)", ["dtype=bool"]),
        ("array([1, 2], copy=False)", ["', copy=False' after the list in array(...) cannot be read", "dtype=float32"]),
        ("array([1, 2], 3)", ["', 3' after the list"]),
        # a function on a list
        ("exp([1, 2])", ["exp applies to one number at a time: write [exp(1), exp(2)]"]),
        ("[np.exp([1, 2])]", ["exp applies to one number at a time"]),
    ],
)
def test_other_calls_on_a_list_say_what_to_type_instead(raw, fragments):
    for spec in (VECTOR, MATRIX, NUMBER):
        with pytest.raises(InvalidAnswer) as caught:
            parse_answer(raw, spec)
        message = caught.value.message
        assert "nested brackets" not in message, (raw, spec, message)
        for fragment in fragments:
            assert fragment in message, (raw, spec, message)


def test_a_long_name_before_a_list_is_refused_quickly():
    raw = "[" + "a" * 9000 + "([1])]"
    with pytest.raises(InvalidAnswer, match=r"\.\.\.\(\.\.\.\) around the numbers"):
        parse_array(raw)


# --- a trailing separator ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[0.5, -0.25,]", [0.5, -0.25]),
        ("[0.5, -0.25, ]", [0.5, -0.25]),
        ("0.5, -0.25,", [0.5, -0.25]),
        ("[0.5 -0.25;]", [0.5, -0.25]),
        ("0.5, -0.25;", [0.5, -0.25]),
        ("[0.5, -0.25],", [0.5, -0.25]),  # a line of a pasted list of lists
        ("[0.5, -0.25];", [0.5, -0.25]),  # MATLAB's statement without its output
        ("(0.5, -0.25,)", [0.5, -0.25]),  # a Python tuple
    ],
)
def test_a_trailing_comma_or_semicolon_is_read_in_a_vector(raw, expected):
    np.testing.assert_array_equal(parse_answer(raw, VECTOR).value, expected)


@pytest.mark.parametrize(
    "raw",
    [
        "[[1, 2], [3, 4],]",
        "[[1, 2,], [3, 4,]]",
        "[1 2; 3 4;]",
        "[1 2; 3 4,]",
        "1 2; 3 4;",
        "1, 2; 3, 4,",
        "[1 2; 3 4];",
        "[[1, 2], [3, 4]],",
        "1 2\n3 4\n;",
    ],
)
def test_a_trailing_comma_or_semicolon_is_read_in_a_matrix(raw):
    np.testing.assert_array_equal(parse_answer(raw, MATRIX).value, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("raw", ["0.5,", "0.5;", " 0.5 , ", "1/2;", "np.float64(0.5),"])
def test_a_trailing_comma_or_semicolon_is_read_after_a_number(raw):
    assert float(parse_answer(raw, NUMBER).value) == 0.5


@pytest.mark.parametrize(
    ("raw", "spec", "fragment"),
    [
        # only one separator, after an entry: anything more is a typo worth pointing at
        ("[1, 2,,]", VECTOR, "An entry is missing"),
        ("[1, 2,;]", VECTOR, "An entry is missing"),
        ("[1, 2;,]", VECTOR, "An entry is missing"),
        ("[,]", VECTOR, "An entry is missing"),
        ("[1, 2];;", VECTOR, "Unexpected text after the closing ']'"),
        ("[1, 2],,", VECTOR, "Unexpected text after the closing ']'"),
        ("[1 2; ; 3 4]", MATRIX, "Row 2 is empty"),
        ("0.5,,", NUMBER, "Unexpected ','"),
        ("0,5,", NUMBER, "use '.' for decimals"),  # a decimal comma stays refused
        (",", NUMBER, "No answer given"),
        # a forgotten last entry is not hidden by the trailing ',': the shape says so
        ("[1,]", VECTOR, "Expected a vector of 2 entries, got a vector of 1 entry"),
    ],
)
def test_more_than_one_trailing_separator_is_still_refused(raw, spec, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(raw, spec)
    assert fragment in caught.value.message


def test_text_after_the_list_says_how_to_write_it():
    with pytest.raises(InvalidAnswer) as caught:
        parse_array("[1, 2] [3]")
    assert "an answer is one list, such as [1, 2] or [[1, 2], [3, 4]]" in caught.value.message
