"""Widgets of the chat screen. Article text and user input are always shown as plain
``Text`` (never parsed as markup) or as escaped Markdown, and through ``visible`` (control
characters shown, never sent to the terminal)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, ListItem, ListView, Markdown, Static

from qa.answer import Answer, Citation
from qa.export import answer_markdown
from qa.terminal import visible


class UserMessage(Static):
    def __init__(self, question: str):
        super().__init__(Text(visible(question)), classes="user")


class AnswerMessage(Vertical):
    """One answer: Markdown body with [n] markers; focus it to show its sources."""

    can_focus = True

    class Selected(Message):
        def __init__(self, message: "AnswerMessage"):
            super().__init__()
            self.message = message

    def __init__(self, question: str):
        super().__init__(classes="answer pending")
        self.question = question
        self.answer: Answer | None = None
        self._streamed = ""

    def compose(self):
        yield Markdown("", open_links=False)

    @property
    def body(self) -> Markdown:
        return self.query_one(Markdown)

    def stream(self, token: str) -> None:
        self._streamed += token
        self.body.update(_escape(self._streamed))

    def show(self, answer: Answer) -> None:
        self.answer = answer
        self.remove_class("pending")
        self.set_class(not answer.answered, "refused")
        self.body.update(visible(answer_markdown(answer), newlines=True))

    def show_note(self, note: str) -> None:
        self.remove_class("pending")
        self.add_class("note")
        self.body.update(_escape(note))

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))

    def on_click(self) -> None:
        self.focus()


def _escape(text: str) -> str:
    from qa.export import escape_markdown

    return escape_markdown(visible(text, newlines=True))


class CitationItem(ListItem):
    def __init__(self, citation: Citation, context: str, quote_at: int):
        super().__init__()
        self.citation = citation
        self.context = context
        self.quote_at = quote_at

    def compose(self):
        c = self.citation
        meta = " · ".join(x for x in (c.date, c.source) if x)
        head = Text.assemble((f"[{c.n}] ", "bold"), (visible(c.title), "bold"))
        if meta:
            head.append(f"  {visible(meta)}", style="dim")
        yield Label(head, markup=False)
        # the cited span, highlighted inside its passage
        end = self.quote_at + len(c.quote)
        body = Text.assemble(
            visible(self.context[: self.quote_at], newlines=True),
            (visible(self.context[self.quote_at : end], newlines=True), "reverse"),
            visible(self.context[end:], newlines=True),
        )
        yield Label(body, classes="quote", markup=False)
        if c.more_outlets:
            outlets = ", ".join(sorted({o["source"] or o["article_id"] for o in c.more_outlets}))
            yield Label(Text(visible(f"and {len(c.more_outlets)} more from the same story: {outlets}"), style="dim"), markup=False)


class SourcesPanel(Vertical):
    """The passages cited by the selected answer. Enter opens the article at the span."""

    class OpenCitation(Message):
        def __init__(self, citation: Citation):
            super().__init__()
            self.citation = citation

    def compose(self):
        yield Static("Sources", classes="panel-title")
        yield ListView(id="citations")

    def show(self, answer: Answer | None) -> None:
        items = []
        if answer is not None:
            for c in answer.citations:
                context, at = _context(answer, c)
                items.append(CitationItem(c, context, at))
        view = self.query_one(ListView)
        view.clear()
        if items:
            view.extend(items)
            view.index = 0

    @on(ListView.Selected)
    def _open(self, event: ListView.Selected) -> None:
        if isinstance(event.item, CitationItem):
            self.post_message(self.OpenCitation(event.item.citation))


def _context(answer: Answer, citation: Citation, around: int = 90) -> tuple[str, int]:
    """The quote with some of its passage around it, and where the quote starts."""
    for p in answer.passages:
        if p.article_id == citation.article_id and p.start <= citation.start and citation.end <= p.end:
            lo = max(p.start, citation.start - around)
            hi = min(p.end, citation.end + around)
            text = p.text[lo - p.start : hi - p.start]
            prefix = "…" if lo > p.start else ""
            suffix = "…" if hi < p.end else ""
            return prefix + text + suffix, len(prefix) + citation.start - lo
    return citation.quote, 0


class StatusLine(Static):
    def set_status(self, text: str) -> None:
        self.update(Text(visible(text)))
