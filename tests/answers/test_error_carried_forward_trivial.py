"""Error carried forward gives no credit for work the student's own earlier answers made trivial.

QA: in backprop_chain a student who typed 0 for every activation (a sigmoid's a_j = 0 zeroes
g'(in_j) = a_j(1 - a_j), and with it every Δ and gradient after it), the loss of that output,
0 for every Δ and gradient, and the printed weights as the "updated" ones earned 14 of the 17
fields as "Correct for your earlier answers", on every seed. Now an entry the student's values
shrink to nothing, where the right work does not, is judged against the right value.
"""

import numpy as np

from autograder.grading import CARRIED_ERROR, CARRIED_TRIVIAL, grade_submission
from nncore.problems import get_kind


def zeros_and_printed_weights(instance) -> dict:
    """The exploit: every activation, Δ and gradient 0, the loss of output 0, no step taken."""
    data = instance["prompt"]["data"]
    y = np.asarray(data["y"], dtype=np.float64)
    answers = {}
    for spec in instance["fields"]:
        name, (quantity, _) = spec["name"], data["quantities"][spec["name"]]
        if "step_from" in spec:
            answers[name] = repr(spec["step_from"])
        elif quantity == "L":
            answers[name] = repr(float(np.sum(y**2)))  # (y - 0)^2 for the squared loss
        else:
            answers[name] = "0"
    return answers


def test_zeros_and_the_printed_weights_earn_nothing_carried_forward():
    kind = get_kind("backprop_chain")
    for seed in range(20):
        instance = kind.generate({}, seed)
        assert instance["prompt"]["data"]["loss"] == "squared"
        result = grade_submission(instance, zeros_and_printed_weights(instance))
        credited = sorted(name for name, field in result.fields.items() if field["score"] > 0)
        assert credited in ([], ["L"]), (seed, credited)  # at most the loss of their own output 0
        assert result.score <= 1 / len(instance["fields"]) + 1e-12, (seed, result.score)
        told = [name for name, field in result.fields.items() if CARRIED_TRIVIAL in field["notes"]]
        assert told, seed  # the student reads why the zeros were not carried
        for name in told:
            assert result.fields[name]["score"] == 0 and result.fields[name]["message"] != CARRIED_ERROR


def test_tiny_activations_instead_of_zeros_earn_nothing_either():
    """a_j = 1e-12 instead of 0: every later value is below the absolute tolerance, so typing 0
    would match it; those entries are trivial too. (A genuine slip is still carried forward:
    test_error_carried_forward_rounding.py, 100 seeds.)"""
    kind = get_kind("backprop_chain")
    for seed in range(10):
        instance = kind.generate({}, seed)
        answers = zeros_and_printed_weights(instance)
        quantities = instance["prompt"]["data"]["quantities"]
        for name, (quantity, _) in quantities.items():
            if quantity.startswith("A"):
                answers[name] = "1e-12"
        result = grade_submission(instance, answers)
        credited = sorted(name for name, field in result.fields.items() if field["score"] > 0)
        assert credited in ([], ["L"]), (seed, credited)


def test_trivial_entries_are_judged_against_the_right_value_entry_by_entry():
    from autograder.grading import _not_trivial

    exact = [0.5, -0.2, 0.0, 3.0]
    carried = [0.0, -0.19, 0.0, 1e-4]  # vanished, an ordinary slip, right is 0 too, shrunk 30,000x
    assert _not_trivial(carried, exact, None).tolist() == [0.5, -0.19, 0.0, 3.0]
    # an updated weight: its step, not its value, is what vanishes
    assert _not_trivial([1.0, 1.02], [0.99, 1.03], [1.0, 1.0]).tolist() == [0.99, 1.02]
    assert _not_trivial([1.0], [1.0], [1.0]).tolist() == [1.0]  # no step in the right work either
