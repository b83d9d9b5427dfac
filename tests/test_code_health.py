"""The code's own rules, checked with the tests: ruff's small rule set is clean, and the
import contracts hold (index below qa below tui, no import cycle inside a package, only
index/ imports chromadb), so a missing name or a cycle fails here rather than in a user's
hands."""

from __future__ import annotations

import re
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
    assert "3 kept, 0 broken" in result.stdout


def test_only_index_touches_the_stores():
    """qa/ and tui/ go through Index's methods: no Chroma collection, no private store."""
    for folder in ("qa", "tui"):
        for path in (ROOT / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            for needle in (r"\._store\b", r"\.store\.chunks", r"articles_collection", r"import chromadb"):
                assert not re.search(needle, text), f"{path.relative_to(ROOT)} uses {needle}"
