"""Reading article files: .txt, .md, .html/.htm and .jsonl.

Every problem with a file becomes a ``ReadError`` carrying a one-line reason; the sync
reports it and goes on with the other files. Every text that enters the index passes one
check (``checked``): file names, JSONL fields and front matter values must be text that
UTF-8 can hold, so a bad one fails its file or line, never the sync.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .article import Article, normalize_date
from .dates import is_date_line, parse_date
from .errors import QAError

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES


class ReadError(QAError):
    """A file (or one line of it) that cannot be indexed; str() is the one-line reason."""


class FileEntry:
    """A file found by a scan: where it is, which synced folder it belongs to, its stat.

    The path is kept as text and made a Path only when used: a sync compares 100,000
    unchanged files by text and stat alone (a Path costs 10 us to build)."""

    __slots__ = ("where", "root", "rel", "mtime_ns", "size", "_path")

    def __init__(self, path: Path | str, root: Path, rel: str, mtime_ns: int, size: int):
        self.where = str(path)  # absolute
        self.root = root  # absolute folder the ids are relative to
        self.rel = rel  # path relative to root, with '/' separators
        self.mtime_ns = mtime_ns
        self.size = size
        self._path = path if isinstance(path, Path) else None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(self.where)
        return self._path

    def __repr__(self) -> str:
        return f"FileEntry({self.where!r}, rel={self.rel!r}, mtime_ns={self.mtime_ns}, size={self.size})"


@dataclass
class ReadResult:
    articles: list[Article] = field(default_factory=list)
    # (where, reason) for lines of a JSONL file that could not be read.
    failures: list[tuple[str, str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # JSONL: the line of each article

    def where(self, n: int, path: Path) -> str:
        """Where the n-th article was read: 'path:line' for a JSONL line, else the path."""
        return f"{path}:{self.lines[n]}" if self.lines else str(path)


@dataclass
class Scan:
    files: list[FileEntry] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # every folder visited, empty ones too


def scan(target: Path) -> Scan:
    """All supported files under ``target`` (a folder or a file), with loop detection."""
    result = Scan()
    if not is_utf8(str(target)):
        result.failures.append((str(target), "path is not valid UTF-8; rename it"))
        return result
    try:
        info = target.stat()  # follows symlinks; raises on loops and dangling links
    except FileNotFoundError:
        reason = "broken symbolic link" if target.is_symlink() else "no such file or directory"
        result.failures.append((str(target), reason))
        return result
    except OSError as exc:
        result.failures.append((str(target), _os_reason(exc)))
        return result
    if stat.S_ISDIR(info.st_mode):
        root = target.resolve()
        _walk(root, root, set(), result)
    else:
        path = target.resolve()
        _add_file(path, path.parent, result, explicit=True)
    result.files.sort(key=lambda entry: entry.rel)
    return result


def _walk(folder: Path, root: Path, seen: set[tuple[int, int]], result: Scan) -> None:
    try:
        info = folder.stat()
    except OSError as exc:
        result.failures.append((str(folder), _os_reason(exc)))
        return
    key = (info.st_dev, info.st_ino)
    if key in seen:
        result.failures.append((str(folder), "symbolic link loop (folder already visited)"))
        return
    seen.add(key)
    result.folders.append(str(folder))
    try:
        children = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        result.failures.append((str(folder), _os_reason(exc)))
        return
    # Strings, not Paths, for each file: a scan of 100,000 files is in every sync's cost.
    prefix = os.path.join(str(root), "")
    for child in children:
        if child.name.startswith("."):
            continue  # hidden files and folders (.git, editor swap files)
        try:
            is_dir = child.is_dir()  # follows symlinks
        except OSError as exc:
            result.failures.append((child.path, _os_reason(exc)))
            continue
        supported = os.path.splitext(child.name)[1].lower() in SUPPORTED
        wanted = is_dir or supported or child.is_symlink()
        if wanted and not is_utf8(child.name):
            kind = "folder" if is_dir else "file"
            result.failures.append((child.path, f"{kind} name is not valid UTF-8; rename it"))
        elif is_dir:
            _walk(Path(child.path), root, seen, result)
        elif supported:
            _add_entry(child, root, prefix, result)


def _add_entry(child: os.DirEntry, root: Path, prefix: str, result: Scan) -> None:
    try:
        info = child.stat()  # follows symlinks
    except FileNotFoundError:
        result.failures.append((child.path, "broken symbolic link"))
        return
    except OSError as exc:
        result.failures.append((child.path, _os_reason(exc)))
        return
    if not stat.S_ISREG(info.st_mode):
        result.failures.append((child.path, "not a regular file"))
        return
    rel = child.path[len(prefix):].replace(os.sep, "/")
    result.files.append(FileEntry(child.path, root, rel, info.st_mtime_ns, info.st_size))


def _add_file(path: Path, root: Path, result: Scan, explicit: bool) -> None:
    if path.suffix.lower() not in SUPPORTED:
        if explicit:
            supported = ", ".join(sorted(SUPPORTED))
            result.failures.append((str(path), f"unsupported file type (supported: {supported})"))
        return
    try:
        info = path.stat()
    except FileNotFoundError:
        result.failures.append((str(path), "broken symbolic link"))
        return
    except OSError as exc:
        result.failures.append((str(path), _os_reason(exc)))
        return
    if not stat.S_ISREG(info.st_mode):
        result.failures.append((str(path), "not a regular file"))
        return
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    result.files.append(FileEntry(path, root, rel, info.st_mtime_ns, info.st_size))


def is_utf8(text: str) -> bool:
    """False for a name with bytes that are not UTF-8 (Python holds them as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _os_reason(exc: OSError) -> str:
    if exc.errno == 40:  # ELOOP
        return "symbolic link loop"
    return (exc.strerror or str(exc)).lower()


# --- reading ---------------------------------------------------------------------------


def read_entry(entry: FileEntry, max_bytes: int, max_jsonl_bytes: int | None = None) -> ReadResult:
    """Read one file into articles. Raises ReadError for a file that cannot be used.

    ``max_bytes`` limits an article file and each line of a JSONL file,
    ``max_jsonl_bytes`` a JSONL file as a whole (default: no limit)."""
    suffix = entry.path.suffix.lower()
    if entry.size == 0:
        raise ReadError("empty file")
    if suffix in JSONL_SUFFIXES:
        if max_jsonl_bytes is not None and entry.size > max_jsonl_bytes:
            raise ReadError(f"file too large ({too_large(entry.size, max_jsonl_bytes, 'QA_MAX_JSONL_MB')})")
        return _read_jsonl(entry, max_bytes)
    if entry.size > max_bytes:
        raise ReadError(f"file too large ({too_large(entry.size, max_bytes, 'QA_MAX_FILE_MB')})")
    data = _read_bytes(entry.path)
    if suffix in HTML_SUFFIXES:
        article = _read_html(data, entry)
    else:
        text = _decode(data)
        if suffix in MARKDOWN_SUFFIXES:
            article = _read_markdown(text, entry)
        else:
            article = _read_text(text, entry)
    if not article.text.strip():
        raise ReadError("no article text found")
    return ReadResult([checked(article)])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ReadError(f"cannot read: {_os_reason(exc)}") from None


def too_large(size: int, limit: int, setting: str) -> str:
    """'2.0 kB; the limit is 1.0 kB, QA_MAX_FILE_MB=0.001': two sizes that read differently."""
    shown, most = _size(size), _size(limit)
    if shown == most:
        shown, most = f"{size:,} bytes", f"{limit:,} bytes"
    return f"{shown}; the limit is {most}, {setting}={limit / 1e6:g}"


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1e3:.1f} kB" if n < 1_000_000 else f"{n / 1e6:.1f} MB"


