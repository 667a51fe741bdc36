"""The student child, INSIDE the sandbox: set itself up, then run the submission's test cases.

Shipped as source text like forkserver.py (standard library and NumPy only). The fork server
calls `child()` in a freshly forked child once it has a job; it never returns. Before any student code runs the child: starts
its own session; puts /dev/null, the stdout/stderr/result pipes and the job memfd on fds 0-4 (and
the gate of the hidden cases' inputs on fd 5, see GATE_FD) and closes every other descriptor (the
server's socket included); reads the job; drops to uid/gid
65534 when the server runs as root; sets the rlimits; and loads the seccomp program (with its own
pid patched in). Then it loads the code as the grader compiled it ("<submission>", sent with the
job when it could be) or compiles it itself, calls the entry point once per case
with private copies of the inputs, turns each return value into float64 arrays and writes one
record per case on fd 3 (see frames.py); an exception becomes an error record whose traceback
shows only the student's frames. It ends with os._exit, so atexit handlers, finalizers and
leftover threads never run on.

From the first line of student code on, this process is the student's: anything below may be
replaced or bypassed, and the parent trusts none of it beyond "bytes to parse".
"""

from __future__ import annotations

import builtins
import ctypes
import fcntl
import io
import json
import linecache
import marshal
import os
import resource
import struct
import sys
import traceback
import types

try:  # inside the sandbox the bootstrap registers frames.py under this name
    import sandbox_frames as frames  # type: ignore[import-not-found]
except ImportError:  # outside (tests, unsandboxed development mode)
    from autograder.sandbox import frames

import numpy as np

# The case-script runner (nncore.problems.code.harness): inside the sandbox the bootstrap has
# registered it under this name from source text; outside it is the ordinary module.
from nncore.problems.code import harness as script

FILENAME = "<submission>"
# The entry of a "script" job: each case is a JSON case script (its bytes as a uint8 array), run
# with script.run_case; the result of a case is its observations as JSON bytes, a uint8 array
# (frames.SCRIPT_RESULT_DTYPES). Not an identifier, so no submission's function can be named so.
SCRIPT_ENTRY = "<script>"
MODULE_NAME = "submission"
# The child failed before student code ran. Never trusted: a student can exit with 121 too.
EXIT_SETUP_FAILED = 121
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_MAX_CASES = 10_000
# Hidden cases' inputs come through this pipe, and only after the parent holds the results of
# every visible case: no code running during a visible case can read them, so no visible case's
# feedback (its values, its exception's message or traceback) can carry them out.
GATE_FD = 5


# --- the job (written by the parent into a memfd, read by the child) ---------------------------


_JOB_HEADER = struct.Struct("<IIIIII")  # code, entry and compiled lengths, cases, gated, hexversion


def encode_job(code: str, entry: str, encoded_cases: list[bytes], gated: int = 0, compiled: bytes = b"") -> bytes:
    """The job: the code, the entry point, its cases' inputs, how many more cases arrive through
    the gate (fd 5) once the results of these are in the parent's hands, and optionally the
    code already compiled by the parent (marshal, with this Python's version: the child uses it
    only under the same version, else compiles the code itself)."""
    raw_code = code.encode("utf-8", "surrogatepass")
    raw_entry = entry.encode("utf-8")
    header = _JOB_HEADER.pack(len(raw_code), len(raw_entry), len(compiled), len(encoded_cases), gated, sys.hexversion)
    return b"".join((header, raw_code, raw_entry, compiled, *encoded_cases))


def decode_job(data: bytes):
    """(code, entry, cases' inputs, number of gated cases, the compiled code's marshal bytes or
    None) of an encode_job job."""
    code_len, entry_len, compiled_len, ncases, gated, version = _JOB_HEADER.unpack_from(data, 0)
    pos = _JOB_HEADER.size
    code = data[pos : pos + code_len].decode("utf-8", "surrogatepass")
    pos += code_len
    entry = data[pos : pos + entry_len].decode("utf-8")
    pos += entry_len
    compiled = data[pos : pos + compiled_len] if compiled_len and version == sys.hexversion else None
    pos += compiled_len
    if ncases + gated > _MAX_CASES:
        raise ValueError("too many cases")
    return code, entry, decode_cases(memoryview(data)[pos:], ncases, entry == SCRIPT_ENTRY), gated, compiled


