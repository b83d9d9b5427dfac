"""``qa chat``: the Textual app.

The app is handed a loader for the engine (an ``Assistant`` from ``qa``); it paints at
once and loads the index and model in a thread worker. Every blocking call (answers,
syncs) runs in a thread worker that only posts messages; handlers on the main thread touch
the widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, get_current_worker

from qa.answer import Answer
from qa.assistant import Assistant, Filters
from qa.export import answer_text, chat_markdown
from qa.terminal import visible

from .screens import ArticleScreen, ChatsScreen, FiltersScreen, PromptScreen, StoriesScreen, SyncPanel
from .widgets import AnswerMessage, SourcesPanel, StatusLine, UserMessage


class Cancelled(Exception):
    pass


class Notices(logging.Handler):
    """The library's warnings (a damaged cache rebuilt...) as notifications, from any thread."""

    def __init__(self, app: App):
        super().__init__(logging.WARNING)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        message = visible(record.getMessage())
        try:
            self.app.call_from_thread(self.app.notify, message, title="Note", markup=False, timeout=10)
        except RuntimeError:  # on the app's own thread
            self.app.notify(message, title="Note", markup=False, timeout=10)


def describe_error(exc: BaseException, data_dir: Path | None = None) -> str:
    """One line that says what went wrong and what to do (control characters shown). An
    unexpected error (a bug) has its traceback written to qa-errors.log in ``data_dir``,
    and the line names that log."""
    from index.errors import describe, known_error, log_bug

    if known_error(exc) is None and data_dir is not None:
        return visible(log_bug(exc, data_dir, "qa chat"))
    return visible(describe(exc)[:600])


class ChatApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "qa"
    SUB_TITLE = "ask your articles"
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+o", "open_chat", "Chats"),
        Binding("ctrl+s", "focus_sources", "Sources"),
        Binding("ctrl+f", "filters", "Filters"),
        Binding("ctrl+y", "copy_answer", "Copy"),
        Binding("ctrl+r", "export_chat", "Export"),
        Binding("ctrl+t", "whats_new", "New stories"),  # ctrl+w deletes a word in the prompt
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+l", "focus_prompt", "Ask", show=False),
    ]

    class EngineReady(Message):
        def __init__(self, assistant: Assistant, session, counts: tuple[int, int]):
            super().__init__()
            self.assistant, self.session, self.counts = assistant, session, counts

    class ChatOpened(Message):
        """A chat made or reopened in a worker (saved chats live in SQLite)."""

        def __init__(self, session, reopened: bool):
            super().__init__()
            self.session, self.reopened = session, reopened

    class ChatsListed(Message):
        def __init__(self, chats: list[dict]):
            super().__init__()
            self.chats = chats

    class EngineFailed(Message):
        def __init__(self, error: str):
            super().__init__()
            self.error = error

    class Token(Message):
        def __init__(self, target: AnswerMessage, text: str):
            super().__init__()
            self.target, self.text = target, text

    class AnswerReady(Message):
        def __init__(self, target: AnswerMessage, answer: Answer):
            super().__init__()
            self.target, self.answer = target, answer

    class AnswerFailed(Message):
        def __init__(self, target: AnswerMessage, error: str):
            super().__init__()
            self.target, self.error = target, error

    class Arrivals(Message):
        """What arrived since the last look (a watch or fetch elsewhere), and the counts."""

        def __init__(self, stories: list, counts: tuple[int, int]):
            super().__init__()
            self.stories, self.counts = stories, counts

    class SyncProgress(Message):
        def __init__(self, phase: str, done: int, total: int):
            super().__init__()
            self.phase, self.done, self.total = phase, done, total

    class SyncDone(Message):
        def __init__(self, summary: str, failed: int, error: str | None = None, counts: tuple[int, int] | None = None):
            super().__init__()
            self.summary, self.failed, self.error, self.counts = summary, failed, error, counts

    def __init__(
        self,
        load_assistant: Callable[[], Assistant],
        cursor_blink: bool = True,
        export_dir: Path | None = None,
        arrivals_every: float = 5.0,
    ):
        super().__init__()
        self.arrivals_every = arrivals_every  # seconds between two looks for new articles
        self._new_stories: list = []
        self._arrivals_since: int | None = None
        self._generation: int | None = None
        self._store_lock = threading.Lock()  # answers and the arrivals check take turns on the store
        self._checking = threading.Lock()  # one arrivals check at a time; a tick while one runs is skipped
        self._stale = False  # the last arrivals check failed: reopen the store at the next
        self._ticks = 0
        self._present_at_start: set[str] | None = set()  # articles there when the app started
        self._counts = (0, 0)  # articles, chunks: read by workers, never on the event loop
        self._load_assistant = load_assistant
        self.cursor_blink = cursor_blink
        self.export_dir = export_dir
        self.assistant: Assistant | None = None
        self.session = None
        self.filters = Filters()
        self._pending: list[str] = []
        self._answering: Worker | None = None
        self._selected: AnswerMessage | None = None

    def describe(self, exc: BaseException) -> str:
        """``describe_error`` with this app's data folder for the log of a bug."""
        if self.assistant is not None:
            data_dir = self.assistant.index.settings.data_dir
        else:
            from index import Settings

            try:
                data_dir = Settings().data_dir
            except Exception:  # a settings file that cannot be read: the line says so anyway
                data_dir = None
        return describe_error(exc, data_dir)

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="chat-column"):
                yield VerticalScroll(id="log")
                yield SyncPanel(id="sync")
                yield Input(placeholder="Ask about your articles…", id="prompt")
            yield SourcesPanel(id="sources")
        yield StatusLine("Loading the index and model…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self._notices = Notices(self)
        for name in ("index", "qa"):
            logging.getLogger(name).addHandler(self._notices)
        self.query_one("#prompt", Input).cursor_blink = self.cursor_blink
        self.query_one("#prompt", Input).focus()
        # Paint first: loading Chroma and the model takes a second and holds the GIL.
        self.call_after_refresh(self.load_engine)

    def on_unmount(self) -> None:
        for name in ("index", "qa"):
            logging.getLogger(name).removeHandler(self._notices)

    # -- the engine ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="engine")
    def load_engine(self) -> None:
        try:
            assistant = self._load_assistant()
            assistant.warm_up()
            assistant.chats()  # the saved chats open (a damaged file is said here)
            session = assistant.chat(self.filters)
            counts = assistant.index.counts()
            self._generation = assistant.index.generation()
        except Exception as exc:  # shown as a notice; the app keeps running
            self.post_message(self.EngineFailed(self.describe(exc)))
            return
        self.post_message(self.EngineReady(assistant, session, counts))

    @on(EngineReady)
    def _engine_ready(self, event: EngineReady) -> None:
        self.assistant = event.assistant
        self.session = event.session
        self._counts = event.counts
        self.refresh_status()
        from index.stories import last_look

        # new: since `qa new` last ran, else since the app started (then what is already
        # there, synced within this same second, is not an arrival: see _check_arrivals)
        looked = last_look(self.assistant.index.settings)
        self._arrivals_since = looked or int(time.time())
        self._present_at_start = set() if looked else None
        self.set_interval(self.arrivals_every, self._check_arrivals)
        if self._counts[0] == 0:
            self.notify(
                "The index is empty: press Ctrl+P and choose “Sync folder” to add articles.",
                title="No articles",
                severity="warning",
                timeout=10,
            )
        pending, self._pending = self._pending, []
        for question in pending:
            self.ask(question)

    @on(EngineFailed)
    def _engine_failed(self, event: EngineFailed) -> None:
        self.query_one(StatusLine).set_status("Not connected")
        self.notify(event.error, title="Cannot open the index", severity="error", timeout=30, markup=False)

    def refresh_status(self) -> None:
        if self.assistant is None:
            return
        articles, chunks = self._counts
        settings = self.assistant.index.settings
        parts = [f"collection {settings.collection}", f"{articles} articles", f"{chunks} chunks"]
        if self.assistant.llm is not None:
            parts.append("LLM on")
        if self._new_stories:
            n = len(self._new_stories)
            m = sum(len(story.articles) for story in self._new_stories)
            parts.append(f"{n} new {'story' if n == 1 else 'stories'} ({m} {'article' if m == 1 else 'articles'}, Ctrl+T)")
        f = self.filters
        if f.new_since is not None:
            parts.append("asking new articles only")
        if f.sources or f.since or f.until or f.as_of:
            shown = [",".join(f.sources or []), f.since and f"from {f.since}", f.until and f"to {f.until}", f.as_of and f"as of {f.as_of}"]
            parts.append("filters: " + " ".join(x for x in shown if x))
        self.query_one(StatusLine).set_status(" · ".join(parts))

    # -- what's new -----------------------------------------------------------------

    @work(thread=True, group="arrivals")
    def _check_arrivals(self) -> None:
        """When the index moved (a sync here or elsewhere), group what arrived since the
        last look into stories. Store reads run here, never on the event loop."""
        from index.stories import new_stories

        index = self.assistant.index
        if not self._checking.acquire(blocking=False):
            return  # the previous check is still running
        self._ticks += 1
        try:
            with self._store_lock:  # a catch-up reconnects the embedded store: not mid-answer
                if self._present_at_start is None:
                    # added_at is in whole seconds: only an article of the start's own second
                    # may have been there before the app; a later one is an arrival
                    self._present_at_start = {r.id for r in index.added_since(self._arrivals_since)
                                              if r.meta.get("added_at") == self._arrivals_since}
                generation = index.generation()
                # every 20th tick, and after a failed check, reopen the store whatever the
                # generation says: an embedded store opened while another process wrote
                # can keep a stale view of the vectors
                fresh_view = self._stale or self._ticks % 20 == 0
                if generation == self._generation and not fresh_view:
                    return
                if fresh_view:
                    index.catch_up()
                self.assistant.retriever.refresh()
                stories = new_stories(index, self._arrivals_since, exclude=self._present_at_start)
                counts = index.counts()
            self._generation, self._stale = generation, False
        except Exception as exc:  # a server away for a moment: tried again at the next tick
            self._stale = True
            logging.getLogger("qa.tui").debug("arrivals check failed: %s", exc)
            return
        finally:
            self._checking.release()
        self.post_message(self.Arrivals(stories, counts))

    @on(Arrivals)
    def _arrivals(self, event: Arrivals) -> None:
        self._new_stories = event.stories
        self._counts = event.counts
        self.refresh_status()

    def action_whats_new(self) -> None:
        if self.assistant is None:
            return
        from index.stories import mark_looked

        stories = self._new_stories
        mark_looked(self.assistant.index.settings, int(time.time()))
        self.push_screen(StoriesScreen(stories), lambda n: self._open_story(stories, n))

    def _open_story(self, stories: list, n: int | None) -> None:
        if n is None:
            return
        ids = [a.id for a in stories[n].articles]
        self._read_article(ids[0], None, ids)

    @work(thread=True, exclusive=True, group="reader")
    def _read_article(self, article_id: str, citation, story: list[str] | None = None) -> None:
        try:
            article = self.assistant.index.article(article_id)
        except Exception as exc:
            self.call_from_thread(
                self.notify, self.describe(exc), title="Cannot open the article", severity="error", markup=False
            )
            return
        self.call_from_thread(self.push_screen, ArticleScreen(article, citation, story, self.assistant.index.article))

    def action_toggle_new_only(self) -> None:
        from index.stories import since_epoch

        if self.assistant is None:
            return
        on = self.filters.new_since is None
        self.filters = replace(self.filters, new_since=since_epoch("last", self.assistant.index.settings) if on else None)
        if self.session is not None:
            self.session.filters = self.filters
        self.notify("Asking only the articles that arrived since the last look." if on else "Asking all articles.")
        self.refresh_status()

    # -- asking -------------------------------------------------------------------------

    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        event.input.clear()
        if not question:
            return
        if self.assistant is None:
            self._pending.append(question)
            self.notify("Still loading the index; your question will be answered in a moment.")
            self._add_question(question)
            return
        self.ask(question, already_shown=False)

    def _add_question(self, question: str) -> AnswerMessage:
        log = self.query_one("#log", VerticalScroll)
        target = AnswerMessage(question)
        log.mount(UserMessage(question))
        log.mount(target)
        log.scroll_end(animate=False)
        return target

    def ask(self, question: str, already_shown: bool = True) -> None:
        targets = [m for m in self.query(AnswerMessage) if m.question == question and m.answer is None]
        target = targets[-1] if (already_shown and targets) else self._add_question(question)
        self._answering = self._answer(question, target)

    @work(thread=True, exclusive=True, group="answer")
    def _answer(self, question: str, target: AnswerMessage) -> None:
        worker = get_current_worker()

        def on_token(text: str) -> None:
            if worker.is_cancelled:
                raise Cancelled()
            self.post_message(self.Token(target, text))

        try:
            with self._store_lock:
                answer = self.session.ask(question, on_token=on_token)
        except Cancelled:
            return
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(self.AnswerFailed(target, self.describe(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(self.AnswerReady(target, answer))

    @on(Token)
    def _token(self, event: Token) -> None:
        event.target.stream(event.text)

    @on(AnswerReady)
    def _answer_ready(self, event: AnswerReady) -> None:
        event.target.show(event.answer)
        self._select(event.target)
        self.query_one("#log", VerticalScroll).scroll_end(animate=False)

    @on(AnswerFailed)
    def _answer_failed(self, event: AnswerFailed) -> None:
        event.target.show_note("No answer: " + event.error)
        self.notify(event.error, title="Could not answer", severity="error", timeout=15, markup=False)

    def action_cancel(self) -> None:
        if self._answering is not None and self._answering.is_running:
            self._answering.cancel()
            pending = [m for m in self.query(AnswerMessage) if m.answer is None and m.has_class("pending")]
            for message in pending:
                message.show_note("Cancelled.")
            self.notify("Answer cancelled.")

    # -- sources and the article reader ---------------------------------------------

    @on(AnswerMessage.Selected)
    def _selected_answer(self, event: AnswerMessage.Selected) -> None:
        self._select(event.message)

    def _select(self, message: AnswerMessage) -> None:
        self._selected = message
        for other in self.query(AnswerMessage):
            other.set_class(other is message, "selected")
        self.query_one(SourcesPanel).show(message.answer)

    def action_focus_sources(self) -> None:
        self.query_one("#citations").focus()

    def action_focus_prompt(self) -> None:
        self.query_one("#prompt").focus()

    @on(SourcesPanel.OpenCitation)
    def _open_citation(self, event: SourcesPanel.OpenCitation) -> None:
        self._read_article(event.citation.article_id, event.citation)

    # -- chats --------------------------------------------------------------------------

    def action_new_chat(self) -> None:
        if self.assistant is not None:
            self._open_session(None)

    def action_open_chat(self) -> None:
        if self.assistant is not None:
            self._list_chats()

    @work(thread=True, exclusive=True, group="chats")
    def _list_chats(self) -> None:
        try:
            chats = [c for c in self.assistant.chats() if c["turns"]]
        except Exception as exc:
            self.call_from_thread(self.notify, self.describe(exc), title="Cannot list the chats", severity="error", markup=False)
            return
        self.post_message(self.ChatsListed(chats))

    @on(ChatsListed)
    def _chats_listed(self, event: ChatsListed) -> None:
        self.push_screen(ChatsScreen(event.chats), self._reopen)

    def _reopen(self, chat_id: str | None) -> None:
        if chat_id:
            self._open_session(chat_id)

    @work(thread=True, exclusive=True, group="chats")
    def _open_session(self, chat_id: str | None) -> None:
        """A new chat (``chat_id`` None) or a saved one, made or read off the event loop."""
        try:
            session = self.assistant.open_chat(chat_id) if chat_id else self.assistant.chat(self.filters)
        except Exception as exc:
            self.call_from_thread(self.notify, self.describe(exc), title="Cannot open the chat", severity="error", markup=False)
            return
        self.post_message(self.ChatOpened(session, reopened=chat_id is not None))

    @on(ChatOpened)
    def _chat_opened(self, event: ChatOpened) -> None:
        self.session = event.session
        if not event.reopened:
            self.query_one("#log", VerticalScroll).remove_children()
            self.query_one(SourcesPanel).show(None)
            self.notify("New chat.")
            return
        self.filters = self.session.filters
        log = self.query_one("#log", VerticalScroll)
        log.remove_children()
        last = None
        for answer in self.session.answers:
            log.mount(UserMessage(answer.question))
            last = AnswerMessage(answer.question)
            log.mount(last)
            self.call_after_refresh(last.show, answer)
        if last is not None:
            self.call_after_refresh(self._select, last)
        self.refresh_status()

    def action_filters(self) -> None:
        f = self.filters
        self.push_screen(FiltersScreen(f.sources, f.since, f.until, f.as_of), self._set_filters)

    def _set_filters(self, values: dict | None) -> None:
        if values is None:
            return
        from qa.retrieval import SearchError, check_date_order, date_filter

        try:
            for name in ("since", "until", "as_of"):
                date_filter(values.get(name), name.replace("_", "-"))
            check_date_order(values.get("since"), values.get("until"), values.get("as_of"))
        except SearchError as exc:
            self.notify(self.describe(exc), title="Filters not changed", severity="error", markup=False)
            return
        self.filters = Filters(**values, new_since=self.filters.new_since)
        if self.session is not None:
            self.session.filters = self.filters
        self.refresh_status()

    def action_copy_answer(self) -> None:
        message = self._selected
        if message is None or message.answer is None:
            self.notify("Select an answer first.")
            return
        self.copy_to_clipboard(answer_text(message.answer))
        self.notify("Answer and sources copied.")

    def action_export_chat(self) -> None:
        if self.session is None or not self.session.answers:
            self.notify("Nothing to export yet.")
            return
        folder = self.export_dir or (self.assistant.index.settings.data_dir / "exports")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"chat-{self.session.id}.md"
        title = self.session.answers[0].question
        path.write_text(chat_markdown(self.session.answers, title=title), encoding="utf-8")
        self.notify(visible(f"Exported to {path}"), title="Chat exported", markup=False)

    # -- syncing from the app -------------------------------------------------------

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Sync folder", "Index new and changed articles from a folder", self.action_sync_prompt)
        yield SystemCommand("New chat", "Start a fresh conversation", self.action_new_chat)
        yield SystemCommand("Open saved chat", "Reopen an earlier chat with its citations", self.action_open_chat)
        yield SystemCommand("Filters", "Limit this chat to sources and dates", self.action_filters)
        yield SystemCommand("Export chat", "Save this chat as Markdown with a bibliography", self.action_export_chat)
        yield SystemCommand("Copy answer", "Copy the selected answer with its sources", self.action_copy_answer)
        yield SystemCommand("What's new", "The stories that arrived since the last look", self.action_whats_new)
        yield SystemCommand(
            "Ask new articles only", "Toggle: answer only from what arrived since the last look", self.action_toggle_new_only
        )

    def action_sync_prompt(self) -> None:
        if self.assistant is None:
            self.notify("Still loading the index.")
            return
        self.push_screen(PromptScreen("Sync which folder or file?", "~/articles"), self._sync_path)

    def _sync_path(self, path: str | None) -> None:
        if path:
            self.sync(path)

    def sync(self, path: str) -> None:
        panel = self.query_one(SyncPanel)
        panel.add_class("active")
        panel.start(path)
        self._sync(path)

    @work(thread=True, exclusive=True, group="sync")
    def _sync(self, path: str) -> None:
        def progress(phase: str, done: int, total: int) -> None:
            self.post_message(self.SyncProgress(phase, done, total))

        try:
            report = self.assistant.index.sync([Path(path).expanduser()], progress=progress)
            counts = self.assistant.index.counts()
        except Exception as exc:
            self.post_message(self.SyncDone("", 0, self.describe(exc)))
            return
        self.post_message(self.SyncDone(report.summary(), len(report.failed), counts=counts))

    @on(SyncProgress)
    def _sync_progress(self, event: SyncProgress) -> None:
        self.query_one(SyncPanel).progress(event.phase, event.done, event.total)

    @on(SyncDone)
    def _sync_done(self, event: SyncDone) -> None:
        self.query_one(SyncPanel).remove_class("active")
        if event.error:
            self.notify(event.error, title="Sync failed", severity="error", timeout=15, markup=False)
            return
        severity = "warning" if event.failed else "information"
        self.notify(event.summary, title="Sync finished", severity=severity, timeout=10)
        self._counts = event.counts or self._counts
        self.refresh_status()
