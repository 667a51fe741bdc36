"""What is refused when code is submitted, before it costs an attempt (QA at the deadline): code
that defines none of the names the cases call; and what is not refused: code measured by its
UTF-8 size (escaped JSON counted a CJK comment 6 bytes a character), an answer to an earlier
variant of a code question with a fresh variant per attempt (code answers any variant), a
tolerance override no looser than the parameters allow."""

from __future__ import annotations

import json

import pytest
from helpers import client_for

from autograder.code_grading import MAX_SOURCE_CHARS, syntax_problem
from exercises import services
from exercises.models import Submission

pytestmark = pytest.mark.django_db


# Code that defines forward when run (as the harness runs it: module "submission", its names read
# from its namespace) without binding the name in writing: never refused (review).
WORKING_WITHOUT_A_WRITTEN_NAME = [
    "def _f(*a):\n    return a\nimport submission\nsubmission.forward = _f\n",
    "def _f(*a):\n    return a\nmatch _f:\n    case forward:\n        pass\n",
    "def _f(*a):\n    return a\nfrom sys import modules\nmodules[__name__].forward = _f\n",
    "from importlib import import_module\nimport_module(__name__).forward = print\n",
    "import builtins\nbuiltins.globals()['forward'] = print\n",
    "getattr(__import__('builtins'), 'ex' + 'ec')('def forward(*a): return a')\n",
    "import inspect\ninspect.currentframe().f_globals['forward'] = print\n",
    "exec('def forward(*a): return a')\n",
]


def test_the_code_that_defines_forward_without_writing_it_really_defines_it():
    """The list above is what it says: each, run as the harness runs a submission, defines forward."""
    import sys
    import types

    for source in WORKING_WITHOUT_A_WRITTEN_NAME:
        module = types.ModuleType("submission")
        sys.modules["submission"] = module
        try:
            exec(compile(source, "<submission>", "exec"), module.__dict__)  # noqa: S102 - the test's own code
        finally:
            del sys.modules["submission"]
        assert callable(module.__dict__.get("forward")), source


@pytest.mark.parametrize(
    ("source", "entry", "refused"),
    [
        ("import numpy as np\n", ("forward",), "does not define forward"),
        ("def forwrd(X, weights):\n    return X\n", ("forward",), "does not define forward"),
        ("class Tanh:\n    pass\n", ("Tanh", "ReLU"), None),  # partial work on module exercises: graded, partly right
        ("import numpy as np\n", ("Tanh", "ReLU"), "defines none of Tanh, ReLU"),
        ("def forward(X, weights):\n    return X\n", ("forward",), None),
        ("forward = lambda X, weights: X\n", ("forward",), None),
        ("from mylib import forward\n", ("forward",), None),  # fails when run, with its own message
        ("if True:\n    def forward(X, w):\n        return X\n", ("forward",), None),
        ("globals()['forward'] = print\n", ("forward",), None),  # cannot be told: let it run
        ("from numpy import *\n", ("forward",), None),
        ("def forwrd(X):\n    return X\n", (), None),  # no names asked: only the syntax
        # defined only under the main guard, which does not run when the tests load the code (QA)
        ('import numpy as np\nif __name__ == "__main__":\n    def forward(X, w):\n        return X\n    print(forward(1, 2))\n',
         ("forward",), 'defines forward only under `if __name__ == "__main__":`'),
        ("class Tanh:\n    pass\nif '__main__' == __name__:\n    class ReLU:\n        pass\n    class SoftMax:\n        pass\n",
         ("Tanh", "ReLU", "SoftMax"), "defines ReLU and SoftMax only under"),
        ('def forward(X, w):\n    return X\nif __name__ == "__main__":\n    print(forward(1, 2))\n', ("forward",), None),  # tests there: fine
        ('def forward(X, w):\n    return X\nif __name__ == "__main__":\n    def forward(X, w):\n        return w\n', ("forward",), None),
        ('if __name__ == "__main__":\n    def forward(X, w):\n        return X\nelse:\n    forward = print\n', ("forward",), None),
    ]
    + [(source, ("forward",), None) for source in WORKING_WITHOUT_A_WRITTEN_NAME],
)
def test_code_that_defines_none_of_the_names_the_cases_call_is_refused(source, entry, refused):
    problem = syntax_problem(source, entry)
    assert (problem is None) if refused is None else (refused in problem), problem


