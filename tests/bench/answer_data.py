"""Training and validation data for the answer model (see train_answer_model.py).

Pairs are (question, sentence text as the ranker sees it): the sentence alone, or with
the sentence before it when it opens with a reference back ("He said...").

realtimeqa-2023-24: the sentences of all of a question's search results.
  positives: the source's evidence sentence, and result sentences that hold an answer
             string *and* share a content word with the question (the answer string alone
             also marks incidental mentions; those are left out of both classes);
  negatives: the sentences today's scorer ranks highest, sentences that only repeat the
             question (high overlap, nothing new), a few random ones, and the best
             matches from articles of weeks before the question's (the pile does not hold
             the answer yet: unanswerable pairs).
xquad-en: split by article; positives hold the answer span, negatives as above.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.chunking import sentence_spans
from index.lexical import STOPWORDS
from qa.answer_eval import contains
from qa.extractive import (
    _DATE,
    _NAME,
    _NUMBER,
    CONTEXT_WORDS,
    LEDE_CHARS,
    ScoreWeights,
    _has_cue,
    _stem,
    content_words,
    is_heading,
    question_kind,
    ranker_text,
)


@dataclass
class Sentence:
    article: str
    start: int
    end: int
    text: str  # what the ranker reads (with the previous sentence where it refers back)
    own: str  # the sentence alone
    quoted: str = ""  # what an answer leading with it quotes: the label is decided on this

    def __post_init__(self):
        self.quoted = self.quoted or self.text


@dataclass
class Item:
    qid: str
    question: str
    answers: list[str]
    week: str
    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


# What the model reads with a sentence: "always" the sentence before it (the context often
# says what the sentence is about), or only when the sentence refers back ("anaphora"), or
# "after" it, behind a [SEP] (an experiment: the runtime does not read this form yet).
CONTEXT = "anaphora"


def article_sentences(article_id: str, text: str) -> list[Sentence]:
    out: list[Sentence] = []
    previous = ""
    for start, end in sentence_spans(text):
        own = " ".join(text[start:end].split())
        words = len(own.split())
        if 4 <= words <= 90:
            # The label follows what the answer would quote, never the model's extra context:
            # with CONTEXT "always", a sentence after an answer is not itself an answer.
            read = ranker_text(own, previous, always=CONTEXT == "always")
            if CONTEXT == "after" and previous:
                # the sentence first, then the tokenizer's own separator and the context:
                # the model sees where the sentence ends, and truncation cuts the context
                read = f"{own} [SEP] {' '.join(previous.split()[-CONTEXT_WORDS:])}"
            out.append(Sentence(article_id, start, end, read, own, ranker_text(own, previous)))
        previous = own
    return out


def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def week_of(question: dict) -> str:
    return question["id"][:8]


def q_terms(question: str) -> set[str]:
    return {_stem(w) for w in content_words(question)}


def cheap_score(question: str, terms: set[str], kind, s: Sentence) -> float:
    """Today's scorer without its dense part (the weights of ScoreWeights)."""
    w = ScoreWeights()
    s_terms = {_stem(x) for x in content_words(s.own)}
    lexical = len(terms & s_terms) / len(terms) if terms else 0.0
    novelty = len(s_terms - terms) / len(s_terms) if s_terms else 0.0
    return (
        w.lexical * lexical
        + w.cue * _has_cue(kind, s.own, question)
        + w.novelty * novelty
        + w.lede * (s.start < LEDE_CHARS)
        - w.heading * is_heading(s.own)
    )


def shares_words(question_terms: set[str], text: str) -> bool:
    return bool(question_terms & {_stem(x) for x in content_words(text)})


def split_evidence(evidence: str, answers: list[str]) -> list[str]:
    """The evidence sentences that hold an answer, else the whole evidence."""
    spans = sentence_spans(evidence)
    parts = [" ".join(evidence[s:e].split()) for s, e in spans]
    holding = [p for p in parts if contains(p, answers)]
    return holding or ([" ".join(evidence.split())] if evidence.strip() else [])


def xquad_split(article_id: str) -> str:
    """Half the articles train, half are held out, by a stable hash of the id."""
    return "train" if int(hashlib.sha1(article_id.encode()).hexdigest(), 16) % 2 == 0 else "heldout"


