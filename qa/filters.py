"""What a question is asked of: sources, a date range, an "as of" day, recency, and only
what arrived since a time. Kept by a chat session and saved with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Filters:
    """Session filters: sources and a date range, applied inside the stores; ``as_of`` and
    ``recent`` as in ``Retriever.search``."""

    sources: list[str] | None = None
    since: str | None = None
    until: str | None = None
    as_of: str | None = None
    recent: bool | None = None
    new_since: int | None = None  # only articles that arrived at or after this time (epoch seconds)

    def as_kwargs(self) -> dict:
        return {
            "sources": self.sources or None,
            "since": self.since,
            "until": self.until,
            "as_of": self.as_of,
            "recent": self.recent,
        }
