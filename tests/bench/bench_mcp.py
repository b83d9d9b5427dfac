"""`qa mcp` against the same calls in-process: time from starting the server to its first
tool answer, then warm `search` and `ask` latency (p50/p95) through MCP (stdio, the SDK's
client) and in-process, side by side on one index.

    .venv/bin/python tests/bench/bench_mcp.py ../shared/eval/realtimeqa-dev --data-dir DIR --collection NAME [--n 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def questions(folder: Path, n: int) -> list[str]:
    with open(folder / "questions.jsonl", encoding="utf-8") as lines:
        return [json.loads(line)["question"] for line in lines][:n]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    lo = int(at)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


async def through_mcp(env: dict, asked: list[str]) -> dict:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "qa.cli", "mcp"], env=env, cwd=str(ROOT))
    started = time.perf_counter()
    times: dict[str, list[float]] = {"search": [], "ask": []}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("search", {"query": asked[0], "k": 5})
        first = time.perf_counter() - started
        for question in asked:
            for tool, args in (("search", {"query": question, "k": 5}), ("ask", {"question": question})):
                t = time.perf_counter()
                result = await session.call_tool(tool, args)
                times[tool].append(time.perf_counter() - t)
                assert not result.is_error, result.content
    return {"first": first, **times}


def in_process(settings, asked: list[str]) -> dict:
    from qa.builder import open_assistant

    assistant = open_assistant(settings)
    assistant.warm_up()
    assistant.retriever.search(asked[0], k=5, stories=True)
    times: dict[str, list[float]] = {"search": [], "ask": []}
    for question in asked:
        t = time.perf_counter()
        assistant.retriever.search(question, k=5, stories=True)
        times["search"].append(time.perf_counter() - t)
        t = time.perf_counter()
        assistant.ask(question)
        times["ask"].append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="default")
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()

    from index import Settings

    settings = Settings(data_dir=args.data_dir, collection=args.collection)
    env = {**os.environ, "QA_HOME": str(args.data_dir), "QA_COLLECTION": args.collection, "ANONYMIZED_TELEMETRY": "False"}
    asked = questions(args.eval_set, args.n)
    mcp = asyncio.run(through_mcp(env, asked))
    local = in_process(settings, asked)
    print(f"{len(asked)} questions of {args.eval_set.name}; collection {args.collection}")
    print(f"start `qa mcp` (stdio) -> first search answered: {mcp['first']:.2f} s")
    print()
    print("| call | MCP p50 / p95 (ms) | in-process p50 / p95 (ms) |")
    print("|---|---|---|")
    for tool in ("search", "ask"):
        m, i = mcp[tool], local[tool]
        print(f"| {tool} | {pct(m, .5) * 1000:.0f} / {pct(m, .95) * 1000:.0f} | {pct(i, .5) * 1000:.0f} / {pct(i, .95) * 1000:.0f} |")
    print(f"(MCP search p50 over in-process: +{(pct(mcp['search'], .5) - pct(local['search'], .5)) * 1000:.0f} ms;"
          f" mean of both: {statistics.mean(mcp['search']) * 1000:.0f} / {statistics.mean(local['search']) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
