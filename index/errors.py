"""The errors a user can cause, phrased for the user, and the one place that recognises
them among low-level exceptions (a Chroma server that hangs or went away, a full disk, a
damaged store, a folder that cannot be written)."""

from __future__ import annotations

import errno
import sqlite3
import sys


class QAError(Exception):
    """Every error a user can act on: str() is one line that says what went wrong and what
    to do; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class StoreError(QAError):
    """A problem with the store, phrased for the user."""


class ServerUnavailable(StoreError):
    """The Chroma server cannot be reached, did not answer in time, or went away."""

    exit_code = 69  # EX_UNAVAILABLE


class StorageError(StoreError):
    """The data on disk: the disk is full, a store is damaged, a folder cannot be written."""

    exit_code = 74  # EX_IOERR


def describe(exc: BaseException, settings=None) -> str:
    """The one line a user sees for ``exc``: its message when it is a known error (or
    stands for one: a timeout, a full disk), else that it is unexpected."""
    known = exc if isinstance(exc, QAError) else known_error(exc, settings)
    if known is not None:
        return short(known, limit=600)
    return f"unexpected {type(exc).__name__}: {short(exc)}"


_FULL = ("no space left on device", "database or disk is full", "disk quota exceeded")
_DAMAGED = ("file is not a database", "database disk image is malformed")


def known_error(exc: BaseException, settings=None) -> QAError | None:
    """The user-facing error that ``exc`` stands for, or None for a real bug.

    ``settings`` (an ``index.Settings``) lets the message name the server URL, the data
    folder and the timeout settings."""
    if isinstance(exc, QAError):
        return exc
    url = getattr(settings, "chroma_url", None)
    server = f"the Chroma server at {url}" if url else "the Chroma server"
    httpx = sys.modules.get("httpx")  # only Chroma's HTTP client loads it
    if httpx is not None and isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return ServerUnavailable(
                f"could not connect to {server} within {_seconds(settings, 'connect')}"
                " (QA_CHROMA_CONNECT_TIMEOUT); check that it is running and reachable"
            )
        return ServerUnavailable(
            f"{server} did not answer within {_seconds(settings, 'read')} (QA_CHROMA_READ_TIMEOUT);"
            " check that it is running and not stuck, or raise QA_CHROMA_READ_TIMEOUT"
        )
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return ServerUnavailable(
            f"lost the connection to {server} ({short(exc)}); start it again"
            " and run the command again (a sync cut off half way is repaired by the next one)"
        )
    text = " ".join(short(e).lower() for e in _chain(exc))
    if any(isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) for e in _chain(exc)) or any(
        phrase in text for phrase in _FULL
    ):
        where = getattr(settings, "chroma_url", None) or getattr(settings, "data_dir", None) or "the data folder"
        return StorageError(
            f"the disk is full ({where}); free some space and run the command again"
            " (a sync cut off half way is repaired by the next one; nothing indexed before is lost)"
        )
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename and not isinstance(e, (FileNotFoundError, InterruptedError)):
            return StorageError(f"cannot use {e.filename}: {(e.strerror or str(e)).lower()}")
    return None


def log_bug(exc: BaseException, data_dir, context: str) -> str:
    """A bug: its traceback appended to ``qa-errors.log`` in the data folder. Returns the
    one line to show, naming the log (or why it could not be written)."""
    import datetime as dt
    import traceback
    from pathlib import Path

    log = Path(data_dir) / "qa-errors.log"
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8", errors="backslashreplace") as out:
            out.write(f"--- {when} {context}\n{trace}\n")
        details = f"the traceback is in {log}"
    except OSError as write_error:
        details = f"its traceback could not be written to {log} ({write_error.strerror}); QA_DEBUG=1 shows it"
    return f"unexpected {type(exc).__name__}: {short(exc)} (a bug in qa; {details})"


def is_damaged_database(exc: BaseException) -> bool:
    """SQLite's word for a file that is not (or no longer) a database."""
    for e in _chain(exc):
        name = getattr(e, "sqlite_errorname", "") if isinstance(e, sqlite3.DatabaseError) else ""
        if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
            return True
        if any(phrase in str(e).lower() for phrase in _DAMAGED):
            return True
    return False


def _seconds(settings, kind: str) -> str:
    value = getattr(settings, f"chroma_{kind}_timeout", None)
    return f"{value:g} s" if value is not None else "the time allowed"


def short(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, at most ``limit`` characters."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen
