"""One place that builds the index, retriever and assistant from settings.

The CLI, the TUI, the tests and the benchmarks all call these, so they agree on what
"open the default collection" means (including indexing the bundled seeds on first use).
"""

from __future__ import annotations

from index import Index, Settings
from index.core import settings_with as settings_for

__all__ = ["open_index", "open_retriever", "settings_for"]


def open_index(settings: Settings, seed: bool = True, progress=None, create: bool = False) -> Index:
    """The collection to read from. Only ``default`` is made on first use (and seeded),
    unless ``create``; another name must have been indexed into, so a typo is an error,
    not a new empty collection."""
    idx = Index.open(settings=settings, create=create or settings.collection == "default")
    if seed:
        idx.ensure_seeded(progress=progress)
    return idx


def open_retriever(settings: Settings, seed: bool = True, create: bool = False, answering=None):
    """``answering``: a ``qa.settings.Settings`` (default: environment and settings file)."""
    from .retrieval import Retriever
    from .settings import Settings as AnswerSettings

    answering = answering or AnswerSettings()
    return Retriever(open_index(settings, seed=seed, create=create), rerank=answering.rerank)


def open_assistant(settings: Settings, llm=None, seed: bool = True, create: bool = False, answering=None):
    """``llm``: a backend spec (default: the ``llm`` setting); ``create``: the chat app
    makes a new collection (it says it is empty and offers to sync a folder into it)."""
    from .assistant import Assistant
    from .llm import make_llm
    from .settings import Settings as AnswerSettings

    answering = answering or AnswerSettings()
    retriever = open_retriever(settings, seed=seed, create=create, answering=answering)
    return Assistant(retriever, llm=make_llm(llm or answering.llm, answering))
