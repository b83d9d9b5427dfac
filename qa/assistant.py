"""``Assistant``: questions in, cited answers out; ``ChatSession`` keeps the history."""

from __future__ import annotations

import datetime as dt

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from index import Index, Settings
from index.errors import QAError
from index.lexical import WORD

from .answer import Answer
from .answerers import Answerer, ExtractiveAnswerer, LLMAnswerer
from .extractive import ScoreWeights, content_words
from .filters import Filters
from .retrieval import Passage, Retriever, story_peers

if TYPE_CHECKING:
    from .sessions import ChatSession

PASSAGES = 6  # passages an answer is drawn from
PER_ARTICLE = 2  # of which at most this many from one article


class AnswerError(QAError):
    """A question that cannot be answered for a reason the user can act on."""


_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|why not)\b|\b(it|its|they|them|their|he|him|his|she|her|these|those)\b",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"\b[A-Z][\w’'-]+")


def condense(question: str, history: list[dict] | None) -> str:
    """Resolve a follow-up against the conversation: add the topic words of the last
    user turn. When the follow-up names its own subject ("and what about China?"),
    the previous subject's names are left out so they do not pull retrieval back."""
    if not history:
        return question
    previous = [t["text"] for t in history if t.get("role") == "user" and t.get("text")]
    if not previous:
        return question
    words = content_words(question)
    if len(words) > 4 and not _FOLLOW_UP.search(question):
        return question  # a full question of its own
    last = previous[-1]
    own_entities = [m.group() for m in _ENTITY.finditer(question) if m.start() > 0]
    mine = set(words)
    carried = []
    for word in WORD.findall(last):
        lower = word.lower()
        if lower in mine or lower not in set(content_words(word)):
            continue
        if own_entities and word[:1].isupper():
            continue  # the new subject replaces the old one
        if lower not in carried:
            carried.append(lower)
    return f"{question} {' '.join(carried)}".strip() if carried else question




class Assistant:
    """Condenses a follow-up against the history, retrieves, has an answerer write the
    answer, and keeps only the citations that quote their article exactly."""

    def __init__(
        self,
        retriever: Retriever,
        llm=None,
        weights: ScoreWeights | None = None,
        answer_model: bool = True,
        answerer: Answerer | None = None,
    ):
        """``llm``: an LLM writes the answers (``LLMAnswerer``); else the extractive
        answerer quotes them, with the trained answer model (``answer_model``) or the
        hand-set ``weights`` alone. ``answerer``: any other ``Answerer``."""
        self.retriever = retriever
        self.llm = llm
        self.extractive = ExtractiveAnswerer(retriever, weights, answer_model)
        self.answerer = answerer

    @classmethod
    def open(
        cls,
        collection: str | None = None,
        data_dir: str | Path | None = None,
        chroma_url: str | None = None,
        llm=None,
        settings: Settings | None = None,
        seed: bool = True,
        create: bool = False,
        answering=None,
    ) -> "Assistant":
        """``llm``: a backend spec (default: the ``llm`` setting); ``create``: make the
        collection (the chat app offers to sync a folder into a new one)."""
        from index.core import settings_with

        from .llm import make_llm
        from .settings import Settings as AnswerSettings

        settings = settings_with(settings, collection=collection, data_dir=data_dir, chroma_url=chroma_url)
        answering = answering or AnswerSettings()
        retriever = Retriever.open(settings=settings, seed=seed, create=create, answering=answering)
        return cls(retriever, llm=make_llm(llm or answering.llm, answering))

    @property
    def index(self) -> Index:
        return self.retriever.index

    def warm_up(self) -> None:
        self.retriever.warm_up()

    # -- answering -------------------------------------------------------------------

    def ask(
        self,
        question: str,
        history: list[dict] | None = None,
        filters: Filters | None = None,
        on_token: Callable[[str], None] | None = None,
        rerank: bool | None = None,
    ) -> Answer:
        """Answer from the articles. ``on_token`` receives streamed text (LLM backends).
        ``rerank``: rescore the retrieved passages with the answer model (default: the
        retriever's setting, else the shipped choice for the model's answers: on)."""
        if not question or not question.strip():
            raise AnswerError("the question is empty")
        query = condense(question.strip(), history)
        filters = filters or Filters()
        answerer = self.answerer_in_use()
        # the shipped choice was measured for the model's own answers only
        by_model = answerer is self.extractive and self.extractive.answer_model
        passages = self.retriever.search(
            query, k=PASSAGES, per_article=PER_ARTICLE, rerank=self.retriever.reranks(rerank, answering=by_model),
            article_ids=self._new_ids(filters), **filters.as_kwargs(),
        )
        answer = answerer.answer(question, query, passages, history, on_token)
        return self.with_stories(self.verified(answer), passages)

    def answerer_in_use(self) -> Answerer:
        """The answerer given, else the LLM's when there is one, else the extractive one."""
        if self.answerer is not None:
            return self.answerer
        if self.llm is not None:
            return LLMAnswerer(self.llm, self.retriever)
        return self.extractive

    def with_stories(self, answer: Answer, passages: list[Passage]) -> Answer:
        """Each citation names the other outlets of its story among the passages."""
        if not answer.citations:
            return answer
        peers = story_peers(self.index, passages)
        for citation in answer.citations:
            citation.more_outlets = peers.get(citation.article_id, [])
        return answer

    def _new_ids(self, filters: Filters) -> list[str] | None:
        """The ids of the articles that arrived since ``filters.new_since`` (None: no such filter)."""
        if filters.new_since is None:
            return None
        ids = sorted(a.id for a in self.index.added_since(filters.new_since))
        if not ids:
            when = dt.datetime.fromtimestamp(filters.new_since).isoformat(sep=" ", timespec="minutes")
            raise AnswerError(f"no article arrived since {when}; ask without --new")
        return ids

    def verified(self, answer: Answer) -> Answer:
        """Keep only citations whose quote is exactly the article text at its offsets."""
        ids = sorted({c.article_id for c in answer.citations})
        texts = {a.id: a.text for a in self.index.articles_by_id(ids)}
        good = [c for c in answer.citations if texts.get(c.article_id, "")[c.start : c.end] == c.quote]
        if len(good) != len(answer.citations):
            bad = {c.n for c in answer.citations} - {c.n for c in good}
            text = answer.text
            for n in bad:
                text = text.replace(f" [{n}]", "")
            answer = replace(answer, text=text, citations=good)
        return answer

    # -- chats -------------------------------------------------------------------------

    def chat(self, filters: Filters | None = None) -> "ChatSession":
        from .sessions import ChatSession

        return ChatSession.new(self, filters=filters)

    def open_chat(self, session_id: str) -> "ChatSession":
        from .sessions import ChatSession

        return ChatSession.load(self, session_id)

    def chats(self) -> list[dict]:
        from .sessions import SessionStore

        return SessionStore.for_settings(self.index.settings).list()
