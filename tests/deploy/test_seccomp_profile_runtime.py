"""The worker's seccomp profile, enforced for real: bubblewrap runs under it and needs all of it.

No Docker engine runs here, so this does what runc does with deploy/seccomp-bwrap.json (load the
rules that apply to a container without capabilities with libseccomp) and runs the project's own
bwrap command line (autograder.sandbox.bwrap) under it as a non-root user, like the worker in its
container. The interpreter is replaced by `id -u`, so the run needs no Python readable by that
user; the namespaces, mounts, pivot and hostname are bwrap's, exactly as for the fork server.
Then each of our additions is taken away in turn: bubblewrap must fail without any one of them.
Skipped with the reason where bubblewrap, libseccomp or unprivileged user namespaces are missing;
FAILS under CI=true.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers_seccomp import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    SIGCHLD,
    Filter,
    applies,
    libseccomp,
    load_profile,
    native_arch,
    our_rules,
    without_our_names,
)

from autograder.sandbox import bwrap

IN_CI = os.environ.get("CI") == "true"
WORKER_UID = 10001  # the image's user (Dockerfile); used when these tests run as root
PROFILE = load_profile()


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the seccomp profile must be checked under CI=true, but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lib():
    if native_arch() is None:
        _unavailable(f"no seccomp architecture table for {os.uname().machine}")
    lib = libseccomp()
    if lib is None:
        _unavailable(
            "libseccomp is not installed (Debian: libseccomp2; make test installs it as root)"
        )
    return lib


@pytest.fixture(scope="module")
def sandbox_command():
    """bwrap's command line for a non-root worker, with `id -u` as the sandboxed program."""
    bwrap_path = bwrap.find_bwrap()
    if bwrap_path is None:
        _unavailable("bubblewrap (bwrap) is not installed")
    root = Path(
        tempfile.mkdtemp(prefix="deploy-seccomp-")
    )  # not pytest's tmp: must be world-readable
    try:
        (root / "stdlib" / "site-packages").mkdir(parents=True)  # as in the image: /usr/local/lib
        (root / "numpy").mkdir()
        for directory in (root, root / "stdlib", root / "stdlib" / "site-packages", root / "numpy"):
            directory.chmod(0o755)
        runtime = bwrap.Runtime(
            executable=Path(os.path.realpath(shutil.which("id") or "/usr/bin/id")),
            stdlib=root / "stdlib",
            libpython=None,
            numpy_dir=root / "numpy",
            numpy_libs=None,
            python_version="3.11",
        )
        command = bwrap.bwrap_command(bwrap_path, runtime, tmp_mb=16, as_root=False)
        yield [*command, bwrap.SANDBOX_PYTHON, "-u"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_as_worker(command: list[str], seccomp: Filter | None) -> subprocess.CompletedProcess:
    """Run `command` as a non-root user with no new privileges and (optionally) the filter."""

    def enter() -> None:
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(WORKER_UID)
            os.setuid(WORKER_UID)
        if seccomp is not None:
            seccomp.load()

    return subprocess.run(
        command, env={}, cwd="/", preexec_fn=enter, capture_output=True, timeout=60, check=False
    )


def _run_under(lib, profile: dict | None, command: list[str]) -> subprocess.CompletedProcess:
    seccomp = Filter(lib, profile, native_arch()) if profile is not None else None
    try:
        return _run_as_worker(command, seccomp)
    finally:
        if seccomp is not None:
            seccomp.release()


@pytest.fixture(scope="module")
def baseline(lib, sandbox_command):
    """Without any filter the sandbox must start, or this machine cannot tell us anything."""
    result = _run_under(lib, None, sandbox_command)
    if result.returncode != 0:
        _unavailable(
            "bubblewrap cannot create an unprivileged user namespace here: "
            + result.stderr.decode(errors="replace").strip()
        )
    return result


def _added_names() -> list[str]:
    """The calls our additions allow on this architecture (the s390 variant does not apply)."""
    arch = native_arch() or "amd64"
    return sorted({n for rule in our_rules(PROFILE) if applies(rule, arch) for n in rule["names"]})


def test_bubblewrap_sandbox_starts_under_the_profile(lib, sandbox_command, baseline):
    result = _run_under(lib, PROFILE, sandbox_command)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.decode().strip() == str(bwrap.NOBODY)  # inside: the sandbox user


def test_docker_default_profile_refuses_bubblewrap(lib, sandbox_command, baseline):
    """Our additions taken away, the profile is Docker's default (less ptrace): bwrap cannot start."""
    result = _run_under(lib, without_our_names(PROFILE, set(_added_names())), sandbox_command)
    assert result.returncode != 0
    assert b"bwrap:" in result.stderr


@pytest.mark.parametrize("name", _added_names())
def test_every_addition_is_needed(lib, sandbox_command, baseline, name):
    result = _run_under(lib, without_our_names(PROFILE, {name}), sandbox_command)
    assert result.returncode != 0, f"bubblewrap starts without {name}: the profile allows too much"
    assert b"bwrap:" in result.stderr


PROBE = r"""
import ctypes, errno, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR_CLONE, NR_UNSHARE, NR_SETNS = (int(a) for a in sys.argv[1:4])
NEWNS, NEWUSER, SIGCHLD = (int(a) for a in sys.argv[4:7])

def call(nr, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return ret, ctypes.get_errno()

def clone(flags):
    pid, err = call(NR_CLONE, flags | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
        return 0
    return err

result = {
    "clone_newns": clone(NEWNS),
    "clone_newuser_newns": clone(NEWUSER | NEWNS),
    "setns": call(NR_SETNS, -1, 0)[1],
    "unshare_newuser": call(NR_UNSHARE, NEWUSER)[1],  # last: it changes this process
}
print(json.dumps(result))
"""


def _probe(lib, profile: dict | None) -> dict:
    numbers = [lib.seccomp_syscall_resolve_name(n) for n in (b"clone", b"unshare", b"setns")]
    command = [sys.executable, "-I", "-c", PROBE, *map(str, numbers)]
    command += [str(CLONE_NEWNS), str(CLONE_NEWUSER), str(SIGCHLD)]
    seccomp = Filter(lib, profile, native_arch()) if profile is not None else None
    try:
        result = subprocess.run(
            command,
            preexec_fn=seccomp.load if seccomp else None,
            capture_output=True,
            timeout=60,
            check=True,
        )
    finally:
        if seccomp is not None:
            seccomp.release()
    return json.loads(result.stdout)


def test_namespaces_only_come_with_a_new_user_namespace(lib, baseline):
    """Even for a process that holds CAP_SYS_ADMIN: the filter alone decides, checked for real."""
    if os.geteuid() != 0:
        _unavailable("needs root, so that the kernel alone would allow every call tried here")
    assert _probe(lib, None) == {
        "clone_newns": 0,
        "clone_newuser_newns": 0,
        "setns": errno.EBADF,  # reaches the kernel, which finds no file descriptor -1
        "unshare_newuser": 0,
    }
    assert _probe(lib, PROFILE) == {
        "clone_newns": errno.EPERM,
        "clone_newuser_newns": 0,
        "setns": errno.EPERM,
        "unshare_newuser": errno.EPERM,
    }
