"""Resource limits for one sandboxed run of student code.

One frozen value object, validated on construction, so a bad setting fails where it is written and
not deep inside the fork server. The fork server applies these to each student child with
setrlimit (CPU, address space, processes, open files, file size) and enforces the rest itself
(wall time) or in the parent (output and result size), see harness.py, forkserver.py, server.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

# Upper bounds on what a course may configure: a typo must not turn a 5 s limit into a day.
_CEILINGS = {
    "cpu_s": 600.0,
    "wall_s": 1800.0,
    "memory_mb": 16384,
    "nproc": 1024,
    "nofile": 4096,
    "fsize_mb": 4096,
    "output_kb": 64 * 1024,
    "result_mb": 1024,
}


@dataclass(frozen=True)
class Limits:
    """Limits for one run (all the test cases of one submission run in one child).

    cpu_s      CPU seconds (RLIMIT_CPU, rounded up to whole seconds by the kernel interface).
    wall_s     wall-clock seconds from handing the job to the child to its exit (fork server, SIGKILL).
    memory_mb  address space the student may add on top of the interpreter and NumPy (RLIMIT_AS).
    nproc      processes + threads of the sandbox user (RLIMIT_NPROC; seccomp forbids fork anyway).
    nofile     open file descriptors (RLIMIT_NOFILE).
    fsize_mb   largest file the child may write (RLIMIT_FSIZE; writes beyond fail with EFBIG).
    output_kb  stdout + stderr together; beyond it the child is killed ("killed", output limit).
    result_mb  bytes of results on the result channel; beyond it the run is "malformed".
    """

    cpu_s: float = 5.0
    wall_s: float = 10.0
    memory_mb: int = 512
    nproc: int = 32
    nofile: int = 64
    fsize_mb: int = 16
    output_kb: int = 256
    result_mb: int = 64

    def __post_init__(self) -> None:
        for name, ceiling in _CEILINGS.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(f"Limits.{name} must be a finite number, got {value!r}")
            if not 0 < value <= ceiling:
                raise ValueError(f"Limits.{name} must be in (0, {ceiling}], got {value!r}")
        if self.nofile < 8:
            raise ValueError(
                "Limits.nofile must be at least 8 (the harness itself holds 4 descriptors)"
            )

    @property
    def cpu_rlimit(self) -> tuple[int, int]:
        """(soft, hard) for RLIMIT_CPU: SIGXCPU at the limit, SIGKILL one second later."""
        soft = max(1, math.ceil(self.cpu_s))
        return soft, soft + 1

    @property
    def output_bytes(self) -> int:
        return int(self.output_kb * 1024)

    @property
    def result_bytes(self) -> int:
        return int(self.result_mb * 1024 * 1024)

    def to_wire(self) -> dict:
        """The plain dict sent to the fork server with each run (the fields are numbers:
        dataclasses.asdict's deep copy cost more than the rest of handing a job over)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
