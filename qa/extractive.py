"""The default answerer: no LLM. It picks the sentences of the retrieved passages that
answer the question and quotes them, each with its citation.

A sentence's score mixes (weights chosen on the dev sets, tests/bench/bench_answers.py):
  * its embedding similarity to the question (MiniLM, the same model as retrieval), and
    to the sentence that asks when the question opens with a premise,
  * how many of the question's content words it contains,
  * whether it holds the kind of thing the question asks for (a number for "how many",
    a date for "when", a name for "who"/"which"), not already named in the question,
  * the rank of its passage,
  * how much of it is new to the question (a sentence that only repeats the question
    cannot answer it),
  * whether it opens its article (news puts the key facts first),
  * a penalty when it is a heading or caption (no closing punctuation).
A lead that opens with a reference back ("The show, which...", "It...") is quoted with
the sentence before it, so that the answer says what it is about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re
from dataclasses import dataclass

import numpy as np

from index.lexical import STOPWORDS, WORD

if TYPE_CHECKING:
    from .retrieval import Passage


@dataclass(frozen=True)
class ScoreWeights:
    dense: float = 1.0
    lexical: float = 0.5
    cue: float = 0.15
    rank: float = 0.05
    novelty: float = 0.1
    lede: float = 0.1
    heading: float = 0.1  # subtracted
    # Share of the dense similarity taken against the sentence that asks, when the
    # question opens with a premise ("US gas prices have been falling. What was the record
    # high?"): the premise finds the article, the ask picks the sentence. realtimeqa:
    # 0.592 -> 0.602 / 0.612 / 0.612 / 0.602 for 0.25 / 0.5 / 0.75 / 1.
    asked: float = 0.5
    # Below this best-sentence score the articles are taken not to hold the answer. On
    # mtrag-dev, refusal F1 peaks at 0.66 near 0.92, but there a short follow-up such as
    # "and what about China?" on the seed article (0.77) is refused too; at 0.74 mtrag gives
    # 0.49 (0.46 with the earlier scoring at its 0.60), and the seed chat still answers.
    refuse_below: float = 0.74
    # A yes/no question needs a closer match: a quote that only shares its topic neither
    # confirms nor denies it. On mtrag-dev, 35 of its 63 yes/no questions are unanswerable
    # against 45 of the other 176; refusal F1 is 0.58-0.64 for 0.86-1.1 (0.61 at 0.9).
    refuse_below_yes_no: float = 0.9

    def threshold(self, question: str) -> float:
        """The best-sentence score below which ``question`` is refused."""
        return self.refuse_below_yes_no if is_yes_no(question) else self.refuse_below


@dataclass
class Candidate:
    passage: int  # index into the passages list
    start: int  # article offsets
    end: int
    text: str
    score: float = 0.0
    dense: float = 0.0
    before: int | None = None  # article offset where the previous sentence of the passage starts
    previous: str = ""  # that sentence's text (context for the answer model)
    ce: float | None = None  # the answer model's score, when it ran
    answers: float | None = None  # P(answers) the refusal bar reads, when it differs from ``score``

    @property
    def answer_p(self) -> float:
        return self.score if self.answers is None else self.answers

    @property
    def ranker_text(self) -> str:
        return ranker_text(self.text, self.previous)

    @property
    def context_text(self) -> str:
        """The sentence after the one before it, whatever it opens with."""
        return ranker_text(self.text, self.previous, always=True)


LEDE_CHARS = 400  # a sentence starting this early in its article is part of the lede
_ANAPHOR = re.compile(
    r"\s*[\"“]?(?:(?:[Tt]he|[Tt]his|[Tt]hat|[Tt]hese|[Tt]hose|[Ii]ts|[Hh]is|[Hh]er|[Tt]heir)\s+[a-z]"
    r"|(?:[Ii]t|[Hh]e|[Ss]he|[Tt]hey)\b)"
)
_CLOSED = ('.', '!', '?', '"', "'", "”", "’", ")")


def refers_back(sentence: str) -> bool:
    """Does it open with a reference to something named earlier ("The show...", "It...")?"""
    return bool(_ANAPHOR.match(sentence))


CONTEXT_WORDS = 40


def ranker_text(sentence: str, previous: str = "", always: bool = False) -> str:
    """What the answer model reads for a sentence: the sentence, preceded by the one
    before it when it refers back to it (so "He said..." knows who "he" is), or
    ``always``."""
    sentence = " ".join(sentence.split())
    if previous.strip() and (always or refers_back(sentence)):
        # the end of a long previous sentence is enough context, and leaves the model's
        # budget of word pieces to the sentence itself
        words = previous.split()[-CONTEXT_WORDS:]
        return f"{' '.join(words)} {sentence}"
    return sentence


_YES_NO = re.compile(
    r"^\W*(?:\w+[,.!]\s+)*"  # after an interjection ("Sorry. Is...", "OK, can...")
    r"(?:is|are|was|were|am|can|could|do|does|did|will|would|should|shall|has|have|had|may|might|must"
    r"|isn't|aren't|wasn't|weren't|can't|couldn't|doesn't|don't|didn't|won't|wouldn't|shouldn't|hasn't|haven't)\b",
    re.IGNORECASE,
)


def is_yes_no(question: str) -> bool:
    """Does the question ask for a yes or a no ("Is it available in Spanish?")?"""
    return bool(_YES_NO.match(question))


def asked_part(question: str) -> str:
    """The sentence of the question that asks: the last one ending in "?", else the last."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", question.strip()) if p]
    asking = [p for p in parts if p.endswith("?")]
    return (asking or parts or [question.strip()])[-1]


