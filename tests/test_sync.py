"""The index equals a clean build of the same files after any sequence of changes,
crashes and concurrent syncs; against embedded Chroma and a Chroma server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from index import ArticleNotFound, Index, ModelMismatch, SyncBusy, SyncReport
from tests.conftest import ROOT, SEED, cli_env, run_qa, write_corpus


def snapshot(idx: Index) -> dict:
    """Everything stored, but vectors (compared separately, within float noise) and the
    arrival time (present on every article, checked on its own)."""
    arts = idx._store.articles_collection.get(include=["metadatas", "documents"])
    chunks = idx._store.chunks.get(include=["metadatas", "documents"])
    assert all(isinstance(m.get("added_at"), int) for m in arts["metadatas"])
    arrival = [{k: v for k, v in m.items() if k != "added_at"} for m in arts["metadatas"]]
    return {
        "articles": {i: (m, d) for i, m, d in zip(arts["ids"], arrival, arts["documents"])},
        "chunks": {i: (m, d) for i, m, d in zip(chunks["ids"], chunks["metadatas"], chunks["documents"])},
    }


def vectors(idx: Index) -> dict[str, np.ndarray]:
    got = idx._store.chunks.get(include=["embeddings"])
    return {i: np.asarray(v) for i, v in zip(got["ids"], got["embeddings"])}


def reopen(settings) -> Index:
    """Open as a new process would: drop this process's cached view of embedded Chroma."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return Index.open(settings=settings)


def clean_build(make_settings, paths) -> Index:
    idx = Index.open(settings=make_settings())
    report = idx.sync(paths)
    assert not report.failed
    return idx


def assert_equal_to_clean_build(idx: Index, make_settings, paths) -> None:
    clean = clean_build(make_settings, paths)
    got, want = snapshot(idx), snapshot(clean)
    assert sorted(got["articles"]) == sorted(want["articles"])
    assert sorted(got["chunks"]) == sorted(want["chunks"])
    for part in ("articles", "chunks"):
        for key, value in want[part].items():
            assert got[part][key] == value, (part, key)
    got_v, want_v = vectors(idx), vectors(clean)
    for chunk_id, vector in want_v.items():
        assert float(np.dot(vector, got_v[chunk_id])) > 0.9999


def test_sync_sequence_equals_clean_build(make_settings, tmp_path):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=8)
    idx = Index.open(settings=make_settings())
    first = idx.sync([folder])
    assert len(first.added) == 8 and not first.failed
    n_chunks = idx.status()["chunks"]
    assert n_chunks >= 8

    # edit one, delete one, rename one, add one, copy one under a new name
    files["article-001.txt"].write_text("Edited\n\nTokyo expects nothing at all from this meeting.\n")
    files["article-002.txt"].unlink()
    files["article-003.txt"].rename(folder / "renamed-003.txt")
    write_corpus(folder, count=1, offset=20)
    shutil.copy(files["article-004.txt"], folder / "copy-of-004.txt")
    second = idx.sync([folder])
    assert second.updated == ["article-001.txt"]
    assert set(second.removed) == {"article-002.txt", "article-003.txt"}
    assert set(second.added) == {"renamed-003.txt", "article-020.txt", "copy-of-004.txt"}
    # the renamed and the copied article reuse the vectors already stored
    assert second.chunks_embedded <= 3
    assert_equal_to_clean_build(idx, make_settings, [folder])

    # re-sync with nothing changed: nothing touched
    third = idx.sync([folder])
    assert (third.added, third.updated, third.removed) == ([], [], [])
    assert len(third.unchanged) == 9
    assert_equal_to_clean_build(idx, make_settings, [folder])


