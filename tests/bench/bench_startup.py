"""Start-up times a person waits for, each a fresh process, median of N runs:
`qa search`, `qa ask`, and the chat app's first paint (headless) and ready state.

    .venv/bin/python tests/bench/bench_startup.py --data-dir DIR [--collection NAME] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FIRST_PAINT = r"""
import time, sys
started = float(sys.argv[1])
from tui.app import ChatApp
from qa.builder import open_assistant
from index import Settings
import asyncio

async def main():
    app = ChatApp(lambda: open_assistant(Settings()), cursor_blink=False)
    painted_at = []
    app.call_after_refresh(lambda: painted_at.append(time.time() - started))
    async with app.run_test(size=(100, 30)) as pilot:
        while not painted_at:
            await pilot.pause(0.01)
        painted = painted_at[0]
        while app.assistant is None:
            await pilot.pause(0.02)
        ready = time.time() - started
        print(f"{painted:.3f} {ready:.3f}")

asyncio.run(main())
"""


def timed(cmd, env) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="default")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default="What does Japan expect from Sochi?")
    args = parser.parse_args()
    env = {
        **os.environ,
        "QA_HOME": str(args.data_dir),
        "QA_COLLECTION": args.collection,
        "QA_MODEL_CACHE_DIR": os.environ.get("QA_MODEL_CACHE_DIR", "/tmp/qa-models"),
    }
    qa = [sys.executable, "-m", "qa.cli"]
    search = [timed([*qa, "search", args.question], env) for _ in range(args.runs)]
    ask = [timed([*qa, "ask", args.question], env) for _ in range(args.runs)]
    paints, readies = [], []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", FIRST_PAINT, str(time.time())], env=env, capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.split()
        paints.append(float(out[0]))
        readies.append(float(out[1]))
    print(f"| measure (median of {args.runs}, fresh process) | seconds | target |")
    print("|---|---|---|")
    print(f"| cold `qa search` | {statistics.median(search):.2f} | ≤ 2 |")
    print(f"| cold `qa ask` | {statistics.median(ask):.2f} | ≤ 3 |")
    print(f"| `qa chat` first paint (headless) | {statistics.median(paints):.2f} | ≤ 1 |")
    print(f"| `qa chat` index and model loaded | {statistics.median(readies):.2f} | |")


if __name__ == "__main__":
    main()
