"""The shared base of code-exercise kinds: parameters, case scripts, bugs, instance assembly.

A kind supplies the reference source, starter code, the typical bugs (as edits of the
reference source) and `make_cases`, which draws the test cases and computes every expectation
with the nncore engine. `CodeKind.build` assembles the instance laid out as described in
`nncore.problems.code_kinds`.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nncore.problems.base import MISTAKE_REDRAWS, Draft, Field, Param, ProblemKind, Redraw
from nncore.problems.code.harness import judge_case, public_case, run_case

CASE_KINDS = ("small", "edge", "random")
CASE_TRIES = 100  # draws of one case before the whole instance is redrawn
KINK_MARGIN = 1e-6  # |z| below this is too close to ReLU's kink for an unambiguous derivative

RANDOM_CASES_PARAM = Param(
    "random_cases", "int", 4,
    "number of hidden random test cases, besides the fixed small and edge cases",
    minimum=0, maximum=20,
)
RTOL_PARAM = Param(
    "rtol", "float", 1e-6, "relative tolerance of every comparison", minimum=1e-9, maximum=0.1
)
ATOL_PARAM = Param(
    "atol", "float", 1e-9, "absolute tolerance of every comparison", minimum=1e-12, maximum=0.01
)
TIME_LIMIT_PARAM = Param(
    "time_limit_s", "float", 2.0,
    "CPU seconds for all the test cases of one submission together (wall clock: twice that + 1 s); "
    "the kernel limits CPU time in whole seconds, so a fraction is rounded up (0.1 gives 1 s)",
    minimum=0.1, maximum=20.0,
)
MEMORY_PARAM = Param(
    "memory_mb", "int", 256, "memory (MB) the submission may use on top of Python and NumPy",
    minimum=16, maximum=2048,
)
SHOW_HIDDEN_PARAM = Param(
    "show_hidden_cases", "bool", False,
    "show students the inputs, values and error messages of the hidden cases in feedback",
)
CODE_PARAMS = (
    RANDOM_CASES_PARAM, RTOL_PARAM, ATOL_PARAM, TIME_LIMIT_PARAM, MEMORY_PARAM, SHOW_HIDDEN_PARAM
)
# Parameters that do not change what is drawn, only the limits a submission runs under: a
# question's may change after students have their variants (a too-tight time limit found at the
# deadline), and gradings then apply the question's values to every variant. show_hidden_cases
# is not one: feedback is stored as it was judged, so turning it on and off again would leave
# hidden inputs in what was graded meanwhile.
RUN_SETTINGS = (TIME_LIMIT_PARAM.name, MEMORY_PARAM.name)


@dataclass(frozen=True)
class Bug:
    """A typical mistake, written as edits (old snippet -> new snippet) of the reference source."""

    id: str
    name: str
    explanation: str
    edits: tuple[tuple[str, str], ...]

    def apply(self, source: str) -> str:
        """The buggy variant of `source`; every snippet must occur exactly once."""
        for old, new in self.edits:
            count = source.count(old)
            if count != 1:
                raise ValueError(f"bug {self.id}: snippet {old!r} occurs {count} times, not once")
            source = source.replace(old, new)
        return source


class TypicalBugPasses(RuntimeError):
    """A typical bug's code passed every case of MISTAKE_REDRAWS draws in a row: the parameters
    (a loose rtol/atol, a tiny learning rate) cannot tell it from the reference. A RuntimeError
    like any seed the generator cannot draw from; `bug` is the misconception (id, name, ...)."""

    def __init__(self, bug: Mapping) -> None:
        super().__init__(
            f"the typical bug {bug['name']!r} passes every test case of {MISTAKE_REDRAWS} draws "
            "in a row, so a student with that bug would get full marks"
        )
        self.bug = bug


# In-process runs of trusted code hold this lock: a scripted case replaces np.random.randint
# for the whole process, so two threads' runs at once would read each other's indices (and the
# same draw could come out differently). autograder.code_grading takes it for its runs too.
TRUSTED_RUN_LOCK = threading.Lock()


# The name of the case that last caught each bug (by its source): a bug is mostly caught by the
# same case of every draw, so it is tried first (code_sequential's SGD bugs are caught by its
# eighth case). Only the speed depends on it: the sources keep no state from case to case.
_CAUGHT_BY: dict[str, str] = {}


@functools.lru_cache(maxsize=128)
def _compiled(source: str):
    """The code object of a reference or bug source (a few fixed texts per kind: compile once)."""
    return compile(source, "<typical bug>", "exec")


def passes_every_case(source: str, cases: Sequence[Mapping]) -> bool:
    """Whether trusted code (the generator's own typical bug, run in process) passes every case,
    judged as the grader judges a submission (harness.judge_case: exact shapes, finite values,
    |got - expected| <= atol + rtol |expected|, inputs unchanged); stops at the first case it
    fails, the one that caught it last time first. Code that cannot be loaded passes nothing.
    NumPy's global random state is left as it was (Linear() draws initial weights from it;
    saving it costs 50 us, a third of a function bug's check, so only for sources that use it)."""
    namespace: dict = {"__name__": "typical_bug"}
    first = _CAUGHT_BY.get(source)
    with TRUSTED_RUN_LOCK, np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow in the bugs that skip softmax's max shift
        state = np.random.get_state() if "np.random" in source else None
        try:
            exec(_compiled(source), namespace)  # noqa: S102 - the generator's own code
            for case in sorted(cases, key=lambda c: c["name"] != first):
                if not judge_case(case, run_case(namespace, public_case(case))).passed:
                    _CAUGHT_BY[source] = case["name"]
                    return False
        except Exception:  # the source did not load (a step that raises is a failed case)
            return False
        finally:
            if state is not None:
                np.random.set_state(state)
    return True


# --- case scripts ---------------------------------------------------------------------------------


def case(name: str, kind: str, note: str, steps: list[dict]) -> dict:
    """One test case: a named script of steps; `note` says what it checks (shown to students
    for visible cases)."""
    if kind not in CASE_KINDS:
        raise ValueError(f"case kind must be one of {CASE_KINDS}, got {kind!r}")
    return {"name": name, "kind": kind, "note": note, "steps": steps}


def call(func: str, *args: dict, expect: dict | None = None) -> dict:
    """Call a function of the submission."""
    return {"op": "call", "func": func, "args": list(args), "expect": expect}


def new(var: str, cls: str, *args: dict) -> dict:
    """Construct an object of a class of the submission."""
    return {"op": "new", "var": var, "class": cls, "args": list(args)}


def assign(var: str, attr: str, value: dict) -> dict:
    """Inject an attribute (weights) after construction."""
    return {"op": "set", "var": var, "attr": attr, "value": value}


def method(var: str, name: str, *args: dict, expect: dict | None = None, randint=None) -> dict:
    """Call a method; `randint` scripts the indices np.random.randint returns during the call."""
    step = {"op": "call", "var": var, "method": name, "args": list(args), "expect": expect}
    if randint is not None:
        step["randint"] = [int(i) for i in randint]
    return step


def get(var: str, attr: str, expect: dict) -> dict:
    """Read an attribute and compare it."""
    return {"op": "get", "var": var, "attr": attr, "expect": expect}


def draw_until(rng: np.random.Generator, draw: Callable[[np.random.Generator], Any],
               ok: Callable[[Any], bool], what: str) -> Any:
    """Draw until `ok` holds (deterministic given rng); Redraw the instance after CASE_TRIES."""
    for _ in range(CASE_TRIES):
        value = draw(rng)
        if ok(value):
            return value
    raise Redraw(f"no acceptable draw for {what}")


# A rate argument (learning rate, FGSM step) differs from case to case: the parameter's value in the
# first case, then these multiples of it in turn (powers of two: 0.1 gives 0.2, 0.05, 0.4, 0.025),
# so code that ignores the argument and uses a fixed number fails the other cases (QA: a Linear
# with 0.1 written into sgd_step scored full marks when every case passed 0.1).
RATE_FACTORS = (1.0, 2.0, 0.5, 4.0, 0.25)


def case_rate(param: Param, base: float, index: int) -> float:
    """The rate argument of the index-th case: `base` times RATE_FACTORS[index] (cycling), or
    divided by it where the product leaves the parameter's range."""
    factor = RATE_FACTORS[index % len(RATE_FACTORS)]
    for rate in (base * factor, base / factor):
        if param.minimum <= rate <= param.maximum:
            return rate
    return base


def fixed_rate_bug(bug_id: str, argument: str, base: float, edits: tuple[tuple[str, str], ...]) -> Bug:
    """The typical bug of ignoring a rate argument: `edits` write the number `base` (the first
    case's rate, the one a student would copy from the prompt) where the argument is used."""
    return Bug(
        bug_id,
        f"Used a fixed number instead of the `{argument}` argument",
        f"Every step must use the `{argument}` it is given: the tests pass different values "
        f"(the first {base!r}, then others).",
        edits,
    )


def values(rng: np.random.Generator, shape: tuple[int, ...], hand: bool) -> np.ndarray:
    """Hand values (integers in [-3, 3] or one decimal in [-1, 1], never 0) or 2-decimal
    random values in [-2, 2]."""
    if not hand:
        return np.round(rng.uniform(-2.0, 2.0, size=shape), 2)
    if rng.random() < 0.5:
        out = rng.integers(-3, 4, size=shape).astype(np.float64)
    else:
        out = rng.integers(-10, 11, size=shape) / 10.0
    return np.where(out == 0, 1.0, out)


def one_hot_columns(rng: np.random.Generator, K: int, B: int) -> np.ndarray:
    """K x B targets, one random class per column."""
    labels = rng.integers(0, K, size=B)
    out = np.zeros((K, B))
    out[labels, np.arange(B)] = 1.0
    return out


def off_kink(Zs) -> bool:
    """Whether no pre-activation sits within KINK_MARGIN of 0."""
    return all(np.all(np.abs(z) > KINK_MARGIN) for z in Zs)


# --- the base kind ----------------------------------------------------------------------------------


class CodeKind(ProblemKind):
    """A code exercise: the student writes `entry` (functions or classes) in Python."""

    topic = "code"
    params = CODE_PARAMS
    solution_fits_every_variant = True  # the solution holds a reference implementation
    entry: ClassVar[tuple[str, ...]]
    signature: ClassVar[str]
    starter: ClassVar[str]
    reference: ClassVar[str]
    bugs: ClassVar[tuple[Bug, ...]] = ()

    # --- what a subclass decides ---------------------------------------------------------------

    def make_cases(self, p: dict, rng: np.random.Generator) -> list[dict]:
        """Small, edge and p["random_cases"] random cases, expectations from the engine."""
        raise NotImplementedError

    def task(self, p: dict) -> str:
        """What to implement (LaTeX in $...$), without the common rules."""
        raise NotImplementedError

    def solution(self, p: dict, cases: list[dict]) -> list[dict]:
        """The worked explanation: formulas and one small case worked through."""
        raise NotImplementedError

    def bugs_for(self, p: dict) -> tuple[Bug, ...]:
        """The bugs the generated cases are built to catch under these parameters."""
        return self.bugs

    # --- assembly ------------------------------------------------------------------------------------

    def build(self, p: dict, rng: np.random.Generator) -> Draft:
        tolerance = {"rtol": p["rtol"], "atol": p["atol"]}
        cases = []
        for c in self.make_cases(p, rng):
            cases.append({
                "name": c["name"],
                "kind": c["kind"],
                "hidden": c["kind"] == "random",
                "note": c["note"],
                "check_inputs_unchanged": True,
                "tolerance": dict(tolerance),
                "steps": c["steps"],
            })
        names = [c["name"] for c in cases]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.id}: duplicate case names {names}")
        shown = [public_case(c) for c in cases if not c["hidden"]]
        draft = Draft(
            text=self.task(p) + " " + rules_text(tolerance, len(cases) - len(shown), p),
            data={
                "code": {
                    "language": "python",
                    "entry": list(self.entry),
                    "signature": self.signature,
                    "starter": self.starter,
                    "cases": shown,
                    "hidden_cases": len(cases) - len(shown),
                }
            },
            fields=[Field("code", "Your Python code", (), "code")],
            answers={"code": {"source": self.reference, "entry": list(self.entry), "cases": cases}},
            solution=self.solution(p, cases),
            tolerance=dict(tolerance),
        )
        for bug in self.bugs_for(p):
            draft.add_misconception(bug.id, bug.name, bug.explanation, {"code": bug.apply(self.reference)})
        return draft

    def _finish(self, draft: Draft, p: dict, seed: int, attempt: int) -> dict:
        """The instance, redrawn while a typical bug's code passes every one of its cases (a
        student with that bug would get full marks), judged on the stored cases as the grader
        judges them. Unlike a numeric kind's mistake, such a bug is never dropped: from draw
        MISTAKE_REDRAWS on it refuses the seed (TypicalBugPasses)."""
        instance = super()._finish(draft, p, seed, attempt)
        cases = instance["answers"]["code"]["cases"]
        for bug in instance["misconceptions"]:
            if passes_every_case(bug["answers"]["code"], cases):
                if attempt < MISTAKE_REDRAWS:
                    raise Redraw(f"typical bug {bug['id']} passes every case")
                raise TypicalBugPasses(bug)
        return instance


