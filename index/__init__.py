"""Reading articles, chunking, embedding and the Chroma store.

The public API: ``Index``, ``Article``, ``SyncReport``, ``Settings`` and the errors.
This package never imports the UI (``textual`` or ``tui``).
"""

from .article import Article
from .core import ArticleNotFound, Index, SyncBusy, seeds_dir
from .errors import ServerUnavailable, StorageError, StoreError, known_error
from .settings import Settings
from .store import ModelMismatch
from .sync import SyncReport

__all__ = [
    "Article",
    "ArticleNotFound",
    "Index",
    "ModelMismatch",
    "ServerUnavailable",
    "Settings",
    "StorageError",
    "StoreError",
    "SyncBusy",
    "SyncReport",
    "known_error",
    "seeds_dir",
]
