"""SandboxPool with honest code: exact arrays back, errors explained, servers replaced and recycled.

Needs a working bubblewrap: skipped with the reason when it is missing, FAILS under CI=true.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import numpy as np
import pytest

from autograder.sandbox import (
    CaseOutcome,
    Limits,
    SandboxPool,
    SandboxUnavailable,
    outputs_match,
    sandbox_available,
)
from autograder.sandbox import pool as pool_module
from autograder.sandbox import server as server_module

LIMITS = Limits(cpu_s=2, wall_s=4, memory_mb=256, output_kb=64)


@pytest.fixture(scope="module")
def pool(require_sandbox):
    with SandboxPool(limits=LIMITS) as p:
        yield p


LAYER = """
import numpy as np

def forward(x, w, b):
    z = x @ w + b
    return np.maximum(z, 0.0), z.sum(axis=0)
"""


def reference_forward(x, w, b):
    z = x @ w + b
    return np.maximum(z, 0.0), z.sum(axis=0)


def test_correct_code_returns_bit_exact_arrays(pool):
    rng = np.random.default_rng(0)
    cases = [
        [rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)] for _ in range(3)
    ]
    outcomes = pool.run(LAYER, "forward", cases)
    assert len(outcomes) == 3
    for outcome, case in zip(outcomes, cases, strict=True):
        assert isinstance(outcome, CaseOutcome)
        assert outcome.status == "ok", outcome
        expected = reference_forward(*case)
        assert [a.shape for a in outcome.outputs] == [(4, 2), (2,)]
        for got, exp in zip(outcome.outputs, expected, strict=True):
            assert type(got) is np.ndarray and got.dtype == np.float64
            assert got.tobytes() == exp.tobytes()  # same NumPy, same bits
        assert outputs_match(outcome.outputs, expected, rtol=0, atol=0)


def test_return_values_become_float64_arrays(pool):
    code = (
        "def f(x):\n"
        "    return 3\n"
        "def g(x):\n"
        "    return [[1, 2], [3, 4]]\n"
        "def h(x):\n"
        "    return x, float(x.sum()), True\n"
    )
    x = np.array([1.5, 2.5])
    (f,) = pool.run(code, "f", [[x]])
    assert f.outputs[0].shape == () and f.outputs[0] == 3.0
    (g,) = pool.run(code, "g", [[x]])
    assert g.outputs[0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    (h,) = pool.run(code, "h", [[x]])
    assert [o.tolist() for o in h.outputs] == [[1.5, 2.5], 4.0, 1.0]


def test_inputs_keep_their_kind_and_are_private_copies(pool):
    code = (
        "import numpy as np\n"
        "def f(labels, mask, x):\n"
        "    x *= 2\n"  # in place: must not leak into the next case
        "    return float(labels.dtype == np.int64), float(mask.dtype == np.bool_), x, float(x.flags.writeable)\n"
    )
    case = [np.array([0, 2, 1]), np.array([True, False]), np.ones(2)]
    outcomes = pool.run(code, "f", [case, case])
    for outcome in outcomes:
        assert outcome.status == "ok", outcome
        assert [o.tolist() for o in outcome.outputs] == [1.0, 1.0, [2.0, 2.0], 1.0]


def test_stdout_stderr_and_filtered_tracebacks(pool):
    code = (
        "import sys\n"
        "def helper(v):\n"
        "    return v[10]\n"
        "def f(x):\n"
        "    print('looking at', x.shape)\n"
        "    print('careful', file=sys.stderr)\n"
        "    return helper(x)\n"
    )
    (outcome,) = pool.run(code, "f", [[np.ones(3)]])
    assert outcome.status == "error" and outcome.message == "raised IndexError"
    assert "looking at (3,)" in outcome.stdout and "careful" in outcome.stderr
    assert 'File "<submission>", line 7, in f' in outcome.traceback
    assert 'File "<submission>", line 3, in helper' in outcome.traceback
    assert "IndexError: index 10 is out of bounds" in outcome.traceback
    for internal in ("forkserver", "harness", "sandbox"):
        assert internal not in outcome.traceback


def test_the_childs_standard_streams_are_its_own_pipes_and_dev_null(pool):
    """sys.stdin/stdout/stderr are made once in the fork server (harness.prepare_children) over
    what a child's fds 0-2 are, so in the child they behave as if made there: stdin reads nothing,
    stdout and stderr are unseekable pipes, and what the previous child printed is not in them."""
    code = (
        "import sys\n"
        "def f(x):\n"
        "    print('run', int(x[0]), end='')\n"
        "    print('err', int(x[0]), end='', file=sys.stderr)\n"
        "    streams = (sys.stdin, sys.stdout, sys.stderr)\n"
        "    return [float(sys.stdin.read() == ''), *(float(s.seekable()) for s in streams),\n"
        "            *(float(s.isatty()) for s in streams), float(sys.stdout.fileno())]\n"
    )
    first, second = (pool.run(code, "f", [[np.array([n])]])[0] for n in (1.0, 2.0))
    assert first.outputs[0].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # /dev/null seeks
    assert (first.stdout, first.stderr) == ("run 1", "err 1")
    assert (second.stdout, second.stderr) == ("run 2", "err 2")


def test_bad_submissions_are_errors_for_every_case(pool):
    for code, words in [
        ("def f(x) return x\n", "SyntaxError"),
        ("def g(x):\n    return x\n", "does not define a function named 'f'"),
        ("f = 3\n", "does not define a function named 'f'"),
        ("import tensorflow\ndef f(x):\n    return x\n", "No module named 'tensorflow'"),
        (
            "import os, sys\nsys.path.insert(0, '/work/main')\nimport autograder\n",
            "No module named 'autograder'",
        ),
    ]:
        outcomes = pool.run(code, "f", [[np.ones(1)], [np.ones(2)]])
        assert [o.status for o in outcomes] == ["error", "error"], code
        assert words in outcomes[0].traceback, (code, outcomes[0].traceback)


def test_per_run_limits_override(pool):
    code = "import time\ndef f(x):\n    time.sleep(1.5)\n    return x\n"
    (slow,) = pool.run(code, "f", [[np.ones(1)]], limits=Limits(cpu_s=1, wall_s=0.5))
    assert slow.status == "timeout" and "wall-clock" in slow.message
    (fine,) = pool.run(code, "f", [[np.ones(1)]])
    assert fine.status == "ok"


def test_the_child_runs_as_nobody_with_the_limits(pool):
    code = (
        "import os, resource\n"
        "def f(x):\n"
        "    return (float(os.getuid()), float(os.getgid()),\n"
        "            float(resource.getrlimit(resource.RLIMIT_NOFILE)[1]),\n"
        "            float(resource.getrlimit(resource.RLIMIT_FSIZE)[1]),\n"
        "            float(resource.getrlimit(resource.RLIMIT_NPROC)[1]),\n"
        "            float(resource.getrlimit(resource.RLIMIT_CPU)[0]))\n"
    )
    (outcome,) = pool.run(code, "f", [[np.ones(1)]])
    assert [float(v) for v in outcome.outputs] == [
        65534.0, 65534.0, LIMITS.nofile, LIMITS.fsize_mb * 2**20, LIMITS.nproc, 2.0
    ]  # fmt: skip


def test_bad_arguments_raise_value_error(pool):
    with pytest.raises(ValueError):
        pool.run("def f(x): return x", "f", [])
    with pytest.raises(ValueError):
        pool.run("def f(x): return x", "not an identifier", [[np.ones(1)]])
    with pytest.raises(ValueError):
        pool.run("def f(x): return x", "f", [[np.array(["text"])]])
    with pytest.raises(ValueError):
        pool.run("def f(x): return x", "f", [[np.array([1 + 2j])]])


def test_exit_report_gives_the_childs_cpu_and_page_faults(pool):
    """What `python -m autograder.sandbox --bench` and bench_code.py print per run."""
    (outcome,) = pool.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])
    report = outcome.details["exit"]
    assert isinstance(report["minflt"], int) and report["minflt"] > 0  # a forked child always faults
    assert 0 < outcome.cpu_s < LIMITS.cpu_s


@pytest.mark.parametrize("minflt", ["many", None, [1]])
def test_exit_report_with_a_bad_fault_count_is_malformed(minflt):
    from autograder.sandbox.server import _valid_report

    report = {"op": "exit", "how": "exited", "code": 0, "signal": None, "cpu_s": 0.01, "wall_s": 0.02}
    assert _valid_report(report)["minflt"] == 0  # an older server that does not send it
    assert _valid_report({**report, "minflt": 12})["minflt"] == 12
    assert _valid_report({**report, "minflt": minflt}) is None


def test_sandbox_command_prints_cold_start_and_run_overhead(require_sandbox, capsys):
    from autograder.sandbox.__main__ import main

    assert main(["--bench", "5", "--cold-starts", "2"]) == 0
    out = capsys.readouterr().out
    assert "sandbox available: True" in out
    assert re.search(r"cold start .*p50 [0-9.]+ ms", out)
    assert re.search(r"run overhead p50 [0-9.]+ ms.*child CPU p50 [0-9.]+ ms, [0-9]+ page faults", out)


def test_recycled_every_max_jobs(require_sandbox):
    with SandboxPool(limits=LIMITS, max_jobs=2) as small:
        for i in range(5):
            (outcome,) = small.run("def f(x):\n    return x + 1\n", "f", [[np.array([float(i)])]])
            assert outcome.status == "ok" and outcome.outputs[0].tolist() == [i + 1.0]
        assert small.restarts == 2


def test_a_dead_server_is_replaced(require_sandbox):
    with SandboxPool(limits=LIMITS) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])[0].ok
        os.killpg(fresh._server.proc.pid, signal.SIGKILL)
        fresh._server.proc.wait()
        (outcome,) = fresh.run("def f(x):\n    return x * 3\n", "f", [[np.ones(1)]])
        assert outcome.ok and outcome.outputs[0].tolist() == [3.0]
        assert fresh.restarts == 1


def test_a_job_sent_to_a_server_that_just_died_is_retried_once(require_sandbox):
    with SandboxPool(limits=LIMITS) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])[0].ok
        server = fresh._server
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        server.sock.settimeout(10)
        assert (
            server.sock.recv(100) == b""
        )  # the fork server inside is gone too (--die-with-parent)
        server.alive = lambda: True  # ... but the pool has not noticed yet
        (outcome,) = fresh.run("def f(x):\n    return x * 5\n", "f", [[np.ones(1)]])
        assert outcome.ok and outcome.outputs[0].tolist() == [5.0]
        assert fresh.restarts == 1


def test_a_server_lost_in_the_middle_of_a_run_is_replaced_and_the_run_done_again(require_sandbox):
    """A failure of ours (the server killed from outside while the child ran) must not score the
    student's code 0: the job runs again in a fresh server and its result stands."""
    slow = "import time\ndef f(x):\n    time.sleep(0.4)\n    return x * 11\n"
    with SandboxPool(limits=LIMITS) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])[0].ok
        first = fresh._server
        killer = threading.Timer(0.15, os.killpg, (first.proc.pid, signal.SIGKILL))
        killer.start()
        try:
            (outcome,) = fresh.run(slow, "f", [[np.ones(1)]])
        finally:
            killer.join()
        assert outcome.ok and outcome.outputs[0].tolist() == [11.0], outcome
        assert fresh.restarts == 1 and fresh._server is not first


