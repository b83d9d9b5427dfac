"""Scale benchmark: the store at 10k, 30k and 100k articles, embedded and on a server.

    .venv/bin/python tests/bench/bench_scale.py --work /work/bench-data/scale \\
        --sizes 10000,30000,100000 --modes embedded,server \\
        [--corpora /work/shared/eval/realtimeqa-2023-24,/work/shared/eval/realtimeqa-dev,/work/shared/eval/xquad-en] \\
        [--keep] [--reuse] [--code REV]

(``--sizes 500,2000`` checks the script in a few minutes.)

**Hashing embedder: this measures the store, not the model.** The collections are built
with a feature-hashing embedder (lower-cased words hashed, signed, into 384 dimensions,
normalised; the model's own tokenizer still drives the chunker), so building 100k
articles takes minutes, not hours, and every time below is Chroma, the lexical index, the
sync's bookkeeping and Python, not the model. Separate lines per size give the real
model's time for the same chunks, extrapolated from its throughput measured here on 200 of
them (``real model (int8), N articles: C chunks at R chunks/s ≈ H hours``; each precision the
code offers, the one new collections get first). The cold ``qa search`` runs do use
the real model, for the query only (its vector then searches hashed vectors: the ranking
means nothing, the time and memory are what a user waits for).

The corpus: N synthetic-but-realistic articles, generated once for the largest size with a
fixed seed (smaller sizes are the first N, hard-linked) as Markdown with YAML front matter
(title, date, source, url) under ``<work>/corpus-<N>/<source>/<year>/<id>.md``: 120 sources
(Zipf-like shares), dates over 2019-2023, bodies of 150-600 words made of runs of sentences
resampled from 2-4 articles of the shared corpora's ``corpus.jsonl``, titles from those
corpora plus a number. Article texts are only ever written under ``--work``.

For each size and each mode (embedded Chroma in ``<work>/data-embedded-<N>``, or a
``chroma run --path <work>/server-<N>`` server on localhost started and stopped here), one
after the other:

1. **build**: a full sync of ``corpus-<N>`` in a child process (wall time including process
   start, chunks, chunks/s, peak RSS from ``os.wait4``, taken in a small launcher process so
   that this process's own memory never counts: see ``run_measured``);
2. **no-change resync**: the same sync again (wall, and the sync's own seconds);
3. **warm search** in this process: ``qa.Retriever`` (k=5, stories on, as ``qa search``)
   over 100 questions of realtimeqa-2023-24 after 5 warm-up searches, p50/p95 without
   filters, with a one-year date range, and with two sources;
4. **one new article**: a new file in the corpus folder, child sync, then the first search of
   the retriever already open (it catches up with the sync, as the chat app does) must
   find it: "searchable after" is the sync's wall time plus that search;
5. **one article edited**: one article's text changed, child sync, found by its new words;
6. **cold ``qa search``**: ``.venv/bin/qa search Q --json`` as a subprocess, median of 3
   runs, and its peak RSS;
7. **disk**: bytes allocated under the data folder (embedded), or the server's ``--path``
   folder plus the client's data folder (server mode); measured after the resync.

Syncs run in a child (``bench_scale.py _sync ...``, hidden) so their peak RSS is their own;
``_sync --profile FILE`` writes a cProfile of the sync, for looking into one by hand.
``--keep`` keeps corpora and stores; ``--reuse`` then skips a build whose store is complete
(a first, unmeasured sync brings it back in line with the corpus). The code measured is the
work tree as it is, or with ``--code REV`` a copy of that git revision's index/, qa/, tui/
(in ``<work>/code``; a run takes long, and the work tree may change meanwhile). A failing
step puts its error in its table cell and the run goes on. Progress goes to stderr; the table and the
real-model lines to stdout; every number to ``<work>/results.json`` (written after each row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where index/, qa/ and tui/ are imported from: the work tree, or the snapshot --code made
# (passed to the children in SCALE_BENCH_CODE, and as PYTHONPATH to `qa`).
CODE = Path(os.environ.get("SCALE_BENCH_CODE") or ROOT)
if str(CODE) not in sys.path:
    sys.path.insert(0, str(CODE))

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
DEFAULT_CORPORA = [
    "/work/shared/eval/realtimeqa-2023-24",
    "/work/shared/eval/realtimeqa-dev",
    "/work/shared/eval/xquad-en",
]
DEFAULT_QUESTIONS = "/work/shared/eval/realtimeqa-2023-24/questions.jsonl"
DEFAULT_MODEL_CACHE = "/work/bench-data/models"
SEED = 20261201
GENERATOR_VERSION = 1  # bump when the generated articles change
N_SOURCES = 120
FIRST_YEAR, LAST_YEAR = 2019, 2023
FILTER_YEAR = 2021
WORDS = (150, 600)
HASH_DIM = 384
TIMED_QUERIES = 100
WARMUP_QUERIES = 5
SEARCH_KW = {"k": 5, "stories": True}  # what `qa search` does
COLD_RUNS = 3
REAL_SAMPLE = 200
TARGETS = {"resync_s": 3.0, "searchable_s": 5.0, "p50_ms": 50.0, "p95_ms": 120.0, "search_rss_mb": 1536.0}
HASHING_NOTE = "hashing embedder: measures the store, not the model"

NEW_ID = "zz-bench-wire/2024/wexmoor-tidal-pilot.md"
NEW_QUERY = "Wexmoor tidal turbine pilot harbour"
NEW_ARTICLE = """\
---
title: "Harbour town of Wexmoor opens its first tidal energy pilot"
date: 2024-01-18
source: "Bench Wire"
url: https://bench-wire.example/2024/01/18/wexmoor-tidal-pilot
---

The small harbour town of Wexmoor switched on a pilot tidal turbine on Thursday, the
first of its kind on this stretch of coast. The device sits on the sea floor about four
hundred metres beyond the breakwater and turns with both the incoming and the outgoing tide.

Engineers from the regional utility said the turbine is expected to deliver enough
electricity for roughly three hundred homes when the tides are strongest. Output will fall
during neap tides, and the utility plans to compare the measured figures with its models
over the next eighteen months before deciding whether to install more units.