def test_a_misspelt_function_is_refused_at_submit_without_an_attempt(make_question, student):
    question = make_question("code_mlp_forward", max_attempts=1)
    response = client_for(student).post(
        f"/api/questions/{question.pk}/submissions/", {"answers": {"code": "def forwrd(X, weights):\n    return X\n"}}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "unreadable_answers"
    assert "does not define forward" in response.json()["fields"]["code"] and "no attempt was used" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_code_is_measured_as_it_is_stored(make_question, student):
    question = make_question("code_mlp_forward")
    source = services.current_variant(question, student).instance["answers"]["code"]["source"]
    commented = source + "".join(f"# 这是一个很长的中文注释，第{i}行，解释前向传播的每一步。\n" for i in range(450))
    assert len(commented) < 30_000 and 65_536 < len(commented.encode("unicode_escape")) * 2  # escaped JSON was over the limit
    response = client_for(student).post(f"/api/questions/{question.pk}/submissions/", {"answers": {"code": commented}}, format="json")
    assert response.status_code == 202, response.content
    longest = source + "#" + "中" * (MAX_SOURCE_CHARS - len(source) - 1)  # the stated limit holds in any script
    assert len(longest) == MAX_SOURCE_CHARS  # (QA: a 413 "bytes of UTF-8" at 30,000 CJK characters)
    for body in (json.dumps({"answers": {"code": longest}}), json.dumps({"answers": {"code": longest}}, ensure_ascii=False)):
        taken = client_for(student).post(f"/api/questions/{question.pk}/submissions/", body, content_type="application/json")
        assert taken.status_code == 202, taken.content[:500]
    over = client_for(student).post(f"/api/questions/{question.pk}/submissions/", {"answers": {"code": longest + "中"}}, format="json")
    assert over.status_code == 400 and f"at most {MAX_SOURCE_CHARS}" in over.content.decode(), over.content[:500]


def test_a_code_answer_to_an_earlier_variant_is_taken(make_question, student):
    """Fixed code sent from the page that showed variant 1 after it moved on to variant 2 was a
    409 stale_variant ("answer the numbers it shows now"): code answers any variant."""
    question = make_question("code_mlp_forward", fresh_variant_per_attempt=True)
    services.submit(question, student, {"code": "def forward(X, weights):\n    return X\n"})
    assert services.current_variant(question, student).number == 2
    fixed = client_for(student).post(
        f"/api/questions/{question.pk}/submissions/", {"answers": {"code": "def forward(X, w):\n    return X\n"}, "variant": 1}, format="json"
    )
    assert fixed.status_code == 202, fixed.content
    numeric = make_question("forward_neuron", fresh_variant_per_attempt=True)
    services.submit(numeric, student, {"in_3": "1", "a_3": "0.5"})
    stale = client_for(student).post(
        f"/api/questions/{numeric.pk}/submissions/", {"answers": {"in_3": "1", "a_3": "0.5"}, "variant": 1}, format="json"
    )
    assert stale.status_code == 409 and stale.json()["code"] == "stale_variant"


@pytest.mark.parametrize("tolerance", [{"atol": 100}, {"atol": 0.5}, {"rtol": 5}, {"rtol": 0.2, "atol": 1e-9}])
def test_a_tolerance_looser_than_the_parameters_allow_is_refused(make_question, problem_set, instructor, tolerance):
    """atol 100 gave np.zeros_like full marks on code_softmax (its typical bugs give NaN, which
    no tolerance passes, so the check with the bugs let it through, QA)."""
    teacher = client_for(instructor)
    created = teacher.post(
        f"/api/problem-sets/{problem_set.pk}/questions/", {"kind": "code_softmax", "tolerance": tolerance}, format="json"
    )
    assert created.status_code == 400 and "use at most" in str(created.json()), created.content
    question = make_question("code_softmax")
    regrade = teacher.post(f"/api/questions/{question.pk}/regrade/", {"changes": {"tolerance": tolerance}}, format="json")
    assert regrade.status_code == 400 and "use at most" in regrade.json()["detail"], regrade.content
    linear = teacher.post(  # the reason fits any code kind (QA: it spoke of a softmax's values on a Linear question)
        f"/api/problem-sets/{problem_set.pk}/questions/", {"kind": "code_linear_module", "tolerance": tolerance}, format="json"
    )
    assert linear.status_code == 400 and "too loose to tell wrong results from right ones" in str(linear.json())
    assert "softmax" not in str(linear.json())


def test_a_tolerance_stored_before_the_maximum_does_not_block_other_edits(make_question, student, instructor):
    """Checked on every edit, the new maximum refused raising a time limit (the edit a deadline
    needs) of a question saved earlier with atol 0.05 (review): it applies to new tolerances."""
    question = make_question("code_softmax", tolerance={"atol": 0.05})
    teacher = client_for(instructor)
    raised = teacher.patch(f"/api/questions/{question.pk}/", {"params": {"time_limit_s": 4}}, format="json")
    assert raised.status_code == 200, raised.content
    services.submit(question, student, {"code": "def softmax(z):\n    return z\n"})
    Submission.objects.update(status="graded", attempt_number=1, raw_score=0.0, score=0.0)
    regraded = teacher.post(f"/api/questions/{question.pk}/regrade/", {"changes": {"points": 20}, "apply": True}, format="json")
    assert regraded.status_code == 200, regraded.content
    again = teacher.post(f"/api/questions/{question.pk}/regrade/", {"changes": {"tolerance": {"atol": 0.06}}}, format="json")
    assert again.status_code == 400 and "use at most" in again.json()["detail"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # parsing lets these through; compiling does not (QA: each ran, failed every case, used an attempt)
        ("def f_and_grad(x):\n    return x, x\nreturn None\n", "'return' outside function (line 3)"),
        ("def f_and_grad(x, x=None):\n    return x, x\n", "duplicate argument 'x' in function definition (line 1)"),
        ("def f_and_grad(x):\n    return x, x\nbreak\n", "'break' outside loop (line 3)"),
        ("def f_and_grad(x):\n    nonlocal y\n    return x, x\n", "no binding for nonlocal 'y' found (line 2)"),
    ],
)
def test_code_the_compiler_refuses_is_refused_at_submit(source, message):
    problem = syntax_problem(source, ("f_and_grad",))
    assert problem is not None and problem.startswith("Your code does not parse: ") and message in problem, problem


