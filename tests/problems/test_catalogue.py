"""Contract tests run on EVERY kind of `nncore.problems.CATALOGUE` (new kinds are covered
automatically): schema, generation, determinism (also across processes), instance shape,
misconceptions, parameter validation and byte-for-byte golden instances."""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nncore.problems import CATALOGUE, ParamError, get_kind, to_json
from nncore.problems.base import canonical, step_close

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_golden", _HERE / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

KIND_IDS = list(CATALOGUE)
SEEDS = range(25)
SUBPROCESS_SEED = 5
INSTANCE_KEYS = {
    "kind",
    "version",
    "seed",
    "draw",
    "params",
    "prompt",
    "diagram",
    "fields",
    "answers",
    "alternatives",
    "tolerance",
    "solution",
    "misconceptions",
    "chained",
}
FIELD_TYPES = {"number", "vector", "matrix", "choice", "choices", "code"}
PARAM_TYPES = {"int", "float", "choice", "bool", "int_list"}
MISCONCEPTION_RTOL, MISCONCEPTION_ATOL = 1e-2, 1e-8


# --- helpers ------------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _choice_ids(field: dict) -> list:
    return [c["id"] if isinstance(c, dict) else c for c in field.get("choices") or []]


def shape_problem(field: dict, value) -> str | None:
    """Why `value` is not a well-formed answer to `field`, or None."""
    ftype, shape = field["type"], tuple(field["shape"])
    if ftype == "number":
        if shape != ():
            return f"number field has shape {shape}"
        return None if _is_number(value) else f"{value!r} is not a finite number"
    if ftype in ("vector", "matrix"):
        if len(shape) != (1 if ftype == "vector" else 2):
            return f"{ftype} field has shape {shape}"
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return f"{value!r} is not numeric"
        if array.shape != shape:
            return f"answer has shape {array.shape}, field says {shape}"
        flat = np.asarray(value, dtype=object).reshape(-1)
        if not all(_is_number(v) for v in flat):
            return f"{value!r} has non-finite or non-numeric entries"
        return None
    if ftype == "code":  # the reference {"source", "entry", "cases"} or a buggy source
        source = value.get("source") if isinstance(value, dict) else value
        if not isinstance(source, str) or not source.strip():
            return f"{value!r} holds no Python source"
        try:
            compile(source, "<answer>", "exec")
        except SyntaxError as exc:
            return f"the source does not compile: {exc}"
        return None
    ids = _choice_ids(field)
    if not ids:
        return f"{ftype} field lists no choices"
    if ftype == "choice":
        return None if value in ids else f"{value!r} is not one of {ids}"
    if ftype == "choices":
        if not isinstance(value, list) or len(set(map(str, value))) != len(value):
            return f"{value!r} is not a list of distinct choice ids"
        return None if all(v in ids for v in value) else f"{value!r} names unknown choices {ids}"
    return f"unknown field type {ftype!r}"


def differs(wrong, right, rtol: float, atol: float) -> bool:
    """Whether a misconception's answer is distinguishable from the correct one (for code, a
    different source; test_code_kinds checks that each buggy source fails a case)."""
    if isinstance(right, dict) and "source" in right:
        return wrong != right["source"]
    if isinstance(right, str) or isinstance(wrong, str):
        return wrong != right
    if isinstance(right, list) and right and isinstance(right[0], str):
        return sorted(map(str, wrong)) != sorted(map(str, right))
    a, b = np.asarray(wrong, dtype=float), np.asarray(right, dtype=float)
    if a.shape != b.shape:
        return True
    return bool(np.any(np.abs(a - b) > atol + rtol * np.abs(b)))


