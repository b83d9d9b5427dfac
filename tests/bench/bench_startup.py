"""Start-up times a person waits for, each a fresh process, median of N runs:
`qa search`, `qa ask`, and the chat app's first paint (headless) and ready state.

    .venv/bin/python tests/bench/bench_startup.py --data-dir DIR [--collection NAME] [--runs 5] [--against REV]

With ``--against REV`` the same processes also run on a copy of that git revision's code,
interleaved with the work tree's, and the table has a column for each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
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


def timed(cmd, env, cwd) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True, cwd=cwd)
    return time.perf_counter() - started


def painted(env, cwd) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-c", FIRST_PAINT, str(time.time())], env=env, capture_output=True, text=True, cwd=cwd, check=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def measure_once(code: Path, env: dict, question: str) -> dict[str, float]:
    """One fresh process of each kind, importing index/, qa/ and tui/ from ``code``."""
    env = {**env, "PYTHONPATH": str(code)}
    qa = [sys.executable, "-m", "qa.cli"]  # `-m` puts the working folder first on sys.path
    paint, ready = painted(env, code)
    return {
        "search": timed([*qa, "search", question], env, code),
        "ask": timed([*qa, "ask", question], env, code),
        "paint": paint,
        "ready": ready,
    }


ROWS = (
    ("search", "cold `qa search`", "≤ 0.8 (issue 14)"),
    ("ask", "cold `qa ask`", "≤ 2.5 (issue 10)"),
    ("paint", "`qa chat` first paint (headless)", "≤ 1"),
    ("ready", "`qa chat` index and model loaded", ""),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="default")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default="What does Japan expect from Sochi?")
    parser.add_argument("--against", metavar="REV", help="also measure git revision REV, runs interleaved with the work tree's")
    args = parser.parse_args()
    env = {
        **os.environ,
        "QA_HOME": str(args.data_dir),
        "QA_COLLECTION": args.collection,
        "QA_MODEL_CACHE_DIR": os.environ.get("QA_MODEL_CACHE_DIR", "/tmp/qa-models"),
    }
    codes = {"work tree": ROOT}
    with tempfile.TemporaryDirectory() as scratch:
        if args.against:
            from bench_scale import snapshot_code

            codes[args.against] = Path(snapshot_code(Path(scratch), args.against)["dir"])
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
        for _ in range(args.runs):
            for name, code in codes.items():  # interleaved: the machine's noise falls on both
                runs[name].append(measure_once(code, env, args.question))
    names = list(codes)
    print(f"| measure (median of {args.runs}, fresh process) | " + " | ".join(f"{n} s (range)" for n in names) + " | target |")
    print("|---|" + "---|" * len(names) + "---|")
    for key, label, target in ROWS:
        cells = []
        for name in names:
            values = [r[key] for r in runs[name]]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"| {label} | " + " | ".join(cells) + f" | {target} |")


if __name__ == "__main__":
    main()
