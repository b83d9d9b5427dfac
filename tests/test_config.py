"""`qa config` and the settings file: flags > environment > file > defaults, values checked
before they are written, a secret masked and kept private, a broken file a one-line error."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests import fake_openai
from tests.conftest import SEED, run_qa


@pytest.fixture
def settings(embedded_settings, tmp_path):
    return embedded_settings


@pytest.fixture
def config(tmp_path):
    return tmp_path / "config" / "config.toml"


def qa(args, settings, config, **env):
    return run_qa(args, settings, QA_CONFIG=str(config), **env)


def shown(settings, config, **env) -> dict:
    result = qa(["config", "show", "--json"], settings, config, **env)
    assert result.returncode == 0, result.stderr
    return {row["key"]: row for row in json.loads(result.stdout)["settings"]}


def test_flags_beat_the_environment_which_beats_the_file(settings, config, tmp_path):
    assert qa(["config", "path"], settings, config).stdout.strip() == str(config)
    assert qa(["config", "set", "collection", "fromfile"], settings, config).returncode == 0
    assert qa(["config", "set", "chunk_tokens", "180"], settings, config).returncode == 0
    rows = shown(settings, config, QA_COLLECTION=None)
    assert rows["collection"] == {"key": "collection", "value": "fromfile", "from": "settings file"}
    assert rows["chunk_tokens"]["value"] == "180" and rows["max_file_mb"]["from"] == "default"

    # the file's collection is where `qa index` goes when neither flag nor environment says
    indexed = qa(["index", "--json", str(SEED.parent)], settings, config, QA_COLLECTION=None)
    assert indexed.returncode == 0, indexed.stderr
    status = json.loads(qa(["status", "--json"], settings, config, QA_COLLECTION=None).stdout)
    assert status["collection"] == "fromfile" and status["articles"] == 1
    from_env = qa(["status", "--json"], settings, config, QA_COLLECTION="fromenv")
    assert from_env.returncode == 1 and "'fromenv'" in from_env.stderr  # the environment wins (and it does not exist)
    flagged = qa(["status", "--json", "-c", "fromfile"], settings, config, QA_COLLECTION="fromenv")
    assert json.loads(flagged.stdout)["collection"] == "fromfile"  # the flag wins over both
    assert shown(settings, config, QA_COLLECTION="fromenv")["collection"]["from"] == "environment QA_COLLECTION"

    assert qa(["config", "unset", "collection"], settings, config).returncode == 0
    assert shown(settings, config, QA_COLLECTION=None)["collection"]["from"] == "default"


def test_values_are_checked_before_they_are_written(settings, config):
    for args, words in (
        (["config", "set", "llm_timeout", "soon"], "llm_timeout: Input should be a valid number"),
        (["config", "set", "collection", "no spaces"], "collection: Value error"),
        (["config", "set", "colection", "x"], "unknown setting 'colection'"),
        (["config", "unset", "colection"], "unknown setting 'colection'"),
    ):
        result = qa(args, settings, config)
        assert result.returncode == 2, args
        assert result.stderr.startswith("qa: error: ") and words in result.stderr and result.stderr.count("\n") == 1
    assert not config.exists()


def test_a_secret_is_masked_and_the_file_kept_private(settings, config):
    result = qa(["config", "set", "llm_api_key", "sk-very-secret"], settings, config)
    assert result.returncode == 0 and "sk-very-secret" not in result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert [p.name for p in config.parent.iterdir()] == [config.name]  # no temporary file beside it
    listed = qa(["config", "show"], settings, config)
    assert "sk-very-secret" not in listed.stdout and "llm_api_key = ********  (settings file)" in listed.stdout


def test_a_broken_settings_file_is_one_line(settings, config):
    config.parent.mkdir(parents=True)
    config.write_text("collection = [unclosed\n")
    for args in (["status"], ["config", "show"]):
        result = qa(args, settings, config)
        assert result.returncode == 2, (args, result.stderr)
        line = result.stderr.strip().splitlines()[-1]
        assert f"the settings file {config} is not valid TOML" in line and "Traceback" not in result.stderr
    config.write_text('chunk_tokens = "many"\n')
    result = qa(["status"], settings, config)
    assert result.returncode == 2 and "chunk_tokens" in result.stderr and "settings file" in result.stderr


def test_a_bad_answering_setting_is_one_line_too(settings, config):
    # read where answering starts, not where the CLI reads the index's settings: was
    # "unexpected ValidationError ... a bug in qa", exit 70
    for env, key in (({"QA_RERANK": "maybe"}, "rerank"), ({"QA_LLM_CONTEXT": "lots"}, "llm_context")):
        result = qa(["ask", "What does Japan expect from Sochi?"], settings, config, **env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, result.stderr
        assert len(lines) == 1 and lines[0].startswith(f"qa: error: {key}: "), lines


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a folder no file can be made in: Linux's /proc")
def test_a_settings_file_that_cannot_be_written_is_one_line(settings):
    """Read as empty (it does not exist), then the write fails: was "unexpected
    FileNotFoundError ... a bug in qa", exit 70."""
    config = Path("/proc/qa-news-config.toml")
    result = qa(["config", "set", "collection", "news"], settings, config)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"qa: error: cannot write the settings file {config}: "), lines


def test_llm_settings_from_the_file_reach_the_server(settings, config):
    server = fake_openai.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for key, value in (("llm", url), ("llm_model", "file-model"), ("llm_api_key", "sk-file")):
            assert qa(["config", "set", key, value], settings, config).returncode == 0
        result = qa(["ask", "--json", "What does Japan expect from Sochi?"], settings, config, QA_LLM=None)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["backend"] == "llm"
        assert server.requests[-1]["model"] == "file-model" and server.keys[-1] == "Bearer sk-file"
    finally:
        server.shutdown()


def test_a_bad_setting_is_one_line_wherever_it_comes_from(settings, config):
    # from the environment, from the file, for a command that reads and one that writes
    config.parent.mkdir(parents=True)
    config.write_text('chunk_tokens = "many"\n')
    cases = [(["status"], {"QA_EMBED_PRECISION": "int4"}, "embed_precision"),
             (["index", str(SEED)], {"QA_EMBED_PRECISION": "int4"}, "embed_precision"),
             (["search", "Sochi"], {}, "chunk_tokens")]
    for args, env, key in cases:
        result = qa(args, settings, config, **env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("qa: error: ") and key in lines[0], (args, result.stderr)
