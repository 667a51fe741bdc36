"""The seccomp allow-list for the student child, as a classic BPF program we assemble ourselves.

Why our own BPF: the interpreter is a pyenv/venv Python that cannot import Debian's python3-seccomp,
and a PyPI binding would be one more dependency for ~100 lines of arithmetic. The program is built
once in the parent (`build_filter`), shipped to the fork server as bytes, and each child loads it
with two prctl calls (see harness.py) right before running student code: NO_NEW_PRIVS, then
SECCOMP_MODE_FILTER. Loading takes microseconds.

Policy (default: fail the call with EPERM, so Python raises PermissionError and the traceback is
clear; a foreign architecture or the x32 ABI kills the process):
- allowed: computation, memory, reading the (read-only) runtime, files under /tmp, pipes, time,
  signals to itself, threads, sleeping;
- clone only with CLONE_THREAD and no namespace flag (threads yes, fork/vfork/new processes no);
  clone3 fails with ENOSYS so the C library falls back to clone, which we can inspect;
- tgkill only to the child's own pid (patched into the program per child: `pid_index`);
- prlimit64 only on itself (pid 0), ioctl only the harmless terminal queries Python makes;
- not listed, hence EPERM: kill/tkill (the fork server, kill(-1)), socket and all networking,
  SysV and POSIX IPC (shmget, msgget, semget, mq_open), ptrace, process_vm_*, pidfd_*, execve,
  mount/unshare/setns, bpf, perf_event_open, io_uring, userfaultfd, keyctl, setuid and friends,
  mknod, chown, personality, prctl, seccomp.

Syscall numbers are tables for x86_64 and aarch64 (checked against libseccomp in the tests).
"""

from __future__ import annotations

import platform
import struct
from dataclasses import dataclass

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_OFF_NR = 0
_OFF_ARCH = 4


def _arg_lo(i: int) -> int:
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 20 + 8 * i


# classic BPF opcodes
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
EPERM = 1
ENOSYS = 38

CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME

# ioctl requests Python and NumPy make on ordinary files and pipes (isatty, terminal size, ...):
# TCGETS TIOCGWINSZ FIONREAD FIONBIO FIONCLEX FIOCLEX
_IOCTLS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_SYSCALL_BIT = 0x40000000

ALLOWED = (
    # files and descriptors (the file system is read-only except /tmp)
    "read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek close close_range "
    "open openat openat2 creat stat fstat lstat newfstatat statx access faccessat faccessat2 readlink "
    "readlinkat getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename "
    "renameat renameat2 link linkat symlink symlinkat chmod fchmod fchmodat umask utime utimes "
    "utimensat futimesat truncate ftruncate fallocate fsync fdatasync flock fcntl dup dup2 dup3 pipe "
    "pipe2 statfs fstatfs sendfile copy_file_range fadvise64 "
    # memory
    "brk mmap munmap mremap mprotect madvise mincore msync "
    # signals (to itself), timers, time
    "rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend sigaltstack "
    "alarm getitimer setitimer pause nanosleep clock_nanosleep clock_gettime clock_getres "
    "gettimeofday time times "
    # identity and information about itself
    "getpid gettid getppid getuid geteuid getgid getegid getgroups getresuid getresgid getpgrp "
    "getpgid getsid uname sysinfo getrusage getrlimit setrlimit getcpu sched_getaffinity sched_yield "
    "sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min "
    # waiting on its own descriptors
    "poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 "
    # threads and process end
    "futex set_robust_list set_tid_address rseq arch_prctl exit exit_group restart_syscall getrandom"
).split()

