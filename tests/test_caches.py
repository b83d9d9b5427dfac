"""Derived caches rebuild themselves when damaged, with a one-line notice: the lexical
index (SQLite FTS5 beside the collection) and the ONNX export of the model."""

from __future__ import annotations

import json
import shutil

import pytest

from index.embedding import ONNX_FILES
from index.lexical import LexicalIndex
from tests.conftest import SEED, run_qa, write_corpus


def garble(path, where: str) -> None:
    data = bytearray(path.read_bytes())
    if where == "header":
        data[:100] = b"garbage!" * 12 + b"gar!"
    else:  # every page after the first two: the state table still reads, searches do not
        for i in range(8192, len(data), 7):
            data[i] = 0x5A
    path.write_bytes(bytes(data))


SEARCH = ["search", "Japan Sochi expectations", "--json"]
ASK = ["ask", "What does Japan expect from Sochi?"]


@pytest.mark.parametrize(
    "where, commands",
    [("header", [SEARCH, ["index", "--rebuild"]]), ("pages", [ASK, ["index", "NEWS"], SEARCH])],
)
def test_a_damaged_lexical_index_rebuilds_itself(embedded_settings, tmp_path, where, commands):
    """Issue 11, item 5: search, ask, index and even --rebuild failed with 'unexpected
    DatabaseError'. A garbled header fails on opening, garbled pages on searching."""
    settings = embedded_settings
    folder = tmp_path / "news"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    assert run_qa(["index", str(folder)], settings).returncode == 0
    path = settings.data_dir / "lexical" / f"{settings.store_key}.sqlite"
    commands = [[str(folder) if arg == "NEWS" else arg for arg in args] for args in commands]
    for n, args in enumerate(commands):
        if args[0] == "index":
            write_corpus(folder, count=1, offset=50 + n)  # a change, so the sync writes
        garble(path, where)
        result = run_qa(args, settings)
        assert result.returncode == 0, (args, result.stderr)
        notes = result.stderr.splitlines()
        assert len(notes) == 1 and notes[0].startswith(f"qa: note: the lexical index {path} was damaged ("), notes
        assert notes[0].endswith("); rebuilding it from the collection")
        if args[0] == "search":
            found = [p["article_id"] for p in json.loads(result.stdout)["passages"]]
            assert SEED.name in found[:2], found  # the repaired index finds the article
        status = json.loads(run_qa(["status", "--json"], settings).stdout)
        lexical = LexicalIndex(path)
        assert lexical.count() == status["chunks"]  # in step with the collection again
        lexical.close()


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_damaged_model_export_is_made_again(embedded_settings, tmp_path, precision):
    """The ONNX export in the model cache is a cache too (the export takes ~20 s); so is
    the int8 model quantized from it."""
    cache = tmp_path / "models"
    cache.mkdir()
    for name in ONNX_FILES.values():
        shutil.copy(embedded_settings.model_cache_dir / name, cache)
    env = {"QA_MODEL_CACHE_DIR": str(cache), "QA_EMBED_PRECISION": precision}
    assert run_qa(["index", str(SEED.parent)], embedded_settings, **env).returncode == 0
    onnx = cache / ONNX_FILES[precision]
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])  # cut off, as by a full disk
    result = run_qa(["search", "Japan Sochi", "--json"], embedded_settings, **env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"qa: note: the ONNX model cache {onnx} was damaged (")
    assert result.stderr.count("\n") == 1
    assert json.loads(result.stdout)["passages"][0]["article_id"] == SEED.name


def test_a_store_started_over_gets_a_lexical_index_of_its_own(embedded_settings, tmp_path):
    """The lexical index follows the collection's identity as well as its generation: a
    new store whose generation happens to match the old one's is not taken for it."""
    first, second = tmp_path / "first", tmp_path / "second"
    write_corpus(first, count=2)
    second.mkdir()
    for n, word in enumerate(["zanzibarite", "quokkalogy", "brimbleworth"]):
        (second / f"b{n}.txt").write_text(f"Note {n}\n\nJune 5, 2022\n\nThe {word} report says little about Sochi.\n")
    assert run_qa(["index", str(first)], embedded_settings).returncode == 0
    shutil.rmtree(embedded_settings.data_dir / "chroma")  # a user starts over by hand
    assert run_qa(["index", str(second)], embedded_settings).returncode == 0
    for n, word in enumerate(["zanzibarite", "quokkalogy", "brimbleworth"]):
        # a date filter runs through the lexical index's table of chunks
        result = run_qa(["search", word, "-k", "1", "--since", "2022-01-01", "--json"], embedded_settings)
        assert json.loads(result.stdout)["passages"][0]["article_id"] == f"b{n}.txt", word
