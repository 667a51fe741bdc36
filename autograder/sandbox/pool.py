"""SandboxPool: the API the grader uses to run student code, and the availability check.

One pool per worker process owns one fork server at a time (server.py). It starts it lazily,
replaces it when it dies or fails a run, and recycles it every `max_jobs` runs (the replacement is
started at once, so its ~150 ms cold start overlaps with the caller's own work). If bubblewrap is
missing or unusable the pool refuses to exist (SandboxUnavailable) unless the caller explicitly
passes allow_unsandboxed=True, a development setting that runs the same fork server and harness
as a plain subprocess with the rlimits and the seccomp filter but no namespaces.

    pool = SandboxPool(limits=Limits(cpu_s=2, wall_s=5, memory_mb=256))
    outcomes = pool.run(code, "forward", [[x1, w1], [x2, w2]])
    pool.close()
"""

from __future__ import annotations

import logging
import marshal
import os
import threading
from collections.abc import Mapping, Sequence
from types import CodeType

import numpy as np

from autograder.sandbox import bwrap, frames, harness, script
from autograder.sandbox.limits import Limits
from autograder.sandbox.outcome import CaseOutcome, assemble
from autograder.sandbox.seccomp import Filter, UnsupportedArch, build_filter
from autograder.sandbox.server import Gated, ServerFailed, ServerProcess

log = logging.getLogger(__name__)

