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

Running and judging are two steps: `run_in_sandbox` turns the sandbox's outcomes into a CodeRun
(per case: how it ended and the student's observed values), which the submission keeps as JSON
text (`runs_text`, for the staff); `judge_run` compares it with the expectations. A tolerance
regrade judges the kept run again and never runs code: a run too large to keep (over
MAX_STORED_RUN_CHARS) makes its submission one a regrade leaves as it is (CodeRunNotKept).
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import CodeType

import numpy as np

from autograder.sandbox import CaseOutcome, Limits
from autograder.sandbox.harness import FILENAME as SUBMISSION_FILE
from autograder.sandbox.harness import compile_source
from autograder.sandbox.script import decode_observations, storable_text
from nncore.problems.code.harness import (
    CaseVerdict,
    describe_step,
    exit_hint,
    judge_case,
    public_case,
    run_case,
)
from nncore.problems.code.kind import (
    RUN_SETTINGS,
    SHOWN_OUTPUT_CHARS,
    TRUSTED_RUN_LOCK,
    limits_text,
    passes_every_case,
)
from nncore.problems.code.values import mismatch

# run_cases(code, public_cases, limits, hidden_from=None, compiled=None): the outcome of each
# case, in order (sandbox_runner.run_cases; the cases from hidden_from on are hidden; compiled is
# the code object checked_code returned, which the student's process then need not compile)
RunCases = Callable[..., list[CaseOutcome]]

MAX_SOURCE_CHARS = 60_000
MAX_OUTPUT_CHARS = 2 * SHOWN_OUTPUT_CHARS  # printed output kept: its start and its end
# The runs of a submission are kept up to this many characters of JSON (a typical one is 3-10 KB);
# larger (a student returning huge arrays) they are not, and a regrade leaves that submission be.
MAX_STORED_RUN_CHARS = 256 * 1024
DEFAULT_TIME_LIMIT_S = 2.0
# Python calls a non-breaking space "non-printable": it comes with code copied from a PDF, a web
# page or a word processor, and looks like a space on screen.
PASTED_CHARACTER_HINT = (
    " It is an invisible character (such as a non-breaking space) that code copied from a PDF, a"
    " web page or a word processor brings along: retype the spaces at the start of that line."
)
# How a hidden case's message says to draw examples (its own numbers are hidden inputs).
RANDINT_USE = "draw each example's index with np.random.randint(N), N the number of columns of X"
CASE_TOLERANCE = {"rtol": 1e-6, "atol": 1e-9}  # a case's own when it names none (harness.judge_case)
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
    run: CodeRun | None = None  # what the code did: kept with the submission, never shown to students

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


def source_text(raw: str) -> str:
    """The source as `python file.py` reads it: a leading byte-order mark (some editors save
    one) is not part of the code."""
    return raw.removeprefix("\ufeff")


def syntax_problem(source: str, entry: Sequence[str] = ()) -> str | None:
    """Why the source cannot be run (a sentence with the line), or None. Compiling runs no code.
    With `entry` (the names the task asks for), also code that defines none of them: every case
    would fail with a NameError (a misspelt def, a file with only its imports, QA)."""
    return checked_code(source, entry)[0]


def checked_code(source: str, entry: Sequence[str] = ()) -> tuple[str | None, CodeType | None]:
    """(why the source cannot be run, None) as syntax_problem says it, or (None, its module code
    as the sandbox runs it): the grader sends that code along (SandboxPool.run_script's
    `compiled`), so the student's process does not compile the source again. None for code whose
    compiling warns ("is" with a literal, `[[1, 2] [3, 4]]`): the student's process compiles it
    and prints the warning into the run's output, as Python would."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"Your code is too long ({len(source)} characters; at most {MAX_SOURCE_CHARS}).", None
    try:
        # one compile finds what parsing refuses and what the compiler does ('return' outside a
        # function, 'break' outside a loop, a duplicate argument: QA, a stray dedented return
        # cost an attempt); it builds no syntax tree (ast.parse and compiling the tree cost twice
        # as much) and runs none of the code
        code, warned = compile_submission(source)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "your code"
        hint = PASTED_CHARACTER_HINT if "non-printable character" in exc.msg else ""
        return f"Your code does not parse: {exc.msg} ({where}).{hint} Fix it and submit again.", None
    except (RecursionError, MemoryError):
        return "Your code cannot be read: it nests too deeply.", None
    except ValueError as exc:
        return f"Your code cannot be read: {exc}.", None
    # the usual case, a def or class of an entry name written out, spares parsing the tree and
    # walking it (0.27 ms of a submit's CPU); a "def forward(" in a comment only makes it lenient
    if entry and not any(f"def {name}(" in source or f"class {name}" in source for name in entry):
        try:
            bound = _top_level_names(ast.parse(source_text(source), filename=SUBMISSION_FILE))
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # compiles, yet too deep for a tree
            bound = None
        if bound is not None and not bound & set(entry):
            if len(entry) == 1:
                return f"Your code does not define {entry[0]}, which the test cases call: check the spelling of its name.", None
            return f"Your code defines none of {', '.join(entry)}, which the test cases use: check the spelling of their names.", None
    if entry and "__main__" in source and (problem := main_guard_problem(source, entry)):
        return problem, None
    return None, None if warned else code


def main_guard_problem(source: str, entry: Sequence[str]) -> str | None:
    """Why code that defines asked-for names only under `if __name__ == "__main__":` cannot pass
    the cases that use them, or None: the tests load it as a module, so that block never runs
    (QA: those cases failed with a NameError that did not say why, and an attempt was used).
    Refused at submit even when other names are defined: the fix is a dedent, and costs no attempt."""
    try:
        tree = ast.parse(source_text(source), filename=SUBMISSION_FILE)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    guarded = [node for node in tree.body if _is_main_guard(node)]
    if not guarded:
        return None
    # what runs: everything but the guarded blocks (their `else:` runs)
    runs = [n for n in tree.body if not _is_main_guard(n)] + [n for g in guarded for n in g.orelse]
    outside = _top_level_names(ast.Module(body=runs, type_ignores=[]))
    inside = _top_level_names(ast.Module(body=[n for g in guarded for n in g.body], type_ignores=[]))
    if outside is None or inside is None:  # names bound another way: cannot tell, let it run
        return None
    missing = [name for name in entry if name in inside and name not in outside]
    if not missing:
        return None
    names = " and ".join(filter(None, [", ".join(missing[:-1]), missing[-1]]))
    return (
        f'Your code defines {names} only under `if __name__ == "__main__":`, which does not run here: '
        "the tests load your code as a module. Move the definitions above that block (test code may stay in it)."
    )


def _is_main_guard(node: ast.stmt) -> bool:
    """Whether the statement is `if __name__ == "__main__":` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare) or len(node.test.ops) != 1:
        return False
    if not isinstance(node.test.ops[0], ast.Eq):
        return False
    sides = [node.test.left, node.test.comparators[0]]
    return any(isinstance(x, ast.Name) and x.id == "__name__" for x in sides) and any(
        isinstance(x, ast.Constant) and x.value == "__main__" for x in sides
    )