SYSCALLS = {
    "x86_64": {
        "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "poll": 7,
        "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13,
        "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "pwrite64": 18,
        "readv": 19, "writev": 20, "access": 21, "pipe": 22, "select": 23, "sched_yield": 24,
        "mremap": 25, "msync": 26, "mincore": 27, "madvise": 28, "dup": 32, "dup2": 33, "pause": 34,
        "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38, "getpid": 39, "sendfile": 40,
        "clone": 56, "exit": 60, "uname": 63, "fcntl": 72, "flock": 73, "fsync": 74, "fdatasync": 75,
        "truncate": 76, "ftruncate": 77, "getdents": 78, "getcwd": 79, "chdir": 80, "fchdir": 81,
        "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88,
        "readlink": 89, "chmod": 90, "fchmod": 91, "umask": 95, "gettimeofday": 96, "getrlimit": 97,
        "getrusage": 98, "sysinfo": 99, "times": 100, "getuid": 102, "getgid": 104, "geteuid": 107,
        "getegid": 108, "getppid": 110, "getpgrp": 111, "getgroups": 115, "getresuid": 118,
        "getresgid": 120, "getpgid": 121, "getsid": 124, "rt_sigpending": 127, "rt_sigtimedwait": 128,
        "rt_sigsuspend": 130, "sigaltstack": 131, "utime": 132, "statfs": 137, "fstatfs": 138,
        "sched_getparam": 143, "sched_getscheduler": 145, "sched_get_priority_max": 146,
        "sched_get_priority_min": 147, "arch_prctl": 158, "setrlimit": 160, "gettid": 186, "time": 201,
        "futex": 202, "sched_getaffinity": 204, "epoll_create": 213, "getdents64": 217,
        "set_tid_address": 218, "restart_syscall": 219, "fadvise64": 221, "clock_gettime": 228,
        "clock_getres": 229, "clock_nanosleep": 230, "exit_group": 231, "epoll_wait": 232,
        "epoll_ctl": 233, "tgkill": 234, "utimes": 235, "openat": 257, "mkdirat": 258,
        "futimesat": 261, "newfstatat": 262, "unlinkat": 263, "renameat": 264, "linkat": 265,
        "symlinkat": 266, "readlinkat": 267, "fchmodat": 268, "faccessat": 269, "pselect6": 270,
        "ppoll": 271, "set_robust_list": 273, "utimensat": 280, "epoll_pwait": 281, "fallocate": 285,
        "epoll_create1": 291, "dup3": 292, "pipe2": 293, "preadv": 295, "pwritev": 296,
        "prlimit64": 302, "getcpu": 309, "renameat2": 316, "getrandom": 318, "copy_file_range": 326,
        "preadv2": 327, "pwritev2": 328, "statx": 332, "rseq": 334, "clone3": 435, "close_range": 436,
        "openat2": 437, "faccessat2": 439, "epoll_pwait2": 441,
    },
    "aarch64": {
        "getcwd": 17, "epoll_create1": 20, "epoll_ctl": 21, "epoll_pwait": 22, "dup": 23, "dup3": 24,
        "fcntl": 25, "ioctl": 29, "flock": 32, "mkdirat": 34, "unlinkat": 35, "symlinkat": 36,
        "linkat": 37, "renameat": 38, "statfs": 43, "fstatfs": 44, "truncate": 45, "ftruncate": 46,
        "fallocate": 47, "faccessat": 48, "chdir": 49, "fchdir": 50, "fchmod": 52, "fchmodat": 53,
        "openat": 56, "close": 57, "pipe2": 59, "getdents64": 61, "lseek": 62, "read": 63,
        "write": 64, "readv": 65, "writev": 66, "pread64": 67, "pwrite64": 68, "preadv": 69,
        "pwritev": 70, "sendfile": 71, "pselect6": 72, "ppoll": 73, "readlinkat": 78,
        "newfstatat": 79, "fstat": 80, "fsync": 82, "fdatasync": 83, "utimensat": 88, "exit": 93,
        "exit_group": 94, "set_tid_address": 96, "futex": 98, "set_robust_list": 99,
        "nanosleep": 101, "getitimer": 102, "setitimer": 103, "clock_gettime": 113,
        "clock_getres": 114, "clock_nanosleep": 115, "sched_getscheduler": 120,
        "sched_getparam": 121, "sched_getaffinity": 123, "sched_yield": 124,
        "sched_get_priority_max": 125, "sched_get_priority_min": 126, "restart_syscall": 128,
        "tgkill": 131, "sigaltstack": 132, "rt_sigsuspend": 133, "rt_sigaction": 134,
        "rt_sigprocmask": 135, "rt_sigpending": 136, "rt_sigtimedwait": 137, "rt_sigreturn": 139,
        "getresuid": 148, "getresgid": 150, "times": 153, "getpgid": 155, "getsid": 156,
        "getgroups": 158, "uname": 160, "getrlimit": 163, "setrlimit": 164, "getrusage": 165,
        "umask": 166, "getcpu": 168, "gettimeofday": 169, "getpid": 172, "getppid": 173,
        "getuid": 174, "geteuid": 175, "getgid": 176, "getegid": 177, "gettid": 178, "sysinfo": 179,
        "brk": 214, "munmap": 215, "mremap": 216, "clone": 220, "mmap": 222, "fadvise64": 223,
        "mprotect": 226, "msync": 227, "mincore": 232, "madvise": 233, "prlimit64": 261,
        "renameat2": 276, "getrandom": 278, "copy_file_range": 285, "preadv2": 286, "pwritev2": 287,
        "statx": 291, "rseq": 293, "clone3": 435, "close_range": 436, "openat2": 437,
        "faccessat2": 439, "epoll_pwait2": 441,
    },
}  # fmt: skip


@dataclass(frozen=True)
class Filter:
    """An assembled program: raw `struct sock_filter` array bytes and where the child patches its pid."""

    arch: str
    program: bytes
    pid_index: int  # instruction whose k is the child's pid (tgkill's tgid must equal it)

    @property
    def length(self) -> int:
        return len(self.program) // 8


class UnsupportedArch(RuntimeError):
    pass


