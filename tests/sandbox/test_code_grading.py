"""Code answers graded through the real sandbox: script jobs, per-case feedback, typical bugs.

Every code kind's reference source must pass every case and every typical bug must fail at least
one case and be named; hidden cases must not echo anything the submission produced; the worker's
pool stays healthy after hostile code. Needs bubblewrap: skipped locally without it, FAILS under
CI=true.
"""

from __future__ import annotations

import json
import marshal
import os
import resource
import textwrap

import numpy as np
import pytest
from test_sandbox_attacks import ATTACKS, SECRET, SECRET_NAME

from autograder.code_grading import (
    DEFAULT_MEMORY_MB,
    CaseRun,
    CodeRun,
    checked_code,
    compile_submission,
    grade_code,
    limits_for,
    runs_from_text,
    runs_text,
    syntax_problem,
)
from autograder.grading import GradingPolicy, grade_submission
from autograder.sandbox import Limits, SandboxPool
from autograder.sandbox.script import decode_observations, encode_case
from nncore.problems import CATALOGUE, get_kind
from nncore.problems.code.harness import public_case
from nncore.problems.code_kinds import KINDS

CODE_KIND_IDS = [cls.id for cls in KINDS]
MARKER = "LEAK-MARKER-93c1"


@pytest.fixture(scope="module")
def pool(require_sandbox):
    previous = os.environ.get(SECRET_NAME)
    os.environ[SECRET_NAME] = SECRET  # a worker secret the attacks must not find
    try:
        with SandboxPool() as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop(SECRET_NAME, None)
        else:
            os.environ[SECRET_NAME] = previous


@pytest.fixture
def run(pool):
    def run_cases(code, cases, limits, hidden_from=None, compiled=None):
        return pool.run_script(code, cases, limits=limits, hidden_from=hidden_from, compiled=compiled)

    return run_cases


def mlp_instance(**params) -> dict:
    return get_kind("code_mlp_forward").generate(params, 11)


def honest_mlp_forward(instance: dict) -> str:
    return instance["answers"]["code"]["source"]


DATACLASS_FORWARD = """
{future}import pickle
from dataclasses import dataclass
import numpy as np


@dataclass
class Layer:
    W: np.ndarray
    W0: np.ndarray
    activation: str

    def __call__(self, A: np.ndarray) -> np.ndarray:
        Z = self.W.T @ A + self.W0
        return {{"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
                 "identity": lambda z: z}}[self.activation](Z)


def forward(Ws, W0s, X, activation) -> np.ndarray:
    layers = [pickle.loads(pickle.dumps(Layer(W, W0, activation))) for W, W0 in zip(Ws, W0s)]
    assert forward.__annotations__["return"] {check}
    A = X
    for layer in layers:
        A = layer(A)
    return A
"""


@pytest.mark.parametrize(
    "future, check",
    [("", "is np.ndarray"), ("from __future__ import annotations\n", "== 'np.ndarray'")],
    ids=["annotations evaluated", "postponed annotations"],
)
def test_code_runs_as_a_module_of_its_own_file_would(run, future, check):
    """A correct forward pass written with a @dataclass scored 0 on every case: the submission
    was compiled with the harness's own `from __future__ import annotations` and its module was
    not in sys.modules, where dataclasses (and pickle) look it up. It runs as `python file.py`
    would now, with its own future imports only."""
    instance = mlp_instance()
    code = DATACLASS_FORWARD.format(future=future, check=check)
    result = grade_code(code, instance, run)
    assert result.score == 1.0, [c["message"] for c in result.cases]


def test_a_typical_bugs_nan_is_not_a_wildcard(run):
    """The unstable-softmax bug's NaN results were taken to match whatever the student returned
    there, so a softmax shifted by the global maximum (wrong only where columns differ a lot) was
    told it "exponentiated the raw logits". The raw-logits code is still told so."""
    instance = get_kind("code_softmax").generate({}, 0)
    shifted = "import numpy as np\ndef softmax(Z):\n    E = np.exp(Z - Z.max())\n    return E / E.sum(axis=0)\n"
    raw = "import numpy as np\ndef softmax(Z):\n    E = np.exp(Z)\n    return E / E.sum(axis=0, keepdims=True)\n"
    wrongly_shifted, unstable = grade_code(shifted, instance, run), grade_code(raw, instance, run)
    assert wrongly_shifted.score < 1.0 and wrongly_shifted.misconception is None, wrongly_shifted.message
    assert unstable.misconception == "unstable" and "raw logits" in unstable.message


def test_scripted_example_draws_say_how_to_draw_in_visible_and_hidden_cases(run):
    """`from numpy.random import randint` calls NumPy's own randint, which the case cannot see:
    the visible case said "called np.random.randint 0 times" to a student who called it every
    iteration, and the hidden ones "returned a wrong value" (sgd returns None) or, for a
    randint(1, N) the script cannot serve, "raised an exception". Each says what to do now,
    a hidden case without its numbers (the count of calls would tell its iterations)."""
    kind = get_kind("code_sequential")
    instance = kind.generate({}, 0)
    assert "np.random.randint(N)" in kind.reference
    imported = "from numpy.random import randint\n" + kind.reference.replace("np.random.randint(N)", "randint(N)")
    from_one = kind.reference.replace("np.random.randint(N)", "np.random.randint(1, N)")
    for code, hidden_says in ((imported, "did not call np.random.randint once per iteration"),
                              (from_one, "used np.random.randint in a way the case cannot script")):
        failed = [c for c in grade_code(code, instance, run).cases if not c["passed"]]
        hidden = [c["message"] for c in failed if c["hidden"]]
        assert hidden and all(hidden_says in m and "np.random.randint(N)" in m for m in hidden), hidden
        assert all(m.startswith("net.sgd(...) ") for m in hidden), hidden  # no step number: the depth
        assert not any(ch.isdigit() for m in hidden for ch in m.split(")", 1)[1]), hidden  # no count, no index
        if code is imported:
            visible = [c["message"] for c in failed if not c["hidden"]]
            assert visible and all("only a call written np.random.randint(...) is seen" in m for m in visible)