def compile_submission(source: str) -> tuple[CodeType, bool]:
    """The source's module code as the sandbox compiles it (harness.compile_source), and whether
    compiling it warned (a SyntaxWarning is the code's own business: no refusal, nothing logged
    here). Raises SyntaxError (ValueError for a NUL on older Pythons), RecursionError or
    MemoryError for code that cannot be read."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        code = compile_source(source_text(source))
    return code, bool(warned)


# Names through which code can bind a module name without writing it out (globals(), exec,
# sys.modules, the module imported as itself, a frame's f_globals, ...): where one is used, as a
# name, an attribute or an import, _top_level_names cannot tell what the module defines.
_DYNAMIC_NAMES = frozenset({
    "globals", "locals", "vars", "exec", "eval", "compile", "getattr", "setattr", "__import__", "__builtins__",
    "__dict__", "__setattr__", "modules", "f_globals", "import_module", "builtins", "sys", "importlib", "inspect",
    "submission", "__name__",
})


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """The names the code binds by writing them out (def, class, import, assignment, for, with,
    anywhere): a superset of what the module defines, which only has to spare working code.
    None when it may bind names another way: a dynamic name used anywhere, an attribute or
    subscript assigned (module.forward = f), a match statement (its patterns bind names)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES:
            return None
        if isinstance(node, ast.Attribute) and (node.attr in _DYNAMIC_NAMES or isinstance(node.ctx, ast.Store)):
            return None
        if isinstance(node, (ast.Subscript, ast.Starred)) and isinstance(node.ctx, ast.Store):
            return None
        if isinstance(node, ast.Match):
            return None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _DYNAMIC_NAMES:
                return None
            for alias in node.names:
                if alias.name == "*" or alias.name.split(".")[0] in _DYNAMIC_NAMES:
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@dataclass(frozen=True)
class CaseRun:
    """How one case of a run ended: the sandbox's status and message, the student's traceback,
    and the decoded observations (None when the case gave none or they were malformed)."""

    status: str
    message: str = ""
    traceback: str = ""
    observations: list[dict] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class CodeRun:
    """One run of a submission's code over the cases, as plain data (JSON for the database)."""

    cases: tuple[CaseRun, ...]
    output: str = ""  # what the run printed (stdout, then stderr)
    # what it printed before any hidden case's input reached it (all of `output` when none did):
    # what a question with hidden cases shows
    visible_output: str = ""
    # the memory limit (MB) it ran under, which its messages state (the question's may be raised
    # later); None in runs kept before it was recorded: they ran under the variant's drawn one
    memory_mb: int | None = None
    # the CPU time limit (s) it ran under, as set (what a re-run after a raised limit compares);
    # None in runs kept before it was recorded
    time_limit_s: float | None = None

    def to_dict(self) -> dict:
        data = {
            "cases": [
                {"status": c.status, "message": c.message, "traceback": c.traceback, "observations": c.observations}
                for c in self.cases
            ],
            "output": self.output,
            # None: the same as output (not kept twice); absent in runs kept before it was
            "visible_output": None if self.visible_output == self.output else self.visible_output,
        }
        if self.memory_mb is not None:
            data["memory_mb"] = self.memory_mb
        if self.time_limit_s is not None:
            data["time_limit_s"] = self.time_limit_s
        return data

    @classmethod
    def from_dict(cls, data: object, ncases: int) -> CodeRun | None:
        """The kept run, or None when it is missing or is not one of `ncases` cases."""
        if not isinstance(data, Mapping) or not isinstance(data.get("cases"), list) or len(data["cases"]) != ncases:
            return None
        cases = []
        for case in data["cases"]:
            if not isinstance(case, Mapping) or not isinstance(case.get("status"), str):
                return None
            observations = case.get("observations")
            cases.append(
                CaseRun(
                    case["status"],
                    str(case.get("message", "")),
                    str(case.get("traceback", "")),
                    observations if isinstance(observations, list) else None,
                )
            )
        output, visible = str(data.get("output", "")), data.get("visible_output", "")
        memory = data.get("memory_mb")
        memory = memory if type(memory) is int and memory > 0 else None
        cpu = data.get("time_limit_s")
        cpu = float(cpu) if type(cpu) in (int, float) and cpu > 0 else None
        return cls(tuple(cases), output, output if visible is None else str(visible), memory, cpu)


