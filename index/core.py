"""``Index``: the public face of the article store (open, sync, read, remove, status)."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Callable

from .article import Article
from .errors import QAError, StoreError
from .settings import Settings
from .store import Store, StoredArticle, connect, remember_roots, where_clause
from .sync import Plan, Progress, SyncReport, Syncer, checkpoint, now_iso


class SyncBusy(StoreError):
    exit_code = 75  # EX_TEMPFAIL


class ArticleNotFound(QAError, KeyError):
    def __str__(self) -> str:
        return f"no article with id {self.args[0]!r}"


def seeds_dir() -> Path:
    """The bundled sample articles: the repo's seeds/ or the copy inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "seeds", here / "_seeds"):
        if candidate.is_dir():
            return candidate
    raise StoreError("the bundled seeds/ folder is missing from this installation")


class Index:
    """Articles, chunks and vectors of one named collection.

    >>> index = Index.open(collection="news")
    >>> report = index.sync(["~/articles"])
    >>> index.article("world/putin.txt").text
    """

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self._store = store  # private: callers go through the methods below, never Chroma
        self._embedder = None
        self._embedder_given = False
        self._manifest_at: str | None = None  # the marker the manifest was last in step with

    @classmethod
    def open(
        cls,
        collection: str | None = None,
        data_dir: str | Path | None = None,
        chroma_url: str | None = None,
        settings: Settings | None = None,
        create: bool = True,
        check_model: bool = True,
    ) -> "Index":
        """``create``: make the collection when it does not exist yet. ``check_model=False``
        opens a collection built with another model, to rebuild it (``sync(rebuild=True)``)."""
        settings = settings_with(settings, collection=collection, data_dir=data_dir, chroma_url=chroma_url)
        client = connect(settings)
        store = Store(client, settings.collection, settings).open(create=create, check=check_model)
        return cls(settings, store)

    # -- components, loaded on first use ---------------------------------------------

    @property
    def precision(self) -> str:
        """The precision of the embedder that built this collection (int8 or fp32)."""
        return self._store.precision

    @property
    def embedder(self):
        """The embedder that built this collection (its queries and new chunks must use
        the same one); made on first use, and again after a rebuild changed it."""
        from .embedding import Embedder

        precision = self._store.precision
        if self._embedder is None or (not self._embedder_given and self._embedder.precision != precision):
            self._embedder = Embedder(
                backend=self.settings.embed_backend,
                cache_dir=self.settings.model_cache_dir,
                batch_size=self.settings.embed_batch_size,
                precision=precision,
            )
        return self._embedder

    @embedder.setter
    def embedder(self, embedder) -> None:
        """Another embedder with the same interface (benchmarks: a hashing one)."""
        self._embedder = embedder
        self._embedder_given = True

    def chunker(self):
        from .chunking import Chunker

        return Chunker(
            self.embedder.tokenizer,
            max_tokens=self.settings.chunk_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
            title_context=self.settings.chunk_title_context,
        )

    def _syncer(self) -> Syncer:
        return Syncer(
            self._store,
            self.chunker,
            self.embedder,
            max_bytes=int(self.settings.max_file_mb * 1_000_000),
            max_jsonl_bytes=int(self.settings.max_jsonl_mb * 1_000_000),
            batch=self.settings.sync_batch_articles,
        )

    # -- syncing ------------------------------------------------------------------------

    def sync(
        self,
        paths: list[str | Path] | None = None,
        dry_run: bool = False,
        rebuild: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> SyncReport:
        """Bring the collection in line with ``paths`` (default: every folder synced before).

        New articles are added, changed ones re-chunked and re-embedded, ones gone from a
        synced folder removed; unchanged files are skipped without reading them.
        ``rebuild``: start over from every folder and file synced before plus ``paths``; one
        that is gone is reported as failed and no longer synced."""
        started = time.perf_counter()
        report = SyncReport(dry_run=dry_run)
        with self._lock(dry_run):
            self._store.reconnect()  # another process may have written before we got the lock
            roots = self.roots()
            if rebuild:
                paths = [*roots, *(paths or [])]
                if not dry_run:
                    before = set(self._store.stored_articles())
                    self._drop()
            targets = _dedupe_targets(paths if paths else roots)
            if not rebuild and not dry_run:
                self._store.check_precision()
            syncer = self._syncer()
            state = self._store.state()
            if state.get("qa_sync_started") and not dry_run:
                # A sync died half way: collect what it left before planning anew.
                syncer.collect_garbage(None)
                report.repaired = True
            target_names = sorted(os.path.realpath(t) for t in targets)
            scanned = self.folder_list.load(target_names)

            def preload_if_changed(folders: set[str]):
                if dry_run or not _folders_changed(target_names, folders, state.get("qa_last_sync")):
                    return None
                return self._store.preload_vectors()

            preload = None
            try:
                with _no_cyclic_gc():
                    if scanned is not None:  # known before the records: the load starts 0.3 s sooner
                        preload = preload_if_changed(scanned)
                    stored = self._stored_articles()
                    if scanned is None:
                        preload = preload_if_changed(_folders_of(stored))
                    plan = syncer.plan(targets, stored, report)
            finally:
                if preload is not None:
                    preload.join()
            if not dry_run and plan.folders != scanned:
                self.folder_list.save(target_names, plan.folders)
            if not dry_run:
                self._apply(syncer, plan, stored, report, Progress(progress))
            if rebuild and not dry_run:
                _gone_roots(report, roots, self.roots())
                report.removed = sorted(before - set(report.added))
        report.seconds = time.perf_counter() - started
        return report

    def _apply(self, syncer: Syncer, plan: Plan, stored, report: SyncReport, progress: Progress):
        changes = bool(plan.writes or plan.removes) or report.repaired
        roots = merge_roots(self.roots(), plan.roots)
        before = self.generation()
        if changes:
            self._begin_write()
        syncer.apply(plan, stored, report, progress)
        checkpoint("before-finish")
        self._store.set_state(
            qa_sync_started="",
            qa_last_sync=now_iso(),
            qa_roots=json.dumps(roots),
            qa_generation=self.generation() + (1 if changes else 0),
        )
        self._update_lexical(before, None if report.repaired else syncer.touched_keys)
        if changes and not report.repaired:
            self._update_manifest(before, stored, plan)
        remember_roots(self.settings, roots)

    def _stored_articles(self) -> dict[str, StoredArticle]:
        """Every article's bookkeeping record: from this client's copy when it is in step
        with the collection, else read from the collection (and the copy written). At
        100,000 articles: 0.4 s from the copy, 10-15 s from Chroma."""
        marker = self._marker(self.generation())
        metas = self.manifest.load(marker)
        self._manifest_at = marker
        if metas is not None:
            return {i: StoredArticle(i, m) for i, m in metas.items()}
        stored = self._store.stored_articles()
        self.manifest.save(marker, {i: r.meta for i, r in stored.items()})
        return stored

    def _update_manifest(self, before: int, stored: dict[str, StoredArticle], plan: Plan) -> None:
        """Bring the copy forward by this write: the records it wrote, read back (the cost
        of the change), less the ones it removed."""
        if self._manifest_at != self._marker(before):
            return  # not in step before this write: the next sync reads the collection
        metas = {i: r.meta for i, r in stored.items()}
        for article_id in plan.removes:
            metas.pop(article_id, None)
        written = self._store.article_records([w.article.id for w in plan.writes])
        metas.update({i: r.meta for i, r in written.items()})
        self.manifest.save(self._marker(self.generation()), metas)

    @cached_property
    def manifest(self):
        from .manifest import Manifest

        return Manifest(self.settings.data_dir / "manifests" / f"{self.settings.store_key}.json")

    @cached_property
    def folder_list(self):
        from .manifest import FolderList

        return FolderList(self.settings.data_dir / "manifests" / f"{self.settings.store_key}.folders.json")

    def _update_lexical(self, before: int, keys: set[str] | None) -> None:
        """Log the chunk keys this write touched (other clients catch up from the log), and
        rewrite only their lexical rows when the lexical index was in step before it."""
        after = self.generation()
        if keys is not None and after > before:
            self._store.log_change(before, after, keys)
        if keys is not None and self.lexical.synced_to() == self._marker(before):
            self.lexical.update_keys(self._store, keys, self._marker(after))
        else:
            self.ensure_lexical()

    def _begin_write(self) -> None:
        # The generation moves at the start and the end of every write, so the lexical
        # index notices a change even when the writer dies half way.
        self._store.set_state(qa_sync_started=now_iso(), qa_generation=self.generation() + 1)

    def generation(self) -> int:
        return int(self._store.state().get("qa_generation") or 0)

    @cached_property
    def lexical(self):
        from .lexical import LexicalIndex

        path = self.settings.data_dir / "lexical" / f"{self.settings.store_key}.sqlite"
        return LexicalIndex(path, refill=lambda lexical: lexical.sync_from(self._store, self._marker(self.generation())))

    def ensure_lexical(self) -> None:
        """Bring the lexical index in step with the collection if a write moved it: from
        the change log when it covers every write since (another client's syncs), else by
        a diff of the whole collection."""
        generation = self.generation()
        marker = self._marker(generation)
        have = self.lexical.synced_to()
        if have == marker:
            return
        identity, _, at = (have or "").rpartition(":")
        if identity == self._store.identity and at.isdigit() and int(at) < generation:
            keys = self._store.changed_keys(int(at), generation)
            if keys is not None:
                self.lexical.update_keys(self._store, keys, marker)
                return
        self.lexical.sync_from(self._store, marker)

    def _marker(self, generation: int) -> str:
        """What the lexical index is in step with: this collection (a store started over
        has new ids) at this generation."""
        return f"{self._store.identity}:{generation}"

    @contextmanager
    def _lock(self, dry_run: bool):
        """One writer per collection; a second sync stops at once with a clear message."""
        if dry_run:
            yield
            return
        from filelock import FileLock, Timeout

        lock_dir = self.settings.data_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        # Keyed by the collection's id on its server, not by the URL's text (localhost and
        # 127.0.0.1 are one server).
        lock = FileLock(str(lock_dir / f"{self.settings.collection}-{self._store.identity}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise SyncBusy(
                f"another sync of collection {self.settings.collection!r} is running;"
                " wait for it to finish, then run this again"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _drop(self) -> None:
        generation = self.generation()
        self._begin_write()  # a rebuild killed half way is repaired like a sync
        self._store.clear()  # and the flag with the rest of the state
        self._store.set_state(qa_generation=generation + 2)

    def roots(self) -> list[str]:
        raw = self._store.state().get("qa_roots")
        return json.loads(raw) if raw else []

    def ensure_seeded(self, progress=None) -> SyncReport | None:
        """First use of an empty default collection: index the bundled seeds/."""
        if self.settings.collection != "default" or self._store.state().get("qa_last_sync"):
            return None
        if self._store.counts()[0]:
            return None
        return self.sync([seeds_dir()], progress=progress)

    # -- reading ------------------------------------------------------------------------

    def article(self, article_id: str) -> Article:
        found = self._store.get_articles([article_id])
        if not found:
            raise ArticleNotFound(article_id)
        return found[0]

    def articles(self) -> list[Article]:
        ids = sorted(self._store.stored_articles())
        return self._store.get_articles(ids)

    def articles_by_id(self, ids: list[str]) -> list[Article]:
        """The articles with these ids that exist, in the order asked."""
        return self._store.get_articles(list(ids))

    # -- the door to the stores: nothing outside index/ touches a Chroma collection ------

    def counts(self) -> tuple[int, int]:
        """(articles, chunks)."""
        return self._store.counts()

    def catch_up(self) -> None:
        """See what other processes wrote since this index was opened (embedded Chroma
        keeps a vector index per process)."""
        self._store.reconnect()

    def dense_search(self, vector, n: int, sources=None, since: int | None = None, until: int | None = None,
                     article_ids=None, chunk_ids: list[str] | None = None) -> list[str]:
        """The ids of the ``n`` chunks nearest ``vector``, nearest first, within the filters
        (sources, dates as YYYYMMDD integers, article ids), or among ``chunk_ids``."""
        return self._store.nearest(list(vector), n, where_clause(sources, since, until, article_ids), chunk_ids)

    def chunks(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        """chunk id -> (text, metadata) for the ids that exist."""
        return self._store.chunk_texts(ids)

    def added_since(self, epoch: int):
        """The bookkeeping records of the articles that arrived at or after ``epoch``."""
        return self._store.added_since(epoch)

    def lead_vectors(self, keys: list[str]) -> dict[str, list[float]]:
        return self._store.lead_vectors(keys)

    def sources(self) -> dict[str | None, int]:
        """Each source (outlet) and its article count; None for articles without one."""
        counts: dict[str | None, int] = {}
        for record in self._stored_articles().values():
            name = record.meta.get("source") or None
            counts[name] = counts.get(name, 0) + 1
        return counts

    def canonical_ids(self) -> dict[str, str]:
        """article id -> the id its shared chunks are filed under (same text, smallest id)."""
        stored = self._stored_articles()
        first: dict[str, str] = {}
        for article_id in sorted(stored):
            first.setdefault(stored[article_id].chunk_key, article_id)
        return {i: first[r.chunk_key] for i, r in stored.items()}

    def remove(self, article_id: str) -> None:
        with self._lock(False):
            self._store.reconnect()
            stored = self._store.article_records([article_id])  # one record, not all of them
            if article_id not in stored:
                raise ArticleNotFound(article_id)
            before = self.generation()
            self._begin_write()
            self._store.delete_articles([article_id])
            self._syncer().collect_garbage({stored[article_id].chunk_key})
            self._store.set_state(qa_sync_started="", qa_generation=self.generation() + 1)
            self._update_lexical(before, {stored[article_id].chunk_key})

    def status(self) -> dict:
        articles, chunks = self._store.counts()
        state = self._store.state()
        return {
            "collection": self.settings.collection,
            "articles": articles,
            "chunks": chunks,
            "model": self._store.chunks.metadata.get("qa_model"),
            "dim": self._store.chunks.metadata.get("qa_dim"),
            "precision": self._store.precision,
            "store": "server" if self.settings.chroma_url else "embedded",
            "where": self.settings.where,
            "data_dir": str(self.settings.data_dir),
            "roots": self.roots(),
            "last_sync": state.get("qa_last_sync") or None,
            "interrupted_sync": bool(state.get("qa_sync_started")),
        }


def open_index(settings: Settings, seed: bool = True, progress=None, create: bool = False) -> Index:
    """The collection to read from. Only ``default`` is made on first use (and seeded),
    unless ``create``; another name must have been indexed into, so a typo is an error,
    not a new empty collection."""
    idx = Index.open(settings=settings, create=create or settings.collection == "default")
    if seed:
        idx.ensure_seeded(progress=progress)
    return idx


def settings_with(settings: Settings | None, **overrides) -> Settings:
    """Settings from the environment, with the non-None overrides applied."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if settings is None:
        return Settings(**values)
    return Settings(**{**settings.model_dump(), **values}) if values else settings


def merge_roots(old: list[str], new: set[str]) -> list[str]:
    """The folders and files a bare sync syncs: old and new, less those inside another."""
    roots = sorted(set(old) | set(new))
    return [r for r in roots if not any(r != o and Path(r).is_relative_to(o) for o in roots)]


def _gone_roots(report: SyncReport, before: list[str], after: list[str]) -> None:
    """A rebuild drops a synced folder that is gone: say so on its failure line."""
    gone = set(before) - set(after)
    for failure in report.failed:
        if failure["path"] in gone:
            failure["reason"] = "synced before, now gone: no longer synced"


def _folders_changed(targets: list[str], folders: set[str], last_sync: str | None) -> bool:
    """Whether a file was added to, removed from or renamed in one of ``folders`` since
    the last sync, by one stat a folder (its mtime moves; 722 folders at 100,000
    articles: a few ms). Only a guess, to load the vector index early when the sync will
    likely write, and to spare a sync that finds nothing (1.1 GB and 0.3 s at 100,000):
    an edit in place moves no folder, and is synced all the same. ``folders``: the ones
    the last sync of these targets scanned, empty ones too, else those of the articles."""
    if not last_sync or not folders:
        return True
    try:
        since_ns = int(dt.datetime.fromisoformat(last_sync).timestamp() - 1) * 1_000_000_000  # whole seconds
    except ValueError:
        return True
    folders = set(folders)
    for path in targets:  # real paths
        if not os.path.isfile(path) and path not in folders:
            return True  # a folder never synced, or a new one inside a synced one
        folders.add(path)
    try:
        return any(os.stat(folder).st_mtime_ns >= since_ns for folder in folders)
    except OSError:
        return True  # a folder gone: its articles will be removed


def _folders_of(stored: dict[str, StoredArticle]) -> set[str]:
    """The folders the articles were read from, and each folder between them and their root."""
    folders: set[str] = set()
    for folder, root in {(os.path.dirname(r.meta.get("origin") or ""), r.meta.get("root") or "") for r in stored.values()}:
        if not root or not os.path.isabs(folder):
            continue  # read from a URL, or a record from before roots were kept
        while folder not in folders and folder.startswith(root):
            folders.add(folder)
            folder = os.path.dirname(folder)
    return folders


@contextmanager
def _no_cyclic_gc():
    """Planning builds a record per article (100,000 here) and frees none of them: the
    cyclic collector, run over and over on that growing heap, took a fifth of a no-change
    sync (0.3-0.5 s of 2.2-2.9 at 100,000 articles) and finds nothing to collect."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _dedupe_targets(paths) -> list[Path]:
    targets: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        path = Path(path.absolute())
        if path not in targets:
            targets.append(path)
    # A target inside another target is covered by it.
    def inside(p: Path, q: Path) -> bool:
        try:
            return p != q and p.resolve().is_relative_to(q.resolve())
        except OSError:
            return False

    return [p for p in targets if not any(inside(p, q) for q in targets)]