def test_pasted_invisible_characters_a_bom_runs_a_non_breaking_space_is_explained(run):
    """Code saved with a byte-order mark runs, as `python file.py` runs it; a non-breaking space
    (copied from a PDF or a web page) is still a syntax error, now with what to do about it."""
    instance = mlp_instance()
    honest = honest_mlp_forward(instance)
    assert grade_code("\ufeff" + honest, instance, run).score == 1.0
    lines = honest.splitlines(True)
    indented = next(i for i, line in enumerate(lines) if line.startswith("    "))
    lines[indented] = "\u00a0" + lines[indented][1:]
    pasted = grade_code("".join(lines), instance, run)
    assert pasted.status == "invalid" and "non-printable character U+00A0" in pasted.message
    assert "retype the spaces at the start of that line" in pasted.message


def test_a_hidden_case_with_a_wrong_number_of_results_says_shape_or_type(run):
    """"should have 3 items, got 4" (a list of one Δ too many) read as "returned a wrong value"
    in a hidden case; it is a shape or type problem, as for arrays."""
    instance = get_kind("code_deltas").generate({}, 0)
    code = instance["answers"]["code"]["source"].replace("    return D\n", "    return D + D[-1:]\n")
    assert code != instance["answers"]["code"]["source"]
    failed = [c for c in grade_code(code, instance, run).cases if not c["passed"]]
    hidden = [c["message"] for c in failed if c["hidden"]]
    assert hidden and all(m.endswith("returned the wrong shape or type") for m in hidden), hidden
    assert all("items" in c["message"] for c in failed if not c["hidden"])


def test_class_fun_may_give_its_indices_as_a_1_x_b_row(run):
    """np.argmax(Ypred, axis=0, keepdims=True) gives the same b class indices as a 1 x b row
    (what the MIT code's accuracy check compares just as well): full marks, not "should have
    shape (b,)"; the indices themselves are still checked."""
    instance = get_kind("code_softmax_nll_modules").generate({}, 0)
    source = instance["answers"]["code"]["source"]
    row = source.replace("np.argmax(Ypred, axis=0)", "np.argmax(Ypred, axis=0, keepdims=True)")
    wrong_row = source.replace("np.argmax(Ypred, axis=0)", "np.argmin(Ypred, axis=0, keepdims=True)")
    assert row != source != wrong_row
    assert grade_code(row, instance, run).score == 1.0
    assert grade_code(wrong_row, instance, run).score < 1.0


def test_a_hidden_cases_message_names_its_step_by_what_it_does_not_its_number(run):
    """"step 15 (net.sgd(...))" against a visible case's "step 11" told a student a hidden
    Sequential case's depth; hidden messages name the step by its call only (memory included)."""
    instance = mlp_instance()
    code = "import numpy as np\ndef forward(Ws, W0s, X, activation):\n    return np.ones(10**11)\n"
    cases = grade_code(code, instance, run).cases
    limit = instance["params"].get("memory_mb", DEFAULT_MEMORY_MB)
    hidden = [c["message"] for c in cases if c["hidden"]]
    assert hidden and hidden == [f"forward(...) ran out of memory (the limit is {limit} MB)"] * len(hidden)
    assert all(c["message"].startswith("step 1 (forward(...)) ran out of memory") for c in cases if not c["hidden"])


def test_a_kept_run_keeps_what_was_printed_before_the_hidden_inputs_once():
    """The visible part of the output is kept with the run (regrades judge kept runs), not twice
    when it is all of it; a run kept before it was kept shows nothing of a hidden-case question."""
    case = CaseRun("ok", observations=[])
    whole = CodeRun((case,), "a\nb", "a\nb").to_dict()
    part = CodeRun((case,), "a\nb", "a").to_dict()
    assert whole["visible_output"] is None and part["visible_output"] == "a"
    assert CodeRun.from_dict(whole, 1).visible_output == "a\nb"
    assert CodeRun.from_dict(part, 1).visible_output == "a"
    older = {key: value for key, value in part.items() if key != "visible_output"}
    assert CodeRun.from_dict(older, 1).visible_output == ""


# --- the catalogue -------------------------------------------------------------------------------


def test_code_kinds_are_in_the_catalogue():
    assert set(CODE_KIND_IDS) <= set(CATALOGUE)
    for kind_id in CODE_KIND_IDS:
        assert [f["type"] for f in get_kind(kind_id).generate({}, 0)["fields"]] == ["code"]


@pytest.mark.parametrize("kind_id", CODE_KIND_IDS)
def test_reference_passes_and_every_typical_bug_fails_and_is_named(run, kind_id):
    instance = get_kind(kind_id).generate({}, 4)
    result = grade_code(instance["answers"]["code"]["source"], instance, run)
    assert (result.status, result.score) == ("correct", 1.0), result.cases
    assert all(case["passed"] for case in result.cases)
    assert len(result.cases) == len(instance["answers"]["code"]["cases"])
    for bug in instance["misconceptions"]:
        graded = grade_code(bug["answers"]["code"], instance, run)
        assert graded.score < 1.0, bug["id"]
        assert graded.misconception == bug["id"]
        assert bug["explanation"] in graded.message


