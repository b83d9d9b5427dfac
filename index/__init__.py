"""Reading articles, chunking, embedding and the Chroma store.

The public API: ``Index``, ``Article``, ``SyncReport``, ``Settings`` and the errors.
This package never imports the UI (``textual`` or ``tui``).
"""

from .article import Article
from .core import ArticleNotFound, Index, SyncBusy, seeds_dir
from .settings import Settings
from .store import ModelMismatch, StoreError
from .sync import SyncReport

__all__ = [
    "Article",
    "ArticleNotFound",
    "Index",
    "ModelMismatch",
    "Settings",
    "StoreError",
    "SyncBusy",
    "SyncReport",
    "seeds_dir",
]
