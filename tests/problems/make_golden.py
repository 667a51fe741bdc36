"""Regenerate the golden instances of problem kinds: tests/problems/golden/<kind>__<label>.json.

Golden files pin each kind's output byte for byte, so an accidental change to a generator (a
different draw, a reworded prompt, a changed answer) fails test_catalogue.py. Regenerate ONLY
when the change is intended, and bump the kind's `version` in the same change:

    python tests/problems/make_golden.py KIND [KIND ...]
    python tests/problems/make_golden.py --all
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nncore.problems import CATALOGUE, ProblemKind, to_json

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
DEFAULT_SEEDS = (0, 1, 7)
ALTERNATIVE_SEED = 3
VARIED_PARAMS = ("notation", "style")  # the presentation parameters every network kind has


def golden_cases(kind: ProblemKind) -> list[tuple[str, dict, int]]:
    """(label, params, seed) pinned for a kind: three default seeds, plus one instance with the
    non-default notation/style when the kind has those parameters."""
    cases: list[tuple[str, dict, int]] = [(f"seed{s}", {}, s) for s in DEFAULT_SEEDS]
    varied = {}
    for param in kind.params:
        if param.name in VARIED_PARAMS and param.type == "choice":
            others = [c for c in param.choices if c != param.default]
            if others:
                varied[param.name] = others[0]
    if varied:
        label = "_".join(f"{name}-{value}" for name, value in sorted(varied.items()))
        cases.append((f"{label}_seed{ALTERNATIVE_SEED}", varied, ALTERNATIVE_SEED))
    return cases


def golden_path(kind_id: str, label: str) -> Path:
    return GOLDEN_DIR / f"{kind_id}__{label}.json"


def render(kind: ProblemKind, params: dict, seed: int) -> str:
    """The exact text stored in a golden file."""
    return to_json(kind.generate(params, seed)) + "\n"


def write_golden(kind_id: str) -> list[Path]:
    """Write a kind's golden files and delete its files for cases that no longer exist.

    Every instance is generated before anything is written, so a kind that fails to generate
    keeps its old files.
    """
    kind = CATALOGUE[kind_id]
    texts = {
        golden_path(kind_id, label): render(kind, params, seed)
        for label, params, seed in golden_cases(kind)
    }
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        path.write_text(text, encoding="utf-8")
    for stale in set(GOLDEN_DIR.glob(f"{kind_id}__*.json")) - set(texts):
        stale.unlink()
    return list(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kinds", nargs="*", metavar="KIND", help="kind ids to regenerate")
    parser.add_argument("--all", action="store_true", help="regenerate every kind of the catalogue")
    args = parser.parse_args(argv)
    if args.all == bool(args.kinds):
        parser.error("name the kinds to regenerate, or pass --all")
    kind_ids = list(CATALOGUE) if args.all else args.kinds
    unknown = [k for k in kind_ids if k not in CATALOGUE]
    if unknown:
        parser.error(f"unknown kind(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    failed = []
    for kind_id in kind_ids:
        try:
            paths = write_golden(kind_id)
        except Exception as exc:  # report every broken kind and keep its old files
            print(f"error: {kind_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(kind_id)
            continue
        for path in paths:
            shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
            print(f"wrote {shown}")
    if failed:
        print(f"no golden files written for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