FIXED_RATES = [  # (kind, an edit of the reference as students write it, the bug it is named as)
    ("code_linear_module", (("self.W = self.W - lrate * self.dLdW", "self.W -= 0.1 * self.dLdW"),
                            ("self.W0 = self.W0 - lrate * self.dLdW0", "self.W0 -= 0.1 * self.dLdW0")),
     "linear_fixed_lrate"),
    ("code_sequential", (("self.sgd_step(lrate)", "self.sgd_step(0.1)"),), "sgd_fixed_lrate"),
    ("code_sgd_step", (("def sgd_step(Ws, W0s, x, y, activation, lr):\n",
                        "def sgd_step(Ws, W0s, x, y, activation, lr):\n    lr = 0.1\n"),), "fixed_learning_rate"),
    ("code_fgsm", (("def fgsm(Ws, W0s, x, y, activation, eps):\n",
                    "def fgsm(Ws, W0s, x, y, activation, eps):\n    eps = 0.1\n"),), "fixed_eps"),
]


@pytest.mark.parametrize(("kind_id", "edits", "bug_id"), FIXED_RATES, ids=[f[0] for f in FIXED_RATES])
def test_a_fixed_number_in_place_of_the_rate_argument_fails_and_is_named(run, kind_id, edits, bug_id):
    """QA: with 0.1 written in place of the learning rate (or FGSM's eps) the code scored full
    marks, since every case passed 0.1. The first case passes the parameter's rate (0.1 here),
    the others other rates: the first passes, others fail, and the mistake is named."""
    instance = get_kind(kind_id).generate({}, 5)
    source = instance["answers"]["code"]["source"]
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    result = grade_code(source, instance, run)
    assert 0.0 < result.score < 1.0
    assert result.cases[0]["passed"] and not all(case["passed"] for case in result.cases)
    assert result.misconception == bug_id
    assert "Used a fixed number instead of the" in result.message
    if kind_id == "code_linear_module":  # an attribute read "has" its value (QA: it "returned" one)
        hidden = [c["message"] for c in result.cases if c["hidden"] and not c["passed"]]
        assert hidden and all(m == "lin.W has a wrong value (details of hidden cases are not shown)" for m in hidden), hidden


def test_an_example_index_drawn_as_a_one_element_array_is_the_same_draw(run):
    """QA: `i = np.random.randint(N, size=1)[0]` in Sequential.sgd failed every SGD case with
    "nncore.problems.code.harness.ScriptError: ... without size=": it draws the same one index."""
    instance = get_kind("code_sequential").generate({}, 5)
    source = instance["answers"]["code"]["source"]
    assert source.count("i = np.random.randint(N)") == 1
    result = grade_code(source.replace("i = np.random.randint(N)", "i = np.random.randint(N, size=1)[0]"), instance, run)
    assert result.score == 1.0, [c["message"] for c in result.cases if not c["passed"]]
    twice = grade_code(source.replace("i = np.random.randint(N)", "i = int(np.random.randint(N, size=2)[0])"), instance, run)
    failed = [c for c in twice.cases if not c["passed"] and not c["hidden"]]
    assert failed and all("without size=" in c["message"] for c in failed), [c["message"] for c in failed]
    tracebacks = [c.get("traceback", "") for c in failed]
    assert all("ScriptError: draw one example" in t and "nncore" not in t for t in tracebacks), tracebacks


def test_sys_exit_in_a_method_names_the_step_and_says_to_return(run):
    """QA: sys.exit() inside Sequential.sgd failed its cases with "your code raised SystemExit",
    naming no step; it is now the step's failure, said to end the program, in every case."""
    instance = get_kind("code_sequential").generate({}, 5)
    source = instance["answers"]["code"]["source"]
    assert source.count("i = np.random.randint(N)") == 1
    exiting = source.replace("i = np.random.randint(N)", "i = np.random.randint(N)\n            import sys; sys.exit()")
    result = grade_code(exiting, instance, run)
    failed = [c for c in result.cases if not c["passed"]]
    assert failed and any(c["hidden"] for c in failed) and any(not c["hidden"] for c in failed)
    hint = "raised SystemExit (sys.exit() and exit() end the whole program: return from the function instead)"
    for case in failed:
        where = "net.sgd(...)" if case["hidden"] else f"step {case['message'].split()[1]} (net.sgd(...))"
        assert case["message"] == f"{where} {hint}", case["message"]
    source = honest_mlp_forward(mlp_instance())
    assert source.count("    return A\n") == 1
    function = source.replace("    return A\n", "    import sys\n    sys.exit(0)\n")
    messages = {c["message"] for c in grade_code(function, mlp_instance(), run).cases}
    assert messages == {f"step 1 (forward(...)) {hint.replace('SystemExit', 'SystemExit: 0')}", f"forward(...) {hint}"}, messages
    at_import = "import sys\nsys.exit(3)\n" + source
    messages = {c["message"] for c in grade_code(at_import, mlp_instance(), run).cases}
    loading = " while your file was loading (line 2), before any test case ran: code at the top level of the file runs too"
    exit_words = hint.removeprefix("raised SystemExit")
    hidden_loading = loading.replace(" (line 2)", "")  # a line in a hidden case could be forged
    assert messages == {f"your code raised SystemExit: 3{loading}{exit_words}", f"your code raised SystemExit{hidden_loading}{exit_words}"}, messages


