"""CPU time of grading one numeric submission (autograder.grading.grade_submission), one process.

What the Celery worker spends on the grading itself, without the database and the broker: per
kind, the mean over 20 seeds of the best of 5 passes, for three kinds of submission: every
field right as JSON numbers (what the API benchmark sends), the same answers typed as text
(what a student types: "0.348", "[0.1, 0.2]"), and one field wrong (error carried forward runs).

    python bench/bench_grading.py [--seeds 20] [--kind ID ...]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _answers import perturb  # noqa: E402
from _machine_speed import speed_line  # noqa: E402

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # the project packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.grading import GradingPolicy, grade_submission  # noqa: E402
from nncore.problems import CATALOGUE  # noqa: E402

KINDS = ("forward_mlp", "backprop_chain", "softmax_probabilities", "layer_gradient", "fgsm")


def typed(value):
    """An answer as a student types it: numbers and lists as text."""
    return value if isinstance(value, str) else json.dumps(value)


def submissions(kind_id: str, seeds: int) -> dict[str, list[tuple[dict, dict]]]:
    """{"right" | "typed" | "one wrong": [(instance, answers)]} for seeds 0..seeds-1."""
    out: dict[str, list[tuple[dict, dict]]] = {"right": [], "typed": [], "one wrong": []}
    for seed in range(seeds):
        instance = json.loads(json.dumps(CATALOGUE[kind_id].generate({}, seed)))  # as stored
        right = dict(instance["answers"])
        first = instance["fields"][0]["name"]
        out["right"].append((instance, right))
        out["typed"].append((instance, {name: typed(v) for name, v in right.items()}))
        out["one wrong"].append((instance, {**right, first: perturb(right[first])}))
    return out


def ms_per_submission(batch: list[tuple[dict, dict]], passes: int = 5) -> float:
    policy = GradingPolicy()
    best = float("inf")
    for _ in range(passes):
        started = time.process_time()
        for instance, answers in batch:
            grade_submission(instance, answers, policy)
        best = min(best, time.process_time() - started)
    return best / len(batch) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--kind", action="append", default=[], choices=sorted(CATALOGUE), help="only these kinds")
    args = parser.parse_args(argv)
    kinds = args.kind or list(KINDS)
    print(speed_line())
    print(f"{'kind':<24} {'fields':>6} {'right':>9} {'typed':>9} {'one wrong':>10}   (ms CPU per submission)")
    for kind_id in kinds:
        batches = submissions(kind_id, args.seeds)
        for instance, answers in batches["right"][:3]:  # warm caches, and check the answers are right
            grade = grade_submission(instance, answers)
            if grade.score != 1.0:
                raise SystemExit(f"{kind_id}: the reference answers scored {grade.score}, not 1")
        fields = len(batches["right"][0][0]["fields"])
        figures = [ms_per_submission(batches[name]) for name in ("right", "typed", "one wrong")]
        print(f"{kind_id:<24} {fields:>6} {figures[0]:>9.3f} {figures[1]:>9.3f} {figures[2]:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
