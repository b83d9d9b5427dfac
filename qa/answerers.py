"""The answerers. Each takes the question, the query it was resolved to, the retrieved
passages and the history, and returns an ``Answer`` whose citations point at passage
sentences; the ``Assistant`` only condenses, retrieves, calls one and verifies the quotes.
A new answerer (another model, a rule for one kind of question) plugs in as
``Assistant(retriever, answerer=...)``.
"""

from __future__ import annotations

from typing import Callable, Protocol

from .answer import Answer, Citation, lead_line
from .extractive import (
    Candidate,
    ScoreWeights,
    asked_part,
    candidates,
    is_yes_no,
    pick_support,
    score_sentences,
    short_answer,
    with_context,
)
from .retrieval import Passage

SUPPORT_MARGIN = 0.25  # supporting quotes: within this much of the lead's score (either scorer)


class Answerer(Protocol):
    def answer(
        self,
        question: str,
        query: str,
        passages: list[Passage],
        history: list[dict] | None,
        on_token: Callable[[str], None] | None,
    ) -> Answer: ...


class LLMAnswerer:
    """A model writes the answer (streamed to ``on_token``); each sentence is matched to a
    passage sentence that supports it, or marked unsupported (qa/llm.py)."""

    def __init__(self, llm, retriever):
        self.llm = llm
        self.retriever = retriever

    def answer(self, question, query, passages, history=None, on_token=None) -> Answer:
        from .llm import answer_with_llm

        return answer_with_llm(self, question, query, passages, history, on_token)


class ExtractiveAnswerer:
    """No LLM: the answer quotes the passage sentence most likely to answer (the trained
    answer model combined with cheap features, or the hand-set scorer), with the sentences
    that back it; below the model's bar it says the articles do not answer."""

    def __init__(self, retriever, weights: ScoreWeights | None = None, answer_model: bool = True):
        self.retriever = retriever
        self.weights = weights or ScoreWeights()
        self.answer_model = answer_model

    def answer(self, question: str, query: str, passages: list[Passage], history=None, on_token=None) -> Answer:
        if not passages:
            return Answer(question, "I found nothing in the articles about this.", answered=False, query=query)
        carried = query[len(question.strip()) :] if query.startswith(question.strip()) else ""
        # The model learned wh-questions (news quizzes, SQuAD); a yes/no question keeps the
        # hand-set scorer and its stricter bar (a quote that only shares the topic neither
        # confirms nor denies).
        use_model = self.answer_model and not is_yes_no(question)
        if use_model:
            ranker = self.retriever.ranker
            ranked = ranker.rank_sentences(
                question, query, passages, carried, self.weights, self._dense_fn(question, query, carried)
            )
            bar = ranker.refuse_below
        else:
            ranked = score_sentences(
                question, self.question_vector(question, query, carried), candidates(passages),
                self.retriever.embedder, self.weights, context=carried,
            )
            bar = self.weights.threshold(question)
        # the articles answer when a sentence's P(answers) reaches the bar (with the model,
        # its refusal combination may rank the sentences otherwise than the lead's)
        if not ranked or max(c.answer_p for c in ranked) < bar:
            return self._refusal(question, query, passages, ranked)
        lead = with_context(ranked[0], passages)
        support = pick_support(ranked, lead, margin=SUPPORT_MARGIN, floor=bar if use_model else float("-inf"))
        cited = [lead, *support]
        citations = [self._citation(n, c, passages) for n, c in enumerate(cited, start=1)]
        lead_text = _clean(lead.text)
        short = self.retriever.ranker.short_answer(question, lead_text) if use_model else ""
        lines = [lead_line(lead_text, short)]
        if support:
            lines.append("")
            lines += [f"> {_clean(c.text)} [{n}]" for n, c in enumerate(support, start=2)]
        answer = Answer(question, "\n".join(lines), citations, True, passages, query)
        answer.short = short if use_model else short_answer(question, lead.text)
        return answer

    def question_vector(self, question: str, query: str, carried: str):
        """The query's embedding; for a question that opens with a premise, mixed half and
        half with the embedding of the sentence that asks."""
        vector = self.retriever.query_vector(query)
        asked = asked_part(question)
        if asked != question.strip() and self.weights.asked:
            # linear: the mix of the two similarities is the similarity to the mixed vector
            share = self.weights.asked
            vector = (1 - share) * vector + share * self.retriever.embedder.embed_query(f"{asked}{carried}")
        return vector

    def _dense_fn(self, question: str, query: str, carried: str):
        embedder = self.retriever.embedder

        def dense(cands: list[Candidate]):
            vectors = embedder.embed([" ".join(c.text.split()) for c in cands])
            return vectors @ self.question_vector(question, query, carried)

        return dense

    def _refusal(self, question, query, passages, ranked: list[Candidate]) -> Answer:
        nearest = ranked[:2]
        citations = [self._citation(n, c, passages) for n, c in enumerate(nearest, start=1)]
        text = "The articles don't answer this."
        if nearest:
            marks = " and ".join(f"[{c.n}]" for c in citations)
            text += f" The closest passages are {marks}:\n\n" + "\n".join(
                f"> {_clean(c.text)} [{n}]" for n, c in enumerate(nearest, start=1)
            )
        return Answer(question, text, citations, False, passages, query)

    @staticmethod
    def _citation(n: int, c: Candidate, passages: list[Passage]) -> Citation:
        p = passages[c.passage]
        return Citation(n, p.article_id, p.title, p.url, p.date, c.text, c.start, c.end, p.source)


def _clean(text: str) -> str:
    return " ".join(text.split())
