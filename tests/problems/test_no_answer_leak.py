"""What a student sees of an instance (prompt data and diagram) never contains the answers.

Heuristic but strict: an answer value that is not a round number (it needs more than three
decimals) must not appear among the numbers a student is shown. Round numbers are skipped
because a given weight may equal an answer by coincidence.
"""

import pytest

from nncore.problems import CATALOGUE, generate


def numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, float):
        yield value


@pytest.mark.parametrize("kind", sorted(CATALOGUE))
def test_student_visible_data_does_not_contain_the_answers(kind):
    for seed in range(15):
        instance = generate(kind, {}, seed)
        shown = {round(v, 9) for v in numbers([instance["prompt"]["data"], instance["diagram"] or {}])}
        for name, answer in instance["answers"].items():
            telling = [v for v in numbers([answer]) if round(v, 3) != v]
            leaked = telling and all(round(v, 9) in shown for v in telling)
            assert not leaked, f"{kind} seed {seed}: answer {name} is visible in prompt data or diagram"
