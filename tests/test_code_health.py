"""The code's own rules, checked with the tests: ruff's small rule set is clean, and the
import contracts hold (index below qa below tui, no import cycle inside a package), so a
missing name or a cycle fails here rather than in a user's hands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean():
    result = run("ruff", "check", "--no-cache", "index", "qa", "tui", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold():
    result = run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "2 kept, 0 broken" in result.stdout
