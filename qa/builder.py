"""One place that builds the index, retriever and assistant from settings.

The CLI, the TUI, the tests and the benchmarks all call these, so they agree on what
"open the default collection" means (including indexing the bundled seeds on first use).
"""

from __future__ import annotations

from index import Settings
from index.core import open_index
from index.core import settings_with as settings_for

__all__ = ["open_index", "open_retriever", "settings_for"]


def open_retriever(settings: Settings, seed: bool = True, create: bool = False, answering=None):
    """``answering``: a ``qa.settings.Settings`` (default: environment and settings file)."""
    from .retrieval import Retriever

    return Retriever.open(settings=settings, seed=seed, create=create, answering=answering)


def open_assistant(settings: Settings, llm=None, seed: bool = True, create: bool = False, answering=None):
    """``llm``: a backend spec (default: the ``llm`` setting); ``create``: the chat app
    makes a new collection (it says it is empty and offers to sync a folder into it)."""
    from .assistant import Assistant

    return Assistant.open(settings=settings, llm=llm, seed=seed, create=create, answering=answering)
