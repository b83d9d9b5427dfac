"""Measuring answers on a question set (the answer part of ``qa eval``)."""

from __future__ import annotations

import re
import statistics
import string
import time
from collections import Counter
from dataclasses import dataclass, field

from .evaluation import Question


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().replace("’", "'")
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = normalize(prediction).split(), normalize(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, answers: list[str]) -> bool:
    """Whether a (short) answer is one of the gold answers, SQuAD-normalized; never an empty one."""
    return bool(prediction) and any(normalize(prediction) == normalize(a) for a in answers)


def contains(text: str, answers: list[str]) -> bool:
    norm = normalize(text)
    return any(normalize(a) and normalize(a) in norm for a in answers)


@dataclass
class AnswerScores:
    questions: int
    gold_in_lead: float  # answerable questions whose gold answer stands in the lead
    exact_match: float  # the short answer equals a gold answer (normalised)
    token_f1: float  # of the short answer against the best gold answer
    lead_f1: float  # of the whole lead sentence
    citations_valid: float  # answers whose every citation is verbatim at its offsets
    refusal_precision: float | None
    refusal_recall: float | None
    refusal_f1: float | None
    refused: float  # share of all questions refused
    p50_ms: float
    # per answerable question with answers, in order: did the gold stand in the lead (to
    # compare two answerers question by question; not in ``to_dict``)
    gold_leads: list[bool] = field(default_factory=list, repr=False)
    # per question, in order: was it refused (for a paired bootstrap of refusal F1)
    refusals: list[bool] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in self.__dict__.items()
            if k not in ("gold_leads", "refusals")
        }


def refusal_scores(refused: list[bool], answerable: list[bool]) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of refusing the unanswerable questions; None where a
    share has nothing to count (nothing refused, or nothing to refuse)."""
    refused_n = sum(refused)
    should = sum(not a for a in answerable)
    right = sum(r and not a for r, a in zip(refused, answerable))
    precision = right / refused_n if refused_n else None
    recall = right / should if should else None
    if precision is None or recall is None:
        return precision, recall, None
    return precision, recall, (2 * precision * recall / (precision + recall) if precision and recall else 0.0)


def score_answers(
    assistant, questions: list[Question], use_history: bool = True, use_dates: bool = True
) -> AnswerScores:
    """``use_dates``: ask each question as of its ``date`` (when the set gives one)."""
    from .assistant import Filters

    in_lead = em = f1 = lead_f1 = valid = 0.0
    answerable_n = 0
    gold_leads: list[bool] = []
    refusals: list[bool] = []
    timings: list[float] = []
    for q in questions:
        started = time.perf_counter()
        filters = Filters(as_of=q.date) if use_dates and q.date else None
        answer = assistant.ask(q.question, history=q.history if use_history else None, filters=filters)
        timings.append((time.perf_counter() - started) * 1000)
        valid += all(_citation_ok(assistant, c) for c in answer.citations)
        refusals.append(not answer.answered)
        if q.answerable and q.answers:
            answerable_n += 1
            gold_leads.append(contains(answer.lead, q.answers))
            in_lead += gold_leads[-1]
            short = answer.short or answer.lead
            em += exact(short, q.answers)
            f1 += max(token_f1(short, a) for a in q.answers)
            lead_f1 += max(token_f1(answer.lead, a) for a in q.answers)
    n = max(answerable_n, 1)
    precision, recall, f = refusal_scores(refusals, [q.answerable for q in questions])
    return AnswerScores(
        questions=len(questions),
        gold_in_lead=in_lead / n,
        exact_match=em / n,
        token_f1=f1 / n,
        lead_f1=lead_f1 / n,
        citations_valid=valid / max(len(questions), 1),
        refusal_precision=precision,
        refusal_recall=recall,
        refusal_f1=f,
        refused=sum(refusals) / max(len(questions), 1),
        p50_ms=statistics.median(timings) if timings else 0.0,
        gold_leads=gold_leads,
        refusals=refusals,
    )


_article_cache: dict = {}


def _citation_ok(assistant, citation) -> bool:
    key = (id(assistant), citation.article_id)
    if key not in _article_cache:
        _article_cache[key] = assistant.index.article(citation.article_id).text
    return _article_cache[key][citation.start : citation.end] == citation.quote
