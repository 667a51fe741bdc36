"""A fixed CPU workload timed before a benchmark, so figures from different days can be compared.

The 2-core VMs these benchmarks run on change speed by up to 2x between sessions (and by
±15 % within one). Every benchmark prints this line beside its figures: a result taken at
``python loop 0.90 s`` was measured on a machine about half as fast as one at ``0.45 s``.
The workload is plain bytecode (a counting loop) and one small NumPy call repeated: what
the generators, Django and the workers spend their time on.
"""

from __future__ import annotations

import time

import numpy as np

LOOP_ITERATIONS = 5_000_000
NUMPY_CALLS = 100_000


def python_loop_seconds() -> float:
    """Best of three: seconds for a 5-million-step Python counting loop."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(LOOP_ITERATIONS):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def numpy_call_microseconds() -> float:
    """Best of three: microseconds per small NumPy call (a 3x3 matrix-vector product)."""
    a, x = np.ones((3, 3)), np.ones(3)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(NUMPY_CALLS):
            a @ x
        best = min(best, time.perf_counter() - started)
    return best / NUMPY_CALLS * 1e6


def speed_line() -> str:
    """One line to print before a benchmark's figures (lower is a faster machine)."""
    return (
        f"machine speed: python loop {python_loop_seconds() * 2:.2f} s per 10M steps, "
        f"numpy {numpy_call_microseconds():.2f} us per small call (lower is faster; this VM varies up to 2x)"
    )
