"""Grade a code answer: run the instance's case scripts in the sandbox, judge every case outside.

Plain Python (no Django). `grade_code` takes the student's source and a `run_cases` callable
(the worker's SandboxPool.run_script, see autograder.sandbox_runner) and returns a CodeResult:
the score is the fraction of cases passed, with feedback per case.

What students see of a case: its name, what it checks and whether it passed. For a visible case
also the inputs (already in the prompt), the first wrong value or shape, and the student's own
traceback. For a hidden case only which step failed and how (wrong value, wrong shape, raised
TypeError, timeout...): messages, values and printed output could carry the hidden inputs out,
so they stay hidden unless the question sets show_hidden_cases. A source that does not parse is
"invalid" (a message with the line; the attempt is not counted). A failing submission whose
observations match a typical bug's on every case gets that bug's explanation.
"""

from __future__ import annotations

import ast
import builtins
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from autograder.sandbox import CaseOutcome, Limits
from autograder.sandbox.script import decode_observations
from nncore.problems.code.harness import (
    CaseVerdict,
    describe_step,
    judge_case,
    public_case,
    run_case,
)
from nncore.problems.code.values import mismatch

RunCases = Callable[[str, Sequence[Mapping], Limits], list[CaseOutcome]]

MAX_SOURCE_CHARS = 60_000
MAX_OUTPUT_CHARS = 4000
DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 256
MEMORY_ERRORS = {"MemoryError", "_ArrayMemoryError"}


@dataclass(frozen=True)
class CodeResult:
    """The grade of one code field; `cases` holds the per-case feedback shown to the student."""

    status: str  # correct | partial | incorrect | invalid
    score: float
    message: str
    cases: list[dict] = field(default_factory=list)
    misconception: str | None = None
    output: str = ""
    field: str = "code"

    def to_dict(self) -> dict:
        return {
            "field": self.field,
            "status": self.status,
            "score": float(self.score),
            "message": self.message,
            "notes": [],
            "wrong_entries": [],
            "misconception": self.misconception,
            "cases": self.cases,
            "output": self.output,
        }


def limits_for(params: Mapping) -> Limits:
    """The sandbox limits of a code question from its parameters (CPU, wall clock, memory)."""
    cpu = float(params.get("time_limit_s", DEFAULT_TIME_LIMIT_S))
    return Limits(cpu_s=cpu, wall_s=2 * cpu + 1, memory_mb=int(params.get("memory_mb", DEFAULT_MEMORY_MB)))


def syntax_problem(source: str) -> str | None:
    """Why the source cannot be run (a sentence with the line), or None. Parsing runs no code."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"Your code is too long ({len(source)} characters; at most {MAX_SOURCE_CHARS})."
    try:
        ast.parse(source, filename="<submission>")
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "your code"
        return f"Your code does not parse: {exc.msg} ({where}). Fix it and submit again."
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"Your code cannot be read: {exc}."
    return None


def grade_code(
    raw: object,
    instance: Mapping,
    run_cases: RunCases,
    *,
    field_name: str = "code",
    tolerance: Mapping | None = None,
) -> CodeResult:
    """Grade the source `raw` against the instance's case scripts (visible and hidden)."""
    if not isinstance(raw, str):
        return CodeResult("invalid", 0.0, "The code answer must be text (Python source).", field=field_name)
    problem = syntax_problem(raw)
    if problem:
        return CodeResult("invalid", 0.0, problem, field=field_name)
    params = instance.get("params", {})
    show_hidden = bool(params.get("show_hidden_cases", False))
    cases = [_with_tolerance(c, tolerance) for c in instance["answers"][field_name]["cases"]]
    limits = limits_for(params)
    outcomes = run_cases(raw, [public_case(c) for c in cases], limits)
    feedback, observed = [], []
    for case, outcome in zip(cases, outcomes, strict=True):
        observations = _observations(case, outcome)
        observed.append(observations)
        verdict = _verdict(case, outcome, observations, limits.memory_mb)
        reveal = not case.get("hidden") or show_hidden
        feedback.append(_case_feedback(case, verdict, observations, outcome, reveal))
    passed = sum(1 for f in feedback if f["passed"])
    score = passed / len(cases) if cases else 0.0
    output = _output(outcomes, reveal=show_hidden or not any(c.get("hidden") for c in cases))
    if passed == len(cases):
        return CodeResult("correct", 1.0, f"All {len(cases)} test cases passed.", feedback, None, output, field_name)
    message = f"{passed} of {len(cases)} test cases passed."
    bug = _matching_bug(instance, field_name, cases, observed)
    if bug is not None:
        message += f" {bug['name']}: {bug['explanation']}"
    status = "partial" if passed else "incorrect"
    return CodeResult(status, score, message, feedback, bug["id"] if bug else None, output, field_name)


