"""Hybrid retrieval: dense (Chroma, MiniLM) + lexical (SQLite FTS5 BM25), fused by
weighted reciprocal rank, near-duplicates collapsed. Filters run inside both stores."""

from __future__ import annotations

import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index import Index, Settings
from index.article import date_to_int, int_to_date, normalize_date
from index.errors import QAError
from index.lexical import DEEPER  # a filtered search first looks this many times deeper, unfiltered

from .fusion import RRF_K

CANDIDATES = 50  # taken from each retriever before fusion
BY_IDS = 4000  # a filter letting at most this many chunks through: dense search among them by id
MAX_PROBE = 2000  # the deepest unfiltered dense list filtered here before Chroma filters
BY_IDS_AT_MOST = 50_000  # when that list falls short: by id up to this many, else Chroma's filter
RERANK_HEAD = 24  # fused passages the answer model rescores before the top k
STORY_DEPTH = 3  # with stories=True, this many times k passages are grouped into stories
HALF_LIFE_DAYS = 7.0  # of the freshness bonus: a news week


@dataclass
class Passage:
    article_id: str
    title: str
    url: str | None
    date: str | None
    source: str | None
    text: str
    start: int  # offsets of ``text`` in the stored article text
    end: int
    score: float
    chunk_id: str = ""
    sentences: list[tuple[int, int]] = field(default_factory=list, repr=False)
    # with ``search(stories=True)``: the other articles of this passage's story among the
    # results ({"article_id", "title", "source", "date", "url"}), shown as "and N more outlets"
    more_outlets: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("sentences")
        return data


@dataclass(frozen=True)
class Weights:
    """Fusion weights; chosen by measurement (tests/bench/bench_retrieval.py)."""

    dense: float = 1.0
    lexical: float = 1.0
    # At most this many passages of one article: 1 gives the most distinct articles
    # (realtimeqa-dev article recall@5 0.738 vs 0.680 with 2); the assistant asks for 2,
    # which keeps more answer-bearing passages (xquad answer in top 5: 0.976 vs 0.902).
    per_article: int = 1
    # Freshness bonus, applied when a search asks for recent news (by its wording, "this
    # week", "recently"..., or explicitly): a passage dated on the reference day gains as
    # much as a first place in one ranking would give, halving every ``half_life_days``.
    recency: float = 1.0
    half_life_days: float = HALF_LIFE_DAYS
    collapse_duplicates: bool = True  # the same wire story under two ids: keep the best


class SearchError(QAError, ValueError):
    pass