def rank_hard(question: str, pool: list[Sentence], embedder, shortlist: int = 30) -> list[Sentence]:
    """``pool`` ordered by today's scorer: cheap features, then the dense similarity of a
    shortlist (as the answerer does)."""
    terms, kind = q_terms(question), question_kind(question)
    cheap = sorted(pool, key=lambda s: -cheap_score(question, terms, kind, s))
    head = cheap[:shortlist]
    if embedder is not None and head:
        qv = embedder.embed_query(question)
        dense = embedder.embed([s.own for s in head]) @ qv
        scored = [cheap_score(question, terms, kind, s) + d for s, d in zip(head, dense)]
        head = [s for _, s in sorted(zip(scored, head), key=lambda x: -x[0])]
    return head + cheap[shortlist:]


def repeats_question(question: str, pool: list[Sentence], n: int) -> list[Sentence]:
    """Sentences that mostly repeat the question's words and add little."""
    terms = q_terms(question)

    def key(s: Sentence) -> float:
        s_terms = {_stem(x) for x in content_words(s.own)}
        if not s_terms or not terms:
            return 0.0
        return (len(terms & s_terms) / len(terms)) * (len(terms & s_terms) / len(s_terms))

    return sorted(pool, key=lambda s: -key(s))[:n]


# -- realtimeqa ------------------------------------------------------------------------


def questions_and_sentences(folder: Path, years: tuple[str, ...], results: int | None = None):
    """The questions of ``years`` (prefixes of their ids: a year "2023" or a week
    "20240112") and the sentences of their first ``results`` results (all by default), by
    article id."""
    questions = [q for q in load_jsonl(folder / "questions.jsonl") if q["id"].startswith(years)]
    wanted = {r for q in questions for r in q["results"][:results]}
    texts = {a["id"]: a["text"] for a in load_jsonl(folder / "corpus.jsonl") if a["id"] in wanted}
    return questions, {aid: article_sentences(aid, t) for aid, t in texts.items()}


def realtimeqa_items(
    folder: Path, years: tuple[str, ...], embedder, rng: random.Random, earlier_index=None,
    n_pos: int = 3, n_hard: int = 6, n_repeat: int = 2, n_random: int = 3, n_earlier: int = 2,
) -> list[Item]:
    questions, sentences = questions_and_sentences(folder, years)
    items = []
    for q in questions:
        terms = q_terms(q["question"])
        pool = [s for r in q["results"] for s in sentences.get(r, [])]
        item = Item(q["id"], q["question"], q["answers"], week_of(q))
        positives, negatives, seen = [], [], set()
        for s in pool:
            if s.text in seen:
                continue
            seen.add(s.text)
            if contains(s.quoted, q["answers"]):
                if shares_words(terms, s.own):
                    positives.append(s)
            else:
                negatives.append(s)
        positives.sort(key=lambda s: -len(terms & {_stem(x) for x in content_words(s.own)}))
        evidence = split_evidence(q.get("evidence") or "", q["answers"])
        if CONTEXT != "anaphora":
            # Read bare, the evidence would be the only text without a context: a shortcut
            # the model learns ("no context, an answer") instead of the answer. It goes in
            # as the results hold it, with the sentence before it, or not at all.
            by_own = {s.own: s.text for s in pool}
            evidence = [by_own[e] for e in evidence if e in by_own]
            evidence = [e for e in evidence if e not in {s.text for s in positives[:n_pos]}]
        item.positives = evidence + [s.text for s in positives[:n_pos]]
        hard = rank_hard(q["question"], negatives, embedder)
        chosen = hard[:n_hard] + repeats_question(q["question"], negatives, n_repeat)
        rest = [s for s in negatives if s not in chosen]
        chosen += rng.sample(rest, min(n_random, len(rest)))
        item.negatives = list(dict.fromkeys(s.text for s in chosen))
        if earlier_index is not None:
            item.negatives += earlier_index.best(q["question"], before=item.week, exclude=set(q["results"]), n=n_earlier)
        items.append(item)
    return items


