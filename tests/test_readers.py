"""Readers turn real files into articles with stable ids, metadata and a content hash;
bad files give a one-line reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.readers import ReadError, read_entry, scan
from tests.conftest import SEED


def read(path: Path):
    found = scan(path)
    assert not found.failures, found.failures
    return read_entry(found.files[0], max_bytes=10_000_000)


def test_seed_text_title_from_first_lines():
    article = read(SEED).articles[0]
    assert article.id == "putins-new-eastward-pivot.txt"
    assert article.title == "Putin’s New Eastward Pivot"
    assert article.text == SEED.read_text(encoding="utf-8")
    assert len(article.content_hash) == 64


def test_text_date_and_byline(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Floods hit the coast\nBy Jane Roe\nJune 17, 2022\n\nRain fell for days. Rivers rose.\n")
    article = read(path).articles[0]
    assert (article.title, article.date) == ("Floods hit the coast", "2022-06-17")


def test_markdown_front_matter(tmp_path):
    path = tmp_path / "m.md"
    path.write_text(
        "---\ntitle: Sochi talks\ndate: 2016-05-06\nsource: EDM\nurl: https://example.org/a\n"
        "authors: [Pavel Baev]\n---\n\nAbe met Putin in Sochi.\n"
    )
    article = read(path).articles[0]
    assert article.title == "Sochi talks" and article.date == "2016-05-06"
    assert article.source == "EDM" and article.url == "https://example.org/a"
    assert article.authors == ["Pavel Baev"]
    assert article.text.strip() == "Abe met Putin in Sochi."


def test_html_main_text_and_metadata(tmp_path):
    body = " ".join(["Japanese authorities assume Russia's crisis will make Putin flexible."] * 8)
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Abe goes to Sochi | Example News</title>"
        '<meta property="og:site_name" content="Example News">'
        '<meta name="date" content="2016-05-01"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>Abe goes to Sochi</h1><p>{body}</p><p>{body}</p></article>"
        "<footer>Copyright Example News. Subscribe now!</footer></body></html>"
    )
    article = read(path).articles[0]
    assert "Putin flexible" in article.text
    assert "Subscribe now" not in article.text and "Home" not in article.text
    assert article.date == "2016-05-01"
    assert "Sochi" in article.title


def test_jsonl_lines_keep_their_ids_and_broken_lines_are_reported(tmp_path):
    path = tmp_path / "c.jsonl"
    good = {"id": "x1", "title": "T", "text": "Hello. World.", "date": "2022-06-17", "url": None, "source": "cnn"}
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"id": "x2"}) + "\n")
    result = read(path)
    assert [a.id for a in result.articles] == ["x1"]
    assert result.articles[0].date == "2022-06-17" and result.articles[0].source == "cnn"
    reasons = dict(result.failures)
    assert "invalid JSON" in reasons[f"{path}:2"]
    assert reasons[f"{path}:3"] == "missing 'text'"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("binary.txt", b"\x00\x01\x02" * 100, "binary file"),
        ("latin1.txt", "café au lait".encode("latin-1"), "not valid UTF-8"),
        ("front.md", b"---\ntitle: [unclosed\n---\nbody\n", "malformed YAML front matter"),
        ("nothing.html", b"<html><body><script>var a=1;</script></body></html>", "no article text"),
    ],
)
def test_bad_files_give_one_line_reasons(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReadError) as info:
        read(path)
    assert reason in str(info.value) and "\n" not in str(info.value)


def test_scan_reports_loops_missing_and_special_files(tmp_path):
    (tmp_path / "ok.txt").write_text("Fine\n\nA sentence.\n")
    (tmp_path / "self.txt").symlink_to(tmp_path / "self.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to(tmp_path)
    import os

    os.mkfifo(tmp_path / "pipe.txt")
    found = scan(tmp_path)
    assert [f.rel for f in found.files] == ["ok.txt"]
    reasons = {Path(p).name: r for p, r in found.failures}
    assert reasons["self.txt"] == "symbolic link loop"
    assert reasons["dangling.txt"] == "broken symbolic link"
    assert "loop" in reasons["up"]
    assert reasons["pipe.txt"] == "not a regular file"
    assert scan(tmp_path / "missing").failures == [(str(tmp_path / "missing"), "no such file or directory")]


def read_jsonl(tmp_path, records) -> tuple[dict[int, str], list]:
    """Write ``records`` as a JSONL file (``str`` records are written as they are)."""
    path = tmp_path / "feed.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    result = read(path)
    return {int(where.rsplit(":", 1)[1]): reason for where, reason in result.failures}, result.articles


def test_a_lone_surrogate_in_any_field_fails_its_line_with_the_field_named(tmp_path):
    good = {"id": "ok", "title": "T", "text": "Fine text about Sochi."}
    fields = ["text", "title", "id", "source", "url"]
    records = [good] + [{**good, "id": f"bad-{f}", f: "Hello \ud800 world"} for f in fields]
    records.append({**good, "id": "bad-authors", "authors": ["Jane \udfff Roe"]})
    failures, articles = read_jsonl(tmp_path, records)
    assert [a.id for a in articles] == ["ok"]
    assert sorted(failures) == list(range(2, 2 + len(fields) + 1))
    for line, field in enumerate([*fields, "authors"], start=2):
        assert f"'{field}'" in failures[line] and "U+D800" in failures[line] or "U+DFFF" in failures[line]
        assert "\ud800" not in failures[line] and "\n" not in failures[line]


def test_jsonl_ids_are_strings_or_integers(tmp_path):
    text = "Some text about Sochi."
    records = [
        {"id": 12, "text": text},
        {"id": "  ", "text": text},
        {"id": ["a", "b"], "text": text},
        {"id": {"k": 1}, "text": text},
        {"id": 1.5, "text": text},
        {"id": True, "text": text},
        {"id": "x", "text": text, "title": ["not", "a", "title"]},
        {"id": "y", "text": text, "source": {"name": "Wire"}},
        {"id": "z", "text": text, "title": 2022},
    ]
    failures, articles = read_jsonl(tmp_path, records)
    assert [(a.id, a.title) for a in articles] == [("12", "12"), ("z", "2022")]
    assert failures[2] == "missing 'id'"
    for line in (3, 4, 5, 6):
        assert failures[line].startswith("'id' must be a string or an integer"), failures[line]
    assert failures[7].startswith("'title' must be text") and failures[8].startswith("'source' must be text")


def test_front_matter_values_are_checked_like_jsonl_fields(tmp_path):
    path = tmp_path / "m.md"
    path.write_text("---\ntitle: [a, b]\n---\nBody text about Sochi.\n", encoding="utf-8")
    with pytest.raises(ReadError, match="'title' must be text"):
        read(path)
    path.write_text("---\ntitle: Fine\nsource: {name: Wire}\n---\nBody text about Sochi.\n", encoding="utf-8")
    with pytest.raises(ReadError, match="'source' must be text"):
        read(path)


def test_a_file_name_that_is_not_utf8_is_a_failure_of_that_file(tmp_path):
    import os

    (tmp_path / "fine.txt").write_text("Fine\n\nA sentence about Sochi.\n")
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "w") as handle:
        handle.write("Cafe\n\nA sentence about coffee.\n")
    os.mkdir(os.path.join(os.fsencode(tmp_path), b"dossier-\xff"))
    with open(os.path.join(os.fsencode(tmp_path), b"dossier-\xff", b"inside.txt"), "w") as handle:
        handle.write("Inside\n\nA sentence.\n")
    found = scan(tmp_path)
    assert [f.rel for f in found.files] == ["fine.txt"]
    reasons = dict(found.failures)
    assert reasons[str(tmp_path / "caf\udce9.txt")] == "file name is not valid UTF-8; rename it"
    assert reasons[str(tmp_path / "dossier-\udcff")] == "folder name is not valid UTF-8; rename it"
    inside = tmp_path / "dossier-\udcff"
    assert scan(inside).failures == [(str(inside), "path is not valid UTF-8; rename it")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le"])
def test_utf16_with_a_byte_order_mark_is_text(tmp_path, encoding):
    text = "Sochi talks\n\nJune 17, 2022\n\nAbe met Putin in Sochi. Japan hopes for a deal.\n"
    bom = {"utf-16": b"", "utf-16-be": b"\xfe\xff", "utf-16-le": b"\xff\xfe"}[encoding]
    for name, content in (("a.txt", text), ("a.md", "---\ntitle: Sochi talks\n---\n" + text)):
        path = tmp_path / name
        path.write_bytes(bom + content.encode(encoding))
        article = read(path).articles[0]
        assert article.title == "Sochi talks" and "Abe met Putin in Sochi." in article.text
        assert "\ufeff" not in article.text


def test_utf16_html_and_jsonl(tmp_path):
    body = " ".join(["Japanese authorities assume Russia's crisis will make Putin flexible."] * 8)
    page = tmp_path / "page.html"
    page.write_bytes(
        f"<html><head><title>Abe in Sochi</title></head><body><article><p>{body}</p><p>{body}</p></article></body></html>".encode("utf-16")
    )
    assert "Putin flexible" in read(page).articles[0].text
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(('{"id": "a", "text": "One."}\n{"id": "b", "text": "Two."}\n').encode("utf-16"))
    assert [a.id for a in read(feed).articles] == ["a", "b"]
    feed.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "text": "One."}\n')  # a UTF-8 BOM
    assert [a.id for a in read(feed).articles] == ["a"]


def test_a_nul_byte_anywhere_makes_a_text_file_binary(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"Title\n\n" + b"A sentence about Sochi. " * 2000 + b"\x00 and more text.\n")
    assert path.stat().st_size > 8192
    with pytest.raises(ReadError, match="binary file"):
        read(path)
    page = tmp_path / "late.html"
    page.write_bytes(b"<html><body><p>" + b"Text about Sochi. " * 1000 + b"\x00</p></body></html>")
    with pytest.raises(ReadError, match="binary file"):
        read(page)


def test_size_limits_say_sizes_that_differ(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"Title\n\n" + b"x" * 1993)
    entry = scan(path).files[0]
    with pytest.raises(ReadError) as info:
        read_entry(entry, max_bytes=1_000)
    assert str(info.value) == "file too large (2.0 kB; the limit is 1.0 kB, QA_MAX_FILE_MB=0.001)"
    path.write_bytes(b"Title\n\n" + b"x" * 10_001_000)
    with pytest.raises(ReadError) as info:
        read_entry(scan(path).files[0], max_bytes=10_000_000)
    assert str(info.value) == "file too large (10,001,007 bytes; the limit is 10,000,000 bytes, QA_MAX_FILE_MB=10)"


def test_a_jsonl_file_has_a_size_limit_of_its_own(tmp_path):
    feed = tmp_path / "feed.jsonl"
    line = json.dumps({"id": "a", "text": "Some text about Sochi. " * 40}) + "\n"
    feed.write_text(line * 3)
    entry = scan(feed).files[0]
    assert len(read_entry(entry, max_bytes=10_000, max_jsonl_bytes=10_000).articles) == 3
    with pytest.raises(ReadError, match=r"file too large \(2\.8 kB; the limit is 2\.0 kB, QA_MAX_JSONL_MB=0\.002\)"):
        read_entry(entry, max_bytes=10_000, max_jsonl_bytes=2_000)
    result = read_entry(entry, max_bytes=500, max_jsonl_bytes=10_000)  # each line over the article limit
    assert not result.articles
    assert dict(result.failures)[f"{feed}:1"] == "line too large (944 bytes; the limit is 500 bytes, QA_MAX_FILE_MB=0.0005)"


def test_invalid_json_reasons_read_well(tmp_path):
    failures, _ = read_jsonl(tmp_path, ['{"id": "a", "text": "unterminated', '{"id": "b" "text": "x"}', "[1, 2]"])
    assert failures[1] == "invalid JSON (Unterminated string starting at column 21)"
    assert failures[2] == "invalid JSON (Expecting ',' delimiter at column 12)"
    assert failures[3] == "a line must be a JSON object"
