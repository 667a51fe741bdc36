"""Every typical bug of a code instance fails at least one of its cases under the instance's own
tolerance: a student with that bug must not get full marks. A draw where a bug's code passes
every case is redrawn (as a numeric kind redraws a mistake that gives the right answer), and
parameters under which it keeps passing refuse the seed (TypicalBugPasses) instead of dropping
the bug. The generator judges its bugs as the grader judges a submission; the grader's own
comparator (autograder.sandbox.compare) agrees with nncore's.

The pinned draws come from a fuzz of seeds 0-300 of every code kind with rtol 0.1 and no random
cases (and a few wider settings): the generator used to keep them with a bug passing every case.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from autograder.code_grading import bugs_passing_every_case, with_tolerance
from autograder.sandbox.compare import array_matches
from nncore.problems.base import ParamError
from nncore.problems.code.harness import judge_case, public_case, run_case
from nncore.problems.code.kind import TypicalBugPasses, passes_every_case
from nncore.problems.code.values import mismatch, observe
from nncore.problems.code_kinds import KINDS

KIND = {k.id: k() for k in KINDS}
IDS = sorted(KIND)
LOOSE = {"rtol": 0.1, "random_cases": 0}


def passing_bugs(instance: dict) -> list[str]:
    """Ids of the instance's typical bugs whose code passes every one of its cases."""
    cases = instance["answers"]["code"]["cases"]
    return [
        m["id"]
        for m in instance["misconceptions"]
        if passes_every_case(m["answers"]["code"], cases)
    ]


def listed_bugs(kind_id: str, params: dict) -> list[str]:
    """Ids of the bugs the kind builds its cases to catch under these parameters."""
    kind = KIND[kind_id]
    return [bug.id for bug in kind.bugs_for(kind.validate_params(params))]


# --- the fuzz's findings, pinned ----------------------------------------------------------------------

PINNED = [
    # (kind, params, seeds where a bug passed every case; the bug, how often in the fuzz)
    ("code_graph_backward", LOOSE, (14, 21, 23, 27, 37)),  # missing_direct_path: 34 of 301 seeds
    ("code_sgd_step", LOOSE, (8, 18, 28)),  # forgot_bias_update or fixed_learning_rate: 39 of 301
    ("code_fgsm", LOOSE, (12, 14, 19)),  # raw_gradient or fixed_eps: 18 of 301
    (
        "code_mlp_forward",
        {**LOOSE, "atol": 0.01, "activation": "relu"},
        (497,),
    ),  # forgot_bias: 1 of 1,000
    ("code_linear_module", {"rtol": 0.1, "lrate": 1e-4}, (1, 2, 3)),  # linear_plus_update: 36 of 40
    ("code_sequential", {"rtol": 0.1, "lrate": 1e-4}, (0, 2)),  # linear_plus_update: 29 of 40
]


@pytest.mark.parametrize(("kind_id", "params", "seeds"), PINNED, ids=[p[0] for p in PINNED])
def test_draws_where_a_typical_bug_passed_every_case_are_redrawn(kind_id, params, seeds):
    """These draws were kept with a bug passing every case: full marks for that bug."""
    for seed in seeds:
        instance = KIND[kind_id].generate(params, seed)
        assert passing_bugs(instance) == [], (kind_id, params, seed)
        assert bugs_passing_every_case(instance) == [], "the grader's own check agrees"
        assert [m["id"] for m in instance["misconceptions"]] == listed_bugs(kind_id, params), (
            "no bug dropped"
        )
        assert instance["draw"] > 0, "the first draw was refused"


def test_parameters_under_which_a_bug_always_passes_refuse_the_seed_naming_it():
    """Not a ParamError: the service tries its fallback seeds for a student, and refuses the
    settings when the question is saved (exercises.serializers.validate_kind_params)."""
    with pytest.raises(
        TypicalBugPasses, match="'Updated with \\+ instead of −' passes every test case"
    ) as info:
        KIND["code_linear_module"].generate({"atol": 0.01, "lrate": 1e-4}, 0)
    assert isinstance(info.value, RuntimeError) and not isinstance(info.value, ParamError)
    assert info.value.bug["id"] == "linear_plus_update"


