"""The parent's handle on one fork server: start it, wait for it, run one job, kill it.

The fork server is started under bubblewrap (or, only in development with allow_unsandboxed, as a
plain subprocess) with an empty environment. Its code is frames.py, harness.py and forkserver.py
(and nncore's case-script runner) passed as source text on the command line, so the sandbox needs no project file.

One run, from the parent's side: write the job into a memfd; create three pipes (stdout, stderr,
result); send {"op": "run"} with the memfd and the three write ends; close our copies of them; then
read the pipes ourselves until EOF while waiting for the server's {"op": "exit"} report. Output over
the limit or results over the limit make us send {"op": "kill"}. If the server does not report
within wall time + a grace period, or breaks the protocol, the run is a sandbox failure and the
caller replaces the server. Everything read here is bounded.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox import bwrap, forkserver, frames
from autograder.sandbox.limits import Limits
from autograder.sandbox.seccomp import Filter
from nncore.problems.code import harness as code_harness

# The sandbox's `python -c` program: load frames.py, nncore's case-script modules (values.py and
# harness.py, under their own package names), the sandbox's harness.py and forkserver.py from
# argv, run the server. sys.argv and sys.orig_argv are emptied first: student code found the
# runner's ~75 KB of source text there (QA; it holds no secret, but it is not theirs to read).
BOOTSTRAP = """\
import sys, types
def _load(name, source):
    module = types.ModuleType(name)
    module.__file__ = "<" + name + ">"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
_args = sys.argv[1:]
del sys.argv[1:]
sys.orig_argv = sys.orig_argv[:1]
sys.path.insert(0, _args[0])
import numpy
for _package in ("nncore", "nncore.problems", "nncore.problems.code"):
    sys.modules[_package] = types.ModuleType(_package)
    sys.modules[_package].__path__ = []