NUL = b"\x00"
# Byte order marks, longest first (UTF-32 LE starts with UTF-16 LE's).
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def _bom_encoding(data: bytes) -> str | None:
    return next((encoding for bom, encoding in _BOMS if data.startswith(bom)), None)


def _decode(data: bytes, kind: str = "text") -> str:
    """UTF-8, or the Unicode encoding its byte order mark names. A NUL anywhere (the whole
    file is checked) means a binary file."""
    encoding = _bom_encoding(data)
    if encoding is None and NUL in data:
        raise ReadError(f"binary file, not {kind} (a NUL byte at offset {data.index(NUL)})")
    try:
        text = data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        name = (encoding or "utf-8").replace("-sig", "").upper()
        raise ReadError(
            f"not valid {name} (byte 0x{data[exc.start]:02x} at offset {exc.start});"
            " convert it with iconv -t UTF-8"
        ) from None
    if "\x00" in text:
        raise ReadError(f"binary file, not {kind} (a NUL character at character {text.index(chr(0))})")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _title_from_name(entry: FileEntry) -> str:
    stem = entry.path.stem.replace("_", " ").replace("-", " ").strip()
    return stem[:1].upper() + stem[1:] if stem else entry.rel


_BYLINE = re.compile(r"^(by|from|source|published|updated|posted)\b", re.IGNORECASE)


