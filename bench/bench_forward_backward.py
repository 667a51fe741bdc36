"""Time of one forward + backward pass of the layered engine (one process, one BLAS thread).

A 4-8-8-3 net in two variants: ReLU, ReLU, softmax + cross-entropy, and sigmoid everywhere +
squared loss. Reports the median, p10 and p90 per call on one example (target: median < 50 µs
on one core) and per call on a batch of 32 examples.

    python bench/bench_forward_backward.py [--repeat 5000] [--profile]
"""

from __future__ import annotations

import os

# Pin BLAS to one thread BEFORE numpy is imported: tiny matrices, and fair single-core figures.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from _machine_speed import speed_line  # noqa: E402

from nncore.losses import one_hot  # noqa: E402
from nncore.network import Network, backward, forward, make_network  # noqa: E402

SIZES = (4, 8, 8, 3)
TARGET_US = 50.0
VARIANTS = {
    "relu-relu-softmax + cross_entropy": (["relu", "relu", "softmax"], "cross_entropy"),
    "sigmoid x3 + squared": (["sigmoid", "sigmoid", "sigmoid"], "squared"),
}


def build(activations: list[str], seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(0, 1 / np.sqrt(SIZES[l - 1]), (SIZES[l - 1], SIZES[l]))
        for l in range(1, len(SIZES))
    ]
    biases = [rng.normal(0, 0.1, SIZES[l]) for l in range(1, len(SIZES))]
    return make_network(weights, biases, activations)


def data(loss: str, batch: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """x (4 x batch) and targets: one-hot classes for cross-entropy, values in (0, 1) otherwise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(SIZES[0], batch))
    if loss == "cross_entropy":
        y = one_hot(rng.integers(0, SIZES[-1], batch), SIZES[-1])
    else:
        y = rng.uniform(size=(SIZES[-1], batch))
    if batch == 1:  # one example as the flat vectors a caller would pass
        return x[:, 0], y[:, 0]
    return x, y


def step_function(net: Network, x: np.ndarray, y: np.ndarray, loss: str) -> Callable[[], object]:
    def step():
        return backward(net, forward(net, x), y, loss)

    return step


def time_calls(call: Callable[[], object], repeat: int, warmup: int) -> list[float]:
    """Per-call times in µs (perf_counter_ns around every call), after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(repeat):
        start = clock()
        call()
        samples.append((clock() - start) / 1000.0)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


def report(name: str, samples: list[float], target: float | None) -> bool:
    median = statistics.median(samples)
    verdict = ""
    if target is not None:
        verdict = f"  target < {target:.0f} µs: {'OK' if median < target else 'MISSED'}"
    print(
        f"  {name:<34} median {median:8.1f} µs   p10 {percentile(samples, 10):8.1f} µs   "
        f"p90 {percentile(samples, 90):8.1f} µs{verdict}"
    )
    return target is None or median < target


def profile(call: Callable[[], object], count: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    print(f"\n=== {count} calls, sorted by own time ===")
    stats.sort_stats("tottime").print_stats(top)
    print("=== sorted by cumulative time ===")
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5000, help="timed calls per figure")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls first")
    parser.add_argument("--profile", action="store_true", help="cProfile the one-example call")
    parser.add_argument("--top", type=int, default=25, help="rows of the profile to print")
    args = parser.parse_args(argv)

    print(speed_line())
    print(
        f"forward + backward, {'-'.join(map(str, SIZES))} net, numpy {np.__version__}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    all_ok = True
    for name, (activations, loss) in VARIANTS.items():
        net = build(activations)
        print(name)
        one = step_function(net, *data(loss, 1), loss)
        all_ok &= report("1 example", time_calls(one, args.repeat, args.warmup), TARGET_US)
        batch = step_function(net, *data(loss, 32), loss)
        samples = time_calls(batch, max(args.repeat // 4, 100), args.warmup // 4)
        report("batch of 32 (per call)", samples, None)
        print(
            f"  {'batch of 32 (per example)':<34} median {statistics.median(samples) / 32:8.2f} µs"
        )
        if args.profile:
            profile(one, args.repeat, args.top)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
