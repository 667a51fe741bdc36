"""The fork server, INSIDE the sandbox: one long-lived process that forks a child per run.

This file is not imported there: its source text (with frames.py's and harness.py's) is passed to
the interpreter on the command line (see server.py), so no project file is visible in the
sandbox. Standard library and NumPy only.

The server has already imported NumPy (what makes a cold start slow) and then waits for work on a
SOCK_SEQPACKET socket. It never sees a submission: per run the parent passes four descriptors it
created itself (SCM_RIGHTS): a memfd holding the job (code, entry point, inputs) and the write
ends of three pipes (stdout, stderr, results), which the parent reads directly; and, when the job
has hidden cases, a fifth: the read end of the gate, through which the parent sends their inputs
once it holds the visible cases' results (harness.GATE_FD). So the server's memory, which every
child inherits, never holds another student's code or output.

    parent -> server   {"op": "run", "limits": {...}}  + fds [job, stdout, stderr, result(, gate)]
                       {"op": "kill"}                   kill the current child (output limit)
    server -> parent   {"op": "hello", ...}             once, when ready
                       {"op": "started"}                per run, once the child has the job
                       {"op": "exit", "how": ..., ...}  per run: how the child ended

Per run: hand the job to the child forked while the server was idle (harness.child; a child is
forked now if that one is gone), enforce the wall limit with a pidfd and SIGKILL, report the exit
status and CPU time, then empty /tmp (through a child with the student's uid) and fork the next
run's child. The server exits when the parent closes the socket, or when /tmp cannot be emptied.
"""

from __future__ import annotations

import ctypes
import gc
import json
import mmap
import os
import resource
import select
import shutil
import signal
import socket
import stat
import sys
import time

try:  # inside the sandbox the bootstrap registers harness.py under this name
    import sandbox_harness as harness  # type: ignore[import-not-found]
except ImportError:  # outside (the parent uses the message helpers; unsandboxed development mode)
    from autograder.sandbox import harness

import numpy as np

MAX_MESSAGE = 64 * 1024
RUN_FDS = (4, 5)  # job, stdout, stderr, result, and the gate when there are hidden cases


# --- control messages --------------------------------------------------------------------------


def send_message(sock: socket.socket, message: dict, fds=()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def decode_message(data: bytes) -> dict | None:
    """A control message as a dict, or None for anything that is not a JSON object with an "op"."""
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        return None
    return message


# --- the server --------------------------------------------------------------------------------


class _Config:
    """What the parent passes on the command line (JSON)."""

    def __init__(self, raw: dict) -> None:
        self.fd = int(raw["fd"])
        self.tmp = str(raw["tmp"])
        self.drop = raw.get("drop")  # [uid, gid] or None
        program = raw.get("seccomp")
        self.pid_index = int(raw.get("pid_index", -1))
        self.filter = None
        if program:
            data = bytes.fromhex(program)
            self.filter = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
        # built once by harness.prepare_children: the children's sys.stdin/stdout/stderr, the
        # filter's descriptor, the prctl calls that load it, the view of its pid slot
        self.stdio = self.fprog = self.seccomp_calls = self.pid_slot = None


def main(raw_config: str) -> int:
    config = _Config(json.loads(raw_config))
    sock = socket.socket(fileno=config.fd)
    harness.warm_up()
    harness.prepare_children(config)
    gc.collect()
    gc.freeze()  # the children's collector never walks (and copies) the server's objects
    baseline = _address_space_in_use()
    os.makedirs(config.tmp, exist_ok=True)
    send_message(
        sock,
        {
            "op": "hello",
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "baseline_mb": baseline // (1 << 20),
            "seccomp": config.filter is not None,
            "uid": os.getuid(),
        },
    )
    standby = _Standby.fork(sock, config, baseline)
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 8)
        except OSError:
            return 1
        if not data:
            for fd in fds:
                os.close(fd)
            return 0  # the parent closed the socket: recycle or shutdown (the standby child follows)
        message = decode_message(data)
        if message is None or message["op"] != "run" or len(fds) not in RUN_FDS:
            for fd in fds:
                os.close(fd)
            continue  # a late "kill" for a child that already ended, or garbage
        if not _run(sock, config, message.get("limits") or {}, fds, baseline, standby):
            return 0
        if not _wipe_tmp(config):
            return 3  # could not clean /tmp: exit, the parent starts a fresh sandbox
        # The next child is forked from this frame, which a student can walk up to: nothing of
        # the last run may be left in it (its message, descriptors or child).
        data = fds = message = standby = None
        standby = _Standby.fork(sock, config, baseline)


