"""Writing a file whole: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes, *, prefix: str | None = None, suffix: str = ".tmp", fsync: bool = False) -> None:
    """Write ``data`` to a new temporary file beside ``path`` (a name of its own, so two
    writers never share one), then rename it over ``path``. ``fsync``: on disk before the
    rename (an article a user keeps); a cache or a copy does without."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix if prefix is not None else f".{path.name}-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