MAX_CODE_BYTES = 1 << 20
MIN_COMPILED_ROOM = 64 * 1024  # compiled code is sent up to this size, or 8 bytes per byte of source
MAX_CASES = 1000
_SELF_TEST = "import fractions, threading\ndef probe(x):\n    import socket\n    try:\n        socket.socket()\n    except OSError:\n        return x + 1\n    return x * 0\n"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot run here; the message says why and what to do."""


_availability: tuple[bool, str] | None = None
_availability_lock = threading.Lock()


def sandbox_available(*, refresh: bool = False) -> tuple[bool, str]:
    """(True, description) when a real sandbox starts and passes a self-test, else (False, reason).

    The self-test starts a fork server under bwrap, runs a tiny function and checks that it ran
    under the seccomp filter (socket() must fail). Cached per process (refresh=True re-checks).
    """
    global _availability
    with _availability_lock:
        if _availability is None or refresh:
            _availability = _check()
        return _availability


def _check() -> tuple[bool, str]:
    path = bwrap.find_bwrap()
    if path is None:
        return (
            False,
            "bubblewrap (bwrap) is not installed: run scripts/install_system_deps.sh as root",
        )
    try:
        runtime = bwrap.discover_runtime()
        seccomp_filter = build_filter()
    except (bwrap.RuntimeNotFound, UnsupportedArch, ImportError) as exc:
        return False, str(exc)
    try:
        server = ServerProcess(runtime, seccomp_filter, bwrap_path=path)
    except ServerFailed as exc:
        return False, str(exc)
    try:
        hello = server.wait_ready(30.0)
        job = harness.encode_job(_SELF_TEST, "probe", [_encode_case([np.array([1.0])])])
        limits = Limits(cpu_s=5, wall_s=10)
        outcome = assemble(server.run(job, limits), 1, limits)[0]
    except ServerFailed as exc:
        return False, f"bubblewrap is installed but unusable here: {exc}"
    finally:
        server.close()
    if outcome.status != "ok" or not np.array_equal(outcome.outputs[0], [2.0]):
        detail = outcome.message or outcome.traceback or outcome.stderr
        return False, f"the sandbox self-test failed ({outcome.status}: {detail.strip()[:500]})"
    mode = "root: children run as uid 65534" if bwrap.root_mode() else "user namespace"
    return True, f"bubblewrap ({mode}), Python {hello.get('python')}, NumPy {hello.get('numpy')}"


class SandboxPool:
    """Runs student code in a fork server inside bubblewrap. Not for sharing across a fork()."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        max_jobs: int = 500,
        tmp_mb: int = 64,
        allow_unsandboxed: bool = False,
        start_timeout: float = 30.0,
    ) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.limits = limits or Limits()
        self.max_jobs = max_jobs
        self.tmp_mb = tmp_mb
        self.start_timeout = start_timeout
        ok, reason = sandbox_available()
        if ok:
            self._bwrap: str | None = bwrap.find_bwrap()
        elif allow_unsandboxed:
            log.warning("running student code WITHOUT a sandbox (allow_unsandboxed): %s", reason)
            self._bwrap = None
        else:
            raise SandboxUnavailable(reason)
        self.sandboxed = self._bwrap is not None
        self._runtime = bwrap.discover_runtime()
        self._filter: Filter | None = _filter_or_none()
        self._server: ServerProcess | None = None
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self.restarts = 0

    # --- public API ---------------------------------------------------------------------------

    def run(
        self,
        code: str,
        entry: str,
        cases: Sequence[Sequence[np.ndarray]],
        *,
        limits: Limits | None = None,
    ) -> list[CaseOutcome]:
        """Run `entry(*case)` for each case in one fresh child; one CaseOutcome per case.

        Inputs may be float64, int64 or bool arrays (or numbers). The outputs of each call are
        converted inside the child to float64 arrays (a tuple return value is several outputs).
        Limits apply to the whole run (all cases in one child). Raises ValueError for bad
        arguments and SandboxUnavailable when no sandbox can be started; never for anything the
        student code does. A sandbox that fails (before or during the run, but not by hanging
        past the wall limit) is replaced and the job run once more (see _run_job).
        """
        encoded = [_encode_case(case) for case in _checked_cases(cases)]
        return self._run_job(_encode_job(code, entry, encoded), len(cases), limits or self.limits, frames.RESULT_DTYPES)

    def run_script(
        self,
        code: str,
        public_cases: Sequence[Mapping],
        *,
        limits: Limits | None = None,
        hidden_from: int | None = None,
        compiled: CodeType | None = None,
    ) -> list[CaseOutcome]:
        """Run case scripts (nncore.problems.code.harness) against `code` in one fresh child.

        Each case must be PUBLIC (no expectations: they never enter the sandbox). An "ok"
        outcome's outputs hold the case's observations; read them with
        script.decode_observations, which refuses anything malformed. The cases from
        `hidden_from` on are hidden: their inputs reach the child only once the results of the
        ones before are back (harness.GATE_FD), so no visible case's feedback can show them.
        `compiled`, `code` compiled as the child would compile it (harness.compile_source, which
        code_grading.compile_submission calls), is sent along and spares the child compiling it
        (see _marshalled for when it is not).
        """
        cases = [frames.encode_bytes(script.encode_case(case)) for case in _checked_cases(public_cases)]
        limits = limits or self.limits
        dtypes = frames.SCRIPT_RESULT_DTYPES
        if hidden_from is None or not 0 < hidden_from < len(cases):  # nothing visible or nothing hidden
            return self._run_job(_encode_job(code, script.SCRIPT_ENTRY, cases, compiled=compiled), len(cases), limits, dtypes)
        visible, hidden = cases[:hidden_from], cases[hidden_from:]
        job = _encode_job(code, script.SCRIPT_ENTRY, visible, gated=len(hidden), compiled=compiled)
        gated = Gated(after=len(visible), inputs=b"".join(hidden), result_dtypes=dtypes)
        return self._run_job(job, len(cases), limits, dtypes, gated)

    def _run_job(
        self, job: bytes, ncases: int, limits: Limits, dtypes: frozenset[int], gated: Gated | None = None
    ) -> list[CaseOutcome]:
        """Run an encoded job; its results are parsed as records of arrays of `dtypes`.

        A sandbox that fails is replaced and the job run once more in the new one: one that never
        took the job (e.g. the server had exited), and one lost in the middle of the run (killed
        from outside, out of memory), which would otherwise score the student's code 0 and use an
        attempt for a failure of ours. Not one that hung past the wall limit (a second wait could
        outlast the task's time limit). Code that breaks the sandbox on purpose breaks the second
        one too and earns nothing (no known attack gets that far: tests/sandbox)."""
        with self._lock:
            for attempt in (1, 2):
                server = self._ready_server()
                raw = server.run(job, limits, gated)
                if raw.failure is not None or not server.alive():
                    log.warning(
                        "sandbox failed (attempt %d), replacing it: %s", attempt, raw.failure
                    )
                    self._replace(kill=True)
                    if raw.failure is not None and not (raw.started and raw.timed_out):
                        continue
                elif server.jobs >= self.max_jobs:
                    self._replace(kill=False)
                break
        return assemble(raw, ncases, limits, dtypes)

    def close(self) -> None:
        with self._lock:
            if self._server is not None and os.getpid() == self._owner_pid:
                self._server.close()
            self._server = None

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the server ---------------------------------------------------------------------------

    def _ready_server(self) -> ServerProcess:
        if os.getpid() != self._owner_pid:  # forked: that server belongs to the parent process
            self._server, self._owner_pid = None, os.getpid()
        if self._server is not None and not self._server.alive():
            self._replace(kill=True)
        if self._server is None:
            self._server = self._start()
        try:
            self._server.wait_ready(self.start_timeout)
        except ServerFailed as exc:
            self._server = None
            raise SandboxUnavailable(str(exc)) from exc
        return self._server

    def _start(self) -> ServerProcess:
        try:
            return ServerProcess(
                self._runtime, self._filter, bwrap_path=self._bwrap, tmp_mb=self.tmp_mb
            )
        except ServerFailed as exc:
            raise SandboxUnavailable(str(exc)) from exc

    def _replace(self, *, kill: bool) -> None:
        """Retire the current server and start the next one now (it warms up in the background)."""
        old, self._server = self._server, None
        if old is not None:
            old.kill() if kill else old.close()
            self.restarts += 1
        try:
            self._server = self._start()
        except SandboxUnavailable:
            self._server = None  # the next run() tries again and reports