def check_instance(kind, instance: dict, params: dict, seed: int) -> None:
    """Every documented property of one generated instance."""
    assert INSTANCE_KEYS <= set(instance), f"missing keys {INSTANCE_KEYS - set(instance)}"
    assert instance["kind"] == kind.id
    assert instance["version"] == kind.version
    assert instance["seed"] == seed
    assert isinstance(instance["draw"], int) and instance["draw"] >= 0
    assert instance["params"] == canonical(kind.validate_params(params))
    assert instance["chained"] is kind.chained
    assert json.loads(to_json(instance)) == instance, "instance does not survive a JSON round trip"

    prompt = instance["prompt"]
    assert set(prompt) >= {"text", "data"}
    assert isinstance(prompt["text"], str) and prompt["text"].strip()
    assert isinstance(prompt["data"], dict) and prompt["data"]
    assert instance["diagram"] is None or isinstance(instance["diagram"], dict)

    tol = instance["tolerance"]
    assert _is_number(tol["rtol"]) and tol["rtol"] >= 0
    assert _is_number(tol["atol"]) and tol["atol"] >= 0

    fields = {f["name"]: f for f in instance["fields"]}
    assert fields, "an instance must ask something"
    assert len(fields) == len(instance["fields"]), "duplicate field names"
    for f in instance["fields"]:
        assert isinstance(f["label"], str) and f["label"], f"field {f['name']} has no label"
        assert f["type"] in FIELD_TYPES, f"field {f['name']} has unknown type {f['type']!r}"
        assert set(f.get("depends_on", [])) <= set(fields), f"{f['name']} depends on unknown fields"
    answers = instance["answers"]
    assert set(answers) == set(fields), "answers and fields name different things"
    for name, value in answers.items():
        problem = shape_problem(fields[name], value)
        assert problem is None, f"answer to {name}: {problem}"
        if "step_from" in fields[name]:  # the weight before the step, shaped as the answer
            assert shape_problem(fields[name], fields[name]["step_from"]) is None, f"step_from of {name}"

    for name, values in instance["alternatives"].items():
        assert name in fields, f"alternatives for unknown field {name}"
        assert isinstance(values, list)
        for value in values:
            problem = shape_problem(fields[name], value)
            assert problem is None, f"alternative answer to {name}: {problem}"

    assert isinstance(instance["solution"], list) and instance["solution"], "no worked solution"
    for s in instance["solution"]:
        assert isinstance(s["title"], str) and s["title"]
        assert isinstance(s["latex"], str) and s["latex"]
        assert isinstance(s["values"], dict)

    # at least the default 1 %, except for exact answers (parameter_count: 251 is not 249)
    rtol = max(tol["rtol"], MISCONCEPTION_RTOL) if tol["rtol"] > 0 else 0.0
    atol = max(tol["atol"], MISCONCEPTION_ATOL)
    ids = [m["id"] for m in instance["misconceptions"]]
    assert len(ids) == len(set(ids)), f"duplicate misconception ids {ids}"
    for m in instance["misconceptions"]:
        assert isinstance(m["id"], str) and m["id"]
        assert isinstance(m["name"], str) and m["name"]
        assert isinstance(m["explanation"], str) and m["explanation"]
        assert m["answers"], f"misconception {m['id']} changes no field"
        for name, wrong in m["answers"].items():
            assert name in fields, f"misconception {m['id']} names unknown field {name}"
            problem = shape_problem(fields[name], wrong)
            assert problem is None, f"misconception {m['id']} answer to {name}: {problem}"
            # an updated weight is also graded on its change (base.step_close)
            off_step = "step_from" in fields[name] and not step_close(wrong, answers[name], fields[name]["step_from"])
            assert differs(wrong, answers[name], rtol, atol) or off_step, (
                f"misconception {m['id']} gives {wrong!r} for {name}, within tolerance of "
                f"the correct {answers[name]!r}"
            )