def grade_code(
    raw: object,
    instance: Mapping,
    run_cases: RunCases,
    *,
    field_name: str = "code",
    tolerance: Mapping | None = None,
    stored_run: Mapping | None = None,
) -> CodeResult:
    """Grade the source `raw` against the instance's case scripts (visible and hidden).

    With `stored_run` (the kept run of this same submission, CodeRun.to_dict()) the code is not
    run: only the judging is redone, e.g. with a new tolerance.
    """
    if not isinstance(raw, str):
        return CodeResult("invalid", 0.0, "The code answer must be text (Python source).", field=field_name)
    problem, compiled = checked_code(raw)
    if problem:
        return CodeResult("invalid", 0.0, problem, field=field_name)
    raw = source_text(raw)
    cases = [with_tolerance(c, tolerance) for c in instance["answers"][field_name]["cases"]]
    run = CodeRun.from_dict(stored_run, len(cases))
    if run is None:
        run = run_in_sandbox(raw, cases, run_cases, limits_for(instance.get("params", {})), compiled)
    return judge_run(instance, field_name, cases, run)


def run_in_sandbox(
    raw: str, cases: Sequence[Mapping], run_cases: RunCases, limits: Limits, compiled: CodeType | None = None
) -> CodeRun:
    """Run the source on the public side of `cases` in the sandbox; what came back, decoded.
    Every text the student's process produced is made storable (no NUL, no lone surrogate).

    The visible cases run first; the hidden ones' inputs reach the student's process only once
    the visible results are back (a visible case's feedback shows the student's own values,
    messages and tracebacks, which could otherwise carry the hidden inputs out)."""
    order = [i for i, c in enumerate(cases) if not c.get("hidden")]
    hidden_from = len(order)
    order += [i for i, c in enumerate(cases) if c.get("hidden")]
    ran = run_cases(raw, [public_case(cases[i]) for i in order], limits, hidden_from=hidden_from, compiled=compiled)
    outcomes: list = [None] * len(cases)
    for position, index in enumerate(order):
        outcomes[index] = ran[position]
    runs = tuple(
        CaseRun(
            outcome.status,
            storable_text(outcome.message),
            storable_text(outcome.traceback),
            _observations(case, outcome),
        )
        for case, outcome in zip(cases, outcomes, strict=True)
    )
    if not outcomes:
        return CodeRun(runs, memory_mb=limits.memory_mb, time_limit_s=limits.cpu_s)
    first = outcomes[0]
    output = _printed(first.stdout, first.stderr)
    visible = first.details.get("visible_stdout"), first.details.get("visible_stderr")
    return CodeRun(runs, output, output if visible[0] is None else _printed(*visible), limits.memory_mb, limits.cpu_s)