def test_an_error_while_the_file_loads_says_so_and_names_the_line(run):
    """QA: the MIT homework pasted with `print(nn_tanh_test())` at its end, which raised, failed
    every case with "your code raised ValueError ...", not saying it happened before any test."""
    source = honest_mlp_forward(mlp_instance())
    lines = source.count("\n")
    code = source + "\ndef my_test():\n    raise ValueError('my own test failed')\n\nprint(my_test())\n"
    result = grade_code(code, mlp_instance(), run)
    loading = f" while your file was loading (line {lines + 5}), before any test case ran"
    assert all(c["message"].startswith("your code raised ValueError") and loading in c["message"] for c in result.cases if not c["hidden"])
    hidden = {c["message"] for c in result.cases if c["hidden"]}
    assert hidden == {"your code raised ValueError while your file was loading, before any test case ran: code at the top level of the file runs too"}
    in_a_case = grade_code(source.replace("    return A\n", "    raise ValueError('in a case')\n"), mlp_instance(), run)
    assert not any("loading" in c["message"] for c in in_a_case.cases)


def test_a_resubmission_of_the_same_variant_reuses_the_typical_bugs_runs(run):
    """Each failing submission ran every typical bug's code on all cases; a regrade of a class
    did it for every row (about 100 ms a row with sequential training, 21 s for 200 rows)."""
    from autograder.code_grading import _run_trusted

    instance = mlp_instance()
    bug = instance["misconceptions"][0]
    graded = grade_code(bug["answers"]["code"], instance, run)
    before = _run_trusted.cache_info()
    again = grade_code(bug["answers"]["code"], instance, run, stored_run=graded.run.to_dict())
    after = _run_trusted.cache_info()
    assert again.misconception == graded.misconception == bug["id"]
    assert after.hits > before.hits and after.misses == before.misses


# --- feedback --------------------------------------------------------------------------------------


def test_long_printed_output_shows_its_start_and_its_end(run):
    """QA: the prompt promised what the code prints up to 256 KB, and feedback showed the first
    4,000 characters: the later cases' prints, often the failing one's, were never seen."""
    from nncore.problems.code.kind import ENVIRONMENT_TEXT, SHOWN_OUTPUT_CHARS

    instance = mlp_instance(random_cases=0)  # visible cases only: all the output is shown
    source = honest_mlp_forward(instance).replace("def forward(", "def _forward(", 1) + textwrap.dedent("""
        _calls = [0]

        def forward(*args):
            _calls[0] += 1
            for i in range(60):
                print(f"call {_calls[0]} line {i:02d} " + "x" * 90)
            return _forward(*args)
    """)
    result = grade_code(source, instance, run)
    assert result.score == 1.0
    output = result.output
    calls = len(instance["answers"]["code"]["cases"])
    printed = calls * 60 * len("call 1 line 00 " + "x" * 90 + "\n")
    assert printed > 2 * SHOWN_OUTPUT_CHARS  # more than is shown
    assert output.startswith("call 1 line 00 ") and output.endswith(f"call {calls} line 59 " + "x" * 90)
    head, _, tail = output.partition(" characters cut ...]\n")
    assert len(tail) == SHOWN_OUTPUT_CHARS and head.count("\n") and tail
    assert f"the first and the last {SHOWN_OUTPUT_CHARS:,}" in ENVIRONMENT_TEXT


def test_visible_case_feedback_names_the_wrong_entry_and_shows_the_inputs(run):
    instance = mlp_instance()
    wrong = honest_mlp_forward(instance).replace("return A", "return A * 1.5", 1)
    assert wrong != honest_mlp_forward(instance), "the reference changed: update this test"
    result = grade_code(wrong, instance, run)
    visible = [c for c in result.cases if not c["hidden"]]
    assert result.status == "incorrect" and visible
    first = visible[0]
    assert first["passed"] is False
    assert "wrong at index" in first["message"] and "expected" in first["message"]
    assert first["steps"][0]["op"] == "call" and "expect" not in first["steps"][0]


def test_student_traceback_only_for_visible_cases_and_nothing_produced_in_hidden_ones(run):
    instance = mlp_instance()
    code = textwrap.dedent(f"""
        import numpy as np
        def forward(*args):
            print("{MARKER}", repr(args))
            raise ValueError("{MARKER} " + repr(args))
    """)
    result = grade_code(code, instance, run)
    assert result.score == 0.0 and result.status == "incorrect"
    visible = [c for c in result.cases if not c["hidden"]]
    hidden = [c for c in result.cases if c["hidden"]]
    assert visible and hidden
    for case in visible:
        assert "ValueError" in case["message"]
        assert 'File "<submission>", line 5, in forward' in case["traceback"]
        assert "harness" not in case["traceback"] and "autograder" not in case["traceback"]
    for case in hidden:
        assert case["message"].endswith("raised ValueError")
        assert MARKER not in str(case)
        assert "steps" not in case and "traceback" not in case
    # what the visible cases printed (their inputs are shown anyway), none of the hidden cases'
    assert result.output.count(MARKER) == len(visible), "a hidden case's output could carry its inputs out"


# Three ways a visible case's feedback (its exception message here) could carry the hidden
# cases' inputs out, from the exploratory answer-leak audit. Each reports the names of every case
# script it finds; a hidden one's name means its inputs were reachable too.
_FIND_CASE_SCRIPTS = """
import gc, re, sys
import numpy as np

_NAME = re.compile(rb'"name":"([A-Za-z0-9_]+)"')

def _names_in(value, found):
    if isinstance(value, np.ndarray) and value.dtype in (np.uint8, np.int64) and 20 < value.size < 10**7:
        value = value.astype(np.uint8).tobytes() if value.dtype == np.int64 else value.tobytes()
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) < 10**8:
        found.update(name.decode() for name in _NAME.findall(bytes(value)))
    elif isinstance(value, (list, tuple)) and len(value) < 10**5:
        for item in value:
            if isinstance(item, (list, tuple, np.ndarray, bytes, bytearray, memoryview)):
                _names_in(item, found)

def case_names():
    found = set()
    frame = sys._getframe()
    while frame:  # the harness's frames: its `cases` and everything else
        for value in list(frame.f_locals.values()):
            _names_in(value, found)
        frame = frame.f_back
    for value in gc.get_objects():  # anything else alive in the process
        _names_in(value, found)
    return sorted(found)
"""