def _with_tolerance(case: Mapping, tolerance: Mapping | None) -> dict:
    """The case with the question's tolerance override (rtol/atol) applied, if it has one."""
    out = dict(case)
    if tolerance and "rtol" in tolerance and "atol" in tolerance:
        out["tolerance"] = {"rtol": float(tolerance["rtol"]), "atol": float(tolerance["atol"])}
    return out


def _observations(case: Mapping, outcome: CaseOutcome) -> list[dict] | None:
    if not outcome.ok:
        return None
    return decode_observations(outcome.outputs, len(case["steps"]))


def _verdict(
    case: Mapping, outcome: CaseOutcome, observations: list[dict] | None, memory_mb: int
) -> CaseVerdict:
    name = case.get("name", "case")
    if not outcome.ok:
        details = {"traceback": outcome.traceback} if outcome.traceback else {}
        return CaseVerdict(name, False, _outcome_message(outcome), None, details)
    if observations is None:
        return CaseVerdict(name, False, "the result of this case could not be read (malformed)")
    try:
        verdict = judge_case(case, observations)
    except Exception:  # forged observations that pass the structural check but not the judge
        return CaseVerdict(name, False, "the result of this case could not be read (malformed)")
    index = verdict.failed_step
    if index is not None and index < len(observations) and _error_kind(observations[index]) in MEMORY_ERRORS:
        where = describe_step(case["steps"][index])
        message = f"step {index + 1} ({where}) ran out of memory (the limit is {memory_mb} MB)"
        return CaseVerdict(name, False, message, index)
    return verdict


def _error_kind(observation: Mapping) -> str:
    """The exception type name of a failed step's observation ('' when it did not raise)."""
    return "" if observation.get("ok") else str(observation.get("error", "")).split(":", 1)[0]


def _outcome_message(outcome: CaseOutcome) -> str:
    """The run-level reason a case has no result: timeout, memory, exit, crash, exception."""
    if outcome.status == "error" and outcome.traceback:
        last = outcome.traceback.strip().splitlines()[-1] if outcome.traceback.strip() else ""
        return f"your code raised {last or outcome.message}"
    return outcome.message or outcome.status


def _case_feedback(
    case: Mapping,
    verdict: CaseVerdict,
    observations: list[dict] | None,
    outcome: CaseOutcome,
    reveal: bool,
) -> dict:
    out = {
        "name": case["name"],
        "kind": case.get("kind", ""),
        "hidden": bool(case.get("hidden")),
        "note": case.get("note", ""),
        "passed": verdict.passed,
        "message": verdict.message if reveal else _hidden_message(case, verdict, observations, outcome),
    }
    if reveal:
        out["steps"] = public_case(case)["steps"]
        if verdict.details.get("traceback"):
            out["traceback"] = verdict.details["traceback"]
    return out