def _printed(stdout: str, stderr: str) -> str:
    """What a run printed, storable; of more than MAX_OUTPUT_CHARS its start and its end (the
    failing case's prints are often the last), with how much was cut between them."""
    output = storable_text(stdout + stderr).strip()
    if len(output) <= MAX_OUTPUT_CHARS:
        return output
    cut = len(output) - 2 * SHOWN_OUTPUT_CHARS
    return f"{output[:SHOWN_OUTPUT_CHARS]}\n[... {cut:,} characters cut ...]\n{output[-SHOWN_OUTPUT_CHARS:]}"


def judge_run(instance: Mapping, field_name: str, cases: Sequence[Mapping], run: CodeRun) -> CodeResult:
    """Score a run against the cases' expectations, with the feedback students see."""
    params = instance.get("params", {})
    show_hidden = bool(params.get("show_hidden_cases", False))
    memory_mb = run.memory_mb or limits_for(params).memory_mb
    feedback, observed = [], []
    for case, case_run in zip(cases, run.cases, strict=True):
        observed.append(case_run.observations)
        verdict = _verdict(case, case_run, memory_mb)
        reveal = not case.get("hidden") or show_hidden
        feedback.append(_case_feedback(case, verdict, case_run, reveal, memory_mb))
    passed = sum(1 for f in feedback if f["passed"])
    output = run.output if show_hidden or not any(c.get("hidden") for c in cases) else run.visible_output
    result = {"cases": feedback, "output": output, "field": field_name, "run": run}
    if passed == len(cases):
        return CodeResult("correct", 1.0, f"All {len(cases)} test cases passed.", **result)
    message = f"{passed} of {len(cases)} test cases passed."
    bug = _matching_bug(instance, field_name, cases, observed)
    if bug is not None:
        message += f" {bug['name']}: {bug['explanation']}"
    status = "partial" if passed else "incorrect"
    score = passed / len(cases) if cases else 0.0
    return CodeResult(status, score, message, misconception=bug["id"] if bug else None, **result)


