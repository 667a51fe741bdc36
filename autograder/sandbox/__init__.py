"""Run hostile student Python/NumPy code: bubblewrap + a fork server + seccomp + rlimits.

    from autograder.sandbox import Limits, SandboxPool, outputs_match
    with SandboxPool(limits=Limits(cpu_s=2, wall_s=5)) as pool:
        outcomes = pool.run(code, "forward", cases)
    points = [o.ok and outputs_match(o.outputs, expected) for o, expected in zip(outcomes, refs)]

Modules, one job each: limits (the Limits value), bwrap (the bubblewrap command line), seccomp
(the BPF allow-list), frames (the result channel's format and strict parser), forkserver (the fork
server, inside the sandbox), harness (the student child, inside the sandbox), server (the parent's
handle on one fork server), outcome (raw run -> CaseOutcome), compare (outputs vs reference) and
pool (SandboxPool, sandbox_available).
"""

from autograder.sandbox.compare import array_matches, outputs_match
from autograder.sandbox.limits import Limits
from autograder.sandbox.outcome import STATUSES, CaseOutcome
from autograder.sandbox.pool import SandboxPool, SandboxUnavailable, sandbox_available

__all__ = [
    "STATUSES",
    "CaseOutcome",
    "Limits",
    "SandboxPool",
    "SandboxUnavailable",
    "array_matches",
    "outputs_match",
    "sandbox_available",
]