def build_filter(arch: str | None = None) -> Filter:
    """Assemble the allow-list for `arch` (default: this machine)."""
    arch = arch or platform.machine()
    if arch not in SYSCALLS:
        raise UnsupportedArch(
            f"no seccomp syscall table for architecture {arch!r} (x86_64, aarch64)"
        )
    table = SYSCALLS[arch]
    asm = _Assembler()
    asm.stmt(_LD_W_ABS, _OFF_ARCH)
    asm.jump(_JEQ_K, AUDIT_ARCH[arch], "arch_ok", None)
    asm.ret(RET_KILL_PROCESS)  # another ABI (i386 int 0x80, arm32): kill
    asm.label("arch_ok")
    asm.stmt(_LD_W_ABS, _OFF_NR)
    if arch == "x86_64":
        asm.jump(_JGE_K, _X32_SYSCALL_BIT, None, "abi_ok")
        asm.ret(RET_KILL_PROCESS)  # the x32 ABI: kill
        asm.label("abi_ok")
    for name in ALLOWED:
        nr = table.get(name)
        if nr is not None:  # not every call exists on every architecture (aarch64 has no open)
            asm.jump(_JEQ_K, nr, None, f"after_{name}")
            asm.ret(RET_ALLOW)
            asm.label(f"after_{name}")
    # clone: threads only
    asm.jump(_JEQ_K, table["clone"], None, "after_clone")
    asm.stmt(_LD_W_ABS, _arg_lo(0))
    asm.jump(_JSET_K, _CLONE_NAMESPACES, "deny_clone", None)
    asm.jump(_JSET_K, CLONE_THREAD, None, "deny_clone")
    asm.ret(RET_ALLOW)
    asm.label("deny_clone")
    asm.ret(_RET_ERRNO | EPERM)
    asm.label("after_clone")
    # clone3 passes its flags in memory we cannot inspect: make the C library fall back to clone
    asm.jump(_JEQ_K, table["clone3"], None, "after_clone3")
    asm.ret(_RET_ERRNO | ENOSYS)
    asm.label("after_clone3")
    # tgkill(tgid == own pid, ...): abort(), raise() and signal.pthread_kill on its own threads
    asm.jump(_JEQ_K, table["tgkill"], None, "after_tgkill")
    asm.stmt(_LD_W_ABS, _arg_hi(0))
    asm.jump(_JEQ_K, 0, None, "deny_tgkill")
    asm.stmt(_LD_W_ABS, _arg_lo(0))
    pid_index = asm.jump(_JEQ_K, 0, None, "deny_tgkill")  # k patched to the child's pid
    asm.ret(RET_ALLOW)
    asm.label("deny_tgkill")
    asm.ret(_RET_ERRNO | EPERM)
    asm.label("after_tgkill")
    # prlimit64(0, ...): its own limits only (soft up to hard; raising hard needs a capability)
    asm.jump(_JEQ_K, table["prlimit64"], None, "after_prlimit")
    asm.stmt(_LD_W_ABS, _arg_lo(0))
    asm.jump(_JEQ_K, 0, None, "deny_prlimit")
    asm.stmt(_LD_W_ABS, _arg_hi(0))
    asm.jump(_JEQ_K, 0, None, "deny_prlimit")
    asm.ret(RET_ALLOW)
    asm.label("deny_prlimit")
    asm.ret(_RET_ERRNO | EPERM)
    asm.label("after_prlimit")
    # ioctl: the request is an unsigned int, so the low word is all the kernel looks at
    asm.jump(_JEQ_K, table["ioctl"], None, "after_ioctl")
    asm.stmt(_LD_W_ABS, _arg_lo(1))
    for request in _IOCTLS:
        asm.jump(_JEQ_K, request, None, f"ioctl_{request}")
        asm.ret(RET_ALLOW)
        asm.label(f"ioctl_{request}")
    asm.ret(_RET_ERRNO | EPERM)
    asm.label("after_ioctl")
    asm.ret(_RET_ERRNO | EPERM)
    program = asm.assemble()
    return Filter(arch=arch, program=program, pid_index=pid_index)


def patch_pid(program: bytes, pid_index: int, pid: int) -> bytes:
    """The program with the tgkill comparison set to `pid` (the child does the same in place)."""
    buf = bytearray(program)
    struct.pack_into("<I", buf, pid_index * 8 + 4, pid)
    return bytes(buf)


class _Assembler:
    """Just enough of a BPF assembler: forward jumps to labels, checked to fit in 8 bits."""

    def __init__(self) -> None:
        self._ops: list[tuple] = []
        self._labels: dict[str, int] = {}

    def stmt(self, code: int, k: int) -> int:
        self._ops.append((code, k, None, None))
        return len(self._ops) - 1

    def ret(self, k: int) -> int:
        return self.stmt(_RET_K, k)

    def jump(self, code: int, k: int, true: str | None, false: str | None) -> int:
        """Conditional jump; a None target means "fall through to the next instruction"."""
        self._ops.append((code, k, true, false))
        return len(self._ops) - 1

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"duplicate label {name}")
        self._labels[name] = len(self._ops)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, k, true, false) in enumerate(self._ops):
            jt = self._offset(i, true)
            jf = self._offset(i, false)
            out += struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)
        if len(self._ops) > 4096:
            raise ValueError("seccomp program longer than BPF_MAXINSNS")
        return bytes(out)

    def _offset(self, i: int, label: str | None) -> int:
        if label is None:
            return 0
        offset = self._labels[label] - (i + 1)
        if not 0 <= offset <= 255:
            raise ValueError(f"jump from {i} to {label} out of range ({offset})")
        return offset