LEAKS = {
    "frames_and_memory": _FIND_CASE_SCRIPTS + """
def forward(*args):
    raise ValueError("FOUND " + " ".join(case_names()))
""",
    # a thread waits for the gate, three forged records open it early, then the visible case
    # reports what the thread read
    "forged_records_open_the_gate": _FIND_CASE_SCRIPTS + """
import os, threading, time
taken = []
def _take_gate():
    data = b""
    while True:
        chunk = os.read(5, 1 << 16)
        if not chunk:
            break
        data += chunk
    taken.append(data)

def forward(*args):
    if not taken and threading.active_count() == 1:
        threading.Thread(target=_take_gate, daemon=True).start()
        os.write(3, b"R\\x00" * 3)
        for _ in range(100):
            if taken:
                break
            time.sleep(0.005)
    read = [n for n in ("random_1", "random_2", "random_3", "random_4") if taken and n.encode() in taken[0]]
    raise ValueError("FOUND " + " ".join(case_names() + read))
""",
    # every case prints the case scripts it can find (a hidden case finds its own): only what
    # was printed before the gate opened may be shown
    "printed_output": _FIND_CASE_SCRIPTS + """
def forward(*args):
    print("FOUND", *case_names(), flush=True)
    raise ValueError("FOUND " + " ".join(case_names()))
""",
}


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_hidden_case_inputs_never_reach_a_visible_cases_feedback(run, leak):
    """The harness held every case's inputs while the visible ones ran, so a visible case's own
    exception could show them (found by walking up to the harness's `cases`, exploratory audit).
    Hidden inputs now come through the gate once the visible results are in the parent's hands."""
    instance = mlp_instance()
    hidden_names = {c["name"] for c in instance["answers"]["code"]["cases"] if c.get("hidden")}
    assert hidden_names
    result = grade_code(LEAKS[leak], instance, run)
    assert result.score < 1.0
    visible = [c for c in result.cases if not c["hidden"]]
    assert visible
    shown = json.dumps(visible) + result.output
    assert not any(name in shown for name in hidden_names), shown[:2000]
    if leak in ("frames_and_memory", "printed_output"):  # the probe itself works: it finds the visible cases
        assert all("FOUND" in c["message"] and c["name"] in c["message"] for c in visible)
    if leak == "printed_output":  # and what the visible cases printed is shown
        assert all(c["name"] in result.output for c in visible) and "FOUND" in result.output
    honest = grade_code(honest_mlp_forward(instance), instance, run)
    assert honest.score == 1.0, honest.message  # and the worker's sandbox is fine afterwards


def test_a_huge_visible_record_written_slowly_costs_the_worker_one_pass(pool):
    """The gate checked the visible records from the start on every 64 KiB read, copying every
    array each time: 62 MB of records kept the grading worker's CPU busy for the whole wall limit
    (5.15 s of CPU against 0.2 s without the gate, review). It goes on from the last complete
    record and builds nothing now."""
    code = textwrap.dedent("""
        import os, struct, time
        def forward(*args):
            n = 1 << 20  # 1 MB of uint8 (what a case script's observations are)
            array = bytes([4, 1]) + struct.pack("<Q", n) + bytes(n)
            for count in (32, 28):
                os.write(3, b"R" + bytes([count]))
                for _ in range(count):
                    view = memoryview(array)
                    while view:
                        view = view[os.write(3, view):]
            os.write(3, bytes([4, 1]) + struct.pack("<Q", n))  # one more header: stays truncated
            time.sleep(60)
    """)
    instance = mlp_instance()
    cases = [public_case(c) for c in instance["answers"]["code"]["cases"]]
    visible = sum(1 for c in cases if not c.get("hidden"))
    limits = Limits(cpu_s=2, wall_s=2, memory_mb=256, result_mb=64)
    before = resource.getrusage(resource.RUSAGE_SELF)
    outcomes = pool.run_script(code, cases, limits=limits, hidden_from=visible)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert {o.status for o in outcomes[1:]} <= {"timeout", "malformed"}
    assert cpu < 1.0, f"the worker spent {cpu:.2f} s of CPU reading one run"


def test_show_hidden_cases_reveals_hidden_details(run):
    instance = mlp_instance(show_hidden_cases=True)
    code = f"def forward(*args):\n    print('{MARKER}')\n    raise ValueError('{MARKER}')\n"
    result = grade_code(code, instance, run)
    hidden = [c for c in result.cases if c["hidden"]]
    assert hidden and all(MARKER in c["message"] and "steps" in c for c in hidden)
    assert MARKER in result.output


def test_custom_exception_names_are_not_shown_for_hidden_cases(run):
    instance = mlp_instance()
    code = "def forward(*args):\n    raise type('Leak_' + str(len(args)), (Exception,), {})()\n"
    result = grade_code(code, instance, run)
    for case in result.cases:
        if case["hidden"]:
            assert "Leak_" not in case["message"] and case["message"].endswith("raised an exception")
        else:
            assert "Leak_" in case["message"]


@pytest.mark.parametrize(("raised", "hidden_says"), [("LookupError", "an exception"), ("BufferError", "an exception"), ("KeyError", "KeyError")])
def test_a_hidden_case_names_only_a_few_common_exceptions(run, raised, hidden_says):
    """QA: code raising one of Python's ~60 exception classes, chosen by a hidden input's digit,
    read the digits out of "raised LookupError"; a hidden case names only a few common ones."""
    code = f"def forward(Ws, W0s, X, activation):\n    raise {raised}('x')\n"
    result = grade_code(code, mlp_instance(), run)
    hidden = {c["message"] for c in result.cases if c["hidden"]}
    assert hidden == {f"forward(...) raised {hidden_says}"}
    assert all(raised in c["message"] for c in result.cases if not c["hidden"])