_load("sandbox_frames", _args[1])
_load("nncore.problems.code.values", _args[2])
_load("nncore.problems.code.harness", _args[3])
_load("sandbox_harness", _args[4])
_main, _config = _load("sandbox_forkserver", _args[5]).main, _args[6]
del _args
sys.exit(_main(_config))
"""

GRACE_S = 3.0  # on top of wall_s, for the server to kill, reap and report
START_S = (
    45.0  # for the server to take the job (it may still be wiping the last run's /tmp: <= 30 s)
)
DRAIN_S = 2.0  # after the exit report, for the pipes to reach EOF
_READ_CHUNK = 1 << 16
_PIPE_SIZE = 1 << 20  # fewer wake-ups for large results (F_SETPIPE_SZ; best effort)
_EXIT_HOWS = {"exited", "signaled", "wall", "killed"}


class ServerFailed(RuntimeError):
    """The fork server did not start or broke the protocol."""


@dataclass
class RawRun:
    """What one run produced, unparsed. `failure` is set when the sandbox itself failed."""

    exit: dict | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    results: bytes = b""
    output_exceeded: bool = False
    result_exceeded: bool = False
    failure: str | None = None
    timed_out: bool = False  # the parent's own deadline passed (the server did not report)
    started: bool = False  # the server gave the child the job: student code may have run
    # With gated cases: where the visible cases' records end in `results` (None: the gate was
    # never opened, so every record there came before any gated input reached the child).
    visible_end: int | None = None
    # With gated cases: how many bytes of stdout and stderr had come before the gated inputs were
    # sent (the child flushes its output before each record, so the visible cases' output is all
    # there); None when they were never sent, so all the output came before them.
    visible_output: tuple[int, int] | None = None


def _source(name: str) -> str:
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def _script_source(name: str) -> str:
    """A module of nncore.problems.code (the case-script runner: standard library + NumPy)."""
    return (Path(code_harness.__file__).parent / name).read_text(encoding="utf-8")


class ServerProcess:
    """One fork server (a bwrap process tree, or a plain subprocess when unsandboxed)."""

    def __init__(
        self,
        runtime: bwrap.Runtime,
        seccomp_filter: Filter | None,
        *,
        bwrap_path: str | None,
        tmp_mb: int = 64,
    ) -> None:
        self.runtime = runtime
        self.sandboxed = bwrap_path is not None
        self.jobs = 0
        self.hello: dict | None = None
        self._private_tmp: str | None = None
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = parent_sock
        self._stderr = tempfile.TemporaryFile()
        as_root = bwrap.root_mode()
        config = {
            "fd": child_sock.fileno(),
            "seccomp": seccomp_filter.program.hex() if seccomp_filter else None,
            "pid_index": seccomp_filter.pid_index if seccomp_filter else -1,
        }
        if self.sandboxed:
            env: dict[str, str] = {}  # bwrap's own pid 1 keeps this environment: keep it empty
            config["tmp"] = bwrap.SANDBOX_TMP
            config["drop"] = [bwrap.NOBODY, bwrap.NOBODY] if as_root else None
            site = bwrap.SANDBOX_SITE
            command = bwrap.bwrap_command(bwrap_path, runtime, tmp_mb=tmp_mb, as_root=as_root)
            command.append(bwrap.SANDBOX_PYTHON)
        else:
            self._private_tmp = tempfile.mkdtemp(prefix="sandbox-unsandboxed-")
            env = dict(bwrap.BASE_ENV, HOME=self._private_tmp, TMPDIR=self._private_tmp)
            config["tmp"] = self._private_tmp
            config["drop"] = None
            site = str(runtime.numpy_dir.parent)
            command = [str(runtime.executable)]
        command += ["-I", "-S", "-B", "-c", BOOTSTRAP, site]
        command += [
            _source("frames.py"),
            _script_source("values.py"),
            _script_source("harness.py"),
            _source("harness.py"),
            _source("forkserver.py"),
        ]
        command.append(json.dumps(config))
        try:
            self.proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(child_sock.fileno(),),
                start_new_session=True,
            )
        except OSError as exc:
            parent_sock.close()
            raise ServerFailed(f"could not start the sandbox: {exc}") from exc
        finally:
            child_sock.close()

    # --- lifecycle ---------------------------------------------------------------------------

    def wait_ready(self, timeout: float) -> dict:
        """Block until the server's hello; ServerFailed (with its stderr) if it never comes."""
        if self.hello is not None:
            return self.hello
        ready, _, _ = select.select([self.sock], [], [], timeout)
        data = b""
        if ready:
            try:
                data = self.sock.recv(forkserver.MAX_MESSAGE)
            except OSError:
                data = b""
        message = forkserver.decode_message(data) if data else None
        if message is None or message.get("op") != "hello":
            if ready:  # it exited: let it finish writing why before reading its stderr
                try:
                    self.proc.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    pass
            output = self.stderr_text()  # before kill(), which closes the stderr file
            self.kill()
            why = "timed out" if not ready else "exited"
            raise ServerFailed(f"the sandbox {why} before it was ready: {output or 'no output'}")
        self.hello = message
        return message

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self, limit: int = 2000) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read(limit).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def close(self, timeout: float = 1.0) -> None:
        """Ask the server to exit (EOF on its socket); kill it if it does not."""
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._cleanup()

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        self._stderr.close()
        if self._private_tmp:
            shutil.rmtree(self._private_tmp, ignore_errors=True)
            self._private_tmp = None

    # --- one run -----------------------------------------------------------------------------

    def run(self, job: bytes, limits: Limits, gated: Gated | None = None) -> RawRun:
        """Run one job; with `gated`, its hidden cases' inputs go through the gate once the
        first `gated.after` result records are in (see harness.GATE_FD)."""
        self.jobs += 1
        raw = RawRun()
        memfd = os.memfd_create("sandbox-job", os.MFD_CLOEXEC)
        pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]
        gate = os.pipe2(os.O_CLOEXEC) if gated is not None else None
        try:
            view = memoryview(job)
            while view:
                view = view[os.write(memfd, view) :]
            for r, _w in pipes:
                try:
                    fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
                except OSError:
                    pass
                os.set_blocking(r, False)
            if gate is not None:
                os.set_blocking(gate[1], False)
            forkserver.send_message(
                self.sock,
                {"op": "run", "limits": limits.to_wire()},
                [memfd] + [w for _r, w in pipes] + ([gate[0]] if gate is not None else []),
            )
        except OSError as exc:
            raw.failure = f"could not hand the job to the sandbox: {exc}"
        finally:
            os.close(memfd)
            for _r, w in pipes:
                os.close(w)
            if gate is not None:
                os.close(gate[0])
        writer = _GateWriter(gate[1], gated) if gate is not None else None
        try:
            if raw.failure is None:
                self._collect(raw, [r for r, _w in pipes], limits, writer)
        finally:
            for r, _w in pipes:
                os.close(r)
            if writer is not None:
                writer.close()
        return raw

    def _collect(self, raw: RawRun, readers: list[int], limits: Limits, gate: _GateWriter | None = None) -> None:
        out_r, err_r, res_r = readers
        buffers = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
        output_seen = 0
        kill_sent = False
        poller = select.poll()
        for fd in readers:
            poller.register(fd, select.POLLIN)
        sock_fd = self.sock.fileno()
        poller.register(sock_fd, select.POLLIN)
        open_pipes = set(readers)
        deadline = time.monotonic() + START_S
        while open_pipes or raw.exit is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raw.timed_out = True
                raw.failure = "the sandbox did not report the end of the run in time"
                break
            for fd, _event in poller.poll(max(1, int(remaining * 1000))):
                if gate is not None and fd == gate.fd:
                    if gate.write():
                        poller.unregister(fd)
                    continue
                if fd == sock_fd:
                    if not self._read_report(raw):
                        break
                    if raw.exit is not None:
                        deadline = min(deadline, time.monotonic() + DRAIN_S)
                    elif raw.started:
                        deadline = time.monotonic() + limits.wall_s + GRACE_S
                    continue
                chunk = self._read_available(fd)
                if chunk is None:
                    continue
                if not chunk:
                    poller.unregister(fd)
                    open_pipes.discard(fd)
                    continue
                buffer = buffers[fd]
                if fd == res_r:
                    room = limits.result_bytes - len(buffer)
                    buffer += chunk[: max(room, 0)]
                    if len(chunk) > room and not raw.result_exceeded:
                        raw.result_exceeded = True
                    if gate is not None and not gate.opened and gate.open_after(buffer, limits.result_bytes):
                        raw.visible_end = gate.visible_end
                        # what the visible cases printed: all of it is in the pipes by now, and
                        # nothing after this point can be (the gated inputs are not sent yet)
                        for output_fd in (out_r, err_r):  # bounded: stops past the output limit
                            while (
                                output_fd in open_pipes
                                and output_seen <= limits.output_bytes
                                and (more := self._read_available(output_fd)) is not None
                            ):
                                output_seen += self._keep_output(buffers[output_fd], more, limits)
                                if not more:
                                    poller.unregister(output_fd)
                                    open_pipes.discard(output_fd)
                        raw.visible_output = (len(buffers[out_r]), len(buffers[err_r]))
                        if not gate.write():  # more than the pipe holds: the rest when it drains
                            poller.register(gate.fd, select.POLLOUT)
                else:
                    output_seen += self._keep_output(buffer, chunk, limits)
                if output_seen > limits.output_bytes:
                    raw.output_exceeded = True
                if (
                    (raw.result_exceeded or raw.output_exceeded)
                    and not kill_sent
                    and raw.exit is None
                ):
                    kill_sent = self._send_kill(raw)
            if raw.failure is not None:
                break
        raw.stdout, raw.stderr, raw.results = (
            bytes(buffers[out_r]),
            bytes(buffers[err_r]),
            bytes(buffers[res_r]),
        )

    @staticmethod
    def _read_available(fd: int) -> bytes | None:
        """The next chunk of a non-blocking pipe: b"" at its end, None when empty now."""
        try:
            return os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return None

    @staticmethod
    def _keep_output(buffer: bytearray, chunk: bytes, limits: Limits) -> int:
        """Append what fits under the output limit; how many bytes came (counted against it)."""
        buffer += chunk[: max(limits.output_bytes - len(buffer), 0)]
        return len(chunk)

    def _send_kill(self, raw: RawRun) -> bool:
        try:
            forkserver.send_message(self.sock, {"op": "kill"})
        except OSError as exc:
            raw.failure = f"could not reach the sandbox: {exc}"
        return True

    def _read_report(self, raw: RawRun) -> bool:
        try:
            data = self.sock.recv(forkserver.MAX_MESSAGE)
        except OSError as exc:
            raw.failure = f"lost the sandbox: {exc}"
            return False
        if not data:
            raw.failure = (
                f"the sandbox exited during the run ({self.stderr_text(500) or 'no output'})"
            )
            return False
        message = forkserver.decode_message(data)
        if message is not None and message.get("op") == "started" and not raw.started:
            raw.started = True
            return True
        report = _valid_report(message) if raw.started else None
        if report is None:
            raw.failure = "the sandbox sent a malformed report"
            return False
        raw.exit = report
        return True


