"""Answers and chats as Markdown and plain text (copy, export). No UI here."""

from __future__ import annotations

import re

from .answer import Answer

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!<>|~])")


def escape_markdown(text: str) -> str:
    """Article text shown as Markdown must stay literal: no links, no emphasis."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def answer_markdown(answer: Answer) -> str:
    """The answer for a Markdown view: quotes escaped, citation markers in bold."""
    from .answer import short_prefix

    lines = []
    for n, line in enumerate(answer.text.split("\n")):
        quote = line.startswith("> ")
        body = line[2:] if quote else line
        short = ""
        if n == 0 and answer.short and body.startswith(short_prefix(answer.short)):
            short = f"**{escape_markdown(answer.short)}**: "  # the answer itself, in bold
            body = body[len(short_prefix(answer.short)) :]
        parts = re.split(r"(\[\d+\])", body)
        rendered = short + "".join(f"**{p}**" if re.fullmatch(r"\[\d+\]", p) else escape_markdown(p) for p in parts)
        if quote and lines and lines[-1].startswith("> "):
            lines.append("")  # one blockquote per quote, not one merged paragraph
        lines.append(("> " if quote else "") + rendered)
    return "\n".join(lines)


def source_line(citation) -> str:
    meta = ", ".join(x for x in (citation.date, citation.source) if x)
    return f"[{citation.n}] {citation.title}" + (f" ({meta})" if meta else "") + (
        f" <{citation.url}>" if citation.url else f" — {citation.article_id}"
    )


def answer_text(answer: Answer) -> str:
    """Plain text with numbered sources and their quotes, for the clipboard."""
    out = [answer.text, ""]
    for c in answer.citations:
        out.append(source_line(c))
        out.append(f"    “{' '.join(c.quote.split())}”")
    return "\n".join(out).rstrip() + "\n"


def chat_markdown(answers: list[Answer], title: str = "Chat") -> str:
    """A whole chat with one bibliography: citations renumbered across the chat."""
    out = [f"# {escape_markdown(title)}", ""]
    bibliography: dict[tuple[str, int, int], int] = {}
    entries: list[str] = []
    for answer in answers:
        out += [f"**Q:** {escape_markdown(answer.question)}", ""]
        text = answer_markdown(answer)
        for c in answer.citations:
            key = (c.article_id, c.start, c.end)
            if key not in bibliography:
                bibliography[key] = len(bibliography) + 1
                meta = ", ".join(x for x in (c.date, c.source) if x)
                entries.append(
                    f"{bibliography[key]}. {escape_markdown(c.title)}"
                    + (f" ({meta})" if meta else "")
                    + (f", <{c.url}>" if c.url else f", `{c.article_id}`")
                    + f", characters {c.start}–{c.end}: “{escape_markdown(' '.join(c.quote.split()))}”"
                )
            text = text.replace(f"**[{c.n}]**", f"**[^{bibliography[key]}]**")
        out += [text.replace("[^", "["), ""]
    out += ["## Sources", "", *entries, ""]
    return "\n".join(out)
