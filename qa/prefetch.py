"""Embed a one-off query in a forked child while this process opens the store.

A cold ``qa search`` imports chromadb and opens the collection (about 0.5 s here) and
imports onnxruntime, loads the model and embeds the query (about 0.25 s). Neither needs
the other, and they hold the GIL, so the second runs in a child process on the other core.
The child is forked before chromadb is imported (no threads of its to copy) and guesses
the collection's embedder from a hint the last open left; a wrong guess, a failed child or
a platform without fork leave the query to be embedded here, as before.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np

from index.embedding import DEFAULT_PRECISION, MODEL_DIM
from index.settings import Settings


def precision_hint(settings: Settings) -> Path:
    return settings.data_dir / "manifests" / f"{settings.store_key}.precision"


def remember_precision(settings: Settings, precision: str) -> None:
    """Leave the hint for the next prefetch (written only when it changes)."""
    path = precision_hint(settings)
    try:
        if not path.exists() or path.read_text() != precision:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(precision)
    except OSError:
        pass


class QueryPrefetch:
    def __init__(self, query: str, settings: Settings):
        self.query = query
        self.pid: int | None = None
        self.fd: int | None = None
        if not sys.platform.startswith("linux") or settings.embed_backend != "onnx" or "chromadb" in sys.modules:
            return
        try:
            self.precision = precision_hint(settings).read_text().strip()
        except OSError:
            self.precision = settings.embed_precision or DEFAULT_PRECISION
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: embed, write the vector, leave without cleanup
            status = 1
            try:
                os.close(read)
                from index.embedding import Embedder

                embedder = Embedder(cache_dir=settings.model_cache_dir, precision=self.precision)
                data = embedder.embed_query(query).astype("<f4").tobytes()
                while data:
                    data = data[os.write(write, data):]
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        self.pid, self.fd = pid, read

    def vector(self, precision: str) -> np.ndarray | None:
        """The query's vector if the child made it with ``precision``; else None."""
        if self.fd is None:
            return None
        if precision != self.precision:  # guessed wrong: do not wait for it
            os.kill(self.pid, signal.SIGKILL)
        chunks = []
        try:
            while chunk := os.read(self.fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(self.fd)
            self.fd = None
            os.waitpid(self.pid, 0)
        data = b"".join(chunks)
        if precision != self.precision or len(data) != MODEL_DIM * 4:
            return None
        return np.frombuffer(data, dtype="<f4").astype(np.float32)
