"""Docker's seccomp profile format, read the way dockerd applies it, and loaded with libseccomp.

dockerd keeps a rule of a profile only if it applies to the container: every capability in
`includes.caps` granted, the architecture in `includes.arches`, the kernel at least
`includes.minKernel`, no capability of `excludes.caps` granted and the architecture not in
`excludes.arches`. The worker drops every capability, so capability-gated rules never apply to it.
`Filter` turns the applying rules into a libseccomp filter for the running architecture, as runc
does, so a test can run bubblewrap under what the worker's container would enforce.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import json
import platform
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILE_PATH = REPO / "deploy" / "seccomp-bwrap.json"
OUR_TAG = "nn-autograder:"  # the comment that marks our additions to Docker's default profile
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}  # platform.machine() -> dockerd's arch names

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_NAMESPACES = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, as moby
SIGCHLD = 17

_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_OPS = {  # enum scmp_compare
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}


def load_profile(path: Path = PROFILE_PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def native_arch() -> str | None:
    """dockerd's name for this machine's architecture, or None when we have no table for it."""
    return GO_ARCH.get(platform.machine())


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(re.match(r"\d+", part).group()) for part in text.split(".")[:2])


def applies(
    rule: dict, arch: str, caps: frozenset[str] = frozenset(), kernel: str | None = None
) -> bool:
    """Whether dockerd keeps this rule for a container on `arch` with `caps` (kernel None: any)."""
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("caps") and not set(includes["caps"]) <= caps:
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if includes.get("minKernel") and kernel and _version(kernel) < _version(includes["minKernel"]):
        return False
    if set(excludes.get("caps") or ()) & caps:
        return False
    return arch not in (excludes.get("arches") or ())


def applying_rules(profile: dict, arch: str, caps: frozenset[str] = frozenset()) -> list[dict]:
    return [rule for rule in profile["syscalls"] if applies(rule, arch, caps)]


def allowing_rules(profile: dict, arch: str, name: str) -> list[dict]:
    """The rules that allow syscall `name`, with or without conditions, in a capability-less container."""
    return [
        rule
        for rule in applying_rules(profile, arch)
        if name in rule["names"] and rule["action"] == "SCMP_ACT_ALLOW"
    ]


def _holds(condition: dict, args: tuple[int, ...]) -> bool:
    value = args[condition["index"]] if condition["index"] < len(args) else 0
    datum, op = condition["value"], condition["op"]
    if op == "SCMP_CMP_MASKED_EQ":  # Docker's "value" is the mask, "valueTwo" the expected bits
        return value & datum == condition.get("valueTwo", 0)
    return {
        "SCMP_CMP_NE": value != datum,
        "SCMP_CMP_LT": value < datum,
        "SCMP_CMP_LE": value <= datum,
        "SCMP_CMP_EQ": value == datum,
        "SCMP_CMP_GE": value >= datum,
        "SCMP_CMP_GT": value > datum,
    }[op]


def permits(profile: dict, arch: str, name: str, args: tuple[int, ...] = ()) -> bool:
    """Whether a capability-less container may call `name` with these arguments."""
    return any(
        all(_holds(condition, args) for condition in rule.get("args") or ())
        for rule in allowing_rules(profile, arch, name)
    )


def our_rules(profile: dict) -> list[dict]:
    return [rule for rule in profile["syscalls"] if rule.get("comment", "").startswith(OUR_TAG)]


def without_our_names(profile: dict, names: set[str]) -> dict:
    """A copy of the profile with `names` taken out of our additions (all of them: Docker's default)."""
    out = copy.deepcopy(profile)
    for rule in our_rules(out):
        rule["names"] = [name for name in rule["names"] if name not in names]
    out["syscalls"] = [rule for rule in out["syscalls"] if rule["names"]]
    return out


class _ArgCmp(ctypes.Structure):
    _fields_ = [  # struct scmp_arg_cmp
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def libseccomp() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("seccomp")
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def _action(name: str, errno: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return _ACT_ALLOW
    if name == "SCMP_ACT_ERRNO":
        return _ACT_ERRNO | ((1 if errno is None else errno) & 0xFFFF)
    raise ValueError(f"action {name} is not used by this profile")


class Filter:
    """A libseccomp filter built from a profile for the running architecture, capability-less.

    Build it in the parent; call `load()` in the child (e.g. subprocess's preexec_fn) to apply it
    to that process and everything it executes; `release()` in the parent afterwards.
    """

    def __init__(self, lib: ctypes.CDLL, profile: dict, arch: str) -> None:
        self.lib = lib
        self.ctx = lib.seccomp_init(
            _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
        )
        if not self.ctx:
            raise OSError("seccomp_init failed")
        for rule in applying_rules(profile, arch):
            self._add(rule)

    def _add(self, rule: dict) -> None:
        action = _action(rule["action"], rule.get("errnoRet"))
        args = rule.get("args") or []
        conditions = (_ArgCmp * max(len(args), 1))(
            *(_ArgCmp(a["index"], _OPS[a["op"]], a["value"], a.get("valueTwo", 0)) for a in args)
        )
        for name in rule["names"]:
            number = self.lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # not a system call of this architecture: runc skips these as well
                continue
            rc = self.lib.seccomp_rule_add_array(self.ctx, action, number, len(args), conditions)
            if rc != 0:
                raise OSError(-rc, f"seccomp_rule_add_array({name}) failed")

    def load(self) -> None:
        rc = self.lib.seccomp_load(self.ctx)
        if rc != 0:
            raise OSError(-rc, "seccomp_load failed")

    def release(self) -> None:
        self.lib.seccomp_release(self.ctx)
