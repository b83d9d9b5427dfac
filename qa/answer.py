"""Answers and citations: the data the CLI prints, the TUI shows and scripts read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .retrieval import Passage


def short_prefix(short: str) -> str:
    """How a short answer stands before the lead quote: **Buffalo Bills**: "..." [1]"""
    return f"**{short}**: "


def lead_line(lead: str, short: str = "") -> str:
    """The answer's first line: the lead quote, after the short answer when there is one."""
    return f'{short_prefix(short)}"{lead}" [1]' if short else f"{lead} [1]"


@dataclass
class Citation:
    n: int
    article_id: str
    title: str
    url: str | None
    date: str | None
    quote: str  # == article.text[start:end], checked before an answer is returned
    start: int
    end: int
    source: str | None = None
    # the other articles of the cited article's story among the answer's passages
    # ({"article_id", "title", "source", "date", "url"}): "and N more outlets"
    more_outlets: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    question: str
    text: str  # chat-style, with [n] markers
    citations: list[Citation] = field(default_factory=list)
    answered: bool = True
    passages: list[Passage] = field(default_factory=list)
    query: str = ""  # what was searched for (the question, resolved against the history)
    unsupported: list[str] = field(default_factory=list)  # LLM sentences no passage backs
    backend: str = "extractive"
    short: str = ""  # the answer itself (a name, number, date...), read out of the lead, when sure enough

    @property
    def lead(self) -> str:
        """The first sentence of the answer (the lead quote), without the short answer
        in front of it and without its markers."""
        import re

        first = self.text.split("\n", 1)[0]
        prefix = short_prefix(self.short)
        quoted = bool(self.short) and first.startswith(prefix)
        if quoted:
            first = first[len(prefix) :]
        first = re.sub(r"\s*\[\d+\]", "", first).strip()
        return first[1:-1] if quoted and len(first) > 1 and first[0] == first[-1] == '"' else first

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "text": self.text,
            "answered": self.answered,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "query": self.query,
            "unsupported": self.unsupported,
            "backend": self.backend,
            "short": self.short,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Answer":
        return cls(
            question=data.get("question", ""),
            text=data.get("text", ""),
            citations=[Citation(**c) for c in data.get("citations", [])],
            answered=bool(data.get("answered", True)),
            passages=[Passage(**p) for p in data.get("passages", [])],
            query=data.get("query", ""),
            unsupported=list(data.get("unsupported", [])),
            backend=data.get("backend", "extractive"),
            short=data.get("short", ""),
        )
