"""Errors a user can cause are one line with an exit code of their own, never "unexpected":
a Chroma server that never answers or hangs half way (timeouts), one that dies during a
sync, a full disk, a damaged store. A real bug says so, with its traceback in a log file."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from index import Index, ServerUnavailable, Settings
from qa.cli import EXIT_BUG, EXIT_STORAGE, EXIT_UNAVAILABLE
from tests.chroma_proxy import ChromaProxy
from tests.conftest import ROOT, SEED, cli_env, run_qa, write_corpus


def read_timeout_message(url: str, seconds: int) -> str:
    return (
        f"qa: error: the Chroma server at {url} did not answer within {seconds} s (QA_CHROMA_READ_TIMEOUT);"
        " check that it is running and not stuck, or raise QA_CHROMA_READ_TIMEOUT\n"
    )


def test_a_server_that_accepts_and_never_answers_times_out(embedded_settings):
    """Issue 11, item 3: `qa status` and `qa search` used to wait forever."""
    silent = ChromaProxy(None)  # a real socket: accepts the connection, never answers
    try:
        for args in (["status"], ["search", "Japan"]):
            result = run_qa(args, embedded_settings, timeout=120, QA_CHROMA_URL=silent.url, QA_CHROMA_READ_TIMEOUT="1")
            assert result.returncode == EXIT_UNAVAILABLE, (args, result.stderr)
            assert result.stderr == read_timeout_message(silent.url, 1)
        settings = embedded_settings.model_copy(update={"chroma_url": silent.url, "chroma_read_timeout": 0.5})
        with pytest.raises(ServerUnavailable, match="did not answer within 0.5 s"):
            Index.open(settings=settings)
    finally:
        silent.close()


@pytest.fixture
def server_settings(chroma_server, tmp_path, model_cache) -> Settings:
    import uuid

    return Settings(
        data_dir=tmp_path / "data", model_cache_dir=model_cache, chroma_url=chroma_server,
        collection=f"t{uuid.uuid4().hex[:10]}",
    )


@pytest.mark.server
def test_a_server_that_hangs_half_way_times_out(server_settings):
    """Every call has the timeouts, not just the first: here the search itself hangs."""
    assert not Index.open(settings=server_settings).sync([SEED.parent]).failed
    proxy = ChromaProxy(urlparse(server_settings.chroma_url).port, hang_on=b"/query")
    try:
        result = run_qa(["search", "Japan Sochi"], server_settings, timeout=120,
                        QA_CHROMA_URL=proxy.url, QA_CHROMA_READ_TIMEOUT="2")
        assert result.returncode == EXIT_UNAVAILABLE, result.stderr
        assert result.stderr == read_timeout_message(proxy.url, 2)
        assert proxy.mode == "hang"  # it answered until the search
    finally:
        proxy.close()


@pytest.mark.server
@pytest.mark.parametrize("store_kind", ["server"])
def test_a_server_that_dies_during_a_sync_is_a_clear_error_and_the_next_sync_repairs(make_settings, tmp_path):
    from tests.test_sync import assert_equal_to_clean_build, reopen

    settings = make_settings()
    folder = tmp_path / "news"
    write_corpus(folder, count=3)
    assert not Index.open(settings=settings).sync([folder]).failed
    write_corpus(folder, count=3, offset=10)
    proxy = ChromaProxy(urlparse(settings.chroma_url).port, die_on=b"/upsert")
    cut = run_qa(["index", str(folder)], settings, QA_CHROMA_URL=proxy.url)
    assert proxy.mode == "dead"
    assert cut.returncode == EXIT_UNAVAILABLE, cut.stderr
    assert cut.stderr.startswith(f"qa: error: lost the connection to the Chroma server at {proxy.url} (")
    assert cut.stderr.count("\n") == 1 and "unexpected" not in cut.stderr
    again = run_qa(["index", "--json", str(folder)], settings)
    assert again.returncode == 0, again.stderr
    assert_equal_to_clean_build(reopen(settings), make_settings, [folder])


def test_a_damaged_store_names_its_path_and_the_command_to_start_over(embedded_settings, tmp_path):
    folder = tmp_path / "news"
    write_corpus(folder, count=2)
    assert run_qa(["index", str(folder)], embedded_settings).returncode == 0
    database = embedded_settings.data_dir / "chroma" / "chroma.sqlite3"
    with database.open("r+b") as handle:
        handle.write(b"garbage!" * 64)
    for args in (["status"], ["search", "Japan"], ["index"]):
        result = run_qa(args, embedded_settings)
        assert result.returncode == EXIT_STORAGE, result.stderr
        assert result.stderr.count("\n") == 1 and "unexpected" not in result.stderr
        assert f"the Chroma store at {database.parent} is damaged (" in result.stderr
    command = result.stderr.split("to start over, move it aside and index again: ", 1)[1].strip()
    assert command == (
        f"mv {database.parent} {database.parent}.damaged && qa index --data-dir {embedded_settings.data_dir}"
        f" -c default {folder}"
    )
    # the command does what it says
    qa = f"{shlex.quote(sys.executable)} -m qa.cli"
    done = subprocess.run(
        ["bash", "-c", command.replace("qa index", f"{qa} index")],
        env=cli_env(embedded_settings), cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(run_qa(["status", "--json"], embedded_settings).stdout)["articles"] == 2
    assert (database.parent.parent / "chroma.damaged" / "chroma.sqlite3").exists()  # kept, not deleted


def test_disk_full_is_a_clear_error_and_loses_nothing(embedded_settings, tmp_path):
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("unshare -rm (a private tmpfs) is not permitted here")
    data = tmp_path / "small-disk"
    data.mkdir()
    first, second = tmp_path / "first", tmp_path / "second"
    write_corpus(first, count=2)
    write_corpus(second, count=30, offset=100)
    out = tmp_path / "out"
    out.mkdir()
    qa = f"{shlex.quote(sys.executable)} -m qa.cli"
    script = f"""
        mount -t tmpfs -o size=24m tmpfs {data}
        {qa} index {first} > {out}/1.out 2> {out}/1.err; echo $? > {out}/1.rc
        dd if=/dev/zero of={data}/filler bs=64k 2> /dev/null
        {qa} index {second} > {out}/2.out 2> {out}/2.err; echo $? > {out}/2.rc
        rm {data}/filler
        {qa} status --json > {out}/3.out 2> {out}/3.err; echo $? > {out}/3.rc
        {qa} index {second} > {out}/4.out 2> {out}/4.err; echo $? > {out}/4.rc
    """
    env = cli_env(embedded_settings, QA_HOME=str(data))
    subprocess.run(["unshare", "-rm", "bash", "-c", script], env=env, cwd=ROOT, timeout=600, check=True)
    result = {n: ((out / f"{n}.rc").read_text().strip(), (out / f"{n}.err").read_text()) for n in (1, 2, 3, 4)}
    assert result[1][0] == "0", result[1]
    code, err = result[2]
    assert int(code) == EXIT_STORAGE, err
    assert err.startswith(f"qa: error: the disk is full ({data}); free some space") and err.count("\n") == 1
    assert result[3][0] == "0", result[3]
    assert json.loads((out / "3.out").read_text())["articles"] == 2  # nothing indexed before is lost
    assert result[4][0] == "0", result[4]


def test_a_bug_is_one_line_with_its_traceback_in_the_log(embedded_settings, monkeypatch):
    """There is no bug to trigger on purpose, so one is planted: status() divides by zero."""
    from click.testing import CliRunner

    from qa.cli import cli

    monkeypatch.setattr(Index, "status", lambda self: 1 / 0)
    result = CliRunner().invoke(cli, ["status", "--data-dir", str(embedded_settings.data_dir)], env=cli_env(embedded_settings, QA_DEBUG=None))
    log = embedded_settings.data_dir / "qa-errors.log"
    assert result.exit_code == EXIT_BUG
    assert result.output == f"qa: error: unexpected ZeroDivisionError: division by zero (a bug in qa; the traceback is in {log})\n"
    assert "Traceback (most recent call last)" in log.read_text() and "1 / 0" in log.read_text()
