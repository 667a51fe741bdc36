"""`python -m autograder.sandbox [--bench N]`: is the sandbox usable here, and how fast is it.

Prints sandbox_available(); with --bench, also the cold start of bwrap + python + `import numpy`
(p50 of 20) and the fork server's per-run overhead (p50/p95 over N runs of a trivial function,
measured around SandboxPool.run, so it includes encoding, fork, seccomp, limits, exec and parsing).
Timing is printed, never asserted: the tests do not time anything.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from autograder.sandbox import bwrap
from autograder.sandbox.limits import Limits
from autograder.sandbox.pool import SandboxPool, sandbox_available


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cold_start_ms(repeat: int = 20) -> list[float]:
    runtime = bwrap.discover_runtime()
    command = bwrap.bwrap_command(bwrap.find_bwrap(), runtime, tmp_mb=16, as_root=bwrap.root_mode())
    command += [
        bwrap.SANDBOX_PYTHON,
        "-I",
        "-S",
        "-c",
        f"import sys; sys.path.insert(0, '{bwrap.SANDBOX_SITE}'); import numpy",
    ]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env={}, check=True, stdin=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return times


@dataclass
class RunOverhead:
    """Per run of a trivial function: wall time around SandboxPool.run, and the child's own CPU
    time and minor page faults (mostly copy-on-write after the fork)."""

    wall_ms: list[float] = field(default_factory=list)
    child_cpu_ms: list[float] = field(default_factory=list)
    child_faults: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"fork-server run overhead p50 {statistics.median(self.wall_ms):.2f} ms, "
            f"p95 {_percentile(self.wall_ms, 0.95):.2f} ms over {len(self.wall_ms)} runs "
            f"(child CPU p50 {statistics.median(self.child_cpu_ms):.2f} ms, "
            f"{statistics.median(self.child_faults):.0f} page faults)"
        )


def cold_start_summary(repeat: int = 20) -> str:
    """The cold-start line: what the fork server saves on every run."""
    cold = cold_start_ms(repeat)
    return f"cold start (bwrap + python + import numpy) p50 {statistics.median(cold):.1f} ms over {len(cold)}"


def run_overhead(runs: int) -> RunOverhead:
    code = "def f(x):\n    return x + 1\n"
    cases = [[np.ones(4)]]
    measured = RunOverhead()
    with SandboxPool(limits=Limits(cpu_s=2, wall_s=5), max_jobs=10 * runs) as pool:
        pool.run(code, "f", cases)  # start the server outside the measurement
        for _ in range(runs):
            start = time.perf_counter()
            outcome = pool.run(code, "f", cases)[0]
            measured.wall_ms.append((time.perf_counter() - start) * 1000)
            if not outcome.ok:
                raise SystemExit(f"unexpected outcome: {outcome}")
            measured.child_cpu_ms.append(outcome.cpu_s * 1000)
            measured.child_faults.append(outcome.details["exit"]["minflt"])
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    parser.add_argument(
        "--bench", type=int, metavar="N", help="also time N runs of a trivial function"
    )
    parser.add_argument("--cold-starts", type=int, default=20, metavar="N", help="cold starts timed with --bench")
    args = parser.parse_args(argv)
    ok, reason = sandbox_available()
    print(f"sandbox available: {ok} ({reason})")
    if not ok:
        return 1
    if args.bench:
        print(cold_start_summary(args.cold_starts))
        print(run_overhead(args.bench).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
