"""Screens over the chat: the article reader, saved chats, prompts, sync progress."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, ListItem, ListView, ProgressBar, Static

from index import Article
from qa.answer import Citation
from qa.terminal import visible


class ArticleScreen(Screen):
    """The whole article, scrolled to the cited span, which is highlighted. Given its
    story (the other outlets' articles about the same event), n and p step through them;
    ``load`` reads an article by id, in a thread (the store may be a server)."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("n", "step(1)", "Next outlet", show=False),
        Binding("p", "step(-1)", "Previous outlet", show=False),
    ]

    class Loaded(Message):
        def __init__(self, article: Article | None, error: str | None = None):
            super().__init__()
            self.article, self.error = article, error

    def __init__(
        self,
        article: Article,
        citation: Citation | None = None,
        story: list[str] | None = None,
        load: Callable[[str], Article] | None = None,
    ):
        super().__init__()
        self.article = article
        self.citation = citation
        self.story = story or [article.id]
        self.load = load

    def compose(self) -> ComposeResult:
        a = self.article
        meta = " · ".join(x for x in (a.date, a.source, a.url) if x)
        yield Static(Text(visible(a.title), style="bold"), id="article-title")
        if meta:
            yield Static(Text(visible(meta), style="dim"), id="article-meta")
        if len(self.story) > 1:
            where = self.story.index(a.id) + 1 if a.id in self.story else 1
            yield Static(Text(f"story: outlet {where} of {len(self.story)} · n next, p previous", style="dim"), id="article-story")
        span = (self.citation.start, self.citation.end) if self.citation and self.citation.article_id == a.id else (0, 0)
        with VerticalScroll(id="article-body"):
            for start, end in _paragraphs(a.text):
                lo, hi = max(span[0], start), min(span[1], end)
                cited = lo < hi
                if cited:  # the cited span highlighted; each part shown visibly
                    text = Text.assemble(
                        visible(a.text[start:lo]), (visible(a.text[lo:hi]), "reverse bold"), visible(a.text[hi:end])
                    )
                else:
                    text = Text(visible(a.text[start:end]))
                yield Static(text, classes="paragraph cited" if cited else "paragraph")
        yield Footer()

    def on_mount(self) -> None:
        cited = self.query(".cited")
        if cited:
            self.call_after_refresh(self.query_one("#article-body").scroll_to_widget, cited.first(), top=True, animate=False)

    def action_step(self, by: int) -> None:
        if len(self.story) < 2 or self.load is None:
            return
        here = self.story.index(self.article.id) if self.article.id in self.story else 0
        self._read(self.story[(here + by) % len(self.story)])

    @work(thread=True, exclusive=True, group="article")
    def _read(self, article_id: str) -> None:
        try:
            self.post_message(self.Loaded(self.load(article_id)))
        except Exception as exc:  # shown as a notice; the reader stays open
            self.post_message(self.Loaded(None, self.app.describe(exc)))

    @on(Loaded)
    async def _loaded(self, event: Loaded) -> None:
        if event.article is None:
            self.notify(event.error or "cannot open the article", title="Cannot open the article", severity="error", markup=False)
            return
        self.article = event.article
        await self.recompose()


class StoriesScreen(ModalScreen[int | None]):
    """What arrived: one line per story (its outlets and lead); Enter opens its first article."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, stories: list):
        super().__init__()
        self.stories = stories

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"New stories ({len(self.stories)})", classes="panel-title")
            if not self.stories:
                yield Label("Nothing new.")
            items = []
            for n, story in enumerate(self.stories):
                outlets = ", ".join(story.outlets) or "no outlet named"
                detail = f"{len(story.articles)} · {outlets} · {story.lead[:160]}"
                items.append(ListItem(Label(Text(visible(story.title) + "\n  " + visible(detail))), name=str(n)))
            yield ListView(*items, id="stories")
            yield Footer()

    @on(ListView.Selected)
    def _pick(self, event: ListView.Selected) -> None:
        self.dismiss(int(event.item.name))


def _paragraphs(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for part in text.split("\n"):
        end = start + len(part)
        if part.strip():
            spans.append((start, end))
        start = end + 1
    return spans or [(0, len(text))]


class ChatsScreen(ModalScreen[str | None]):
    """Saved chats of this collection; Enter reopens one."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, chats: list[dict]):
        super().__init__()
        self.chats = chats

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Saved chats", classes="panel-title")
            if not self.chats:
                yield Label("No saved chats yet.")
            items = [
                ListItem(Label(Text(visible(f"{c['updated'][:16].replace('T', ' ')}  {c['title'] or '(empty)'}  · {c['turns']} turns"))), name=c["id"])
                for c in self.chats
            ]
            yield ListView(*items, id="chats")
            yield Footer()

    @on(ListView.Selected)
    def _pick(self, event: ListView.Selected) -> None:
        self.dismiss(event.item.name)


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line (a folder to sync)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = ""):
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text), classes="panel-title")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)


class FiltersScreen(ModalScreen[dict | None]):
    """Sources, a date range and an "as of" day for this chat."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(
        self, sources: list[str] | None, since: str | None, until: str | None, as_of: str | None = None
    ):
        super().__init__()
        self.initial = (", ".join(sources or []), since or "", until or "", as_of or "")

    def compose(self) -> ComposeResult:
        sources, since, until, as_of = self.initial
        with Vertical(classes="dialog"):
            yield Label("Filters for this chat", classes="panel-title")
            yield Input(value=sources, placeholder="sources, comma separated (empty: all)", id="sources")
            with Horizontal(classes="dates"):
                yield Input(value=since, placeholder="since YYYY-MM-DD", id="since")
                yield Input(value=until, placeholder="until YYYY-MM-DD", id="until")
                yield Input(value=as_of, placeholder="as of YYYY-MM-DD", id="as_of")
            yield Button("Apply", variant="primary", id="apply")

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def _apply(self) -> None:
        sources = [s.strip() for s in self.query_one("#sources", Input).value.split(",") if s.strip()]
        self.dismiss(
            {
                "sources": sources or None,
                "since": self.query_one("#since", Input).value.strip() or None,
                "until": self.query_one("#until", Input).value.strip() or None,
                "as_of": self.query_one("#as_of", Input).value.strip() or None,
            }
        )


class SyncPanel(Vertical):
    """Progress of a sync started from the app; the chat stays usable meanwhile."""

    def compose(self) -> ComposeResult:
        yield Label("", id="sync-label")
        yield ProgressBar(id="sync-bar", show_eta=True)

    def start(self, path: str) -> None:
        self.query_one("#sync-label", Label).update(Text(visible(f"Syncing {path}")))
        self.query_one(ProgressBar).update(total=None, progress=0)

    def progress(self, phase: str, done: int, total: int) -> None:
        self.query_one("#sync-label", Label).update(Text(f"{phase}: {done}/{total} articles"))
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)
