"""`qa search` and `qa ask` as a user runs them against bad input: a --batch file with bad
lines, a collection name with a typo, dates in the wrong order."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from index import Index
from tests.conftest import ROOT, SEED, run_qa


@pytest.fixture
def seeded_settings(embedded_settings):
    Index.open(settings=embedded_settings).sync([SEED.parent])
    return embedded_settings


def test_batch_reports_each_bad_line_and_goes_on(seeded_settings, tmp_path):
    """Issue 11, item 8: a question that is a number or a list aborted the rest of the
    batch, a file that is not UTF-8 gave no output at all, messages showed Python
    internals ("bad input line: 'question'"), and the exit code was 0."""
    lines = [
        b'{"id": 1, "question": "What does Japan expect from Sochi?"}',
        b'{"id": 2, "question": 42}',
        b'{"id": 3, "question": ["a", "list"]}',
        b'{"id": 4}',
        b"not json at all",
        b'{"id": 6, "question": "caf\xe9 in Sochi"}',
        b"[1, 2]",
        b'{"id": 8, "question": "Japan", "as_of": "yesterday"}',
        b'{"id": 9, "question": "   "}',
        b"",
        b'{"id": "last", "question": "Lavrov and China"}',
    ]
    path = tmp_path / "questions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_qa(["search", "--batch", str(path), "-k", "2"], seeded_settings)
    assert result.returncode == 1, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == [1, 2, 3, 4, None, None, None, 8, 9, "last"]
    assert out[0]["passages"] and out[-1]["passages"]
    errors = {o["line"]: o["error"] for o in out if "error" in o}
    assert errors == {
        2: "'question' must be text, not a number",
        3: "'question' must be text, not a list",
        4: "missing 'question'",
        5: "invalid JSON (Expecting value at column 1)",
        6: "not valid UTF-8 (byte 0xe9 at column 27)",
        7: "a line must be a JSON object",
        8: "--as-of must be a date like 2022-06-17, not 'yesterday'",
        9: "the query is empty",
    }
    assert result.stderr.splitlines() == [f"failed: {path}:{n}: {reason}" for n, reason in errors.items()]


def test_batch_of_good_lines_exits_0(seeded_settings, tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"id": "q1", "question": "Japan Sochi"}\n')  # a UTF-8 BOM
    result = run_qa(["search", "--batch", str(path)], seeded_settings)
    assert result.returncode == 0 and result.stderr == ""
    assert json.loads(result.stdout)["id"] == "q1"


def test_a_collection_name_with_a_typo_is_an_error_not_a_new_collection(seeded_settings):
    """Issue 11, item 10: `-c typo` on search/status silently created an empty collection."""
    for args in (["search", "Japan"], ["status"], ["ask", "What does Japan expect?"]):
        result = run_qa([*args, "-c", "defualt"], seeded_settings)
        assert result.returncode == 1, result.stderr
        assert result.stderr == (
            "qa: error: there is no collection 'defualt' here (collections: default);"
            " to make it, index into it: qa index -c defualt PATH...\n"
        )  # the same the second and third time: the first made no collection
    assert Index.open(settings=seeded_settings)._store.collection_names() == ["default"]


def test_since_after_until_says_why_nothing_matches(seeded_settings):
    for command, args, said in (
        (["search", "Japan"], ["--since", "2022-06-10", "--until", "2022-06-01"], "--since 2022-06-10 is after --until 2022-06-01"),
        (["ask", "What does Japan expect?"], ["--since", "2022-06-10", "--as-of", "2022-06-01"], "--since 2022-06-10 is after --as-of 2022-06-01"),
    ):
        result = run_qa([*command, *args], seeded_settings)
        assert result.returncode == 1
        assert result.stderr == f"qa: error: {said}: no article can match\n"


PREFETCH_CHECK = """
import json, sys
from pathlib import Path
import numpy as np
from index import Settings
from qa.prefetch import QueryPrefetch
settings = Settings(data_dir=Path(sys.argv[1]), model_cache_dir=Path(sys.argv[2]))
right, wrong = QueryPrefetch("What does Japan expect?", settings), QueryPrefetch("Sochi", settings)
got, refused = right.vector(right.precision), wrong.vector("fp32" if wrong.precision == "int8" else "int8")
from index.embedding import Embedder
want = Embedder(cache_dir=settings.model_cache_dir, precision=right.precision).embed_query("What does Japan expect?")
print(json.dumps({"pids": [right.pid, wrong.pid], "equal": bool(np.array_equal(got, want)), "refused": refused is None}))
"""


def test_a_one_off_query_is_embedded_beside_the_store_opening(embedded_settings):
    """Issue 14 (cold search): the query's vector comes from a forked child, exactly the
    vector the collection's embedder gives; a wrong guess of the embedder is not used."""
    done = subprocess.run(
        [sys.executable, "-c", PREFETCH_CHECK, str(embedded_settings.data_dir), str(embedded_settings.model_cache_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert all(result["pids"]) and result["equal"] and result["refused"]
    # And end to end: the first search of a collection, then one with the hint in place.
    for _ in range(2):
        found = run_qa(["search", "What does Japan expect from Sochi?", "--json"], embedded_settings)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["passages"][0]["article_id"] == SEED.name


OVERRIDES_CHECK = """
import json, sys
from pathlib import Path
import overrides
mine = overrides.override
from index import Settings
from qa import Retriever
settings = Settings(data_dir=Path(sys.argv[1]), model_cache_dir=Path(sys.argv[2]))
found = Retriever.open(settings=settings).search("What does Japan expect from Sochi?", k=1)
import chromadb.api.client
class Base:
    def size(self, unit: str) -> int:
        return 0
try:
    class Wrong(Base):
        @overrides.override
        def size(self, unit: str, scale: float) -> int:
            return 1
    checked = False
except TypeError:
    checked = True
print(json.dumps({
    "found": found[0].article_id,
    "restored": overrides.override is mine,
    "checked": checked,
    "chromadb_unchecked": chromadb.api.client.override is not mine,
}))
"""


def test_opening_a_store_leaves_the_callers_override_checks_alone(seeded_settings):
    """Issue 14 (cold search): chromadb checks the signatures of its ~160 overriding
    methods with ``overrides`` as it loads (0.15-0.2 s of a cold search); those checks are
    skipped while it loads, and a program that uses ``overrides`` itself keeps its checks."""
    done = subprocess.run(
        [sys.executable, "-c", OVERRIDES_CHECK, str(seeded_settings.data_dir), str(seeded_settings.model_cache_dir)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "found": SEED.name, "restored": True, "checked": True, "chromadb_unchecked": True,
    }