def test_running_the_bugs_leaves_numpys_global_random_state_alone():
    """The module bugs' Linear() draws initial weights from np.random: a caller's seeded stream
    must come out of generate() as it went in."""
    np.random.seed(5)
    expected = np.random.random(3)
    np.random.seed(5)
    KIND["code_sequential"].generate({}, 0)
    assert np.array_equal(np.random.random(3), expected)


# --- the property, for every kind ---------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", IDS)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32), loose=st.booleans(), random_cases=st.integers(0, 2))
@example(seed=1, loose=True, random_cases=0)  # code_sgd_step's forgot_bias_update passed
@example(seed=14, loose=True, random_cases=0)  # code_graph_backward's and code_fgsm's bugs passed
def test_every_typical_bug_fails_a_case_of_every_instance(kind_id, seed, loose, random_cases):
    params = {"random_cases": random_cases, **({"rtol": 0.1, "atol": 0.01} if loose else {})}
    instance = KIND[kind_id].generate(params, seed)
    assert passing_bugs(instance) == []
    assert [m["id"] for m in instance["misconceptions"]] == listed_bugs(kind_id, params)


# --- nncore's judgement and the grader's agree ------------------------------------------------------------


def _judged_as_submitted(source: str, cases: list[dict]) -> bool:
    """Whether `source` passes every case judged as a submission is: run on the public cases as
    JSON (what the sandbox gets), its observations as JSON, harness.judge_case."""
    namespace: dict = {}
    exec(compile(source, "<bug>", "exec"), namespace)  # trusted: the generator's own bugs
    with np.errstate(all="ignore"):
        for case in cases:
            observed = run_case(namespace, json.loads(json.dumps(public_case(case))))
            if not judge_case(case, json.loads(json.dumps(observed))).passed:
                return False
    return True


@pytest.mark.parametrize("kind_id", ["code_graph_backward", "code_sgd_step"])
def test_a_loose_override_is_judged_alike_by_the_generator_and_the_grader(kind_id):
    """The question's tolerance override can let a bug through again; bugs_passing_every_case
    (the save-time check) must say so exactly when judging the bug as a submission would."""
    override = {"rtol": 0.1, "atol": 0.01}
    found = 0
    for seed in range(30):
        instance = KIND[kind_id].generate({"random_cases": 0}, seed)
        cases = [with_tolerance(c, override) for c in instance["answers"]["code"]["cases"]]
        passing = [m["id"] for m in bugs_passing_every_case(instance, tolerance=override)]
        assert passing == [
            m["id"]
            for m in instance["misconceptions"]
            if _judged_as_submitted(m["answers"]["code"], cases)
        ], seed
        assert bugs_passing_every_case(instance) == []  # under the instance's own tolerance
        found += bool(passing)
    assert found, "the override lets some bug through on some seed"


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_nncore_and_the_sandbox_comparator_agree(data):
    """values.mismatch (case judging, nncore) and sandbox.compare.array_matches (the grader's
    flat comparator) accept the same float64 arrays against a finite expectation."""
    rows, cols = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    expected = np.array(
        data.draw(st.lists(finite, min_size=rows * cols, max_size=rows * cols))
    ).reshape(rows, cols)
    rtol = data.draw(st.sampled_from([1e-9, 1e-6, 0.1]))
    atol = data.draw(st.sampled_from([1e-12, 1e-9, 0.01]))
    width = atol + rtol * np.abs(expected)
    scale = np.array(
        data.draw(
            st.lists(
                st.sampled_from([0.0, 0.5, 1.0, 1.0 + 1e-9, 2.0, -1.0, -3.0]),
                min_size=rows * cols,
                max_size=rows * cols,
            )
        )
    ).reshape(rows, cols)
    got = expected + scale * width
    trap = data.draw(st.sampled_from(["none", "nan", "inf", "transposed", "flat"]))
    if trap in ("nan", "inf"):
        got[data.draw(st.integers(0, rows - 1)), 0] = np.nan if trap == "nan" else np.inf
    elif trap == "transposed":
        got = got.T.copy()
    elif trap == "flat":
        got = got.reshape(-1)
    tolerance = {"rtol": rtol, "atol": atol}
    nncore_accepts = mismatch({"type": "array", "value": expected}, observe(got), tolerance) is None
    assert nncore_accepts == array_matches(got, expected, rtol=rtol, atol=atol)
