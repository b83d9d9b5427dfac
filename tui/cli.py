"""The `qa` console script: the core CLI (``qa.cli``) plus `qa chat`, the one command that
needs the UI. Keeping it here means ``qa`` never imports ``tui``."""

from __future__ import annotations

import click

from qa.cli import cli, main, make_settings, store_options

__all__ = ["main"]  # the console script: qa.cli's, with `chat` added here


@cli.command("chat")
@click.option("--llm", "llm", envvar="QA_LLM", help="URL of an OpenAI-compatible server, ollama:MODEL or gguf:PATH.")
@store_options
def chat_command(llm=None, settings=None):
    """The terminal chat app (Textual)."""
    from qa.builder import open_assistant

    from .app import ChatApp  # textual loads only for this command

    if settings is None:
        settings = make_settings()
    ChatApp(lambda: open_assistant(settings, llm=llm, create=True)).run()


if __name__ == "__main__":
    main()
