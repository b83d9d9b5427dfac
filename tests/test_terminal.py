"""Article text, titles, sources, ids and file names never reach a terminal raw: escape
sequences, bells, backspaces, C1 controls and bidi overrides are shown visibly, by the CLI
on a real pseudo-terminal and by the chat app; --json stays exact."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from index import Index
from qa.terminal import json_line, visible
from tests.conftest import ROOT, cli_env, run_qa

# What an article could smuggle to a terminal: clear screen, a window title (OSC 0), an
# OSC 8 hyperlink, a bell, backspaces, an 8-bit CSI (C1) and a right-to-left override.
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = f"{CLEAR}{TITLE}{LINK}\x07\x08\x08\x9b31m\u202e"
# Raw bytes none of which may reach the terminal (UTF-8 of U+009B and U+202E included).
RAW = [b"\x1b", b"\x07", b"\x08", b"\xc2\x9b", b"\xe2\x80\xae"]


def hostile_corpus(folder: Path) -> Path:
    """A JSONL feed whose id, title, source and text carry control sequences, and a text
    file whose name does."""
    folder.mkdir(parents=True)
    record = {
        "id": f"evil{CLEAR}",
        "title": f"Sochi summit {TITLE}",
        "source": f"Wire{LINK}",
        "date": "2016-05-06",
        "text": (
            f"Japan expects a breakthrough on the islands from the Sochi summit {HOSTILE}. "
            f"Abe travelled to Sochi to meet Putin {CLEAR} in May.\n\n"
            f"Tokyo hopes {TITLE} that Russia's economic crisis makes Moscow flexible."
        ),
    }
    (folder / "feed.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    (folder / f"name{TITLE}.txt").write_text(
        "A second report\n\nJapan expects little from the Sochi summit, officials said.\n", encoding="utf-8"
    )
    return folder


def run_on_pty(args: list[str], env: dict) -> bytes:
    """Run ``qa ARGS`` with stdout and stderr on a pseudo-terminal; all it wrote (it must
    succeed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", *args], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL,
        env=env, cwd=ROOT,
    )
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            raise TimeoutError(out.decode(errors="replace"))
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    assert proc.wait(60) == 0, out.decode(errors="replace")
    return out


def assert_no_raw_controls(out: bytes) -> None:
    for raw in RAW:
        assert raw not in out, (raw, out)


def test_visible_shows_every_control_character():
    assert visible(CLEAR) == "␛[2J"
    assert visible(TITLE) == "␛]0;pwned␇"
    assert visible("a\x08\x00\x7f") == "a␈␀␡"
    assert visible("\x9b31m") == "\\x9b31m"
    assert visible("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert visible("caf\udce9.txt") == "caf\\xe9.txt"  # a file name that is not UTF-8
    assert visible("x\ud800") == "x\\ud800"
    assert visible("line one\nline two") == "line one␊line two"
    assert visible("line one\nline two", newlines=True) == "line one\nline two"
    ordinary = "Putin’s “pivot”, café, 日本, Ελλάδα, emoji 👩‍👩‍👧, tab-free"
    assert visible(ordinary) == ordinary


def test_json_lines_stay_exact_and_carry_no_raw_controls():
    data = {"text": HOSTILE + "caf\udce9 \u2028 ok", "n": 1}
    line = json_line(data)
    assert json.loads(line) == data
    assert "\n" not in line
    assert_no_raw_controls(line.encode("utf-8", "surrogatepass"))


@pytest.fixture
def hostile_settings(embedded_settings, tmp_path):
    settings = embedded_settings.model_copy(update={"collection": "hostile"})
    report = Index.open(settings=settings).sync([hostile_corpus(tmp_path / "news")])
    assert not report.failed and len(report.added) == 2
    return settings


def test_search_and_ask_on_a_terminal_show_controls_visibly(hostile_settings):
    env = cli_env(hostile_settings)
    out = run_on_pty(["search", "What does Japan expect from the Sochi summit?", "-k", "5"], env)
    assert_no_raw_controls(out)
    text = out.decode()
    assert "evil␛[2J" in text and "Sochi summit ␛]0;pwned␇" in text and "Wire␛]8;;" in text
    assert "\\x9b31m" in text and "\\u202e" in text

    out = run_on_pty(["ask", "What does Tokyo hope about Russia's economic crisis?"], env)
    assert_no_raw_controls(out)
    text = out.decode()
    assert "Tokyo hopes ␛]0;pwned␇ that Russia" in text  # the answer and its quote
    assert "[1] Sochi summit ␛]0;pwned␇ (2016-05-06, Wire␛]8;;" in text  # the source line

    # --json on a terminal: exact content, escaped
    out = run_on_pty(["search", "Japan Sochi summit", "--json"], env)
    assert_no_raw_controls(out)
    passages = json.loads(out.decode())["passages"]
    assert any(p["article_id"] == f"evil{CLEAR}" for p in passages)
    assert any(HOSTILE in p["text"] for p in passages)


def test_index_lines_show_controls_visibly(embedded_settings, tmp_path):
    folder = hostile_corpus(tmp_path / "news")
    (folder / f"empty{CLEAR}.txt").write_bytes(b"")
    settings = embedded_settings.model_copy(update={"collection": "lines"})
    plan = run_qa(["index", "--dry-run", str(folder)], settings)
    assert plan.returncode == 1
    for stream in (plan.stdout, plan.stderr):
        assert_no_raw_controls(stream.encode())
    assert "would add: evil␛[2J" in plan.stdout
    assert "would add: name␛]0;pwned␇.txt" in plan.stdout
    assert f"failed: {visible(str(folder / ('empty' + CLEAR + '.txt')))}: empty file" in plan.stderr
    synced = run_qa(["index", str(folder)], settings)
    assert synced.returncode == 1
    assert_no_raw_controls(synced.stderr.encode())
    status = run_qa(["status"], settings)
    assert status.returncode == 0
    assert_no_raw_controls(status.stdout.encode())
