"""End-to-end benchmark of code submissions: POST student code through gunicorn, Redis, the Celery
worker (which runs it in the bubblewrap fork server) and PostgreSQL, until the row is graded.

Target (2-core machine): at least 100 graded code submissions/s, each run on 10 test cases of the
forward-pass kind (code_mlp_forward with random_cases=7: 3 fixed cases and 7 random ones).
Beside it, the figures the sandbox is built around: the cold start a fresh bwrap + python + numpy
costs (what the fork server saves) and the fork server's own per-run overhead.

    python bench/bench_code.py [--rates 100,max] [--submissions 1000] [any bench_service.py option]

The servers, phases and figures are bench_service.py's (see its docstring); this script chooses
the question and the target, and measures the sandbox itself first. A wrong submission here is
a typical mistake's code (a misconception of the instance), so feedback matching runs too.
"""

from __future__ import annotations

import sys

import bench_service  # first: it pins BLAS threads and puts the project on sys.path

QUESTION = "code_mlp_forward:random_cases=7"  # 10 test cases per submission
TARGET_RATE = 100.0


def sandbox_figures() -> bool:
    """Print the sandbox's cold start and warm per-run overhead; False when there is no sandbox."""
    from autograder.sandbox.__main__ import cold_start_summary, run_overhead
    from autograder.sandbox.pool import sandbox_available

    ok, reason = sandbox_available()
    if not ok:
        print(f"bench_code: skipped, no sandbox here ({reason})")
        return False
    print(f"sandbox: {cold_start_summary(10)}; {run_overhead(200).summary()}")
    return True


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:  # this script's own text, not bench_service's; no run
        print(__doc__.strip())
        print("\nOptions: every option of bench_service.py (python bench/bench_service.py --help).")
        return 0
    if not sandbox_figures():
        return 0
    defaults = [] if any(a == "--question" or a.startswith("--question=") for a in argv) else ["--question", QUESTION]
    defaults += [
        "--target-rate", str(TARGET_RATE),
        "--target-p95-ms", "0",  # no latency target for code (the issue sets none)
        "--rates", "100,max",
        "--submissions", "1000",
        "--warmup", "100",
    ]
    return bench_service.main(defaults + argv)  # later options win (argparse keeps the last value)


if __name__ == "__main__":
    sys.exit(main())
