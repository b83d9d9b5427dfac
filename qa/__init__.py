"""Retrieval, answers, chat sessions and the CLI, on top of ``index``.

Never imports the UI (``textual`` or ``tui``).
"""

from .answer import Answer, Citation
from .assistant import AnswerError, Assistant, Filters
from .retrieval import Passage, Retriever, SearchError, Weights
from .sessions import ChatSession

__all__ = [
    "Answer",
    "AnswerError",
    "Assistant",
    "ChatSession",
    "Citation",
    "Filters",
    "Passage",
    "Retriever",
    "SearchError",
    "Weights",
]
