"""Size limits that keep hostile input cheap to reject (all checked before any real work)."""

from __future__ import annotations

#: Longest expression accepted for one number (a field for a single number, or one entry).
MAX_SCALAR_CHARS = 200
#: Longest text accepted for a whole field (a vector or matrix typed as text).
MAX_FIELD_CHARS = 10_000
#: Deepest nesting of parentheses, signs and powers inside one expression.
MAX_NESTING = 30
#: Deepest nesting of brackets: a matrix is ``[[...]]``, so two levels.
MAX_ARRAY_DEPTH = 2
#: Most entries accepted in one vector or matrix.
MAX_ENTRIES = 1024
#: Most option ids accepted in one set-of-choices answer.
MAX_OPTIONS = 1000
