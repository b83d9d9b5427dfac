"""Feeds: RSS 0.9x/2.0, RSS 1.0 (RDF) and Atom, read with feedparser; each new item's page
downloaded (``web.Web``) and its main text extracted with trafilatura.

Every article is written as a Markdown file with front matter into
``<data dir>/feeds/<feed name>/``, a folder synced like any other: removal, crash safety
and the sync lock hold as they do for the user's own folders.

What was fetched is kept in ``feeds.sqlite`` beside the store. An item is known by its
feed id, its link and the hash of its text, so a second fetch downloads nothing that is
already stored, and an item edited upstream (its entry changed in the feed) is fetched
again and its file rewritten. A file is written only after its record names it (state
``pending``), and is renamed into place whole, so a fetch killed at any moment leaves no
half-written file, and the next fetch writes the same file name again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import queue
import re
import sqlite3
import threading
import time
import unicodedata
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .errors import StorageError, StoreError, is_damaged_database, short
from .files import replace_file
from .settings import COLLECTION_NAME, Settings
from .web import FetchError, Web

FEED_TYPES = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_TYPES = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
HTML_TYPES = {"text/html", "application/xhtml+xml"}
MIN_PAGE_WORDS = 80  # a page that yields fewer words than the feed's own text is not the article
MAX_HOST_WORKERS = 4  # hosts downloaded from side by side (one request at a time per host)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY, url TEXT NOT NULL UNIQUE, added TEXT NOT NULL,
    etag TEXT, last_modified TEXT, last_fetch TEXT, last_error TEXT
);
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL, key TEXT NOT NULL, guid TEXT, url TEXT, fingerprint TEXT,
    content_hash TEXT, path TEXT, state TEXT NOT NULL, seen TEXT NOT NULL,
    PRIMARY KEY (feed, key)
);
CREATE INDEX IF NOT EXISTS items_url ON items (feed, url);
CREATE INDEX IF NOT EXISTS items_guid ON items (feed, guid);
CREATE INDEX IF NOT EXISTS items_hash ON items (content_hash);
"""


class FeedError(StoreError):
    """A feed command that cannot be done (a name taken, an unknown feed...)."""


def feeds_root(settings: Settings) -> Path:
    """The folder every feed's articles are written into (one subfolder per feed)."""
    return Path(settings.data_dir) / "feeds"


# -- the record of feeds and items ----------------------------------------------------


@dataclass
class Feed:
    name: str
    url: str
    added: str
    etag: str | None = None
    last_modified: str | None = None
    last_fetch: str | None = None
    last_error: str | None = None
    articles: int = 0

    def to_dict(self) -> dict:
        return {
            "name": self.name, "url": self.url, "added": self.added, "articles": self.articles,
            "last_fetch": self.last_fetch, "last_error": self.last_error,
        }


@dataclass
class Item:
    """One entry of a feed, as read from the feed."""

    key: str  # the feed's id for it, else its link
    guid: str | None
    url: str | None
    title: str
    date: str | None
    authors: list[str]
    feed_text: str  # the feed's own content or summary, as text
    fingerprint: str  # changes when the entry is edited upstream


class FeedStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self.db = sqlite3.connect(str(path), timeout=30)
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            if not is_damaged_database(exc):
                raise
            raise StorageError(
                f"the feed list at {path} is damaged ({short(exc)}); to start afresh, move it aside"
                f" (mv {path} {path}.damaged) and add the feeds again: articles already fetched stay indexed"
            ) from None

    @classmethod
    def for_settings(cls, settings: Settings) -> "FeedStore":
        return cls(Path(settings.data_dir) / "feeds.sqlite")

    def close(self) -> None:
        self.db.close()

    def feeds(self) -> list[Feed]:
        rows = self.db.execute(
            "SELECT f.name, f.url, f.added, f.etag, f.last_modified, f.last_fetch, f.last_error,"
            " (SELECT count(*) FROM items i WHERE i.feed = f.name AND i.state = 'stored')"
            " FROM feeds f ORDER BY f.name"
        ).fetchall()
        return [Feed(*row) for row in rows]

    def feed(self, name: str) -> Feed:
        for feed in self.feeds():
            if feed.name == name:
                return feed
        known = ", ".join(f.name for f in self.feeds()) or "none yet: qa feeds add URL"
        raise FeedError(f"no feed named {name!r} (feeds: {known})")

    def add(self, url: str, name: str | None = None) -> Feed:
        url = check_url(url)
        name = name or name_from_url(url)
        if not COLLECTION_NAME.match(name):
            raise FeedError(f"feed name {name!r} must be 1-63 letters, digits, '-' or '_'")
        for feed in self.feeds():
            if feed.name == name:
                raise FeedError(f"a feed named {name!r} exists already ({feed.url}); choose another with --name")
            if feed.url == url:
                raise FeedError(f"{url} is added already, as {feed.name!r}")
        with self.db:
            self.db.execute("INSERT INTO feeds (name, url, added) VALUES (?, ?, ?)", (name, url, now()))
        return self.feed(name)

    def remove(self, name: str) -> Feed:
        feed = self.feed(name)
        with self.db:
            self.db.execute("DELETE FROM items WHERE feed = ?", (name,))
            self.db.execute("DELETE FROM feeds WHERE name = ?", (name,))
        return feed

    def fetched(self, name: str, etag: str | None, last_modified: str | None, error: str | None) -> None:
        with self.db:
            if error is None:
                self.db.execute(
                    "UPDATE feeds SET etag = ?, last_modified = ?, last_fetch = ?, last_error = NULL WHERE name = ?",
                    (etag, last_modified, now(), name),
                )
            else:
                self.db.execute("UPDATE feeds SET last_fetch = ?, last_error = ? WHERE name = ?", (now(), error, name))

    def known(self, feed: str, item: Item) -> dict | None:
        """The record of ``item``: by the feed's id for it, else by its link."""
        for column, value in (("key", item.key), ("guid", item.guid), ("url", item.url)):
            if value:
                row = self.db.execute(
                    f"SELECT key, fingerprint, content_hash, path, state FROM items WHERE feed = ? AND {column} = ?",
                    (feed, value),
                ).fetchone()
                if row:
                    return dict(zip(("key", "fingerprint", "content_hash", "path", "state"), row))
        return None

    def holder_of(self, content_hash: str, but: tuple[str, str]) -> str | None:
        """The file of another stored item with this very text, if any."""
        row = self.db.execute(
            "SELECT path FROM items WHERE content_hash = ? AND state = 'stored' AND NOT (feed = ? AND key = ?)",
            (content_hash, *but),
        ).fetchone()
        return row[0] if row else None

    def put(self, feed: str, key: str, item: Item, state: str, path: str | None, content_hash: str | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO items (feed, key, guid, url, fingerprint, content_hash, path, state, seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (feed, key) DO UPDATE SET"
                " guid = excluded.guid, url = excluded.url, fingerprint = excluded.fingerprint,"
                " content_hash = excluded.content_hash, path = excluded.path, state = excluded.state",
                (feed, key, item.guid, item.url, item.fingerprint, content_hash, path, state, now()),
            )


# -- fetching ------------------------------------------------------------------------


@dataclass
class FeedResult:
    name: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: list[dict] = field(default_factory=list)  # {"url", "reason"}
    not_modified: bool = False

    def to_dict(self) -> dict:
        return {
            "name": self.name, "new": self.new, "updated": self.updated, "unchanged": self.unchanged,
            "duplicates": self.duplicates, "failed": self.failed, "not_modified": self.not_modified,
        }

    def summary(self) -> str:
        if self.not_modified:
            return f"{self.name}: not modified since the last fetch"
        parts = [f"{self.new} new", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.duplicates:
            parts.append(f"{self.duplicates} already stored elsewhere")
        parts.append(f"{len(self.failed)} failed")
        return f"{self.name}: " + ", ".join(parts)


@dataclass
class Page:
    """What a download gave for one item: the article, or the reason there is none."""

    item: Item
    text: str = ""
    title: str | None = None
    date: str | None = None
    source: str | None = None
    authors: list[str] = field(default_factory=list)
    error: str | None = None


class Fetcher:
    """Polls feeds once and writes their new and edited articles as files."""

    def __init__(self, settings: Settings, web: Web | None = None):
        self.settings = settings
        self.root = feeds_root(settings)
        self.store = FeedStore.for_settings(settings)
        self.web = web or Web(
            timeout=settings.feed_timeout,
            max_bytes=int(settings.feed_max_mb * 1_000_000),
            host_delay=settings.feed_host_delay,
        )
        # seconds spent downloading, extracting and writing (summed over threads): the
        # fetch benchmark's split
        self.seconds = {"download": 0.0, "extract": 0.0, "write": 0.0}
        self._clock = threading.Lock()

    def _spent(self, part: str, since: float) -> None:
        with self._clock:
            self.seconds[part] += time.perf_counter() - since

    def close(self) -> None:
        self.web.close()
        self.store.close()

    def fetch(self, names: list[str] | None = None) -> list[FeedResult]:
        feeds = [self.store.feed(n) for n in names] if names else self.store.feeds()
        return [self.fetch_feed(feed) for feed in feeds]

    def fetch_feed(self, feed: Feed) -> FeedResult:
        result = FeedResult(feed.name)
        try:
            answer = self.web.get(feed.url, feed.etag, feed.last_modified, accept=FEED_TYPES)
            if answer.not_modified:
                result.not_modified = True
                result.unchanged = feed.articles
                self.store.fetched(feed.name, feed.etag, feed.last_modified, None)
                return result
            title, items, bad = parse_feed(answer.body, answer.headers, answer.url)
        except FetchError as exc:
            result.failed.append({"url": feed.url, "reason": str(exc)})
            self.store.fetched(feed.name, None, None, str(exc))
            return result
        result.failed.extend({"url": feed.url, "reason": reason} for reason in bad)
        todo = []
        for item in items:
            record = self.store.known(feed.name, item)
            if record and record["fingerprint"] == item.fingerprint and self._in_place(record):
                result.unchanged += 1
            else:
                todo.append((item, record))
        for page, record in self._download(todo):
            self._store(feed, title, page, record, result)
        self.store.fetched(feed.name, answer.headers.get("etag"), answer.headers.get("last-modified"), None)
        return result

    def _in_place(self, record: dict) -> bool:
        """Stored and its file still there (a removal cut off half way is made good)."""
        if record["state"] == "duplicate":
            return True
        return record["state"] == "stored" and (self.root / record["path"]).is_file()

    def _download(self, todo: list[tuple[Item, dict | None]]):
        """(page, record) for each item, as soon as it is downloaded: one host at a time,
        hosts side by side. Written as they come, so a fetch cut off keeps what it got."""
        by_host: dict[str, list[int]] = defaultdict(list)
        for n, (item, _record) in enumerate(todo):
            by_host[urlsplit(item.url or "").netloc.lower()].append(n)
        done: queue.Queue = queue.Queue()

        def run(indexes: list[int]) -> None:
            for n in indexes:
                try:
                    done.put((n, self._page(todo[n][0])))
                except BaseException as exc:  # a bug: raised again in the caller's thread
                    done.put((n, exc))

        with ThreadPoolExecutor(max_workers=max(1, min(MAX_HOST_WORKERS, len(by_host)))) as pool:
            for indexes in by_host.values():
                pool.submit(run, indexes)
            for _ in todo:
                n, page = done.get()
                if isinstance(page, BaseException):
                    raise page
                yield page, todo[n][1]

    def _page(self, item: Item) -> Page:
        feed_words = len(item.feed_text.split())
        if not item.url:
            if feed_words:
                return Page(item, text=item.feed_text)
            return Page(item, error="an item with no link and no text")
        started = time.perf_counter()
        try:
            answer = self.web.get(item.url, accept=PAGE_TYPES)
        except FetchError as exc:
            return Page(item, error=str(exc))
        finally:
            self._spent("download", started)
        kind = answer.content_type
        if kind and kind not in HTML_TYPES:
            return Page(item, error=f"not an HTML page (content type {kind})")
        started = time.perf_counter()
        page = extract_page(item, answer.body, answer.url)
        self._spent("extract", started)
        if len(page.text.split()) < MIN_PAGE_WORDS and feed_words > len(page.text.split()):
            page.text, page.error = item.feed_text, None  # the feed carries more of the article
        if not page.text.strip():
            page.error = page.error or "no article text in the page or the feed"
        return page

    def _store(self, feed: Feed, feed_title: str | None, page: Page, record: dict | None, result: FeedResult) -> None:
        item = page.item
        if page.error:
            result.failed.append({"url": item.url or feed.url, "reason": page.error})
            return
        text = page.text.strip() + "\n"
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        key = record["key"] if record else item.key
        if record and record["content_hash"] == content_hash and self._in_place(record):
            self.store.put(feed.name, key, item, "stored", record["path"], content_hash)
            result.unchanged += 1  # the entry changed, not the article
            return
        if self.store.holder_of(content_hash, (feed.name, key)):
            self.store.put(feed.name, key, item, "duplicate", None, content_hash)
            result.duplicates += 1
            return
        rel = (record or {}).get("path") or f"{feed.name}/{file_name(item)}"
        started = time.perf_counter()
        self.store.put(feed.name, key, item, "pending", rel, content_hash)  # the name first: a retry reuses it
        write_whole(self.root / rel, render(item, page, feed, feed_title, text))
        self.store.put(feed.name, key, item, "stored", rel, content_hash)
        self._spent("write", started)
        if record and record["state"] == "stored":
            result.updated += 1
        else:
            result.new += 1


# -- reading a feed --------------------------------------------------------------------


def parse_feed(body: bytes, headers: dict[str, str], url: str) -> tuple[str | None, list[Item], list[str]]:
    """The feed's title, its items, and a reason for each item that cannot be used.
    Raises ``FetchError`` when the body is no feed at all."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-type": headers.get("content-type", "application/xml")})
    if not parsed.entries:
        if looks_like_html(body, headers):
            found = discover_feed(body, url)
            hint = f"; it links to a feed: {found}" if found else ""
            raise FetchError(f"an HTML page, not a feed{hint}")
        if parsed.bozo and not parsed.version:
            raise FetchError(f"malformed feed: {short(parsed.bozo_exception)}")
    items, bad = [], []
    for entry in parsed.entries:
        item = feed_item(entry, url)
        if item is None:
            title = " ".join(str(entry.get("title") or "untitled").split())[:80]
            bad.append(f"an item with no link and no text ({title!r})")
        else:
            items.append(item)
    if parsed.bozo and not items:
        raise FetchError(f"malformed feed: {short(parsed.bozo_exception)}")
    return (parsed.feed.get("title") or None), items, bad


def feed_item(entry, feed_url: str) -> Item | None:
    link = entry.get("link") or None
    if link and entry.get("guidislink") and not link.startswith(("http://", "https://")):
        link = None  # an RSS <guid> that is no URL, taken for the link by feedparser
    if link:
        link = urljoin(feed_url, link)
    guid = entry.get("id") or None
    contents = [c.get("value", "") for c in entry.get("content") or []]
    feed_html = max([*contents, entry.get("summary") or ""], key=len)
    feed_text = html_to_text(feed_html) if feed_html else ""
    if not link and not feed_text.strip():
        return None
    key = guid or link or hashlib.sha256(feed_text.encode("utf-8")).hexdigest()
    when = entry.get("published_parsed") or entry.get("updated_parsed")
    date = dt.date(*when[:3]).isoformat() if when else None
    authors = [a.get("name") for a in entry.get("authors") or [] if a.get("name")]
    title = " ".join(str(entry.get("title") or "").split())
    fingerprint = hashlib.sha256(
        json.dumps([title, link, entry.get("updated"), entry.get("published"), feed_html], default=str).encode("utf-8")
    ).hexdigest()
    return Item(key, guid, link, title, date, authors, feed_text, fingerprint)


def looks_like_html(body: bytes, headers: dict[str, str]) -> bool:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    head = body[:512].lstrip().lower()
    return kind in HTML_TYPES or head.startswith((b"<!doctype html", b"<html"))


def discover_feed(body: bytes, url: str) -> str | None:
    """The feed an HTML page announces (<link rel="alternate" type="application/rss+xml">)."""
    for tag in re.findall(rb"<link\b[^>]*>", body[:200_000], flags=re.IGNORECASE):
        text = tag.decode("utf-8", "replace")
        if re.search(r"rel=[\"']?alternate", text, re.I) and re.search(r"(rss|atom|rdf)\+xml", text, re.I):
            href = re.search(r"href=[\"']([^\"']+)", text, re.I)
            if href:
                return urljoin(url, href.group(1))
    return None


def html_to_text(fragment: str) -> str:
    """The text of a feed's HTML content, paragraphs kept apart."""
    import lxml.html

    try:
        tree = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # lxml raises several types for what is not markup
        return " ".join(fragment.split())
    for block in tree.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote"):
        block.tail = "\n\n" + (block.tail or "")
    text = tree.text_content()
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def extract_page(item: Item, body: bytes, url: str) -> Page:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(body, url=url, with_metadata=True, include_comments=False, favor_precision=True)
    except Exception as exc:  # lxml/trafilatura errors on broken documents
        return Page(item, error=f"malformed HTML: {short(exc)}")
    if doc is None:
        return Page(item)
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return Page(
        item, text=doc.text or "", title=doc.title, date=doc.date, source=doc.sitename or doc.hostname, authors=authors
    )


# -- writing an article file -------------------------------------------------------------


def render(item: Item, page: Page, feed: Feed, feed_title: str | None, text: str) -> str:
    import frontmatter

    from .article import normalize_date

    meta = {
        "title": item.title or page.title or item.url or "untitled",
        "date": item.date or _safe_date(page.date, normalize_date),
        "source": page.source or feed_title or urlsplit(item.url or feed.url).netloc,
        "url": item.url,
        "authors": item.authors or page.authors,
        "feed": feed.name,
    }
    meta = {k: v for k, v in meta.items() if v not in (None, "", [])}
    return frontmatter.dumps(frontmatter.Post(text, **meta)) + "\n"


def _safe_date(value, normalize) -> str | None:
    try:
        return normalize(value)
    except (ValueError, TypeError):
        return None


def file_name(item: Item) -> str:
    """'2024-05-02-japan-expects-more-from-sochi-3f2a9c1b.md': readable, and unique by the
    item's key."""
    slug = unicodedata.normalize("NFKD", item.title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")[:60].rstrip("-") or "article"
    digest = hashlib.sha1(item.key.encode("utf-8")).hexdigest()[:8]
    return f"{item.date or 'undated'}-{slug}-{digest}.md"


def write_whole(path: Path, text: str) -> None:
    """Written to a temporary file beside it, then renamed over it: never half a file."""
    replace_file(path, text.encode("utf-8"), prefix=".fetching-", suffix=".part", fsync=True)


def clear_leftovers(root: Path) -> None:
    """Temporary files of a fetch that was killed before it renamed them."""
    if root.is_dir():
        for leftover in root.glob("*/.fetching-*.part"):
            leftover.unlink(missing_ok=True)


# -- names and URLs ------------------------------------------------------------------------


def check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FeedError(f"{url!r} is not an http(s) URL")
    return url.strip()


def name_from_url(url: str) -> str:
    host = urlsplit(url).hostname or "feed"
    host = host[4:] if host.startswith("www.") else host
    return re.sub(r"[^A-Za-z0-9]+", "-", host).strip("-")[:63] or "feed"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# -- one fetch, then one sync ----------------------------------------------------------------


def fetch_feeds(settings: Settings, names: list[str] | None = None) -> list[FeedResult]:
    """Poll the feeds (all, or ``names``) once and write their new and edited articles.
    One fetch at a time per data folder. Then ``sync_feeds`` indexes what was written."""
    from filelock import FileLock, Timeout

    from .core import SyncBusy

    lock_dir = Path(settings.data_dir) / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_dir / "feeds.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise SyncBusy("another fetch of these feeds is running; wait for it to finish, then run this again") from None
    try:
        fetcher = Fetcher(settings)
        try:
            if not fetcher.store.feeds():
                raise FeedError("no feeds yet: add one with qa feeds add URL")
            clear_leftovers(fetcher.root)
            return fetcher.fetch(names)
        finally:
            fetcher.close()
    finally:
        lock.release()


def sync_feeds(index, progress=None):
    """Sync the feeds' folder into ``index``; None when no feed has written anything yet."""
    root = feeds_root(index.settings)
    return index.sync([root], progress=progress) if root.is_dir() else None