def mined_groups(
    folder: Path, years: tuple[str, ...], score, rng: random.Random, earlier_index=None,
    n_pos: int = 2, n_hard: int = 5, n_random: int = 1, n_earlier: int = 1, pool_size: int = 60,
) -> list[dict]:
    """Listwise groups for realtimeqa questions: one positive with the negatives the
    current model (``score``: pairs -> logits) ranks highest among the sentences the
    answerer would shortlist, a random one, and one from weeks before (no answer yet).
    Positives and the exclusion of incidental mentions are as in ``realtimeqa_items``."""
    questions, sentences = questions_and_sentences(folder, years)
    groups = []
    for q in questions:
        terms = q_terms(q["question"])
        pool = list({s.text: s for r in q["results"] for s in sentences.get(r, [])}.values())
        answering = [s for s in pool if contains(s.quoted, q["answers"])]
        negatives = [s for s in pool if not contains(s.quoted, q["answers"])]
        positives = [s for s in answering if shares_words(terms, s.own)]
        positives.sort(key=lambda s: -len(terms & {_stem(x) for x in content_words(s.own)}))
        by_own = {s.own: s.text for s in pool}
        evidence = [by_own.get(e, e) for e in split_evidence(q.get("evidence") or "", q["answers"])]
        chosen = list(dict.fromkeys(evidence + [s.text for s in positives]))[:n_pos]
        hard = hard_by_model(q["question"], negatives, score, pool_size)[:n_hard]
        rest = [s.text for s in negatives if s.text not in hard]
        negs = hard + rng.sample(rest, min(n_random, len(rest)))
        if earlier_index is not None:
            negs += earlier_index.best(q["question"], before=week_of(q), exclude=set(q["results"]), n=n_earlier)
        for p in chosen:
            if len(negs) >= 2:
                groups.append({"question": q["question"], "positive": p, "negatives": negs})
    return groups


def mined_xquad_groups(folder: Path, split: str, score, rng: random.Random, n_hard: int = 6, n_random: int = 1) -> list[dict]:
    groups = []
    for q, pool in xquad_questions(folder, split):
        passage = " ".join((q.get("gold_passage") or "").split())
        positives = [s for s in pool if contains(s.quoted, q["answers"]) and s.own in passage]
        if not positives:
            continue
        terms = q_terms(q["question"])
        positives.sort(key=lambda s: -len(terms & {_stem(x) for x in content_words(s.own)}))
        negatives = [s for s in pool if not contains(s.quoted, q["answers"])]
        hard = hard_by_model(q["question"], negatives, score, 60)[:n_hard]
        rest = [s.text for s in negatives if s.text not in hard]
        negs = hard + rng.sample(rest, min(n_random, len(rest)))
        if len(negs) >= 2:
            groups.append({"question": q["question"], "positive": positives[0].text, "negatives": negs})
    return groups


def hard_by_model(question: str, negatives: list[Sentence], score, pool_size: int) -> list[str]:
    """The texts of ``negatives`` the model scores highest, among the ``pool_size`` the
    cheap features shortlist (what the answerer lets the model read)."""
    head = shortlist(question, negatives, pool_size)
    if not head:
        return []
    logits = score([(question, s.text) for s in head])
    return [head[i].text for i in np.argsort(-np.asarray(logits))]


class EarlierWeeks:
    """Sentences of articles, searchable by TF-IDF, restricted to weeks before a day:
    a question asked against them has no answer (its news had not happened)."""

    def __init__(self, folder: Path, years: tuple[str, ...]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        questions = [q for q in load_jsonl(folder / "questions.jsonl") if q["id"].startswith(years)]
        first_week: dict[str, str] = {}
        for q in questions:  # an article belongs to the first week whose results hold it
            for r in q["results"]:
                first_week[r] = min(first_week.get(r, "99999999"), week_of(q))
        texts = {a["id"]: a["text"] for a in load_jsonl(folder / "corpus.jsonl") if a["id"] in first_week}
        self.sentences = [s for aid, t in texts.items() for s in article_sentences(aid, t)]
        self.weeks = np.array([first_week[s.article] for s in self.sentences])
        self.vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=2)
        self.matrix = self.vectorizer.fit_transform([s.own for s in self.sentences])

    def best(self, question: str, before: str, exclude: set[str], n: int) -> list[str]:
        # two weeks before the question's week: no story of that week is in them
        import datetime as dt

        day = dt.date(int(before[:4]), int(before[4:6]), int(before[6:8])) - dt.timedelta(days=14)
        cutoff = day.strftime("%Y%m%d")
        scores = (self.matrix @ self.vectorizer.transform([question]).T).toarray().ravel()
        scores[self.weeks >= cutoff] = -1
        out = []
        for i in np.argsort(-scores)[: n * 5]:
            s = self.sentences[i]
            if scores[i] <= 0 or s.article in exclude:
                continue
            out.append(s.text)
            if len(out) == n:
                break
        return out