def is_heading(sentence: str) -> bool:
    return not sentence.rstrip().endswith(_CLOSED)


_NUMBER = re.compile(r"(?<![\w.])(?:[$€£]\s?)?\d[\d,.]*(?:\s?(?:%|percent|million|billion|thousand|trillion))?", re.I)
_MONTHS = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DATE = re.compile(rf"\b(?:{_MONTHS}\.?\s+\d{{1,2}}|\d{{1,2}}\s+{_MONTHS}|(?:1[89]|20)\d{{2}}|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)|yesterday|today|last week)\b")
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of|the|de|van|von|al|bin|and|&)?\s*[A-Z][\w’'-]+)*")


def content_words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 1]


def _stem(word: str) -> str:
    return word[:5] if len(word) > 5 else word


_EXPECTATION_Q = re.compile(r"\b(expect|hope|anticipat|predict|plan|want|intend|aim|forecast)\w*", re.I)
_EXPECTATION_S = re.compile(
    r"\b(will|would|expect\w*|hope\w*|assum\w*|anticipat\w*|predict\w*|plan\w*|intend\w*|likely|aim\w*|forecast\w*|compel\w*)\b",
    re.I,
)


def question_kind(question: str) -> str | None:
    q = question.lower()
    if re.search(r"\bhow (many|much|long|old|far|big|large)\b|\bwhat (number|percentage|percent|amount|share|price)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month|time)\b|\bwhich (year|day|month)\b", q):
        return "date"
    if re.match(r"\s*what\b", q) and _EXPECTATION_Q.search(q):
        return "expectation"
    if re.search(r"\b(?:called|named)\s*\?|\bwho\b|\bwhom\b|\bwhose\b|\bwhich\b|\bwhat (is the name|company|country|city|state|team|show|film|movie|group|organization|person|brand|app|game)\b|\bwhere\b|\bname\b", q):
        return "name"
    return None


_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
    r"|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion"
    r"|trillion|dozens?|half|once|twice|single|several|few)\b",
    re.I,
)
_TIME_WORD = re.compile(
    # month names only capitalized: "may" and "march" are verbs as often
    rf"\b(?-i:{_MONTHS})\b|\b(?:spring|summer|autumn|fall|winter|century|decade|week|month|year|night|morning|evening"
    r"|afternoon|ago|since|until|after|before|during)\b",
    re.I,
)


def fits_kind(question: str, answer: str) -> bool:
    """Could ``answer`` be of the kind ``question`` asks for? Only a number or a time is
    checked (a digit or a number word; a digit, a date or a word of time); anything else
    fits."""
    kind = question_kind(question)
    if kind == "number":
        return bool(re.search(r"\d", answer) or _NUMBER_WORD.search(answer))
    if kind == "date":
        return bool(re.search(r"\d", answer) or _DATE.search(answer) or _TIME_WORD.search(answer))
    return True


def _has_cue(kind: str | None, sentence: str, question: str) -> bool:
    if kind == "expectation":
        return bool(_EXPECTATION_S.search(sentence))
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "name":
        asked = {w.lower() for w in WORD.findall(question)}
        for match in _NAME.finditer(sentence):
            words = [w.lower() for w in WORD.findall(match.group())]
            # a name the question does not already contain (skip a sentence-initial word)
            if match.start() > 0 and words and not all(w in asked for w in words):
                return True
        return False
    return False


