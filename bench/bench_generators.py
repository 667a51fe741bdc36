"""Instances generated per second for every kind of the catalogue (one process, one BLAS thread).

The forward-pass kinds are what a class of students opens at once, so they carry a target of
5,000 instances/s; the others are reported for comparison.

    python bench/bench_generators.py [--seconds 1.5] [--kind ID ...] [--profile ID]
"""

from __future__ import annotations

import os

# Pin BLAS to one thread BEFORE numpy is imported: tiny matrices, and fair single-core figures.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from _machine_speed import speed_line  # noqa: E402

from nncore.problems import CATALOGUE  # noqa: E402

FORWARD_KINDS = ("forward_neuron", "forward_layer", "forward_mlp")
TARGET_PER_SECOND = 5000.0


def rate(kind_id: str, seconds: float, params: dict | None = None) -> tuple[float, int]:
    """(instances per second, instances made) generating seeds 0, 1, 2, ... for `seconds`."""
    kind = CATALOGUE[kind_id]
    for seed in range(5):  # warm caches and lazy imports
        kind.generate(params, seed)
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        kind.generate(params, count)
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def profile(kind_id: str, count: int, top: int) -> None:
    """cProfile of `count` generations of one kind, sorted by cumulative and by own time."""
    kind = CATALOGUE[kind_id]
    kind.generate({}, 0)
    profiler = cProfile.Profile()
    profiler.enable()
    for seed in range(count):
        kind.generate({}, seed)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    print(f"\n=== {kind_id}: {count} instances, sorted by cumulative time ===")
    stats.sort_stats("cumulative").print_stats(top)
    print(f"=== {kind_id}: sorted by own time ===")
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.5, help="time spent per kind")
    parser.add_argument("--kind", action="append", default=[], choices=sorted(CATALOGUE), help="only these kinds")
    parser.add_argument("--profile", metavar="KIND", help="also profile this kind with cProfile")
    parser.add_argument("--profile-count", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    kind_ids = args.kind or list(CATALOGUE)

    print(speed_line())
    print(f"{'kind':<26} {'inst/s':>10} {'ms/inst':>9}  target")
    missed = []
    for kind_id in kind_ids:
        try:
            per_second, _ = rate(kind_id, args.seconds)
        except Exception as exc:  # one broken kind must not hide the others' figures
            print(f"{kind_id:<26} {'ERROR':>10}  {type(exc).__name__}: {exc}", flush=True)
            continue
        mark = ""
        if kind_id in FORWARD_KINDS:
            ok = per_second >= TARGET_PER_SECOND
            mark = f"{'OK  ' if ok else 'MISS'} (>= {TARGET_PER_SECOND:,.0f}/s)"
            if not ok:
                missed.append(kind_id)
        print(f"{kind_id:<26} {per_second:>10,.0f} {1000 / per_second:>9.3f}  {mark}", flush=True)
    if missed:
        print(f"\nbelow the {TARGET_PER_SECOND:,.0f}/s target: {', '.join(missed)}")
    if args.profile:
        profile(args.profile, args.profile_count, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
