"""Comparison: rounding-aware alternatives, partial credit, feedback, misconceptions."""

import json
import math

import numpy as np
import pytest

from autograder.answers import (
    FieldResult,
    FieldSpec,
    Misconception,
    Tolerance,
    compare_answer,
    grade_field,
)

NUMBER = FieldSpec("in_3", "net input of unit 3")
VECTOR = FieldSpec("h", shape=(3,), type="vector")
MATRIX = FieldSpec("W", shape=(2, 2), type="matrix")
BIG = FieldSpec("X", shape=(4, 4), type="matrix")
CHOICE = FieldSpec("act", type="choice", choices=("relu", "sigmoid", "tanh"))
CHOICES = FieldSpec("true", type="choices", choices=("a", "b", "c", "d"))

# The lecture notes' worked example: in_3 = 0.2122 + 0.1449*0.4 + 0.1561*0.5, with the
# weights rounded to 4 decimals along the way. The notes get 0.34821; exact arithmetic
# (unrounded weights) gives 0.34813.
NOTES_IN_3 = 0.2122 + 0.1449 * 0.4 + 0.1561 * 0.5
EXACT_IN_3 = 0.34813


# --- rounding-aware acceptance ---------------------------------------------------------------


def test_notes_value_is_what_the_notes_say():
    assert NOTES_IN_3 == pytest.approx(0.34821, abs=1e-12)


def test_rounded_path_answer_needs_the_alternative_under_a_tight_sigfig_rule():
    tight = Tolerance(sigfigs=4)
    # 0.3482 (the notes' value to 4 s.f.) is 0.7 units of the 4th digit from 0.34813.
    without = grade_field("0.3482", NUMBER, EXACT_IN_3, tolerance=tight)
    assert without.status == "incorrect"
    with_path = grade_field(
        "0.3482", NUMBER, EXACT_IN_3, tolerance=tight, alternatives=[NOTES_IN_3]
    )
    assert with_path.status == "correct"
    assert with_path.score == 1.0


def test_exact_answer_stays_correct_with_alternatives():
    tight = Tolerance(sigfigs=4)
    for raw in ["0.3481", "0.34813", "0.2122 + 0.1449*0.4 + 0.1561*0.5"]:
        result = grade_field(raw, NUMBER, EXACT_IN_3, tolerance=tight, alternatives=[NOTES_IN_3])
        assert result.status == "correct", raw


def test_alternatives_do_not_widen_beyond_their_own_tolerance():
    tight = Tolerance(sigfigs=4)
    for raw in ["0.3483", "0.3480"]:
        result = grade_field(raw, NUMBER, EXACT_IN_3, tolerance=tight, alternatives=[NOTES_IN_3])
        assert result.status == "incorrect", raw


def test_values_between_the_paths_are_accepted():
    tolerance = Tolerance(rtol=0.0, atol=1e-6)
    result = grade_field("0.34817", NUMBER, 0.34813, tolerance=tolerance, alternatives=[0.34821])
    assert result.status == "correct"
    result = grade_field("0.34817", NUMBER, 0.34813, tolerance=tolerance)
    assert result.status == "incorrect"


def test_several_alternatives_span_an_interval_entrywise():
    exact = np.array([0.5, -0.2, 1.0])
    paths = [np.array([0.51, -0.21, 1.0]), np.array([0.49, -0.19, 1.0])]
    tolerance = Tolerance(rtol=0.0, atol=1e-9)
    assert (
        grade_field(
            "[0.495, -0.205, 1]", VECTOR, exact, tolerance=tolerance, alternatives=paths
        ).status
        == "correct"
    )
    result = grade_field(
        "[0.495, -0.215, 1]", VECTOR, exact, tolerance=tolerance, alternatives=paths
    )
    assert result.status == "incorrect"
    assert result.wrong_entries == [(2,)]


