"""The lexical index: SQLite FTS5 (BM25 ranking, Porter stemming) beside the collection.

It mirrors the chunk collection (id, text and the filter fields) and is brought in step
after every sync by a diff against Chroma: only changed rows are written, and a sync
that died half way is healed by the next diff. Filters run inside the SQL query, before
the top k is taken. It is a cache of the collection: a damaged file is replaced and
refilled from the collection, with a one-line notice (a warning of logger index.lexical).
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import threading
from pathlib import Path
from typing import Callable

from .errors import StorageError, is_damaged_database, short

log = logging.getLogger(__name__)

# 2: rows hold "title\ntext" (realtimeqa recall@5 0.738 -> 0.786 over text alone).
# 3: a keyed table of the chunks' filter fields, so dense results are filtered here.
# 4: that table holds each chunk's FTS5 rowid: deleting a chunk's row is a keyed lookup,
#    not a scan of the whole index (a sync's cost follows its change, issue 14).
FORMAT = "4"
_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    text, chunk_id UNINDEXED, article_id UNINDEXED, date UNINDEXED, source UNINDEXED, title UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, article_id TEXT, date INTEGER, source TEXT, fts_rowid INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_by_date ON chunks (date);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks (source);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks (article_id);
"""
DEEPER = 4  # a filtered search first looks this many times deeper, unfiltered
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # a word, with an inner apostrophe: the one tokenizer of words
ROWS_PER_WRITE = 1000  # rows copied into or deleted from the lexical index per statement
MAX_DEPTH = 2000  # the deepest unfiltered lexical list a filtered search filters itself
POSTINGS_BUDGET = 20_000  # chunks a lexical query may score (see LexicalIndex.affordable)
IDS_PER_QUERY = 500  # chunk ids in one "IN (...)" (SQLite's parameter limit is 999 on old builds)
# Words that carry no topic; FTS5 has no stop list of its own.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves what's who's recently week this last new said says""".split()
)