@pytest.mark.parametrize(
    ("body", "visible_says"),
    [("import os\n    os._exit(3)", "the submission exited (code 3)"), ("import ctypes\n    ctypes.string_at(0)", "SIGSEGV")],
    ids=["exit code", "signal"],
)
def test_a_hidden_case_that_ends_the_process_says_so_without_the_number_chosen(run, body, visible_says):
    """QA: a hidden case whose code called os._exit read "your code raised an exception"; and the
    exit code, or the signal, is a number the code chooses, so a hidden case does not show it."""
    code = f"def forward(Ws, W0s, X, activation):\n    {body}\n"
    result = grade_code(code, mlp_instance(), run)
    hidden = {c["message"] for c in result.cases if c["hidden"]}
    if "exit" in body:
        assert hidden == {"the process ended (os._exit or the like) before this case returned a result"}
    else:  # the first visible case died: the hidden ones did not run
        assert hidden == {"not run: the run stopped in an earlier case (killed: the process died from a signal)"}
    assert all(visible_says in c["message"] for c in result.cases if not c["hidden"])


def test_mutating_the_callers_arrays_fails_with_a_clear_message(run):
    instance = mlp_instance()
    source = honest_mlp_forward(instance)
    mutating = source.replace("def forward(", "def _forward(", 1) + textwrap.dedent("""
        def forward(Ws, W0s, X, activation):
            result = _forward(Ws, W0s, X.copy(), activation)
            X[...] = 0.0
            return result
    """)
    result = grade_code(mutating, instance, run)
    assert result.score == 0.0
    visible = next(c for c in result.cases if not c["hidden"])
    assert "modified its input" in visible["message"]
    hidden = next(c for c in result.cases if c["hidden"])
    assert "modified its input" in hidden["message"]


def test_the_child_runs_the_code_the_grader_compiled(pool):
    """grade_code sends the code it compiled while checking it, and the child runs that code
    object instead of compiling the source again (a runner swapping in another code object shows
    which one ran); without it the child compiles the source. A code object of another file is
    refused."""
    instance = mlp_instance()
    honest = honest_mlp_forward(instance)
    swapped, _warned = compile_submission(f"def forward(*args):\n    raise ValueError('{MARKER}')\n")

    def run_swapped(code, cases, limits, hidden_from=None, compiled=None):
        assert compiled is not None and compiled.co_filename == "<submission>"
        return pool.run_script(code, cases, limits=limits, hidden_from=hidden_from, compiled=swapped)

    ran_swapped = grade_code(honest, instance, run_swapped)
    assert ran_swapped.score == 0.0
    assert all(MARKER in c["message"] for c in ran_swapped.cases if not c["hidden"])

    def run_uncompiled(code, cases, limits, hidden_from=None, compiled=None):
        return pool.run_script(code, cases, limits=limits, hidden_from=hidden_from)

    assert grade_code(honest, instance, run_uncompiled).score == 1.0
    cases = [public_case(c) for c in instance["answers"]["code"]["cases"]]
    with pytest.raises(ValueError, match="submission"):
        pool.run_script(honest, cases, compiled=compile(honest, "student.py", "exec"))


def test_code_whose_compiling_warns_is_compiled_by_the_child_and_the_warning_shown(run):
    """A SyntaxWarning ("is" with a literal) is the student's to see in the run's output, as
    Python prints it: such code is not sent compiled (the grader's compile keeps warnings quiet)."""
    instance = mlp_instance()
    code = honest_mlp_forward(instance) + "\nLOOKS_WRONG = 1 is 1\n"
    assert checked_code(code) == (None, None)
    result = grade_code(code, instance, run)
    assert result.score == 1.0 and "SyntaxWarning" in result.output and "LOOKS_WRONG = 1 is 1" in result.output
    quiet, compiled = checked_code(honest_mlp_forward(instance))
    assert quiet is None and compiled is not None


def test_code_marshal_refuses_or_bloats_is_compiled_by_the_child(run):
    """Nested lambdas' names grow quadratically: a few KB of source marshal to megabytes, and
    deep enough nesting marshal refuses. Such code goes to the child as source (compiled there),
    is graded as usual, and never makes the job or the child's memory allowance balloon."""
    from autograder.sandbox.pool import MIN_COMPILED_ROOM, _marshalled

    chain = "CHAIN = " + "lambda: " * 300 + "0\n"
    _problem, bloated = checked_code(chain)
    assert len(marshal.dumps(bloated)) > max(MIN_COMPILED_ROOM, 8 * len(chain))
    assert _marshalled(bloated, chain) == b""
    deep = "DEEP = " + "lambda: " * 1000 + "0\n"
    _problem, too_deep = checked_code(deep)
    with pytest.raises(ValueError):
        marshal.dumps(too_deep)
    assert _marshalled(too_deep, deep) == b""
    small = honest_mlp_forward(mlp_instance())
    assert marshal.loads(_marshalled(checked_code(small)[1], small)).co_filename == "<submission>"
    instance = mlp_instance()
    assert grade_code(honest_mlp_forward(instance) + "\n" + chain, instance, run).score == 1.0


def test_syntax_error_is_invalid_and_names_the_line(run):
    result = grade_code("def forward(X, Ws, W0s):\n    return X +\n", mlp_instance(), run)
    assert result.status == "invalid" and "line 2" in result.message
    assert syntax_problem("x = 1\n") is None
    assert "too long" in syntax_problem("#" * 100_000)
    assert grade_code(["not", "text"], mlp_instance(), run).status == "invalid"


