"""Keeping current, measured: a `qa fetch` of a local feed of N items with their pages
(wall time split into download, extraction, writing and indexing), a second fetch of the
unchanged feed, and the time from an article file landing in a watched folder to the end
of the sync that makes it searchable.

The pages are the eval set's own articles, rendered as HTML with boilerplate around them
and served by a web server on localhost (nothing is copied into the repository).

    .venv/bin/python tests/bench/bench_feeds.py ../shared/eval/realtimeqa-dev [--items 200] [--host-delay 0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from index import Index, Settings  # noqa: E402
from index.feeds import Fetcher, sync_feeds  # noqa: E402
from tests.feed_server import Site, serve  # noqa: E402


def corpus(folder: Path, n: int) -> list[dict]:
    articles = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if len(record.get("text", "").split()) >= 100:
                articles.append(record)
            if len(articles) == n:
                break
    return articles


def publish(site: Site, articles: list[dict]) -> str:
    import datetime as dt

    items = []
    for n, a in enumerate(articles):
        paragraphs = [p for p in a["text"].split("\n") if p.strip()]
        link = site.page(f"/news/{n}", a["title"], paragraphs)
        day = dt.datetime.fromisoformat((a.get("date") or "2022-06-01")[:10]).replace(tzinfo=dt.timezone.utc)
        items.append({"title": a["title"], "link": link, "id": f"urn:bench:{n}", "summary": paragraphs[0][:300],
                      "date": format_datetime(day)})
    return site.feed("/feed.xml", "rss", items, etag='"bench"')


def bench_fetch(settings: Settings, feed_url: str) -> dict:
    from index.feeds import FeedStore

    FeedStore.for_settings(settings).add(feed_url, "bench")
    started = time.perf_counter()
    fetcher = Fetcher(settings)
    results = fetcher.fetch()
    fetch_wall = time.perf_counter() - started
    fetcher.close()
    started = time.perf_counter()
    idx = Index.open(settings=settings)
    report = sync_feeds(idx)
    index_wall = time.perf_counter() - started
    return {
        "new": results[0].new, "failed": len(results[0].failed), "fetch_wall": fetch_wall,
        **fetcher.seconds, "index_wall": index_wall, "chunks": report.chunks_embedded,
    }


def env_for(settings: Settings) -> dict:
    return {**os.environ, "QA_HOME": str(settings.data_dir), "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
            "QA_COLLECTION": settings.collection, "QA_FEED_HOST_DELAY": str(settings.feed_host_delay),
            "ANONYMIZED_TELEMETRY": "False"}


def bench_refetch(settings: Settings) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "qa.cli", "fetch", "--json"], env=env_for(settings),
                            capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    data = json.loads(result.stdout)
    assert data["feeds"][0]["new"] == 0 and data["feeds"][0]["not_modified"], data
    return wall


def bench_watch(settings: Settings, articles: list[dict], runs: int) -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="watched-"))
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "watch", "--json", "--every", "0", str(folder)],
                            env=env_for(settings), stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def next_event(kind: str) -> dict:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == kind:
                return event
        raise RuntimeError("the watcher stopped")

    next_event("start")
    time.sleep(3)  # its first, catch-up sync of the empty folder (silent) is done
    latencies = []
    for n, a in enumerate(articles[:runs]):
        path = folder / f"landed-{n}.txt"
        started = time.perf_counter()
        path.write_text(f"{a['title']}\n\n{a['text']}\n", encoding="utf-8")
        while path.name not in next_event("sync")["sync"]["articles"]["added"]:
            pass
        latencies.append(time.perf_counter() - started)
        time.sleep(1.0)
    proc.terminate()
    proc.wait(60)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--host-delay", type=float, default=0.0, help="QA_FEED_HOST_DELAY for the run (default 0: the machine, not the politeness)")
    parser.add_argument("--watch-runs", type=int, default=5)
    args = parser.parse_args()

    articles = corpus(args.eval_set, args.items)
    site = Site()
    server = serve(site)
    feed_url = publish(site, articles)
    work = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    cache = os.environ.get("QA_MODEL_CACHE_DIR")
    settings = Settings(data_dir=work / "data", collection="feeds", feed_host_delay=args.host_delay,
                        **({"model_cache_dir": Path(cache)} if cache else {}))

    fetched = bench_fetch(settings, feed_url)
    refetch = bench_refetch(settings)
    watch_settings = settings.model_copy(update={"collection": "watched"})
    latencies = bench_watch(watch_settings, articles, args.watch_runs) if args.watch_runs else []
    server.shutdown()

    total = fetched["fetch_wall"] + fetched["index_wall"]
    print(f"qa fetch of a local feed: {fetched['new']} new articles ({fetched['failed']} failed),"
          f" {fetched['chunks']} chunks, host delay {args.host_delay:g} s")
    print()
    print("| part | seconds | share of the fetch |")
    print("|---|---:|---:|")
    for part, seconds in (("download (summed over threads)", fetched["download"]),
                          ("extraction (trafilatura)", fetched["extract"]),
                          ("writing files + record", fetched["write"]),
                          ("fetch, wall", fetched["fetch_wall"]),
                          ("indexing (model load, chunk, embed, store)", fetched["index_wall"]),
                          ("total", total)):
        print(f"| {part} | {seconds:.1f} | {seconds / total:.0%} |")
    print()
    print(f"extraction {fetched['extract'] / fetched['new'] * 1000:.0f} ms an article;"
          f" indexing {fetched['index_wall'] / fetched['new'] * 1000:.0f} ms an article"
          f" ({fetched['chunks'] / fetched['index_wall']:.1f} chunks/s)")
    print(f"second `qa fetch`, feed unchanged (a 304), whole command: {refetch:.2f} s")
    if latencies:
        print(f"file landing in a watched folder -> synced: median {statistics.median(latencies):.2f} s,"
              f" max {max(latencies):.2f} s over {len(latencies)} articles ({', '.join(f'{x:.2f}' for x in latencies)})")


if __name__ == "__main__":
    main()