class CodeRunNotKept(Exception):
    """Grading would have to run the code: its run was not kept (too large, or graded before
    runs were kept). Raised by `refuse_to_run`, which regrades pass instead of a sandbox."""


def refuse_to_run(
    code: str,
    public_cases: Sequence[Mapping],
    limits: Limits,
    hidden_from: int | None = None,
    compiled: CodeType | None = None,
) -> list[CaseOutcome]:
    raise CodeRunNotKept("the run of this code was not kept")


def runs_text(runs: Mapping[str, CodeRun]) -> str:
    """The code runs of a submission as JSON text to keep with it ({field: run}); "" when there
    are none or they are over MAX_STORED_RUN_CHARS."""
    if not runs:
        return ""
    text = json.dumps({name: run.to_dict() for name, run in runs.items()}, separators=(",", ":"), allow_nan=False)
    return text if len(text) <= MAX_STORED_RUN_CHARS else ""


def runs_from_text(text: str) -> dict[str, Mapping]:
    """The kept runs ({field: CodeRun.to_dict()}) from runs_text's JSON; {} for none."""
    if not text:
        return {}
    try:
        runs = json.loads(text)
    except ValueError:
        return {}
    return runs if isinstance(runs, dict) else {}


def with_tolerance(case: Mapping, tolerance: Mapping | None) -> dict:
    """The case with the question's tolerance override applied: its rtol and atol, each one
    given replacing the case's own (an override of atol alone was silently ignored)."""
    out = dict(case)
    if tolerance and ("rtol" in tolerance or "atol" in tolerance):
        own = case.get("tolerance") or CASE_TOLERANCE
        out["tolerance"] = {name: float(tolerance.get(name, own[name])) for name in ("rtol", "atol")}
    return out


def with_run_settings(instance: Mapping, settings: Mapping) -> Mapping:
    """The code instance as its question runs it now: `settings` (the question's current
    RUN_SETTINGS, its limits) replace the drawn ones in its params, and the prompt states the new
    limits. The instance itself when nothing differs (the usual case: no copy). Only running
    code needs it: a kept run is judged with the limit it ran under (CodeRun.memory_mb)."""
    drawn = instance.get("params") or {}
    changed = {name: settings[name] for name in RUN_SETTINGS if name in settings and settings[name] != drawn.get(name)}
    if not changed:
        return instance
    params = {**drawn, **changed}
    prompt = instance.get("prompt") or {}
    text = prompt.get("text", "")
    if {"time_limit_s", "memory_mb"} <= set(drawn):
        text = text.replace(limits_text(drawn), limits_text(params))
    return {**instance, "params": params, "prompt": {**prompt, "text": text}}


def _observations(case: Mapping, outcome: CaseOutcome) -> list[dict] | None:
    if not outcome.ok:
        return None
    return decode_observations(outcome.outputs, len(case["steps"]))


def _verdict(case: Mapping, run: CaseRun, memory_mb: int) -> CaseVerdict:
    name = case.get("name", "case")
    observations = run.observations
    if not run.ok:
        details = {"traceback": run.traceback} if run.traceback else {}
        return CaseVerdict(name, False, _run_message(run), None, details)
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


