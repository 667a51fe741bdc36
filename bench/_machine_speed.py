"""A fixed CPU workload timed before a benchmark, so figures from different days can be compared.

The 2-core VMs these benchmarks run on change speed by up to 2x between sessions (and by
±15 % within one). Every benchmark prints this line beside its figures: a result taken at
``python loop 0.90 s`` was measured on a machine about half as fast as one at ``0.45 s``.
The workloads are plain bytecode (a counting loop), one small NumPy call repeated, a
ping-pong between two processes, and copy-on-write page faults after a fork: what the
generators, Django, the workers, the IPC between web, worker, PostgreSQL and Redis, and the
sandbox's forked children spend their time on.
"""

from __future__ import annotations

import os
import resource
import time

import numpy as np

LOOP_ITERATIONS = 5_000_000
NUMPY_CALLS = 100_000


def _best_of_three(work) -> float:
    """The shortest of three timed runs of work() (seconds): the least disturbed one."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def python_loop_seconds() -> float:
    """Seconds for a 5-million-step Python counting loop."""

    def loop() -> None:
        total = 0
        for i in range(LOOP_ITERATIONS):
            total += i

    return _best_of_three(loop)


def numpy_call_microseconds() -> float:
    """Microseconds per small NumPy call (a 3x3 matrix-vector product)."""
    a, x = np.ones((3, 3)), np.ones(3)

    def calls() -> None:
        for _ in range(NUMPY_CALLS):
            a @ x

    return _best_of_three(calls) / NUMPY_CALLS * 1e6


def pipe_round_trip_microseconds(trips: int = 2000) -> float:
    """Microseconds per one-byte ping-pong between two processes over pipes: the wake-ups and
    context switches that web, worker, PostgreSQL and Redis pay on every submission."""
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for _ in range(trips):
                os.read(to_child_r, 1)
                os.write(to_parent_w, b"x")
        finally:
            os._exit(0)
    started = time.perf_counter()
    for _ in range(trips):
        os.write(to_child_w, b"x")
        os.read(to_parent_r, 1)
    elapsed = time.perf_counter() - started
    os.waitpid(pid, 0)
    for fd in (to_child_r, to_child_w, to_parent_r, to_parent_w):
        os.close(fd)
    return elapsed / trips * 1e6


def copy_on_write_fault_microseconds(pages: int = 2000) -> float:
    """Microseconds per copy-on-write page fault: a forked child writes one byte into each of
    `pages` pages it shares with its parent. A sandboxed child takes several hundred of them
    (autograder.sandbox reports `minflt`), so on a VM where they are slow, so is the sandbox."""
    page = resource.getpagesize()
    shared = np.ones(pages * page, dtype=np.uint8)  # touched here: really mapped before the fork
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            shared[::page] = 2
            elapsed = time.perf_counter() - started
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            os.write(write_end, f"{elapsed / max(faults, 1) * 1e6:.6f}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 64)
    os.close(read_end)
    os.waitpid(pid, 0)
    return float(answer) if answer else float("nan")  # nan: the child failed to measure


def speed_line() -> str:
    """One line to print beside a benchmark's figures (lower is a faster machine)."""
    return (
        f"machine speed: python loop {python_loop_seconds() * 2:.2f} s per 10M steps, "
        f"numpy {numpy_call_microseconds():.2f} us per small call, "
        f"pipe round trip {pipe_round_trip_microseconds():.0f} us, "
        f"copy-on-write fault {copy_on_write_fault_microseconds():.1f} us (lower is faster; this VM varies up to 2x)"
    )
