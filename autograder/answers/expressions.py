"""Evaluate one typed number such as ``-.5``, ``1/3``, ``2.5e-3`` or ``1/(1+exp(-0.19))``.

A small recursive-descent parser over the tokenizer's output; nothing is ever passed to
``eval``. Every intermediate result must be a finite float, so ``9^9^9^9`` or ``exp(1000)``
fail at once with a message instead of hanging or producing ``inf``/``nan``.

Grammar (``^`` and ``**`` are the same operator, right-associative, binding tighter than a
leading sign, so ``-2^2`` is -4 and ``2^-1`` is 0.5)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("+" | "-") unary | power
    power      := atom ("^" unary)?
    atom       := NUMBER | CONSTANT | FUNCTION "(" expression ")" | "(" expression ")"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from .errors import NO_ANSWER, InvalidAnswer
from .limits import MAX_NESTING, MAX_SCALAR_CHARS
from .tokenizer import END, LPAREN, NAME, NUMBER, NUMBER_PATTERN, OPERATOR, RPAREN, Token, tokenize

TOO_LARGE = "The number is too large (answers must be finite numbers)."
NOT_FINITE = "Answers must be finite numbers; '{name}' is not allowed."


def _log(x: float) -> float:
    if x <= 0:
        raise InvalidAnswer("log is only defined for positive numbers.")
    return math.log(x)


def _sqrt(x: float) -> float:
    if x < 0:
        raise InvalidAnswer("sqrt of a negative number is not a real number.")
    return math.sqrt(x)


FUNCTIONS: dict[str, Callable[[float], float]] = {
    "exp": math.exp,
    "log": _log,
    "ln": _log,
    "sqrt": _sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "tanh": math.tanh,
    "abs": abs,
}
CONSTANTS: dict[str, float] = {"e": math.e, "pi": math.pi}
_NON_FINITE_NAMES = {"nan", "inf", "infinity"}
# An optional sign and one number token: its value is float() of the text, exactly what the
# parser computes, so parse_scalar reads it without tokenizing.
_PLAIN_NUMBER = re.compile(r"[+-]?" + NUMBER_PATTERN)


def parse_scalar(text: str) -> float:
    """The value of one typed number or expression; InvalidAnswer if it cannot be read."""
    if not isinstance(text, str):
        raise InvalidAnswer("Expected a number.")
    stripped = text.strip()
    if stripped[-1:] in (",", ";"):  # "0.5," pasted from a list: ignored, as in a vector's "[0.5,]"
        stripped = stripped[:-1].rstrip()
    if not stripped:
        raise InvalidAnswer(NO_ANSWER)
    if len(stripped) > MAX_SCALAR_CHARS:
        raise InvalidAnswer(
            f"The expression is too long ({len(stripped)} characters; at most {MAX_SCALAR_CHARS})."
        )
    if _PLAIN_NUMBER.fullmatch(stripped):  # the usual answer, such as -0.348 or 2.5e-3
        value = float(stripped)
        if math.isfinite(value):
            return value
    return evaluate_tokens(tokenize(stripped))


def evaluate_tokens(tokens: Sequence[Token]) -> float:
    """The value of an expression already split into tokens (the last one must be END)."""
    return _ExpressionParser(tokens).parse()


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise InvalidAnswer(TOO_LARGE)
    return value


def _power(base: float, exponent: float) -> float:
    if base == 0 and exponent < 0:
        raise InvalidAnswer("Division by zero (0 raised to a negative power).")
    if base < 0 and not exponent.is_integer():
        raise InvalidAnswer("A negative number raised to a fractional power is not a real number.")
    try:
        return _finite(math.pow(base, exponent))
    except OverflowError:
        raise InvalidAnswer(TOO_LARGE) from None


def _apply(name: str, argument: float) -> float:
    try:
        return _finite(FUNCTIONS[name](argument))
    except OverflowError:
        raise InvalidAnswer(TOO_LARGE) from None
    except ValueError:
        raise InvalidAnswer(f"{name} is not defined for this value.") from None


def _unexpected(token: Token) -> InvalidAnswer:
    """A message for a token that cannot appear where it was found."""
    if token.kind == END:
        return InvalidAnswer("The expression is incomplete.")
    if token.kind == RPAREN:
        return InvalidAnswer("Unmatched ')'.")
    if token.kind in (NUMBER, NAME, LPAREN):
        return InvalidAnswer(f"Missing operator before '{token.text}'.")
    if token.text == ",":
        return InvalidAnswer("Unexpected ','. Enter a single number (use '.' for decimals).")
    return InvalidAnswer(f"Unexpected '{token.text}'.")


class _ExpressionParser:
    """Recursive-descent evaluator; one method per grammar rule in the module docstring."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self._tokens = tokens
        self._position = 0
        self._depth = 0

    def parse(self) -> float:
        if self._peek().kind == END:
            raise InvalidAnswer(NO_ANSWER)
        value = self._expression()
        token = self._peek()
        if token.kind != END:
            previous = self._tokens[self._position - 1]
            if token.kind == NUMBER and token.spaced and previous.kind == NUMBER:
                raise InvalidAnswer(
                    f"Two numbers, '{previous.text}' and '{token.text}', where one was expected: "
                    "write a number without spaces (1000.5, not 1 000.5) and a product with '*'."
                )
            raise _unexpected(token)
        return value

    def _peek(self) -> Token:
        return self._tokens[self._position]

    def _next(self) -> Token:
        token = self._tokens[self._position]
        if token.kind != END:
            self._position += 1
        return token

    def _at_operator(self, symbols: str) -> bool:
        token = self._peek()
        return token.kind == OPERATOR and token.text in symbols

    @contextmanager
    def _nested(self) -> Iterator[None]:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise InvalidAnswer(f"The expression is nested too deeply (at most {MAX_NESTING}).")
        yield
        self._depth -= 1

    def _expression(self) -> float:
        value = self._term()
        while self._at_operator("+-"):
            operator = self._next().text
            right = self._term()
            value = _finite(value + right if operator == "+" else value - right)
        return value

    def _term(self) -> float:
        value = self._unary()
        divided = False
        while self._at_operator("*/") or self._peek().kind == LPAREN:
            if self._peek().kind == LPAREN:
                # "0.5474(1-0.5474)" and "(0.4526)(0.2478)", as the notes write products
                self._check_implicit_product(divided)
                operator = "*"
            else:
                operator = self._next().text
                divided = divided or operator == "/"
            right = self._unary()
            if operator == "*":
                value = _finite(value * right)
            elif right == 0:
                raise InvalidAnswer("Division by zero.")
            else:
                value = _finite(value / right)
        return value

    def _check_implicit_product(self, divided: bool) -> None:
        """A product without '*' only where it cannot be read two ways: not after e or pi
        ("e(2)": e·2 or exp(2)?) and not after a division ("1/2(3)": 1.5 or 1/6?)."""
        previous = self._tokens[self._position - 1]
        if previous.kind == NAME:
            power = " or exp(...) for e to a power" if previous.text.lower() == "e" else ""
            raise InvalidAnswer(f"'{previous.text}(' is ambiguous: write {previous.text}*(...) for a product{power}.")
        if divided:
            raise InvalidAnswer("A product after '/' is ambiguous: write 1/(2*3) or (1/2)*3.")

    def _unary(self) -> float:
        if self._at_operator("+-"):
            sign = self._next().text
            with self._nested():
                operand = self._unary()
            return -operand if sign == "-" else operand
        return self._power()

    def _power(self) -> float:
        base = self._atom()
        if self._at_operator("^"):
            self._next()
            with self._nested():
                exponent = self._unary()
            return _power(base, exponent)
        return base

    def _atom(self) -> float:
        token = self._next()
        if token.kind == NUMBER:
            return _finite(token.value)
        if token.kind == NAME:
            return self._name(token.text.lower())
        if token.kind == LPAREN:
            with self._nested():
                value = self._expression()
            self._close_paren()
            return value
        raise _unexpected(token)

    def _name(self, name: str) -> float:
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTIONS:
            if self._peek().kind != LPAREN:
                raise InvalidAnswer(f"'{name}' must be followed by '(', as in {name}(0.5).")
            self._next()
            with self._nested():
                argument = self._expression()
            self._close_paren()
            return _apply(name, argument)
        if name in _NON_FINITE_NAMES:
            raise InvalidAnswer(NOT_FINITE.format(name=name))
        shown = name if len(name) <= 20 else name[:20] + "..."
        raise InvalidAnswer(
            f"Unknown name '{shown}'. Allowed: numbers, + - * / ^, parentheses, "
            f"{', '.join(FUNCTIONS)}, e and pi."
        )

    def _close_paren(self) -> None:
        token = self._peek()
        if token.kind != RPAREN:
            if token.kind == END:
                raise InvalidAnswer("Missing ')'.")
            raise _unexpected(token)
        self._next()