def decode_cases(data, ncases: int, script: bool = False) -> list:
    """The inputs of `ncases` cases, each a record of arrays (frames.encode_arrays); a script
    job's are its cases' JSON bytes (frames.encode_bytes), each as a one-item list."""
    if script:
        return [[payload] for payload in frames.decode_bytes(data, ncases)]
    stream = frames.parse_stream(data, max_records=ncases, max_bytes=len(data), dtypes=frames.INPUT_DTYPES)
    records = stream.records
    if (
        stream.end != "clean"
        or len(records) != ncases
        or not all(isinstance(r, frames.ArraysRecord) for r in records)
    ):
        raise ValueError(f"bad job inputs: {stream.end} {stream.problem}")
    return [r.arrays for r in records]


# --- setting up the child -----------------------------------------------------------------------


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]
_libc.prctl.restype = ctypes.c_int


def drop_privileges(config) -> None:
    if config.drop:
        uid, gid = int(config.drop[0]), int(config.drop[1])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)


def child(config, limits: dict, fds: list[int], baseline: int) -> None:
    """Set up the student child and run the harness. Never returns."""
    try:
        os.setsid()
        job_fd, out_w, err_w, res_w, *gate = (_dup_high(fd) for fd in fds)
        null = os.open(os.devnull, os.O_RDONLY)
        moves = [(null, 0), (out_w, 1), (err_w, 2), (res_w, 3), (job_fd, 4)] + [(fd, GATE_FD) for fd in gate]
        for src, dst in moves:
            os.dup2(src, dst, inheritable=False)
        os.closerange(len(moves), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        job = _read_all(4)
        os.close(4)
        drop_privileges(config)
        os.chdir(config.tmp)
        os.umask(0o077)
        _set_limits(limits, baseline + 3 * len(job))
        sys.stdin, sys.stdout, sys.stderr = config.stdio
        if config.filter is not None:
            _load_seccomp(config)
    except BaseException:
        os._exit(EXIT_SETUP_FAILED)
    try:
        _harness(job, GATE_FD if gate else None)
    finally:
        os._exit(0)


def _dup_high(fd: int) -> int:
    """A copy of fd numbered 10 or above, so the dup2s into 0-4 cannot clobber each other."""
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)


