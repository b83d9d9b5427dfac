"""`qa feeds` and `qa fetch` against a real web site on localhost (tests/feed_server.py):
RSS 2.0, RDF and Atom, conditional GET, edits upstream, bad input, a fetch killed half way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from index import Index
from index.feeds import feeds_root
from tests.conftest import ROOT, cli_env, run_qa, seed_sentences
from tests.feed_server import Route, Site, serve

FAST = {"QA_FEED_HOST_DELAY": "0", "QA_FEED_TIMEOUT": "2"}


@pytest.fixture
def site():
    site = Site()
    server = serve(site)
    yield site
    server.shutdown()


@pytest.fixture
def settings(embedded_settings):
    return embedded_settings


def qa(args, settings, **env):
    return run_qa(args, settings, **{**FAST, **env})


def stories(site: Site, prefix: str, count: int, first: int = 0) -> list[dict]:
    """``count`` article pages of real sentences, and their feed items."""
    sentences = seed_sentences()
    items = []
    for n in range(first, first + count):
        title = f"{prefix} report {n}: Russia and Japan"
        paragraphs = [f"This is the {prefix} report number {n}."] + [
            sentences[(n * 4 + k) % len(sentences)] for k in range(6)
        ]
        link = site.page(f"/{prefix}/{n}", title, paragraphs)
        items.append({
            "title": title, "link": link, "id": f"urn:{prefix}:{n}", "summary": paragraphs[1],
            "date": "Wed, 01 May 2024 10:00:00 GMT",
        })
    return items


def fetch_json(settings, *names, **env) -> tuple[int, dict, str]:
    result = qa(["fetch", "--json", *names], settings, **env)
    return result.returncode, json.loads(result.stdout), result.stderr


def feed_articles(settings) -> list:
    idx = Index.open(settings=settings)
    return [a for a in idx.articles() if a.origin and a.origin.startswith(str(feeds_root(settings)))]


def test_rss_atom_and_rdf_are_read_and_a_second_fetch_adds_nothing(settings, site):
    site.feed("/rss.xml", "rss", stories(site, "rss", 2), etag='"r1"')
    atom = [dict(i, date="2024-05-02T08:00:00Z") for i in stories(site, "atom", 2)]
    site.feed("/atom.xml", "atom", atom)
    site.feed("/rdf.xml", "rdf", [dict(i, date="2024-05-03") for i in stories(site, "rdf", 2)])
    for name in ("rss", "atom", "rdf"):
        added = qa(["feeds", "add", site.url(f"/{name}.xml"), "--name", name], settings)
        assert added.returncode == 0, added.stderr

    code, data, stderr = fetch_json(settings)
    assert code == 0, stderr
    assert {f["name"]: (f["new"], f["failed"]) for f in data["feeds"]} == {
        "atom": (2, []), "rdf": (2, []), "rss": (2, []),
    }
    assert data["sync"]["added"] == 6
    articles = {a.id: a for a in feed_articles(settings)}
    assert len(articles) == 6 and {i.split("/")[0] for i in articles} == {"rss", "atom", "rdf"}
    one = next(a for a in articles.values() if a.id.startswith("atom/"))
    assert one.title.startswith("atom report") and one.date == "2024-05-02"
    assert one.url.startswith(site.base + "/atom/") and one.source == "Test Herald"
    assert "This is the atom report number" in one.text and "Copyright" not in one.text

    searched = json.loads(qa(["search", "--json", "the rdf report number 1"], settings).stdout)
    assert searched["passages"][0]["article_id"].startswith("rdf/")

    pages_before = len([h for h in site.hits if not h.path.endswith(".xml")])
    code, again, stderr = fetch_json(settings)
    assert code == 0, stderr
    assert {f["name"]: (f["new"], f["updated"]) for f in again["feeds"]} == {
        "atom": (0, 0), "rdf": (0, 0), "rss": (0, 0),
    }
    assert again["sync"]["added"] == 0 and again["sync"]["updated"] == 0
    assert len([h for h in site.hits if not h.path.endswith(".xml")]) == pages_before  # no page downloaded
    assert len(feed_articles(settings)) == 6

    listed = json.loads(qa(["feeds", "list", "--json"], settings).stdout)["feeds"]
    assert {f["name"]: f["articles"] for f in listed} == {"atom": 2, "rdf": 2, "rss": 2}


def test_an_unchanged_feed_costs_a_304_and_no_download(settings, site):
    site.feed("/rss.xml", "rss", stories(site, "etag", 2), etag='"v1"')
    qa(["feeds", "add", site.url("/rss.xml"), "--name", "news"], settings)
    assert fetch_json(settings)[0] == 0
    hits = len(site.hits)
    code, data, _ = fetch_json(settings)
    assert code == 0 and data["feeds"][0]["not_modified"] is True and data["feeds"][0]["new"] == 0
    assert [(h.path, h.status) for h in site.hits[hits:]] == [("/rss.xml", 304)]
    assert site.hits[hits].headers["if-none-match"] == '"v1"'
    assert site.hits[hits].headers["user-agent"].startswith("qa-news/")


def test_an_item_edited_upstream_updates_its_article(settings, site):
    items = stories(site, "edit", 2)
    site.feed("/rss.xml", "rss", items)
    qa(["feeds", "add", site.url("/rss.xml"), "--name", "news"], settings)
    assert fetch_json(settings)[0] == 0
    site.page("/edit/1", items[1]["title"], ["Correction: the summit moved to the city of Vladivostok in July."] * 12)
    items[1]["summary"] = "Correction: the summit moved."
    site.feed("/rss.xml", "rss", items)
    code, data, stderr = fetch_json(settings)
    assert code == 0, stderr
    assert (data["feeds"][0]["new"], data["feeds"][0]["updated"], data["feeds"][0]["unchanged"]) == (0, 1, 1)
    assert data["sync"]["updated"] == 1 and data["sync"]["added"] == 0
    articles = feed_articles(settings)
    assert len(articles) == 2
    edited = next(a for a in articles if "edit report 1" in a.title)
    assert "Vladivostok" in edited.text and "report number 1" not in edited.text


def test_the_same_article_in_two_feeds_is_stored_once(settings, site):
    items = stories(site, "shared", 2)
    site.feed("/one.xml", "rss", items)
    site.feed("/two.xml", "rss", [dict(i, id="other-" + i["id"]) for i in items])
    qa(["feeds", "add", site.url("/one.xml"), "--name", "one"], settings)
    qa(["feeds", "add", site.url("/two.xml"), "--name", "two"], settings)
    code, data, _ = fetch_json(settings)
    assert code == 0
    assert {f["name"]: (f["new"], f["duplicates"]) for f in data["feeds"]} == {"one": (2, 0), "two": (0, 2)}
    assert len(feed_articles(settings)) == 2


def test_bad_input_is_one_line_each_and_a_failing_feed_keeps_its_articles(settings, site, tmp_path):
    good = stories(site, "good", 2)
    site.feed("/good.xml", "rss", good)
    qa(["feeds", "add", site.url("/good.xml"), "--name", "good"], settings)
    assert fetch_json(settings)[0] == 0

    # the good feed now fails; new feeds are each broken in their own way
    site.routes["/good.xml"] = Route(b"oops", status=500, content_type="text/plain")
    site.routes["/malformed.xml"] = Route(b"<rss><channel><item><title>x</ti", content_type="application/rss+xml")
    site.page("/html-feed", "A home page", ["Welcome to the home page of the herald."])
    site.routes["/html-feed"].body = site.routes["/html-feed"].body.replace(
        b"<head>", b'<head><link rel="alternate" type="application/rss+xml" href="/real-feed.xml">'
    )
    site.routes["/loop"] = Route(status=302, location="/loop")
    site.routes["/slow"] = Route(b"<html><body><p>late</p></body></html>", delay=4)
    site.routes["/big"] = Route(b"<html><body>" + b"<p>word </p>" * 20_000 + b"</body></html>")
    site.routes["/report.pdf"] = Route(b"%PDF-1.4 ...", content_type="application/pdf")
    fine = stories(site, "fine", 1)
    items = fine + [
        {"title": "Loop", "link": site.url("/loop"), "id": "loop"},
        {"title": "Slow", "link": site.url("/slow"), "id": "slow"},
        {"title": "Big", "link": site.url("/big"), "id": "big"},
        {"title": "Pdf", "link": site.url("/report.pdf"), "id": "pdf"},
        {"title": "Gone", "link": site.url("/gone"), "id": "gone"},
        {"title": "No link at all", "id": "nolink"},
    ]
    site.feed("/mixed.xml", "rss", items)
    feeds = {
        "malformed": site.url("/malformed.xml"), "html": site.url("/html-feed"), "missing": site.url("/nope.xml"),
        "down": "http://127.0.0.1:9/feed.xml", "mixed": site.url("/mixed.xml"),
    }
    for name, url in feeds.items():
        assert qa(["feeds", "add", url, "--name", name], settings).returncode == 0
    taken = qa(["feeds", "add", site.url("/other.xml"), "--name", "good"], settings)
    assert taken.returncode == 1 and taken.stderr.count("\n") == 1 and "exists already" in taken.stderr

    code, data, stderr = fetch_json(settings, QA_FEED_MAX_MB="0.05")
    assert code == 1
    reasons = {f["name"]: [x["reason"] for x in f["failed"]] for f in data["feeds"]}
    assert reasons["good"] == ["HTTP 500 Internal Server Error"]
    assert reasons["malformed"][0].startswith("malformed feed")
    assert reasons["html"] == [f"an HTML page, not a feed; it links to a feed: {site.url('/real-feed.xml')}"]
    assert reasons["missing"] == ["HTTP 404 Not Found"]
    assert reasons["down"][0].startswith("cannot connect to 127.0.0.1:9")
    assert sorted(reasons["mixed"]) == sorted([
        "too many redirects (more than 5)",
        "no answer within 2 s (QA_FEED_TIMEOUT)",
        "larger than 0.05 MB (QA_FEED_MAX_MB)",
        "not an HTML page (content type application/pdf)",
        "HTTP 404 Not Found",
        "an item with no link and no text ('No link at all')",
    ])
    mixed = next(f for f in data["feeds"] if f["name"] == "mixed")
    assert mixed["new"] == 1
    assert stderr == ""
    text = qa(["fetch"], settings, QA_FEED_MAX_MB="0.05")  # the same failures, one line each
    assert text.returncode == 1
    lines = text.stderr.splitlines()
    assert len(lines) == sum(len(r) for r in reasons.values())
    assert all(line.startswith("failed: http") for line in lines), lines
    # nothing lost: the failing feed's articles are still indexed, the good item is added
    titles = sorted(a.title for a in feed_articles(settings))
    assert titles == sorted([i["title"] for i in good] + [fine[0]["title"]])

    listed = qa(["feeds", "list"], settings).stdout
    assert "last error: HTTP 500 Internal Server Error" in listed


def test_unknown_feed_names_and_urls_are_one_line_errors(settings, site):
    for args, words in (
        (["fetch"], "no feeds yet"),
        (["feeds", "add", "ftp://example.com/feed"], "not an http(s) URL"),
        (["feeds", "add", "http://example.com/feed", "--name", "bad name"], "must be 1-63 letters"),
        (["feeds", "remove", "nope"], "no feed named 'nope'"),
    ):
        result = qa(args, settings)
        assert result.returncode == 1, args
        assert result.stderr.startswith("qa: error:") and words in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    qa(["feeds", "add", "http://example.com/feed", "--name", "ex"], settings)
    result = qa(["fetch", "nope"], settings)
    assert result.returncode == 1 and "no feed named 'nope' (feeds: ex)" in result.stderr


def test_removing_a_feed_removes_its_articles_only(settings, site):
    site.feed("/a.xml", "rss", stories(site, "keep", 2))
    site.feed("/b.xml", "rss", stories(site, "drop", 2))
    qa(["feeds", "add", site.url("/a.xml"), "--name", "keep"], settings)
    qa(["feeds", "add", site.url("/b.xml"), "--name", "drop"], settings)
    assert fetch_json(settings)[0] == 0
    result = qa(["feeds", "remove", "drop"], settings)
    assert result.returncode == 0 and "its 2 articles" in result.stdout
    assert sorted(a.id.split("/")[0] for a in feed_articles(settings)) == ["keep", "keep"]
    assert not (feeds_root(settings) / "drop").exists()


def test_a_fetch_killed_half_way_is_finished_by_the_next_with_no_duplicate(settings, site):
    items = stories(site, "kill", 8)
    for n in range(8):
        site.routes[f"/kill/{n}"].delay = 0.4
    site.feed("/rss.xml", "rss", items)
    qa(["feeds", "add", site.url("/rss.xml"), "--name", "news"], settings)
    folder = feeds_root(settings) / "news"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "fetch"], env=cli_env(settings, **FAST), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and len(list(folder.glob("*.md"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(folder.glob("*.md")))
    assert 3 <= written < 8

    code, data, stderr = fetch_json(settings)
    assert code == 0, stderr
    # the one being written when it was killed may be written again (to the same file)
    assert 8 - written <= data["feeds"][0]["new"] <= 8 - written + 1
    files = sorted(folder.iterdir())
    assert len(files) == 8 and all(f.suffix == ".md" for f in files)  # no half-written file left
    articles = feed_articles(settings)
    assert len(articles) == 8 and len({a.title for a in articles}) == 8
    code, data, _ = fetch_json(settings)
    assert code == 0 and data["feeds"][0]["new"] == 0 and data["sync"]["added"] == 0
