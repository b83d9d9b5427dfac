"""One place that builds the index, retriever and assistant from settings.

The CLI, the TUI, the tests and the benchmarks all call these, so they agree on what
"open the default collection" means (including indexing the bundled seeds on first use).
"""

from __future__ import annotations

from index import Index, Settings
from index.core import settings_with as settings_for

__all__ = ["open_index", "open_retriever", "settings_for"]


def open_index(settings: Settings, seed: bool = True, progress=None) -> Index:
    """The collection to read from. Only ``default`` is made on first use (and seeded);
    another name must have been indexed into, so a typo is an error, not a new collection."""
    idx = Index.open(settings=settings, create=settings.collection == "default")
    if seed:
        idx.ensure_seeded(progress=progress)
    return idx


def open_retriever(settings: Settings, seed: bool = True):
    from .retrieval import Retriever

    return Retriever(open_index(settings, seed=seed))


def open_assistant(settings: Settings, llm=None, seed: bool = True):
    from .assistant import Assistant
    from .llm import make_llm

    return Assistant(open_retriever(settings, seed=seed), llm=make_llm(llm))
