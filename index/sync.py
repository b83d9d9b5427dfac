"""Syncing folders and files into the store: plan, then apply in a crash-safe order.

Order of writes, so that a sync killed at any point and run again ends equal to a clean
build:

1. mark the collection "sync in progress" (a journal flag in its metadata);
2. write the chunks of every new chunk key, then the article records that use them
   (an article record exists only once all its chunks do);
3. delete article records that are gone;
4. delete chunks no article refers to any more, and refresh chunk metadata whose
   canonical article changed;
5. clear the flag. A sync that finds the flag set first repairs (full garbage
   collection of unreferenced chunks, metadata refresh) before planning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .article import Article, date_to_int
from .chunking import CHUNKER_VERSION, Chunk, Chunker
from .readers import FileEntry, ReadError, is_utf8, read_entry, scan
from .store import Store, StoredArticle

ARTICLE_BATCH = 64  # articles chunked and embedded per write batch
_checkpoints: dict[str, int] = defaultdict(int)


def checkpoint(name: str) -> None:
    """Fault injection for the crash tests: QA_CRASH_AT=name[:n] SIGKILLs this process the
    n-th time it gets here. Costs one dict lookup otherwise."""
    wanted = os.environ.get("QA_CRASH_AT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point == name:
        _checkpoints[name] += 1
        if _checkpoints[name] >= int(count or 1):
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"path", "reason"}
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed

    def fail(self, path: str, reason: str) -> None:
        self.failed.append({"path": path, "reason": reason})

    def to_dict(self) -> dict:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "failed": self.failed,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
            "articles": {
                "added": self.added,
                "updated": self.updated,
                "removed": self.removed,
            },
        }

    def summary(self) -> str:
        verb = "would be " if self.dry_run else ""
        parts = [
            f"{len(self.added)} {verb}added",
            f"{len(self.updated)} {verb}updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} {verb}removed",
            f"{len(self.failed)} failed",
        ]
        text = ", ".join(parts)
        if not self.dry_run:
            text += (
                f" ({self.chunks_embedded} chunks embedded, {self.chunks_reused} reused,"
                f" {self.seconds:.1f} s)"
            )
        return text


@dataclass
class Planned:
    article: Article
    extra: dict  # bookkeeping metadata: root, mtime_ns, size, chunk_key
    kind: str  # "added" | "updated" | "touched" (same content, new file stat)


@dataclass
class _Batch:
    """Articles on their way through the pipeline: chunked, then embedded, then written."""

    items: list[Planned]
    chunked: list[tuple[Planned, list[Chunk]]]
    texts: dict[str, str]  # embed hash -> text to embed
    vectors: dict[str, list[float]]  # embed hash -> vector (from the store, then the model)


@dataclass
class Plan:
    writes: list[Planned] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)  # every folder the scan visited


class Progress:
    """What a sync tells its caller: a phase name and counts of articles; a callback that
    takes a fourth argument also gets the chunks embedded so far (for a rate)."""

    def __init__(self, callback: Callable[..., None] | None):
        self.callback = callback
        self.chunks = 0
        try:
            import inspect

            self._with_chunks = callback is not None and len(inspect.signature(callback).parameters) >= 4
        except (TypeError, ValueError):
            self._with_chunks = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.callback and self._with_chunks:
            self.callback(phase, done, total, self.chunks)
        elif self.callback:
            self.callback(phase, done, total)


def chunk_key(article: Article, chunker: Chunker) -> str:
    parts = [CHUNKER_VERSION, chunker.max_tokens, chunker.overlap_tokens, article.title, article.text]
    if not chunker.with_title:
        parts.append("no-title-context")
    spec = json.dumps(parts)
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:32]


def embed_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Syncer:
    def __init__(
        self, store: Store, chunker_factory, embedder, max_bytes: int, batch: int = ARTICLE_BATCH,
        max_jsonl_bytes: int | None = None,
    ):
        self.store = store
        self.batch = batch
        self.touched_keys: set[str] = set()  # chunk keys the last apply wrote or removed
        self._chunker_factory = chunker_factory
        self.embedder = embedder
        self.max_bytes = max_bytes
        self.max_jsonl_bytes = max_jsonl_bytes
        self._chunker: Chunker | None = None
        self.started = int(time.time())  # epoch seconds: the articles this sync adds arrive now

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            self._chunker = self._chunker_factory()
        return self._chunker

    # -- planning ------------------------------------------------------------------

    def plan(self, targets: list[Path], stored: dict[str, StoredArticle], report: SyncReport) -> Plan:
        plan = Plan()
        by_origin: dict[str, list[StoredArticle]] = defaultdict(list)
        for record in stored.values():
            if record.origin:
                by_origin[record.origin].append(record)
        known_roots = {r.root for r in stored.values() if r.root}
        claimed: dict[str, str] = {}  # article id -> where this sync found it
        for target in targets:
            self._plan_target(target, stored, by_origin, known_roots, claimed, plan, report)
        report.removed.extend(plan.removes)
        return plan

    def _plan_target(self, target, stored, by_origin, known_roots, claimed, plan, report) -> None:
        found = scan(target)
        plan.folders.update(found.folders)
        for where, reason in found.failures:
            report.fail(where, reason)
        resolved = _resolve(target)
        if resolved is None or not (resolved.is_dir() or resolved.is_file()) or not is_utf8(str(resolved)):
            return  # reported by scan; nothing there to compare against
        root, scope = _root_and_scope(resolved, known_roots)
        plan.roots.add(str(resolved))  # what was asked for: a file alone is synced alone later
        protected: set[str] = {where for where, _ in found.failures}
        seen: set[str] = set()
        root_text = str(root)
        for entry in found.files:
            if entry.root != root:  # a subfolder (or a file) of a folder synced before
                entry.root, entry.rel = root, entry.path.relative_to(root).as_posix()
            olds = by_origin.get(entry.where, [])
            if olds and all(_same_stat(o, entry, root_text) for o in olds):
                report.unchanged.extend(o.id for o in olds)
                seen.update(o.id for o in olds)
                continue
            try:
                result = read_entry(entry, self.max_bytes, self.max_jsonl_bytes)
            except ReadError as exc:
                report.fail(str(entry.path), str(exc))
                protected.add(str(entry.path))
                continue
            if result.failures:
                protected.add(str(entry.path))  # keep what a broken line may have held
                for where, reason in result.failures:
                    report.fail(where, reason)
            for n, article in enumerate(result.articles):
                where = result.where(n, entry.path)
                self._plan_article(article, entry, where, stored, claimed, seen, plan, report)
        for record in stored.values():
            if record.id in seen or record.root != str(root):
                continue
            origin = record.origin or ""
            if not _in_scope(origin, scope) or origin in protected:
                continue
            if any(origin.startswith(p + "/") for p in protected):
                continue  # under a folder that could not be read
            plan.removes.append(record.id)

    def _plan_article(self, article, entry: FileEntry, where: str, stored, claimed, seen, plan, report) -> None:
        """``where``: the file, or 'file:line' for a JSONL line."""
        if article.id in claimed:
            report.fail(where, f"duplicate article id {article.id!r} (also at {claimed[article.id]})")
            return
        existing = stored.get(article.id)
        if existing and existing.root and existing.root != str(entry.root):
            if existing.origin and Path(existing.origin).exists():
                report.fail(
                    where,
                    f"article id {article.id!r} already comes from {existing.origin};"
                    " use another --collection for this folder",
                )
                return
        claimed[article.id] = where
        seen.add(article.id)
        extra = {
            "root": str(entry.root),
            "mtime_ns": str(entry.mtime_ns),
            "size": entry.size,
            "chunk_key": chunk_key(article, self.chunker),
        }
        if existing is None:
            extra["added_at"] = self.started  # when it arrived: `qa new` lists what came since

            plan.writes.append(Planned(article, extra, "added"))
            report.added.append(article.id)
        elif existing.chunk_key != extra["chunk_key"] or _meta_changed(existing, article):
            plan.writes.append(Planned(article, extra, "updated"))
            report.updated.append(article.id)
        else:
            plan.writes.append(Planned(article, extra, "touched"))
            report.unchanged.append(article.id)

    # -- applying ------------------------------------------------------------------

    def apply(self, plan: Plan, stored: dict[str, StoredArticle], report: SyncReport, progress: Progress):
        complete = {r.chunk_key for r in stored.values()}  # keys whose chunks all exist
        writes = [w for w in plan.writes if w.kind != "touched"]
        need: dict[str, Planned] = {}
        for item in writes:
            key = item.extra["chunk_key"]
            if key not in complete:
                need.setdefault(key, item)
        pending = list(need.values())
        batches = [pending[first : first + self.batch] for first in range(0, len(pending), self.batch)]
        done: set[str] = set()
        progress("embedding", 0, len(pending))
        old_keys = {i: r.chunk_key for i, r in stored.items()}
        self._pipeline(batches, old_keys, writes, complete, done, report, progress)
        # Articles whose chunks already existed: renames, copies, metadata edits.
        self._put_articles([w for w in writes if w.article.id not in done], done)
        touched = [w for w in plan.writes if w.kind == "touched"]
        if touched:
            self.store.update_article_stats(
                {w.article.id: {"mtime_ns": w.extra["mtime_ns"], "size": w.extra["size"]} for w in touched}
            )
        checkpoint("before-remove")
        if plan.removes:
            self.store.delete_articles(plan.removes)
        checkpoint("before-gc")
        affected = {w.extra["chunk_key"] for w in writes}
        affected |= {stored[i].chunk_key for i in plan.removes + report.updated if i in stored}
        self.touched_keys = affected
        if affected:
            progress("cleaning up", 0, 1)
            self.collect_garbage(affected)

    def _pipeline(self, batches, old_keys, writes, complete, done, report, progress) -> None:
        """Embed batch n on this thread (the model keeps both cores busy) while one store
        thread writes batch n-1 and chunks batch n+1. The store thread does every read and
        write in order, so the crash-safe order of writes holds."""
        if not batches:
            return
        store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-store")
        try:
            # Vectors of the batch just embedded: the next batch was looked up in the store
            # before they were written, and a text is never embedded twice.
            recent: dict[str, list[float]] = {}
            prepared = store_thread.submit(self._prepare, batches[0], old_keys)
            writing = None
            written = 0
            for n in range(len(batches)):
                job = prepared.result()
                if n + 1 < len(batches):
                    prepared = store_thread.submit(self._prepare, batches[n + 1], old_keys)
                recent = self._embed_missing(job, recent, report)
                progress.chunks = report.chunks_embedded
                if writing is not None:
                    written += writing.result()
                    progress("embedding", written, sum(map(len, batches)))
                writing = store_thread.submit(self._write_batch, job, writes, complete, done)
            written += writing.result()
            progress("embedding", written, sum(map(len, batches)))
        finally:
            store_thread.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, batch: list[Planned], old_keys: dict[str, str]) -> "_Batch":
        """Chunk a batch and find the vectors its texts already have in the store: among
        the chunks of each article's old version and of its new key (a write cut short)."""
        chunked = [(item, self.chunker.chunk(item.article.title, item.article.text)) for item in batch]
        texts = {embed_hash(c.embed_text): c.embed_text for _, chunks in chunked for c in chunks}
        keys = {item.extra["chunk_key"] for item in batch} | {old_keys.get(item.article.id, "") for item in batch}
        known = self.store.vectors_of_keys(sorted(k for k in keys if k))
        return _Batch(batch, chunked, texts, {h: v for h, v in known.items() if h in texts})

    def _embed_missing(self, job: "_Batch", recent: dict, report: SyncReport) -> dict:
        """Embed the texts of ``job`` that have no vector yet; returns this batch's vectors."""
        report.chunks_reused += len(job.vectors)
        for h in job.texts.keys() & recent.keys():
            if h not in job.vectors:
                job.vectors[h] = recent[h]
                report.chunks_reused += 1
        missing = {h: t for h, t in job.texts.items() if h not in job.vectors}
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            job.vectors.update({h: v.tolist() for h, v in zip(missing, fresh)})
            report.chunks_embedded += len(missing)
        return job.vectors

    def _write_batch(self, job: "_Batch", writes, complete: set[str], done: set[str]) -> int:
        """Write a batch's chunks, then the articles all of whose chunks now exist."""
        ids, docs, embs, metas = [], [], [], []
        for item, chunks in job.chunked:
            key = item.extra["chunk_key"]
            for c in chunks:
                h = embed_hash(c.embed_text)
                ids.append(f"{key}:{c.index}")
                docs.append(c.text)
                embs.append(np.asarray(job.vectors[h], dtype=np.float32))
                metas.append(chunk_metadata(item.article, key, c, h))
        self.store.put_chunks(ids, docs, embs, metas)
        checkpoint("chunks-written")
        complete.update(item.extra["chunk_key"] for item in job.items)
        ready = [w for w in writes if w.article.id not in done and w.extra["chunk_key"] in complete]
        self._put_articles(ready, done)
        checkpoint("articles-written")
        return len(job.items)

    def _put_articles(self, items: list[Planned], done: set[str]) -> None:
        if items:
            self.store.put_articles([(w.article, w.extra) for w in items])
            done.update(w.article.id for w in items)

    # -- consistency -----------------------------------------------------------------

    def collect_garbage(self, keys: set[str] | None) -> None:
        """Delete chunks of unreferenced keys; refresh canonical metadata of the rest.

        ``keys=None`` checks every key in the store (after a crash)."""
        if keys is None:
            owners: dict[str, list[StoredArticle]] = defaultdict(list)
            for record in self.store.stored_articles().values():
                owners[record.chunk_key].append(record)
            keys = self.store.chunk_keys() | set(owners)
        else:  # only the owners of these keys: a sync's cost follows its change
            owners = self.store.articles_with_keys(sorted(k for k in keys if k))
        keys.discard("")
        dead = [k for k in keys if k not in owners]
        if dead:
            self.store.delete_chunks(self.store.chunk_ids_for_keys(dead))
        live = sorted(k for k in keys if k in owners)
        if live:
            self._refresh_canonical(live, owners)

    def _refresh_canonical(self, keys: list[str], owners) -> None:
        """Chunk metadata names the key's canonical article: the smallest id using it."""
        ids, metas = self.store.chunk_records(keys)
        canonical_ids = {k: min(r.id for r in owners[k]) for k in keys}
        canon = {a.id: a for a in self.store.get_articles(sorted(set(canonical_ids.values())))}
        fix_ids, fix_metas = [], []
        for chunk_id, meta in zip(ids, metas):
            article = canon.get(canonical_ids.get(meta.get("chunk_key"), ""))
            if article is None:
                continue
            wanted = {k: v for k, v in {**meta, **article_fields(article)}.items() if v is not None}
            if wanted != meta:
                fix_ids.append(chunk_id)
                fix_metas.append(wanted)
        if fix_ids:
            self.store.update_chunk_metadata(fix_ids, fix_metas)


