"""A student who makes a modelled mistake is never credited for it through a rounded path.

Graders accept the exact answer, the rounded-intermediate paths ("alternatives") and the range
between them, each with the tolerance. A mistake whose answer falls in that region would score
like careful rounding: backprop_chain seed 3 (hand) had updated_later_weights give
Δ_4 = -0.013027 against -0.012862 exact, 1.3 % off but within 1 % of the rounded path -0.0129.
Generators redraw such instances (ProblemKind._finish); this checks it through the grader.
"""

import pytest

from autograder.grading import GradingPolicy, grade_submission
from nncore.problems import get_kind
from nncore.problems.base import DEFAULT_TOLERANCE, _credited_by_rounding

KINDS_WITH_ROUNDED_PATHS = [
    "forward_mlp", "hidden_delta", "weight_gradient", "layer_gradient", "sgd_update", "backprop_chain",
]
NO_CARRY = GradingPolicy(error_carried_forward=False)  # every field judged on its own


@pytest.mark.parametrize("kind_id", KINDS_WITH_ROUNDED_PATHS)
def test_no_misconception_answer_is_graded_correct(kind_id):
    kind = get_kind(kind_id)
    credited = []
    for seed in [*range(120), 3, 10, 27, 179]:  # 3, 10, 27, 179: collisions before the fix
        instance = kind.generate({"style": "hand"}, seed)
        assert instance["alternatives"], "the kind should have rounded paths to check"
        for misconception in instance["misconceptions"]:
            answers = {**instance["answers"], **misconception["answers"]}
            fields = grade_submission(instance, answers, NO_CARRY).fields
            credited += [
                (seed, misconception["id"], name)
                for name in misconception["answers"]
                if fields[name]["status"] == "correct"
            ]
    assert credited == []


def test_credited_by_rounding_is_the_graders_acceptance_beyond_the_exact_answer():
    exact, paths = -0.0128616226034, [-0.0129, -0.01286]
    assert _credited_by_rounding(-0.0130270439394, exact, paths, DEFAULT_TOLERANCE)  # seed 3's mistake
    assert not _credited_by_rounding(-0.0140, exact, paths, DEFAULT_TOLERANCE)  # clearly wrong
    assert not _credited_by_rounding(exact, exact, paths, DEFAULT_TOLERANCE)  # not moved by the mistake
    # Entrywise: one moved entry inside the widened region is enough.
    assert _credited_by_rounding([1.0, -0.013027], [1.0, exact], [[1.0, -0.0129]], DEFAULT_TOLERANCE)
    assert not _credited_by_rounding(["a"], ["b"], [], DEFAULT_TOLERANCE)  # choices: nothing to credit