def _read_all(fd: int) -> bytes:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _set_limits(limits: dict, address_space: int) -> None:
    mb = 1 << 20
    cpu = max(1, int(-(-_limit(limits, "cpu_s") // 1)))
    wanted = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (address_space + int(_limit(limits, "memory_mb")) * mb,) * 2,
        resource.RLIMIT_NPROC: (int(_limit(limits, "nproc")),) * 2,
        resource.RLIMIT_NOFILE: (int(_limit(limits, "nofile")),) * 2,
        resource.RLIMIT_FSIZE: (int(_limit(limits, "fsize_mb")) * mb,) * 2,
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
    }
    for which, (soft, hard) in wanted.items():
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def prepare_children(config) -> None:
    """Build, once in the server, what every child would otherwise build for itself: its
    sys.stdin/stdout/stderr, the seccomp program's descriptor, the prctl calls' arguments and
    a view of the program's pid slot. A child's first touch of a page the server wrote is a
    copy-on-write fault (3-9 us each on these VMs): made per child, these cost ~150 of them."""
    config.stdio = _child_stdio()
    config.seccomp_calls = config.pid_slot = None
    if config.filter is not None:
        config.fprog = _SockFprog(len(config.filter) // 8, ctypes.addressof(config.filter))
        config.seccomp_calls = (
            _prctl_args(_PR_SET_NO_NEW_PRIVS, 1),
            _prctl_args(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(config.fprog)),
        )
        if config.pid_index >= 0:
            offset = config.pid_index * 8 + 4  # the k field of that instruction
            config.pid_slot = memoryview(config.filter).cast("B")[offset : offset + 4].cast("I")


def _prctl_args(option: int, arg2: int, arg3: int = 0) -> tuple:
    return (ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0))


# The limits a child applies (_set_limits) with their defaults, in the order a standby child
# receives them packed (decoding JSON in a fresh child cost ~45 page faults).
_LIMIT_FIELDS = (("cpu_s", 5.0), ("memory_mb", 512.0), ("nproc", 32.0), ("nofile", 64.0), ("fsize_mb", 16.0))
_LIMIT_DEFAULTS = dict(_LIMIT_FIELDS)
_LIMITS = struct.Struct("<5d")


def _limit(limits: dict, name: str) -> float:
    return float(limits.get(name, _LIMIT_DEFAULTS[name]))


def encode_limits(limits: dict) -> bytes:
    return _LIMITS.pack(*(_limit(limits, name) for name, _ in _LIMIT_FIELDS))


def decode_limits(data: bytes) -> dict:
    return dict(zip((name for name, _ in _LIMIT_FIELDS), _LIMITS.unpack(data), strict=True))


def _child_stdio() -> tuple:
    """Text streams over fds 0, 1 and 2, made while those are what a child's are (/dev/null and
    two pipes: not seekable), so they behave in the child as if made there. The server never
    writes to them (their buffers are empty when a child inherits them); its own fds are put
    back at once."""
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    null = os.open(os.devnull, os.O_RDONLY)
    read_end, write_end = os.pipe()
    try:
        for src, dst in ((null, 0), (write_end, 1), (write_end, 2)):
            os.dup2(src, dst)
        return (
            io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8"),
            io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace"),
            io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace"),
        )
    finally:
        for fd, copy in zip((0, 1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        for fd in (null, read_end, write_end):
            os.close(fd)


def _load_seccomp(config) -> None:
    if config.pid_slot is not None:  # our own copy of the program (copy-on-write after fork)
        config.pid_slot[0] = os.getpid()
    no_new_privs, set_seccomp = config.seccomp_calls
    if _libc.prctl(*no_new_privs) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(*set_seccomp) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


# --- the harness: from here on, the process is the student's -----------------------------------

# Bound now, before student code can replace them (a courtesy: the parent trusts none of it).
_write = os.write
_read = os.read
_exit = os._exit
_decode_cases = decode_cases
_np_array = np.array
_float64 = np.float64
_encode_arrays = frames.encode_arrays
_encode_error = frames.encode_error
_MEMORY_ERROR_RECORD = frames.encode_error("MemoryError", "MemoryError\n")
_run_case = script.run_case
_json_loads = json.loads
_module_type = types.ModuleType
_json_dumps = json.dumps
_encode_bytes = frames.encode_bytes


def _harness(job: bytes, gate_fd: int | None = None) -> None:
    try:
        code, entry, cases, gated, compiled = decode_job(job)
    except Exception:
        _exit(EXIT_SETUP_FAILED)
    if gated and gate_fd is None:
        _exit(EXIT_SETUP_FAILED)
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    namespace = _submission_module().__dict__
    function = None
    try:
        exec(_module_code(code, compiled), namespace)
        if entry != SCRIPT_ENTRY:
            function = namespace.get(entry)
            if not callable(function):
                raise NameError(f"the submission does not define a function named {entry!r}")
    except BaseException as exc:
        record = _error_record(exc)
        _flush()
        for _ in range(len(cases) + gated):
            _send(record)
        _exit(0)
    _run_cases(namespace, function, cases)
    if gated:
        try:
            hidden = _decode_cases(_read_gate(gate_fd), gated, function is None)
        except BaseException:  # the gate was closed early or tampered with: no more results
            _exit(0)
        _run_cases(namespace, function, hidden)
    _flush()
    _exit(0)


def _module_code(code: str, compiled: bytes | None) -> types.CodeType:
    """The submission's code object: the parent's compilation of this same source when it sent
    one (loading it spares the child ~0.7 ms of compiling, mostly copy-on-write faults), else
    compiled here. Any exception is the submission's, reported like its own errors."""
    if compiled is not None:
        try:
            loaded = marshal.loads(compiled)
        except Exception:
            loaded = None
        if type(loaded) is types.CodeType and loaded.co_filename == FILENAME:
            return loaded
    return compile_source(code)


def compile_source(code: str) -> types.CodeType:
    """The submission's module code: file "<submission>", no future flags inherited from this
    file, no optimisation whatever flags the interpreter runs with. The grader compiles with
    this same function (code_grading.compile_submission), so the code it sends is this code."""
    return compile(code, FILENAME, "exec", dont_inherit=True, optimize=0)


def _submission_module():
    """The module the submission runs in, registered as sys.modules["submission"] as an imported
    file would be: dataclasses, typing and pickle look a class's module up there (a @dataclass
    with string annotations failed with "'NoneType' object has no attribute '__dict__'")."""
    module = _module_type(MODULE_NAME)
    module.__builtins__ = builtins
    sys.modules[MODULE_NAME] = module
    return module


def _run_cases(namespace: dict, function, cases: list) -> None:
    """Run each case and send its record (results, or the exception)."""
    for args in cases:
        try:
            if function is None:
                record = _encode_bytes(_script_result(namespace, args[0]))
            else:
                value = function(*[_np_array(a, copy=True) for a in args])
                record = _encode_arrays(_as_float64(value))
        except BaseException as exc:
            record = _error_record(exc)
        _flush()
        _send(record)


def _read_gate(fd: int) -> bytes:
    """Everything the parent writes into the gate, up to its end (EOF)."""
    chunks = []
    while True:
        chunk = _read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _script_result(namespace: dict, case_json: bytes) -> bytes:
    """Run one case script against the submission; its observations as JSON bytes."""
    case = _json_loads(case_json)
    observations = _run_case(namespace, case, format_student_traceback)
    return _json_dumps(observations, allow_nan=False, separators=(",", ":")).encode("utf-8")


_WARM_UP_SOURCE = """\
import numpy as np
def forward(X, W):
    Z = W.T @ X + np.zeros((W.shape[1], 1))
    A = np.tanh(Z) + np.maximum(Z, 0) + np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return A / np.sum(A, axis=0, keepdims=True), [float(np.mean(A))], int(np.argmax(A))
def broken(X):
    raise ValueError("warm-up")
"""
_WARM_UP_CASE = {
    "name": "warm_up",
    "check_inputs_unchanged": True,
    "steps": [
        {"op": "call", "func": "forward", "args": [
            {"type": "array", "value": [[1.0], [2.0]]},
            {"type": "array", "value": [[0.5, -1.0], [0.25, 2.0]]},
        ]},
        {"op": "call", "func": "broken", "args": [{"type": "list", "value": []}]},
    ],
}


def warm_up() -> None:
    """Run one trusted script case in the fork server before any child exists: the code paths
    and lazy imports a child needs are then loaded once, not in every child."""
    namespace = {"__name__": "warm_up"}
    exec(compile(_WARM_UP_SOURCE, "<warm-up>", "exec"), namespace)
    case = _json_loads(_json_dumps(_WARM_UP_CASE))
    _json_dumps(_run_case(namespace, case, format_student_traceback))


def _as_float64(value) -> list:
    """The call's outputs as fresh float64 base arrays: a tuple is several outputs, anything
    else one (lists included). Student __array__/__float__ methods may run here: harmless, the
    parent only ever sees the numbers."""
    items = list(value) if isinstance(value, tuple) else [value]
    if len(items) > frames.MAX_ARRAYS:
        raise ValueError(
            f"the function returned {len(items)} outputs (at most {frames.MAX_ARRAYS})"
        )
    out = []
    for item in items:
        out.append(_np_array(item, dtype=_float64, copy=True))  # subok=False: a base ndarray
    return out


def _error_record(exc: BaseException) -> bytes:
    try:
        name = type(exc).__name__
        if not isinstance(name, str):
            name = "Exception"
        return _encode_error(name, format_student_traceback(exc))
    except MemoryError:
        return _MEMORY_ERROR_RECORD
    except BaseException:
        return _encode_error("Exception", "(the exception could not be formatted)\n")


def format_student_traceback(exc: BaseException, limit: int = 16 * 1024) -> str:
    """The traceback with only the student's own frames (file "<submission>"), cut to `limit`."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    seen = set()
    stack = [te]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.stack = traceback.StackSummary.from_list(
            [frame for frame in current.stack if frame.filename == FILENAME]
        )
        stack.extend(x for x in (current.__cause__, current.__context__) if x is not None)
    text = "".join(te.format())
    if len(text) > limit:
        text = text[: limit // 2] + "\n[... traceback cut ...]\n" + text[-limit // 2 :]
    return text


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _send(record: bytes) -> None:
    view = memoryview(record)
    try:
        while view:
            view = view[_write(3, view) :]
    except BaseException:
        _exit(0)