# -- xquad -----------------------------------------------------------------------------


def xquad_questions(folder: Path, split: str):
    """(question, its article's sentences) for the questions of one half of xquad."""
    articles = {a["id"]: a["text"] for a in load_jsonl(folder / "corpus.jsonl") if xquad_split(a["id"]) == split}
    sentences = {aid: article_sentences(aid, t) for aid, t in articles.items()}
    for q in load_jsonl(folder / "questions.jsonl"):
        aid = q["gold_articles"][0]
        if aid in sentences:
            yield q, sentences[aid]


def xquad_items(folder: Path, split: str, embedder, rng: random.Random, n_hard: int = 6, n_random: int = 2) -> list[Item]:
    items = []
    for q, pool in xquad_questions(folder, split):
        terms = q_terms(q["question"])
        passage = " ".join((q.get("gold_passage") or "").split())
        positives = [s for s in pool if contains(s.quoted, q["answers"]) and s.own in passage]
        if not positives:
            continue
        positives.sort(key=lambda s: -len(terms & {_stem(x) for x in content_words(s.own)}))
        negatives = [s for s in pool if not contains(s.quoted, q["answers"])]
        hard = rank_hard(q["question"], negatives, embedder)[:n_hard]
        rest = [s for s in negatives if s not in hard]
        item = Item(q["id"], q["question"], q["answers"], "xquad")
        item.positives = [positives[0].text]
        item.negatives = [s.text for s in hard + rng.sample(rest, min(n_random, len(rest)))]
        items.append(item)
    return items


def to_pairs(items: list[Item]) -> list[tuple[str, str, int]]:
    return [(i.question, p, 1) for i in items for p in i.positives] + [
        (i.question, n, 0) for i in items for n in i.negatives
    ]


# -- validation shortlists ----------------------------------------------------------------


def shortlist(question: str, pool: list[Sentence], n: int = 40) -> list[Sentence]:
    """The ``n`` best by the cheap features: what the ranker rescores."""
    terms, kind = q_terms(question), question_kind(question)
    unique = list({s.text: s for s in pool}.values())
    return sorted(unique, key=lambda s: -cheap_score(question, terms, kind, s))[:n]


def validation_group(q: dict, cands: list[Sentence]) -> dict:
    """One question's shortlist as the validation reads it; a label says whether the
    sentence an answer would quote holds an answer string."""
    return {"id": q["id"], "question": q["question"], "answers": q["answers"],
            "candidates": [s.text for s in cands], "own": [s.own for s in cands],
            "starts": [s.start for s in cands], "labels": [contains(s.quoted, q["answers"]) for s in cands]}


def realtimeqa_validation(folder: Path, years: tuple[str, ...], results: int = 3, n: int = 40) -> list[dict]:
    """Per question: the ``n``-sentence shortlist of its first ``results`` results, with
    gold labels (the answer string, as the pilot measured)."""
    questions, sentences = questions_and_sentences(folder, years, results)
    out = []
    for q in questions:
        pool = [s for r in q["results"][:results] for s in sentences.get(r, [])]
        cands = shortlist(q["question"], pool, n)
        group = validation_group(q, cands)
        if any(group["labels"]):
            out.append(group)
    return out


def xquad_validation(folder: Path, split: str = "heldout", n: int = 40) -> list[dict]:
    out = []
    for q, pool in xquad_questions(folder, split):
        cands = shortlist(q["question"], pool, n)
        group = validation_group(q, cands)
        if any(group["labels"]):
            out.append(group)
    return out