def limits_ran_under(run: Mapping, drawn: Mapping) -> dict:
    """{limit parameter: the value a kept run (CodeRun.to_dict()) ran under}: as it recorded it,
    else `drawn`, its variant's parameters (runs kept before limits were recorded ran under those).
    What re-runs and lowering a limit compare with (exercises.reruns, services)."""
    return {name: run.get(name) or drawn.get(name) for name in RUN_SETTINGS}


def limits_hit(run: Mapping) -> set[str]:
    """The limits a kept run (CodeRun.to_dict()) ran into, as question parameters: time_limit_s
    (a case timed out) and memory_mb (a MemoryError, in a step or for the whole run)."""
    hit = set()
    for case in run.get("cases") or []:
        if not isinstance(case, Mapping):
            continue
        if case.get("status") == "timeout":
            hit.add("time_limit_s")
        observations = case.get("observations")
        if case.get("status") == "memory" or (
            isinstance(observations, list)
            and any(isinstance(o, Mapping) and _error_kind(o) in MEMORY_ERRORS for o in observations)
        ):
            hit.add("memory_mb")
    return hit


def _error_kind(observation: Mapping) -> str:
    """The exception type name of a failed step's observation ('' when it did not raise)."""
    return "" if observation.get("ok") else str(observation.get("error", "")).split(":", 1)[0]


def _run_message(run: CaseRun) -> str:
    """The run-level reason a case has no result: timeout, memory, exit, crash, exception."""
    if run.status == "error" and run.traceback:
        last = run.traceback.strip().splitlines()[-1] if run.traceback.strip() else ""
        raised = last or run.message
        return f"your code raised {raised}{_while_loading(run)}{exit_hint(raised.removeprefix('raised '))}"
    return run.message or run.status


_LOADING_FRAME = re.compile(
    r'\A\s*Traceback \(most recent call last\):\n\s*File "' + re.escape(SUBMISSION_FILE) + r'", line (\d+), in <module>\n'
)


def _while_loading(run: CaseRun, hidden: bool = False) -> str:
    """Where an exception raised while the file itself ran (its first frame is the module's): a
    test call left at the end of pasted homework failed every case with no word of when (QA).
    Not the line for a hidden case: code can forge such a frame with a line of its choosing."""
    found = _LOADING_FRAME.match(run.traceback or "")
    if found is None:
        return ""
    line = "" if hidden else f" (line {found.group(1)})"
    return f" while your file was loading{line}, before any test case ran: code at the top level of the file runs too"


def _case_feedback(case: Mapping, verdict: CaseVerdict, run: CaseRun, reveal: bool, memory_mb: int) -> dict:
    out = {
        "name": case["name"],
        "kind": case.get("kind", ""),
        "hidden": bool(case.get("hidden")),
        "note": case.get("note", ""),
        "passed": verdict.passed,
        "message": verdict.message if reveal else _hidden_message(case, verdict, run, memory_mb),
    }
    if reveal:
        out["steps"] = public_case(case)["steps"]
        if verdict.details.get("traceback"):
            out["traceback"] = verdict.details["traceback"]
    return out