def test_the_manifest_plans_like_the_collection_and_never_goes_stale(make_settings, tmp_path, monkeypatch):
    """Issue 14: a sync plans from this client's copy of the article records when it is
    in step (no read of every record), and from the collection after a write it did not
    see: another client's sync, or a damaged copy."""
    from index.store import Store

    folder = tmp_path / "news"
    files = write_corpus(folder, count=4)
    settings = make_settings()
    idx = Index.open(settings=settings)
    idx.sync([folder])
    full_reads: list[int] = []
    original = Store.stored_articles
    monkeypatch.setattr(Store, "stored_articles", lambda self: full_reads.append(1) or original(self))
    write_corpus(folder, count=1, offset=30)
    assert idx.sync([folder]).added == ["article-030.txt"]
    assert idx.sync([folder]).unchanged and full_reads == []  # planned from the copy
    # Another writer: a client with its own data dir (and copy) on the server; another
    # process on the same data dir (the same copy, which that process brought forward).
    if settings.chroma_url:
        other, expected_reads = Index.open(settings=settings.model_copy(update={"data_dir": tmp_path / "elsewhere"})), 1
    else:
        other, expected_reads = Index.open(settings=settings), 0
    files["article-001.txt"].write_text("Edited elsewhere\n\nTokyo expects a summit.\n")
    assert other.sync([folder]).updated == ["article-001.txt"]
    full_reads.clear()
    again = idx.sync([folder])
    assert (again.added, again.updated, again.removed) == ([], [], [])
    assert len(full_reads) == expected_reads
    idx.manifest.path.write_text("{not json")
    files["article-002.txt"].unlink()
    assert idx.sync([folder]).removed == ["article-002.txt"]
    assert_equal_to_clean_build(idx, make_settings, [folder])


def test_an_edit_re_embeds_only_the_chunks_that_changed(make_settings, tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    seed = SEED.read_text(encoding="utf-8")
    path = folder / "long.txt"
    path.write_text(seed + "\n\n" + seed)
    idx = Index.open(settings=make_settings())
    first = idx.sync([folder])
    assert first.chunks_embedded >= 5
    path.write_text(seed + "\n\n" + seed + "\n\nA closing paragraph about Vladivostok was added.\n")
    second = idx.sync([folder])
    assert second.updated == ["long.txt"]
    # the opening chunks are the same text: their vectors are reused, not recomputed
    assert second.chunks_reused >= first.chunks_embedded - 2
    assert 1 <= second.chunks_embedded <= 2
    assert_equal_to_clean_build(idx, make_settings, [folder])


def test_same_text_under_two_names_is_stored_once(make_settings, tmp_path):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=2)
    shutil.copy(files["article-000.txt"], folder / "zz-copy.txt")
    idx = Index.open(settings=make_settings())
    idx.sync([folder])
    chunks = idx._store.chunks.get(include=["documents", "metadatas"])
    assert len(chunks["documents"]) == len(set(chunks["documents"]))
    assert idx.article("zz-copy.txt").text == idx.article("article-000.txt").text
    # the canonical owner of the shared chunks is the smallest id; deleting it hands them on
    owners = {m["article_id"] for m in chunks["metadatas"]}
    assert "zz-copy.txt" not in owners
    files["article-000.txt"].unlink()
    idx.sync([folder])
    owners = {m["article_id"] for m in idx._store.chunks.get(include=["metadatas"])["metadatas"]}
    assert "zz-copy.txt" in owners
    assert_equal_to_clean_build(idx, make_settings, [folder])


