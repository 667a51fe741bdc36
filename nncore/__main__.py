"""Command line: `python -m nncore kinds` and `python -m nncore show KIND --seed N [--param k=v] [--json]`."""

from __future__ import annotations

import argparse
import sys

from nncore.problems import ParamError, get_kind, list_kinds, to_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nncore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("kinds", help="list the catalogue of problem kinds")
    show = sub.add_parser("show", help="print one instance with its answers and worked solution")
    show.add_argument("kind")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    show.add_argument("--json", action="store_true", help="print the instance as canonical JSON")
    args = parser.parse_args(argv)

    if args.command == "kinds":
        for kind in list_kinds():
            params = ", ".join(f"{p['name']}={p['default']}" for p in kind["params"])
            print(f"{kind['id']:<24} {kind['title']}  [{params}]")
        return 0

    try:
        params = dict(_split_param(item) for item in args.param)
        instance = get_kind(args.kind).generate(params, args.seed)
    except (ParamError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(to_json(instance) if args.json else render_text(instance))
    return 0


def _split_param(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ParamError(f"--param needs KEY=VALUE, got {item!r}")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def render_text(instance: dict) -> str:
    """A readable rendering: prompt, fields with answers, misconceptions, worked solution."""
    lines = [f"{instance['kind']} v{instance['version']}  seed {instance['seed']}", ""]
    lines += [instance["prompt"]["text"], "", "Answers:"]
    for field in instance["fields"]:
        answer = instance["answers"][field["name"]]
        if field["type"] == "code":
            lines += _render_code_answer(field, answer)
        else:
            lines.append(f"  {field['name']:<14} {field['label']:<36} = {answer}")
    if instance["misconceptions"]:
        lines += ["", "Misconceptions:"]
        for m in instance["misconceptions"]:
            shown = ", ".join(
                f"{k}=<{len(v.splitlines())} lines of code>" if isinstance(v, str) and "\n" in v else f"{k}={v}"
                for k, v in list(m["answers"].items())[:3]
            )
            lines.append(f"  {m['id']}: {m['name']} -> {shown}")
    lines += ["", "Worked solution:"]
    lines += [f"  {s['title']}: {s['latex']}" for s in instance["solution"]]
    return "\n".join(lines)


def _render_code_answer(field: dict, answer: dict) -> list[str]:
    """A code field's reference source, then one line per test case."""
    lines = [f"  {field['name']}: reference implementation", ""]
    lines += ["    " + line for line in answer["source"].splitlines()]
    lines += ["", f"  test cases ({len(answer['cases'])}):"]
    for case in answer["cases"]:
        shown = "hidden " if case["hidden"] else "visible"
        lines.append(f"    {case['name']:<22} {case['kind']:<7} {shown}  {case['note']}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