Fishermen had raised concerns about the effect on crab and lobster grounds during the
planning stage. The operators agreed to leave a wide channel free for boats, and a marine
biology team from the local college will survey the sea bed every quarter.
"""
EDIT_PARAGRAPH = (
    "Update: officials of the Zorvath valley water board confirmed the figures on Tuesday and"
    " said the Zorvath reservoir would be inspected again in the spring."
)
EDIT_QUERY = "Zorvath valley water board reservoir"

_STARTED = time.perf_counter()


def log(message: str) -> None:
    elapsed = time.perf_counter() - _STARTED
    print(f"[{int(elapsed // 60):3d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


# -- the hashing embedder --------------------------------------------------------------------

_HASHING_CLASS = None
_WORD = re.compile(r"[^\W_]+")


def hashing_embedder(cache_dir: Path | None = None):
    """An ``index.embedding.Embedder`` whose vectors are feature hashes of the words: fast,
    deterministic across processes (crc32, not Python's salted hash), unit length, 384
    dims. The tokenizer (what the chunker counts with) is the real model's.
    **It measures the store, not the model.**"""
    global _HASHING_CLASS
    if _HASHING_CLASS is None:
        import numpy as np

        from index.embedding import Embedder

        class HashingEmbedder(Embedder):
            def __init__(self, cache_dir=None):
                super().__init__(backend="onnx", cache_dir=cache_dir)
                self._slots: dict[str, int] = {}  # word -> signed (dimension + 1)

            def load(self):
                self.tokenizer
                return self

            def _slot(self, word: str) -> int:
                h = zlib.crc32(word.encode("utf-8"))
                slot = (h % HASH_DIM) + 1
                return -slot if (h >> 16) & 1 else slot

            def embed(self, texts, progress=None):
                out = np.zeros((len(texts), HASH_DIM), dtype=np.float32)
                slots = self._slots
                for row, text in enumerate(texts):
                    signed = []
                    for word in _WORD.findall(text.lower()):
                        s = slots.get(word)
                        if s is None:
                            s = slots[word] = self._slot(word)
                        signed.append(s)
                    if not signed:
                        out[row, 0] = 1.0
                        continue
                    arr = np.asarray(signed, dtype=np.int64)
                    out[row] = np.bincount(np.abs(arr) - 1, weights=np.sign(arr), minlength=HASH_DIM)
                norms = np.linalg.norm(out, axis=1, keepdims=True)
                zero = norms[:, 0] == 0
                out[zero, 0], norms[zero] = 1.0, 1.0
                out /= norms
                if progress:
                    progress(len(texts))
                return out

        _HASHING_CLASS = HashingEmbedder
    return _HASHING_CLASS(cache_dir=cache_dir)


# -- child processes ---------------------------------------------------------------------------


# The command runs under a tiny launcher (python -I -S, stdlib only), which posix_spawns it
# and reports its rusage. Spawned straight from this process, a child's ru_maxrss would
# start at this process's own peak: Linux carries the high-water mark of the memory a child
# had before exec (a copy of, or with vfork the very, parent's) into its ru_maxrss, and this
# process holds the sentence pool, a model and an open store. The launcher's own peak is
# ~10 MB, so what it reports is the command's.
_LAUNCHER = """\
import json, os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as handle:
    json.dump({"wall_s": wall, "rc": os.waitstatus_to_exitcode(status), "maxrss_kb": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, handle)
"""


def run_measured(cmd: list[str], env: dict, timeout: float, cwd: Path | None = None) -> dict:
    """Run ``cmd``; wall time (incl. process start), exit code, output and peak RSS (MB) of
    that process alone. Killed after ``timeout`` seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".json") as facts:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, facts.name, *cmd], env=env,
                                cwd=cwd or CODE, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, 9)  # the launcher and the command
            except OSError:
                pass

        killer = threading.Timer(timeout, kill)
        killer.start()
        try:
            proc.wait()
        finally:
            killer.cancel()
        outer = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        try:
            got = json.loads(Path(facts.name).read_text() or "{}")
        except (OSError, ValueError):
            got = {}
    if not got:  # the launcher itself failed, or was killed
        return {"rc": proc.returncode if not killed.is_set() else -9, "timed_out": killed.is_set(), "wall_s": outer,
                "launcher_wall_s": outer, "peak_rss_mb": None, "cpu_s": None, "stdout": stdout, "stderr": stderr}
    return {
        "rc": got["rc"],
        "timed_out": killed.is_set(),
        "wall_s": got["wall_s"],  # spawn to exit of the command itself
        "launcher_wall_s": outer,
        "peak_rss_mb": got["maxrss_kb"] / 1024,  # KiB on Linux
        "cpu_s": got["cpu_s"],
        "stdout": stdout,
        "stderr": stderr,
    }


def last_line_reason(result: dict) -> str:
    lines = [ln for ln in (result["stderr"] + "\n" + result["stdout"]).splitlines() if ln.strip()]
    tail = lines[-1] if lines else "no output"
    why = "timed out" if result.get("timed_out") else f"exit {result['rc']}"
    return f"{why}: {tail[:300]}"


def child_env(model_cache: Path, no_config: Path) -> dict:
    env = {**os.environ, **OFFLINE_ENV, "QA_CONFIG": str(no_config), "QA_MODEL_CACHE_DIR": str(model_cache),
           "PYTHONPATH": str(CODE), "SCALE_BENCH_CODE": str(CODE)}
    for key in ("QA_HOME", "QA_DATA_DIR", "QA_CHROMA_URL", "QA_COLLECTION"):
        env.pop(key, None)
    return env