def test_removal_is_scoped_to_the_synced_folder(make_settings, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_corpus(a, count=2)
    (b / "sub").mkdir(parents=True)
    (b / "sub" / "only-in-b.txt").write_text("Only in B\n\nLavrov spoke in Beijing about missile defence.\n")
    idx = Index.open(settings=make_settings())
    idx.sync([a])
    idx.sync([b])
    assert {x.id for x in idx.articles()} == {"article-000.txt", "article-001.txt", "sub/only-in-b.txt"}
    # syncing b again (now empty) removes only b's article
    (b / "sub" / "only-in-b.txt").unlink()
    report = idx.sync([b])
    assert report.removed == ["sub/only-in-b.txt"]
    assert {x.id for x in idx.articles()} == {"article-000.txt", "article-001.txt"}
    # a file of a synced folder keeps the folder's id when synced alone
    (a / "article-000.txt").write_text("Changed\n\nNew text about Sochi and the islands.\n")
    report = idx.sync([a / "article-000.txt"])
    assert report.updated == ["article-000.txt"] and not report.removed
    # no paths: every folder synced before
    report = idx.sync()
    assert not report.failed and len(report.unchanged) == 2


def test_unchanged_sync_does_not_load_the_model(make_settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=3)
    settings = make_settings()
    Index.open(settings=settings).sync([folder])
    fresh = Index.open(settings=settings)
    report = fresh.sync([folder])
    assert len(report.unchanged) == 3
    loaded = set(fresh.embedder.__dict__)
    assert not loaded & {"_session", "_st_model", "tokenizer"}, loaded


def test_a_sync_leaves_the_process_as_it_found_it(make_settings, tmp_path, monkeypatch):
    """Planning runs with the cyclic collector off and the vector index loading in a
    thread: both are undone when it ends, also when it fails, and a collector the caller
    turned off stays off."""
    import gc
    import threading

    from index.sync import Syncer

    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    idx = Index.open(settings=make_settings())
    idx.sync([folder])
    assert gc.isenabled()

    def fail(*args, **kwargs):
        raise RuntimeError("planning failed")

    monkeypatch.setattr(Syncer, "plan", fail)
    with pytest.raises(RuntimeError):
        idx.sync([folder])
    assert gc.isenabled()
    assert not [t for t in threading.enumerate() if t.name == "qa-preload"]
    monkeypatch.undo()
    gc.disable()
    try:
        write_corpus(folder, count=1, offset=5)
        assert idx.sync([folder]).added == ["article-005.txt"]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_sync_loads_the_vector_index_early_only_when_a_folder_changed(make_settings, tmp_path, monkeypatch):
    """The early load costs a sync that finds nothing (1.1 GB at 100,000 articles), so it
    starts only when a synced folder's listing moved since the last sync; an edit in
    place is synced all the same, without it."""
    from index.store import Store

    folder = tmp_path / "news"
    write_corpus(folder / "2022", count=3)
    idx = Index.open(settings=make_settings())
    idx.sync([folder])
    past = time.time() - 3600  # the listings as they were well before that sync
    for path in (folder, folder / "2022"):
        os.utime(path, (past, past))
    calls = []
    original = Store.preload_vectors
    monkeypatch.setattr(Store, "preload_vectors", lambda self: calls.append(1) or original(self))

    def sync() -> tuple[SyncReport, bool]:
        calls.clear()
        return idx.sync([folder]), bool(calls)

    report, early = sync()
    assert len(report.unchanged) == 3 and not early
    with open(folder / "2022" / "article-000.txt", "a", encoding="utf-8") as f:
        f.write("An edit in place.\n")
    report, early = sync()
    assert report.updated == ["2022/article-000.txt"] and not early
    write_corpus(folder / "2023", count=1, offset=7)  # a new folder: the root's listing moved
    report, early = sync()
    assert report.added == ["2023/article-007.txt"] and early
    for path in (folder, folder / "2022", folder / "2023"):
        os.utime(path, (past, past))
    (folder / "2022" / "article-001.txt").unlink()
    report, early = sync()
    assert report.removed == ["2022/article-001.txt"] and early
    (folder / "2024").mkdir()  # an empty folder, seen by the next sync...
    report, early = sync()
    assert not (report.added or report.updated or report.removed)
    for path in (folder, folder / "2022", folder / "2023", folder / "2024"):
        os.utime(path, (past, past))
    write_corpus(folder / "2024", count=1, offset=8)  # ...then a file lands in it
    report, early = sync()
    assert report.added == ["2024/article-008.txt"] and early


def test_sources_and_canonical_ids_follow_every_write(make_settings, tmp_path):
    """Read from the data folder's copy of the records when it is in step; a write by
    another client (here: another Index on the same store) is seen all the same."""
    folder = tmp_path / "news"
    folder.mkdir()
    for name, source, text in (("a.md", "Kommersant", "Japan and Russia met in Sochi."),
                               ("b.md", "Kommersant", "Japan and Russia met in Sochi."),
                               ("c.md", "TASS", "China and Russia met in Beijing.")):
        (folder / name).write_text(f"---\ntitle: Talks\nsource: {source}\n---\n\n{text}\n")
    settings = make_settings()
    idx = Index.open(settings=settings)
    idx.sync([folder])
    assert idx.sources() == {"Kommersant": 2, "TASS": 1}
    assert idx.canonical_ids() == {"a.md": "a.md", "b.md": "a.md", "c.md": "c.md"}  # one text, filed under a.md
    (folder / "a.md").unlink()
    if settings.chroma_url:  # another machine: its own data folder, so its own copy
        other = Index.open(settings=settings.model_copy(update={"data_dir": tmp_path / "other"}))
    else:
        other = reopen(settings)
    other.sync([folder])
    assert idx.sources() == {"Kommersant": 1, "TASS": 1}
    assert idx.canonical_ids() == {"b.md": "b.md", "c.md": "c.md"}


def test_dry_run_changes_nothing(make_settings, tmp_path):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=3)
    idx = Index.open(settings=make_settings())
    idx.sync([folder])
    before = snapshot(idx)
    files["article-000.txt"].unlink()
    write_corpus(folder, count=1, offset=9)
    report = idx.sync([folder], dry_run=True)
    assert report.removed == ["article-000.txt"] and report.added == ["article-009.txt"]
    assert snapshot(idx) == before


