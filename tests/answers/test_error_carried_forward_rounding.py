"""Error carried forward for a student who rounds: after one early slip, a student who works on
correctly from their own values and types each to 3 significant figures gets every later field.

The recomputation from their typed values alone refused a later field on 14 of 100 backprop_chain
seeds: they kept working with 0.96276 while typing 0.963 (a Δ through 1 - a lost the
difference). The carried answers now also follow the calculator paths and both ends of what
each typed number stands for (half a unit of its last digit, at most of the third figure).
"""

import numpy as np
import pytest

from autograder.grading import _typed_ends, grade_submission
from nncore.network import network_from_dict
from nncore.problems import get_kind
from nncore.problems.chain import chain_pass
from nncore.problems.network_kinds import _pick


def student_after_a_slip(instance, slip: float) -> tuple[str, dict]:
    """The first asked activation off by `slip` (relative), every later value computed exactly
    from it and typed to 3 significant figures."""
    data = instance["prompt"]["data"]
    quantities = data["quantities"]
    names = [f["name"] for f in instance["fields"]]
    first = next(n for n in names if quantities[n][0].startswith("A"))
    quantity, idx = quantities[first]
    net = network_from_dict(data["network"])
    exact = chain_pass(net, np.array(data["x"]), np.array(data["y"]), data["loss"], data["lr"])
    slipped = exact[quantity].copy()
    where = tuple(idx) if idx else ...
    # off by `slip`, or by -`slip` where that would leave the sigmoid's (0, 1): 1.01 is no
    # sigmoid's value, and error carried forward does not build on it
    slipped[where] *= 1 + slip if np.all(slipped[where] * (1 + slip) < 0.99) else 1 - slip
    mine = chain_pass(net, np.array(data["x"]), np.array(data["y"]), data["loss"], data["lr"], override={quantity: slipped})
    mine[quantity] = slipped
    answers = {}
    steps = {f["name"]: f["step_from"] for f in instance["fields"] if "step_from" in f}
    for name in names:
        q, index = quantities[name]
        value = float(np.asarray(_pick(mine, q, tuple(index) if index else None)).reshape(()))
        if name in steps:  # an updated weight: the old one plus the step to 3 figures (base.STEP_NOTE)
            answers[name] = repr(steps[name] + float(f"{value - steps[name]:.3g}"))
        else:
            answers[name] = f"{value:.3g}"
    return first, answers


def test_later_fields_are_credited_after_one_slip_for_a_student_who_rounds():
    kind = get_kind("backprop_chain")
    refused = []
    for seed in range(100):
        instance = kind.generate({}, seed)
        slipped, answers = student_after_a_slip(instance, 0.03)
        result = grade_submission(instance, answers)
        assert result.fields[slipped]["score"] < 1
        refused += [(seed, name) for name, field in result.fields.items() if name != slipped and field["score"] < 1]
    assert refused == []


def test_a_later_mistake_is_still_refused():
    kind = get_kind("backprop_chain")
    for seed in range(30):
        instance = kind.generate({}, seed)
        slipped, answers = student_after_a_slip(instance, 0.03)
        last = instance["fields"][-1]["name"]
        answers[last] = f"{float(answers[last]) * 1.05:.3g}"  # 5 % off what their values give
        assert grade_submission(instance, answers).fields[last]["score"] < 1, seed


@pytest.mark.parametrize(
    ("raw", "value", "half"),
    [("0.963", 0.963, 0.0005), ("3", 3.0, 0.015), ("0", 0.0, 0.0), ("1.20e-3", 0.0012, 0.000005), ("1/3", 1 / 3, None)],
)
def test_the_ends_of_a_typed_number(raw, value, half):
    ends = _typed_ends({"a": raw}, {"a": value})
    if half is None:
        assert ends == []  # an expression is exact
    else:
        assert [e["a"] for e in ends] == pytest.approx([value - half, value + half], abs=1e-15)