def detect_text_header(text: str) -> tuple[str | None, str | None]:
    """Title and date from the short lines that open a plain-text article.

    The header is the run of short, unpunctuated lines before the first paragraph; the
    title is its longest line that is neither a date nor a byline.
    """
    header: list[str] = []
    for line in text.split("\n")[:12]:
        line = line.strip()
        if not line:
            continue
        if len(line) > 160 or len(line.split()) > 20 or line.endswith((".", ";", ",")):
            break  # prose: the body has begun
        header.append(line)
    date = next((parse_date(line) for line in header if is_date_line(line)), None)
    candidates = [
        line for line in header if not is_date_line(line) and not _BYLINE.match(line)
    ]
    title = max(candidates, key=len) if candidates else None
    return title, date


def _read_text(text: str, entry: FileEntry) -> Article:
    title, date = detect_text_header(text)
    return Article(
        id=entry.rel,
        title=title or _title_from_name(entry),
        text=text,
        date=date,
        origin=str(entry.path),
    )


def _read_markdown(text: str, entry: FileEntry) -> Article:
    import frontmatter  # small; only needed when a .md file changed

    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # yaml raises many types; all mean "bad front matter"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReadError(f"malformed YAML front matter: {first}") from None
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    body = post.content
    title = _text_value(meta.get("title"), "title")
    if not title:
        heading = re.search(r"^#\s+(.+)$", body, re.MULTILINE)
        title = heading.group(1).strip() if heading else _title_from_name(entry)
    return Article(
        id=entry.rel,
        title=title,
        text=body,
        date=_safe_date(meta.get("date")),
        source=_text_value(meta.get("source"), "source"),
        url=_text_value(meta.get("url"), "url"),
        authors=_authors(meta.get("authors") or meta.get("author")),
        origin=str(entry.path),
    )