def test_a_server_that_hangs_past_the_wall_limit_is_not_given_the_job_again(require_sandbox, monkeypatch):
    """A server that hangs once the job started already took the whole wall time: the run ends as
    a time-out (as outcome.py reads it), not run twice (which could outlast the task's limit)."""
    monkeypatch.setattr(server_module, "GRACE_S", 0.0)
    runs = []
    real_run = server_module.ServerProcess.run

    def counted(self, *args, **kwargs):
        runs.append(self)
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(server_module.ServerProcess, "run", counted)
    with SandboxPool(limits=Limits(cpu_s=1, wall_s=0.5, memory_mb=256, output_kb=64)) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])[0].ok
        server = fresh._server

        def freeze() -> None:  # the job started: stop bwrap and all it runs, so nobody reports
            for pid in (server.proc.pid, *_descendants(server.proc.pid)):
                os.kill(pid, signal.SIGSTOP)

        freezer = threading.Timer(0.15, freeze)
        freezer.start()
        try:
            (outcome,) = fresh.run("import time\ndef f(x):\n    time.sleep(0.3)\n    return x\n", "f", [[np.ones(1)]])
        finally:
            freezer.join()
            try:
                os.killpg(server.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert outcome.status == "timeout" and "did not end within 0.5 s" in outcome.message, outcome
        assert len(runs) == 2  # the first job and the hung one: no second try


def _descendants(pid: int) -> list[int]:
    """The process tree under pid, depth first (Linux's /proc/PID/task/PID/children)."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        children = [int(c) for c in f.read().split()]
    return [d for c in children for d in (c, *_descendants(c))]


def _standby_child(pool: SandboxPool, timeout: float = 5.0) -> int:
    """The outside pid of the child the idle fork server holds ready: the one process under the
    fork server (bwrap -> bwrap -> fork server -> standby)."""
    deadline = time.monotonic() + timeout
    while True:
        tree = _descendants(pool._server.proc.pid)
        if len(tree) == 3:
            return tree[-1]
        assert time.monotonic() < deadline, f"expected one standby child under the fork server, found {tree}"
        time.sleep(0.01)


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_an_idle_server_holds_the_next_child_ready_and_each_run_gets_a_fresh_one(require_sandbox):
    """A run does not wait for a fork: the server forks the next child while idle."""
    code = "import os\ndef f(x):\n    return x + os.getpid()\n"
    with SandboxPool(limits=LIMITS) as fresh:
        (first,) = fresh.run(code, "f", [[np.zeros(1)]])
        standby = _standby_child(fresh)
        (second,) = fresh.run(code, "f", [[np.zeros(1)]])
        assert first.ok and second.ok
        assert first.outputs[0].tolist() != second.outputs[0].tolist()  # two processes
        with pytest.raises(ProcessLookupError):  # the standby ran the job and is gone
            for _ in range(500):
                os.kill(standby, 0)
                time.sleep(0.01)
        assert _standby_child(fresh) != standby  # and the next one waits


def test_a_dead_standby_child_is_replaced_by_a_fork_at_run_time(require_sandbox):
    with SandboxPool(limits=LIMITS) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.ones(1)]])[0].ok
        standby = _standby_child(fresh)
        os.kill(standby, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _state(standby) != "Z":  # dead (its socket closed); the server reaps it when it tries it
            assert time.monotonic() < deadline
            time.sleep(0.01)
        (outcome,) = fresh.run("def f(x):\n    return x * 7\n", "f", [[np.ones(1)]])
        assert outcome.ok and outcome.outputs[0].tolist() == [7.0]
        assert fresh.restarts == 0  # the server itself carried on
        assert fresh.run("def f(x):\n    return x * 2\n", "f", [[np.ones(1)]])[0].outputs[0].tolist() == [2.0]


FRAME_SPY = """
import sys

def f(x):
    marker = str(17 + 0.25)  # the previous run's fsize_mb, never written out in this source
    seen = []
    frame = sys._getframe(1)
    while frame is not None:  # every caller's locals (not this frame's), up to the server's loop
        seen.append(repr(frame.f_locals))
        frame = frame.f_back
    return x + float(any(marker in text for text in seen))
"""


def test_the_next_child_holds_nothing_of_the_previous_run(require_sandbox):
    """The standby is forked from the server's main loop: a student walking up the stack must not
    find the previous run's message (its limits) there."""
    with SandboxPool(limits=LIMITS) as fresh:
        marked = Limits(cpu_s=2, wall_s=5, memory_mb=256, fsize_mb=17.25)  # a limit the child receives
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.zeros(1)]], limits=marked)[0].ok
        (spy,) = fresh.run(FRAME_SPY, "f", [[np.zeros(1)]])
        assert spy.ok and spy.outputs[0].tolist() == [0.0]
        (own,) = fresh.run(FRAME_SPY, "f", [[np.zeros(1)]], limits=marked)  # the spy itself works
        assert own.ok and own.outputs[0].tolist() == [1.0]


