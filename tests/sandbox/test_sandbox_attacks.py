"""Hostile submissions. Each attack asserts four things:

1. contained: what it went for (a file, a secret, the network, the parent, another submission)
   is out of reach, checked from outside where possible;
2. a clear outcome: one of the expected statuses, with a message when it is not "ok";
3. nothing smuggled: no case matches the reference (the attacks never compute it honestly);
4. the pool is healthy afterwards: the honest solution still gets every case right, and for the
   attacks aimed at the fork server, it was not even restarted.

The task in every attack is solve(x) = 2x + 1. Needs a working bubblewrap: skipped with the reason
when it is missing, FAILS under CI=true.
"""

from __future__ import annotations

import os
import socket
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import Limits, SandboxPool, outputs_match

REPO = Path(__file__).resolve().parents[2]
SECRET_NAME = "AUTOGRADER_SANDBOX_TEST_SECRET"
SECRET = "s3cret-7f1c2a9e-do-not-leak"
LIMITS = Limits(cpu_s=1, wall_s=2, memory_mb=192, nproc=16, nofile=32, fsize_mb=4, output_kb=32)
HONEST = "def solve(x):\n    return 2.0 * x + 1.0\n"
CASES = [[np.array([1.0, -2.0, 0.5])], [np.arange(6.0).reshape(2, 3)]]
EXPECTED = [[2.0 * c[0] + 1.0] for c in CASES]
ALL = {"ok", "error", "timeout", "memory", "killed", "malformed"}


@pytest.fixture(scope="module")
def pool(require_sandbox):
    """One pool for the whole suite, started while the worker's environment holds a secret."""
    previous = os.environ.get(SECRET_NAME)
    os.environ[SECRET_NAME] = SECRET
    try:
        with SandboxPool(limits=LIMITS) as p:
            yield p
    finally:
        if previous is None:
            os.environ.pop(SECRET_NAME, None)
        else:
            os.environ[SECRET_NAME] = previous


def run(pool, code: str, limits: Limits | None = None):
    return pool.run(textwrap.dedent(code), "solve", CASES, limits=limits)


def check(outcomes, statuses, *, leaks=(SECRET,)):
    """Assertions 2 and 3, plus no leak marker in anything the student gets to see."""
    assert len(outcomes) == len(CASES)
    for outcome, expected in zip(outcomes, EXPECTED, strict=True):
        assert outcome.status in statuses, (
            outcome.status,
            outcome.message,
            outcome.traceback[-500:],
        )
        if outcome.status != "ok":
            assert outcome.message, outcome
            assert outcome.outputs == ()
        assert not outputs_match(outcome.outputs, expected), "a result was smuggled"
        shown = outcome.stdout + outcome.stderr + outcome.traceback + outcome.message
        for marker in leaks:
            assert marker not in shown, f"leaked {marker!r}: {shown[:500]}"


def assert_healthy(pool, restarts: int | None = None):
    """Assertion 4: the honest solution passes; optionally the server was not replaced."""
    outcomes = pool.run(HONEST, "solve", CASES)
    assert [o.status for o in outcomes] == ["ok", "ok"], outcomes
    assert all(
        outputs_match(o.outputs, e, rtol=0, atol=0) for o, e in zip(outcomes, EXPECTED, strict=True)
    )
    if restarts is not None:
        assert pool.restarts == restarts, "the fork server had to be replaced"


@dataclass(frozen=True)
class Attack:
    id: str
    code: str
    statuses: frozenset
    leaks: tuple = (SECRET,)
    limits: Limits | None = None  # the pool's LIMITS unless given


def attack(id, code, statuses, leaks=(SECRET,), limits=None):
    return pytest.param(Attack(id, code, frozenset(statuses), tuple(leaks), limits), id=id)


