"""Keeping the index current by itself: folders are synced when they change (watchfiles,
changes grouped so that a folder copy is one sync), feeds are polled on a timer.

A sync or fetch that fails is reported and tried again at the next change or poll: the
watcher itself never stops on bad input, a busy lock or a server that went away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import QAError, describe
from .readers import SUPPORTED
from .sync import SyncReport


@dataclass
class WatchEvent:
    """What happened: ``kind`` is "start", "sync", "fetch" or "error"."""

    kind: str
    message: str = ""
    report: SyncReport | None = None
    feeds: list = field(default_factory=list)  # FeedResult of a fetch
    changed: int = 0  # file changes that led to this sync

    def to_dict(self) -> dict:
        return {
            "event": self.kind,
            "message": self.message,
            "changed": self.changed,
            "sync": self.report.to_dict() if self.report else None,
            "feeds": [f.to_dict() for f in self.feeds],
        }


class Watcher:
    """``paths``: folders and files to keep synced (default: every one synced before);
    ``every``: seconds between two polls of the feeds (0: never)."""

    def __init__(
        self,
        index,
        paths: list[Path] | None,
        every: float,
        on_event: Callable[[WatchEvent], None],
        debounce_ms: int = 2000,
        settle_ms: int = 300,
    ):
        self.index = index
        self.on_event = on_event
        self.every = every
        self.debounce_ms = debounce_ms
        self.settle_ms = settle_ms
        self.targets = [Path(p).expanduser().absolute() for p in (paths or [])] or [Path(r) for r in index.roots()]
        self.stop = threading.Event()

    def run(self) -> None:
        from .feeds import FeedStore

        self._has_feeds = bool(self.every) and bool(FeedStore.for_settings(self.index.settings).feeds())
        folders = self._folders()
        if not folders and not self._has_feeds:
            raise WatchError("nothing to watch: give a folder or file, or add a feed (qa feeds add URL)")
        watched = ", ".join(str(f) for f in folders) or "no folders"
        feeds = f"; feeds every {self.every / 60:g} min" if self._has_feeds else ""
        self.on_event(WatchEvent("start", f"watching {watched}{feeds}"))
        next_poll = time.monotonic()
        caught_up = not folders
        for changes in self._changes(folders):
            if changes or not caught_up:
                # the first sync runs once the watcher is live: it catches up with what
                # changed while nobody watched, and nothing changed during it is missed
                self._sync(len(changes))
                caught_up = True
            if self._has_feeds and time.monotonic() >= next_poll:
                self._fetch()
                next_poll = time.monotonic() + self.every

    def _folders(self) -> list[Path]:
        folders = []
        for target in self.targets:
            if target.is_dir():
                folders.append(target)
            elif target.is_file():
                folders.append(target.parent)
            else:
                self.on_event(WatchEvent("error", f"{target}: no such file or folder; not watched"))
        return sorted(set(folders))

    def _changes(self, folders: list[Path]):
        """Sets of changes, each gathered until the files settle; an empty set now and
        then so that the feeds' timer is checked."""
        if not folders:
            while not self.stop.wait(1.0):
                yield set()
            return
        import watchfiles

        files = {t for t in self.targets if not t.is_dir()}
        dirs = [t for t in self.targets if t.is_dir()]

        def wanted(change, path: str) -> bool:
            p = Path(path)
            if p.name.startswith("."):
                return False  # hidden files: editors' swap files, a fetch's half-written file
            if p in files or any(p.is_relative_to(d) for d in dirs):
                return p.suffix.lower() in SUPPORTED or not p.suffix  # articles, and folders
            return False

        yield from watchfiles.watch(
            *folders,
            watch_filter=wanted,
            debounce=self.debounce_ms,
            step=self.settle_ms,
            stop_event=self.stop,
            rust_timeout=1000,
            yield_on_timeout=True,
        )

    def _sync(self, changed: int) -> None:
        try:
            report = self.index.sync(self.targets)
        except Exception as exc:  # reported; tried again at the next change
            self.on_event(WatchEvent("error", "sync failed: " + _reason(exc, self.index.settings) + "; trying again at the next change"))
            return
        if changed == 0 and not _changes(report):
            return  # nothing to say
        self.on_event(WatchEvent("sync", report.summary(), report=report, changed=changed))

    def _fetch(self) -> None:
        from .feeds import fetch_feeds, sync_feeds

        try:
            results = fetch_feeds(self.index.settings)
            report = sync_feeds(self.index)
        except Exception as exc:
            self.on_event(WatchEvent("error", "fetch failed: " + _reason(exc, self.index.settings) + "; trying again at the next poll"))
            return
        new = sum(r.new for r in results)
        updated = sum(r.updated for r in results)
        failed = sum(len(r.failed) for r in results)
        feeds = f"{len(results)} feed" + ("" if len(results) == 1 else "s")
        message = f"fetched {feeds}: {new} new, {updated} updated, {failed} failed"
        if report is not None:
            message += "; indexed: " + report.summary()
        self.on_event(WatchEvent("fetch", message, report=report, feeds=results))


class WatchError(QAError):
    """Nothing to watch; str() is the one-line reason."""


def _changes(report: SyncReport) -> bool:
    return bool(report.added or report.updated or report.removed or report.failed or report.repaired)


def _reason(exc: Exception, settings) -> str:
    return describe(exc, settings)
