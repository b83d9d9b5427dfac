"""Chat sessions: the history that resolves follow-ups, saved in SQLite in the data dir
so a chat can be reopened later with its citations."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import QAError

from .answer import Answer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY, collection TEXT, title TEXT, created TEXT, updated TEXT, filters TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    chat_id TEXT REFERENCES chats(id) ON DELETE CASCADE, n INTEGER, question TEXT, answer TEXT,
    PRIMARY KEY (chat_id, n)
);
"""


class SessionError(QAError, KeyError):
    def __str__(self) -> str:
        return f"no saved chat with id {self.args[0]!r}"


class SessionStore:
    def __init__(self, path: Path, collection: str):
        from index.errors import StorageError, is_damaged_database, short

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False)
            self.db.executescript(_SCHEMA)
            self.db.execute("SELECT count(*) FROM chats").fetchone()
        except sqlite3.DatabaseError as exc:
            if not is_damaged_database(exc):
                raise
            # Saved chats are the user's own: never thrown away, only set aside by them.
            raise StorageError(
                f"the saved chats at {path} are damaged ({short(exc)}); to start afresh,"
                f" move the file aside: mv {path} {path}.damaged"
            ) from None
        self.collection = collection

    @classmethod
    def for_settings(cls, settings) -> "SessionStore":
        return cls(Path(settings.data_dir) / "chats.sqlite", settings.collection)

    def list(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT c.id, c.title, c.created, c.updated, count(t.n) FROM chats c"
            " LEFT JOIN turns t ON t.chat_id = c.id WHERE c.collection = ?"
            " GROUP BY c.id ORDER BY c.updated DESC",
            (self.collection,),
        )
        return [
            {"id": r[0], "title": r[1], "created": r[2], "updated": r[3], "turns": r[4]} for r in rows
        ]

    def create(self, chat_id: str, filters: dict) -> None:
        now = _now()
        with self.db:
            self.db.execute(
                "INSERT INTO chats VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, self.collection, "", now, now, json.dumps(filters)),
            )

    def add_turn(self, chat_id: str, n: int, answer: Answer) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO turns VALUES (?, ?, ?, ?)",
                (chat_id, n, answer.question, json.dumps(answer.to_dict(), ensure_ascii=False)),
            )
            self.db.execute(
                "UPDATE chats SET updated = ?, title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                (_now(), answer.question[:80], chat_id),
            )

    def load(self, chat_id: str) -> tuple[dict, list[Answer]]:
        row = self.db.execute("SELECT filters FROM chats WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            raise SessionError(chat_id)
        turns = self.db.execute(
            "SELECT answer FROM turns WHERE chat_id = ? ORDER BY n", (chat_id,)
        ).fetchall()
        return json.loads(row[0] or "{}"), [Answer.from_dict(json.loads(t[0])) for t in turns]


@dataclass
class ChatSession:
    """A conversation: ``ask`` answers with the history so far and saves the turn."""

    assistant: object
    id: str
    store: SessionStore
    answers: list[Answer] = field(default_factory=list)
    filters: object = None

    @classmethod
    def new(cls, assistant, filters=None) -> "ChatSession":
        from .filters import Filters

        store = SessionStore.for_settings(assistant.index.settings)
        chat_id = uuid.uuid4().hex[:12]
        filters = filters or Filters()
        store.create(chat_id, filters.__dict__)
        return cls(assistant, chat_id, store, [], filters)

    @classmethod
    def load(cls, assistant, chat_id: str) -> "ChatSession":
        from .filters import Filters

        store = SessionStore.for_settings(assistant.index.settings)
        filters, answers = store.load(chat_id)
        return cls(assistant, chat_id, store, answers, Filters(**filters))

    @property
    def history(self) -> list[dict]:
        turns: list[dict] = []
        for answer in self.answers:
            turns.append({"role": "user", "text": answer.question})
            turns.append({"role": "assistant", "text": answer.text})
        return turns

    def ask(self, question: str, on_token=None) -> Answer:
        answer = self.assistant.ask(question, history=self.history, filters=self.filters, on_token=on_token)
        self.answers.append(answer)
        self.store.add_turn(self.id, len(self.answers), answer)
        return answer


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