def test_the_command_line_holds_no_runner_source(pool):
    """QA: student code printed [len(a) for a in sys.argv] and found ~75 KB of the runner's
    source text there (its modules are passed to `python -c` as arguments)."""
    code = "import sys\ndef f(x):\n    return [len(sys.argv), len(sys.orig_argv), max(map(len, sys.argv + sys.orig_argv))]\n"
    (seen,) = pool.run(code, "f", [[np.zeros(1)]])
    assert seen.ok and seen.outputs[0].tolist()[:2] == [1.0, 1.0]  # ["-c"] and [the interpreter's path]
    assert seen.outputs[0][2] < 100


CAP_KILL, CAP_SETGID, CAP_SETUID = 5, 6, 7


def test_the_fork_server_has_only_the_capabilities_it_needs(require_sandbox):
    """Run as root, bwrap keeps nearly every capability unless told to drop them all first."""
    with SandboxPool(limits=LIMITS) as fresh:
        assert fresh.run("def f(x):\n    return x\n", "f", [[np.zeros(1)]])[0].ok
        _standby_child(fresh)
        server = _descendants(fresh._server.proc.pid)[1]
        with open(f"/proc/{server}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        effective = int(status["CapEff"].strip(), 16)
        allowed = (1 << CAP_KILL) | (1 << CAP_SETGID) | (1 << CAP_SETUID)
        assert effective & ~allowed == 0, f"fork server capabilities {effective:#x}"
        if os.geteuid() == 0:  # root: no user namespace, exactly these three
            assert effective == allowed


def test_numpy_is_complete_inside(pool):
    code = """
import numpy as np
def f(a):
    rng = np.random.default_rng()          # OS entropy: getrandom
    seeded = np.random.default_rng(7).normal(size=3)
    inv = np.linalg.inv(a)
    spectrum = np.abs(np.fft.fft(a[0]))
    return inv, np.einsum("ij,jk->ik", a, inv), seeded, spectrum, float(rng.random() < 1.0)
"""
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    (outcome,) = pool.run(code, "f", [[a]])
    assert outcome.status == "ok", outcome.traceback
    inv, identity, seeded, spectrum, flag = outcome.outputs
    assert inv.tobytes() == np.linalg.inv(a).tobytes()
    assert np.allclose(identity, np.eye(2))
    assert seeded.tobytes() == np.random.default_rng(7).normal(size=3).tobytes()
    assert spectrum.tobytes() == np.abs(np.fft.fft(a[0])).tobytes() and flag == 1.0


def test_missing_bubblewrap_is_a_clear_error_unless_unsandboxed_is_allowed(monkeypatch):
    monkeypatch.setattr(pool_module.bwrap, "find_bwrap", lambda: None)
    try:
        ok, reason = sandbox_available(refresh=True)
        assert not ok and "bubblewrap" in reason and "install_system_deps.sh" in reason
        with pytest.raises(SandboxUnavailable, match="bubblewrap"):
            SandboxPool()
        with SandboxPool(limits=LIMITS, allow_unsandboxed=True) as dev:
            assert not dev.sandboxed
            (outcome,) = dev.run("def f(x):\n    return x * 2\n", "f", [[np.array([2.0])]])
            assert outcome.ok and outcome.outputs[0].tolist() == [4.0]
    finally:
        monkeypatch.undo()
        sandbox_available(refresh=True)


def test_a_sandbox_that_fails_to_start_reports_bwraps_own_words(tmp_path):
    """What bwrap printed before dying is the operator's only clue (e.g. a refused uid map)."""
    from autograder.sandbox import bwrap, server

    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    process = server.ServerProcess(bwrap.discover_runtime(), None, bwrap_path=str(fake))
    with pytest.raises(server.ServerFailed, match="setting up uid map: Permission denied"):
        process.wait_ready(10.0)