def _read_html(data: bytes, entry: FileEntry) -> Article:
    if _bom_encoding(data) not in (None, "utf-8-sig"):
        data = _decode(data, "HTML")  # UTF-16/32: trafilatura reads bytes as 8-bit charsets
    elif NUL in data:
        raise ReadError(f"binary file, not HTML (a NUL byte at offset {data.index(NUL)})")
    import trafilatura  # 0.2 s import; only when an HTML file changed

    try:
        doc = trafilatura.bare_extraction(
            data, with_metadata=True, include_comments=False, favor_precision=True
        )
    except Exception as exc:  # lxml/trafilatura errors on broken documents
        raise ReadError(f"malformed HTML: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if doc is None or not (getattr(doc, "text", None) or "").strip():
        raise ReadError("no article text found in the HTML")
    authors = [a.strip() for a in (doc.author or "").split(";") if a.strip()]
    return Article(
        id=entry.rel,
        title=(doc.title or _title_from_name(entry)).strip(),
        text=doc.text,
        date=_safe_date(doc.date),
        source=doc.sitename or doc.hostname,
        url=doc.url,
        authors=authors,
        origin=str(entry.path),
    )


def _read_jsonl(entry: FileEntry, max_bytes: int) -> ReadResult:
    result = ReadResult()
    for lineno, raw in _jsonl_lines(entry):
        if not raw.strip():
            continue
        try:
            if len(raw) > max_bytes:
                raise ReadError(f"line too large ({too_large(len(raw), max_bytes, 'QA_MAX_FILE_MB')})")
            result.articles.append(checked(_jsonl_article(raw, entry)))
            result.lines.append(lineno)
        except ReadError as exc:
            result.failures.append((f"{entry.path}:{lineno}", str(exc)))
    if not result.articles and not result.failures:
        raise ReadError("empty file")
    return result


def _jsonl_lines(entry: FileEntry):
    """(line number, line as UTF-8 bytes), read as a stream; a file that opens with a
    UTF-16 or UTF-32 byte order mark is decoded whole first."""
    try:
        with entry.path.open("rb") as handle:
            head = handle.read(4)
            encoding = _bom_encoding(head)
            if encoding not in (None, "utf-8-sig"):
                text = _decode(head + handle.read())
                yield from enumerate((line.encode("utf-8") + b"\n" for line in text.split("\n")), start=1)
                return
            handle.seek(len(codecs.BOM_UTF8) if encoding else 0)
            yield from enumerate(handle, start=1)
    except OSError as exc:
        raise ReadError(f"cannot read: {_os_reason(exc)}") from None


def json_object(raw: bytes) -> dict:
    """One line of a JSONL file (an article, a question) as a dict; a ReadError with a
    one-line reason for a line that is not UTF-8, not JSON or not an object."""
    try:
        record = json.loads(raw.decode("utf-8").rstrip("\r\n"))
    except UnicodeDecodeError as exc:
        raise ReadError(f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        where = "column" if exc.msg.endswith(" at") else "at column"  # "Unterminated string starting at"
        raise ReadError(f"invalid JSON ({exc.msg} {where} {exc.colno})") from None
    if not isinstance(record, dict):
        raise ReadError("a line must be a JSON object")
    return record


def jsonl_lines(handle):
    """(line number, bytes) of a JSONL stream opened in binary, a UTF-8 byte order mark
    dropped."""
    for lineno, raw in enumerate(handle, start=1):
        yield lineno, (raw[len(codecs.BOM_UTF8):] if lineno == 1 and raw.startswith(codecs.BOM_UTF8) else raw)


def _jsonl_article(raw: bytes, entry: FileEntry) -> Article:
    record = json_object(raw)
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ReadError("missing 'text'")
    article_id = record_id(record.get("id"))
    return Article(
        id=article_id,
        title=_text_value(record.get("title"), "title") or article_id,
        text=text,
        date=_safe_date(record.get("date")),
        source=_text_value(record.get("source"), "source"),
        url=_text_value(record.get("url"), "url"),
        authors=_authors(record.get("authors")),
        origin=str(entry.path),
    )


def _safe_date(value: object) -> str | None:
    try:
        return normalize_date(value)
    except (TypeError, ValueError):
        return None


# -- the one check of every text that enters the index ---------------------------------


def checked(article: Article) -> Article:
    """``article`` if every text of it can be stored; else a ReadError naming the field.

    JSON escapes ("\\ud800") and file names that are not UTF-8 give Python strings with
    lone surrogates, which no store can encode."""
    fields = [("id", article.id), ("title", article.title), ("text", article.text),
              ("source", article.source), ("url", article.url), ("origin", article.origin)]
    fields += [("authors", name) for name in article.authors]
    for name, value in fields:
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            raise ReadError(
                f"'{name}' holds a lone surrogate (U+{code:04X} at character {exc.start}), which is not text"
            ) from None
    return article


def record_id(value: object) -> str:
    """A JSONL id: a string (not blank) or an integer, kept as written."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ReadError("missing 'id'")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ReadError(f"'id' must be a string or an integer, not {kind_of(value)}")
    return str(value)


def _text_value(value: object, name: str) -> str | None:
    """A metadata value as text: strings as they are, numbers and dates as written;
    None or "" is no value; a list or an object is an error."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, dt.date)) and not isinstance(value, bool):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    raise ReadError(f"'{name}' must be text, not {kind_of(value)}")


def _authors(value: object) -> list[str]:
    if value in (None, "", []):
        return []
    names = value if isinstance(value, list) else [value]
    return [name for name in (_text_value(v, "authors") for v in names) if name]


def kind_of(value: object) -> str:
    """What a JSON value is, in words: 'a number', 'a list', 'an object', 'null'..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "text"
    return type(value).__name__
