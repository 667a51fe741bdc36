"""Initialisation questions graded end to end: symmetry_breaking's part (c) and init_scale's
choice questions (QA round: part (c) gave the ties away; a right scheme with the other scheme's
formula was graded 0 without a word)."""

import pytest

from autograder.grading import GradingPolicy, grade_submission
from nncore.problems import get_kind

NO_CARRY = GradingPolicy(error_carried_forward=False)


@pytest.mark.parametrize("init", ["zeros", "constant", "tied", "partial", "random"])
def test_symmetry_breaking_weight_right_only_with_its_last_step(init):
    kind = get_kind("symmetry_breaking")
    for seed in range(8):
        instance = kind.generate({"init": init}, seed)
        answers = instance["answers"]
        typed = {
            "breaks": answers["breaks"],
            "tied_units": ",".join(answers["tied_units"]),
            "weight": repr(answers["weight"]),
        }
        assert grade_submission(instance, typed, NO_CARRY).score == 1.0, (init, seed)
        before = instance["fields"][2]["step_from"]
        if before != answers["weight"]:
            graded = grade_submission(instance, {**typed, "weight": repr(before)}, NO_CARRY)
            assert graded.fields["weight"]["status"] == "incorrect", (init, seed)


def test_symmetry_breaking_frozen_tied_weight_is_named():
    kind = get_kind("symmetry_breaking")
    named = 0
    for seed in range(10):
        instance = kind.generate({"init": "constant"}, seed)
        frozen = next((m for m in instance["misconceptions"] if m["id"] == "tied_weights_frozen"), None)
        if frozen is None:
            continue
        graded = grade_submission(instance, {"weight": repr(frozen["answers"]["weight"])}, NO_CARRY)
        assert graded.fields["weight"]["misconception"] == "tied_weights_frozen"
        named += 1
    assert named >= 5


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_init_scale_right_scheme_with_the_other_formula_is_named(activation):
    kind = get_kind("init_scale")
    for seed in range(10):
        instance = kind.generate({"ask": "choice", "activation": activation, "style": "random"}, seed)
        data = instance["prompt"]["data"]
        n_in, n_out = data["n_in"], data["n_out"]
        other = (2 / (n_in + n_out)) ** 0.5 if activation == "relu" else (2 / n_in) ** 0.5
        graded = grade_submission(instance, {"scheme": instance["answers"]["scheme"], "std": repr(other)}, NO_CARRY)
        assert graded.fields["scheme"]["status"] == "correct"
        assert graded.fields["std"]["misconception"] == "other_scheme_formula", seed
        forgot = grade_submission(instance, {"std": repr(instance["answers"]["std"] / 2**0.5)}, NO_CARRY)
        assert forgot.fields["std"]["misconception"] == "forgot_2", seed