def test_rebuild_and_remove(make_settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=3)
    idx = Index.open(settings=make_settings())
    idx.sync([folder])
    report = idx.sync(rebuild=True)
    assert len(report.added) == 3
    idx.remove("article-001.txt")
    assert {a.id for a in idx.articles()} == {"article-000.txt", "article-002.txt"}
    with pytest.raises(ArticleNotFound):
        idx.article("article-001.txt")
    keys = {m["chunk_key"] for m in idx._store.chunks.get(include=["metadatas"])["metadatas"]}
    assert keys == {r.chunk_key for r in idx._store.stored_articles().values()}


def test_another_model_is_a_clear_error(make_settings, tmp_path):
    settings = make_settings()
    idx = Index.open(settings=settings)
    idx._store.chunks.modify(metadata={"qa_schema": 1, "qa_model": "BAAI/bge-small-en", "qa_dim": 384})
    with pytest.raises(ModelMismatch, match="rebuild"):
        Index.open(settings=settings)
    result = run_qa(["status"], settings)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "qa index --rebuild" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_collection_keeps_the_embedder_that_built_it(make_settings, tmp_path):
    """Issue 14: new collections are built by the int8 embedder; one built by the other
    precision is searched with its own, a sync with the other says how to rebuild, and
    the rebuild it names switches the collection over."""
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    settings = make_settings()
    assert run_qa(["index", str(folder)], settings).returncode == 0
    assert reopen(settings).status()["precision"] == "int8"
    refused = run_qa(["index", str(folder)], settings, QA_EMBED_PRECISION="fp32")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "built with the int8 embedder, not fp32" in refused.stderr
    command = refused.stderr.split("rebuild it with: ", 1)[1].strip()
    assert run_qa(command.split()[1:], settings, QA_EMBED_PRECISION="fp32").returncode == 0
    idx = reopen(settings)
    assert idx.status()["precision"] == "fp32" and len(ids(idx)) == 2
    # Queries use the collection's own embedder, whatever the setting says.
    as_int8 = Index.open(settings=settings.model_copy(update={"embed_precision": "int8"}))
    assert as_int8.embedder.precision == "fp32"
    found = run_qa(["search", "Report number 1 Russia", "--json"], settings, QA_EMBED_PRECISION="int8")
    assert found.returncode == 0, found.stderr
    # A collection from before int8 (no precision recorded) was built by fp32.
    meta = {k: v for k, v in idx._store.chunks.metadata.items() if k != "qa_precision"}
    idx._store.chunks.modify(metadata=meta)
    assert reopen(settings).embedder.precision == "fp32"


