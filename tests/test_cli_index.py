"""`qa index` and `qa status` as a user runs them: JSON contracts, bad input, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SEED, cli_env, run_qa, write_corpus


@pytest.fixture
def settings(embedded_settings):
    return embedded_settings


def test_index_json_report_and_status(settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=3)
    result = run_qa(["index", "--json", str(folder)], settings)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {k: report[k] for k in ("added", "updated", "unchanged", "removed", "failed")} == {
        "added": 3, "updated": 0, "unchanged": 0, "removed": 0, "failed": [],
    }
    status = json.loads(run_qa(["status", "--json"], settings).stdout)
    assert status["collection"] == "default" and status["articles"] == 3
    assert status["chunks"] >= 3 and status["model"].endswith("all-MiniLM-L6-v2")
    assert status["where"].startswith(str(settings.data_dir)) and status["last_sync"]


def test_first_use_indexes_the_seeds(settings):
    result = run_qa(["status", "--json"], settings)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["articles"] == 1 and status["roots"][0].endswith("seeds")


def test_bad_input_is_reported_and_nothing_indexed_is_lost(settings, tmp_path):
    folder = tmp_path / "news"
    files = write_corpus(folder, count=2)
    assert run_qa(["index", str(folder)], settings).returncode == 0
    # now break things: one good file turns binary, bad files arrive, one good one arrives
    files["article-000.txt"].write_bytes(b"\x00\xff" * 50)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "latin1.txt").write_bytes("déjà vu".encode("latin-1"))
    (folder / "huge.txt").write_bytes(b"a " * 25_000_000)  # 50 MB
    (folder / "broken.html").write_bytes(b"<html><body><div><p>\x00\x00<<<>>>")
    (folder / "lines.jsonl").write_text('{"id": "j1", "title": "J", "text": "Japan and Russia met."}\n{oops\n')
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    if os.geteuid() != 0:
        locked = folder / "locked.txt"
        locked.write_text("Secret\n\ntext.\n")
        locked.chmod(0)
    write_corpus(folder, count=1, offset=7)
    result = run_qa(["index", "--json", str(folder), str(tmp_path / "missing")], settings)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in report["failed"]}
    assert "binary" in reasons["article-000.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "UTF-8" in reasons["latin1.txt"]
    assert "too large" in reasons["huge.txt"]
    assert "HTML" in reasons["broken.html"]
    assert "invalid JSON" in reasons["lines.jsonl:2"]
    assert reasons["loop.txt"] == "symbolic link loop"
    assert reasons["missing"] == "no such file or directory"
    assert all("\n" not in r for r in reasons.values())
    assert report["added"] == 2  # j1 and article-007
    status = json.loads(run_qa(["status", "--json"], settings).stdout)
    assert status["articles"] == 4  # article-000 kept as it was, 001, j1, 007
    human = run_qa(["index", str(folder)], settings)
    assert human.returncode == 1
    assert all(line.startswith("failed: ") for line in human.stderr.splitlines())


def test_dry_run_prints_the_plan(settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    result = run_qa(["index", "--dry-run", str(folder)], settings)
    assert result.returncode == 0
    assert "would add: article-000.txt" in result.stdout
    from index import Index

    assert Index.open(settings=settings).articles() == []  # nothing written


def test_usage_errors_are_one_line(settings):
    result = run_qa(["index", "--collection", "bad name!", str(SEED)], settings)
    assert result.returncode == 2 and "collection" in result.stderr
    down = run_qa(["status"], settings, QA_CHROMA_URL="http://127.0.0.1:9")
    assert down.returncode == 69
    assert down.stderr.startswith("qa: error: cannot reach the Chroma server")
    assert down.stderr.count("\n") == 1


def test_output_into_a_closed_pipe_is_not_an_error(embedded_settings):
    """`qa search ... | head -1`: the reader leaves early; qa stops quietly."""
    run_qa(["index", str(SEED.parent)], embedded_settings)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "search", "Japan", "-k", "10", "--json"],
        env=cli_env(embedded_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    proc.stdout.close()  # before qa has written anything
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and err.decode().strip() == ""


def test_invalid_text_fails_its_own_file_or_line_and_never_the_sync(settings, tmp_path):
    """Issue 11, item 1: lone surrogates in JSONL fields and a file name that is not UTF-8
    used to abort the whole sync (unexpected UnicodeEncodeError / TypeError)."""
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    good = {"id": "j1", "title": "J", "text": "Japan and Russia met in Sochi."}
    lines = [good] + [{**good, "id": f"s-{field}", field: "Hello \ud800 world"} for field in ("text", "title", "source", "url")]
    lines.append({**good, "id": "\udc80"})
    (folder / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    bad_name = os.path.join(os.fsencode(folder), b"caf\xe9.txt")
    with open(bad_name, "w") as handle:
        handle.write("Cafe\n\nA text about coffee in Sochi.\n")
    result = run_qa(["index", "--json", str(folder)], settings)
    assert result.returncode == 1 and "unexpected" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 3  # article-000, article-001, j1
    failed = {f["path"]: f["reason"] for f in report["failed"]}
    assert sorted(failed) == sorted([f"{folder / 'feed.jsonl'}:{n}" for n in range(2, 7)] + [os.fsdecode(bad_name)])
    assert all("U+D800" in failed[f"{folder / 'feed.jsonl'}:{n}"] for n in range(2, 6))
    # a later sync is not blocked: a new article arrives and is indexed
    write_corpus(folder, count=1, offset=5)
    again = run_qa(["index"], settings)
    assert again.returncode == 1 and "unexpected" not in again.stderr
    assert "1 added" in again.stdout
    # (feed.jsonl is unchanged since, so it is not read again; the file name still fails)
    assert again.stderr.splitlines() == [f"failed: {folder}/caf\\xe9.txt: file name is not valid UTF-8; rename it"]
    status = json.loads(run_qa(["status", "--json"], settings).stdout)
    assert status["articles"] == 4


def test_jsonl_duplicates_name_their_lines_and_a_whole_file_has_a_limit(settings, tmp_path):
    folder = tmp_path / "feeds"
    folder.mkdir()
    line = lambda i, text: json.dumps({"id": i, "text": text}) + "\n"  # noqa: E731
    (folder / "a.jsonl").write_text(line("x", "First about Sochi.") + line("y", "Other.") + line("x", "Again."))
    (folder / "b.jsonl").write_text(line("z", "Third.") + line("x", "Elsewhere."))
    (folder / "big.jsonl").write_text("".join(line(f"big{n}", "Some text about Sochi. " * 10) for n in range(10)))
    result = run_qa(["index", "--json", str(folder)], settings, QA_MAX_JSONL_MB="0.002")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    failed = {f["path"]: f["reason"] for f in report["failed"]}
    assert failed == {
        f"{folder}/a.jsonl:3": f"duplicate article id 'x' (also at {folder}/a.jsonl:1)",
        f"{folder}/b.jsonl:2": f"duplicate article id 'x' (also at {folder}/a.jsonl:1)",
        f"{folder}/big.jsonl": "file too large (2.6 kB; the limit is 2.0 kB, QA_MAX_JSONL_MB=0.002)",
    }
    assert sorted(report["articles"]["added"]) == ["x", "y", "z"]