def _filter_or_none() -> Filter | None:
    try:
        return build_filter()
    except UnsupportedArch as exc:
        log.warning("no seccomp filter: %s", exc)
        return None


def _encode_case(args: Sequence) -> bytes:
    return frames.encode_arrays([_input_array(a) for a in args], dtypes=frames.INPUT_DTYPES)


def _input_array(value) -> np.ndarray:
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.bool_, copy=False)
    if kind in "iu":
        if array.size and kind == "u" and array.max() > np.iinfo(np.int64).max:
            raise ValueError("unsigned input too large for int64")
        return array.astype(np.int64, copy=False)
    if kind == "f":
        return array.astype(np.float64, copy=False)
    raise ValueError(f"unsupported input dtype {array.dtype} (numbers and booleans only)")


def _checked_cases(cases: Sequence) -> Sequence:
    if not 0 < len(cases) <= MAX_CASES:
        raise ValueError(f"between 1 and {MAX_CASES} cases")
    return cases


def _encode_job(
    code: str, entry: str, encoded_cases: Sequence[bytes], gated: int = 0, compiled: CodeType | None = None
) -> bytes:
    """The job of harness.encode_job from cases already encoded (a record each), with the code
    object `compiled` from `code` marshalled into it."""
    if (
        not isinstance(code, str)
        or not isinstance(entry, str)
        or not (entry.isidentifier() or entry == script.SCRIPT_ENTRY)
    ):
        raise ValueError("code must be a string and entry a Python identifier")
    if len(code.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
        raise ValueError(f"code larger than {MAX_CODE_BYTES} bytes")
    blob = _marshalled(compiled, code)
    return harness.encode_job(code, entry, list(encoded_cases), gated, blob)


def _marshalled(compiled: CodeType | None, code: str) -> bytes:
    """The code object as marshal bytes for the job, or b"" (the child compiles the source):
    none given, one marshal refuses (nested too deep), or one far larger than its source (the
    names of nested lambdas grow quadratically: a 58 KB source marshalled to 59 MB, which the
    job and the child's memory allowance would carry)."""
    if compiled is None:
        return b""
    if type(compiled) is not CodeType or compiled.co_filename != harness.FILENAME:
        raise ValueError(f"compiled must be the code object of the submission (file {harness.FILENAME})")
    try:
        blob = marshal.dumps(compiled)
    except ValueError:
        return b""
    return blob if len(blob) <= max(MIN_COMPILED_ROOM, 8 * len(code)) else b""