# -- crashes and concurrency -----------------------------------------------------------

CRASH_POINTS = ["chunks-written:2", "articles-written:1", "before-remove", "before-gc", "before-finish"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_then_resync_equals_clean_build(make_settings, tmp_path, point):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=6)
    settings = make_settings(sync_batch_articles=2)
    Index.open(settings=settings).sync([folder])
    # a second round of changes, killed part way
    for name in ("article-000.txt", "article-001.txt"):
        files[name].write_text(f"Rewritten {name}\n\nJapan hopes for a deal on the islands.\n")
    files["article-005.txt"].unlink()
    write_corpus(folder, count=4, offset=30)
    killed = run_qa(["index", str(folder)], settings, QA_CRASH_AT=point, QA_SYNC_BATCH_ARTICLES="2")
    assert killed.returncode == -9, killed.stderr
    again = run_qa(["index", "--json", str(folder)], settings)
    assert again.returncode == 0, again.stderr
    assert_equal_to_clean_build(reopen(settings), make_settings, [folder])


def test_sigkill_at_random_moments(make_settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=24)
    settings = make_settings(sync_batch_articles=2)
    for delay in (1.5, 2.5, 3.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "index", "--rebuild", str(folder)],
            env=cli_env(settings, QA_SYNC_BATCH_ARTICLES="2"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.kill()
        proc.wait()
    final = run_qa(["index", str(folder)], settings)
    assert final.returncode == 0, final.stderr
    assert_equal_to_clean_build(reopen(settings), make_settings, [folder])


def test_second_sync_waits_its_turn(make_settings, tmp_path):
    from filelock import FileLock

    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    settings = make_settings()
    identity = Index.open(settings=settings)._store.identity
    held = FileLock(str(settings.data_dir / "locks" / f"{settings.collection}-{identity}.lock"))
    with held:
        busy = run_qa(["index", str(folder)], settings)
        with pytest.raises(SyncBusy):
            Index.open(settings=settings).sync([folder])
    assert busy.returncode == 75
    assert "another sync" in busy.stderr and busy.stderr.count("\n") == 1
    assert Index.open(settings=settings).status()["articles"] == 0


def test_two_syncs_at_once_never_duplicate(make_settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=12)
    settings = make_settings()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "qa.cli", "index", "--json", str(folder)],
            env=cli_env(settings),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 75]), results
    assert_equal_to_clean_build(reopen(settings), make_settings, [folder])


@pytest.mark.parametrize("store_kind", ["embedded"], indirect=False)
def test_works_with_the_network_cut(make_settings, tmp_path):
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("unshare -n is not permitted here")
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    settings = make_settings()
    Index.open(settings=settings).embedder.load()  # export the ONNX model beforehand
    env = cli_env(settings)
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "qa.cli", "index", "--json", str(folder)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"added": 2' in result.stdout


def test_telemetry_is_off(make_settings):
    idx = Index.open(settings=make_settings())
    assert idx._store.client.get_settings().anonymized_telemetry is False
    assert os.environ.get("ANONYMIZED_TELEMETRY") == "False"


# -- roots: what a later bare `qa index` and `--rebuild` sync -------------------------


def ids(idx: Index) -> set[str]:
    return {a.id for a in idx.articles()}


def test_rebuild_with_a_path_keeps_every_synced_root(make_settings, tmp_path):
    """Issue 11, item 4: `qa index --rebuild PATH` dropped every other synced folder."""
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_corpus(a, count=2)
    write_corpus(b, count=2, offset=10)
    write_corpus(c, count=1, offset=20)
    settings = make_settings()
    idx = Index.open(settings=settings)
    idx.sync([a])
    idx.sync([b])
    result = run_qa(["index", "--rebuild", "--json", str(c)], settings)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["added"], report["removed"]) == (5, 0)
    idx = reopen(settings)
    assert sorted(idx.roots()) == sorted(str(p) for p in (a, b, c))
    assert len(ids(idx)) == 5
    # a synced folder that is gone is said so, and is no longer synced
    shutil.rmtree(b)
    report = idx.sync(rebuild=True)
    assert report.failed == [{"path": str(b), "reason": "synced before, now gone: no longer synced"}]
    assert sorted(report.removed) == ["article-010.txt", "article-011.txt"]
    assert sorted(idx.roots()) == sorted([str(a), str(c)]) and len(ids(idx)) == 3