def _repairing(retry: bool):
    """On a damaged file: replace it, refill it from the collection, then run the call
    again (``retry``) or not (a call that writes rows: the refill wrote them all)."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self: "LexicalIndex", *args, **kwargs):
            replaced = self._replaced
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                if not is_damaged_database(exc):
                    raise
                self._repair(exc, replaced)
            return method(self, *args, **kwargs) if retry else None

        return wrapper

    return decorate


class LexicalIndex:
    def __init__(self, path: Path, refill: Callable[["LexicalIndex"], None] | None = None):
        """``refill(index)`` brings a fresh, empty index in step with the collection
        (after a damaged file was replaced)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.refill = refill
        self._reader: sqlite3.Connection | None = None
        self._vocab = None  # the stemmer, once the term table exists on this connection
        self._replaced = 0  # how many times a damaged file was replaced
        self._repair_lock = threading.RLock()
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            if not is_damaged_database(exc):
                raise
            self._replace(exc)  # empty and never synced: the next ensure_lexical refills it

    def _open(self) -> None:
        self.db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._vocab = None  # its term table lives on the connection
        self.db.executescript("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);")
        row = self.db.execute("SELECT value FROM state WHERE key = 'format'").fetchone()
        if not row or row[0] != FORMAT:
            # An index in an older format is rebuilt from the collection on next use.
            with self.db:
                self.db.execute("DROP TABLE IF EXISTS fts")
                self.db.execute("DROP TABLE IF EXISTS chunks")
                self.db.execute("DELETE FROM state")
                self.db.execute("INSERT INTO state VALUES ('format', ?)", (FORMAT,))
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.db.close()

    # -- a damaged file ---------------------------------------------------------------

    def _replace(self, exc: BaseException) -> None:
        log.warning("the lexical index %s was damaged (%s); rebuilding it from the collection", self.path, short(exc))
        try:
            self.close()
        except sqlite3.Error:
            pass
        for suffix in ("", "-journal", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        self._replaced += 1
        self._open()

    def _repair(self, exc: BaseException, replaced: int) -> None:
        with self._repair_lock:
            if self._replaced != replaced:
                return  # another thread already replaced it
            if self.refill is None:
                raise StorageError(f"the lexical index {self.path} is damaged ({short(exc)})") from None
            self._replace(exc)
            self.refill(self)

    # -- keeping in step --------------------------------------------------------------

    @_repairing(retry=True)
    def synced_to(self) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = 'synced_to'").fetchone()
        return row[0] if row else None

    @_repairing(retry=True)
    def sync_from(self, store, marker: str) -> tuple[int, int]:
        """Make the rows equal to the chunk collection; returns (written, deleted)."""
        wanted: dict[str, tuple] = {}
        for ids, metas, _ in store.pages(store.chunks, include=["metadatas"]):
            for chunk_id, meta in zip(ids, metas):
                meta = meta or {}
                wanted[chunk_id] = (meta.get("article_id"), meta.get("date"), meta.get("source"), meta.get("title", ""))
        have = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in self.db.execute("SELECT chunk_id, article_id, date, source, title FROM fts")
        }
        stale = [i for i, fields in have.items() if wanted.get(i) != fields]
        fresh = [i for i, fields in wanted.items() if have.get(i) != fields]
        with self.db:
            self._delete(stale)
            for first in range(0, len(fresh), ROWS_PER_WRITE):
                part = fresh[first : first + ROWS_PER_WRITE]
                got = store.chunks.get(ids=part, include=["documents"])
                self._insert([(i, doc, *wanted[i]) for i, doc in zip(got["ids"], got["documents"])])
            self.db.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES ('synced_to', ?)", (marker,)
            )
        return len(fresh), len(stale)

    @_repairing(retry=False)
    def update_keys(self, store, keys: set[str], marker: str) -> None:
        """Rewrite the rows of these chunk keys from the collection (a sync's changes)."""
        keys = sorted(k for k in keys if k)
        with self.db:
            # Chunk ids are "<key>:<n>": a key's rows are a range of the keyed table.
            self._delete([
                row[0]
                for key in keys
                for row in self.db.execute(
                    "SELECT chunk_id FROM chunks WHERE chunk_id >= ? AND chunk_id < ?", (key + ":", key + ";")
                )
            ])
            if keys:
                ids, metas = store.chunk_records(keys)
                for first in range(0, len(ids), ROWS_PER_WRITE):
                    part = ids[first : first + ROWS_PER_WRITE]
                    got = store.chunks.get(ids=part, include=["documents", "metadatas"])
                    self._insert(
                        [
                            (i, doc, m.get("article_id"), m.get("date"), m.get("source"), m.get("title", ""))
                            for i, doc, m in zip(got["ids"], got["documents"], got["metadatas"])
                        ]
                    )
            self.db.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('synced_to', ?)", (marker,))

    def _insert(self, rows: list[tuple]) -> None:
        """rows: (chunk_id, text, article_id, date, source, title)."""
        keyed = []
        for i, text, a, d, s, title in rows:
            cursor = self.db.execute(
                "INSERT INTO fts (text, chunk_id, article_id, date, source, title) VALUES (?, ?, ?, ?, ?, ?)",
                (_row_text(title, text), i, a, d, s, title),
            )
            keyed.append((i, a, d, s, cursor.lastrowid))
        self.db.executemany(
            "INSERT OR REPLACE INTO chunks (chunk_id, article_id, date, source, fts_rowid) VALUES (?, ?, ?, ?, ?)",
            keyed,
        )

    def _delete(self, chunk_ids: list[str]) -> None:
        """Delete these chunks' rows, each found by its key (no scan of the index)."""
        for first in range(0, len(chunk_ids), IDS_PER_QUERY):
            part = chunk_ids[first : first + IDS_PER_QUERY]
            marks = ",".join("?" * len(part))
            rowids = [r[0] for r in self.db.execute(f"SELECT fts_rowid FROM chunks WHERE chunk_id IN ({marks})", part)]
            self.db.executemany("DELETE FROM fts WHERE rowid = ?", [(r,) for r in rowids])
            self.db.execute(f"DELETE FROM chunks WHERE chunk_id IN ({marks})", part)

    @_repairing(retry=True)
    def count(self) -> int:
        """Rows in the index (to check it is in step with its collection)."""
        return self.db.execute("SELECT count(*) FROM fts").fetchone()[0]

    @_repairing(retry=True)
    def chunk_count(self) -> int:
        """Chunks by their keyed table: a cheap read (counting the full-text table reads all
        of it: 16 ms at 29,190 rows and 180 ms at 391,612, against 0.1 and 6 ms)."""
        return self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    # -- searching --------------------------------------------------------------------

    @_repairing(retry=True)
    def search(
        self,
        query: str,
        k: int,
        sources: list[str] | None = None,
        since: int | None = None,
        until: int | None = None,
        article_ids: list[str] | None = None,
    ) -> list[tuple[str, float]]:
        """(chunk_id, bm25 score; higher is better), best first."""
        terms = self.affordable(query_terms(query))
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        where, args = _filters(sources, since, until, article_ids)
        sql = "SELECT chunk_id, -bm25(fts) AS score FROM fts WHERE fts MATCH ?{} ORDER BY bm25(fts) LIMIT ?"
        if where:
            # A filter on FTS5's unindexed columns reads every match's row (realtimeqa,
            # "until": 30 ms against 13 ms): filter an unfiltered list deep enough to hold
            # k of the share of chunks the filter passes (FTS5 scores every match whatever
            # the limit, so depth is nearly free), and filter the query only when too few pass.
            share = self._passing_share(where, args)
            depth = min(MAX_DEPTH, max(k * DEEPER, int(2 * k / max(share, 1e-9))))
            deeper = [(row[0], row[1]) for row in self.db.execute(sql.format(""), [match, depth])]
            passing = self.passing([i for i, _ in deeper], sources, since, until, article_ids)
            kept = [hit for hit in deeper if hit[0] in passing]
            if len(kept) >= k or len(deeper) < depth:
                return kept[:k]
        # The filter as a set of rowids from the keyed table: no read of each match's row.
        within = f" AND +rowid IN (SELECT fts_rowid FROM chunks WHERE 1{where})" if where else ""  # "+": a filter of the matches, never a plan that looks up each allowed row
        return [(row[0], row[1]) for row in self.db.execute(sql.format(within), [match, *args, k])]

    def _passing_share(self, where: str, args: list) -> float:
        """The share of chunks a filter lets through (the largest rowid stands for the
        count: keyed, where count(*) reads the table)."""
        total = self.db.execute("SELECT max(rowid) FROM fts").fetchone()[0] or 0
        if not total:
            return 1.0
        passing = self.db.execute(f"SELECT count(*) FROM chunks WHERE 1{where}", args).fetchone()[0]
        return min(1.0, passing / total)

    def affordable(self, terms: list[str]) -> list[str]:
        """The query's terms, rarest first, while the chunks they match stay within
        POSTINGS_BUDGET (at least the rarest one). FTS5 scores every chunk that matches any
        term, so a common word costs in proportion to the collection (a 4-word question:
        18 ms on 39,000 chunks, 0.3 ms for its one rare word); rare words carry most of
        BM25's weight. Below the budget every term is kept: small collections rank as before."""
        if len(terms) < 2:
            return terms
        counts = self.doc_counts(terms)
        kept, total = [], 0
        for term in sorted(terms, key=lambda t: counts.get(t, 0)):
            if kept and total + counts.get(term, 0) > POSTINGS_BUDGET:
                break
            kept.append(term)
            total += counts.get(term, 0)
        return [t for t in terms if t in kept]

    def doc_counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks hold each term (its stem, as FTS5's porter tokenizer indexed it)."""
        if self._vocab is None:
            # A per-connection table over the index's own term list; a lookup by term is keyed.
            self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms USING fts5vocab(main, 'fts', 'row')")
            import Stemmer

            self._vocab = Stemmer.Stemmer("porter")
        counts = {}
        for term, stem in zip(terms, self._vocab.stemWords(terms)):
            row = self.db.execute("SELECT doc FROM temp.fts_terms WHERE term = ?", (stem,)).fetchone()
            counts[term] = row[0] if row else 0
        return counts

    @_repairing(retry=True)
    def filtered_ids(self, limit: int, sources=None, since=None, until=None, article_ids=None) -> tuple[int, list[str] | None]:
        """How many chunks the filters let through, and their ids when at most ``limit``."""
        where, args = _filters(sources, since, until, article_ids)
        reader = self._reading()
        count = reader.execute(f"SELECT count(*) FROM chunks WHERE 1{where}", args).fetchone()[0]
        if count > limit:
            return count, None
        return count, [row[0] for row in reader.execute(f"SELECT chunk_id FROM chunks WHERE 1{where}", args)]

    def _reading(self) -> sqlite3.Connection:
        if self._reader is None:  # its own connection: it runs beside a search()
            self._reader = sqlite3.connect(str(self.path), check_same_thread=False)
        return self._reader

    @_repairing(retry=True)
    def passing(
        self,
        chunk_ids: list[str],
        sources: list[str] | None = None,
        since: int | None = None,
        until: int | None = None,
        article_ids: list[str] | None = None,
    ) -> set[str]:
        """The ones of ``chunk_ids`` that the filters let through (a keyed lookup)."""
        where, args = _filters(sources, since, until, article_ids)
        reader = self._reading()
        found: set[str] = set()
        for first in range(0, len(chunk_ids), IDS_PER_QUERY):
            part = chunk_ids[first : first + IDS_PER_QUERY]
            sql = f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))}){where}"
            found.update(row[0] for row in reader.execute(sql, [*part, *args]))
        return found


def _filters(sources, since, until, article_ids) -> tuple[str, list]:
    """SQL conditions (each starting with AND) and their arguments."""
    sql, args = "", []
    if sources:
        sql += f" AND source IN ({','.join('?' * len(sources))})"
        args += list(sources)
    if since is not None:
        sql += " AND date >= ?"
        args.append(since)
    if until is not None:
        sql += " AND date <= ?"
        args.append(until)
    if article_ids:
        sql += f" AND article_id IN ({','.join('?' * len(article_ids))})"
        args += list(article_ids)
    return sql, args


def _row_text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title else text


def query_terms(query: str) -> list[str]:
    words = [w.lower().replace("’", "'") for w in WORD.findall(query)]
    seen: list[str] = []
    for word in words:
        if word not in STOPWORDS and word not in seen:
            seen.append(word.replace('"', ""))
    return seen
