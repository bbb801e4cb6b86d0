"""The layering holds: import-linter checks the contracts in pyproject.toml on the real package.

A contract is checked on the static import graph, indirect imports included, so an upward
import anywhere (even through a third module) fails here with the chain that breaks it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint() -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lint_imports = Path(sys.executable).parent / "lint-imports"   # installed beside pytest
    return subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_import_linter_contract_is_kept():
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "7 kept" in result.stdout          # every contract in pyproject.toml was checked