class _Standby:
    """The next run's child, forked while the server is idle so a run does not wait for the fork
    (on this VM with nested paging it took 0.2-0.4 ms off every run even back to back, measured
    with `python -m autograder.sandbox --bench`; between real jobs the server is idle anyway).

    It holds nothing but the server's state: it closes the control socket at once and blocks
    until the server hands it a job (limits and the run's descriptors, over its own socket pair),
    then sets itself up exactly as a freshly forked child does (harness.child). It is forked
    after /tmp was emptied, so it starts from the same state a fork at run time would.
    """

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.channel = channel

    @classmethod
    def fork(cls, sock: socket.socket, config: _Config, baseline: int) -> _Standby | None:
        sock_fd = sock.fileno()
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:  # no process to spare right now: the run forks its own child
            ours.close()
            theirs.close()
            return None
        if pid == 0:
            try:
                # by number: the socket objects' close() touched ~35 pages of the server's
                # memory (copy-on-write faults); nothing here uses those objects again
                os.close(sock_fd)
                os.close(ours.fileno())
                data, fds, _flags, _addr = socket.recv_fds(theirs, MAX_MESSAGE, 8)
                if not data:
                    os._exit(0)  # the server went away: nothing to run
                limits = harness.decode_limits(data)
            except BaseException:
                os._exit(harness.EXIT_SETUP_FAILED)
            if len(fds) not in RUN_FDS:
                os._exit(harness.EXIT_SETUP_FAILED)
            harness.child(config, limits, fds, baseline)  # never returns
        theirs.close()
        return cls(pid, ours)

    def hand_over(self, limits: dict, fds: list[int]) -> bool:
        """Send the job to the waiting child; False when it is gone (then fork at run time).

        Only a child already dead is noticed (its socket closed): one killed from outside a moment
        before (the OOM killer, an operator) may still take the job, which then ends as killed,
        as a child forked at run time and killed at once would.
        """
        try:
            socket.send_fds(self.channel, [harness.encode_limits(limits)], fds)
            return True
        except OSError:
            _kill(self.pid)
            os.waitpid(self.pid, 0)
            return False
        finally:
            self.channel.close()


def _run(sock, config: _Config, limits: dict, fds: list[int], baseline: int, standby: _Standby | None) -> bool:
    """Run a job in the standby child (or a child forked now) and report how it ended. False
    when the parent went away."""
    wall_s = float(limits.get("wall_s", 10.0))
    started = time.monotonic()
    if standby is not None and standby.hand_over(limits, fds):
        pid = standby.pid
    else:
        pid = os.fork()
        if pid == 0:
            harness.child(config, limits, fds, baseline)  # never returns
    for fd in fds:
        os.close(fd)
    try:  # from here on the parent counts the wall limit (not while we were cleaning /tmp)
        send_message(sock, {"op": "started"})
    except OSError:
        _kill(pid)
    how = None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    alive = True
    parent_gone = False
    while alive:
        remaining = started + wall_s - time.monotonic()
        if remaining <= 0:
            _kill(pid)
            how = how or "wall"
            break
        timeout_ms = remaining * 1000 if pidfd is not None else min(remaining * 1000, 5)
        for fd, _event in poller.poll(max(1, int(timeout_ms))):
            if fd == pidfd:
                alive = False
            elif fd == sock.fileno():
                data, extra, _f, _a = socket.recv_fds(sock, MAX_MESSAGE, 8)
                for extra_fd in extra:
                    os.close(extra_fd)
                if not data:
                    _kill(pid)
                    how, alive, parent_gone = "killed", False, True
                elif (decode_message(data) or {}).get("op") == "kill":
                    _kill(pid)
                    how = how or "killed"
        if pidfd is None and alive:
            alive = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    _, status, usage = os.wait4(pid, 0)
    if pidfd is not None:
        os.close(pidfd)
    wall = time.monotonic() - started
    report = {
        "op": "exit",
        "how": how or ("signaled" if os.WIFSIGNALED(status) else "exited"),
        "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
        "maxrss_kb": usage.ru_maxrss,
        "minflt": usage.ru_minflt,  # mostly copy-on-write faults: what a fork costs the child
    }
    if parent_gone:
        return False
    try:
        send_message(sock, report)
    except OSError:
        return False
    return True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _address_space_in_use() -> int:
    """Bytes of address space this process uses (no /proc here): the smallest RLIMIT_AS at which
    one more page can still be mapped, found by bisection. Children start from this baseline."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    lo, hi = 0, 1 << 46
    try:
        while hi - lo > (1 << 20):
            mid = (lo + hi) // 2
            resource.setrlimit(resource.RLIMIT_AS, (mid, hard))
            try:
                probe = mmap.mmap(-1, mmap.PAGESIZE)
            except (OSError, MemoryError):
                lo = mid
            else:
                probe.close()
                hi = mid
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return hi


def _wipe_tmp(config: _Config) -> bool:
    """Empty /tmp between runs so no submission sees another's files. True when clean."""
    try:
        if not os.listdir(config.tmp):
            return True
    except OSError:
        pass
    pid = os.fork()
    if pid == 0:  # as the student's uid: it owns everything the student created
        code = 1
        try:
            harness.drop_privileges(config)
            resource.setrlimit(resource.RLIMIT_CPU, (20, 21))
            _remove_contents(config.tmp)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.002)
    else:
        _kill(pid)
        os.waitpid(pid, 0)
        return False
    try:
        return not os.listdir(config.tmp)
    except OSError:
        return False


def _remove_contents(path: str) -> None:
    for root, dirs, _files in os.walk(path, topdown=True):
        for name in dirs:  # make every directory listable and writable before descending
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, stat.S_IRWXU)
    for name in os.listdir(path):
        full = os.path.join(path, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.unlink(full)
