"""Writing a file whole: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(
    path: Path, data: bytes, *, prefix: str | None = None, suffix: str = ".tmp", fsync: bool = False,
    private: bool = False,
) -> None:
    """Write ``data`` to a new temporary file beside ``path`` (a name of its own, so two
    writers never share one), then rename it over ``path``. ``fsync``: on disk before the
    rename (an article a user keeps); a cache or a copy does without. The file gets the
    mode a plain ``open`` would give it (0666 less the umask), or 0600 if ``private``:
    the temporary file is 0600 from its first byte, and is opened up before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix if prefix is not None else f".{path.name}-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if not private:
                os.fchmod(handle.fileno(), 0o666 & ~_umask())
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without setting it (``os.umask`` can only be read by
    setting it, which would open a window for files another thread creates)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)  # not Linux: the brief window errs on the private side
    os.umask(mask)
    return mask