def _hidden_message(
    case: Mapping, verdict: CaseVerdict, observations: list[dict] | None, outcome: CaseOutcome
) -> str:
    """How a hidden case failed, without any value, message or text the submission produced
    (exception names only when they are Python's own: a class name can carry data too)."""
    if verdict.passed:
        return ""
    if not outcome.ok:
        if outcome.status in ("timeout", "memory", "killed"):
            return outcome.message  # the sandbox's own words
        if outcome.status == "error":
            return f"your code raised {_builtin_name(outcome.message.removeprefix('raised '))}"
        return "the result of this case could not be read (malformed)"
    index = verdict.failed_step
    if index is None or observations is None:
        return "the result of this case could not be read (malformed)"
    where = f"step {index + 1} ({describe_step(case['steps'][index])})"
    obs = observations[index] if index < len(observations) else None
    if obs is None:
        return f"{where} was not reached"
    if _error_kind(obs) in MEMORY_ERRORS:
        return verdict.message  # our own words: "ran out of memory (the limit is ...)"
    if not obs.get("ok"):
        return f"{where} raised {_builtin_name(_error_kind(obs))}"
    if obs.get("inputs_changed"):
        return f"{where} modified its input; work on copies of the arrays you are given"
    if "should have shape" in verdict.message or "should be a" in verdict.message:
        return f"{where} returned the wrong shape or type"
    return f"{where} returned a wrong value (details of hidden cases are not shown)"


def _builtin_name(name: str) -> str:
    return name if isinstance(getattr(builtins, name, None), type) else "an exception"


def _output(outcomes: Sequence[CaseOutcome], *, reveal: bool) -> str:
    """What the submission printed (one run for all cases), only when no hidden case ran."""
    if not outcomes or not reveal:
        return ""
    text = (outcomes[0].stdout + outcomes[0].stderr).strip()
    return text[:MAX_OUTPUT_CHARS] + ("\n[... cut ...]" if len(text) > MAX_OUTPUT_CHARS else "")


# --- typical bugs --------------------------------------------------------------------------------


def _matching_bug(
    instance: Mapping, field_name: str, cases: Sequence[Mapping], observed: Sequence[list[dict] | None]
) -> dict | None:
    """The first typical bug whose observations match the student's on every case, if any.

    Bug sources are the generator's own (trusted) code, so they run here, in-process, on the
    full cases; the student's observations came from the sandbox.
    """
    if any(o is None for o in observed):
        return None
    for bug in instance.get("misconceptions", []):
        source = bug.get("answers", {}).get(field_name)
        if not isinstance(source, str):
            continue
        bug_observed = _run_trusted(source, cases)
        if bug_observed is not None and all(
            _same_observations(case, mine, theirs)
            for case, mine, theirs in zip(cases, observed, bug_observed, strict=True)
        ):
            return bug
    return None


def _run_trusted(source: str, cases: Sequence[Mapping]) -> list[list[dict]] | None:
    namespace: dict = {"__name__": "reference_bug"}
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(source, "<bug>", "exec"), namespace)  # noqa: S102 - generator's own code
            return [run_case(namespace, public_case(case)) for case in cases]
    except Exception:
        return None


def _same_observations(case: Mapping, mine: list[dict], theirs: list[dict]) -> bool:
    """Whether two runs of a case observed the same thing, step by step, within its tolerance."""
    if len(mine) != len(theirs):
        return False
    tolerance = case.get("tolerance", {"rtol": 1e-6, "atol": 1e-9})
    for a, b in zip(mine, theirs, strict=True):
        if a.get("ok") != b.get("ok") or bool(a.get("inputs_changed")) != bool(b.get("inputs_changed")):
            return False
        if a.get("randint_calls") != b.get("randint_calls"):
            return False
        if not b.get("ok"):
            if str(a.get("error", "")).split(":")[0] != str(b.get("error", "")).split(":")[0]:
                return False
            continue
        expected = _as_expectation(b.get("value"))
        if expected is None:
            continue
        try:
            if mismatch(expected, a.get("value", {"type": "none"}), tolerance):
                return False
        except (ValueError, TypeError, KeyError):
            return False
    return True


def _as_expectation(observed: Mapping | None) -> dict | None:
    """An observed value in the expectation format of nncore.problems.code.values (or None)."""
    if not isinstance(observed, Mapping):
        return None
    kind = observed.get("type")
    if kind == "array":
        value = np.array(observed["value"], dtype=np.float64).reshape(observed["shape"])
        return {"type": "array", "value": value} if np.all(np.isfinite(value)) else None
    if kind in ("float", "int") and isinstance(observed.get("value"), int | float):
        return {"type": kind, "value": observed["value"]}
    if kind in ("list", "tuple"):
        items = [_as_expectation(v) for v in observed.get("value", [])]
        return None if any(i is None for i in items) else {"type": kind, "value": items}
    return None