def test_rebuild_after_a_model_change_keeps_the_roots(make_settings, tmp_path):
    """The model-mismatch message's own command works, and keeps what was synced."""
    a, b = tmp_path / "a", tmp_path / "b"
    write_corpus(a, count=2)
    write_corpus(b, count=1, offset=10)
    settings = make_settings()
    idx = Index.open(settings=settings)
    idx.sync([a])
    idx.sync([b])
    idx._store.chunks.modify(metadata={"qa_schema": 1, "qa_model": "BAAI/bge-small-en", "qa_dim": 384})
    mismatch = run_qa(["search", "Japan"], settings)
    assert mismatch.returncode == 1
    command = mismatch.stderr.split("rebuild it with: ", 1)[1].strip()
    assert command == f"qa index --rebuild --collection {settings.collection}"
    rebuilt = run_qa(command.split()[1:], settings)
    assert rebuilt.returncode == 0, rebuilt.stderr
    idx = reopen(settings)
    assert idx.status()["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert sorted(idx.roots()) == sorted([str(a), str(b)]) and len(ids(idx)) == 3


def test_indexing_one_file_registers_that_file_not_its_folder(make_settings, tmp_path):
    """Issue 11, item 6: a later bare `qa index` added the file's siblings."""
    folder = tmp_path / "news"
    write_corpus(folder, count=3)
    (folder / "feed.jsonl").write_text(json.dumps({"id": "j1", "text": "Japan and Russia met."}) + "\n")
    settings = make_settings()
    assert run_qa(["index", str(folder / "article-001.txt")], settings).returncode == 0
    assert run_qa(["index", str(folder / "feed.jsonl")], settings).returncode == 0
    again = run_qa(["index", "--json"], settings)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["added"] == 0
    idx = reopen(settings)
    assert ids(idx) == {"article-001.txt", "j1"}
    assert sorted(idx.roots()) == sorted([str(folder / "article-001.txt"), str(folder / "feed.jsonl")])
    # syncing the folder itself later takes the files' place
    idx.sync([folder])
    assert idx.roots() == [str(folder)] and len(ids(idx)) == 4
    # a file of a synced folder synced alone adds no root
    idx.sync([folder / "article-002.txt"])
    assert idx.roots() == [str(folder)]


@pytest.mark.server
def test_the_sync_lock_holds_for_any_spelling_of_the_server_url(chroma_server, tmp_path, model_cache):
    """Issue 11, item 7: the lock was keyed by the URL's text, so the same server as
    localhost and as 127.0.0.1 let two syncs of one collection run at once."""
    import threading
    import uuid
    from urllib.parse import urlparse

    from index import Settings

    port = urlparse(chroma_server).port
    numeric = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                       chroma_url=f"http://127.0.0.1:{port}", collection=f"t{uuid.uuid4().hex[:10]}")
    named = numeric.model_copy(update={"chroma_url": f"http://localhost:{port}"})
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    inside, release = threading.Event(), threading.Event()

    def hold(phase, done, total):
        inside.set()
        release.wait(120)

    first = threading.Thread(target=lambda: Index.open(settings=numeric).sync([folder], progress=hold))
    first.start()
    try:
        assert inside.wait(120)
        busy = run_qa(["index", str(folder)], named)
    finally:
        release.set()
        first.join(120)
    assert busy.returncode == 75, busy.stderr
    assert "another sync" in busy.stderr
    assert Index.open(settings=named).status()["articles"] == 2
