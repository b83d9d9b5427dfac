"""`qa watch` as a user runs it: a real watcher process on real folders and a local feed."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from filelock import FileLock

from index import Index
from tests.conftest import ROOT, cli_env, run_qa, write_corpus
from tests.feed_server import Site, serve
from tests.test_feeds import FAST, stories


@pytest.fixture
def settings(embedded_settings):
    return embedded_settings


class WatchProcess:
    def __init__(self, settings, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "watch", "--json", *args],
            env=cli_env(settings, **FAST), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, kind: str, timeout: float = 300) -> dict:  # the first sync may export the model
        deadline = time.time() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no {kind} event; the watcher said: {self.proc.stderr.read()[-2000:]}") from None
            if event["event"] == kind:
                return event

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return self.proc.returncode, self.proc.stderr.read()


@pytest.fixture
def watch(settings):
    started = []

    def start(*args) -> WatchProcess:
        started.append(WatchProcess(settings, *args))
        return started[-1]

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.proc.kill()


def search_ids(settings, query: str) -> list[str]:
    result = run_qa(["search", "--json", "-k", "3", query], settings)
    return [p["article_id"] for p in json.loads(result.stdout)["passages"]]


def test_a_file_added_edited_and_removed_is_reflected_in_search(settings, tmp_path, watch):
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    w = watch(str(folder))
    assert w.next("start")["message"] == f"watching {folder}"
    assert w.next("sync")["sync"]["added"] == 2  # what was there before it started

    (folder / "sochi.txt").write_text("Sochi summit\n\nThe walrus delegation arrived in Sochi by ferry.\n")
    assert w.next("sync")["sync"]["articles"]["added"] == ["sochi.txt"]
    assert search_ids(settings, "walrus delegation ferry")[0] == "sochi.txt"

    (folder / "sochi.txt").write_text("Sochi summit\n\nThe penguin delegation arrived in Sochi by train.\n")
    assert w.next("sync")["sync"]["articles"]["updated"] == ["sochi.txt"]
    passages = json.loads(run_qa(["search", "--json", "penguin delegation train"], settings).stdout)["passages"]
    assert passages[0]["article_id"] == "sochi.txt" and "penguin" in passages[0]["text"]

    (folder / "sochi.txt").unlink()
    assert w.next("sync")["sync"]["articles"]["removed"] == ["sochi.txt"]
    assert "sochi.txt" not in search_ids(settings, "penguin delegation train")
    status = json.loads(run_qa(["status", "--json"], settings).stdout)
    assert status["articles"] == 2
    code, stderr = w.stop()
    assert code == 0 and stderr.strip().endswith("stopped watching")


def test_copying_200_files_in_is_one_or_a_few_syncs(settings, tmp_path, watch):
    folder, outside = tmp_path / "news", tmp_path / "elsewhere"
    folder.mkdir()
    write_corpus(outside, count=200)
    w = watch(str(folder))
    w.next("start")
    for path in sorted(outside.iterdir()):
        shutil.copy(path, folder / path.name)
    added, syncs = 0, 0
    while added < 200:
        added += w.next("sync")["sync"]["added"]
        syncs += 1
    assert syncs <= 4, syncs
    assert json.loads(run_qa(["status", "--json"], settings).stdout)["articles"] == 200


def test_a_failing_sync_is_reported_and_the_watcher_goes_on(settings, tmp_path, watch):
    folder = tmp_path / "news"
    folder.mkdir()
    w = watch(str(folder))
    w.next("start")
    (folder / "binary.txt").write_bytes(b"\x00\x01" * 100)
    event = w.next("sync")
    assert event["sync"]["failed"][0]["path"].endswith("binary.txt")

    # another sync holds the collection: reported, and done at the next change
    idx = Index.open(settings=settings)
    lock = FileLock(str(settings.data_dir / "locks" / f"{settings.collection}-{idx._store.identity}.lock"))
    with lock:
        (folder / "one.txt").write_text("One\n\nThe first report about the summit.\n")
        error = w.next("error")
        assert error["message"].startswith("sync failed: another sync of collection")
    (folder / "two.txt").write_text("Two\n\nThe second report about the summit.\n")
    event = w.next("sync")
    assert sorted(event["sync"]["articles"]["added"]) == ["one.txt", "two.txt"]
    assert w.proc.poll() is None


def test_watch_polls_the_feeds(settings, watch):
    site = Site()
    server = serve(site)
    try:
        site.feed("/rss.xml", "rss", stories(site, "watched", 2))
        assert run_qa(["feeds", "add", site.url("/rss.xml"), "--name", "news"], settings).returncode == 0
        w = watch("--every", "0.02")  # every 1.2 s
        assert "feeds every" in w.next("start")["message"]
        first = w.next("fetch")
        assert first["feeds"][0]["new"] == 2 and first["sync"]["added"] == 2
        assert first["message"].startswith("fetched 1 feed: 2 new")
        site.feed("/rss.xml", "rss", stories(site, "watched", 3))  # one more item upstream
        while (event := w.next("fetch"))["feeds"][0]["new"] == 0:
            pass
        assert event["feeds"][0]["new"] == 1 and event["sync"]["added"] == 1
    finally:
        server.shutdown()


def test_nothing_to_watch_is_a_one_line_error(settings, tmp_path):
    result = run_qa(["watch", str(tmp_path / "missing")], settings, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "qa: error: nothing to watch: give a folder or file, or add a feed (qa feeds add URL)"
    )
