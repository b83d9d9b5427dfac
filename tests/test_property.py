"""Property tests (hypothesis): random bytes, random Unicode (lone surrogates, controls,
bidi marks, NUL) and random JSON values, as file contents and file names, fed to the
readers and to `qa index`. Whatever comes in: no traceback, one line per failed file or
line, every valid article indexed, nothing indexed before lost.

The examples are derandomized (the same each run, so CI is steady) and few for the CLI
(each runs `qa index`); HYPOTHESIS_PROFILE=explore runs many random ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from index import Index
from index.readers import ReadError, read_entry, scan
from tests.conftest import ROOT, cli_env, write_corpus

settings.register_profile("ci", database=None, derandomize=True, deadline=None)
settings.register_profile("explore", database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = 20 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 1  # examples: 20 times as many
SLOW = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]

# Characters that have broken text handling somewhere: lone surrogates, NUL, C0 and C1
# controls, bidi overrides and isolates, separators, a byte order mark.
NASTY = ["\ud800", "\udfff", "\udce9", "\x00", "\x1b", "\x07", "\x08", "\r", "\n", "\x9b", "\u202e",
         "\u2066", "\u200f", "\u2028", "\ufeff", "\x7f", "é", "日"]
unicode_text = st.text(st.one_of(st.characters(), st.sampled_from(NASTY)), max_size=60)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), unicode_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(unicode_text, inner, max_size=4)),
    max_leaves=8,
)
article_like = st.fixed_dictionaries(
    {"id": st.one_of(unicode_text, st.integers(), json_values), "text": st.one_of(unicode_text, json_values)},
    optional={k: st.one_of(unicode_text, json_values) for k in ("title", "source", "url", "date", "authors")},
)
jsonl_line = st.one_of(
    article_like.map(lambda r: json.dumps(r).encode()),  # ensure_ascii: surrogates as \ud800
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
)
contents = st.one_of(
    st.binary(max_size=300),
    unicode_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    unicode_text.map(lambda t: t.encode("utf-16")),
    st.lists(jsonl_line, max_size=5).map(lambda lines: b"\n".join(lines)),
)
suffixes = st.sampled_from([".txt", ".md", ".html", ".jsonl", ".htm"])
names = st.binary(min_size=1, max_size=12).filter(lambda b: b"/" not in b and b"\x00" not in b and not b.startswith(b"."))


def one_line(reason: str) -> bool:
    return bool(reason) and "\n" not in reason and "\r" not in reason


@settings(max_examples=150 * SCALE, suppress_health_check=SLOW)
@given(data=contents, suffix=suffixes)
def test_readers_take_anything(data, suffix):
    """A file is articles whose every text UTF-8 can hold, or one ReadError line."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        path.write_bytes(data)
        found = scan(path)
        assert not found.failures
        try:
            result = read_entry(found.files[0], max_bytes=10_000, max_jsonl_bytes=100_000)
        except ReadError as exc:
            assert one_line(str(exc))
            return
        assert result.articles or result.failures
        for article in result.articles:
            for text in (article.id, article.title, article.text, article.source or "", article.url or "", *article.authors):
                assert isinstance(text, str)
                text.encode("utf-8")  # no lone surrogate
            assert article.id.strip() and article.text.strip()
        assert all(one_line(reason) for _, reason in result.failures)


@settings(max_examples=6 * SCALE, suppress_health_check=SLOW)
@given(
    files=st.lists(st.tuples(names, suffixes, contents), min_size=1, max_size=6),
    overwritten=st.lists(st.tuples(st.integers(0, 2), contents), max_size=2),
    feed=st.lists(jsonl_line, max_size=4),
)
def test_qa_index_takes_anything(embedded_settings, files, overwritten, feed):
    """`qa index` over a folder of good articles that random files join (some with names
    that are not UTF-8), some good files overwritten with random bytes, and a feed where
    good lines sit among random ones."""
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = embedded_settings.model_copy(update={"collection": f"p{uuid.uuid4().hex[:10]}"})
        folder = Path(tmp) / "news"
        base = write_corpus(folder, count=3)
        before = Index.open(settings=settings_)
        assert not before.sync([folder]).failed
        kept = {a.id: a.content_hash for a in before.articles()}

        good = {f"good-{n}-{uuid.uuid4().hex[:6]}": f"Report {n} on the zx{n}q talks in Sochi." for n in range(2)}
        lines = [json.dumps({"id": i, "text": t}).encode() for i, t in good.items()]
        (folder / "feed.jsonl").write_bytes(b"\n".join([lines[0], *feed, lines[1]]) + b"\n")
        for name, suffix, data in files:
            with open(os.path.join(os.fsencode(folder), b"x-" + name + suffix.encode()), "wb") as out:
                out.write(data)
        changed = {}
        for which, data in overwritten:
            path = base[f"article-{which:03d}.txt"]
            path.write_bytes(data)
            changed[path.name] = data

        result = subprocess.run(
            [sys.executable, "-m", "qa.cli", "index", str(folder)],
            env=cli_env(settings_), cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
        failures = result.stderr.splitlines()
        assert all(line.startswith("failed: ") for line in failures), result.stderr
        summary = result.stdout.splitlines()[-1]
        assert f", {len(failures)} failed" in summary, summary  # one line per failure
        assert result.returncode == (1 if failures else 0), result.stderr

        after = {a.id: a for a in Index.open(settings=settings_).articles()}
        assert set(good) <= set(after)  # every valid article indexed
        for article_id, content_hash in kept.items():  # nothing indexed before lost
            assert article_id in after
            failed = any(line.startswith(f"failed: {folder / article_id}: ") for line in failures)
            if article_id not in changed or failed:
                assert after[article_id].content_hash == content_hash


question_like = st.fixed_dictionaries(
    {"id": st.one_of(unicode_text, st.integers(), json_values), "question": st.one_of(unicode_text, json_values)},
    optional={k: json_values for k in ("answers", "gold_articles", "history", "answerable", "date", "as_of")},
)
question_line = st.one_of(
    question_like.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
)


@settings(max_examples=150 * SCALE, suppress_health_check=SLOW)
@given(lines=st.lists(question_line, max_size=6))
def test_eval_sets_load_or_name_the_bad_line(lines):
    from qa.evaluation import EvalSetError, load_questions

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "questions.jsonl").write_bytes(b"\n".join(lines))
        try:
            questions = load_questions(Path(folder))
        except EvalSetError as exc:
            assert one_line(str(exc)) and "questions.jsonl" in str(exc)
            return
        for q in questions:
            assert isinstance(q.question, str) and q.question.strip()
            assert all(isinstance(t, dict) for t in q.history)
            assert all(isinstance(g, str) for g in q.gold_articles)


@settings(max_examples=4 * SCALE, suppress_health_check=SLOW)
@given(lines=st.lists(question_line, min_size=1, max_size=5))
def test_search_batch_answers_every_line(embedded_settings, lines):
    lines = [line for line in lines if line.strip()] or [b'{"id": 1, "question": "Japan"}']
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        result = subprocess.run(
            [sys.executable, "-m", "qa.cli", "search", "--batch", str(path), "-k", "1"],
            env=cli_env(embedded_settings), cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)  # one answer or error per line, in order
    errors = [o for o in out if "error" in o]
    assert result.stderr.count("\n") == len(errors) and result.returncode == (1 if errors else 0)
    assert all(one_line(o["error"]) for o in errors)
