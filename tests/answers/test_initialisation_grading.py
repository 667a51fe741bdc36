"""Initialisation questions graded end to end: symmetry_breaking's part (c) and init_scale's
choice questions (QA round: part (c) gave the ties away; a right scheme with the other scheme's
formula was graded 0 without a word)."""

import math

import pytest

from autograder.grading import GradingPolicy, grade_submission
from nncore.problems import get_kind

NO_CARRY = GradingPolicy(error_carried_forward=False)


def decimals(value: float, figures: int) -> int:
    """Decimals that write `value` to `figures` significant figures (0 for 0)."""
    return 0 if value == 0 else max(0, figures - 1 - math.floor(math.log10(abs(value))))


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


@pytest.mark.parametrize("params", [{"hidden": "relu"}, {"hidden": "relu", "steps": 3}, {"steps": 3}, {}])
def test_symmetry_breaking_weight_typed_as_the_prompt_asks_is_right(params):
    """The weight to 4 significant figures, with more decimals where its change needs them to be
    right to two significant figures (what the prompt's note asks), is right, also where the last step leaves the weight as it was (review: a ReLU unit
    idle on the last example; only 12 figures were accepted)."""
    kind = get_kind("symmetry_breaking")
    wrong = []
    for seed in range(40):
        instance = kind.generate(params, seed)
        start, exact = instance["fields"][2]["step_from"], instance["answers"]["weight"]
        typed = round(exact, max(decimals(exact, 4), decimals(exact - start, 2)))
        if grade_submission(instance, {"weight": repr(typed)}, NO_CARRY).fields["weight"]["status"] != "correct":
            wrong.append((seed, start, exact, typed))
    assert wrong == []


def test_init_scale_choice_data_does_not_name_the_scheme():
    from exercises.services import student_view

    instance = get_kind("init_scale").generate({"ask": "choice"}, 0)
    assert "scheme" in instance["prompt"]["data"]  # kept for the worked solution and the staff
    assert "scheme" not in student_view(instance)["prompt"]["data"]


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