def invalid_param_cases(kind) -> list[tuple[str, dict, str]]:
    """(description, params, parameter name the error must mention) for one kind."""
    cases = [("unknown name", {"no_such_parameter": 1}, "no_such_parameter")]
    wrong_type = {"int": "three", "float": "abc", "bool": "maybe", "int_list": "a,b"}
    for p in kind.params:
        if p.type in wrong_type:
            cases.append((f"{p.name} wrong type", {p.name: wrong_type[p.type]}, p.name))
        if p.type == "int":
            cases.append((f"{p.name} not an integer", {p.name: 1.5}, p.name))
        if p.type in ("int", "float", "int_list"):
            wrap = (lambda v: [v]) if p.type == "int_list" else (lambda v: v)
            if p.minimum is not None:
                cases.append((f"{p.name} below minimum", {p.name: wrap(p.minimum - 1)}, p.name))
            if p.maximum is not None:
                cases.append((f"{p.name} above maximum", {p.name: wrap(p.maximum + 1)}, p.name))
        if p.type == "float":
            cases.append((f"{p.name} not finite", {p.name: "nan"}, p.name))
        if p.type == "int_list":
            ok = int(p.minimum) if p.minimum is not None else 1
            cases.append((f"{p.name} too long", {p.name: [ok] * (p.max_length + 1)}, p.name))
            cases.append((f"{p.name} empty", {p.name: []}, p.name))
        if p.type == "choice":
            cases.append((f"{p.name} bad choice", {p.name: "__not_a_choice__"}, p.name))
    return cases


def single_variations(kind) -> list[dict]:
    """Each parameter moved alone to each allowed choice or to an end of its range."""
    out = []
    for p in kind.params:
        values: list = []
        if p.type == "choice":
            values = [c for c in p.choices if c != p.default]
        elif p.type == "bool":
            values = [not p.default]
        elif p.type in ("int", "float"):
            values = [v for v in (p.minimum, p.maximum) if v is not None and v != p.default]
            if p.type == "int":
                values = [int(v) for v in values]
        out += [{p.name: v} for v in values]
    return out


# --- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_schema_is_well_formed(kind_id):
    kind = get_kind(kind_id)
    schema = kind.schema()
    assert schema["id"] == kind_id
    assert re.fullmatch(r"[a-z][a-z0-9_]*", kind_id), "ids are stable snake_case"
    for key in ("title", "description", "topic"):
        assert isinstance(schema[key], str) and schema[key].strip(), f"empty {key}"
    assert isinstance(schema["version"], int) and schema["version"] >= 1
    assert isinstance(schema["chained"], bool)
    json.dumps(schema)  # the API serves it as is
    names = [p["name"] for p in schema["params"]]
    assert len(names) == len(set(names)), f"duplicate parameter names {names}"
    for param in kind.params:
        assert param.type in PARAM_TYPES, f"{param.name} has unknown type {param.type!r}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", param.name)
        assert param.help.strip(), f"parameter {param.name} has no help text"
        assert param.validate(param.default) == param.default, (
            f"default of {param.name} does not validate"
        )
        if param.type == "choice":
            assert len(param.choices) >= 1 and param.default in param.choices
    defaults = kind.validate_params({})
    assert defaults == {p.name: p.default for p in kind.params}


# --- generation, determinism, instance contract --------------------------------------------------


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_default_instances_keep_the_contract(kind_id):
    kind = get_kind(kind_id)
    texts = set()
    for seed in SEEDS:
        instance = kind.generate({}, seed)
        check_instance(kind, instance, {}, seed)
        first = to_json(instance)
        assert to_json(kind.generate({}, seed)) == first, f"seed {seed} is not deterministic"
        texts.add(json.dumps(instance["prompt"]["data"], sort_keys=True))
    assert len(texts) > 1, "every seed gives the same data: the seed is ignored"


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_explicit_defaults_equal_omitted_defaults(kind_id):
    kind = get_kind(kind_id)
    explicit = {p.name: p.default for p in kind.params}
    assert to_json(kind.generate(explicit, 2)) == to_json(kind.generate({}, 2))


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_single_parameter_variations_generate_or_refuse_cleanly(kind_id):
    """Any one parameter moved gives a valid instance or a ParamError, never a crash."""
    kind = get_kind(kind_id)
    for params in single_variations(kind):
        try:
            instance = kind.generate(params, 0)
        except ParamError as exc:
            assert any(p.name in str(exc) for p in kind.params), (
                f"{params}: {exc} names no parameter"
            )
            continue
        check_instance(kind, instance, params, 0)


