"""An updated weight is graded on its change too: the weight before the step is never right.

QA found that copying w^(t) into sgd_update's answer got full marks for 6 of 13 students (the
1 % tolerance of a weight of 3.0 is 0.03; the step was 0.012), and every new-weight field of
backprop_chain for 5. Fields of updated weights now carry their w^(t) (step_from) and graders
also require the change to within STEP_SHARE of the right one.
"""

import numpy as np
import pytest

from autograder.answers.compare import STEP_TOO_ROUGH
from autograder.grading import GradingPolicy, grade_submission
from nncore.problems import get_kind
from nncore.problems.base import STEP_NOTE, STEP_SHARE, step_close

UPDATE_KINDS = [
    ("sgd_update", {}),
    ("sgd_update", {"target": "layer"}),
    ("sgd_update", {"target": "layer", "notation": "matrix"}),
    ("backprop_chain", {}),
    ("backprop_chain", {"notation": "matrix"}),
    ("sgd_steps", {}),
    ("minibatch_update", {}),
    ("weight_decay_update", {}),
]
NO_CARRY = GradingPolicy(error_carried_forward=False)


def text(value) -> str:
    return repr(value) if not isinstance(value, list) else str(value)


@pytest.mark.parametrize(("kind_id", "params"), UPDATE_KINDS)
def test_the_weight_before_the_step_is_never_graded_right(kind_id, params):
    kind = get_kind(kind_id)
    credited = []
    for seed in range(40):
        instance = kind.generate(params, seed)
        steps = {f["name"]: f["step_from"] for f in instance["fields"] if "step_from" in f}
        assert steps, "an update kind asks updated weights"
        assert STEP_NOTE in instance["prompt"]["text"]  # said before anyone submits
        copied = {**instance["answers"], **steps}
        fields = grade_submission(instance, {k: text(v) for k, v in copied.items()}, NO_CARRY).fields
        for name, start in steps.items():
            moved = np.any(np.asarray(instance["answers"][name]) != np.asarray(start))
            if moved and fields[name]["status"] == "correct":
                credited.append((seed, name))
        exact = grade_submission(instance, {k: text(v) for k, v in instance["answers"].items()}, NO_CARRY)
        assert exact.score == 1.0, seed
    assert credited == []


def test_the_step_to_two_figures_is_right_and_a_step_rounded_away_is_told_so():
    instance = get_kind("sgd_update").generate({}, 2)  # w = -3.0, step 0.00253
    (field,) = instance["fields"]
    name, start, new = field["name"], field["step_from"], instance["answers"][field["name"]]
    assert abs(new - start) < 0.01 * abs(new)  # the step is below the 1 % tolerance
    two_figures = start + float(f"{new - start:.2g}")
    assert grade_submission(instance, {name: repr(two_figures)}).fields[name]["status"] == "correct"
    rounded_away = grade_submission(instance, {name: f"{new:.3g}"}).fields[name]  # "-3": the step is gone
    assert rounded_away["status"] == "incorrect" and STEP_TOO_ROUGH in rounded_away["message"]
    assert "That is the weight before the step" in rounded_away["message"]
    half = start + 0.5 * (new - start)  # a factor 2 forgotten
    assert grade_submission(instance, {name: repr(half)}).fields[name]["status"] == "incorrect"


def test_step_close_allows_a_share_of_the_change_and_no_more():
    assert step_close(3.0 + 0.01 * (1 - STEP_SHARE / 2), 3.01, 3.0)
    assert not step_close(3.0 + 0.01 * (1 - 2 * STEP_SHARE), 3.01, 3.0)
    assert step_close([0.5, 1.0], [0.5, 1.1], [0.5, 1.0]) is False  # the second entry did not move
    assert step_close([0.5, 1.1], [0.5, 1.1], [0.5, 1.0])  # an entry the step leaves must stay
    assert not step_close([0.5001, 1.1], [0.5, 1.1], [0.5, 1.0])