def _hidden_message(case: Mapping, verdict: CaseVerdict, run: CaseRun, memory_mb: int) -> str:
    """How a hidden case failed, without any value, message or text the submission produced
    (exception names only when they are Python's own: a class name can carry data too)."""
    observations = run.observations
    if verdict.passed:
        return ""
    if not run.ok:
        # the sandbox's own words, but never a number the code chose: which signal it sent itself,
        # which exit code it gave (QA: a hidden case's exit read "raised an exception")
        if run.status in ("timeout", "memory", "killed"):
            return _SIGNAL_NAMED.sub("died from a signal", run.message)
        if run.status == "error" and run.message.startswith("raised "):
            name = _builtin_name(run.message.removeprefix("raised "))
            return f"your code raised {name}{_while_loading(run, hidden=True)}{exit_hint(name)}"
        if run.status == "error":
            return "the process ended (os._exit or the like) before this case returned a result"
        return "the result of this case could not be read (malformed)"
    index = verdict.failed_step
    if index is None or observations is None:
        return "the result of this case could not be read (malformed)"
    # the step by what it does, not its number: a hidden case's numbering tells its structure
    # (how many set-up steps a Sequential case has: its depth)
    where = describe_step(case["steps"][index])
    obs = observations[index] if index < len(observations) else None
    if obs is None:
        return f"{where} was not reached"
    if _error_kind(obs) in MEMORY_ERRORS:
        return f"{where} ran out of memory (the limit is {memory_mb} MB)"
    if not obs.get("ok"):
        if _error_kind(obs) == "ScriptError":  # the harness's own words carry a hidden index
            return f"{where} used np.random.randint in a way the case cannot script: {RANDINT_USE}"
        name = _builtin_name(_error_kind(obs))
        return f"{where} raised {name}{exit_hint(name)}"
    if obs.get("inputs_changed"):
        return f"{where} modified its input; work on copies of the arrays you are given"
    step = case["steps"][index]
    if "randint" in step and obs.get("randint_calls") != len(step["randint"]):  # a count tells the iterations
        return f"{where} did not call np.random.randint once per iteration: {RANDINT_USE}"
    verb = "has" if step.get("op") == "get" else "returned"  # an attribute read (lin.W) returns nothing
    if "should have" in verdict.message or "should be a" in verdict.message:  # shape, length, type
        return f"{where} {verb} the wrong shape or type"
    return f"{where} {verb} a wrong value (details of hidden cases are not shown)"


# The exceptions a hidden case names (Python's own that say where to look). Any other, a class of
# the student's included, is "an exception": a choice among all of Python's ~60 by the hidden
# inputs' digits read them out at ~6 bits a case per attempt (QA), against ~3 bits with these.
HIDDEN_EXCEPTION_NAMES = frozenset((
    "AttributeError", "IndexError", "KeyError", "NameError", "RecursionError", "SystemExit",
    "TypeError", "ValueError", "ZeroDivisionError",
))


_SIGNAL_NAMED = re.compile(r"died from (SIG[A-Z0-9+]+|signal -?[0-9]+)")  # outcome._missing's words


def _builtin_name(name: str) -> str:
    """How a hidden case names the exception its code raised."""
    return name if name in HIDDEN_EXCEPTION_NAMES and isinstance(getattr(builtins, name, None), type) else "an exception"


# --- typical bugs --------------------------------------------------------------------------------


def _matching_bug(
    instance: Mapping, field_name: str, cases: Sequence[Mapping], observed: Sequence[list[dict] | None]
) -> dict | None:
    """The first typical bug whose observations match the student's on every case, if any.

    Bug sources are the generator's own (trusted) code, so they run here, in-process, on the
    public side of the cases; the student's observations came from the sandbox.
    """
    if any(o is None for o in observed):
        return None
    for bug, bug_observed in _bug_runs(instance, field_name, cases):
        if all(
            _same_observations(case, mine, theirs)
            for case, mine, theirs in zip(cases, observed, bug_observed, strict=True)
        ):
            return bug
    return None


def bugs_passing_every_case(
    instance: Mapping, field_name: str = "code", tolerance: Mapping | None = None
) -> list[dict]:
    """The instance's typical bugs whose code passes every one of its cases, judged with the
    question's `tolerance` override as grade_code applies it: a student with that bug would get
    full marks. The generator rules that out under the instance's own tolerance; a looser
    override (rtol 0.1 on code_graph_backward) can bring it back. Judged by the generator's own
    check (in process, up to a bug's first failed case: a save-time check of many draws)."""
    cases = [with_tolerance(c, tolerance) for c in instance["answers"][field_name]["cases"]]
    return [
        bug
        for bug in instance.get("misconceptions", [])
        if isinstance(source := bug.get("answers", {}).get(field_name), str)
        and passes_every_case(source, cases)
    ]


