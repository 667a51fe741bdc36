"""The sandbox of this process: one SandboxPool (fork server) per worker process, from settings.

Celery's worker_process_init starts it so the ~150 ms cold start happens before the first code
submission; otherwise it starts on first use (solo pool, eager tasks in tests). `run_cases` is
what autograder.grading hands to autograder.code_grading. Without bubblewrap, getting the pool
raises SandboxUnavailable (the submission is marked "error" with that reason) unless the
development setting AUTOGRADER_ALLOW_UNSANDBOXED_CODE is on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from types import CodeType

from django.conf import settings

from autograder.sandbox import CaseOutcome, Limits, SandboxPool, sandbox_available

log = logging.getLogger(__name__)

_pool: SandboxPool | None = None
_lock = threading.Lock()


def sandbox_pool() -> SandboxPool:
    """This process's pool, created on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = SandboxPool(
                max_jobs=settings.AUTOGRADER_SANDBOX_MAX_JOBS,
                allow_unsandboxed=settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE,
            )
            log.info("code sandbox ready: %s", sandbox_mode())
        return _pool


def run_cases(
    code: str,
    public_cases: Sequence[Mapping],
    limits: Limits,
    hidden_from: int | None = None,
    compiled: CodeType | None = None,
) -> list[CaseOutcome]:
    """Run case scripts against student code in this process's sandbox (the cases from
    `hidden_from` on are hidden; `compiled` is the code compiled: see SandboxPool.run_script)."""
    return sandbox_pool().run_script(code, public_cases, limits=limits, hidden_from=hidden_from, compiled=compiled)


def close_sandbox_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def sandbox_mode() -> str:
    """One line for logs and the demo: sandboxed (how), unsandboxed (development), or refused."""
    ok, detail = sandbox_available()
    if ok:
        return f"sandboxed: {detail}"
    if settings.AUTOGRADER_ALLOW_UNSANDBOXED_CODE:
        return f"UNSANDBOXED (development setting AUTOGRADER_ALLOW_UNSANDBOXED_CODE): {detail}"
    return f"code questions refused: {detail}"