def sync_child_main(argv: list[str]) -> None:
    """Hidden subcommand ``_sync``: one sync with the hashing embedder; the last line of
    stdout is ``RESULT {json}``."""
    parser = argparse.ArgumentParser(prog="bench_scale.py _sync")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--chroma-url", default=None)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--model-cache-dir", type=Path, default=Path(DEFAULT_MODEL_CACHE))
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the sync here")
    parser.add_argument("paths", nargs="+")
    a = parser.parse_args(argv)
    os.environ.update(OFFLINE_ENV)
    t0 = time.perf_counter()
    import chromadb  # noqa: F401  (timed with the rest of the imports)

    from index import Index, Settings

    t1 = time.perf_counter()
    settings = Settings(data_dir=a.data_dir, chroma_url=a.chroma_url, collection=a.collection,
                        model_cache_dir=a.model_cache_dir)
    idx = Index.open(settings=settings, create=True)
    idx.embedder = hashing_embedder(a.model_cache_dir)
    t2 = time.perf_counter()
    if a.profile:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(idx.sync, a.paths)
        profiler.dump_stats(str(a.profile))
    else:
        report = idx.sync(a.paths)
    t3 = time.perf_counter()
    data = report.to_dict()
    data.pop("articles", None)
    data["failed_count"] = len(data["failed"])
    data["failed"] = data["failed"][:5]
    result = {"report": data, "import_s": t1 - t0, "open_s": t2 - t1, "sync_call_s": t3 - t2}
    print("RESULT " + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


# -- the corpus ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“‘(]?[A-Z0-9])")
_YAML_BAD = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
PLACES = """Ashford Bayview Brookfield Carden Clearwater Dunmore Eastlake Fairhaven Glenrock Harlow
Highgate Kingsport Lakemont Marlow Northbridge Oakridge Pinecrest Queensbury Redcliff Riverton
Seabrook Southgate Stonebridge Thornbury Westfield Whitmore Yarrow Zephyr Milbrook Elmstead""".split()
PAPERS = """Courier Herald Gazette Tribune Post Chronicle Observer Times Ledger Dispatch Sentinel
Register Record Journal Examiner Bulletin Monitor Star Standard Review""".split()


def load_pool(corpora: list[Path]) -> tuple[list[list[str]], list[str]]:
    """Each source article's sentences (5-80 words) and its title, from ``corpus.jsonl``."""
    docs: list[list[str]] = []
    titles: list[str] = []
    for folder in corpora:
        with open(folder / "corpus.jsonl", encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                row = json.loads(line)
                sentences = []
                for para in str(row.get("text") or "").split("\n"):
                    for s in _SENTENCE_END.split(para.strip()):
                        s = " ".join(s.split())
                        if 5 <= len(s.split()) <= 80 and _encodable(s):
                            sentences.append(s)
                if len(sentences) >= 3:
                    docs.append(sentences)
                    title = " ".join(_YAML_BAD.sub("", str(row.get("title") or "")).split())
                    titles.append(title if title and _encodable(title) else "News report")
    return docs, titles


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def make_sources(rng: random.Random) -> list[dict]:
    names: list[str] = []
    while len(names) < N_SOURCES:
        name = f"{rng.choice(PLACES)} {rng.choice(PAPERS)}"
        if name not in names:
            names.append(name)
    return [{"name": n, "slug": n.lower().replace(" ", "-"), "weight": 1 / (rank + 2) ** 0.9}
            for rank, n in enumerate(names)]


def generate(count: int, docs: list[list[str]], titles: list[str]):
    """Yield (relative path, file text, title, body) for article 0..count-1, deterministic."""
    rng = random.Random(SEED)
    sources = make_sources(rng)
    cum, total = [], 0.0
    for s in sources:
        total += s["weight"]
        cum.append(total)
    first = dt.date(FIRST_YEAR, 1, 1)
    span = (dt.date(LAST_YEAR, 12, 31) - first).days + 1
    for n in range(count):
        source = sources[rng.choices(range(len(sources)), cum_weights=cum)[0]]
        day = first + dt.timedelta(days=rng.randrange(span))
        picks = rng.sample(range(len(docs)), rng.randint(2, 4))
        target = rng.randint(*WORDS)
        sentences: list[str] = []
        words = 0
        turn = 0
        while words < target:
            doc = docs[picks[0] if turn == 0 else picks[rng.randrange(len(picks))]]
            start = 0 if turn == 0 else rng.randrange(len(doc))
            for s in doc[start : start + rng.randint(1, 3)]:
                sentences.append(s)
                words += len(s.split())
            turn += 1
        paragraphs, i = [], 0
        while i < len(sentences):
            size = rng.randint(2, 5)
            paragraphs.append(" ".join(sentences[i : i + size]))
            i += size
        body = "\n\n".join(paragraphs)
        title = f"{titles[picks[0]]} ({n + 1})"
        article_id = f"a{n:06d}"
        rel = f"{source['slug']}/{day.year}/{article_id}.md"
        url = f"https://{source['slug']}.example/{day:%Y/%m/%d}/{article_id}"
        text = (
            f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\ndate: {day.isoformat()}\n"
            f"source: {json.dumps(source['name'])}\nurl: {url}\n---\n\n{body}\n"
        )
        yield rel, text, title, body


def ensure_master(work: Path, count: int, corpora: list[Path]) -> dict:
    """``<work>/articles``: the generated articles, at least ``count`` of them (a manifest
    in ``<work>/articles.json`` lists them in order); made once, reused while it fits."""
    master = work / "articles"
    manifest_path = work / "articles.json"
    spec = {"version": GENERATOR_VERSION, "seed": SEED, "corpora": [str(c) for c in corpora]}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            manifest = {}
        if all(manifest.get(k) == v for k, v in spec.items()) and manifest.get("count", 0) >= count:
            log(f"corpus: reusing {manifest['count']:,} generated articles in {master}")
            return manifest
    log(f"corpus: reading sentences from {', '.join(c.name for c in corpora)}")
    docs, titles = load_pool(corpora)
    log(f"corpus: {len(docs):,} source articles, {sum(map(len, docs)):,} sentences; writing {count:,} articles")
    if master.exists():
        shutil.rmtree(master)
    manifest_path.unlink(missing_ok=True)
    files, sources, years, words = [], {}, {}, 0
    for n, (rel, text, _title, body) in enumerate(generate(count, docs, titles)):
        path = master / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(rel)
        src, year = rel.split("/")[:2]
        sources[src] = sources.get(src, 0) + 1
        years[year] = years.get(year, 0) + 1
        words += len(body.split())
        if (n + 1) % 20000 == 0:
            log(f"corpus: {n + 1:,} written")
    manifest = {**spec, "count": count, "words": words, "sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
                "years": dict(sorted(years.items())), "files": files}
    # The source names as written in front matter, most articles first (for the filters).
    names = {s["slug"]: s["name"] for s in make_sources(random.Random(SEED))}
    manifest["source_names"] = [names[slug] for slug in manifest["sources"]]
    manifest_path.write_text(json.dumps(manifest))
    log(f"corpus: {count:,} articles, {words:,} words, {len(sources)} sources")
    return manifest


def make_subset(work: Path, manifest: dict, n: int) -> Path:
    """``<work>/corpus-<n>``: hard links to the first n generated articles (edits replace a
    file, never write into a link, so the generated set is never changed)."""
    target = work / f"corpus-{n}"
    if target.exists():
        shutil.rmtree(target)
    master = work / "articles"
    for rel in manifest["files"][:n]:
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(master / rel, path)
    return target


# -- the real model's throughput (for the extrapolation) ------------------------------------


def real_model_rate(work: Path, manifest: dict, model_cache: Path) -> dict:
    """Chunks/s of the real ONNX embedder on 200 chunk texts of the generated corpus (chunked
    by the project's chunker), after a warm-up on 16 others, as a build would batch them.
    Each precision the code offers is measured, the one new collections get first."""
    import inspect

    import index.embedding as embedding
    from index.chunking import Chunker
    from index.settings import Settings

    settings = Settings(data_dir=work / "scratch", model_cache_dir=model_cache)
    has_precision = "precision" in inspect.signature(embedding.Embedder).parameters
    default = (getattr(settings, "embed_precision", None) or getattr(embedding, "DEFAULT_PRECISION", "fp32")
               if has_precision else "fp32")
    precisions = [default] + [p for p in getattr(embedding, "PRECISIONS", ()) if p != default and has_precision]

    def embedder_of(precision: str):
        extra = {"precision": precision} if has_precision else {}
        return embedding.Embedder(backend="onnx", cache_dir=model_cache, batch_size=settings.embed_batch_size, **extra)

    tokenizer = embedder_of(default).tokenizer
    chunker = Chunker(tokenizer, max_tokens=settings.chunk_tokens,
                      overlap_tokens=settings.chunk_overlap_tokens, title_context=settings.chunk_title_context)
    texts: list[str] = []
    for rel in manifest["files"][:150]:
        raw = (work / "articles" / rel).read_text(encoding="utf-8")
        _, front, body = raw.split("---\n", 2)
        title = json.loads(re.search(r"^title: (.*)$", front, re.M).group(1))
        for chunk in chunker.chunk(title, body.strip()):
            texts.append(chunk.embed_text)
    sample = random.Random(SEED).sample(texts, min(REAL_SAMPLE + 16, len(texts)))
    warm, timed = sample[:16], sample[16:]
    pieces = sum(len(e.ids) - 2 for e in tokenizer.encode_batch(timed))
    out = {
        "texts": len(timed),
        "pieces_per_chunk": pieces / len(timed),
        "batch_size": settings.embed_batch_size,
        "chunks_per_article_sample": len(texts) / 150,
        "default": default,
        "precisions": {},
    }
    for precision in precisions:
        embedder = embedder_of(precision)
        embedder.embed(warm)  # loads the model (and makes its ONNX file if missing), grows the arena
        ticks = cpu_ticks()
        started = time.perf_counter()
        cpu0 = time.process_time()
        embedder.embed(timed)
        seconds = time.perf_counter() - started
        out["precisions"][precision] = {
            "busy_cores": busy_cores(ticks, cpu_ticks()),
            "seconds": seconds,
            "cpu_s": time.process_time() - cpu0,
            "chunks_s": len(timed) / seconds,
        }
        log(f"real model, {precision}: {len(timed) / seconds:.1f} chunks/s")
    out.update(out["precisions"][default])  # chunks_s etc. of the default, for the lines per size
    return out


# -- a chroma server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, log_path: Path):
        chroma = Path(sys.executable).parent / "chroma"
        if not chroma.exists():
            chroma = Path(shutil.which("chroma") or "chroma")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        import urllib.request

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    self.log.close()
                    raise RuntimeError(f"chroma run exited {self.proc.returncode}: {log_path.read_text()[-500:]}")
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("chroma server did not answer in 120 s")

    def memory_mb(self) -> dict:
        """Peak and current RSS of the server process (VmHWM, VmRSS)."""
        found = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    found[key] = int(value.split()[0]) / 1024
        except OSError:
            pass
        return {"peak_rss_mb": found.get("VmHWM"), "rss_mb": found.get("VmRSS")}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- measurements ---------------------------------------------------------------------------


def du(path: Path) -> int:
    """Bytes allocated to the files under ``path`` (like du; links counted once)."""
    total, seen = 0, set()
    if not path.exists():
        return 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def percentiles(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    p95 = statistics.quantiles(ms, n=100, method="inclusive")[94] if len(ms) > 1 else ms[0]
    return {"n": len(ms), "p50_ms": statistics.median(ms), "p95_ms": p95, "max_ms": ms[-1],
            "mean_ms": statistics.fmean(ms)}


def cpu_ticks() -> tuple[int, int]:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    if after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1), 2)


class Case:
    """One size in one mode: its folders, settings and the measurements made so far."""

    def __init__(self, args, n: int, mode: str, corpus: Path, env: dict):
        self.args, self.n, self.mode, self.corpus, self.env = args, n, mode, corpus, env
        self.collection = f"scale{n}"
        self.data_dir = args.work / f"data-{mode}-{n}"
        self.server_path = args.work / f"server-{n}" if mode == "server" else None
        self.server: ChromaServer | None = None
        self.url: str | None = None
        self.retriever = None
        self.row: dict = {"size": n, "mode": mode, "collection": self.collection, "errors": {}, "phase_s": {}}

    # -- helpers

    def settings(self):
        from index import Settings

        return Settings(data_dir=self.data_dir, chroma_url=self.url, collection=self.collection,
                        model_cache_dir=self.args.model_cache_dir)

    def store_flags(self) -> list[str]:
        flags = ["-c", self.collection, "--data-dir", str(self.data_dir)]
        return flags + (["--chroma-url", self.url] if self.url else [])

    def sync(self, timeout: float) -> dict:
        cmd = [sys.executable, str(Path(__file__).resolve()), "_sync", "--data-dir", str(self.data_dir),
               "--collection", self.collection, "--model-cache-dir", str(self.args.model_cache_dir)]
        if self.url:
            cmd += ["--chroma-url", self.url]
        cmd.append(str(self.corpus))
        result = run_measured(cmd, self.env, timeout)
        parsed = parse_result(result["stdout"])
        if result["rc"] != 0 or parsed is None:
            raise RuntimeError(f"sync {last_line_reason(result)}")
        report = parsed["report"]
        if report.get("failed_count"):
            raise RuntimeError(f"sync reported {report['failed_count']} failures: {report['failed'][:2]}")
        return {"wall_s": result["wall_s"], "peak_rss_mb": result["peak_rss_mb"], "cpu_s": result["cpu_s"],
                "sync_s": report["seconds"], "import_s": parsed["import_s"], "open_s": parsed["open_s"],
                "report": report}

    def qa(self, *argv: str, timeout: float = 900) -> dict:
        exe = Path(sys.executable).parent / "qa"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "qa.cli"]
        return run_measured([*cmd, *argv], self.env, timeout)

    def status(self) -> dict:
        result = self.qa("status", "--json", *self.store_flags(), timeout=600)
        if result["rc"] != 0:
            raise RuntimeError(f"qa status {last_line_reason(result)}")
        return json.loads(result["stdout"])

    def step(self, name: str, fn):
        log(f"{self.n:,} {self.mode}: {name}")
        started = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # the run goes on; the cell shows the error
            self.row["errors"][name] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]
            log(f"{self.n:,} {self.mode}: {name} FAILED: {self.row['errors'][name]}")
            value = None
        else:
            self.row[name] = value
        self.row["phase_s"][name] = round(time.perf_counter() - started, 2)
        log(f"{self.n:,} {self.mode}: {name} took {self.row['phase_s'][name]:.1f} s")
        return value

    # -- the steps

    def start(self) -> None:
        if not self.args.reuse:
            for folder in (self.data_dir, self.server_path):
                if folder and folder.exists():
                    shutil.rmtree(folder)
        if self.mode == "server":
            self.server = ChromaServer(self.server_path, self.args.work / f"server-{self.n}.log")
            self.url = self.server.url
            self.row["chroma_url"] = self.url

    def fresh_store(self) -> None:
        """Start from nothing (a kept store that cannot be reused)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        for folder in (self.data_dir, self.server_path):
            if folder and folder.exists():
                shutil.rmtree(folder)
        self.start()

    def build(self) -> dict:
        record = self.args.work / f"build-{self.mode}-{self.n}.json"
        if self.args.reuse and record.exists():
            try:
                status = self.status()
            except Exception as exc:
                log(f"--reuse: no usable store ({exc}); building")
            else:
                complete = (status.get("last_sync") and not status.get("interrupted_sync")
                            and self.n <= status["articles"] <= self.n + 1)
                if complete:
                    log(f"--reuse: store complete ({status['articles']:,} articles); an unmeasured catch-up sync")
                    if self.server_path:
                        # The lexical index is named after the server's URL, and this server has
                        # a new port: the catch-up sync makes a new one; drop the old ones.
                        shutil.rmtree(self.data_dir / "lexical", ignore_errors=True)
                    self.sync(3600)
                    build = json.loads(record.read_text())
                    build["reused"] = True
                    return build
                log("--reuse: store incomplete; building")
            self.fresh_store()
        ticks = cpu_ticks()
        build = self.sync(timeout=max(1800.0, self.n * 0.25))
        build["busy_cores"] = busy_cores(ticks, cpu_ticks())
        build["own_cores"] = round(build["cpu_s"] / build["wall_s"], 2)
        status = self.status()
        build.update(articles=status["articles"], chunks=status["chunks"],
                     chunks_s=build["report"]["chunks_embedded"] / build["wall_s"], reused=False)
        if status["articles"] != self.n:
            raise RuntimeError(f"built {status['articles']} articles, not {self.n}")
        record.write_text(json.dumps(build))
        return build

    def resync(self) -> dict:
        got = self.sync(1800)
        if got["report"]["added"] or got["report"]["updated"] or got["report"]["removed"]:
            raise RuntimeError(f"a no-change resync changed something: {got['report']}")
        return got

    def disk(self) -> dict:
        data = du(self.data_dir)
        chroma = du(self.server_path) if self.server_path else du(self.data_dir / "chroma")
        lexical = du(self.data_dir / "lexical")
        total = data + (chroma if self.server_path else 0)
        return {"total_mb": total / 2**20, "chroma_mb": chroma / 2**20, "lexical_mb": lexical / 2**20}

    def open_retriever(self) -> dict:
        from qa.retrieval import Retriever
        from qa.settings import Settings as AnswerSettings

        started = time.perf_counter()
        self.retriever = Retriever.open(settings=self.settings(), seed=False, create=False, answering=AnswerSettings())
        self.retriever.index.embedder = hashing_embedder(self.args.model_cache_dir)
        opened = time.perf_counter() - started
        first = time.perf_counter()
        self.retriever.search(self.args.questions_list[0], **SEARCH_KW)
        return {"open_s": opened, "first_search_s": time.perf_counter() - first}

    def open_second_client(self) -> dict:
        """Server mode: a second client (its own data dir, so its own lexical index and
        article copy) searching the collection the first one syncs (issue 14, item 4)."""
        if not self.server_path:
            return {"skipped": "embedded: one data dir, one lexical index"}
        from qa.retrieval import Retriever
        from qa.settings import Settings as AnswerSettings

        settings = self.settings().model_copy(update={"data_dir": self.data_dir.with_name(self.data_dir.name + "-second")})
        started = time.perf_counter()
        self.second = Retriever.open(settings=settings, seed=False, create=False, answering=AnswerSettings())
        self.second.index.embedder = hashing_embedder(self.args.model_cache_dir)
        opened = time.perf_counter() - started
        first = time.perf_counter()
        self.second.search(self.args.questions_list[0], **SEARCH_KW)  # fills its lexical index
        return {"open_s": opened, "first_search_s": time.perf_counter() - first}

    def second_client_sees(self, query: str, article_id: str) -> dict:
        """The second client's next search after the first client's sync: found, and its
        time against its own warm search."""
        if getattr(self, "second", None) is None:
            return {}
        started = time.perf_counter()
        found = self.second.search(query, k=10, stories=False)
        catch_up = time.perf_counter() - started
        started = time.perf_counter()
        self.second.search(query, k=10, stories=False)
        warm = time.perf_counter() - started
        hit = any(p.article_id == article_id for p in found)
        if not hit:
            raise RuntimeError("the second client's next search did not find the new article")
        return {"second_client_found": hit, "second_client_search_s": catch_up, "second_client_extra_s": catch_up - warm}

    def warm_search(self) -> dict:
        if self.retriever is None:
            raise RuntimeError("no retriever (opening it failed)")
        questions = self.args.questions_list
        warm, timed = questions[:WARMUP_QUERIES], questions[WARMUP_QUERIES : WARMUP_QUERIES + TIMED_QUERIES]
        names = self.args.filter_sources
        variants = {
            "none": {},
            "dates": {"since": f"{FILTER_YEAR}-01-01", "until": f"{FILTER_YEAR}-12-31"},
            "sources": {"sources": names},
        }
        out = {"search": SEARCH_KW, "filters": variants}
        for name, filters in variants.items():
            for q in warm:
                self.retriever.search(q, **SEARCH_KW, **filters)
            times, empty = [], 0
            for q in timed:
                started = time.perf_counter()
                found = self.retriever.search(q, **SEARCH_KW, **filters)
                times.append(time.perf_counter() - started)
                empty += not found
            out[name] = {**percentiles(times), "empty": empty}
            log(f"    {name}: p50 {out[name]['p50_ms']:.1f} ms, p95 {out[name]['p95_ms']:.1f} ms")
        return out

    def find(self, query: str, article_id: str) -> tuple[bool, float]:
        started = time.perf_counter()
        found = self.retriever.search(query, k=10, stories=False)
        return any(p.article_id == article_id for p in found), time.perf_counter() - started

    def new_article(self) -> dict:
        path = self.corpus / NEW_ID
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(NEW_ARTICLE, encoding="utf-8")
        got = self.sync(1800)
        if got["report"]["added"] != 1:
            raise RuntimeError(f"the new article was not added: {got['report']}")
        if self.retriever is not None:
            found, search_s = self.find(NEW_QUERY, NEW_ID)
            got.update(found=found, first_search_s=search_s, searchable_s=got["wall_s"] + search_s)
            if not found:
                raise RuntimeError(f"synced in {got['wall_s']:.1f} s but not found by a search")
        got.update(self.second_client_sees(NEW_QUERY, NEW_ID))
        return got

    def edit_article(self) -> dict:
        rel = self.args.manifest["files"][self.n // 2]
        path = self.corpus / rel
        head, sep, body = path.read_text(encoding="utf-8").partition("\n---\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(f"{head}{sep}\n{EDIT_PARAGRAPH}\n{body}", encoding="utf-8")
        tmp.replace(path)  # a new file, not a write into the hard link
        self.row["edited_id"] = rel
        got = self.sync(1800)
        if got["report"]["updated"] != 1:
            raise RuntimeError(f"the edit was not picked up: {got['report']}")
        if self.retriever is not None:
            found, search_s = self.find(EDIT_QUERY, rel)
            got.update(found=found, first_search_s=search_s, searchable_s=got["wall_s"] + search_s)
            if not found:
                raise RuntimeError(f"synced in {got['wall_s']:.1f} s but the new text is not found")
        return got

    def close_retriever(self) -> None:
        self.second = None
        if self.retriever is None:
            return
        r, self.retriever = self.retriever, None
        if getattr(r, "_pool", None) is not None:
            r._pool.shutdown(wait=True)
        lexical = r.index.__dict__.get("lexical")
        if lexical is not None:
            lexical.close()
        del r
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
        import gc

        gc.collect()

    def cold_search(self) -> dict:
        question = self.args.questions_list[-1]
        runs = []
        for _ in range(COLD_RUNS):
            result = self.qa("search", question, "--json", *self.store_flags(), timeout=900)
            if result["rc"] != 0:
                raise RuntimeError(f"qa search {last_line_reason(result)}")
            passages = json.loads(result["stdout"])["passages"]
            runs.append({"wall_s": result["wall_s"], "peak_rss_mb": result["peak_rss_mb"],
                         "cpu_s": result["cpu_s"], "passages": len(passages)})
        return {"question": question, "runs": runs, "wall_s": statistics.median(r["wall_s"] for r in runs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}

    def restore_corpus(self) -> None:
        """Undo the new article and the edit, so the next mode (or a --reuse) starts from
        the generated set."""
        (self.corpus / NEW_ID).unlink(missing_ok=True)
        rel = self.row.get("edited_id")
        if rel:
            tmp = self.corpus / (rel + ".tmp")
            tmp.unlink(missing_ok=True)
            os.link(self.args.work / "articles" / rel, tmp)
            tmp.replace(self.corpus / rel)

    def finish(self) -> None:
        try:
            self.close_retriever()
        except Exception as exc:
            log(f"closing the retriever: {exc}")
        try:
            self.restore_corpus()
        except Exception as exc:
            log(f"restoring the corpus: {exc}")
        if self.server is not None:
            self.row["server_memory"] = self.server.memory_mb()
            self.server.stop()
            log(f"{self.n:,} server: chroma server stopped")
        if not self.args.keep:
            for folder in (self.data_dir, self.server_path):
                if folder and folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
            (self.args.work / f"build-{self.mode}-{self.n}.json").unlink(missing_ok=True)

    def run(self) -> dict:
        started = time.perf_counter()
        ticks = cpu_ticks()
        try:
            if self.step("start", self.start) is None and "start" in self.row["errors"]:
                return self.row
            self.row.pop("start", None)
            self.step("build", self.build)  # on failure the other steps still run: each says what it finds
            self.step("resync", self.resync)
            self.step("disk", self.disk)
            self.step("retriever", self.open_retriever)
            self.step("second_client", self.open_second_client)
            self.step("warm_search", self.warm_search)
            self.step("new_article", self.new_article)
            self.step("edit_article", self.edit_article)
            self.close_retriever()
            self.step("cold_search", self.cold_search)
        finally:
            self.finish()
            self.row["total_s"] = round(time.perf_counter() - started, 1)
            self.row["busy_cores"] = busy_cores(ticks, cpu_ticks())
        return self.row


# -- the report -------------------------------------------------------------------------------

COLUMNS = [
    "articles", "store", "chunks", "build s", "chunks/s", "build RSS MB", "resync s (in sync)", "resync RSS MB",
    "new article s (in sync)", "searchable after s", "2nd client: next search s (extra)", "edit s (in sync)", "sync RSS MB (new/edit)",
    "search p50/p95 ms", "+1 year p50/p95", "+2 sources p50/p95", "cold qa search s", "qa search RSS MB",
    "server RSS MB", "disk MB",
]


def _f(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int,)) or (isinstance(value, float) and digits == 0):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def cells(row: dict) -> list[str]:
    errors = row.get("errors", {})

    def cell(step: str, render) -> str:
        if step in errors:
            return "ERROR: " + errors[step].split(": ", 1)[-1][:60].replace("|", "/")
        value = row.get(step)
        if value is None:
            return "–"
        try:
            return render(value)
        except (KeyError, TypeError, ValueError):
            return "–"

    def pair(name):
        return lambda w: f"{w[name]['p50_ms']:.0f} / {w[name]['p95_ms']:.0f}"

    server = (row.get("server_memory") or {}).get("peak_rss_mb")
    out = [
        f"{row['size']:,}",
        row["mode"],
        cell("build", lambda b: _f(b["chunks"], 0)),
        cell("build", lambda b: _f(b["wall_s"]) + (" (reused)" if b.get("reused") else "")),
        cell("build", lambda b: _f(b["chunks_s"], 0)),
        cell("build", lambda b: _f(b["peak_rss_mb"], 0)),
        cell("resync", lambda r: f"{r['wall_s']:.2f} ({r['sync_s']:.2f})"),
        cell("resync", lambda r: _f(r["peak_rss_mb"], 0)),
        cell("new_article", lambda r: f"{r['wall_s']:.2f} ({r['sync_s']:.2f})"),
        cell("new_article", lambda r: f"{r['searchable_s']:.2f}"),
        cell("new_article", lambda r: f"{r['second_client_search_s']:.2f} ({r['second_client_extra_s']:+.2f})")
        if row["mode"] == "server" else "–",
        cell("edit_article", lambda r: f"{r['wall_s']:.2f} ({r['sync_s']:.2f})"),
        "/".join(
            cell(s, lambda r: _f(r["peak_rss_mb"], 0)) if s not in errors else "ERR"
            for s in ("new_article", "edit_article")
        ),
        cell("warm_search", pair("none")),
        cell("warm_search", pair("dates")),
        cell("warm_search", pair("sources")),
        cell("cold_search", lambda c: f"{c['wall_s']:.2f}"),
        cell("cold_search", lambda c: _f(c["peak_rss_mb"], 0)),
        _f(server, 0) if row["mode"] == "server" else "–",
        cell("disk", lambda d: _f(d["total_mb"], 0)),
    ]
    if "build" in errors:  # one cell says why; the build's other cells are empty
        out[2] = out[4] = out[5] = "–"
    return out


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---:" if i > 1 else "---" for i in range(len(COLUMNS))) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cells(row)) + " |")
    return "\n".join(lines)


def real_lines(res: dict) -> list[str]:
    rate = res.get("real_model")
    lines = []
    if not isinstance(rate, dict) or "chunks_s" not in rate:
        return [f"real model: not measured ({res.get('real_model_error', 'unknown error')})"]
    for precision, got in (rate.get("precisions") or {rate.get("default", "fp32"): rate}).items():
        lines.append(
            f"real model (ONNX {precision}{', new collections' if precision == rate.get('default') else ''},"
            f" batch {rate['batch_size']}): {got['chunks_s']:.1f} chunks/s on {rate['texts']} chunk texts of this"
            f" corpus ({rate['pieces_per_chunk']:.0f} word pieces each), machine busy {got.get('busy_cores')} of"
            f" {res['machine']['cpus']} cores meanwhile"
        )
    for n in res["sizes"]:
        built = [r["build"] for r in res["rows"] if r["size"] == n and isinstance(r.get("build"), dict)]
        if built:
            chunks, how = built[0]["report"]["chunks_embedded"], "embedded in the build"
        else:
            chunks = round(n * rate["chunks_per_article_sample"])
            how = "estimated from the sample's chunks per article"
        for precision, got in (rate.get("precisions") or {rate.get("default", "fp32"): rate}).items():
            hours = chunks / got["chunks_s"] / 3600
            took = f"{hours:.1f} hours" if hours >= 1 else f"{hours * 60:.1f} min"
            lines.append(
                f"real model ({precision}), {n:,} articles: {chunks:,} chunks ({how}) at {got['chunks_s']:.1f}"
                f" chunks/s ≈ {took}"
            )
    return lines


def target_lines(res: dict) -> list[str]:
    """The issue's targets (set for 100k articles) against the largest size measured."""
    if not res["rows"]:
        return []
    largest = max(r["size"] for r in res["rows"])
    lines = [f"targets (for 100,000 articles; checked here at {largest:,}):"]
    for row in (r for r in res["rows"] if r["size"] == largest):
        checks = []
        resync = (row.get("resync") or {}).get("wall_s")
        new = (row.get("new_article") or {}).get("searchable_s")
        warm = (row.get("warm_search") or {}).get("none") or {}
        rss = (row.get("cold_search") or {}).get("peak_rss_mb")
        for label, value, target in (
            ("resync s", resync, TARGETS["resync_s"]),
            ("new article searchable s", new, TARGETS["searchable_s"]),
            ("search p50 ms", warm.get("p50_ms"), TARGETS["p50_ms"]),
            ("search p95 ms", warm.get("p95_ms"), TARGETS["p95_ms"]),
            ("qa search RSS MB", rss, TARGETS["search_rss_mb"]),
        ):
            verdict = "?" if value is None else ("met" if value <= target else "MISSED")
            checks.append(f"{label} {_f(value, 2)} ≤ {target:g}: {verdict}")
        lines.append(f"  {row['mode']}: " + "; ".join(checks))
    return lines


