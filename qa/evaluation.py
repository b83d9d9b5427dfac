"""Measuring retrieval on a question set in the ../shared/eval format.

A set is a folder with ``corpus.jsonl`` (articles) and ``questions.jsonl`` (``id,
question, answers, gold_articles, history, answerable, date``)."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from index.errors import QAError


class EvalSetError(QAError, ValueError):
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
    """Every question of the set, each line checked: a line that cannot be used is an
    EvalSetError naming it (an eval that quietly skipped it would score another set)."""
    from index.readers import ReadError, json_object, jsonl_lines

    path = Path(folder) / "questions.jsonl"
    if not path.is_file():
        raise EvalSetError(f"{folder} is not an eval set: {path.name} is missing")
    out: list[Question] = []
    with path.open("rb") as handle:
        for lineno, raw in jsonl_lines(handle):
            if not raw.strip():
                continue
            try:
                out.append(question_from(json_object(raw)))
            except ReadError as exc:
                raise EvalSetError(f"{path}:{lineno}: {exc}") from None
    if not out:
        raise EvalSetError(f"{path} holds no questions")
    return out


def question_from(raw: dict) -> Question:
    from index.readers import ReadError, kind_of, record_id

    question = raw.get("question")
    if question is None:
        raise ReadError("missing 'question'")
    if not isinstance(question, str):
        raise ReadError(f"'question' must be text, not {kind_of(question)}")
    if not question.strip():
        raise ReadError("'question' is empty")
    history = raw.get("history") or []
    turns = '{"role", "text"} turns'
    if not isinstance(history, list):
        raise ReadError(f"'history' must be a list of {turns}, not {kind_of(history)}")
    if not all(isinstance(t, dict) and all(isinstance(t.get(k, ""), str) for k in ("role", "text")) for t in history):
        raise ReadError(f"'history' must be a list of {turns}")
    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        raise ReadError(f"'answerable' must be true or false, not {kind_of(answerable)}")
    date = raw.get("date")
    if date not in (None, ""):
        try:
            date = dt.date.fromisoformat(str(date)).isoformat()
        except ValueError:
            raise ReadError(f"'date' must be a date like 2022-06-17, not {date!r}") from None
    return Question(
        id=record_id(raw.get("id")),
        question=question,
        answers=_texts(raw.get("answers"), "answers", "a list of texts"),
        gold_articles=[record_id(g) for g in _texts(raw.get("gold_articles"), "gold_articles", "a list of article ids", ids=True)],
        history=history,
        answerable=answerable,
        date=date or None,
    )


def _texts(value, name: str, what: str, ids: bool = False) -> list:
    from index.readers import ReadError, kind_of

    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ReadError(f"'{name}' must be {what}, not {kind_of(value)}")
    kinds = (str, int) if ids else (str,)
    if not all(isinstance(v, kinds) and not isinstance(v, bool) for v in value):
        raise ReadError(f"'{name}' must be {what}")
    return value


def corpus_path(folder: Path) -> Path:
    path = Path(folder) / "corpus.jsonl"
    if not path.is_file():
        raise EvalSetError(f"{folder} is not an eval set: corpus.jsonl is missing")
    return path


@dataclass
class RetrievalScores:
    """Over the questions with gold articles; None when no question has any."""

    questions: int
    recall_at_1: float | None
    recall_at_5: float | None
    recall_at_10: float | None
    mrr_at_10: float | None
    answer_in_top5: float | None
    p50_ms: float | None
    p95_ms: float | None
    without_gold: int = 0  # questions left out: they have no gold articles

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
    without_gold = len(questions) - len(judged)
    if not judged:
        return RetrievalScores(0, None, None, None, None, None, None, None, without_gold)
    n = len(judged)

    def recall(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    return RetrievalScores(
        questions=n,
        recall_at_1=recall(1),
        recall_at_5=recall(5),
        recall_at_10=recall(10),
        mrr_at_10=sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        answer_in_top5=answer_hits / n,
        p50_ms=percentile(timings, 0.5),
        p95_ms=percentile(timings, 0.95),
        without_gold=without_gold,
    )


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between the closest ranks (numpy's default):
    p95 >= p50 on any list, the median at q=0.5."""
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


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