def _bug_runs(instance: Mapping, field_name: str, cases: Sequence[Mapping]):
    """(bug, its observations on the public side of `cases`) for each typical bug whose code ran.
    Bug sources are the generator's own (trusted) code, so they run here, in process."""
    public = json.dumps([public_case(case) for case in cases], sort_keys=True)
    for bug in instance.get("misconceptions", []):
        source = bug.get("answers", {}).get(field_name)
        observed = _run_trusted(source, public) if isinstance(source, str) else None
        if observed is not None:
            yield bug, observed


@functools.lru_cache(maxsize=256)
def _run_trusted(source: str, public_cases: str) -> list[list[dict]] | None:
    """The observations of a typical bug's code on the cases (JSON of their public side); kept
    for the next submission of the same variant (a resubmission, or every row of a regrade:
    a sequential-training bug costs about 100 ms a submission). Callers must not change them.
    Runs under nncore's TRUSTED_RUN_LOCK: a scripted case patches np.random.randint process-wide
    (web threads check settings and draw variants, which runs bugs too)."""
    namespace: dict = {"__name__": "reference_bug"}
    try:
        with TRUSTED_RUN_LOCK, np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(source, "<bug>", "exec"), namespace)  # noqa: S102 - generator's own code
            return [run_case(namespace, case) for case in json.loads(public_cases)]
    except Exception:
        return None


def _same_observations(case: Mapping, mine: list[dict], theirs: list[dict]) -> bool:
    """Whether two runs of a case observed the same thing, step by step, within its tolerance."""
    if len(mine) != len(theirs):
        return False
    tolerance = case.get("tolerance", CASE_TOLERANCE)
    steps = case.get("steps", [])
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
            # NaN, infinity, None or text, which `mismatch` takes no expectation of: the same
            # thing, where the case checks this step (a NaN of the bug's matched any value:
            # a shifted but wrongly normalised softmax was told it exponentiated raw logits)
            if _checks(steps, b.get("step")) and not _same_value(a.get("value"), b.get("value"), tolerance):
                return False
            continue
        try:
            if mismatch(expected, a.get("value", {"type": "none"}), tolerance):
                return False
        except (ValueError, TypeError, KeyError):
            return False
    return True


def _checks(steps: Sequence[Mapping], index: object) -> bool:
    """Whether the case compares the value of its step `index` with an expectation."""
    return isinstance(index, int) and 0 <= index < len(steps) and steps[index].get("expect") is not None


def _same_value(mine: object, theirs: object, tolerance: Mapping) -> bool:
    """Whether two observed values are the same: the same type and structure, numbers of the
    same shape with NaN and infinities in the same places and the finite entries within the
    case's tolerance, text and representations equal."""
    if not isinstance(mine, Mapping) or not isinstance(theirs, Mapping) or mine.get("type") != theirs.get("type"):
        return False
    kind = theirs.get("type")
    if kind in ("list", "tuple"):
        items, their_items = mine.get("value") or [], theirs.get("value") or []
        return len(items) == len(their_items) and all(
            _same_value(x, y, tolerance) for x, y in zip(items, their_items, strict=True)
        )
    if kind in ("array", "float", "int"):
        try:  # observed numbers: NaN and infinities are the strings "nan", "inf", "-inf"
            x, y = (np.array(v.get("value"), dtype=np.float64) for v in (mine, theirs))
        except (TypeError, ValueError):
            return False
        finite = np.isfinite(y)
        return (
            x.shape == y.shape
            and np.array_equal(np.isfinite(x), finite)
            and np.array_equal(x[~finite], y[~finite], equal_nan=True)
            and np.allclose(x[finite], y[finite], rtol=tolerance.get("rtol", 0.0), atol=tolerance.get("atol", 0.0))
        )
    if kind == "large_array":  # observed by its shape alone: its entries are unknown
        return False
    return mine.get("value") == theirs.get("value") and mine.get("repr") == theirs.get("repr")


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
