"""Hybrid retrieval: exact spans, filters inside the stores, the lexical index in step,
near-duplicates collapsed, the LlamaIndex adapter, a light start-up path."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from index import Index
from qa import Passage, Retriever, SearchError
from tests.conftest import ROOT, SEED, cli_env, run_qa, write_corpus


@pytest.fixture
def seeded(embedded_settings):
    idx = Index.open(settings=embedded_settings)
    idx.sync([SEED.parent])
    return Retriever(idx)


def test_passages_point_at_exact_spans(seeded):
    passages = seeded.search("What does Japan expect from Sochi?", k=5)
    assert passages and all(isinstance(p, Passage) for p in passages)
    article = seeded.index.article(passages[0].article_id)
    for p in passages:
        assert article.text[p.start : p.end] == p.text
        assert p.title == "Putin’s New Eastward Pivot"
    assert "Japanese authorities assume" in " ".join(p.text for p in passages[:2])


def test_bad_queries_are_clear_errors(seeded):
    with pytest.raises(SearchError, match="empty"):
        seeded.search("   ")
    with pytest.raises(SearchError, match="date like"):
        seeded.search("Japan", since="last week")


def _wire_corpus(folder, count=60):
    """Many strongly matching articles from one source and date, one from another."""
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"a{n:03d}.md").write_text(
            f"---\ntitle: Kurile islands dispute, part {n}\nsource: Wire\ndate: 2022-06-{1 + n % 20:02d}\n---\n"
            f"Japan and Russia argue over the Kurile islands again, report {n} says. "
            f"Talks number {n} on the islands ended without a deal.\n"
        )
    (folder / "other.md").write_text(
        "---\ntitle: A quieter note\nsource: Gazette\ndate: 2021-01-05\n---\n"
        "The Kurile islands were mentioned once at a fisheries meeting in Sapporo.\n"
    )


def _synced(settings, folder) -> Index:
    idx = Index.open(settings=settings)
    assert not idx.sync([folder]).failed
    return idx


def test_filters_apply_inside_the_stores_before_top_k(embedded_settings, tmp_path):
    folder = tmp_path / "news"
    _wire_corpus(folder)
    retriever = Retriever(_synced(embedded_settings, folder))
    query = "Japan Russia Kurile islands talks"
    assert retriever.search(query, k=1, sources=["Gazette"])[0].article_id == "other.md"
    old = retriever.search(query, k=5, until="2021-12-31")
    assert [p.article_id for p in old] == ["other.md"]
    recent = retriever.search(query, k=50, since="2022-06-19")
    assert recent and all(p.date >= "2022-06-19" for p in recent)
    only = retriever.search(query, k=3, article_ids=["a007.md"])
    assert {p.article_id for p in only} == {"a007.md"}


@pytest.mark.parametrize("path", ["by ids", "deeper list, then by ids", "deeper list, then Chroma's filter"])
def test_a_filter_that_passes_few_of_the_top_hits_still_finds_them(embedded_settings, tmp_path, monkeypatch, path):
    """A narrow filter searches among the chunks it lets through, by id; a broad one looks
    deeper in an unfiltered list first and, when too few pass, the stores filter (what a
    big index hits; here the lists are made short)."""
    import index.lexical
    import qa.retrieval

    folder = tmp_path / "news"
    _wire_corpus(folder, count=30)
    idx = _synced(embedded_settings, folder)
    if path != "by ids":
        monkeypatch.setattr(qa.retrieval, "BY_IDS", 0)
        monkeypatch.setattr(qa.retrieval, "MAX_PROBE", 2)
        monkeypatch.setattr(index.lexical, "MAX_DEPTH", 2)  # the lexical side filters its query too
    if path == "deeper list, then Chroma's filter":
        monkeypatch.setattr(qa.retrieval, "BY_IDS_AT_MOST", 0)
    monkeypatch.setattr(qa.retrieval, "CANDIDATES", 3)
    monkeypatch.setattr(qa.retrieval, "DEEPER", 1)
    monkeypatch.setattr(index.lexical, "DEEPER", 1)
    retriever = Retriever(idx)
    query = "Japan Russia Kurile islands talks"
    assert "other.md" not in [p.article_id for p in retriever.search(query, k=3)]
    assert [p.article_id for p in retriever.search(query, k=3, sources=["Gazette"])] == ["other.md"]
    assert [p.article_id for p in retriever.search(query, k=3, until="2021-12-31")] == ["other.md"]


def _weekly_updates(folder):
    """The same story told in three weeks: the wording differs a little, the date more."""
    folder.mkdir(parents=True)
    for day, (name, outcome) in {
        "2022-05-02": ("may", "talks on the Kurile islands broke off without a deal"),
        "2022-06-13": ("june", "talks on the Kurile islands resumed in Tokyo"),
        "2022-08-22": ("august", "talks on the Kurile islands ended with a fishing accord"),
    }.items():
        (folder / f"{name}.md").write_text(
            f"---\ntitle: Japan and Russia, week of {day}\nsource: Wire\ndate: {day}\n---\n"
            f"Japan and Russia: {outcome}, officials said.\n"
        )


def test_as_of_leaves_out_later_articles_and_recent_prefers_newer(embedded_settings, tmp_path):
    folder = tmp_path / "weeks"
    _weekly_updates(folder)
    retriever = Retriever(_synced(embedded_settings, folder))
    query = "talks between Japan and Russia on the Kurile islands"
    ids = lambda **kw: [p.article_id for p in retriever.search(query, k=3, **kw)]  # noqa: E731
    assert set(ids(as_of="2022-06-16")) == {"may.md", "june.md"}  # August is not known yet
    assert ids(as_of="2022-06-16", recent=True)[0] == "june.md"
    assert ids(recent=True)[0] == "august.md"  # counted from the newest article found
    # "this week" asks for recent news by itself; the same question without it does not
    worded = retriever.search(query + " this week", k=3, as_of="2022-08-25")
    assert worded[0].article_id == "august.md"
    assert worded[0].score > retriever.search(query, k=3, as_of="2022-08-25", recent=False)[0].score
    with pytest.raises(SearchError, match="as-of must be a date"):
        retriever.search(query, as_of="next Monday")


def test_lexical_index_follows_every_sync_incrementally(embedded_settings, tmp_path):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=6)
    idx = Index.open(settings=embedded_settings)
    idx.sync([folder])

    def lexical_ids():
        return {row[0] for row in idx.lexical.db.execute("SELECT chunk_id FROM fts")}

    assert lexical_ids() == set(idx._store.chunks.get(include=[])["ids"])
    files["article-002.txt"].unlink()
    files["article-003.txt"].write_text("Changed\n\nZanzibar cloves reached record prices.\n")
    idx.sync([folder])
    assert lexical_ids() == set(idx._store.chunks.get(include=[])["ids"])
    hits = Retriever(idx).search("Zanzibar cloves", k=1)
    assert hits[0].article_id == "article-003.txt"
    # a no-change sync writes nothing; the next diff touches only what changed
    before = idx.lexical.synced_to()
    idx.sync([folder])
    assert idx.lexical.synced_to() == before
    files["article-004.txt"].write_text("Edited\n\nA note on tea.\n")
    report = idx.sync([folder])
    assert report.updated == ["article-004.txt"]
    written, deleted = idx.lexical.sync_from(idx._store, "check")
    assert (written, deleted) == (0, 0)


def test_a_full_diff_repairs_exactly_the_rows_that_differ(embedded_settings, tmp_path):
    """The fallback when the change log does not cover a client's gap: one pass over the
    collection rewrites the rows missing, stale or changed, and no other."""
    folder = tmp_path / "news"
    write_corpus(folder, count=4)
    idx = Index.open(settings=embedded_settings)
    idx.sync([folder])
    db = idx.lexical.db

    def rows() -> dict[str, tuple]:
        return {r[0]: r[1:] for r in db.execute("SELECT chunk_id, article_id, date, source, title, text FROM fts")}

    right = rows()
    gone, retitled = sorted(right)[:2]
    idx.lexical._delete([gone])
    with db:
        db.execute("UPDATE fts SET title = 'Wrong' WHERE chunk_id = ?", (retitled,))
    idx.lexical._insert([("nosuch:0", "A chunk the collection never had.", "nosuch.txt", None, None, "")])
    written, deleted = idx.lexical.sync_from(idx._store, "repaired")
    assert (written, deleted) == (2, 2)  # the missing row and the changed one; the changed one and the extra
    assert rows() == right
    assert idx.lexical.count() == idx.counts()[1] and idx.lexical.synced_to() == "repaired"


def test_near_duplicate_wire_stories_collapse(embedded_settings, tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    story = SEED.read_text(encoding="utf-8").split("\n\n")[2]
    (folder / "wire-a.txt").write_text("Agency copy\n\n" + story + "\n")
    (folder / "wire-b.txt").write_text("Reprinted story\n\n" + story + " Reprinted with permission.\n")
    (folder / "other.txt").write_text("Other\n\nJapan's businesses dislike Russia's investment climate.\n")
    idx = Index.open(settings=embedded_settings)
    idx.sync([folder])
    found = Retriever(idx).search("Japanese authorities expect Putin to be flexible on the Kurile Islands", k=3)
    ids = [p.article_id for p in found]
    assert len({"wire-a.txt", "wire-b.txt"} & set(ids)) == 1, ids


def test_as_llamaindex_is_a_base_retriever(seeded):
    from llama_index.core.retrievers import BaseRetriever

    adapter = seeded.as_llamaindex(k=2)
    assert isinstance(adapter, BaseRetriever)
    nodes = adapter.retrieve("Lavrov and THAAD")
    assert len(nodes) == 2 and "article_id" in nodes[0].node.metadata
    assert nodes[0].node.get_content() in SEED.read_text(encoding="utf-8")


def test_retriever_sees_a_sync_made_by_another_process(embedded_settings, tmp_path):
    retriever = Retriever(Index.open(settings=embedded_settings))
    retriever.index.sync([SEED.parent])
    assert retriever.search("Lavrov", k=1)
    folder = tmp_path / "later"
    folder.mkdir()
    (folder / "new.txt").write_text("Breaking\n\nA typhoon named Nanmadol struck Kyushu.\n")
    assert run_qa(["index", str(folder)], embedded_settings).returncode == 0
    assert retriever.search("typhoon Nanmadol Kyushu", k=1)[0].article_id == "new.txt"


def test_cli_search_json_and_batch(embedded_settings, tmp_path):
    result = run_qa(["search", "--json", "-k", "2", "Japan Sochi"], embedded_settings)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "Japan Sochi" and len(data["passages"]) == 2
    assert set(data["passages"][0]) >= {"article_id", "title", "url", "date", "source", "text", "start", "end", "score"}
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": "q1", "question": "Who is Lavrov?"}\nnot json\n{"id": "q3", "question": "THAAD"}\n')
    out = run_qa(["search", "--batch", str(batch), "-k", "1"], embedded_settings)
    assert out.returncode == 1  # a line failed; every line still answered, in order
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x.get("id") for x in lines] == ["q1", None, "q3"]
    assert "error" in lines[1] and len(lines[2]["passages"]) == 1
    bad = run_qa(["search", "--since", "yesterday", "x"], embedded_settings)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    dated = tmp_path / "dated.jsonl"
    dated.write_text('{"id": "d1", "question": "Lavrov", "as_of": "2000-01-01"}\n')
    out = run_qa(["search", "--batch", str(dated), "--recent"], embedded_settings)
    assert json.loads(out.stdout)["passages"] == []  # nothing was published by then


def test_search_start_up_path_stays_light(embedded_settings):
    Index.open(settings=embedded_settings).embedder.load()  # the one-off ONNX export needs torch
    code = (
        "import sys; from qa.cli import cli\n"
        "try: cli(['search', '--json', 'Japan'], standalone_mode=False)\n"
        "finally: print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'llama_index', 'textual') if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(embedded_settings), cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "[]"


def two_clients(chroma_server, model_cache, tmp_path):
    """Two data dirs (two machines, each with its own lexical index), one Chroma server."""
    from index import Settings

    common = {"model_cache_dir": model_cache, "chroma_url": chroma_server, "collection": f"t{uuid.uuid4().hex[:8]}"}
    writer = Index.open(settings=Settings(data_dir=tmp_path / "writer", **common))
    reader = Retriever(Index.open(settings=Settings(data_dir=tmp_path / "reader", **common)))
    return writer, reader


def counting_diffs(monkeypatch) -> list:
    """Record every full diff of a lexical index against the collection."""
    from index.lexical import LexicalIndex

    calls: list = []
    original = LexicalIndex.sync_from

    def sync_from(self, store, marker):
        calls.append(self.path)
        return original(self, store, marker)

    monkeypatch.setattr(LexicalIndex, "sync_from", sync_from)
    return calls


def test_a_second_client_sees_new_articles_at_the_cost_of_the_change(chroma_server, model_cache, tmp_path, monkeypatch):
    """Issue 14, item 4: a client searching a collection another client syncs finds the
    new, edited and removed articles in its next search, from the change log, without
    diffing its lexical index against the whole collection."""
    folder = tmp_path / "news"
    write_corpus(folder, count=4)
    writer, reader = two_clients(chroma_server, model_cache, tmp_path)
    writer.sync([folder])
    assert reader.search("Russia and Asia", k=3)  # its lexical index is filled here
    (folder / "volcano.txt").write_text("Kamchatka eruption\n\nThe Klyuchevskoy volcano erupted on Tuesday.\n")
    edited = folder / "article-001.txt"
    edited.write_text(edited.read_text() + "\nThe Zarubino port deal was signed.\n")
    (folder / "article-002.txt").unlink()
    writer.sync([folder])
    diffs = counting_diffs(monkeypatch)
    assert reader.search("Klyuchevskoy volcano eruption", k=3)[0].article_id == "volcano.txt"
    assert reader.search("Zarubino port deal", k=3)[0].article_id == "article-001.txt"
    assert diffs == []  # caught up from the change log
    lexical = reader.index.lexical
    assert lexical.count() == reader.index.counts()[1]
    gone = "SELECT count(*) FROM chunks WHERE article_id = 'article-002.txt'"
    assert lexical.db.execute(gone).fetchone()[0] == 0
    # A write that died half way leaves no log entry: the next search diffs everything.
    writer._begin_write()
    (folder / "article-003.txt").unlink()
    writer.sync([folder])
    assert reader.search("Report number 3 Russia", k=10)
    assert diffs.count(reader.index.lexical.path) == 1
    assert "article-003.txt" not in {p.article_id for p in reader.search("Report number 3 Russia", k=10)}
    assert lexical.count() == reader.index.counts()[1]
