"""Retrieval, answers, chat sessions and the CLI, on top of ``index``.

Never imports the UI (``textual`` or ``tui``).
"""
