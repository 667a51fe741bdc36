"""nncore is the pure-NumPy engine: it must import nothing from Django or the rest of the project.

Checked twice: statically by import-linter (the contract in pyproject.toml) and dynamically by
importing every nncore submodule in a fresh interpreter and listing what got loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_PREFIXES = ("django", "rest_framework", "celery", "autograder", "exercises")

_PROBE = """
import importlib, json, pkgutil, sys
import nncore
names = [m.name for m in pkgutil.walk_packages(nncore.__path__, "nncore.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_import_linter_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"import-linter is not installed next to {sys.executable}"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"
    assert " 0 broken" in result.stdout


def test_importing_every_nncore_module_loads_no_django_or_project_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "nncore.network" in report["imported"] and "nncore.graphnet" in report["imported"]
    offending = [name for name in report["loaded"] if name.startswith(FORBIDDEN_PREFIXES)]
    assert not offending, f"nncore pulled in: {offending}"
