"""The core never imports the UI: index/ and qa/ work without textual or tui."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_modules_do_not_load_the_ui():
    code = (
        "import sys, importlib, pkgutil\n"
        "import index, qa\n"
        "for pkg in (index, qa):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        if m.name not in ('cli', 'llamaindex'):\n"
        "            importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'tui')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_ui_import_statements_in_the_core():
    pattern = re.compile(r"^\s*(from|import)\s+(textual|tui)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("index", "qa")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []  # `qa chat` is added to the CLI by tui/cli.py, the console script


def test_console_script_adds_chat_without_loading_textual_for_other_commands():
    code = (
        "import sys, tui.cli\n"
        "from qa.cli import cli\n"
        "print('chat' in cli.commands, 'textual' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "True False", result.stderr
