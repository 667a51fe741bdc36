"""Reading and grading students' typed answers (numbers, vectors, matrices, choices).

Plain Python + NumPy, no Django. The usual entry point is :func:`grade_field`; the pieces are
:func:`parse_answer` (raw input -> value, or :class:`InvalidAnswer`) and
:func:`compare_answer` (value -> :class:`FieldResult`).
"""

from .arrays import parse_array
from .compare import Expectation, Misconception, compare_answer, compare_prepared, prepare
from .errors import InvalidAnswer
from .expressions import parse_scalar
from .feedback import as_clause, join_messages
from .grading import grade_field
from .parsing import ParsedAnswer, parse_answer
from .result import FieldResult
from .specs import FieldSpec
from .tolerance import Tolerance

__all__ = [
    "Expectation",
    "FieldResult",
    "FieldSpec",
    "InvalidAnswer",
    "Misconception",
    "ParsedAnswer",
    "Tolerance",
    "as_clause",
    "compare_answer",
    "compare_prepared",
    "grade_field",
    "join_messages",
    "parse_answer",
    "parse_array",
    "parse_scalar",
    "prepare",
]
