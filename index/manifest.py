"""A local copy of every article's bookkeeping record (metadata, no text).

Planning a sync compares each file with its article's record; reading 100,000 records from
Chroma takes 10 s or more, so this client keeps a copy beside its lexical index. Like the
lexical index it is a cache: trusted only when its marker equals the collection's
(identity:generation), brought forward by the writes of this client from the records they
wrote, and read again from the collection in every other case (a write by another
client, a write that died, a damaged or missing file).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

FORMAT = 1
log = logging.getLogger(__name__)


class Manifest:
    def __init__(self, path: Path):
        self.path = path

    def load(self, marker: str) -> dict[str, dict] | None:
        """article id -> metadata, or None when the copy is missing or not in step."""
        try:
            data = json.loads(self.path.read_bytes())
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
        """Write atomically; a copy that cannot be written is only a slower next sync."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".manifest-", suffix=".tmp")
            try:
                # dumps, not dump: dump streams through the pure-Python encoder (1.4 s for
                # 30,000 records against 0.1 s)
                text = json.dumps({"format": FORMAT, "marker": marker, "records": records}, separators=(",", ":"))
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            log.debug("article manifest %s not written (%s)", self.path, exc)

    def forget(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
