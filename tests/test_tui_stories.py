"""The chat app's new-stories tests (tests/tui_stories_alone.py) run in a process of their
own, as the app does: in the shared test process, the embedded Chroma clients that earlier
tests leave open can keep the app's view of another process's writes from refreshing
(seen in 2 CI runs of 5, never alone). Cause not pinned down yet; the isolation is the
app's real condition, not a weaker test."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_new_stories_tests_in_a_process_of_their_own():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/tui_stories_alone.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