def test_compiling_runs_nothing_and_keeps_warnings_out():
    """The check compiles the code, never runs it: a top-level side effect does not happen, and a
    SyntaxWarning (is with a literal) is no refusal."""
    assert syntax_problem("import os\nos._exit(3)\ndef forward(X, w):\n    return X is 1\n", ("forward",)) is None


def test_the_starter_code_unchanged_is_refused_without_an_attempt(make_question, student):
    from nncore.problems.registry import get_kind

    question = make_question("code_graph_backward", max_attempts=1)
    starter = get_kind("code_graph_backward").starter
    url = f"/api/questions/{question.pk}/submissions/"
    for sent in (starter, starter.replace("\n", "\r\n") + "\n\n", "\ufeff" + starter):
        response = client_for(student).post(url, {"answers": {"code": sent}}, format="json")
        assert response.status_code == 400 and response.json()["code"] == "unreadable_answers", response.content
        assert "This is the starter code unchanged" in response.json()["fields"]["code"]
    assert not Submission.objects.exists()
    # one line written into it is a submission like any other
    edited = starter.replace("raise NotImplementedError", "return x, x")
    assert client_for(student).post(url, {"answers": {"code": edited}}, format="json").status_code == 202


def test_every_code_prompt_says_what_runs_the_code_and_the_output_limit():
    from autograder.sandbox import Limits
    from nncore.problems import CATALOGUE
    from nncore.problems.code.kind import ENVIRONMENT_TEXT, OUTPUT_LIMIT_KB

    assert Limits().output_kb == OUTPUT_LIMIT_KB  # the limit the prompt states is the one enforced
    for kind_id, kind in CATALOGUE.items():
        if kind_id.startswith("code_"):
            text = kind.generate({}, 0)["prompt"]["text"]
            assert text.endswith(ENVIRONMENT_TEXT) and "256 KB" in text and "NumPy 2" in text, (kind_id, text[-400:])