def render(res: dict) -> str:
    out = [
        f"## Scale benchmark, {res['date']}, {res['machine']['cpus']} CPUs, code {res['code']['commit'][:12]}"
        + (" with uncommitted edits in index/, qa/ or tui/" if res["code"].get("dirty") else ""),
        "",
        f"**{HASHING_NOTE}** (cold `qa search` embeds its query with the real model).",
        "",
        table(res["rows"]),
        "",
        *real_lines(res),
        "",
        *target_lines(res),
    ]
    errors = [f"- {r['size']:,} {r['mode']} {step}: {msg}" for r in res["rows"] for step, msg in r.get("errors", {}).items()]
    if errors:
        out += ["", "errors:", *errors]
    phases = [
        f"- {r['size']:,} {r['mode']}: " + ", ".join(f"{k} {v:.0f} s" for k, v in r.get("phase_s", {}).items())
        + f"; machine busy {r.get('busy_cores')} cores on average"
        for r in res["rows"]
    ]
    out += ["", "time per phase:", *phases]
    return "\n".join(out)


# -- main -------------------------------------------------------------------------------------


def _git(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, check=True, **kw)


def code_info() -> dict:
    try:
        return {"commit": _git("rev-parse", "HEAD", text=True).stdout.strip(), "dir": str(ROOT),
                "dirty": bool(_git("status", "--porcelain", "index", "qa", "tui", text=True).stdout.strip())}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dir": str(ROOT), "dirty": None}