def _valid_report(message: dict | None) -> dict | None:
    """The exit report with checked types, or None."""
    if not message or message.get("op") != "exit" or message.get("how") not in _EXIT_HOWS:
        return None
    code, sig = message.get("code"), message.get("signal")
    if code is not None and not isinstance(code, int):
        return None
    if sig is not None and not isinstance(sig, int):
        return None
    try:
        cpu_s, wall_s = float(message.get("cpu_s", 0.0)), float(message.get("wall_s", 0.0))
        maxrss = int(message.get("maxrss_kb", 0))
        minflt = int(message.get("minflt", 0))
    except (TypeError, ValueError):
        return None
    return {
        "how": message["how"],
        "code": code,
        "signal": sig,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "maxrss_kb": maxrss,
        "minflt": minflt,
    }


@dataclass
class Gated:
    """Hidden cases of a job: their encoded inputs, sent through the gate once the first `after`
    result records (the visible cases') have arrived."""

    after: int
    inputs: bytes
    result_dtypes: frozenset[int]  # what the visible records' arrays may be (a script's: uint8)


class _GateWriter:
    """The parent's end of the gate: closed with nothing sent while the visible records are
    incomplete, opened (the inputs written, then EOF) once they are all in."""

    def __init__(self, fd: int, gated: Gated) -> None:
        self.fd: int | None = fd
        self.gated = gated
        self.pending = memoryview(gated.inputs)
        self.opened = False
        self.visible_end: int | None = None
        self._checked = (0, 0)  # (offset, records) of the complete records seen so far

    def open_after(self, results: bytearray, max_bytes: int) -> bool:
        """Open the gate if `results` holds the visible records (True); a malformed stream
        closes it for good: the child reads EOF and the hidden cases get no result. Each call
        goes on from the last complete record (a student's huge record costs one pass)."""
        offset, done = self._checked
        state, offset, more = frames.skip_records(
            results, self.gated.after - done, start=offset, max_bytes=max_bytes, dtypes=self.gated.result_dtypes
        )
        self._checked = (offset, done + more)
        if state == "truncated":
            return False
        self.opened = True
        if state == "invalid":
            self.close()
            return False
        self.visible_end = offset
        return True

    def write(self) -> bool:
        """Write what the pipe takes; True when all is written (or the child went away) and
        the gate is closed."""
        if self.fd is None:
            return True
        try:
            while self.pending:
                self.pending = self.pending[os.write(self.fd, self.pending) :]
        except BlockingIOError:
            return False
        except OSError:  # the child closed its end or ended: it gets no more inputs
            pass
        self.close()
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