@pytest.fixture(scope="module")
def fresh_process_json() -> dict[str, str]:
    """to_json(generate(kind, {}, SUBPROCESS_SEED)) for every kind, from ONE new interpreter with
    a different hash seed (catches dependence on set/dict order or process state)."""
    script = (
        "import json, sys\n"
        "from nncore.problems import CATALOGUE, to_json\n"
        "out = {}\n"
        "for kind_id, kind in CATALOGUE.items():\n"
        "    try:\n"
        f"        out[kind_id] = to_json(kind.generate({{}}, {SUBPROCESS_SEED}))\n"
        "    except Exception as exc:\n"
        "        out[kind_id] = 'ERROR: ' + repr(exc)\n"
        "sys.stdout.write(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "2718"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_identical_json_in_a_fresh_process(kind_id, fresh_process_json):
    here = to_json(get_kind(kind_id).generate({}, SUBPROCESS_SEED))
    assert kind_id in fresh_process_json, "kind missing from the catalogue in a fresh process"
    assert fresh_process_json[kind_id] == here, "a fresh interpreter generates different JSON"


# --- parameter and seed validation ------------------------------------------------------------------


@pytest.mark.parametrize("kind_id", KIND_IDS)
def test_invalid_parameters_raise_param_error_naming_them(kind_id):
    kind = get_kind(kind_id)
    for description, params, name in invalid_param_cases(kind):
        with pytest.raises(ParamError) as caught:
            kind.generate(params, 0)
        assert re.search(rf"\b{re.escape(name)}\b", str(caught.value)), (
            f"{description}: message {str(caught.value)!r} does not name {name!r}"
        )


@pytest.mark.parametrize("kind_id", KIND_IDS)
@pytest.mark.parametrize("seed", [-1, 1.5, "3", None, True])
def test_bad_seed_raises_param_error(kind_id, seed):
    with pytest.raises(ParamError, match="seed"):
        get_kind(kind_id).generate({}, seed)


# --- golden files -------------------------------------------------------------------------------------

GOLDEN_CASES = [
    pytest.param(kind_id, label, params, seed, id=f"{kind_id}__{label}")
    for kind_id in KIND_IDS
    for label, params, seed in make_golden.golden_cases(get_kind(kind_id))
]


@pytest.mark.parametrize(("kind_id", "label", "params", "seed"), GOLDEN_CASES)
def test_golden_instance_is_unchanged(kind_id, label, params, seed):
    kind = get_kind(kind_id)
    path = make_golden.golden_path(kind_id, label)
    regenerate = f"python tests/problems/make_golden.py {kind_id}"
    if not path.exists():
        pytest.fail(
            f"kind {kind_id!r} has no golden file {path.name}; create its golden files with "
            f"`{regenerate}` and commit them",
            pytrace=False,
        )
    expected = path.read_text(encoding="utf-8")
    actual = make_golden.render(kind, params, seed)
    if actual != expected:
        diff = "\n".join(
            list(
                difflib.unified_diff(
                    expected.splitlines(),
                    actual.splitlines(),
                    "golden",
                    "generated",
                    lineterm="",
                    n=1,
                )
            )[:40]
        )
        pytest.fail(
            f"kind {kind_id!r} (version {kind.version}) now generates a different instance for "
            f"{label} (params {params}, seed {seed}) than {path.name}.\n"
            f"If this change is NOT intended, the generator's output changed by accident: fix it.\n"
            f"ONLY if it is intended: bump {kind_id}'s `version` and run `{regenerate}`.\n{diff}",
            pytrace=False,
        )


def test_no_stale_golden_files():
    expected = {
        make_golden.golden_path(kind_id, label).name
        for kind_id in KIND_IDS
        for label, _, _ in make_golden.golden_cases(get_kind(kind_id))
    }
    present = {p.name for p in make_golden.GOLDEN_DIR.glob("*.json")}
    stale = sorted(present - expected)
    assert not stale, (
        f"golden files for kinds or cases that no longer exist: {stale}; delete them (or rerun "
        "`python tests/problems/make_golden.py KIND` for a kind that still exists)"
    )
