"""The Chroma side: two collections per named collection.

``qa_<name>``           one record per chunk: the chunk text, its vector, and metadata for
                        filtering (article_id, title, date as YYYYMMDD int, source, url) and
                        citing (start/end offsets, sentence spans).
``qa_<name>_articles``  one record per article: the full text (citations are checked
                        against it) and the sync bookkeeping (origin file, mtime, hashes).
``qa_<name>_changes``   one record per write: the chunk keys it touched and the generations
                        it went from and to, so that another client's lexical index catches
                        up at the cost of the change, not of the collection.

Chunk ids are ``<chunk_key>:<n>``, where the chunk key hashes everything the vectors
depend on (title, text, chunker settings). A clean build and any sequence of incremental
syncs therefore give the same ids, and the same text under two names shares one chunk set.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import threading
from dataclasses import dataclass

from .article import Article, date_to_int, int_to_date
from .embedding import DEFAULT_PRECISION, MODEL_DIM, MODEL_NAME
from .errors import ServerUnavailable, StorageError, StoreError, is_damaged_database, known_error, short
from .files import replace_file
from .settings import Settings

SCHEMA_VERSION = 1
# Chroma never gets to run its default embedding function (it would download a model):
# every call below passes embeddings explicitly, and collections have none attached.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class ModelMismatch(StoreError):
    pass


IN_CLAUSE = 500  # ids or keys in one "$in" filter: Chroma builds one SQL parameter per value
MAX_WRITE_BATCH = 2000  # records in one upsert, at most (Chroma's own limit may be lower)
FALLBACK_WRITE_BATCH = 1000  # when the server does not say its limit
PROBE_RUN = 16  # chunk ids of a key probed at a time (most articles have fewer chunks)
CHANGES_KEPT = 500  # generations of the change log kept; a client further behind diffs all


@dataclass
class StoredArticle:
    """The bookkeeping half of an article record (no text)."""

    id: str
    meta: dict

    @property
    def chunk_key(self) -> str:
        return self.meta.get("chunk_key", "")

    @property
    def origin(self) -> str | None:
        return self.meta.get("origin")

    @property
    def root(self) -> str | None:
        return self.meta.get("root")


def connect(settings: Settings) -> "Guarded":
    """A Chroma client (embedded, or for the server at ``settings.chroma_url``) whose every
    call fails with a StoreError that says what to do when the cause is one a user can
    fix: a server that is down, hangs or went away, a full disk, a damaged store."""
    with _unchecked_overrides():  # chromadb loads its modules here: its import and the client's
        return _connect(settings)


_OVERRIDES_LOCK = threading.Lock()


def _marked(method=None, **_options):
    """``overrides.override`` without its checks: it only marks the method, which is all
    that ``EnforceOverrides`` classes look for."""
    if method is None:
        return _marked
    method.__override__ = True
    return method


@contextlib.contextmanager
def _unchecked_overrides():
    """chromadb decorates about 160 methods with ``overrides.override``, which checks each
    one's signature against its base class (reading the defining frame's bytecode and
    type hints) when the class is defined: 0.15-0.2 s of every process that opens a store,
    a sixth of a cold ``qa search``. The checks are for chromadb's own developers and do
    nothing at run time; they are skipped while chromadb's modules load, and the caller's
    ``overrides`` is left as it was."""
    try:
        import overrides
    except ImportError:  # a chromadb without it
        yield
        return
    with _OVERRIDES_LOCK:
        saved = overrides.override, overrides.overrides
        overrides.override = overrides.overrides = _marked
        try:
            yield
        finally:
            overrides.override, overrides.overrides = saved


def _connect(settings: Settings) -> "Guarded":
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        return Guarded(_connect_server(settings, chroma_settings), settings)
    path = settings.data_dir / "chroma"
    try:
        from filelock import FileLock

        path.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "locks").mkdir(exist_ok=True)
        # Two processes opening a new store at once race in Chroma's schema migrations
        # ("table collections already exists"): one opens at a time.
        with FileLock(str(settings.data_dir / "locks" / "chroma-open.lock"), timeout=120):
            return Guarded(chromadb.PersistentClient(path=str(path), settings=chroma_settings), settings)
    except Exception as exc:
        if is_damaged_database(exc):
            raise StorageError(damaged_store_message(settings, short(exc))) from None
        raise known_error(exc, settings) or StoreError(
            f"cannot open the Chroma store at {path}: {short(exc)}"
        ) from None


def _connect_server(settings: Settings, chroma_settings):
    """An HttpClient with connect and read timeouts on every request. Chroma's own HTTP
    session waits forever, and its constructor already talks to the server, so a heartbeat
    with the same timeouts goes first."""
    from urllib.parse import urlparse

    import chromadb
    import httpx

    timeout = httpx.Timeout(settings.chroma_read_timeout, connect=settings.chroma_connect_timeout)
    url = urlparse(settings.chroma_url)
    try:
        httpx.get(f"{settings.chroma_url}/api/v2/heartbeat", timeout=timeout).raise_for_status()
        client = chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    except httpx.TimeoutException as exc:
        raise known_error(exc, settings) from None
    except Exception as exc:
        raise ServerUnavailable(
            f"cannot reach the Chroma server at {settings.chroma_url} ({short(exc)});"
            " start it (chroma run --path DIR --port N) or unset QA_CHROMA_URL"
            " to use the embedded store"
        ) from None
    client._server._session.timeout = timeout  # chromadb builds its httpx.Client with timeout=None
    return client


class Guarded:
    """A Chroma client or collection whose calls raise ``known_error``'s StoreError for a
    cause the user can act on; any other exception passes unchanged."""

    __slots__ = ("_target", "_settings")

    def __init__(self, target, settings: Settings):
        self._target = target
        self._settings = settings

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args, **kwargs):
            try:
                result = value(*args, **kwargs)
            except StoreError:
                raise
            except Exception as exc:
                known = known_error(exc, self._settings)
                if known is None:
                    raise
                raise known from exc
            return Guarded(result, self._settings) if _is_collection(result) else result

        return call

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"


def _is_collection(value) -> bool:
    from chromadb.api.models.Collection import Collection

    return isinstance(value, Collection)


# -- starting over from a damaged store ---------------------------------------------------


def remember_roots(settings: Settings, roots: list[str]) -> None:
    """Keep the folders a collection syncs beside the store too, so that a damaged store
    can be rebuilt with an exact command."""
    path = settings.data_dir / "synced-roots.json"
    try:
        known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        known = {}
    known.setdefault(settings.where, {})[settings.collection] = roots
    try:
        replace_file(path, json.dumps(known, indent=1).encode("utf-8"))
    except OSError:
        pass  # a copy only: the roots live in the store; the sync itself is done


def damaged_store_message(settings: Settings, reason: str) -> str:
    path = settings.data_dir / "chroma"
    try:
        known = json.loads((settings.data_dir / "synced-roots.json").read_text(encoding="utf-8"))
        collections = known.get(settings.where) or {}
    except (OSError, ValueError):
        collections = {}
    collections = collections or {settings.collection: []}
    data = shlex.quote(str(settings.data_dir))
    again = " && ".join(
        f"qa index --data-dir {data} -c {name} " + (" ".join(shlex.quote(r) for r in roots) or "PATH...")
        for name, roots in sorted(collections.items())
    )
    aside = shlex.quote(str(path))
    return (
        f"the Chroma store at {path} is damaged ({reason}); to start over, move it aside"
        f" and index again: mv {aside} {shlex.quote(str(path) + '.damaged')} && {again}"
    )


class Store:
    """Chunk and article collections of one named collection."""

    def __init__(self, client, name: str, settings: Settings):
        self.client = client
        self.name = name
        self.settings = settings
        self.chunks_name = f"qa_{name}"
        self.articles_name = f"qa_{name}_articles"
        self.changes_name = f"qa_{name}_changes"
        self._chunks = None
        self._articles = None
        self._check = True

    def reconnect(self) -> None:
        """See writes other processes made since we opened (embedded Chroma caches its
        vector index per process; a stale one fails on ids it has not seen)."""
        if self.settings.chroma_url:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        self.client = connect(self.settings)
        self.open(create=True, check=self._check)

    # -- collections ---------------------------------------------------------------

    def collection_names(self) -> list[str]:
        """The qa collections in this store (each is two Chroma collections)."""
        chroma = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        return sorted(n[3:] for n in chroma if n.startswith("qa_") and f"{n}_articles" in chroma)

    def stamp(self) -> dict:
        """What a new chunk collection records about the vectors it will hold."""
        return {
            "qa_schema": SCHEMA_VERSION,
            "qa_model": MODEL_NAME,
            "qa_dim": MODEL_DIM,
            "qa_precision": self.settings.embed_precision or DEFAULT_PRECISION,
        }

    @property
    def precision(self) -> str:
        """The embedder precision that built this collection (fp32 before int8 existed)."""
        return (self.chunks.metadata or {}).get("qa_precision") or "fp32"

    def check_precision(self) -> None:
        """A sync adds vectors: they must come from the embedder that made the others."""
        wanted = self.settings.embed_precision
        if wanted and wanted != self.precision:
            raise ModelMismatch(
                f"collection {self.name!r} was built with the {self.precision} embedder, not"
                f" {wanted} (the embed_precision setting); rebuild it with:"
                f" qa index --rebuild --collection {self.name}"
            )

    def open(self, create: bool, check: bool = True) -> "Store":
        """``check=False``: open even when built with another model (to rebuild it)."""
        self._check = check
        try:
            if create:
                self._chunks = self.client.get_or_create_collection(
                    self.chunks_name,
                    metadata=self.stamp(),
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
                self._articles = self.client.get_or_create_collection(
                    self.articles_name,
                    metadata={"qa_schema": SCHEMA_VERSION},
                    embedding_function=None,
                )
            else:
                self._chunks = self.client.get_collection(self.chunks_name, embedding_function=None)
                self._articles = self.client.get_collection(self.articles_name, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:
            if not create:
                others = ", ".join(self.collection_names()) or "none yet"
                raise StoreError(
                    f"there is no collection {self.name!r} here (collections: {others});"
                    f" to make it, index into it: qa index -c {self.name} PATH..."
                ) from None
            raise StoreError(f"cannot open collection {self.name!r}: {short(exc)}") from None
        if check:
            self.check_model()
        return self

    def check_model(self) -> None:
        meta = self.chunks.metadata or {}
        model, dim = meta.get("qa_model"), meta.get("qa_dim")
        if (model, dim) != (MODEL_NAME, MODEL_DIM):
            raise ModelMismatch(
                f"collection {self.name!r} was built with {model or 'an unknown model'}"
                f" ({dim or '?'} dims), not {MODEL_NAME} ({MODEL_DIM} dims);"
                f" rebuild it with: qa index --rebuild --collection {self.name}"
            )

    @property
    def chunks(self):
        if self._chunks is None:
            raise StoreError("store is not open")
        return self._chunks

    def preload_vectors(self) -> threading.Thread | None:
        """Embedded Chroma reads a collection's vector index from disk on its first use in
        a process (1.3 s for 391,611 chunks), without holding the GIL: begun in a thread,
        the chunks' and the articles' indexes load while the sync plans. Join it before
        the store is used again. A server keeps its indexes loaded: nothing to do."""
        if self.settings.chroma_url or self._chunks is None or self._articles is None:
            return None
        collections = [self._chunks, self._articles]  # the articles' own: 0.16 s at 100,000

        def load() -> None:
            for collection in collections:
                try:
                    collection.get(ids=["qa-preload"], include=[])
                except Exception:  # noqa: BLE001  the sync's own first use reports what is wrong
                    pass

        thread = threading.Thread(target=load, name="qa-preload", daemon=True)
        thread.start()
        return thread

    @property
    def articles_collection(self):
        if self._articles is None:
            raise StoreError("store is not open")
        return self._articles

    @property
    def identity(self) -> str:
        """The collection's id on its server (of its article records, kept by a rebuild):
        the same however the server's URL is spelt."""
        return str(self.articles_collection.id)

    def clear(self) -> None:
        """Empty the collection to rebuild it: the article collection emptied but kept (its
        id is the identity), then a new chunk collection, stamped with this model. Killed
        half way, what is left is chunks no article uses, which a repair collects."""
        self.delete_articles(sorted(self.stored_articles()))
        try:
            self.client.delete_collection(self.chunks_name)
        except StoreError:
            raise  # the server went away, the disk is full...
        except Exception:
            pass  # not there: nothing to drop
        self.articles_collection.modify(metadata={"qa_schema": SCHEMA_VERSION})
        self.open(create=True, check=True)

    # -- sync bookkeeping kept on the articles collection ---------------------------

    def state(self) -> dict:
        # Read afresh: another process may have synced since this collection was opened.
        try:
            fresh = self.client.get_collection(self.articles_name, embedding_function=None)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"collection {self.name!r} is gone: {short(exc)}") from None
        self._articles = fresh
        return dict(fresh.metadata or {})

    def set_state(self, **values) -> None:
        meta = self.state()
        meta.update({k: v for k, v in values.items()})
        meta = {k: v for k, v in meta.items() if v is not None and k != "hnsw:space"}
        self.articles_collection.modify(metadata=meta)

    # -- the change log -----------------------------------------------------------

    def log_change(self, before: int, after: int, keys: set[str]) -> None:
        """Record that the write from generation ``before`` to ``after`` touched these chunk
        keys. Written after the generation moved: a reader that looks in between finds a
        gap and diffs everything, which is slow but right; a writer that died leaves none."""
        log = self.client.get_or_create_collection(self.changes_name, embedding_function=None)
        log.upsert(
            ids=[f"{after:012d}"],
            documents=[json.dumps(sorted(keys))],
            embeddings=[[1.0]],
            metadatas=[{"from": before, "to": after}],
        )
        if after > CHANGES_KEPT:
            log.delete(where={"to": {"$lt": after - CHANGES_KEPT}})

    def changed_keys(self, since: int, until: int) -> set[str] | None:
        """The chunk keys written from generation ``since`` to ``until``; None when the
        log does not cover every step (a write died, a rebuild, or too far behind)."""
        try:
            log = self.client.get_collection(self.changes_name, embedding_function=None)
        except StoreError:
            raise
        except Exception:
            return None  # no log yet
        got = log.get(where={"$and": [{"from": {"$gte": since}}, {"to": {"$lte": until}}]},
                      include=["metadatas", "documents"])
        steps = {m["from"]: (m["to"], doc) for m, doc in zip(got["metadatas"], got["documents"])}
        keys: set[str] = set()
        at = since
        while at < until:
            if at not in steps:
                return None
            at, doc = steps[at][0], steps[at][1]
            keys.update(json.loads(doc))
        return keys

    # -- articles ------------------------------------------------------------------

    def stored_articles(self) -> dict[str, StoredArticle]:
        out: dict[str, StoredArticle] = {}
        for ids, metas, _ in self.pages(self.articles_collection, include=["metadatas"]):
            for article_id, meta in zip(ids, metas):
                out[article_id] = StoredArticle(article_id, meta or {})
        return out

    def article_records(self, ids: list[str]) -> dict[str, StoredArticle]:
        """The bookkeeping records of these articles (those that exist)."""
        found: dict[str, StoredArticle] = {}
        for first in range(0, len(ids), IN_CLAUSE):
            got = self.articles_collection.get(ids=ids[first : first + IN_CLAUSE], include=["metadatas"])
            for article_id, meta in zip(got["ids"], got["metadatas"]):
                found[article_id] = StoredArticle(article_id, meta or {})
        return found

    def articles_with_keys(self, keys: list[str]) -> dict[str, list[StoredArticle]]:
        """chunk key -> the article records that use it (keys no article uses are absent)."""
        found: dict[str, list[StoredArticle]] = {}
        for first in range(0, len(keys), IN_CLAUSE):
            got = self.articles_collection.get(
                where={"chunk_key": {"$in": keys[first : first + IN_CLAUSE]}}, include=["metadatas"]
            )
            for article_id, meta in zip(got["ids"], got["metadatas"]):
                record = StoredArticle(article_id, meta or {})
                found.setdefault(record.chunk_key, []).append(record)
        return found

    def get_articles(self, ids: list[str]) -> list[Article]:
        by_id: dict[str, Article] = {}
        for first in range(0, len(ids), IN_CLAUSE):  # Chroma makes one SQL variable per id
            got = self.articles_collection.get(ids=ids[first : first + IN_CLAUSE], include=["metadatas", "documents"])
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                by_id[i] = article_from_record(i, doc, meta)
        return [by_id[i] for i in ids if i in by_id]

    def put_articles(self, records: list[tuple[Article, dict]]) -> None:
        """Upsert articles with their bookkeeping metadata (after their chunks exist)."""
        batch = self.max_batch()
        for first in range(0, len(records), batch):
            part = records[first : first + batch]
            self.articles_collection.upsert(
                ids=[a.id for a, _ in part],
                documents=[a.text for a, _ in part],
                embeddings=[[1.0] for _ in part],  # articles are fetched by id, never by vector
                metadatas=[for_upsert(article_metadata(a, extra), ARTICLE_KEYS) for a, extra in part],
            )

    def update_article_stats(self, stats: dict[str, dict]) -> None:
        """Set the file bookkeeping (mtime, size) of articles whose content did not change."""
        ids = sorted(stats)
        batch = self.max_batch()
        for first in range(0, len(ids), batch):
            part = ids[first : first + batch]
            self.articles_collection.update(ids=part, metadatas=[stats[i] for i in part])

    def delete_articles(self, ids: list[str]) -> None:
        for first in range(0, len(ids), self.max_batch()):
            self.articles_collection.delete(ids=ids[first : first + self.max_batch()])

    # -- chunks --------------------------------------------------------------------

    def chunk_keys(self) -> set[str]:
        keys: set[str] = set()
        for _, metas, _ in self.pages(self.chunks, include=["metadatas"]):
            keys.update(m.get("chunk_key", "") for m in metas if m)
        return keys

    def chunk_ids_for_keys(self, keys) -> list[str]:
        """The ids of these keys' chunks. A key's chunks are ``<key>:0``, ``<key>:1``... with
        no gap (written in order, so a write cut short leaves a prefix): probed by id, a
        keyed lookup, where a filter on the chunk_key metadata read the whole metadata
        table (0.86 s on 117,000 chunks for one key, embedded)."""
        ids: list[str] = []
        start = {k: 0 for k in keys if k}
        while start:
            probe = [f"{k}:{n}" for k, first in start.items() for n in range(first, first + PROBE_RUN)]
            found: set[str] = set()
            for first in range(0, len(probe), IN_CLAUSE):
                found.update(self.chunks.get(ids=probe[first : first + IN_CLAUSE], include=[])["ids"])
            ids.extend(i for i in probe if i in found)
            # A key all of whose probed ids exist may have more.
            start = {k: first + PROBE_RUN for k, first in start.items() if f"{k}:{first + PROBE_RUN - 1}" in found}
        return ids

    def vectors_of_keys(self, keys) -> dict[str, list[float]]:
        """embed hash -> vector of the chunks of these keys (what an edited article, or a
        write cut short, already has: never embed the same text twice)."""
        found: dict[str, list[float]] = {}
        ids = self.chunk_ids_for_keys(keys)
        for first in range(0, len(ids), IN_CLAUSE):
            got = self.chunks.get(ids=ids[first : first + IN_CLAUSE], include=["metadatas", "embeddings"])
            for meta, vector in zip(got["metadatas"], got["embeddings"]):
                if meta and meta.get("embed_hash"):
                    found[meta["embed_hash"]] = vector
        return found

    def nearest(self, vector: list[float], n: int, where: dict | None = None, ids: list[str] | None = None) -> list[str]:
        """``ids``: search among these chunks only (a narrow filter, resolved beforehand)."""
        got = self.chunks.query(query_embeddings=[vector], n_results=n, where=where, ids=ids, include=[])
        return got["ids"][0] if got["ids"] else []

    def chunk_texts(self, ids: list[str]) -> dict[str, tuple[str, dict]]:
        ids = list(ids)
        found: dict[str, tuple[str, dict]] = {}
        for first in range(0, len(ids), IN_CLAUSE):
            got = self.chunks.get(ids=ids[first : first + IN_CLAUSE], include=["documents", "metadatas"])
            found.update({i: (d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])})
        return found

    def added_since(self, epoch: int) -> list[StoredArticle]:
        """The articles that arrived at or after ``epoch`` (seconds), by their ``added_at``."""
        got = self.articles_collection.get(where={"added_at": {"$gte": int(epoch)}}, include=["metadatas"])
        return [StoredArticle(i, m or {}) for i, m in zip(got["ids"], got["metadatas"])]

    def lead_vectors(self, keys: list[str]) -> dict[str, list[float]]:
        """The vector of each chunk key's first chunk (title and opening): what stories
        are grouped by. Read by id (``<key>:0``): a keyed lookup, where a metadata filter
        cost 30 ms a search on 29,000 chunks."""
        found: dict[str, list[float]] = {}
        for first in range(0, len(keys), IN_CLAUSE):
            ids = [f"{k}:0" for k in keys[first : first + IN_CLAUSE]]
            got = self.chunks.get(ids=ids, include=["embeddings"])
            for chunk_id, vector in zip(got["ids"], got["embeddings"]):
                found[chunk_id.rsplit(":", 1)[0]] = list(vector)
        return found

    def put_chunks(self, ids, documents, embeddings, metadatas) -> None:
        batch = self.max_batch()
        for first in range(0, len(ids), batch):
            end = first + batch
            self.chunks.upsert(
                ids=ids[first:end],
                documents=documents[first:end],
                embeddings=embeddings[first:end],
                metadatas=[for_upsert(m, CHUNK_KEYS) for m in metadatas[first:end]],
            )

    def update_chunk_metadata(self, ids: list[str], metadatas: list[dict]) -> None:
        batch = self.max_batch()
        for first in range(0, len(ids), batch):
            part = metadatas[first : first + batch]
            self.chunks.update(
                ids=ids[first : first + batch], metadatas=[for_upsert(m, CHUNK_KEYS) for m in part]
            )

    def chunk_records(self, keys: list[str]) -> tuple[list[str], list[dict]]:
        ids = self.chunk_ids_for_keys(keys)
        metas: list[dict] = []
        for first in range(0, len(ids), IN_CLAUSE):
            got = self.chunks.get(ids=ids[first : first + IN_CLAUSE], include=["metadatas"])
            by_id = dict(zip(got["ids"], got["metadatas"]))
            metas.extend(by_id[i] for i in ids[first : first + IN_CLAUSE])
        return ids, metas

    def delete_chunks(self, ids: list[str]) -> None:
        for first in range(0, len(ids), self.max_batch()):
            self.chunks.delete(ids=ids[first : first + self.max_batch()])

    def counts(self) -> tuple[int, int]:
        return self.articles_collection.count(), self.chunks.count()

    # -- helpers ----------------------------------------------------------------------

    def max_batch(self) -> int:
        try:
            return min(self.client.get_max_batch_size(), MAX_WRITE_BATCH)
        except StoreError:
            raise
        except Exception:
            return FALLBACK_WRITE_BATCH

    def pages(self, collection, include, page: int = 5000):
        offset = 0
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got.get("metadatas") or [], got.get("documents") or []
            if len(got["ids"]) < page:
                return
            offset += page