def test_infinite_loop_times_out_and_the_next_submission_is_graded(run, pool):
    instance = mlp_instance(time_limit_s=0.5)
    assert limits_for(instance["params"]).cpu_s == 0.5
    result = grade_code("def forward(*a):\n    while True:\n        pass\n", instance, run)
    assert result.score == 0.0
    assert all("timeout" in c["message"] for c in result.cases), result.cases
    honest = grade_code(honest_mlp_forward(instance), instance, run)
    assert honest.score == 1.0


def test_memory_limit_comes_from_the_question(run):
    instance = mlp_instance(memory_mb=32)
    hog = "import numpy as np\ndef forward(*a):\n    return np.ones((64, 1024, 1024))\n"
    result = grade_code(hog, instance, run)
    assert result.score == 0.0
    assert any("memory" in c["message"] for c in result.cases), result.cases


def test_a_huge_wrong_shaped_result_is_reported_by_its_shape_not_as_memory_or_time(run):
    """QA: returning np.ones((2000, 2000)) (32 MB) was converted to JSON whole inside the
    sandbox: "ran out of memory" or "CPU time limit" on most cases, blaming the code for the
    wrong thing. Such a result is observed by its shape alone."""
    instance = mlp_instance()
    code = "import numpy as np\ndef forward(*a):\n    return np.ones((2000, 2000))\n"
    result = grade_code(code, instance, run)
    assert result.score == 0.0 and result.cases
    for case in result.cases:
        message = case["message"]
        assert "memory" not in message and "time" not in message, result.cases
    visible = [c["message"] for c in result.cases if not c["hidden"]]
    assert visible and all("got 2000x2000" in m and "should have shape" in m for m in visible), visible


def test_a_huge_list_is_reported_by_its_length():
    from nncore.problems.code.values import MAX_OBSERVED_ENTRIES, mismatch, observe

    big = observe([0.0] * (MAX_OBSERVED_ENTRIES + 1))
    assert big == {"type": "other", "repr": f"a list of {MAX_OBSERVED_ENTRIES + 1} items"}
    expected = {"type": "array", "value": np.zeros((3, 1))}
    assert mismatch(expected, observe(np.zeros((500, 500))), {"rtol": 0, "atol": 0}) == "result should have shape 3x1, got 500x500"
    assert observe(np.zeros((500, 500)))["type"] == "large_array" and "value" not in observe(np.zeros((500, 500)))


def test_question_tolerance_override_applies_to_every_case(run):
    instance = mlp_instance()
    off_by_a_bit = honest_mlp_forward(instance).replace("return A", "return A * (1 + 1e-4)", 1)
    strict = grade_code(off_by_a_bit, instance, run)
    loose = grade_code(off_by_a_bit, instance, run, tolerance={"rtol": 1e-3, "atol": 1e-8})
    assert strict.score == 0.0 and loose.score == 1.0
    # one of the two given: the other stays the case's own (an atol alone was silently ignored)
    assert grade_code(off_by_a_bit, instance, run, tolerance={"rtol": 1e-3}).score == 1.0
    assert grade_code(off_by_a_bit, instance, run, tolerance={"atol": 1e-2}).score == 1.0


def test_grade_submission_runs_code_fields_and_rejects_unparseable_code(run):
    instance = mlp_instance()
    graded = grade_submission(instance, {"code": honest_mlp_forward(instance)}, GradingPolicy(), run)
    assert graded.status == "graded" and graded.score == 1.0
    assert graded.fields["code"]["cases"][0]["passed"] is True
    rejected = grade_submission(instance, {"code": "def forward(:\n"}, GradingPolicy(), run)
    assert rejected.status == "rejected" and "does not parse" in rejected.fields["code"]["message"]
    empty = grade_submission(instance, {"code": "  "}, GradingPolicy(), run)  # not an attempt either
    assert empty.status == "rejected" and "No answers were given" in empty.message


# --- the observation channel ------------------------------------------------------------------------


def _as_output(text: str) -> tuple[np.ndarray, ...]:
    return (np.frombuffer(text.encode(), dtype=np.uint8),)


@pytest.mark.parametrize(
    "outputs",
    [
        (),
        (np.zeros(3), np.zeros(3)),
        (np.array([1.5, 2.0]),),
        (np.array([300.0]),),
        (np.array([-1.0]),),
        (np.zeros((2, 2)),),
        (np.zeros((2, 2), dtype=np.uint8),),
        # the right bytes in the wrong dtype (one float64 per byte, the format before uint8)
        (np.frombuffer(b'[{"step": 0, "ok": true}]', dtype=np.uint8).astype(np.float64),),
        _as_output("not json"),
        _as_output("[" * 5000 + "]" * 5000),
        _as_output('{"step": 0}'),
        _as_output('[{"step": 1, "ok": true}]'),
        _as_output('[{"step": 0, "ok": "yes"}]'),
        _as_output('[{"step": 0, "ok": true}, {"step": 1, "ok": true}, {"step": 2, "ok": true}]'),
        _as_output('[{"step": 0, "ok": true, "value": {"type": "array", "shape": [2], "value": [1]}}]'),
        _as_output('[{"step": 0, "ok": true, "value": {"type": "evil"}}]'),
        _as_output('[{"step": 0, "ok": true, "inputs_changed": "none"}]'),
        # an int beyond int64 overflowed the typical-bug comparison (the row ended as an error)
        _as_output('[{"step": 0, "ok": true, "value": {"type": "array", "shape": [1], "value": [' + "9" * 400 + "]}}]"),
        _as_output('[{"step": 0, "ok": true, "value": {"type": "int", "value": 9223372036854775808}}]'),
    ],
)
def test_malformed_observations_are_refused(outputs):
    assert decode_observations(outputs, steps=2) is None


def test_well_formed_observations_round_trip():
    text = '[{"step": 0, "ok": true, "value": {"type": "array", "shape": [2, 1], "value": [[1.0], ["nan"]]}, "inputs_changed": []}]'
    observations = decode_observations(_as_output(text), steps=1)
    assert observations == [
        {"step": 0, "ok": True, "value": {"type": "array", "shape": [2, 1], "value": [[1.0], ["nan"]]}, "inputs_changed": []}
    ]
    encoded = encode_case({"name": "c", "steps": []})
    assert encoded == b'{"name":"c","steps":[]}'


def test_observed_strings_come_out_storable_and_unknown_keys_are_dropped():
    """A NUL or a lone surrogate (as JSON escapes: the only way they reach the parent) would fail
    the row's write on PostgreSQL; they become U+FFFD. Keys the judge does not read are not kept."""
    text = (
        r'[{"step": 0, "ok": false, "error": "E: a\u0000b \ud800 \ud83d\ude00 é", "traceback": "t", "\u0000k": 1,'
        r' "value": {"type": "other", "repr": "\u0000", "junk": [[[1]]]}}]'
    )
    observations = decode_observations(_as_output(text), steps=1)
    assert observations == [
        {
            "step": 0,
            "ok": False,
            "error": "E: a\ufffdb \ufffd \U0001f600 é",
            "traceback": "t",
            "value": {"type": "other", "repr": "\ufffd"},
        }
    ]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_anywhere_are_malformed(number):
    """JSON's NaN and Infinity (which json.loads accepts) could not be stored with the run; the
    harness writes non-finite values as strings, so these only come from a forged channel."""
    for text in (
        f'[{{"step": 0, "ok": true, "value": {{"type": "float", "value": {number}}}}}]',
        f'[{{"step": 0, "ok": false, "error": "E", "junk": {number}}}]',
    ):
        assert decode_observations(_as_output(text), steps=1) is None


def test_a_run_is_kept_for_regrades_unless_it_is_huge(run):
    """The run goes with the result and is kept as JSON text (judged again by a regrade instead of
    running the code), but not a student's 2 MB array: that would be stored with every such
    submission. Judging the kept run gives exactly the first grading."""
    instance = mlp_instance()
    honest = grade_code(honest_mlp_forward(instance), instance, run)
    kept = runs_from_text(runs_text({"code": honest.run}))["code"]
    assert len(kept["cases"]) == len(instance["answers"]["code"]["cases"])
    again = grade_code("this would not even parse?", instance, run, stored_run=kept)
    assert again.status == "invalid"  # the source decides first; a kept run never grades bad code
    replayed = grade_code(honest_mlp_forward(instance), instance, _refuse_to_run, stored_run=kept)
    assert replayed.to_dict() == honest.to_dict()
    wrong_count = {"cases": kept["cases"][:1], "output": ""}  # not a run of these cases: runs again
    assert grade_code(honest_mlp_forward(instance), instance, run, stored_run=wrong_count).score == 1.0
    huge = "import numpy as np\ndef forward(*args):\n    return np.zeros((300, 300))\n"  # 90,000 entries: sent in full
    assert runs_text({"code": grade_code(huge, instance, run).run}) == ""
    larger = "import numpy as np\ndef forward(*args):\n    return np.zeros((500, 500))\n"  # its shape alone: kept
    first = grade_code(larger, instance, run)
    assert '"large_array","shape":[500,500]' in runs_text({"code": first.run})
    stored = runs_from_text(runs_text({"code": first.run}))["code"]
    assert grade_code(larger, instance, _refuse_to_run, stored_run=stored).to_dict() == first.to_dict()
    assert runs_text({}) == "" and runs_from_text("") == {} and runs_from_text("[1]") == {}


def _refuse_to_run(*args, **kwargs):
    raise AssertionError("the code ran although its run was given")


def test_a_forged_result_channel_earns_nothing(run):
    """The submission writes its own 'all passed' observations to the result pipe and exits."""
    instance = mlp_instance()
    code = textwrap.dedent("""
        import os, struct, json
        forged = json.dumps([{"step": 0, "ok": True, "value": {"type": "float", "value": 0.0}}]).encode()
        record = b"R" + bytes((1, 1, 1)) + struct.pack("<Q", len(forged)) + b"".join(
            struct.pack("<d", float(b)) for b in forged)
        for _ in range(40):
            os.write(3, record)
        os._exit(0)
    """)
    result = grade_code(code, instance, run)
    assert result.score == 0.0
    assert all(not c["passed"] for c in result.cases)


# --- the attack suite through the code-question path ------------------------------------------------


@pytest.fixture(scope="module")
def softmax_instance():
    return get_kind("code_softmax").generate({"time_limit_s": 1, "memory_mb": 192, "show_hidden_cases": True}, 2)


@pytest.mark.parametrize("case", ATTACKS)
def test_every_attack_earns_nothing_as_a_code_answer(run, softmax_instance, case):
    """Each hostile submission of the sandbox attack suite, handed in as the answer of a code
    question (script jobs): zero points, a message for every failed case, no leak marker anywhere
    in the feedback (every detail shown), and the next honest answer is graded right."""
    source = textwrap.dedent(case.code).replace("def solve(", "def softmax(")
    result = grade_code(source, softmax_instance, run)
    assert result.score == 0.0 and result.status in ("incorrect", "invalid"), result.cases
    assert all(c["message"] for c in result.cases if not c["passed"])
    shown = json.dumps(result.to_dict())
    for marker in case.leaks:
        assert marker not in shown
    honest = grade_code(softmax_instance["answers"]["code"]["source"], softmax_instance, run)
    assert honest.score == 1.0
