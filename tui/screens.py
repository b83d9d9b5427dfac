"""Screens over the chat: the article reader, saved chats, prompts, sync progress."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, ListItem, ListView, ProgressBar, Static

from index import Article
from qa.answer import Citation
from qa.terminal import visible


class ArticleScreen(Screen):
    """The whole article, scrolled to the cited span, which is highlighted."""

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, article: Article, citation: Citation):
        super().__init__()
        self.article = article
        self.citation = citation

    def compose(self) -> ComposeResult:
        a = self.article
        meta = " · ".join(x for x in (a.date, a.source, a.url) if x)
        yield Static(Text(visible(a.title), style="bold"), id="article-title")
        if meta:
            yield Static(Text(visible(meta), style="dim"), id="article-meta")
        with VerticalScroll(id="article-body"):
            for start, end in _paragraphs(a.text):
                lo, hi = max(self.citation.start, start), min(self.citation.end, end)
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
