"""A code submission's hidden test cases in full, for the course's staff.

Students see of a hidden case only which step failed and how (autograder.code_grading), unless
the question shows hidden cases. A teacher asked "why does random_3 fail?" needs the case's
inputs, the student's message and traceback, and what the code printed while it ran. They come
from judging the run kept with the submission again as if the question showed hidden cases,
under the question's current settings (as a regrade would): no code runs here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from autograder.code_grading import CodeRunNotKept, refuse_to_run, runs_from_text
from autograder.grading import grade_submission
from exercises.models import Submission
from exercises.services import graded_instance, grading_policy, run_settings


@dataclass
class HiddenCases:
    """The code fields whose feedback withholds hidden cases, judged again with them in full."""

    fields: dict[str, dict] = field(default_factory=dict)  # field name -> feedback, every case shown
    kept: bool = True  # False: the run was not kept (over its size limit), so nothing can be shown
    withheld: bool = False  # whether the student's feedback leaves anything out


def withholds(cases: object) -> bool:
    """Whether a code field's feedback cases leave hidden cases' details out (those cases carry
    no steps): the same for every submission of the question, so this tells students nothing."""
    return isinstance(cases, list) and any(isinstance(c, Mapping) and c.get("hidden") and "steps" not in c for c in cases)


def shown_to_students(question) -> bool:
    """Whether the question shows its hidden cases now: show_hidden_cases may be turned on after
    submissions were graded (say, after the deadline), and their students then see them in full
    here too (their stored feedback was written withholding them)."""
    return bool(run_settings(question).get("show_hidden_cases"))


def hidden_cases_in_full(submission: Submission) -> HiddenCases:
    """What the student's feedback withholds of `submission`, in full, judged under the
    question's current grading policy. Reads the submission's kept code runs."""
    feedback = (submission.feedback or {}).get("fields") or {}
    names = [name for name, value in feedback.items() if isinstance(value, Mapping) and withholds(value.get("cases"))]
    if submission.status != Submission.Status.GRADED or not names:
        return HiddenCases()
    runs = runs_from_text(submission.code_runs)
    if any(name not in runs for name in names):
        return HiddenCases(kept=False, withheld=True)
    question = submission.variant.question
    instance = graded_instance(question, submission.variant.instance)
    revealing = {**instance, "params": {**instance.get("params", {}), "show_hidden_cases": True}}
    try:
        result = grade_submission(
            revealing, submission.answers, grading_policy(question), run_code=refuse_to_run, runs=runs
        )
    except CodeRunNotKept:
        return HiddenCases(kept=False, withheld=True)
    return HiddenCases({name: result.fields[name] for name in names if name in result.fields}, withheld=True)
