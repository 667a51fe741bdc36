"""Messages joined into one summary read as one sentence (QA: "... decimals).; a_3: ...")."""

import pytest

from autograder.answers import InvalidAnswer, as_clause, join_messages, parse_answer


@pytest.mark.parametrize(
    ("message", "clause"),
    [
        ("Missing ']'.", "Missing ']'"),
        ("Unexpected ','. Enter a single number (use '.' for decimals).", "Unexpected ','. Enter a single number (use '.' for decimals)"),
        ("  Entry 2: Division by zero.  ", "Entry 2: Division by zero"),
        ("Why not?", "Why not?"),
        ("and so on...", "and so on..."),  # an ellipsis is not a full stop
        ("no full stop", "no full stop"),
        ("", ""),
    ],
)
def test_a_clause_is_the_message_without_its_full_stop(message, clause):
    assert as_clause(message) == clause


def test_joined_messages_of_unreadable_answers_read_cleanly():
    specs = {
        "in_3": {"name": "in_3"},
        "a_3": {"name": "a_3", "type": "vector", "shape": (2,)},
        "W": {"name": "W", "type": "matrix", "shape": (2, 2)},
    }
    typed = {"in_3": "0,5", "a_3": "[1, 2", "W": "[1 2; 3]"}
    problems = {}
    for name, raw in typed.items():
        with pytest.raises(InvalidAnswer) as caught:
            parse_answer(raw, specs[name])
        problems[name] = caught.value.message
    joined = join_messages(f"{name}: {message}" for name, message in problems.items())
    assert joined == (
        "in_3: Unexpected ','. Enter a single number (use '.' for decimals); "
        "a_3: Missing ']'; "
        "W: The rows have different lengths: row 1 has 2 entries, row 2 has 1."
    )
    assert ".;" not in joined and ".." not in joined.replace("...", "")


@pytest.mark.parametrize(
    ("messages", "joined"),
    [
        (["One.", "Two."], "One; Two."),
        (["One", "Two"], "One; Two."),
        (["Only one."], "Only one."),
        (["One.", "", "  ", "Two?"], "One; Two?"),
        (["Cut off after 'abc...'"], "Cut off after 'abc...'."),
        (["Ends in an ellipsis..."], "Ends in an ellipsis..."),
        ([], ""),
    ],
)
def test_join_messages(messages, joined):
    assert join_messages(messages) == joined
    assert ".;" not in joined
    assert ".." not in joined.replace("...", "")  # no doubled full stop, an ellipsis apart


def test_join_messages_takes_another_separator():
    assert join_messages(["A.", "B."], separator=", ") == "A, B."
