"""Typed single numbers: literals, expressions, and hostile or meaningless input."""

import math

import pytest

from autograder.answers import InvalidAnswer, parse_scalar
from autograder.answers.limits import MAX_NESTING, MAX_SCALAR_CHARS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.82", 0.82),
        ("-.5", -0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("2.5e-3", 0.0025),
        ("2.5E-3", 0.0025),
        ("1e3", 1000.0),
        ("1.e2", 100.0),
        ("+3", 3.0),
        ("  42  ", 42.0),
        ("1/3", 1 / 3),
        ("2*3+4", 10.0),
        # products written as in the notes (CS 457: "0.5474(1 - 0.5474)"), and a calculator's x10^
        ("0.5474(1-0.5474)", 0.5474 * (1 - 0.5474)),
        ("0.1 + (0.4526)(0.2478)", 0.1 + 0.4526 * 0.2478),
        ("2(3)^2", 18.0),
        ("-2(3)", -6.0),
        ("5.474x10^-1", 0.5474),
        ("5.474X10^2", 547.4),
        ("5.474x10**-1", 0.5474),
        ("1/2.5x10^3", 0.0004),  # x10^3 belongs to its number, as on the calculator's display
        ("5.474 x 10^-1", 0.5474),  # QA: spaced as a textbook prints it
        ("5.474 X 10 ^ 2", 547.4),
        ("1/2.5 x 10^3", 0.0004),
        ("5.474 \u00d7 10^-1", 0.5474),
        # powers in superscript, as pasted from a PDF or typed on a phone
        ("5.474\u00d710\u207b\u00b9", 0.5474),
        ("10\u207b\u00b2", 0.01),
        ("2\u00b3", 8.0),
        ("2\u00b9\u2070", 1024.0),
        ("e\u207b\u00b2", math.exp(-2)),
        ("10\u207a\u00b2", 100.0),
        ("\u00bd", 0.5),
        ("-\u00be", -0.75),
        ("1+\u2153", 1 + 1 / 3),
        ("\u20142.4", -2.4),  # an em dash for the minus (QA)
        ("\ufeff0.5\u200b", 0.5),  # invisible characters pasted along (QA: 'Unexpected character U+200B')
        ("2*3(4)", 24.0),
        ("(1/2)(3)", 1.5),
        ("2+3*4", 14.0),
        ("(2+3)*4", 20.0),
        ("10-4-3", 3.0),
        ("24/4/3", 2.0),
        ("2^3", 8.0),
        ("2**3", 8.0),
        ("2^3^2", 512.0),
        ("2**3**2", 512.0),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("2^-1", 0.5),
        ("(-8)^3", -512.0),
        ("--3", 3.0),
        ("-+-3", 3.0),
        ("3*-2", -6.0),
        ("e", math.e),
        ("pi", math.pi),
        ("2*pi", 2 * math.pi),
        ("PI", math.pi),
        ("\u03c0/2", math.pi / 2),
        ("exp(1)", math.e),
        ("EXP(0)", 1.0),
        ("log(e)", 1.0),
        ("ln(1)", 0.0),
        ("sqrt(16)", 4.0),
        ("sin(0)", 0.0),
        ("cos(0)", 1.0),
        ("tanh(0)", 0.0),
        ("abs(-2.5)", 2.5),
        ("1/(1+exp(-0.19))", 1 / (1 + math.exp(-0.19))),
        ("0.2122 + 0.1449*0.4 + 0.1561*0.5", 0.2122 + 0.1449 * 0.4 + 0.1561 * 0.5),
        ("exp(-(2^2)/2)", math.exp(-2.0)),
        ("1e-400", 0.0),  # underflows to 0: finite, accepted
        ("3 \u2212 1", 2.0),  # Unicode minus sign
        ("2 \u00d7 3", 6.0),  # multiplication sign
        ("6 \u00f7 4", 1.5),  # division sign
        ("1.2e\u22123", 1.2e-3),  # a minus sign in the exponent, as copied from a PDF
        ("\u22125E\u22122", -5e-2),
        ("1.5e\u20132", 1.5e-2),  # en dash
        ("2 \u00d7 10^\u22123", 2e-3),
    ],
)
def test_valid_expressions(text, expected):
    assert parse_scalar(text) == pytest.approx(expected, rel=1e-15, abs=1e-300)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "No answer"),
        ("   ", "No answer"),
        ("nan", "finite"),
        ("NaN", "finite"),
        ("inf", "finite"),
        ("-Infinity", "finite"),
        ("1e999", "too large"),
        ("-1e999", "too large"),
        ("9^9^9^9", "too large"),
        ("9**9**9**9", "too large"),
        ("10^400", "too large"),
        ("2^1024", "too large"),
        ("1e308*10", "too large"),
        ("-1e308-1e308", "too large"),
        ("exp(1000)", "too large"),
        ("1e300/1e-300", "too large"),
        ("1/0", "Division by zero"),
        ("1/(2-2)", "Division by zero"),
        ("0^-1", "Division by zero"),
        ("log(0)", "positive"),
        ("ln(-1)", "positive"),
        ("sqrt(-1)", "negative"),
        ("(-8)^(1/3)", "fractional power"),
        ("1 +", "incomplete"),
        ("*2", "Unexpected '*'"),
        ("(1+2", "Missing ')'"),
        ("1+2)", "Unmatched ')'"),
        ("()", "Unmatched ')'"),
        ("2 3", "Two numbers, '2' and '3', where one was expected"),
        ("1 000.5", "write a number without spaces (1000.5, not 1 000.5)"),
        ("1\u00bd", "Write 1\u00bd as a decimal or a sum (1+\u00bd)"),
        ("\u207b", "Unexpected character"),
        ("2pi", "Missing operator before 'pi'"),
        ("2e", "Missing operator before 'e'"),
        ("1.2.3", "Missing operator before '.3'"),
        ("0,82", "use '.' for decimals"),
        ("exp 2", "must be followed by '('"),
        ("exp", "must be followed by '('"),
        ("x", "Unknown name 'x'"),
        ("sigmoid(1)", "Unknown name 'sigmoid'"),
        ("50%", "Unexpected character '%'"),
        ("1_000", "Missing operator before '_000'"),
        ("[1]", "Unexpected '['"),
        ("1;2", "Unexpected ';'"),
        ("\x00", "U+0000"),
        ("\u0663", "Unexpected character"),  # an Arabic-Indic digit: float() would read it
    ],
)
def test_invalid_expressions(text, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        parse_scalar(text)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os')", "Unexpected character"),
        ("__import__", "Unknown name '__import__'"),
        ("__import__(1)", "Unknown name '__import__'"),
        ("__import__('os').system('ls')", "Unexpected character"),
        ("().__class__", "Unexpected character '.'"),
        ("().__class__.__bases__[0].__subclasses__()", "Unexpected character '.'"),
        ("lambda: 1", "Unexpected character ':'"),
        ("open(1)", "Unknown name 'open'"),
        ("eval(1)", "Unknown name 'eval'"),
        ("exec(1)", "Unknown name 'exec'"),
        ("[x for x in ()]", "Unexpected '['"),
        ("'1'", "Unexpected character '''"),
        ('"1"', "Unexpected character '\"'"),
        ("1 if 1 else 2", "Missing operator before 'if'"),
        ("0x10", "Missing operator before 'x10'"),
        # a product without '*' where it reads two ways
        ("e(2)", "'e(' is ambiguous: write e*(...) for a product or exp(...)"),
        ("pi(2)", "'pi(' is ambiguous: write pi*(...) for a product"),
        ("1/2(3)", "A product after '/' is ambiguous"),
        ("1j", "Missing operator before 'j'"),
    ],
)
def test_code_is_never_run(text, fragment):
    with pytest.raises(InvalidAnswer) as caught:
        parse_scalar(text)
    assert fragment in caught.value.message


