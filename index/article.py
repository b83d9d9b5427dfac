"""The article record shared by readers, the store and the answerer."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def date_to_int(date: str | None) -> int | None:
    """'2022-06-17' -> 20220617, the form Chroma can range-filter on."""
    if not date:
        return None
    return int(date[:10].replace("-", ""))


def int_to_date(value: int | None) -> str | None:
    if not value:
        return None
    text = f"{int(value):08d}"
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def normalize_date(value: object) -> str | None:
    """Accept a date/datetime or an ISO-ish string; return 'YYYY-MM-DD' or None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    from .dates import parse_date  # a small parser for 'June 17, 2022' and friends

    return parse_date(text)


@dataclass
class Article:
    """One article: stable id, metadata, full text and a hash of that text."""

    id: str
    title: str
    text: str
    date: str | None = None  # YYYY-MM-DD
    source: str | None = None
    url: str | None = None
    authors: list[str] = field(default_factory=list)
    # Where it came from (None for articles added through the API).
    origin: str | None = None

    @property
    def content_hash(self) -> str:
        return sha256(self.text)

    def to_dict(self, with_text: bool = True) -> dict:
        data = {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "source": self.source,
            "url": self.url,
            "authors": list(self.authors),
            "content_hash": self.content_hash,
        }
        if with_text:
            data["text"] = self.text
        return data
