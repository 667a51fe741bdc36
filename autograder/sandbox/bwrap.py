"""The bubblewrap command line: what the sandbox sees, which namespaces, which identity.

The sandbox's file system is built from nothing (bwrap's empty root) and then made read-only:
- /opt/python/bin/python3       the interpreter binary (one file)
- /opt/python/lib/python3.X     its standard library (site-packages hidden under an empty, read-only tmpfs)
- /opt/python/lib/libpython*.so the shared libpython, when the interpreter has one
- /opt/site/numpy, numpy.libs   NumPy and its bundled OpenBLAS, nothing else from site-packages
- /usr/lib/<multiarch>, /lib64  the C libraries (libc, libm, libz, libffi, ...)
- /dev/null, /dev/zero, /dev/urandom
- /tmp                          a small size-limited tmpfs, the only writable place
No /etc, /home, /root, /proc, /sys, no project source, no database, no settings.

Namespaces: user (when not root, see below), PID, IPC, network (no interface but a down loopback),
UTS and cgroup. --die-with-parent ties the sandbox to the worker, --new-session stops terminal
injection, and bwrap itself is started with an EMPTY environment: bwrap's own pid 1 keeps the
environment it was started with even under --clearenv, so a secret there would be readable.

Identity: RLIMIT_NPROC is ignored for kernel uid 0, and bwrap's user namespace always maps the
sandbox user onto the caller's uid. So
- a non-root worker (production: uid 10001) gets a user namespace with uid/gid 65534 inside,
  whose processes are counted per namespace;
- a root worker (development, CI) gets no user namespace; the fork server keeps only
  CAP_SETUID/CAP_SETGID/CAP_KILL and drops every student child to uid/gid 65534 (nobody).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SANDBOX_PYTHON = "/opt/python/bin/python3"
SANDBOX_LIBDIR = "/opt/python/lib"
SANDBOX_SITE = "/opt/site"
SANDBOX_TMP = "/tmp"
NOBODY = 65534

# The only variables the sandbox (and so student code) sees. One BLAS thread: with OpenBLAS's
# default thread count, throughput on a 2-core machine fell 3.5x under parallel grading.
BASE_ENV = {
    "PATH": "/opt/python/bin",
    "HOME": SANDBOX_TMP,
    "TMPDIR": SANDBOX_TMP,
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class RuntimeNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class Runtime:
    """Where the host's interpreter, standard library and NumPy live."""

    executable: Path
    stdlib: Path
    libpython: Path | None
    numpy_dir: Path
    numpy_libs: Path | None
    python_version: str  # "3.11"

    @property
    def sandbox_stdlib(self) -> str:
        return f"{SANDBOX_LIBDIR}/python{self.python_version}"


def discover_runtime() -> Runtime:
    """The running interpreter's base installation (not the venv) and the NumPy it imports."""
    import numpy

    executable = Path(os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(os.path.realpath(sysconfig.get_paths()["stdlib"]))
    if not (stdlib / "os.py").is_file():
        raise RuntimeNotFound(f"no standard library at {stdlib}")
    libpython = None
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
        libdir = sysconfig.get_config_var("LIBDIR")
        if name and libdir and (Path(libdir) / name).exists():
            libpython = Path(os.path.realpath(Path(libdir) / name))
    numpy_dir = Path(os.path.realpath(Path(numpy.__file__).parent))
    libs = numpy_dir.with_name("numpy.libs")
    return Runtime(
        executable=executable,
        stdlib=stdlib,
        libpython=libpython,
        numpy_dir=numpy_dir,
        numpy_libs=libs if libs.is_dir() else None,
        python_version=version,
    )


def find_bwrap() -> str | None:
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None
    )


def root_mode() -> bool:
    """True when the worker runs as root: no user namespace, children drop to nobody instead."""
    return os.geteuid() == 0


def sandbox_env(runtime: Runtime) -> dict[str, str]:
    env = dict(BASE_ENV)
    if runtime.libpython is not None:
        env["LD_LIBRARY_PATH"] = SANDBOX_LIBDIR  # the binary's RUNPATH names the host's path
    return env


def bwrap_command(bwrap: str, runtime: Runtime, *, tmp_mb: int, as_root: bool) -> list[str]:
    """The bwrap arguments up to (not including) the interpreter command line."""
    args = [bwrap]
    if not as_root:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    args += [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv",
    ]  # fmt: skip
    if as_root:  # without --cap-drop ALL first, bwrap run by root keeps nearly every capability
        args += ["--cap-drop", "ALL"]
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL"):
            args += ["--cap-add", cap]
    for key, value in sandbox_env(runtime).items():
        args += ["--setenv", key, value]
    mounts = _library_mounts()
    mounts += [["--ro-bind", str(runtime.executable), SANDBOX_PYTHON]]
    mounts += [["--ro-bind", str(runtime.stdlib), runtime.sandbox_stdlib]]
    site_packages = runtime.stdlib / "site-packages"
    if site_packages.is_dir():  # pyenv / python.org layouts keep site-packages inside the stdlib
        target = f"{runtime.sandbox_stdlib}/site-packages"
        mounts += [["--perms", "0755", "--tmpfs", target], ["--remount-ro", target]]
    if runtime.libpython is not None:
        mounts += [
            ["--ro-bind", str(runtime.libpython), f"{SANDBOX_LIBDIR}/{runtime.libpython.name}"]
        ]
    mounts += [["--ro-bind", str(runtime.numpy_dir), f"{SANDBOX_SITE}/numpy"]]
    if runtime.numpy_libs is not None:
        mounts += [["--ro-bind", str(runtime.numpy_libs), f"{SANDBOX_SITE}/numpy.libs"]]
    mounts += [["--dev-bind", "/dev/null", "/dev/null"]]
    for dev in ("/dev/zero", "/dev/urandom"):
        mounts += [["--dev-bind", dev, dev], ["--remount-ro", dev]]
    mounts += [["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", SANDBOX_TMP]]
    # bwrap creates missing parent directories 0700 when run as root: make them 0755 ourselves
    for directory in _parent_dirs([m[-1] for m in mounts]):
        args += ["--perms", "0755", "--dir", directory]
    for mount in mounts:
        args += mount
    args += ["--chdir", SANDBOX_TMP]
    args += ["--remount-ro", "/"]  # last: until now bwrap's root tmpfs was writable
    return args


def _library_mounts() -> list[list[str]]:
    """The C libraries: /lib, /lib64 and /usr/lib*, narrowed to the multiarch directory if any."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    mounts: list[list[str]] = []
    for base in ("/lib", "/lib64", "/usr/lib", "/usr/lib64"):
        if os.path.islink(base):
            mounts.append(["--symlink", os.readlink(base), base])
        elif os.path.isdir(base):
            narrowed = os.path.join(base, multiarch) if multiarch else ""
            if base.endswith("lib") and narrowed and os.path.isdir(narrowed):
                mounts.append(["--ro-bind", narrowed, narrowed])
            else:
                mounts.append(["--ro-bind", base, base])
    return mounts


def _parent_dirs(targets: list[str]) -> list[str]:
    """Directories bwrap would have to invent for these mount targets, parents first."""
    targets_set = set(targets)

    def inside_target(path: str) -> bool:
        return any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets_set)

    out: set[str] = set()
    for target in targets:
        parent = os.path.dirname(target)
        while parent not in ("/", ""):
            if not inside_target(parent):
                out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out, key=lambda p: (p.count("/"), p))
