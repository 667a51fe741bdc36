"""Split answer text into tokens for the expression and array parsers.

Whitespace is not a token, but every token records whether whitespace came right before
it: the array parser needs that to tell ``[1 -2]`` (two entries) from ``[1 - 2]`` (one), and
whether that whitespace held a line break (a new matrix row, as in MATLAB).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .errors import InvalidAnswer

NUMBER = "number"
NAME = "name"
OPERATOR = "operator"
LPAREN = "("
RPAREN = ")"
LBRACKET = "["
RBRACKET = "]"
COMMA = ","
SEMICOLON = ";"
END = "end"

# ASCII digits only: re's \d would also accept other scripts' digits, which float() reads.
NUMBER_PATTERN = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# "x10^-1", "x10**-1" or " x 10^-1" right after a number: its power of ten, as a calculator
# shows it
_TIMES_TEN_RE = re.compile(r"\s*[xX]\s*10\s*(?:\^|\*\*)\s*([+-]?[0-9]+)(?![0-9.])")
# A power in superscript, as pasted from a PDF or typed on a phone: "10⁻²" is 10^-2.
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUPERSCRIPT_RE = re.compile(f"([⁺⁻]?)([{_SUPERSCRIPTS}]+)")
_SUPERSCRIPT_DIGITS = str.maketrans(_SUPERSCRIPTS, "0123456789")
_SUPERSCRIPT_STARTS = frozenset("⁺⁻" + _SUPERSCRIPTS)  # a regex match only where one can start
# Fractions of one character ("½"): a number of their own.
_FRACTIONS = {ch: unicodedata.numeric(ch) for ch in "¼½¾⅐⅑⅒⅓⅔⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"}
_PUNCTUATION = {
    "(": LPAREN,
    ")": RPAREN,
    "[": LBRACKET,
    "]": RBRACKET,
    ",": COMMA,
    ";": SEMICOLON,
}
# Characters that word processors and phone keyboards substitute for the ASCII ones.
_LOOKALIKES = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    # invisible characters a copy from a PDF or a web page brings along: removed
    "\u200b": None,  # zero-width space
    "\u200c": None,  # zero-width non-joiner
    "\u200d": None,  # zero-width joiner
    "\u2060": None,  # word joiner
    "\ufeff": None,  # byte order mark / zero-width no-break space
    "\u00d7": "*",  # multiplication sign
    "\u00b7": "*",  # middle dot
    "\u22c5": "*",  # dot operator
    "\u00f7": "/",  # division sign
}
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)
# NumPy's wrappers of one number, as NumPy 2 prints a scalar ("np.float64(0.5)") and NumPy a 0-d
# array ("array(0.5)"): dropped, so the parentheses hold the number ("array([" is numpy_repr's)
_NUMPY_SCALAR_RE = re.compile(
    r"(?:(?:np|numpy)\.(?:float(?:16|32|64|128)|u?int(?:8|16|32|64)|half|single|double|longdouble)"
    r"|(?:(?:np|numpy)\.)?array)(?=\s*\((?!\s*\[))"
)
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits at


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text, whether whitespace preceded it and whether that
    whitespace held a line break."""

    kind: str
    text: str
    spaced: bool = False
    value: float = 0.0
    newline: bool = False


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text``, ending with an END token; unknown characters are InvalidAnswer."""
    # Replaced in the whole text first (one character for one): a number written "1.2e−3", with
    # the minus sign of a PDF in its exponent, is then read as one number.
    text = text.translate(_LOOKALIKE_TABLE)
    tokens: list[Token] = []
    i = 0
    spaced = newline = False
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            spaced = True
            newline = newline or ch in _LINE_BREAKS
            i += 1
            continue
        if ch == "*" and i + 1 < len(text) and text[i + 1] == "*":
            tokens.append(Token(OPERATOR, "^", spaced, newline=newline))
            i += 2
        elif ch in "+-*/^":
            tokens.append(Token(OPERATOR, ch, spaced, newline=newline))
            i += 1
        elif ch in _PUNCTUATION:
            tokens.append(Token(_PUNCTUATION[ch], ch, spaced, newline=newline))
            i += 1
        elif ch == "\u03c0":  # the Greek letter pi
            tokens.append(Token(NAME, "pi", spaced, newline=newline))
            i += 1
        elif ch in _SUPERSCRIPT_STARTS and (match := _SUPERSCRIPT_RE.match(text, i)):  # ^ and the power
            sign, digits = match.groups()
            tokens.append(Token(OPERATOR, "^", spaced, newline=newline))
            if sign:
                tokens.append(Token(OPERATOR, "-" if sign == "⁻" else "+"))
            exponent = digits.translate(_SUPERSCRIPT_DIGITS)
            tokens.append(Token(NUMBER, exponent, False, float(exponent)))
            i = match.end()
        elif ch in _FRACTIONS:
            if tokens and tokens[-1].kind == NUMBER and not spaced:
                raise InvalidAnswer(f"Write {tokens[-1].text}{ch} as a decimal or a sum ({tokens[-1].text}+{ch}).")
            tokens.append(Token(NUMBER, ch, spaced, _FRACTIONS[ch], newline))
            i += 1
        elif match := _NUMBER_RE.match(text, i):
            number, i = match.group(), match.end()
            if power := _TIMES_TEN_RE.match(text, i):  # a calculator's 5.474x10^-1: one number
                number, i = f"{number}e{power.group(1)}", power.end()
            tokens.append(Token(NUMBER, number, spaced, float(number), newline))
        elif ch in "an" and (match := _NUMPY_SCALAR_RE.match(text, i)):
            i = match.end()  # no token: the '(' that follows keeps the whitespace before the name
            continue
        elif match := _NAME_RE.match(text, i):
            tokens.append(Token(NAME, match.group(), spaced, newline=newline))
            i = match.end()
        else:
            shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
            raise InvalidAnswer(f"Unexpected character '{shown}'.")
        spaced = newline = False
    tokens.append(Token(END, "", spaced, newline=newline))
    return tokens