def article_fields(article: Article) -> dict:
    return {
        "article_id": article.id,
        "title": article.title,
        "date": date_to_int(article.date),
        "source": article.source,
        "url": article.url,
    }


def chunk_metadata(article: Article, key: str, chunk: Chunk, text_hash: str) -> dict:
    meta = {
        **article_fields(article),
        "chunk_key": key,
        "chunk": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "tokens": chunk.tokens,
        "embed_hash": text_hash,
        "sentences": json.dumps([[s, e] for s, e in chunk.sentences], separators=(",", ":")),
    }
    return {k: v for k, v in meta.items() if v is not None}


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _resolve(target: Path) -> Path | None:
    try:
        return target.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def _root_and_scope(target: Path, known_roots: set[str]) -> tuple[Path, Path]:
    """The folder ids are relative to, and the part of it this sync may remove from.

    A path inside a folder synced before keeps that folder's ids (syncing a subfolder or
    one file of it never re-ids its articles)."""
    for root in sorted(known_roots, key=len):
        root_path = Path(root)
        if target == root_path or target.is_relative_to(root_path):
            return root_path, target
    if target.is_dir():
        return target, target
    return target.parent, target


def _in_scope(origin: str, scope: Path) -> bool:
    return origin == str(scope) or origin.startswith(str(scope) + "/")


def _same_stat(record: StoredArticle, entry: FileEntry, root: str) -> bool:
    meta = record.meta
    return (
        meta.get("mtime_ns") == str(entry.mtime_ns)
        and meta.get("size") == entry.size
        and meta.get("root") == root
    )


def _meta_changed(record: StoredArticle, article: Article) -> bool:
    from .store import article_metadata

    fresh = article_metadata(article, {})
    keys = ("title", "source", "url", "date", "authors", "content_hash", "origin")
    return any(record.meta.get(k) != fresh.get(k) for k in keys)