ATTACKS = [
    attack(
        "read_etc_passwd",
        """
        def solve(x):
            for path in ("/etc/passwd", "/etc/shadow", "/etc/hostname", "/home", "/root"):
                try:
                    print("LEAK", path, open(path).read()[:200])
                except OSError as exc:
                    print("blocked", path, type(exc).__name__)
            return x
        """,
        {"ok"},
        leaks=("LEAK", "root:x:0"),
    ),
    attack(
        "read_project_source",
        f"""
        import os
        def solve(x):
            for path in ({str(REPO / "autograder" / "settings.py")!r}, {str(REPO / "pyproject.toml")!r},
                         "/work/main/autograder/settings.py", "/app/autograder/settings.py"):
                try:
                    print("LEAK", open(path).read()[:100])
                except OSError:
                    pass
            for root, dirs, files in os.walk("/"):
                for name in files + dirs:
                    if name in ("settings.py", "grading.py", "autograder", "nncore", "manage.py", "db.sqlite3"):
                        print("LEAK", os.path.join(root, name))
            return x * 0
        """,
        {"ok"},
        leaks=("LEAK",),
    ),
    attack(
        "read_database",
        f"""
        import os
        def solve(x):
            try:
                print("LEAK", open({str(REPO / "var" / "db.sqlite3")!r}, "rb").read(16))
            except OSError:
                pass
            for root, dirs, files in os.walk("/"):
                for name in files:
                    if name.endswith((".sqlite3", ".sqlite", ".env", ".dump")):
                        print("LEAK", os.path.join(root, name))
            return x - 1
        """,
        {"ok"},
        leaks=("LEAK", "SQLite format"),
    ),
    attack(
        "environment_variables",
        f"""
        import os
        def solve(x):
            print(sorted(os.environ))
            for key in ("DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", {SECRET_NAME!r}):
                if key in os.environ:
                    print("LEAK", key, os.environ[key])
            allowed = {{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                       "MKL_NUM_THREADS", "LD_LIBRARY_PATH", "PWD"}}
            return x * 0 + float(set(os.environ) <= allowed)
        """,
        {"ok"},
        leaks=("LEAK", SECRET, SECRET_NAME),
    ),
    attack(
        "proc_environ_of_pid_1_and_the_parent",
        """
        import os
        def solve(x):
            for path in ("/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ",
                         "/proc/1/cmdline", f"/proc/{os.getppid()}/mem", "/proc/self/mountinfo", "/sys/kernel"):
                try:
                    print("LEAK", path, open(path, "rb").read(200))
                except OSError as exc:
                    print("blocked", path, type(exc).__name__)
            return x
        """,
        {"ok"},
        leaks=("LEAK", SECRET),
    ),
    attack(
        "parent_process_table",
        """
        import os
        def solve(x):
            try:
                print("LEAK", os.listdir("/proc"))
            except OSError:
                pass
            return x + float(os.getppid())
        """,
        {"ok"},
        leaks=("LEAK",),
    ),
    attack(
        "fork_bomb",
        """
        import os, subprocess
        def solve(x):
            try:
                subprocess.Popen(["/opt/python/bin/python3", "-c", "pass"])
            except OSError as exc:
                print("popen", exc)
            while True:
                os.fork()
        """,
        {"error"},
    ),
    attack(
        "exec_a_fresh_interpreter",
        """
        import os
        def solve(x):
            os.execv("/opt/python/bin/python3", ["python3", "-c", "print(1)"])
        """,
        {"error"},
    ),
    attack(
        "memory_bomb",
        """
        def solve(x):
            hog = []
            while True:
                hog.append(bytearray(50 * 2**20))
        """,
        {"memory"},
        # zero-filling ~190 MB took over 1 s of CPU on a slow VM hour (72,000 page faults): a
        # CPU limit the memory limit always comes before, so the memory limit is what is tested
        limits=replace(LIMITS, cpu_s=5, wall_s=10),
    ),
    attack(
        "numpy_memory_bomb",
        """
        import numpy as np
        def solve(x):
            return np.ones((60000, 60000)) @ np.ones(60000)
        """,
        {"memory"},
    ),
    attack("infinite_loop", "def solve(x):\n    while True:\n        pass\n", {"timeout"}),
    attack(
        "ignore_sigxcpu_and_loop",
        """
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        def solve(x):
            while True:
                pass
        """,
        {"timeout"},
    ),
    attack(
        "sleep_past_the_wall_limit", "import time\ndef solve(x):\n    time.sleep(60)\n", {"timeout"}
    ),
    attack(
        "whole_time_limit_spent_in_import",
        "import time\nwhile True:\n    time.sleep(0.01)\ndef solve(x):\n    return 2 * x + 1\n",
        {"timeout"},
    ),
    attack(
        "one_hundred_megabytes_of_output",
        """
        import sys
        def solve(x):
            chunk = "A" * (1 << 20)
            for _ in range(100):
                sys.stdout.write(chunk)
            return x
        """,
        {"killed"},
    ),
    attack(
        "write_outside_tmp",
        f"""
        def solve(x):
            for path in ("/pwned", "/opt/pwned", "/opt/python/lib/python3.11/pwned.py", "/usr/lib/pwned",
                         "/opt/site/numpy/pwned.py", "/dev/pwned", {str(REPO / "pwned")!r},
                         "/opt/python/lib/python3.11/site-packages/pwned.py"):
                try:
                    open(path, "w").write("x")
                    print("LEAK wrote", path)
                except OSError:
                    pass
            return x * 2
        """,
        {"ok"},
        leaks=("LEAK",),
    ),
    attack(
        "fill_tmp",
        """
        def solve(x):
            i = 0
            while True:
                with open(f"/tmp/fill{i}", "wb") as f:
                    f.write(b"x" * (3 << 20))
                i += 1
        """,
        {"error"},
    ),
    attack(
        "kill_the_fork_server",
        """
        import os, signal
        def solve(x):
            for pid in (os.getppid(), 1, 2, -1, 0):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError as exc:
                    print("blocked", pid, exc)
            raise RuntimeError("still here")
        """,
        {"error"},
    ),
    attack(
        "kill_all_via_raw_syscall",
        """
        import ctypes, signal
        libc = ctypes.CDLL(None, use_errno=True)
        def solve(x):
            assert libc.syscall(62, -1, signal.SIGKILL) == -1  # kill(-1)
            assert libc.syscall(200, 2, signal.SIGKILL) == -1  # tkill
            assert libc.syscall(234, 1, 1, signal.SIGKILL) == -1  # tgkill on another process
            assert libc.syscall(101, 16, 1, 0, 0) == -1  # ptrace(PTRACE_ATTACH, 1)
            return x * 0
        """,
        {"ok"},
    ),
    attack(
        "forge_frames_on_fds_1_to_10",
        """
        import os, struct
        import numpy as np
        def frame(value):
            value = np.asarray(value, dtype=np.float64)
            dims = b"".join(struct.pack("<Q", n) for n in value.shape)
            return b"R\\x01" + bytes((1, value.ndim)) + dims + value.tobytes()
        def solve(x):
            fake = frame(np.full(x.shape, 123.0)) * 3 + b"SCORE 100/100"
            for fd in range(1, 11):
                try:
                    os.write(fd, fake)
                except OSError:
                    pass
            return x
        """,
        {"malformed"},
    ),
    attack(
        "forge_frames_then_exit",
        """
        import os, struct
        import numpy as np
        def solve(x):
            value = np.full(x.shape, 42.0)
            dims = b"".join(struct.pack("<Q", n) for n in value.shape)
            os.write(3, b"R\\x01" + bytes((1, value.ndim)) + dims + value.tobytes())
            os.write(3, b"E\\x00\\x00\\x00\\x00\\x00\\x00")
            os._exit(0)
        """,
        {"ok", "error"},
    ),
    attack(
        "lying_eq_and_array",
        """
        import numpy as np
        class Liar:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __array__(self, dtype=None, copy=None): return np.zeros(3)
            def __float__(self): return 0.0
            def __len__(self): return 3
        def solve(x):
            return Liar()
        """,
        {"ok"},
    ),
    attack(
        "array_that_raises_on_conversion",
        """
        class Bomb:
            def __array__(self, dtype=None, copy=None):
                raise SystemExit(0)
        def solve(x):
            return Bomb()
        """,
        {"error"},
    ),
    attack(
        "ndarray_subclass",
        """
        import numpy as np
        class Sneaky(np.ndarray):
            def __eq__(self, other): return np.ones(np.shape(other), dtype=bool)
            def tobytes(self, *a, **k): return (2 * np.asarray(self) + 1).tobytes()
            def __array__(self, *a, **k): return np.asarray(self)
            @property
            def shape(self): return (3,)
        def solve(x):
            return np.zeros_like(x).view(Sneaky)
        """,
        {"ok"},
    ),
    attack(
        "monkeypatch_numpy",
        """
        import numpy as np
        np.array = lambda *a, **k: np.full(3, 7.0)
        np.asarray = np.array
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.isfinite = lambda a: True
        np.ndarray.tobytes = None
        def solve(x):
            return x * 0
        """,
        {"ok", "error"},
    ),
    attack(
        "monkeypatch_builtins_and_harness",
        """
        import builtins, sys
        harness = sys.modules.get("sandbox_harness")
        if harness is not None:
            harness._encode_arrays = lambda arrays: b"R\\x00"  # an empty result for every case
            harness._as_float64 = lambda value: []
        builtins.isinstance = lambda *a: True
        builtins.len = lambda obj: 0
        builtins.BaseException = object
        def solve(x):
            return x
        """,
        ALL - {"timeout"},
    ),
    attack("sys_exit_0_in_the_call", "import sys\ndef solve(x):\n    sys.exit(0)\n", {"error"}),
    attack(
        "sys_exit_0_at_import",
        "import sys\nsys.exit(0)\ndef solve(x):\n    return 2 * x + 1\n",
        {"error"},
    ),
    attack("os_exit_0", "import os\ndef solve(x):\n    os._exit(0)\n", {"error"}),
    attack(
        "raise_base_exception",
        """
        class Escape(BaseException):
            def __str__(self):
                raise KeyboardInterrupt
        def solve(x):
            raise Escape()
        """,
        {"error"},
    ),
    attack("keyboard_interrupt", "def solve(x):\n    raise KeyboardInterrupt\n", {"error"}),
    attack(
        "recursion_bomb",
        """
        import sys
        sys.setrecursionlimit(10**8)
        def dive(n):
            return dive(n + 1) + 1
        def solve(x):
            return dive(0)
        """,
        {"killed", "error", "timeout", "memory"},
    ),
    attack(
        "ctypes_segfault",
        "import ctypes\ndef solve(x):\n    return float(ctypes.c_int.from_address(8).value)\n",
        {"killed"},
    ),
    attack(
        "threads_that_outlive_the_call",
        """
        import os, threading, time
        def pester():
            time.sleep(0.01)
            while True:
                try:
                    os.write(3, b"R\\x01\\x01\\x00" + bytes(8))  # a 0-d "result" of 0.0, forever
                except OSError:
                    pass
        def solve(x):
            threading.Thread(target=pester, daemon=True).start()
            time.sleep(0.05)
            return x * 0
        """,
        {"malformed"},
    ),
    attack(
        "atexit_and_finalizers_that_hang",
        """
        import atexit, time
        atexit.register(time.sleep, 60)
        class Hang:
            def __del__(self):
                time.sleep(60)
        keep = Hang()
        def solve(x):
            return x * 3
        """,
        {"ok"},
    ),
    attack(
        "open_a_socket",
        """
        import socket
        def solve(x):
            for family, kind in ((socket.AF_INET, socket.SOCK_STREAM), (socket.AF_UNIX, socket.SOCK_STREAM),
                                 (socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_INET6, socket.SOCK_DGRAM)):
                try:
                    socket.socket(family, kind)
                    print("LEAK socket", family)
                except OSError:
                    pass
            socket.create_connection(("1.1.1.1", 443), timeout=1)
        """,
        {"error"},
        leaks=("LEAK",),
    ),
    attack(
        "escape_namespaces",
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def solve(x):
            calls = {"setuid0": (105, 0), "unshare_user": (272, 0x10000000), "chroot": (161, b"/tmp"),
                     "mount": (165, b"none", b"/tmp", b"tmpfs", 0, 0), "bpf": (321, 0, 0, 0),
                     "userfaultfd": (323, 0), "io_uring": (425, 8, 0), "pidfd_getfd": (438, 0, 0, 0),
                     "memfd_create": (319, b"x", 0), "personality": (135, 0x0040000)}
            for name, (nr, *args) in calls.items():
                if libc.syscall(nr, *args) != -1:
                    print("LEAK", name)
            return x + 7
        """,
        {"ok"},
        leaks=("LEAK",),
    ),
    attack(
        "nan_inf_and_broadcasting_tricks",
        """
        import numpy as np
        calls = iter(range(100))
        def solve(x):
            trick = next(calls)
            if trick == 0:
                return np.full(x.shape, np.nan)   # all-NaN passes a naive "no difference > tol"
            return np.float64(2 * x.flat[0] + 1)  # a scalar that broadcasts against the reference
        """,
        {"ok"},
    ),
    attack(
        "printed_fake_results",
        """
        def solve(x):
            print("All tests passed! score = 100/100")
            print("R\\x01\\x01\\x01" + "\\x00" * 16)
            return -x
        """,
        {"ok"},
    ),
]


@pytest.mark.parametrize("case", ATTACKS)
def test_attack(pool, case: Attack):
    restarts = pool.restarts
    outcomes = run(pool, case.code, case.limits)
    check(outcomes, case.statuses, leaks=case.leaks)
    assert_healthy(pool, restarts)  # and no attack even costs a fork-server restart


# --- attacks that need a look from outside ------------------------------------------------------


def test_secret_in_the_worker_environment_is_not_visible(pool):
    assert os.environ[SECRET_NAME] == SECRET  # the worker has it ...
    outcomes = run(
        pool,
        """
        import os
        def solve(x):
            found = any("s3cret" in v for v in os.environ.values())
            for path in ("/proc/1/environ", "/proc/self/environ"):
                try:
                    found = found or b"s3cret" in open(path, "rb").read()
                except OSError:
                    pass
            return x * 0 + float(found)
        """,
    )
    check(outcomes, {"ok"})
    assert all(float(o.outputs[0].max()) == 0.0 for o in outcomes)  # ... the sandbox does not
    assert_healthy(pool)


def test_files_of_one_submission_are_gone_for_the_next(pool):
    first = run(
        pool,
        """
        import os
        open("/tmp/answers.txt", "w").write("copy me")
        os.makedirs("/tmp/deep/er")
        open("/tmp/deep/er/f", "w").write("x")
        os.symlink("/opt/python", "/tmp/deep/link")
        os.chmod("/tmp/deep/er", 0)
        os.chmod("/tmp/deep", 0)
        def solve(x):
            return x * 0
        """,
    )
    check(first, {"ok"})
    second = run(
        pool, "import os\ndef solve(x):\n    print(os.listdir('/tmp'))\n    return x * 0\n"
    )
    check(second, {"ok"}, leaks=("answers", "deep"))
    assert second[0].stdout.startswith("[]")
    assert_healthy(pool)


def test_code_of_one_submission_is_not_in_the_memory_of_the_next(pool):
    marker = "MARKER" + "_previous_submission_7781"
    check(run(pool, f"SECRET_ANSWER = {marker!r}\ndef solve(x):\n    return x * 0\n"), {"ok"})
    second = run(
        pool,
        """
        import gc, linecache, sys
        def solve(x):
            needle = "MARKER" + "_previous_submission_7781"
            hits = sum(needle in str(o) for o in gc.get_objects() if isinstance(o, (str, bytes, dict)))
            hits += sum(needle in "".join(v[2]) for v in linecache.cache.values() if len(v) > 2)
            return x * 0 + float(hits)
        """,
    )
    check(second, {"ok"}, leaks=(marker,))
    assert all(float(o.outputs[0].max()) == 0.0 for o in second)
    assert_healthy(pool)


def test_sysv_shared_memory_cannot_be_created_or_found(pool):
    code = """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.shmget.restype = ctypes.c_int
        def solve(x):
            made = libc.shmget(0x5EED, 4096, 0o1666)   # IPC_CREAT | 0666
            found = libc.shmget(0x5EED, 0, 0)
            queue = libc.msgget(0x5EED, 0o1666)
            sem = libc.semget(0x5EED, 1, 0o1666)
            return x * 0 + float(made), float(found), float(queue), float(sem), float(ctypes.get_errno())
        """
    for _ in range(2):  # the second submission would find what the first one made
        outcomes = run(pool, code)
        check(outcomes, {"ok"})
        assert [float(v) for v in outcomes[0].outputs[1:]] == [-1.0, -1.0, -1.0, 1.0]  # EPERM
        assert outcomes[0].outputs[0].tolist() == [-1.0, -1.0, -1.0]
    assert_healthy(pool)


def test_no_network_even_to_a_listener_on_this_host(pool):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        outcomes = run(
            pool,
            f"""
            import socket
            def solve(x):
                socket.create_connection(("127.0.0.1", {port}), timeout=0.5).sendall(b"hello")
                return x
            """,
        )
        check(outcomes, {"error"})
        assert "PermissionError" in outcomes[0].traceback
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert_healthy(pool)


def test_nothing_written_reaches_the_host(pool, tmp_path):
    host_file = tmp_path / "from-sandbox.txt"
    outcomes = run(
        pool,
        f"""
        def solve(x):
            for path in ({str(host_file)!r}, "/tmp/host-visible.txt"):
                try:
                    open(path, "w").write("escaped")
                except OSError:
                    pass
            return x
        """,
    )
    check(outcomes, {"ok"})
    assert not host_file.exists()
    assert not Path("/tmp/host-visible.txt").exists()  # the sandbox's /tmp is its own tmpfs
    assert not (REPO / "pwned").exists() and not Path("/pwned").exists()
    assert_healthy(pool)


def test_kill_attempts_leave_the_same_fork_server_running(pool):
    restarts = pool.restarts
    server_pid = pool._server.proc.pid
    outcomes = run(
        pool,
        """
        import os
        def solve(x):
            for pid in range(-1, 50):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            return x
        """,
    )
    check(outcomes, {"ok"})
    assert pool._server.proc.pid == server_pid and pool._server.alive()
    assert_healthy(pool, restarts)
