"""Measuring retrieval on a question set in the ../shared/eval format.

A set is a folder with ``corpus.jsonl`` (articles) and ``questions.jsonl`` (``id,
question, answers, gold_articles, history, answerable, date``)."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable


class EvalSetError(ValueError):
    pass


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    gold_articles: list[str]
    history: list[dict] = field(default_factory=list)
    answerable: bool = True
    date: str | None = None


def load_questions(folder: Path) -> list[Question]:
    path = Path(folder) / "questions.jsonl"
    if not path.is_file():
        raise EvalSetError(f"{folder} is not an eval set: {path.name} is missing")
    out: list[Question] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            out.append(
                Question(
                    id=str(raw["id"]),
                    question=raw["question"],
                    answers=list(raw.get("answers") or []),
                    gold_articles=list(raw.get("gold_articles") or []),
                    history=list(raw.get("history") or []),
                    answerable=bool(raw.get("answerable", True)),
                    date=raw.get("date"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalSetError(f"{path}:{lineno}: bad question line ({exc})") from None
    return out


def corpus_path(folder: Path) -> Path:
    path = Path(folder) / "corpus.jsonl"
    if not path.is_file():
        raise EvalSetError(f"{folder} is not an eval set: corpus.jsonl is missing")
    return path


@dataclass
class RetrievalScores:
    questions: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float
    answer_in_top5: float
    p50_ms: float
    p95_ms: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def rank_of_gold(article_ids: list[str], gold: Iterable[str]) -> int | None:
    """1-based rank of the first gold article in a ranked list of passage articles."""
    gold = set(gold)
    for rank, article_id in enumerate(article_ids, start=1):
        if article_id in gold:
            return rank
    return None


def score_retrieval(
    questions: list[Question],
    search: Callable[[Question], list[tuple[str, str]]],
) -> RetrievalScores:
    """``search(q)`` returns the top-10 passages as (article_id, text), best first."""
    ranks: list[int | None] = []
    answer_hits = 0
    timings: list[float] = []
    judged = [q for q in questions if q.gold_articles]
    for q in judged:
        started = time.perf_counter()
        results = search(q)[:10]
        timings.append((time.perf_counter() - started) * 1000)
        ranks.append(rank_of_gold([a for a, _ in results], q.gold_articles))
        top5 = " ".join(text for _, text in results[:5]).lower()
        if any(ans.lower() in top5 for ans in q.answers if ans):
            answer_hits += 1
    n = max(len(judged), 1)

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    return RetrievalScores(
        questions=len(judged),
        recall_at_1=recall(1),
        recall_at_5=recall(5),
        recall_at_10=recall(10),
        mrr_at_10=sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        answer_in_top5=answer_hits / n,
        p50_ms=statistics.median(timings) if timings else 0.0,
        p95_ms=sorted(timings)[int(0.95 * (len(timings) - 1))] if timings else 0.0,
    )


def evaluate_retriever(
    retriever, questions: list[Question], k: int = 10, use_history: bool = True, use_dates: bool = True
) -> RetrievalScores:
    """``use_history``: resolve follow-ups against the question's history first, as the
    assistant does; otherwise search the last turn alone. ``use_dates``: search each
    question as of its ``date``, the day it was asked (later articles left out, "this week"
    counted from it), when the set gives one."""
    from .assistant import condense

    # Identical texts are stored once under the smallest id; a passage of that article is
    # a passage of every article with the same text.
    canonical = retriever.index.canonical_ids()

    def search(q: Question):
        query = condense(q.question, q.history) if use_history else q.question
        as_of = q.date if use_dates else None
        return [(p.article_id, p.text) for p in retriever.search(query, k=k, as_of=as_of)]

    resolved = [
        Question(**{**q.__dict__, "gold_articles": [canonical.get(g, g) for g in q.gold_articles]})
        for q in questions
    ]
    return score_retrieval(resolved, search)


def eval_collection_name(folder: Path) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(folder).resolve().name).strip("-_") or "set"
    return f"eval-{name}"[:63]