def snapshot_code(work: Path, rev: str) -> dict:
    """index/, qa/, tui/ and seeds/ of git revision ``rev`` copied to ``<work>/code``: every
    process of the run imports from there, so edits in the work tree during a long run
    cannot mix two versions."""
    commit = _git("rev-parse", rev, text=True).stdout.strip()
    target = work / "code"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    archive = _git("archive", "--format=tar", commit, "index", "qa", "tui", "seeds").stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return {"commit": commit, "dir": str(target), "dirty": False}


def load_questions(path: Path, count: int) -> list[str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in rows if r.get("question")]
    return random.Random(SEED).sample(questions, min(count, len(questions)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_sync":
        sync_child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="corpora, stores and results.json go here")
    parser.add_argument("--sizes", default="10000,30000,100000", help="article counts, comma-separated")
    parser.add_argument("--modes", default="embedded,server", help="embedded, server or both")
    parser.add_argument("--corpora", default=",".join(DEFAULT_CORPORA),
                        help="eval-set folders whose corpus.jsonl sentences are resampled")
    parser.add_argument("--questions", type=Path, default=Path(DEFAULT_QUESTIONS))
    parser.add_argument("--model-cache-dir", type=Path,
                        default=Path(os.environ.get("QA_MODEL_CACHE_DIR", DEFAULT_MODEL_CACHE)))
    parser.add_argument("--keep", action="store_true", help="keep corpora and stores after each size")
    parser.add_argument("--reuse", action="store_true", help="skip the build of a complete store kept by --keep")
    parser.add_argument("--code", default=None, metavar="REV",
                        help="measure git revision REV (copied to <work>/code) instead of the work tree as it is")
    args = parser.parse_args()

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not sizes or any(n < 10 for n in sizes):
        parser.error("--sizes: article counts of at least 10")
    if not modes or any(m not in ("embedded", "server") for m in modes):
        parser.error("--modes: embedded, server or both")
    corpora = [Path(c).resolve() for c in args.corpora.split(",") if c.strip()]
    for folder in corpora:
        if not (folder / "corpus.jsonl").is_file():
            parser.error(f"--corpora: no corpus.jsonl in {folder}")
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.model_cache_dir = args.model_cache_dir.resolve()
    # No settings file of the person running this applies, here or in any child.
    no_config = args.work / "no-config.toml"
    no_config.unlink(missing_ok=True)
    os.environ.update(OFFLINE_ENV)
    os.environ["QA_CONFIG"] = str(no_config)
    os.environ["QA_MODEL_CACHE_DIR"] = str(args.model_cache_dir)
    for key in ("QA_HOME", "QA_DATA_DIR", "QA_CHROMA_URL", "QA_COLLECTION"):
        os.environ.pop(key, None)
    global CODE
    if args.code:
        code = snapshot_code(args.work, args.code)
        CODE = Path(code["dir"])
        sys.path.insert(0, str(CODE))
    else:
        code = code_info()
    import index

    if not Path(index.__file__).resolve().is_relative_to(CODE.resolve()):
        raise SystemExit(f"index imported from {index.__file__}, not from {CODE}")
    env = child_env(args.model_cache_dir, no_config)
    out_path = args.work / "results.json"

    res: dict = {
        "date": dt.date.today().isoformat(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "code": code,
        "command": " ".join(sys.argv),
        "note": HASHING_NOTE,
        "sizes": sizes,
        "modes": modes,
        "search": SEARCH_KW,
        "targets": TARGETS,
        "rows": [],
    }
    log(f"scale benchmark: sizes {sizes}, modes {modes}, work {args.work}; {HASHING_NOTE}")

    manifest = ensure_master(args.work, max(sizes), corpora)
    args.manifest = manifest
    res["corpus"] = {k: manifest.get(k) for k in ("count", "words", "version", "seed", "corpora", "years")}
    res["corpus"]["sources"] = len(manifest["sources"])
    args.filter_sources = [manifest["source_names"][0], manifest["source_names"][min(9, len(manifest["source_names"]) - 1)]]
    res["filter_sources"] = args.filter_sources
    args.questions_list = load_questions(args.questions, WARMUP_QUERIES + TIMED_QUERIES)

    log("real model throughput on 200 chunk texts of the corpus (for the extrapolation)")
    try:
        res["real_model"] = real_model_rate(args.work, manifest, args.model_cache_dir)
    except Exception as exc:
        res["real_model_error"] = f"{type(exc).__name__}: {exc}"
        log(f"real model throughput FAILED: {res['real_model_error']}")
    out_path.write_text(json.dumps(res, indent=1, default=str))

    for n in sizes:
        log(f"== {n:,} articles")
        corpus = make_subset(args.work, manifest, n)
        try:
            for mode in modes:
                row = Case(args, n, mode, corpus, env).run()
                res["rows"].append(row)
                out_path.write_text(json.dumps(res, indent=1, default=str))
        finally:
            if not args.keep:
                shutil.rmtree(corpus, ignore_errors=True)

    res["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    text = render(res)
    res["table"] = text
    out_path.write_text(json.dumps(res, indent=1, default=str))
    print(text)
    print(f"\n(results in {out_path}; whole run {(time.perf_counter() - _STARTED) / 60:.1f} min)")


if __name__ == "__main__":
    main()