def p_at_1(groups: list[dict], scores: list[list[float]]) -> tuple[float, float]:
    """P@1 and MRR of per-group scores against the groups' labels."""
    hits = rr = 0.0
    for g, s in zip(groups, scores):
        order = np.argsort(-np.asarray(s))
        hits += bool(g["labels"][order[0]])
        rank = next((k for k, i in enumerate(order) if g["labels"][i]), None)
        rr += 1 / (rank + 1) if rank is not None else 0.0
    return hits / max(len(groups), 1), rr / max(len(groups), 1)



# -- short answers (span) ----------------------------------------------------------------


def locate(text: str, answers: list[str]) -> tuple[int, int] | None:
    """Character span of the first answer string found in ``text`` (case-insensitive)."""
    low = text.lower()
    for a in sorted(answers, key=len, reverse=True):
        a = " ".join(a.split())
        at = low.find(a.lower()) if a else -1
        if at >= 0:
            return at, at + len(a)
    return None


def span_examples(items: list[Item]) -> list[dict]:
    """(question, text, answer span) for every positive of ``items`` that holds an answer."""
    out = []
    for i in items:
        for text in dict.fromkeys(i.positives):
            span = locate(text, i.answers)
            if span:
                out.append({"question": i.question, "text": text, "start": span[0], "end": span[1]})
    return out


# -- synthetic cloze questions (session 29: the span reader's first stage) -----------------
# The span reader learns from about 2,500 labelled answer positions. Unlabelled articles
# give many more: take a sentence, hide a name, number or date in it behind a question
# word, and ask that question of *another* sentence of the same story that holds the same
# string and shares its words (Lewis et al., 2019, "Unsupervised question answering by
# cloze translation": a context other than the question's own sentence keeps the reader
# from learning to copy). Only the training weeks' articles and the xquad training half.


def cloze_spans(sentence: str, style: str = "inplace") -> list[tuple[int, int, str]]:
    """(start, end, question word) of the names, numbers and dates in ``sentence``. The
    "front" style (session 30) also leaves out numbers of a score, range or time ("32-22-1",
    "9:41") and a single capitalized word opening the sentence after a quote mark."""
    clean = style == "front"
    out = []
    for m in _DATE.finditer(sentence):
        out.append((m.start(), m.end(), "when"))
    for m in _NUMBER.finditer(sentence):
        if clean and (re.match(r"[-–:]\d", sentence[m.end():m.end() + 2]) or re.search(r"\d[-–:]$", sentence[:m.start()])):
            continue  # part of a score, a range or a time ("32-22-1", "9:41"): no one number answers
        if not any(s <= m.start() < e for s, e, _ in out):
            out.append((m.start(), m.end(), "how many"))
    for m in _NAME.finditer(sentence):
        words = m.group().split()
        opens = m.start() == 0 or clean and not sentence[: m.start()].strip(" \"“‘'(")
        if (opens and len(words) == 1) or len(words) > 5 or any(s <= m.start() < e for s, e, _ in out):
            continue
        if words[0].lower() in STOPWORDS:  # "The", "When" opening a quote
            continue
        before = sentence[: m.start()].split()[-1:]
        person = 2 <= len(words) <= 3 and not {"of", "the", "and", "&"} & set(words) and before != ["the"]
        out.append((m.start(), m.end(), "who" if person else "what"))
    return out


_BEFORE_ANSWER = {"on", "in", "at", "by", "since", "until", "before", "after", "during", "from", "about", "nearly", "some"}