def candidates(passages: list[Passage]) -> list[Candidate]:
    """The sentences of the passages, with article offsets, de-duplicated."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for n, p in enumerate(passages):
        for c in passage_sentences(p, n):
            key = " ".join(c.text.split()).lower()
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


def passage_sentences(p: Passage, n: int = 0) -> list[Candidate]:
    """The sentences of one passage (4-90 words) as candidates of passage number ``n``."""
    spans = p.sentences or [(p.start, p.end)]
    out: list[Candidate] = []
    previous = None
    for s, e in spans:
        if s < p.start or e > p.end:
            continue
        text = p.text[s - p.start : e - p.start]
        before, previous = previous, s
        if not 4 <= len(text.split()) <= 90:
            continue
        prior = p.text[before - p.start : s - p.start] if before is not None else ""
        out.append(Candidate(n, s, e, text, before=before, previous=prior))
    return out


# The cheap features of a sentence, in this order (columns of ``cheap_features``).
CHEAP_FEATURES = ("lexical", "cue", "novelty", "lede", "heading", "rank", "anaphor")


def cheap_features(question: str, cands: list[Candidate], context: str = "") -> np.ndarray:
    """One row per candidate: how many of the question's content words it holds (words
    carried over from earlier turns, ``context``, count half), whether it holds the kind
    of thing asked for, how much of it is new, whether it opens its article, whether it
    is a heading, its passage's rank (1, 1/2, 1/3...), whether it refers back."""
    q_terms = {_stem(w) for w in content_words(question)}
    c_terms = {_stem(w) for w in content_words(context)} - q_terms
    total = len(q_terms) + 0.5 * len(c_terms)
    kind = question_kind(question)
    rows = np.zeros((len(cands), len(CHEAP_FEATURES)), dtype=np.float32)
    for i, c in enumerate(cands):
        s_terms = {_stem(w) for w in content_words(c.text)}
        own = len(q_terms & s_terms)
        # Carried words refine among sentences about the question's own subject; alone
        # they would pull the answer back to the previous turn.
        carried = 0.5 * len(c_terms & s_terms) if own or not q_terms else 0.0
        rows[i] = (
            (own + carried) / total if total else 0.0,
            _has_cue(kind, c.text, question),
            len(s_terms - q_terms) / len(s_terms) if s_terms else 0.0,
            c.start < LEDE_CHARS,
            is_heading(c.text),
            1 / (1 + c.passage),
            refers_back(c.text),
        )
    return rows


def hand_score(features: np.ndarray, weights: ScoreWeights) -> np.ndarray:
    """The hand-set mix of the cheap features (the dense similarity is added apart)."""
    lexical, cue, novelty, lede, heading, rank, _ = features.T
    return (
        weights.lexical * lexical
        + weights.cue * cue
        + weights.rank * rank
        + weights.novelty * novelty
        + weights.lede * lede
        - weights.heading * heading
    )


def score_sentences(
    question: str,
    query_vector: np.ndarray,
    cands: list[Candidate],
    embedder,
    weights: ScoreWeights,
    embed_top: int = 16,
    context: str = "",
) -> list[Candidate]:
    """Rank sentences by the hand-set weights. Only the ``embed_top`` best by the cheap
    features are embedded: sentence embeddings are most of an answer's cost. ``context``
    holds words carried over from earlier turns: they count half as much as the
    question's own words."""
    if not cands:
        return []
    for c, score in zip(cands, hand_score(cheap_features(question, cands, context), weights)):
        c.score = float(score)
    shortlist = sorted(cands, key=lambda c: -c.score)[:embed_top]
    vectors = embedder.embed([" ".join(c.text.split()) for c in shortlist])
    for c, d in zip(shortlist, vectors @ query_vector):
        c.dense = float(d)
        c.score += weights.dense * c.dense
    return sorted(shortlist, key=lambda c: -c.score)


def pick_support(
    ranked: list[Candidate], lead: Candidate, limit: int = 2, margin: float = 0.25, floor: float = float("-inf")
) -> list[Candidate]:
    """Up to ``limit`` more sentences within ``margin`` of the lead's score, each itself
    above ``floor`` (the refusal bar, on its P(answers)), not next to each other."""
    chosen: list[Candidate] = []
    for c in ranked[1:]:
        if len(chosen) == limit or c.score < lead.score - margin:
            break
        if c.answer_p < floor:
            continue
        if any(c.start < x.end + 5 and x.start < c.end + 5 for x in [lead, *chosen]):
            continue  # the same or a neighbouring span
        chosen.append(c)
    return chosen


def with_context(lead: Candidate, passages: list[Passage]) -> Candidate:
    """The lead, preceded by the sentence before it when it refers back to it."""
    if lead.before is None or not refers_back(lead.text):
        return lead
    p = passages[lead.passage]
    text = p.text[lead.before - p.start : lead.end - p.start]
    return Candidate(lead.passage, lead.before, lead.end, text, lead.score, lead.dense)


def short_answer(question: str, sentence: str) -> str:
    """The phrase of ``sentence`` that answers a number/date/name question, or ''."""
    kind = question_kind(question)
    if kind == "number":
        match = _NUMBER.search(sentence)
        return match.group().strip() if match else ""
    if kind == "date":
        match = _DATE.search(sentence)
        return match.group() if match else ""
    if kind == "name":
        asked = {w.lower() for w in WORD.findall(question)}
        for match in _NAME.finditer(sentence):
            words = [w.lower() for w in WORD.findall(match.group())]
            fresh = [w for w in words if w not in asked and w not in STOPWORDS]
            if fresh and not (match.start() == 0 and len(words) == 1):
                return match.group()
    return ""