def test_sigmoid_as_written_in_the_notes_passes_four_sigfigs():
    sigma = 1 / (1 + math.exp(-0.19))
    assert grade_field("0.5474", NUMBER, sigma, tolerance={"sigfigs": 4}).status == "correct"
    assert grade_field("0.547", NUMBER, sigma, tolerance={"sigfigs": 4}).status == "incorrect"


# --- shape and finiteness come first ---------------------------------------------------------


def test_broadcastable_wrong_shape_is_invalid_not_correct():
    # np.allclose([1, 1], [[1, 1], [1, 1]]) is True; we must not accept it.
    assert np.allclose([1.0, 1.0], np.ones((2, 2)))
    result = compare_answer(np.ones(2), MATRIX, np.ones((2, 2)))
    assert result.status == "invalid"
    assert result.message == "Expected a 2×2 matrix, got a vector of 2 entries."
    assert grade_field([1, 1], MATRIX, np.ones((2, 2))).status == "invalid"
    assert grade_field("1", MATRIX, np.ones((2, 2))).status == "invalid"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_invalid_even_when_passed_directly(bad):
    # not (abs(got - exp) > tol).any() would accept NaN; we must not.
    result = compare_answer(np.array([1.0, bad, 1.0]), VECTOR, np.ones(3))
    assert result.status == "invalid"
    assert "finite" in result.message


def test_non_numeric_value_passed_directly_is_invalid():
    assert compare_answer("abc", VECTOR, np.ones(3)).status == "invalid"
    assert compare_answer([1, None, 2], VECTOR, np.ones(3)).status == "invalid"


# --- partial credit and feedback -------------------------------------------------------------


