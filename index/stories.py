"""Stories: the articles of several outlets about one event.

Two articles are one story when their leads are alike (the cosine of their first chunks'
vectors: title and opening, already in the store, so grouping embeds nothing) and their
dates are at most a few days apart. Articles join stories in date order: each joins the
story whose mean lead vector is closest, if close enough, else starts a story of its own.
The bar was chosen on pairs labelled by hand from realtimeqa-2023-24 weeks
(tests/bench/bench_stories.py, docs/benchmarks.md "Stories").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from .article import int_to_date

SAME_STORY = 0.65  # lead cosine at or above which two articles are one story (chosen on 2023 pairs)
STORY_DAYS = 3  # at most this many days between a story's articles


@dataclass
class StoryArticle:
    id: str
    title: str
    source: str | None = None
    date: str | None = None
    url: str | None = None
    added_at: int | None = None

    def to_dict(self) -> dict:
        added = dt.datetime.fromtimestamp(self.added_at, dt.timezone.utc).isoformat() if self.added_at else None
        return {"id": self.id, "title": self.title, "source": self.source, "date": self.date, "url": self.url,
                "added_at": added}


@dataclass
class Story:
    articles: list[StoryArticle]
    lead: str = ""  # the opening sentence of its first article

    @property
    def title(self) -> str:
        return self.articles[0].title

    @property
    def outlets(self) -> list[str]:
        return sorted({a.source for a in self.articles if a.source})

    @property
    def dates(self) -> list[str]:
        return sorted({a.date for a in self.articles if a.date})

    def to_dict(self) -> dict:
        return {"title": self.title, "lead": self.lead, "outlets": self.outlets, "dates": self.dates,
                "articles": [a.to_dict() for a in self.articles]}


@dataclass
class _Group:
    members: list[int] = field(default_factory=list)
    total: np.ndarray | None = None
    days: list[int] = field(default_factory=list)


def group(dates: list[str | None], vectors: np.ndarray, threshold: float = SAME_STORY, days: int = STORY_DAYS) -> list[list[int]]:
    """Stories as lists of indexes into ``dates``/``vectors`` (rows: lead vectors), in
    date order within each story. An article without a date may join any story."""
    units = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12) if len(vectors) else vectors
    ordinals = [dt.date.fromisoformat(d).toordinal() if d else None for d in dates]
    order = sorted(range(len(dates)), key=lambda n: (ordinals[n] is None, ordinals[n] or 0, n))
    groups: list[_Group] = []
    for n in order:
        best, best_score = None, threshold
        for g in groups:
            if ordinals[n] is not None and g.days and min(abs(ordinals[n] - d) for d in g.days) > days:
                continue
            centroid = g.total / np.linalg.norm(g.total)
            score = float(units[n] @ centroid)
            if score >= best_score:
                best, best_score = g, score
        if best is None:
            best = _Group(total=np.zeros(units.shape[1]))
            groups.append(best)
        best.members.append(n)
        best.total = best.total + units[n]
        if ordinals[n] is not None:
            best.days.append(ordinals[n])
    return [g.members for g in groups]


def same_story(a: np.ndarray, b: np.ndarray, date_a: str | None, date_b: str | None,
               threshold: float = SAME_STORY, days: int = STORY_DAYS) -> bool:
    """The pairwise form of the rule, as the benchmark scores it."""
    return len(group([date_a, date_b], np.stack([a, b]), threshold, days)) == 1


def new_stories(index, since: int, exclude=frozenset()) -> list[Story]:
    """The stories of the articles that arrived at or after ``since`` (epoch seconds),
    newest first; ``exclude``: ids not to count (there before, within the same second)."""
    from .chunking import sentence_spans

    stored = [s for s in index.added_since(since) if s.id not in exclude]
    vectors = index.lead_vectors(sorted({s.chunk_key for s in stored}))
    stored = [s for s in stored if s.chunk_key in vectors]  # an article with no text has no lead
    if not stored:
        return []
    articles = [
        StoryArticle(s.id, s.meta.get("title") or s.id, s.meta.get("source"), int_to_date(s.meta.get("date")),
                     s.meta.get("url"), s.meta.get("added_at"))
        for s in stored
    ]
    matrix = np.array([vectors[s.chunk_key] for s in stored], dtype=np.float32)
    stories = [Story([articles[n] for n in members]) for members in group([a.date for a in articles], matrix)]
    firsts = {a.id: a for a in index.articles_by_id([s.articles[0].id for s in stories])}
    for story in stories:
        first = firsts.get(story.articles[0].id)
        if first is not None:
            story.lead = lead_sentence(first.text, first.title, sentence_spans)
    stories.sort(key=lambda s: (max(a.date or "" for a in s.articles), max(a.added_at or 0 for a in s.articles)),
                 reverse=True)
    return stories


def lead_sentence(text: str, title: str, spans) -> str:
    """The first sentence of real length that is not the title again."""
    for start, end in spans(text):
        sentence = " ".join(text[start:end].split())
        if len(sentence.split()) >= 8 and sentence != " ".join(title.split()):
            return sentence[:300]
    return " ".join(text.split())[:300]


# -- what's new: since a day, or since the last look -------------------------------------------


def since_epoch(value: str, settings) -> int:
    """``value``: a day (YYYY-MM-DD, from its start, local time) or "last" (the last time
    `qa new` was run on this collection; the day before now if never)."""
    import time

    if value == "last":
        looked = last_look(settings)
        return looked if looked is not None else int(time.time()) - 86_400
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since must be a day (YYYY-MM-DD) or 'last', not {value!r}") from None
    return int(dt.datetime.combine(day, dt.time()).timestamp())


def look_mark(idx) -> int:
    """The second from which articles are new at the next look. Arrivals are stamped in
    whole seconds (when their sync started), so articles of a sync that started in this
    very second would come back as new at the next look: then wait for the next second
    and mark that one."""
    import time

    now = time.time()
    second = int(now)
    if idx.added_since(second):
        time.sleep(max(0.0, second + 1 - now))
        return second + 1
    return second


def _looks_path(settings):
    return settings.data_dir / "looked.json"


def last_look(settings) -> int | None:
    import json

    try:
        looks = json.loads(_looks_path(settings).read_text(encoding="utf-8"))
        return int(looks[f"{settings.where}|{settings.collection}"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mark_looked(settings, when: int) -> None:
    """Written whole (a temporary file renamed): a reader killed half way leaves the old mark."""
    import json

    from .files import replace_file

    path = _looks_path(settings)
    try:
        looks = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        looks = {}
    looks[f"{settings.where}|{settings.collection}"] = int(when)
    replace_file(path, json.dumps(looks).encode("utf-8"))
