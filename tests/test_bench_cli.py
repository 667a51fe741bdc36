"""The benchmark scripts' --help says what the script does and runs nothing."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_code_help_is_its_own_and_starts_no_sandbox():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_code.py"), "--help"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("End-to-end benchmark of code submissions")
    assert "sandbox:" not in done.stdout  # the sandbox figures are a run, not help
    assert "every option of bench_service.py" in done.stdout
