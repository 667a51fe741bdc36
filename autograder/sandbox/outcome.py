"""From one raw run (exit report, pipes' bytes) to one CaseOutcome per test case.

Trust: the exit report comes from the fork server, which never runs student code; the result
bytes, stdout and stderr come from the student child and are only parsed (frames.parse_stream)
or shown. The child's exit code means nothing (a student can exit with any code), so it is
only quoted in messages.

Statuses:
  ok         the case returned; `outputs` holds its float64 arrays (not yet compared!)
  error      it raised (traceback filtered to the student's frames), or the process ended
             before returning this case (sys.exit at import, os._exit, ...)
  timeout    the CPU or wall-clock limit
  memory     MemoryError (the address-space limit)
  killed     a signal (crash, forbidden ABI), the output limit, or the sandbox failing
  malformed  the result channel did not parse, or exceeded its size limit
A result stream that is invalid anywhere makes every case of the run malformed: a valid record
next to garbage proves nothing. With hidden cases behind the gate (server.Gated) the visible
cases' records and the hidden cases' are two streams, judged apart.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import numpy as np

from autograder.sandbox import frames
from autograder.sandbox.limits import Limits
from autograder.sandbox.server import RawRun

STATUSES = ("ok", "error", "timeout", "memory", "killed", "malformed")
# How a run ended whose message speaks for every case left without a result (the code exited, the
# stream broke); the others (a limit, a crash) happened in the first of them, and the later ones
# did not run.
NOT_RUN_SAYS_ALL = ("error", "malformed")
_MEMORY_ERRORS = {"MemoryError", "_ArrayMemoryError"}


@dataclass(frozen=True, eq=False)  # holds arrays: compare fields, not outcomes
class CaseOutcome:
    """The outcome of one test case of one run. stdout/stderr/cpu/wall are the whole run's."""

    status: str
    outputs: tuple[np.ndarray, ...] = ()
    message: str = ""
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    cpu_s: float = 0.0
    wall_s: float = 0.0
    details: dict = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def assemble(
    raw: RawRun, ncases: int, limits: Limits, dtypes: frozenset[int] = frames.RESULT_DTYPES
) -> list[CaseOutcome]:
    """One CaseOutcome per case, in order; a record with an array of a dtype not in `dtypes`
    (a function's results: float64; a case script's: uint8) makes the stream malformed."""
    exit_info = raw.exit or {}
    common = {
        "stdout": _text(raw.stdout, raw.output_exceeded),
        "stderr": _text(raw.stderr, raw.output_exceeded),
        "cpu_s": float(exit_info.get("cpu_s", 0.0)),
        "wall_s": float(exit_info.get("wall_s", 0.0)),
        "details": {"exit": dict(exit_info), "failure": raw.failure, **_visible_output(raw)},
    }
    if raw.visible_end is None:
        return _outcomes(raw, raw.results, ncases, limits, common, dtypes)
    # gated: the visible cases' records (all complete before any hidden input was sent: the
    # server checked them with frames.skip_records) and the hidden cases' are two streams, so
    # whatever comes after the gate opened cannot change a visible case's outcome
    prefix = frames.parse_stream(
        raw.results[: raw.visible_end], max_records=ncases, max_bytes=limits.result_bytes, dtypes=dtypes
    )
    if prefix.end != "clean":  # cannot happen (the same checks opened the gate): trust nothing
        return [CaseOutcome("malformed", message="malformed result", **common) for _ in range(ncases)]
    visible = [_from_record(record, **common) for record in prefix.records]
    return visible + _outcomes(raw, raw.results[raw.visible_end :], ncases - len(visible), limits, common, dtypes)


