"""A local copy of every article's bookkeeping record (metadata, no text).

Planning a sync compares each file with its article's record; reading 100,000 records from
Chroma takes 10 s or more, so this client keeps a copy beside its lexical index. Like the
lexical index it is a cache: trusted only when its marker equals the collection's
(identity:generation), brought forward by the writes of this client from the records they
wrote, and read again from the collection in every other case (a write by another
client, a write that died, a damaged or missing file).
"""

from __future__ import annotations

import logging
from pathlib import Path

import orjson  # 100,000 records (55 MB): loads 0.25 s, dumps 0.06 s; json's 0.35 and 0.40

from .files import replace_file

FORMAT = 1
log = logging.getLogger(__name__)


class Manifest:
    def __init__(self, path: Path):
        self.path = path

    def load(self, marker: str) -> dict[str, dict] | None:
        """article id -> metadata, or None when the copy is missing or not in step."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.debug("article manifest %s unreadable (%s); reading the collection", self.path, exc)
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("marker") != marker:
            return None
        records = data.get("records")
        return records if isinstance(records, dict) else None

    def save(self, marker: str, records: dict[str, dict]) -> None:
        """A copy that cannot be written is only a slower next sync."""
        _write_json(self.path, {"format": FORMAT, "marker": marker, "records": records})

    def forget(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass


class FolderList:
    """The folders the last sync of the same targets scanned, empty ones included, for
    ``core._folders_changed``: a file landing in a folder that holds no article yet
    moves only that folder's listing. A guess's input, so any failure is only a miss."""

    def __init__(self, path: Path):
        self.path = path

    def load(self, targets: list[str]) -> set[str] | None:
        try:
            data = orjson.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("targets") != targets or not isinstance(data.get("folders"), list):
            return None
        return set(data["folders"])

    def save(self, targets: list[str], folders: set[str]) -> None:
        _write_json(self.path, {"targets": targets, "folders": sorted(folders)})


def _write_json(path: Path, data: dict) -> None:
    """Write atomically (a temporary file beside it, renamed over it); a cache that cannot
    be written is only logged."""
    try:
        replace_file(path, orjson.dumps(data))
    except (OSError, TypeError) as exc:  # TypeError: a value orjson cannot write
        log.debug("%s not written (%s)", path, exc)
