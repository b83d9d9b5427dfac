"""A polite HTTP client for feeds and article pages.

Every request names the tool in its User-Agent, has a timeout (per read and in all) and a
size limit, follows at most a few redirects, and waits its turn: one request at a time
per host, with a delay between two requests to the same host. Feeds are asked with a
conditional GET (ETag, Last-Modified), so an unchanged feed costs no download.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

import httpx

from .errors import QAError, short


def user_agent() -> str:
    try:
        release = version("qa-news")
    except PackageNotFoundError:
        release = "dev"
    return f"qa-news/{release} (a news reader's personal index; one request at a time per host)"


class FetchError(QAError):
    """A request that gave nothing usable; str() is the one-line reason."""


@dataclass
class Response:
    url: str  # after redirects
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class Web:
    """``timeout``: seconds for a connection, for each read, and for a whole response;
    ``max_bytes``: a larger body is refused; ``host_delay``: seconds between two requests
    to one host."""

    def __init__(self, timeout: float = 20.0, max_bytes: int = 5_000_000, host_delay: float = 0.5, max_redirects: int = 5):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.host_delay = host_delay
        self.max_redirects = max_redirects
        self._client = httpx.Client(
            follow_redirects=True,
            max_redirects=max_redirects,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": user_agent()},
        )
        self._hosts: dict[str, tuple[threading.Lock, list[float]]] = {}
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Web":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None, accept: str | None = None) -> Response:
        """The response to a GET of ``url`` (a 304 when the conditional headers still hold).
        Raises ``FetchError`` for anything else than a 2xx or 304 answer."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        with self._turn(urlsplit(url).netloc.lower()):
            try:
                return self._get(url, headers)
            except httpx.TimeoutException:
                raise FetchError(f"no answer within {self.timeout:g} s (QA_FEED_TIMEOUT)") from None
            except httpx.TooManyRedirects:
                raise FetchError(f"too many redirects (more than {self.max_redirects})") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FetchError(f"not an http(s) URL ({short(exc)})") from None
            except httpx.ConnectError as exc:
                raise FetchError(f"cannot connect to {urlsplit(url).netloc} ({_reason(exc)})") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {short(exc)}") from None

    def _get(self, url: str, headers: dict[str, str]) -> Response:
        deadline = time.monotonic() + self.timeout
        with self._client.stream("GET", url, headers=headers) as answer:
            info = Response(str(answer.url), answer.status_code, {k.lower(): v for k, v in answer.headers.items()})
            if answer.status_code == 304:
                return info
            if answer.status_code >= 400 or answer.status_code < 200:
                raise FetchError(f"HTTP {answer.status_code} {answer.reason_phrase}".strip())
            declared = answer.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FetchError(self._too_large())
            chunks, size = [], 0
            for chunk in answer.iter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(self._too_large())
                if time.monotonic() > deadline:
                    raise FetchError(f"no whole answer within {self.timeout:g} s (QA_FEED_TIMEOUT)")
                chunks.append(chunk)
            info.body = b"".join(chunks)
            return info

    def _too_large(self) -> str:
        return f"larger than {self.max_bytes / 1e6:g} MB (QA_FEED_MAX_MB)"

    @contextmanager
    def _turn(self, host: str):
        """One request at a time per host, ``host_delay`` seconds after the previous one."""
        with self._hosts_lock:
            lock, last = self._hosts.setdefault(host, (threading.Lock(), [0.0]))
        with lock:
            wait = last[0] + self.host_delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                last[0] = time.monotonic()


def _reason(exc: Exception) -> str:
    text = short(exc)
    for phrase in ("Connection refused", "Name or service not known", "No route to host", "Network is unreachable"):
        if phrase.lower() in text.lower():
            return phrase.lower()
    return text
