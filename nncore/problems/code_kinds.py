"""Code exercises (issue 5, section 1): the student submits Python, a sandbox runs it on cases.

Kinds (ids):
    code_mlp_forward, code_deltas, code_sgd_step, code_softmax, code_softmax_xent_grad,
    code_fgsm, code_graph_backward                      (function exercises, nncore.problems.code.functions)
    code_linear_module, code_activation_modules, code_softmax_nll_modules,
    code_sequential                                     (MIT 6.390 module exercises, ...code.modules)
Common parameters: random_cases (hidden random cases besides the fixed small and edge ones),
rtol, atol (tolerance of every comparison); some kinds add activation, lr / lrate, eps.

Instance layout (besides the usual kind/version/seed/params/... keys):

    fields   = [{"name": "code", "label": ..., "shape": [], "type": "code"}]     (one field)
    prompt.text  the task in the notes' notation, the shapes, and the common rules
    prompt.data  = {"code": {
        "language": "python",
        "entry": ["forward"] | ["Linear", ...],  names the submission must define
        "signature": str,                         the def line(s) / the class interface
        "starter": str,                           code the editor starts from
        "cases": [PUBLIC CASE, ...],              visible cases (kind small/edge), NO expectations
        "hidden_cases": int}}                     how many more cases are run
    answers  = {"code": {                          (never shown to students before allowed)
        "source": str,                            the reference implementation (passes every case)
        "entry": [...],
        "cases": [FULL CASE, ...]}}               every case, visible and hidden, with expectations
    misconceptions = [{"id", "name", "explanation", "answers": {"code": str}}]
        the complete source of a typical buggy implementation; every one fails at least one
        case of the instance under its tolerance (a draw where one passes every case is redrawn;
        parameters under which it passes MISTAKE_REDRAWS draws in a row raise TypicalBugPasses,
        the bug is never dropped), so running it like a submission shows which cases reveal
        that bug (a student whose verdicts/outputs match it probably made that mistake).
    tolerance = {"rtol", "atol"}                   the same as every case's tolerance

FULL CASE = {
    "name": "edge_batch",                        unique within the instance
    "kind": "small" | "edge" | "random",
    "hidden": bool,                              true for random cases (not in prompt.data)
    "note": str,                                 what the case checks
    "check_inputs_unchanged": true,              compare every call's array arguments before/after
    "tolerance": {"rtol", "atol"},
    "steps": [STEP, ...]}
PUBLIC CASE = the same without the "expect" key of its steps (harness.public_case(case)).

STEP (see nncore.problems.code.harness for the exact semantics, values for the encoding):
    {"op": "call", "func": "softmax", "args": [V...], "expect": V | null}
    {"op": "new", "var": "lin", "class": "Linear", "args": [V...]}
    {"op": "set", "var": "lin", "attr": "W", "value": V}         weights injected after construction
    {"op": "call", "var": "lin", "method": "forward", "args": [V...], "expect": V | null,
     "randint": [i_0, ...]?}                                      scripted np.random.randint results
    {"op": "get", "var": "lin", "attr": "dLdW", "expect": V}
V = {"type": "array" | "int_array" | "float" | "int" | "str" | "list" | "tuple" | "var", "value": ...}
    (arrays as nested lists of float64; the shape must match exactly, e.g. n x 1 is not (n,)).

Grading a submission (suggested flow, implemented for reference in code.harness):
    1. for each full case: public = public_case(case); in the sandbox, execute the submission's
       source in a fresh namespace and call run_case(namespace, public) -> observations (JSON);
    2. outside: judge_case(case, observations) -> CaseVerdict(passed, message, failed_step);
    3. score = fraction of passed cases (or all-or-nothing, as the course decides).
    A comparator on flat lists of float64 arrays can use harness.expected_outputs(case) (every
    expectation in step order); it must still apply the per-call input-mutation check and the
    randint call count, which run_case reports per step.
Sequential.sgd: during a "call" step with "randint", numpy.random.randint is replaced by a
function returning the scripted indices in order (one call per iteration; `size=` and a bound
excluding the index are errors); judge_case requires exactly len(randint) calls, so a
full-batch or in-order loop fails. Students are told to call np.random.randint(N) as the MIT
homework does. ReLU pre-activations in cases are never within 1e-6 of 0.
"""

from __future__ import annotations

from nncore.problems.code.functions import KINDS as FUNCTION_KINDS
from nncore.problems.code.modules import KINDS as MODULE_KINDS

KINDS = (*FUNCTION_KINDS, *MODULE_KINDS)