def _outcomes(
    raw: RawRun, results: bytes, ncases: int, limits: Limits, common: dict, dtypes: frozenset[int]
) -> list[CaseOutcome]:
    """Up to `ncases` outcomes from a stream of records; the cases without one get the run's end."""
    stream = frames.parse_stream(results, max_records=ncases, max_bytes=limits.result_bytes, dtypes=dtypes)
    if stream.end == "invalid":
        message = f"malformed result: {stream.problem}"
        return [CaseOutcome("malformed", message=message, **common) for _ in range(ncases)]
    outcomes = [_from_record(record, **common) for record in stream.records]
    rest_status, rest_message = _missing(raw, stream, limits)
    for missing in range(ncases - len(outcomes)):
        # the cases run one after another: the first without a result is the one the run ended in
        # (a time-out in it read as a time-out in every later case, one the code would pass, QA)
        message = rest_message if missing == 0 or rest_status in NOT_RUN_SAYS_ALL else f"not run: the run stopped in an earlier case ({rest_message})"
        outcomes.append(CaseOutcome(rest_status, message=message, **common))
    return outcomes


def _from_record(record, **common) -> CaseOutcome:
    if isinstance(record, frames.ArraysRecord):
        return CaseOutcome("ok", outputs=record.arrays, **common)
    name = record.name.strip() or "Exception"
    status = "memory" if name in _MEMORY_ERRORS else "error"
    message = "out of memory (the memory limit)" if status == "memory" else f"raised {name}"
    return CaseOutcome(status, message=message, traceback=record.text, **common)


def _missing(raw: RawRun, stream: frames.Stream, limits: Limits) -> tuple[str, str]:
    """Status and message for the cases that got no record, from how the run ended."""
    info = raw.exit or {}
    how, code, sig = info.get("how"), info.get("code"), info.get("signal")
    if raw.result_exceeded:
        return "malformed", f"malformed result: more than {limits.result_mb} MB of results"
    if raw.output_exceeded:
        return "killed", f"killed: more than {limits.output_kb} KB of output"
    if raw.failure is not None:
        if raw.timed_out:
            return "timeout", f"timeout: the run did not end within {limits.wall_s:g} s"
        return "killed", f"killed: sandbox failure ({raw.failure})"
    if how == "wall":
        return "timeout", f"timeout: wall-clock limit of {limits.wall_s:g} s"
    cpu_soft, _hard = limits.cpu_rlimit
    if how == "signaled" and (
        sig == signal.SIGXCPU
        or (sig == signal.SIGKILL and info.get("cpu_s", 0.0) >= cpu_soft - 0.05)
    ):
        return "timeout", f"timeout: CPU time limit of {_cpu_limit(limits)}"
    if how == "killed":
        return "killed", "killed by the sandbox"
    if how == "signaled":
        return "killed", f"killed: the process died from {_signal_name(sig)}"
    if stream.end == "truncated":
        return "malformed", f"malformed result: {stream.problem}"
    return "error", f"the submission exited (code {code}) before returning a result for this case"


def _cpu_limit(limits: Limits) -> str:
    """The CPU limit that was enforced, in words: RLIMIT_CPU counts whole seconds, so a limit
    of 0.1 s ran for up to 1 s (saying "0.1 s" told a student their 0.9 s was over it)."""
    enforced, _hard = limits.cpu_rlimit
    if enforced == limits.cpu_s:
        return f"{enforced} s"
    return f"{enforced} s (the {limits.cpu_s:g} s set, rounded up: CPU time is limited in whole seconds)"


def _signal_name(sig) -> str:
    try:
        return signal.Signals(sig).name
    except (ValueError, TypeError):
        return f"signal {sig}"


def _visible_output(raw: RawRun) -> dict:
    """With gated cases: the stdout and stderr that came before the gated inputs were sent
    (printed while the visible cases ran, so they cannot show a gated input); None when those
    inputs were never sent (then all the output came before them)."""
    if raw.visible_output is None:
        return {"visible_stdout": None, "visible_stderr": None}
    out, err = raw.visible_output
    return {"visible_stdout": _text(raw.stdout[:out], False), "visible_stderr": _text(raw.stderr[:err], False)}


def _text(raw: bytes, cut: bool) -> str:
    text = raw.decode("utf-8", "replace")
    return text + "\n[... output cut at the limit ...]\n" if cut else text