def test_all_or_nothing_by_default():
    result = grade_field("[[1, 2], [3, 5]]", MATRIX, np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert result.status == "incorrect"
    assert result.score == 0.0
    assert result.wrong_entries == [(2, 2)]
    assert result.message == "Entry (2, 2) is off."


def test_per_entry_partial_credit():
    reference = np.array([[1.0, 2.0], [3.0, 4.0]])
    result = grade_field("[[1, 0], [0, 4]]", MATRIX, reference, per_entry=True)
    assert result.status == "partial"
    assert result.score == 0.5
    assert result.wrong_entries == [(1, 2), (2, 1)]
    assert result.message == "2 of 4 entries are off: (1, 2), (2, 1)."


def test_per_entry_all_wrong_is_incorrect_and_all_right_is_correct():
    reference = np.array([1.0, 2.0, 3.0])
    wrong = grade_field("[9, 9, 9]", VECTOR, reference, per_entry=True)
    assert (wrong.status, wrong.score) == ("incorrect", 0.0)
    assert wrong.message == "3 of 3 entries are off: 1, 2, 3."
    right = grade_field("[1, 2, 3]", VECTOR, reference, per_entry=True)
    assert (right.status, right.score, right.message) == ("correct", 1.0, "Correct.")


def test_vector_entries_are_named_by_single_index():
    result = grade_field("[1, 5, 3]", VECTOR, np.array([1.0, 2.0, 3.0]), per_entry=True)
    assert result.wrong_entries == [(2,)]
    assert result.score == pytest.approx(2 / 3)
    assert result.message == "Entry 2 is off."


def test_expected_values_are_hidden_by_default():
    reference = np.array([[0.125, 0.7071], [3.25, 4.5]])
    result = grade_field("[[0.125, 0.5], [3.25, 9]]", MATRIX, reference)
    for hidden in ["0.7071", "0.707", "4.5"]:
        assert hidden not in result.message
    assert json.dumps(result.to_dict()).count("0.707") == 0


def test_reveal_names_expected_values():
    reference = np.array([[0.125, 0.70710678], [3.25, 4.5]])
    result = grade_field("[[0.125, 0.5], [3.25, 9]]", MATRIX, reference, reveal=True)
    assert result.message == (
        "Entry (1, 2) is off: expected ≈ 0.7071. Entry (2, 2) is off: expected ≈ 4.5."
    )


def test_scalar_feedback():
    hidden = grade_field("0.4", NUMBER, 0.34813)
    assert hidden.message == "Not within tolerance of the expected value."
    assert hidden.wrong_entries == []
    shown = grade_field("0.4", NUMBER, 0.34813, reveal=True, tolerance={"sigfigs": 3})
    assert shown.message == "Not within tolerance of the expected value ≈ 0.348."


def test_long_lists_of_wrong_entries_are_shortened():
    result = grade_field(np.ones((4, 4)).tolist(), BIG, np.zeros((4, 4)) + 2, per_entry=True)
    assert len(result.wrong_entries) == 16
    assert result.message.startswith("16 of 16 entries are off: (1, 1), (1, 2),")
    assert result.message.endswith("(3, 2) and 6 more.")
    revealed = grade_field(np.ones((4, 4)).tolist(), BIG, np.zeros((4, 4)) + 2, reveal=True)
    assert revealed.message.endswith("6 more entries are off.")


def test_notes_are_carried_into_the_result():
    spec = FieldSpec("h", shape=(2, 1), type="vector")
    result = grade_field("[0.5, 0.25]", spec, np.array([[0.5], [0.25]]))
    assert result.status == "correct"
    assert result.notes == ["Your list was read as the 2×1 column vector asked for."]


# --- misconceptions --------------------------------------------------------------------------

FORGOT_BIAS = {
    "id": "forgot-bias",
    "name": "Forgot the bias",
    "explanation": "Did you forget to add the bias term?",
    "answer": 0.1361,
}
SIGN_ERROR = {
    "id": "sign",
    "name": "Sign error in the gradient",
    "explanation": "Check the sign of the gradient step.",
    "answer": -0.34813,
}


def test_misconception_is_reported():
    result = grade_field("0.136", NUMBER, 0.34813, misconceptions=[FORGOT_BIAS, SIGN_ERROR])
    assert result.status == "incorrect"
    assert result.misconception == "forgot-bias"
    assert result.message.endswith("Did you forget to add the bias term?")


def test_misconception_uses_the_same_tolerance():
    assert grade_field("-0.348", NUMBER, 0.34813, misconceptions=[SIGN_ERROR]).misconception == (
        "sign"
    )
    tight = grade_field(
        "-0.348", NUMBER, 0.34813, misconceptions=[SIGN_ERROR], tolerance={"sigfigs": 4}
    )
    assert tight.misconception is None


def test_unmatched_wrong_answer_has_no_misconception():
    result = grade_field("0.9", NUMBER, 0.34813, misconceptions=[FORGOT_BIAS, SIGN_ERROR])
    assert result.misconception is None
    assert "bias" not in result.message


def test_correct_answer_never_matches_a_misconception():
    same_as_reference = {"id": "same", "name": "", "explanation": "x", "answer": 0.34813}
    result = grade_field("0.34813", NUMBER, 0.34813, misconceptions=[same_as_reference])
    assert result.status == "correct"
    assert result.misconception is None
    assert result.message == "Correct."


def test_first_matching_misconception_wins():
    first = {"id": "first", "explanation": "one", "answer": 2.0}
    second = {"id": "second", "explanation": "two", "answer": 2.001}
    result = grade_field("2", NUMBER, 1.0, misconceptions=[first, second])
    assert result.misconception == "first"


def test_every_mistake_that_gives_the_answer_is_explained():
    """w + α∇ comes from a sign flipped in the derivative or in the update: say both."""
    sign = {"id": "sign_error", "explanation": "d/da (y - a)^2 is -2(y - a).", "answer": 1.2}
    plus = {"id": "plus_update", "explanation": "Gradient descent subtracts α∇.", "answer": 1.2}
    result = grade_field("1.2", NUMBER, 0.8, misconceptions=[sign, plus])
    assert result.misconception == "sign_error"
    assert result.message.endswith(
        "d/da (y - a)^2 is -2(y - a). The same numbers also come from another mistake: "
        "Gradient descent subtracts α∇."
    )
    alone = grade_field("1.2", NUMBER, 0.8, misconceptions=[plus])
    assert "another mistake" not in alone.message and alone.message.endswith("subtracts α∇.")


def test_array_misconception_needs_every_entry_to_match():
    transposed = Misconception(
        "transpose", "Transposed W", "Check W's orientation.", [[1.0, 3.0], [2.0, 4.0]]
    )
    reference = np.array([[1.0, 2.0], [3.0, 4.0]])
    hit = grade_field(
        "[[1, 3], [2, 4]]", MATRIX, reference, misconceptions=[transposed], per_entry=True
    )
    assert (hit.status, hit.score, hit.misconception) == ("partial", 0.5, "transpose")
    assert "Check W's orientation." in hit.message
    miss = grade_field("[[1, 3], [2, 5]]", MATRIX, reference, misconceptions=[transposed])
    assert miss.misconception is None


def test_whole_problem_misconceptions_are_picked_per_field():
    # The problem generators store {"answers": {field name: value}} for all fields at once.
    mistake = {
        "id": "no-bias",
        "name": "Forgot the bias",
        "explanation": "Add the bias.",
        "answers": {"in_3": 0.1361, "out": 0.534},
    }
    other_field_only = {"id": "other", "explanation": "?", "answers": {"out": 0.1361}}
    result = grade_field("0.1361", NUMBER, 0.34813, misconceptions=[other_field_only, mistake])
    assert result.misconception == "no-bias"
    assert result.message.endswith("Add the bias.")


# --- choices ----------------------------------------------------------------------------------


def test_single_choice():
    assert grade_field("relu", CHOICE, "relu").status == "correct"
    wrong = grade_field("tanh", CHOICE, "relu")
    assert (wrong.status, wrong.score) == ("incorrect", 0.0)
    assert "relu" not in wrong.message
    assert "'relu'" in grade_field("tanh", CHOICE, "relu", reveal=True).message


def test_choice_misconception():
    mistake = {"id": "saturates", "explanation": "tanh saturates too.", "answer": "tanh"}
    result = grade_field("tanh", CHOICE, "relu", misconceptions=[mistake])
    assert result.misconception == "saturates"
    assert result.message.endswith("tanh saturates too.")
    assert grade_field("relu", CHOICE, "relu", misconceptions=[mistake]).misconception is None


def test_set_of_choices():
    assert grade_field(["c", "a"], CHOICES, {"a", "c"}).status == "correct"
    assert grade_field("a, c", CHOICES, ["a", "c"]).status == "correct"
    assert grade_field([], CHOICES, set()).status == "correct"
    wrong = grade_field(["a", "d"], CHOICES, {"a", "c"})
    assert (wrong.status, wrong.score) == ("incorrect", 0.0)
    assert wrong.message == "Your selection is not right: 2 of 4 options are marked wrongly."
    one_off = grade_field(["a"], CHOICES, {"a", "c"})
    assert one_off.message == "Your selection is not right: 1 of 4 options is marked wrongly."


def test_set_of_choices_per_option_credit():
    result = grade_field(["a", "d"], CHOICES, {"a", "c"}, per_entry=True)
    assert (result.status, result.score) == ("partial", 0.5)
    revealed = grade_field(["a", "d"], CHOICES, {"a", "c"}, reveal=True)
    assert revealed.message == "Also select: c. Do not select: d."


def test_set_of_choices_misconception():
    mistake = {
        "id": "all",
        "explanation": "Not every option holds.",
        "answer": ["a", "b", "c", "d"],
    }
    result = grade_field("a b c d", CHOICES, {"a"}, misconceptions=[mistake])
    assert result.misconception == "all"


# --- results and caller errors ----------------------------------------------------------------


def test_to_dict_is_json_serialisable():
    result = grade_field(
        "[[1, 0], [0, 4]]", MATRIX, np.array([[1.0, 2.0], [3.0, 4.0]]), per_entry=True
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data == {
        "field": "W",
        "status": "partial",
        "score": 0.5,
        "message": "2 of 4 entries are off: (1, 2), (2, 1).",
        "notes": [],
        "wrong_entries": [[1, 2], [2, 1]],
        "misconception": None,
    }


def test_none_means_no_alternatives_or_misconceptions():
    result = grade_field("0.5", NUMBER, 0.5, alternatives=None, misconceptions=None)
    assert result.status == "correct"


def test_alternatives_may_be_one_stacked_array():
    result = grade_field(
        "[0.3482]",
        FieldSpec("v", shape=(1,), type="vector"),
        np.array([0.34813]),
        tolerance={"sigfigs": 4},
        alternatives=np.array([[0.34821]]),
    )
    assert result.status == "correct"


def test_invalid_answer_result():
    result = grade_field("1/0", NUMBER, 1.0)
    assert result == FieldResult("invalid", 0.0, "Division by zero.", [], [], None, "in_3")


@pytest.mark.parametrize(
    ("spec", "reference", "kwargs"),
    [
        (VECTOR, np.ones(4), {}),
        (VECTOR, np.ones((3, 1)), {}),
        (MATRIX, np.ones(4), {}),
        (NUMBER, float("nan"), {}),
        (NUMBER, "abc", {}),
        (NUMBER, 1.0, {"alternatives": [np.ones(2)]}),
        (NUMBER, 1.0, {"alternatives": [float("inf")]}),
        (NUMBER, 1.0, {"misconceptions": [{"id": "x"}]}),
        (NUMBER, 1.0, {"misconceptions": [{"id": "x", "answer": [1, 2]}]}),
        (NUMBER, 1.0, {"tolerance": {"sigfigs": 0}}),
        (CHOICE, "softmax", {}),
        (CHOICE, "relu", {"alternatives": ["tanh"]}),
        (CHOICE, "relu", {"misconceptions": [{"id": "x", "answer": "softmax"}]}),
        (CHOICES, {"a", "e"}, {}),
        (CHOICES, 3, {}),
    ],
)
def test_bad_caller_data_raises_even_for_unreadable_answers(spec, reference, kwargs):
    with pytest.raises(ValueError):
        grade_field("???", spec, reference, **kwargs)


def test_a_transposed_square_matrix_is_named():
    """A non-square matrix given transposed is told 'rows and columns seem to be swapped' by
    the shape check; a square one only got '2 of 4 entries are off: (1, 2), (2, 1)'."""
    expected = [[1.0, 2.0], [3.0, 4.0]]
    transposed = grade_field("[1 3; 2 4]", MATRIX, expected)
    assert transposed.status == "incorrect" and "transposed: rows and columns are swapped" in transposed.message
    other = grade_field("[1 3; 2 5]", MATRIX, expected)
    assert "transposed" not in other.message
    symmetric = grade_field("[1 2; 2 1]", MATRIX, [[1.0, 2.0], [2.0, 1.5]])
    assert "transposed" not in symmetric.message  # its transpose is itself: no hint to give


def test_an_answer_rounded_too_far_is_told_it_is_close():
    """QA: Δ = -0.06508 typed as -0.07 only got 'Not within tolerance of the expected value.'"""
    from autograder.answers import grade_field
    from autograder.answers.compare import ROUNDED_TOO_FAR

    number = {"name": "d", "type": "number", "shape": []}
    assert ROUNDED_TOO_FAR in grade_field("-0.07", number, -0.06508).message
    assert ROUNDED_TOO_FAR not in grade_field("-0.5", number, -0.06508).message  # not a rounding
    vector = {"name": "p", "type": "vector", "shape": [4]}
    typed = grade_field("0.002, 0.022, 0.368, 0.607", vector, [0.00214, 0.0215, 0.3695, 0.6068])
    assert typed.status == "incorrect" and ROUNDED_TOO_FAR in typed.message
    one_far = grade_field("0.002, 0.9, 0.368, 0.607", vector, [0.00214, 0.0215, 0.3695, 0.6068])
    assert ROUNDED_TOO_FAR not in one_far.message