# -- record conversion -----------------------------------------------------------------


ARTICLE_KEYS = (
    "title", "source", "url", "date", "authors", "content_hash", "origin",
    "root", "mtime_ns", "size", "chunk_key",
)
CHUNK_KEYS = (
    "article_id", "title", "date", "source", "url", "chunk_key", "chunk", "start", "end",
    "tokens", "embed_hash", "sentences",
)


def where_clause(sources, since, until, article_ids) -> dict | None:
    """Chroma's where filter for chunks: sources, a date range (YYYYMMDD), article ids."""
    clauses: list[dict] = []
    if sources:
        clauses.append({"source": {"$in": list(sources)}})
    if since is not None:
        clauses.append({"date": {"$gte": since}})
    if until is not None:
        clauses.append({"date": {"$lte": until}})
    if article_ids:
        clauses.append({"article_id": {"$in": list(article_ids)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def for_upsert(meta: dict, keys: tuple[str, ...]) -> dict:
    """Chroma merges metadata on upsert; a key set to None is deleted. Name every key so
    a value that went away (an article that lost its date) goes away in the store too."""
    return {**{k: None for k in keys}, **meta}


def article_metadata(article: Article, extra: dict) -> dict:
    meta = {
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "date": date_to_int(article.date),
        "authors": json.dumps(article.authors) if article.authors else None,
        "content_hash": article.content_hash,
        "origin": article.origin,
        **extra,
    }
    return {k: v for k, v in meta.items() if v is not None}


def article_from_record(article_id: str, text: str, meta: dict) -> Article:
    meta = meta or {}
    return Article(
        id=article_id,
        title=meta.get("title", article_id),
        text=text or "",
        date=int_to_date(meta.get("date")),
        source=meta.get("source"),
        url=meta.get("url"),
        authors=json.loads(meta["authors"]) if meta.get("authors") else [],
        origin=meta.get("origin"),
    )