def cloze_question(sentence: str, start: int, end: int, word: str, around: int = 14, style: str = "inplace") -> str:
    """The sentence with [start, end) replaced by the question word, at most ``around``
    words either side of it, as a question. ``style="front"`` asks as people do, the
    question word first and the hidden string left out (Lewis et al. 2019's wh heuristic):
    "More than 100 cities have replaced..." -> "How many cities More than have replaced...?"
    (a noun right after a hidden number goes with "how many")."""
    left = sentence[:start].split()[-around:]
    right = sentence[end:].split()[:around]
    if style != "front":
        words = left + [word] + right
    else:
        lead = [word]
        if word == "how many" and right and right[0].isalpha() and right[0].islower():
            lead.append(right.pop(0))
        if left and left[-1].lower() in _BEFORE_ANSWER:
            left.pop()  # "on Friday" -> "When ... ?", not "When ... on?"
        words = lead + left + right
    text = re.sub(r"\s+([,.;:!?'’])", r"\1", " ".join(words))
    if style == "front":
        text = re.sub(r"([,;:])[,;:]+", r"\1", text).strip(" .!?;:,")
    else:  # inplace, as shipped: its questions stay the same
        text = text.rstrip(" .!?;:,")
    return text[0].upper() + text[1:] + "?"


def _cloze_from_pool(pool: list[Sentence], rng: random.Random, per_pool: int, other_article: bool, style: str = "inplace") -> list[dict]:
    stems = [{_stem(w) for w in content_words(s.own)} for s in pool]
    out, seen = [], set()
    order = list(range(len(pool)))
    rng.shuffle(order)
    for a in order:
        if len(out) >= per_pool:
            break
        source = pool[a].own
        if not 8 <= len(source.split()) <= 45:
            continue
        for start, end, word in cloze_spans(source, style):
            hidden = source[start:end]
            hidden_stems = {_stem(w) for w in content_words(hidden)}
            rest = stems[a] - hidden_stems
            best, best_shared = None, 2  # three content words in common beside the hidden one
            whole = re.compile(rf"(?<!\w){re.escape(hidden)}(?!\w)")
            for b, s in enumerate(pool):
                if b == a or s.own == source or (other_article and s.article == pool[a].article):
                    continue
                if hidden not in s.own or not whole.search(s.own):
                    continue
                shared = len(rest & (stems[b] - hidden_stems))
                if shared > best_shared:
                    best, best_shared = b, shared
            if best is None or (hidden, pool[best].own) in seen:
                continue
            seen.add((hidden, pool[best].own))
            context = pool[best]
            at = len(context.text) - len(context.own) + whole.search(context.own).start()
            # what the ranker reads may carry the sentence before: that must not hold it either
            others = [s.text for b, s in enumerate(pool) if b != a and not whole.search(s.text)]
            out.append({"question": cloze_question(source, start, end, word, style=style), "text": context.text,
                        "start": at, "end": at + len(hidden), "cloze": True,
                        "hard": sorted(others, key=lambda t: -len(rest & {_stem(w) for w in content_words(t)}))[:2],
                        "random": rng.choice(others) if others else None})
            break  # one question from a sentence
    return out


def cloze_examples(realtimeqa: Path, years: tuple[str, ...], xquad: Path, rng: random.Random,
                   per_question: int = 40, per_article: int = 40, style: str = "inplace") -> list[dict]:
    """Cloze span examples from the results of the questions of ``years`` (each question's
    results are one story, told by several articles) and the xquad training half; ``style``
    as ``cloze_question`` asks."""
    questions, sentences = questions_and_sentences(realtimeqa, years)
    out = []
    for q in questions:
        pool = list({s.own: s for r in q["results"] for s in sentences.get(r, [])}.values())
        out += _cloze_from_pool(pool, rng, per_question, other_article=True, style=style)
    articles = {a["id"]: a["text"] for a in load_jsonl(xquad / "corpus.jsonl") if xquad_split(a["id"]) == "train"}
    for aid, text in sorted(articles.items()):
        out += _cloze_from_pool(article_sentences(aid, text), rng, per_article, other_article=False, style=style)
    return out


def cloze_pairs(examples: list[dict]) -> list[dict]:
    """(experiment, session 29) Ranker pairs from cloze examples: the sentence that holds
    the hidden string answers the cloze question; the story's sentences that share its
    words most without holding it, and one at random, do not."""
    out = []
    for e in examples:
        out.append({"question": e["question"], "text": e["text"], "label": 1})
        for text in dict.fromkeys([*e["hard"], *([e["random"]] if e["random"] else [])]):
            out.append({"question": e["question"], "text": text, "label": 0})
    return out