def tolerance_text(tolerance: dict) -> str:
    """How the prompt states the tolerance ("within a relative tolerance of 1e-06 and ...")."""
    return f"within a relative tolerance of {tolerance['rtol']:g} and an absolute tolerance of {tolerance['atol']:g}"


def rules_text(tolerance: dict, hidden: int, p: dict) -> str:
    """The rules every code exercise states (shapes, no mutation, cases, tolerance, limits)."""
    return (
        "Arguments are NumPy float64 arrays; column vectors are $n \\times 1$ and a batch is "
        "features $\\times$ examples. Return NumPy arrays of exactly the stated shapes, and never "
        "modify the arrays you are given (work on copies). Your code is run on the visible "
        f"example cases and on {hidden} hidden ones; every number must match {tolerance_text(tolerance)}. "
        + limits_text(p)
        + " "
        + ENVIRONMENT_TEXT
    )


# The sandbox's default output limit (autograder.sandbox.Limits.output_kb; a test keeps them equal)
OUTPUT_LIMIT_KB = 256
# Of longer printed output, feedback shows this many characters from its start and as many from
# its end (autograder.code_grading; QA: the prompt promised 256 KB and feedback showed 4,000)
SHOWN_OUTPUT_CHARS = 8000
# What runs the code, said before it costs an attempt (QA: `import scipy`, NumPy 1's np.float_ and
# printing 1000 lines a call each graded 0; the limit was stated nowhere)
ENVIRONMENT_TEXT = (
    "Only Python's standard library and NumPy 2 are available (no SciPy or PyTorch). What your "
    f"code prints is shown to you (of more than {2 * SHOWN_OUTPUT_CHARS:,} characters, the first and the "
    f"last {SHOWN_OUTPUT_CHARS:,}); printing more than {OUTPUT_LIMIT_KB} KB in all stops the run."
)


def limits_text(p: dict) -> str:
    """How the prompt states the run limits (the end of rules_text)."""
    return f"All cases together may use {p['time_limit_s']:g} s of CPU time and {p['memory_mb']} MB of memory."
