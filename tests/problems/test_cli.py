"""`python -m nncore kinds | show`: the catalogue listing, readable and JSON instances, and clean
errors (exit status 2, message on stderr naming the parameter, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nncore.__main__ import main
from nncore.problems import CATALOGUE, ParamError, get_kind, to_json

KIND_IDS = list(CATALOGUE)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nncore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def non_default_param(kind) -> tuple[str, str] | None:
    """A (name, value) that changes a parameter from its default and that the kind accepts."""
    for p in kind.params:
        candidates = [c for c in p.choices if c != p.default] if p.type == "choice" else []
        if p.type == "bool":
            candidates = [not p.default]
        for value in candidates:
            try:
                kind.validate_params({p.name: value})
            except ParamError:
                continue
            return p.name, str(value).lower() if isinstance(value, bool) else str(value)
    return None


def show_args(kind_id: str, seed: int = 4) -> tuple[list[str], dict]:
    """CLI arguments of `show` for a kind with one non-default --param, and the same params."""
    pair = non_default_param(get_kind(kind_id))
    args = ["show", kind_id, "--seed", str(seed)]
    if pair is None:
        return args, {}
    return [*args, "--param", f"{pair[0]}={pair[1]}"], {pair[0]: pair[1]}


# --- through a real interpreter -----------------------------------------------------------------


def test_kinds_lists_every_kind_of_the_catalogue():
    done = run_cli("kinds")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    listed = [line.split()[0] for line in lines]
    assert sorted(listed) == sorted(KIND_IDS)
    for line in lines:
        kind = get_kind(line.split()[0])
        assert kind.title in line


def test_show_prints_answers_and_worked_solution():
    done = run_cli("show", "backprop_chain", "--seed", "3", "--param", "notation=matrix")
    assert done.returncode == 0, done.stderr
    instance = get_kind("backprop_chain").generate({"notation": "matrix"}, 3)
    assert "Answers:" in done.stdout and "Worked solution:" in done.stdout
    for name, answer in instance["answers"].items():
        assert f"= {answer}" in done.stdout and name in done.stdout
    for s in instance["solution"]:
        assert s["title"] in done.stdout


def test_show_json_equals_canonical_json():
    done = run_cli("show", "forward_mlp", "--seed", "11", "--param", "style=random", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == to_json(get_kind("forward_mlp").generate({"style": "random"}, 11)) + "\n"


def test_bad_param_exits_2_with_a_message_and_no_traceback():
    done = run_cli("show", "forward_mlp", "--param", "lr=fast")
    assert done.returncode == 2
    assert "lr" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


# --- every kind, in process -------------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_show_every_kind(kind_id, capsys):
    args, params = show_args(kind_id)
    assert main(args) == 0
    out = capsys.readouterr().out
    instance = get_kind(kind_id).generate(params, 4)
    assert instance["params"] == get_kind(kind_id).generate(params, 4)["params"]
    assert out.startswith(f"{kind_id} v{instance['version']}  seed 4")
    lines = out.splitlines()
    for field in instance["fields"]:
        name, answer = field["name"], instance["answers"][field["name"]]
        if field["type"] == "code":  # the reference source, then one line per test case
            assert f"  {name}: reference implementation" in lines
            assert all("    " + line in lines for line in answer["source"].splitlines() if line)
            assert all(any(line.lstrip().startswith(c["name"] + " ") for line in lines) for c in answer["cases"])
            continue
        assert any(
            line.lstrip().startswith(name) and line.endswith(f"= {answer}") for line in lines
        ), f"no answer line for {name}"
    assert "Worked solution:" in out
    for s in instance["solution"]:
        assert f"{s['title']}: {s['latex']}" in out


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_show_json_every_kind(kind_id, capsys):
    args, params = show_args(kind_id, seed=9)
    assert main([*args, "--json"]) == 0
    assert capsys.readouterr().out == to_json(get_kind(kind_id).generate(params, 9)) + "\n"


def _bad_param_args(kind) -> list[tuple[list[str], str]]:
    cases = [(["--param", "bogus_param=1"], "bogus_param"), (["--param", "novalue"], "novalue")]
    for p in kind.params:
        bad = {
            "int": "many",
            "float": "fast",
            "bool": "perhaps",
            "int_list": "x,y",
            "choice": "__nope__",
        }[p.type]
        cases.append((["--param", f"{p.name}={bad}"], p.name))
    return cases


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_bad_params_exit_2_naming_the_parameter(kind_id, capsys):
    for extra, name in _bad_param_args(get_kind(kind_id)):
        assert main(["show", kind_id, *extra]) == 2, extra
        captured = capsys.readouterr()
        assert captured.out == ""
        assert name in captured.err and captured.err.startswith("error:"), (extra, captured.err)


def test_negative_seed_and_unknown_kind_exit_2(capsys):
    assert main(["show", "forward_mlp", "--seed", "-1"]) == 2
    assert "seed" in capsys.readouterr().err
    assert main(["show", "no_such_kind"]) == 2
    err = capsys.readouterr().err
    assert "no_such_kind" in err and "forward_mlp" in err  # lists the known kinds
