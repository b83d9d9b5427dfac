"""Retrieval, answers, chat sessions and the CLI, on top of ``index``.

Never imports the UI (``textual`` or ``tui``).
"""

from .retrieval import Passage, Retriever, SearchError, Weights

__all__ = ["Passage", "Retriever", "SearchError", "Weights"]
