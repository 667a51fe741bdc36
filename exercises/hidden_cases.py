"""A code submission's hidden test cases in full, for the course's staff.

Students see of a hidden case only which step failed and how (autograder.code_grading), unless
the question shows hidden cases. A teacher asked "why does random_3 fail?" needs the case's
inputs, the student's message and traceback, and what the code printed while it ran. They come
from judging the run kept with the submission again as if the question showed hidden cases, as
a regrade would judge it: no code runs here, and nothing stored changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from autograder.code_grading import CodeRunNotKept, refuse_to_run, runs_from_text
from autograder.grading import grade_submission
from exercises.models import Submission
from exercises.services import CODE_KIND_IDS, grading_policy


@dataclass
class HiddenCases:
    """The code fields whose feedback withholds hidden cases, judged again with them in full."""

    message: str  # what a teacher reads: what follows, or why there is nothing to show
    fields: dict[str, dict] = field(default_factory=dict)  # field name -> feedback, every case shown
    kept: bool = True  # False: the run was not kept, so nothing can be shown
    withheld: bool = False  # whether the student's feedback leaves anything out


IN_FULL = "Every test case in full: what the student's feedback would show if the question showed hidden cases."
NOT_KEPT = (
    "This submission's run was not kept (its results were too large to store, or it was graded before "
    "runs were kept), so its hidden cases cannot be shown."
)
NOT_GRADED = {
    Submission.Status.QUEUED: "This submission is waiting to be graded: it has no test results yet.",
    Submission.Status.GRADING: "This submission is being graded: it has no test results yet.",
    Submission.Status.REJECTED: "This submission was not graded (its answer could not be read), so no test case ran.",
    Submission.Status.ERROR: "Grading this submission failed on our side, so it has no test results.",
}


def withholds(cases: object) -> bool:
    """Whether a code field's feedback cases leave hidden cases' details out (those cases carry
    no steps): the same for every submission of the question, so this tells students nothing."""
    return isinstance(cases, list) and any(isinstance(c, Mapping) and c.get("hidden") and "steps" not in c for c in cases)


def hidden_cases_in_full(submission: Submission) -> HiddenCases:
    """What the student's feedback withholds of `submission`, in full, judged from its kept run
    with the drawn instance and the question's current grading policy (as a regrade judges)."""
    question = submission.variant.question
    if question.kind not in CODE_KIND_IDS:
        return HiddenCases("This is not a code question: it has no test cases.")
    if submission.status != Submission.Status.GRADED:
        return HiddenCases(NOT_GRADED.get(submission.status, f"This submission is {submission.status}."))
    feedback = (submission.feedback or {}).get("fields") or {}
    names = [name for name, value in feedback.items() if isinstance(value, Mapping) and withholds(value.get("cases"))]
    if not names:
        return HiddenCases("Nothing is withheld: the student's feedback shows every test case.")
    runs = runs_from_text(submission.code_runs)
    if any(name not in runs for name in names):
        return HiddenCases(NOT_KEPT, kept=False, withheld=True)
    instance = submission.variant.instance
    revealing = {**instance, "params": {**instance.get("params", {}), "show_hidden_cases": True}}
    try:
        result = grade_submission(revealing, submission.answers, grading_policy(question), run_code=refuse_to_run, runs=runs)
    except CodeRunNotKept:
        return HiddenCases(NOT_KEPT, kept=False, withheld=True)
    return HiddenCases(IN_FULL, {name: result.fields[name] for name in names if name in result.fields}, withheld=True)
