"""The sandbox's policies, checked without running it: the seccomp program (through a small BPF
interpreter), its syscall tables (against libseccomp), the bwrap command line, the comparison with
the reference, the mapping of raw runs to outcomes, and the limits.

Pure tests (no bubblewrap needed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import struct

import numpy as np
import pytest

from autograder.sandbox import Limits, array_matches, bwrap, frames, outputs_match
from autograder.sandbox import seccomp as sc
from autograder.sandbox.outcome import assemble
from autograder.sandbox.server import RawRun

# --- a BPF interpreter for the seccomp program ----------------------------------------------------


def run_bpf(program: bytes, nr: int, arch: int, args=(0, 0, 0, 0, 0, 0)) -> int:
    data = struct.pack(
        "<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in (list(args) + [0] * 6)[:6]]
    )
    insns = [struct.unpack_from("<HBBI", program, 8 * i) for i in range(len(program) // 8)]
    acc, pc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            (acc,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif code == 0x06:
            return k
        elif code in (0x15, 0x35, 0x45):
            cond = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if cond else jf)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("program did not return")


ALLOW, EPERM, ENOSYS, KILL = sc.RET_ALLOW, 0x00050000 | 1, 0x00050000 | 38, sc.RET_KILL_PROCESS
X86 = sc.AUDIT_ARCH["x86_64"]


@pytest.fixture(scope="module")
def x86():
    f = sc.build_filter("x86_64")
    return f, sc.patch_pid(f.program, f.pid_index, 4242)


def decide(x86, name, *args, arch=X86):
    _filter, program = x86
    return run_bpf(
        program, sc.SYSCALLS["x86_64"][name] if isinstance(name, str) else name, arch, args
    )


@pytest.mark.parametrize(
    "name", ["read", "write", "openat", "mmap", "futex", "exit_group", "getrandom", "brk"]
)
def test_ordinary_calls_are_allowed(x86, name):
    assert decide(x86, name) == ALLOW


@pytest.mark.parametrize(
    ("name", "nr"),
    [
        ("socket", 41), ("connect", 42), ("fork", 57), ("vfork", 58), ("execve", 59), ("kill", 62),
        ("shmget", 29), ("shmat", 30), ("msgget", 68), ("semget", 64), ("ptrace", 101), ("setuid", 105),
        ("mount", 165), ("unshare", 272), ("process_vm_readv", 310), ("bpf", 321), ("userfaultfd", 323),
        ("pidfd_getfd", 438), ("pidfd_send_signal", 424), ("io_uring_setup", 425), ("prctl", 157),
        ("mknod", 133), ("chown", 92), ("mq_open", 240), ("execveat", 322), ("tkill", 200),
    ],
)  # fmt: skip
def test_dangerous_calls_fail_with_eperm(x86, name, nr):
    assert decide(x86, nr) == EPERM, name


def test_threads_yes_processes_no(x86):
    thread_flags = 0x3D0F00  # what glibc's pthread_create passes
    assert decide(x86, "clone", thread_flags) == ALLOW
    # fork(): SIGCHLD | CHILD_SETTID | CHILD_CLEARTID
    assert decide(x86, "clone", 0x01200011) == EPERM
    # a thread in a new user or network namespace
    assert decide(x86, "clone", thread_flags | 0x10000000) == EPERM
    assert decide(x86, "clone", thread_flags | 0x40000000) == EPERM
    # clone3's flags are in memory BPF cannot read: make the C library fall back to clone
    assert decide(x86, "clone3") == ENOSYS


def test_signals_only_to_itself(x86):
    assert decide(x86, "tgkill", 4242, 4242, signal.SIGABRT) == ALLOW
    assert decide(x86, "tgkill", 1, 1, signal.SIGKILL) == EPERM
    assert decide(x86, "tgkill", 4242 + (1 << 32), 4242, 9) == EPERM  # high word must be zero


def test_limits_only_on_itself(x86):
    assert decide(x86, "prlimit64", 0) == ALLOW
    assert decide(x86, "prlimit64", 2) == EPERM
    assert decide(x86, "prlimit64", 1 << 32) == EPERM


def test_ioctl_only_harmless_queries(x86):
    assert decide(x86, "ioctl", 1, 0x5401) == ALLOW  # TCGETS: isatty
    assert decide(x86, "ioctl", 0, 0x5412) == EPERM  # TIOCSTI: type into a terminal


def test_foreign_abis_are_killed(x86):
    assert decide(x86, "read", arch=0x40000003) == KILL  # i386 via int 0x80
    assert decide(x86, 0x40000000 | 41, arch=X86) == KILL  # x32 socket
    assert decide(x86, 99999) == EPERM  # unknown numbers: denied, not allowed


def test_aarch64_program_makes_the_same_decisions():
    f = sc.build_filter("aarch64")
    program = sc.patch_pid(f.program, f.pid_index, 7)
    table = sc.SYSCALLS["aarch64"]
    arch = sc.AUDIT_ARCH["aarch64"]
    assert run_bpf(program, table["openat"], arch) == ALLOW
    assert run_bpf(program, 198, arch) == EPERM  # socket
    assert run_bpf(program, 129, arch) == EPERM  # kill
    assert run_bpf(program, table["clone"], arch, (0x3D0F00,)) == ALLOW
    assert run_bpf(program, table["clone"], arch, (0x11,)) == EPERM
    assert run_bpf(program, table["tgkill"], arch, (7,)) == ALLOW
    assert run_bpf(program, table["read"], X86) == KILL


def test_unknown_architecture_is_refused():
    with pytest.raises(sc.UnsupportedArch):
        sc.build_filter("sparc64")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_syscall_tables_match_libseccomp(arch):
    path = ctypes.util.find_library("seccomp")
    if path is None:
        message = "libseccomp is not installed (Debian: libseccomp2; make test installs it as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    lib = ctypes.CDLL(path)
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    for name, number in sc.SYSCALLS[arch].items():
        assert (
            lib.seccomp_syscall_resolve_name_arch(sc.AUDIT_ARCH[arch], name.encode()) == number
        ), name
    for name in sc.ALLOWED:  # a name missing from a table must not exist on that architecture
        if name not in sc.SYSCALLS[arch]:
            assert lib.seccomp_syscall_resolve_name_arch(sc.AUDIT_ARCH[arch], name.encode()) < 0, (
                name
            )


# --- the bwrap command line ---------------------------------------------------------------------


@pytest.mark.parametrize("as_root", [True, False])
def test_bwrap_command_line(as_root):
    runtime = bwrap.discover_runtime()
    args = bwrap.bwrap_command("/usr/bin/bwrap", runtime, tmp_mb=32, as_root=as_root)
    assert args[-2:] == ["--remount-ro", "/"]  # otherwise bwrap's root stays writable
    for flag in (
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ):
        assert flag in args
    assert ("--unshare-user" in args) is (not as_root)  # root: no userns, children drop to nobody
    assert ("--cap-add" in args) is as_root
    assert "--proc" not in args  # NumPy runs without /proc; it fails in masked containers anyway
    targets = [
        args[i + 2] for i, a in enumerate(args) if a in ("--ro-bind", "--bind", "--dev-bind")
    ]
    for target in targets:
        assert not target.startswith(("/etc", "/home", "/root", "/proc", "/sys", "/work", "/var"))
    assert "--bind" not in args  # nothing from the host is writable
    assert args[args.index("--tmpfs", args.index("--size")) + 1] == "/tmp"
    setenv = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert setenv["OPENBLAS_NUM_THREADS"] == "1"
    assert set(setenv) <= set(bwrap.BASE_ENV) | {"LD_LIBRARY_PATH"}


# --- comparison outside the sandbox -----------------------------------------------------------------


def test_comparison_rejects_numeric_tricks():
    expected = [np.array([1.0, 2.0, 3.0])]
    assert outputs_match([np.array([1.0, 2.0, 3.0])], expected)
    assert outputs_match([np.array([1.0, 2.0, 3.0 + 1e-12])], expected)
    # all-NaN passes a naive `not (abs(got - exp) > tol).any()`
    assert not outputs_match([np.full(3, np.nan)], expected)
    assert not outputs_match([np.array([1.0, np.nan, 3.0])], expected)
    # a scalar broadcasts: np.allclose would say yes
    assert not outputs_match([np.array(2.0)], [np.array([2.0, 2.0])])
    assert not outputs_match([np.array([[1.0, 2.0, 3.0]])], expected)  # (1, 3) is not (3,)
    assert not outputs_match([np.array([1.0, 2.0, np.inf])], expected)
    assert not outputs_match([], expected)
    assert not outputs_match(expected * 2, expected)
    assert not outputs_match([np.array([1, 2, 3])], expected)  # not float64: not from the parser
    assert not outputs_match([np.array([1.0, 2.0, 3.0]).view(np.matrix)], expected)


def test_comparison_requires_non_finite_values_where_the_reference_has_them():
    assert array_matches(np.array([np.inf, -np.inf, np.nan, 1.0]), [np.inf, -np.inf, np.nan, 1.0])
    assert not array_matches(
        np.array([-np.inf, np.inf, np.nan, 1.0]), [np.inf, -np.inf, np.nan, 1.0]
    )
    assert not array_matches(np.array([np.inf, -np.inf, 0.0, 1.0]), [np.inf, -np.inf, np.nan, 1.0])
    assert not array_matches(np.array([1e308 * 10]), [1e308])


# --- raw run -> outcomes ----------------------------------------------------------------------------


LIM = Limits(cpu_s=2, wall_s=3, output_kb=1, result_mb=1)


def ok_record(value):
    return frames.encode_arrays([np.array([value])])


def exited(code=0, **extra):
    return {"how": "exited", "code": code, "signal": None, "cpu_s": 0.01, "wall_s": 0.02, **extra}


def test_records_then_missing_cases():
    raw = RawRun(exit=exited(0), results=ok_record(1.0) + frames.encode_error("ValueError", "tb"))
    ok, err, missing = assemble(raw, 3, LIM)
    assert ok.status == "ok" and ok.outputs[0].tolist() == [1.0]
    assert err.status == "error" and err.traceback == "tb"
    assert missing.status == "error" and "exited (code 0)" in missing.message


def test_an_invalid_stream_makes_every_case_malformed():
    raw = RawRun(exit=exited(0), results=ok_record(1.0) + b"garbage")
    assert [o.status for o in assemble(raw, 2, LIM)] == ["malformed", "malformed"]
    raw = RawRun(exit=exited(0), results=ok_record(1.0) * 3)  # more records than cases
    assert [o.status for o in assemble(raw, 2, LIM)] == ["malformed", "malformed"]


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (RawRun(exit={"how": "wall", "code": None, "signal": 9, "cpu_s": 0.1, "wall_s": 3.0}), "timeout", "wall-clock"),
        (RawRun(exit={"how": "signaled", "code": None, "signal": int(signal.SIGXCPU), "cpu_s": 2.0}), "timeout", "CPU"),
        (RawRun(exit={"how": "signaled", "code": None, "signal": 9, "cpu_s": 3.0}), "timeout", "CPU"),
        (RawRun(exit={"how": "signaled", "code": None, "signal": int(signal.SIGSEGV), "cpu_s": 0.1}), "killed", "SIGSEGV"),
        (RawRun(exit={"how": "killed", "code": None, "signal": 9}, output_exceeded=True), "killed", "output"),
        (RawRun(exit={"how": "killed", "code": None, "signal": 9}, result_exceeded=True), "malformed", "MB of results"),
        (RawRun(failure="lost the sandbox"), "killed", "sandbox failure"),
        (RawRun(failure="late", timed_out=True), "timeout", "did not end"),
        (RawRun(exit=exited(0), results=ok_record(1.0)[:-3]), "malformed", "inside a record"),
        (RawRun(exit=exited(121)), "error", "code 121"),
    ],
)  # fmt: skip
def test_how_a_run_ended_decides_the_missing_cases(raw, status, words):
    (outcome,) = assemble(raw, 1, LIM)
    assert outcome.status == status
    assert words in outcome.message
    assert outcome.outputs == ()


def test_a_cpu_timeout_names_the_limit_that_was_enforced():
    """RLIMIT_CPU counts whole seconds: a question's 0.1 s ran for up to 1 s, and "CPU time limit
    of 0.1 s" told a student that code using 0.9 s was over it."""
    raw = RawRun(exit={"how": "signaled", "code": None, "signal": int(signal.SIGXCPU), "cpu_s": 1.0})
    (fraction,) = assemble(raw, 1, Limits(cpu_s=0.1, wall_s=1.2))
    assert fraction.message == "timeout: CPU time limit of 1 s (the 0.1 s set, rounded up: CPU time is limited in whole seconds)"
    (whole,) = assemble(raw, 1, Limits(cpu_s=2, wall_s=5))
    assert whole.message == "timeout: CPU time limit of 2 s"