class Retriever:
    def __init__(self, index: Index, weights: Weights | None = None, rerank: bool | None = None, ranker=None):
        """``rerank``: rescore the fused head with the answer model (qa/ranker.py); None
        follows the shipped model, which turns it on only where its validation showed a
        gain. ``ranker``: an ``AnswerRanker`` to use instead of the shipped one."""
        self.index = index
        self.weights = weights or Weights()
        self.rerank = rerank
        self._ranker = ranker
        self._generation = None
        self._count = 0  # chunks in the collection, read when the generation moves
        self._last_query: tuple[str | None, object] = (None, None)
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def open(
        cls,
        collection: str | None = None,
        data_dir: str | Path | None = None,
        chroma_url: str | None = None,
        settings: Settings | None = None,
        weights: Weights | None = None,
        seed: bool = True,
        create: bool = False,
        answering=None,
    ) -> "Retriever":
        """The retriever of a collection (``default`` is made and seeded on first use).
        ``answering``: a ``qa.settings.Settings`` (default: environment and settings file)."""
        from index.core import open_index, settings_with

        from .settings import Settings as AnswerSettings

        settings = settings_with(settings, collection=collection, data_dir=data_dir, chroma_url=chroma_url)
        answering = answering or AnswerSettings()
        return cls(open_index(settings, seed=seed, create=create), weights, rerank=answering.rerank)

    @property
    def embedder(self):
        return self.index.embedder

    @property
    def ranker(self):
        """The answer model, loaded on first use (shared with the ``Assistant``)."""
        if self._ranker is None:
            from .ranker import AnswerRanker

            self._ranker = AnswerRanker()
        return self._ranker

    def query_vector(self, query: str):
        """The query's embedding; the last one is kept, since the answerer needs it too."""
        if self._last_query[0] != query:
            self._last_query = (query, self.embedder.embed_query(query))
        return self._last_query[1]

    def use_query_vector(self, query: str, vector) -> None:
        """A vector for ``query`` made elsewhere with this index's embedder (the CLI
        embeds a one-off query in a child process while the store opens)."""
        if vector is not None:
            self._last_query = (query, vector)

    def warm_up(self) -> None:
        """Load the model and open the indexes now rather than on the first question."""
        self.index.embedder.load()
        self.ranker.load()  # the answerer needs it whether or not search reranks
        self.refresh()

    def refresh(self) -> None:
        """Catch up with syncs made by other processes since the last search (searches do
        this themselves; a reader of the store between searches calls it first)."""
        generation = self.index.generation()
        if generation != self._generation:
            if self._generation is not None:
                self.index.catch_up()
            self.index.ensure_lexical()
            # The lexical index now mirrors the chunks: its count is a keyed-table read, where
            # Chroma's count is a scan (30 ms at 391,611 chunks).
            self._count = self.index.lexical.chunk_count()
            self._generation = generation

    # -- search ----------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        article_ids: list[str] | None = None,
        per_article: int | None = None,
        as_of: str | None = None,
        recent: bool | None = None,
        rerank: bool | None = None,
        stories: bool = False,
    ) -> list[Passage]:
        """``as_of``: search as if on that day (YYYY-MM-DD): later articles are left out and
        "recent" is measured from it (default: from the newest article found).
        ``recent``: prefer newer articles; None decides from the query's wording ("this
        week", "recently", "latest"...). ``rerank``: rescore the fused top passages with
        the answer model (default: the retriever's setting, else the shipped one: off).
        ``stories``: one passage per story (the same event told by several outlets), the
        others of its story in ``Passage.more_outlets``."""
        if stories:
            found = self.search(
                query, k * STORY_DEPTH, sources=sources, since=since, until=until, article_ids=article_ids,
                per_article=per_article, as_of=as_of, recent=recent, rerank=rerank,
            )
            return by_story(self.index, found)[:k]
        if not query or not query.strip():
            raise SearchError("the query is empty")
        if k < 1:
            raise SearchError("k must be at least 1")
        since_i, until_i = date_filter(since, "since"), date_filter(until, "until")
        as_of_i = date_filter(as_of, "as-of")
        check_date_order(since, until, as_of)
        if as_of_i is not None:
            until_i = as_of_i if until_i is None else min(until_i, as_of_i)
        if recent is None:
            recent = asks_for_recent(query)
        self.refresh()
        # FTS5 runs while the query is embedded and Chroma searched: both release the GIL.
        lexical = self._background().submit(
            self.index.lexical.search,
            query, CANDIDATES, sources=sources, since=since_i, until=until_i, article_ids=article_ids,
        )
        dense = self._dense(query, sources, since_i, until_i, article_ids)
        fused = self._fuse(dense, [cid for cid, _ in lexical.result()])
        fresh = (as_of_i or "newest") if recent and self.weights.recency else None
        cap = per_article or self.weights.per_article
        if not self.reranks(rerank):
            return self._passages(fused, k, cap, fresh)
        head = self._passages(fused, max(RERANK_HEAD, k), max(cap, 2), fresh)
        return capped(self.ranker.rerank(query, head), k, cap)

    def reranks(self, rerank: bool | None = None, answering: bool = False) -> bool:
        """Whether a search reranks: the call's choice, else the retriever's, else the
        shipped model's (``answering``: its choice for the passages an answer reads)."""
        for choice in (rerank, self.rerank):
            if choice is not None:
                return bool(choice)
        return self.ranker.rerank_answers_by_default if answering else self.ranker.rerank_by_default

    def _background(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-lexical")
        return self._pool

    def _dense(self, query, sources, since, until, article_ids) -> list[str]:
        vector = self.query_vector(query).tolist()
        count = max(self._count, 1)
        filters = (sources, since, until, article_ids)
        if all(f is None or f == [] for f in filters):
            return self.index.dense_search(vector, min(CANDIDATES, count))
        # Chroma's filtered search reads its metadata table (realtimeqa, "until": 116 ms
        # against 1.3 ms unfiltered). The lexical index's keyed table says how many chunks
        # pass: a few are searched by id; for many, an unfiltered list deep enough to hold
        # CANDIDATES of them is filtered there; Chroma filters only when that falls short.
        passing_count, allowed = self.index.lexical.filtered_ids(BY_IDS, *filters)
        if allowed is not None:
            return self.index.dense_search(vector, min(CANDIDATES, len(allowed)), chunk_ids=allowed) if allowed else []
        n = min(count, MAX_PROBE, max(CANDIDATES * DEEPER, int(2 * CANDIDATES * count / passing_count)))
        ids = self.index.dense_search(vector, n)
        passing = self.index.lexical.passing(ids, *filters)
        kept = [i for i in ids if i in passing]
        if len(kept) >= CANDIDATES or n >= count:
            return kept[:CANDIDATES]
        _, allowed = self.index.lexical.filtered_ids(BY_IDS_AT_MOST, *filters)
        if allowed is not None:  # by id: 9 ms for 7,853 of 29,190 chunks, where Chroma's filter took 150
            return self.index.dense_search(vector, min(CANDIDATES, len(allowed)), chunk_ids=allowed)
        return self.index.dense_search(vector, min(CANDIDATES, count), *filters)

    def _fuse(self, dense: list[str], lexical: list[str]) -> list[tuple[str, float]]:
        scores: dict[str, float] = {}
        for weight, ranking in ((self.weights.dense, dense), (self.weights.lexical, lexical)):
            for rank, chunk_id in enumerate(ranking):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (RRF_K + rank + 1)
        return sorted(scores.items(), key=lambda item: -item[1])

    def _passages(
        self, fused: list[tuple[str, float]], k: int, cap: int, fresh: int | str | None = None
    ) -> list[Passage]:
        """``fresh``: add the freshness bonus counted from this day (YYYYMMDD), or from the
        newest of the candidates ("newest")."""
        head = fused[: max(k * 4, 20)]
        if not head:
            return []
        records = self.index.chunks([cid for cid, _ in head])
        if fresh == "newest":
            fresh = max((m.get("date") or 0 for _, m in records.values()), default=0)
        reference = int_to_day(fresh) if fresh else None
        scored = []
        for chunk_id, score in head:
            if chunk_id not in records:
                continue
            doc, meta = records[chunk_id]
            if reference is not None:
                score += self._freshness(meta.get("date"), reference)
            scored.append((score, chunk_id, doc, meta))
        scored.sort(key=lambda item: -item[0])
        kept: list[Passage] = []
        seen: set[str] = set()  # articles with a passage kept
        kept_shingles: list[set[int]] = []  # of every passage kept so far
        duplicates: set[str] = set()
        per_article: dict[str, int] = {}
        within_cap = 0  # kept passages that ``capped`` will take: k of them settle the result
        for score, chunk_id, doc, meta in scored:
            if within_cap == k:
                break
            article_id = meta.get("article_id", "")
            if article_id in duplicates:
                continue
            if self.weights.collapse_duplicates:
                shingles = _shingles(doc)
                if article_id not in seen and any(_near_duplicate(shingles, s) for s in kept_shingles):
                    duplicates.add(article_id)  # the same wire story, ranked higher under another id
                    continue
                kept_shingles.append(shingles)
            seen.add(article_id)
            kept.append(to_passage(chunk_id, doc, meta, score))
            per_article[article_id] = per_article.get(article_id, 0) + 1
            within_cap += per_article[article_id] <= cap
        return capped(kept, k, cap)

    def _freshness(self, date: int | None, reference: dt.date) -> float:
        day = int_to_day(date)
        if day is None:
            return 0.0
        age = max((reference - day).days, 0)
        return self.weights.recency * 0.5 ** (age / self.weights.half_life_days) / (RRF_K + 1)

    # -- LlamaIndex ----------------------------------------------------------------------

    def as_llamaindex(self, k: int = 10, **filters):
        """A LlamaIndex ``BaseRetriever`` over this retriever (for query engines)."""
        from .llamaindex import PassageRetriever

        return PassageRetriever(self, k=k, **filters)


def _story_of(index, passages: list[Passage]) -> dict[str, int]:
    """Each article among ``passages`` -> its story's number; grouped by the articles'
    lead vectors and dates, as ``qa new`` groups them (index/stories.py)."""
    import numpy as np

    from index.stories import group

    firsts: dict[str, Passage] = {}
    for p in passages:
        firsts.setdefault(p.article_id, p)
    if len(firsts) < 2:
        return {}
    keys = {a: p.chunk_id.rsplit(":", 1)[0] for a, p in firsts.items()}
    vectors = index.lead_vectors(sorted(set(keys.values())))
    articles = [a for a in firsts if keys[a] in vectors]
    if not articles:
        return {}
    matrix = np.array([vectors[keys[a]] for a in articles], dtype=np.float32)
    return {
        articles[m]: n for n, members in enumerate(group([firsts[a].date for a in articles], matrix)) for m in members
    }


def _outlet(p: Passage) -> dict:
    return {"article_id": p.article_id, "title": p.title, "source": p.source, "date": p.date, "url": p.url}


def story_peers(index, passages: list[Passage]) -> dict[str, list[dict]]:
    """For each article among ``passages``, the other articles of its story among them."""
    story_of = _story_of(index, passages)
    firsts: dict[str, Passage] = {}
    for p in passages:
        firsts.setdefault(p.article_id, p)
    return {
        a: [_outlet(firsts[b]) for b in firsts if b != a and story_of.get(b) == story_of[a]] for a in story_of
    }


def by_story(index, passages: list[Passage]) -> list[Passage]:
    """The best passage of each story, in rank order, the other articles of its story
    listed on it (``Passage.more_outlets``)."""
    story_of = _story_of(index, passages)
    out: list[Passage] = []
    shown: dict[int, Passage] = {}  # story -> the passage that stands for it
    for p in passages:
        story = story_of.get(p.article_id)
        lead = shown.setdefault(story, p) if story is not None else p
        if lead is p or p.article_id == lead.article_id:
            out.append(p)  # a second passage of the same article stays (the per-article cap holds)
        elif all(m["article_id"] != p.article_id for m in lead.more_outlets):
            lead.more_outlets.append(_outlet(p))
    return out


def capped(passages: list[Passage], k: int, cap: int) -> list[Passage]:
    """The first ``k`` with at most ``cap`` of one article; over the cap only to reach k."""
    out: list[Passage] = []
    overflow: list[Passage] = []
    per_article: dict[str, int] = {}
    for p in passages:
        if per_article.get(p.article_id, 0) >= cap:
            overflow.append(p)
            continue
        per_article[p.article_id] = per_article.get(p.article_id, 0) + 1
        out.append(p)
        if len(out) == k:
            return out
    return out + overflow[: k - len(out)]


def to_passage(chunk_id: str, doc: str, meta: dict, score: float) -> Passage:
    sentences = [tuple(s) for s in json.loads(meta.get("sentences") or "[]")]
    return Passage(
        article_id=meta.get("article_id", ""),
        title=meta.get("title", ""),
        url=meta.get("url"),
        date=int_to_date(meta.get("date")),
        source=meta.get("source"),
        text=doc,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        score=round(float(score), 6),
        chunk_id=chunk_id,
        sentences=sentences,
    )


def date_filter(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return date_to_int(normalize_date(value))
    try:
        return date_to_int(dt.date.fromisoformat(str(value)).isoformat())
    except ValueError:
        raise SearchError(f"--{name} must be a date like 2022-06-17, not {value!r}") from None


def check_date_order(since, until, as_of) -> None:
    """A --since after --until (or --as-of) leaves nothing to find: say so."""
    start = date_filter(since, "since")
    for value, name in ((until, "until"), (as_of, "as-of")):
        end = date_filter(value, name)
        if start is not None and end is not None and start > end:
            raise SearchError(f"--since {since} is after --{name} {value}: no article can match")


_TOKEN = re.compile(r"\w+")
_RECENT = re.compile(
    r"\b(?:(?:this|last|past) (?:week|weekend|month)|recent(?:ly)?|latest|today|yesterday|tonight"
    r"|currently|right now|so far this year)\b",
    re.IGNORECASE,
)


def asks_for_recent(query: str) -> bool:
    """Does the wording ask about the latest news ("this week", "recently"...)?"""
    return bool(_RECENT.search(query))


def int_to_day(value: int | None) -> dt.date | None:
    """20220617 -> date(2022, 6, 17); None for no or a malformed date."""
    try:
        return dt.date.fromisoformat(int_to_date(value) or "")
    except ValueError:
        return None


def _near_duplicate(a: set[int], b: set[int]) -> bool:
    """3-word-shingle Jaccard above 0.8."""
    if min(len(a), len(b)) <= 0.8 * max(len(a), len(b)):
        return False  # Jaccard can't exceed the size ratio
    shared = len(a & b)
    return shared > 0.8 * (len(a) + len(b) - shared)


def _shingles(text: str) -> set[int]:
    words = _TOKEN.findall(text.lower())
    if len(words) < 3:
        return {hash(tuple(words))}
    return {hash(t) for t in zip(words, words[1:], words[2:])}
