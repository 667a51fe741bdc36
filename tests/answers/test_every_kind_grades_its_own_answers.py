"""Every numeric kind's reference answers, submitted as they are, grade as fully correct.

The generator's instance is what the grader reads: field specs (choices as ids or as
{"id", "label"} dicts), answers, alternatives, misconceptions. A kind whose instance the grader
cannot read would leave every submission to it in status "error" (symmetry_breaking's choice
fields did: "choices must be non-empty strings").
"""

import pytest

from autograder.grading import grade_submission
from nncore.problems.registry import CATALOGUE, get_kind

NUMERIC_KINDS = sorted(kind_id for kind_id in CATALOGUE if not kind_id.startswith("code_"))


def _param_variants(kind) -> list[dict]:
    """Defaults, plus each value of every choice parameter on its own (where valid)."""
    variants = [{}]
    for param in kind.params:
        if param.type == "choice":
            variants += [{param.name: value} for value in param.choices if value != param.default]
    return variants


@pytest.mark.parametrize("kind_id", NUMERIC_KINDS)
def test_reference_answers_grade_as_correct(kind_id):
    kind = get_kind(kind_id)
    failures = []
    for params in _param_variants(kind):
        for seed in range(3):
            try:
                instance = kind.generate(params, seed)
            except ValueError:  # a parameter value that does not fit the defaults (ParamError)
                break
            grade = grade_submission(instance, instance["answers"])
            if grade.status != "graded" or grade.score != 1.0:
                failures.append((params, seed, grade.status, grade.score, grade.message))
    assert failures == []