def test_deep_parentheses_are_refused_by_length():
    text = "(" * 10_000 + "1" + ")" * 10_000
    with pytest.raises(InvalidAnswer, match="too long"):
        parse_scalar(text)


def test_deep_parentheses_within_the_length_limit_are_refused_by_depth():
    depth = MAX_NESTING + 5
    text = "(" * depth + "1" + ")" * depth
    assert len(text) <= MAX_SCALAR_CHARS
    with pytest.raises(InvalidAnswer, match="nested too deeply"):
        parse_scalar(text)


def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_NESTING - 1
    assert parse_scalar("(" * depth + "1" + ")" * depth) == 1.0


def test_long_chains_of_signs_are_refused_by_depth():
    with pytest.raises(InvalidAnswer, match="nested too deeply"):
        parse_scalar("-" * 150 + "1")


def test_long_power_towers_are_refused_without_hanging():
    with pytest.raises(InvalidAnswer):
        parse_scalar("^".join(["9"] * 60))


def test_one_megabyte_is_refused_by_length():
    with pytest.raises(InvalidAnswer, match="too long"):
        parse_scalar("1" * 1_000_000)


def test_long_but_allowed_number_literal():
    assert parse_scalar("1" * 150) == float("1" * 150)


def test_non_string_input_is_invalid():
    with pytest.raises(InvalidAnswer):
        parse_scalar(3)  # type: ignore[arg-type]


def test_result_is_a_plain_float():
    value = parse_scalar("1/3")
    assert type(value) is float