def test_memory_errors_are_their_own_status():
    raw = RawRun(
        exit=exited(0), results=frames.encode_error("_ArrayMemoryError", "Unable to allocate")
    )
    assert assemble(raw, 1, LIM)[0].status == "memory"


def test_output_is_cut_and_marked():
    raw = RawRun(exit=exited(0), stdout=b"x" * 1024, output_exceeded=True, results=ok_record(2.0))
    outcome = assemble(raw, 1, LIM)[0]
    assert outcome.status == "ok" and "cut at the limit" in outcome.stdout


# --- limits -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpu_s": 0},
        {"wall_s": -1},
        {"memory_mb": float("nan")},
        {"cpu_s": 10_000},
        {"nofile": 4},
        {"nproc": True},
    ],
)
def test_limits_are_validated(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_cpu_rlimit_rounds_up_and_leaves_a_second_for_sigkill():
    assert Limits(cpu_s=1.2).cpu_rlimit == (2, 3)
    assert Limits(cpu_s=0.1).cpu_rlimit == (1, 2)


def test_after_a_time_out_the_later_cases_say_they_did_not_run():
    """A time-out in one case read as a time-out in every later one, cases the code would pass
    (QA: a TA handling a complaint was told the code looped on them)."""
    raw = RawRun(exit={"how": "signaled", "code": None, "signal": int(signal.SIGXCPU), "cpu_s": 2.0}, results=ok_record(1.0))
    ok, stuck, later, last = assemble(raw, 4, LIM)
    assert ok.status == "ok"
    assert stuck.status == "timeout" and stuck.message == "timeout: CPU time limit of 2 s"
    for outcome in (later, last):  # the same status (the limit was hit), said as it was
        assert outcome.status == "timeout"
        assert outcome.message == "not run: the run stopped in an earlier case (timeout: CPU time limit of 2 s)"
    exits = assemble(RawRun(exit=exited(0)), 2, LIM)  # an exit speaks for every case left: said as before
    assert [o.message for o in exits] == [exits[0].message] * 2 and "exited (code 0)" in exits[1].message
