"""int8 against fp32 embeddings (issue 14): indexing throughput and retrieval recall.

    .venv/bin/python tests/bench/bench_int8.py /work/shared/eval/realtimeqa-dev \
        /work/shared/eval/xquad-en --work /work/bench-data/int8 \
        [--baseline-ref 0b4a1f8] [--articles 400] [--reuse]

1. Throughput, side by side in one run on the same articles (the first ``--articles`` of
   the first set): ``qa index`` of them into a fresh store, as a subprocess, with
   (a) the code at ``--baseline-ref`` (fp32, before the pipeline: "today"),
   (b) this code with ``QA_EMBED_PRECISION=fp32`` and (c) this code with int8.
   chunks/s is the chunks embedded over the sync's own seconds; wall includes the process
   start. The model alone (no store) is timed on a sample of those chunks, both precisions,
   interleaved, best of three.
2. Recall: every set is indexed once with each precision (kept under ``--work``; ``--reuse``
   keeps a complete one), then searched with the library's defaults (hybrid) and dense
   only; realtimeqa sets as of each question's date. Recall@k: a gold article in the top k.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "QA_CONFIG": "/nonexistent/qa-bench.toml",  # a user's settings file never applies
}
os.environ.update(OFFLINE_ENV)

from index import Index, Settings  # noqa: E402
from qa import Retriever, Weights  # noqa: E402
from qa.evaluation import load_questions, score_retrieval  # noqa: E402

K = 10
REPO = Path(os.environ.get("QA_BENCH_REPO", ROOT))  # where --baseline-ref is looked up


def snapshot(ref: str, into: Path) -> Path:
    """The repository's code at ``ref``, unpacked (its ``qa.cli`` runs with cwd there)."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def index_once(code: Path, corpus: Path, data_dir: Path, models: Path, precision: str | None) -> dict:
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "QA_HOME": str(data_dir), "QA_MODEL_CACHE_DIR": str(models), "QA_COLLECTION": "bench"}
    env.pop("QA_EMBED_PRECISION", None)
    if precision:
        env["QA_EMBED_PRECISION"] = precision
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "index", str(corpus), "--json"],
        cwd=code, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qa index failed ({code}): {done.stderr.strip()[-400:]}")
    report = json.loads(done.stdout)
    return {
        "chunks": report["chunks_embedded"],
        "sync_s": report["seconds"],
        "wall_s": wall,
        "chunks_per_s": report["chunks_embedded"] / report["seconds"],
    }


def model_alone(corpus: Path, models: Path, sample: int = 400) -> dict:
    from index.chunking import Chunker
    from index.embedding import Embedder

    embedders = {p: Embedder(cache_dir=models, precision=p).load() for p in ("fp32", "int8")}
    chunker = Chunker(embedders["fp32"].tokenizer, max_tokens=200, overlap_tokens=40)
    texts: list[str] = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        texts += [c.embed_text for c in chunker.chunk(row.get("title") or "", row["text"])]
        if len(texts) >= sample:
            break
    texts = texts[:sample]
    best = {p: 0.0 for p in embedders}
    for _ in range(3):
        for precision, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed(texts)
            best[precision] = max(best[precision], len(texts) / (time.perf_counter() - started))
    vectors = {p: e.embed(texts) for p, e in embedders.items()}
    cosines = (vectors["fp32"] * vectors["int8"]).sum(axis=1)
    return {"texts": len(texts), **{f"{p}_chunks_per_s": v for p, v in best.items()},
            "cosine_mean": float(cosines.mean()), "cosine_min": float(cosines.min())}


def recall(folder: Path, work: Path, models: Path, precision: str, reuse: bool, given: str | None) -> dict:
    """``given``: DATA_DIR:COLLECTION of an index of this set built already (checked: a dry
    run of the set must find nothing to add or update)."""
    corpus = folder / "corpus.jsonl"
    if given:
        data_dir, collection = given.rsplit(":", 1)
        settings = Settings(data_dir=Path(data_dir), model_cache_dir=models, collection=collection)
        idx = Index.open(settings=settings, create=False)
        plan = idx.sync([corpus], dry_run=True)
        if plan.added or plan.updated or idx.status()["precision"] != precision:
            raise SystemExit(f"{given} is not a {precision} index of {corpus}: {plan.summary()}")
    else:
        data_dir = work / f"{folder.name}-{precision}"
        done = data_dir / "bench-complete"
        if not (reuse and done.exists()):
            shutil.rmtree(data_dir, ignore_errors=True)
        settings = Settings(data_dir=data_dir, model_cache_dir=models, collection="bench", embed_precision=precision)
        idx = Index.open(settings=settings)
        if not done.exists():
            report = idx.sync([corpus])
            print(f"  indexed {folder.name} {precision}: {report.summary()}", file=sys.stderr, flush=True)
            done.write_text(report.summary())
    canonical = idx.canonical_ids()
    questions = [q for q in load_questions(folder) if q.gold_articles]
    questions = [replace(q, gold_articles=[canonical.get(g, g) for g in q.gold_articles]) for q in questions]
    dated = any(q.date for q in questions)
    out = {}
    for label, weights in (("hybrid", Weights()), ("dense", replace(Weights(), lexical=0.0))):
        retriever = Retriever(idx, weights=weights)
        retriever.warm_up()

        def search(q):
            found = retriever.search(q.question, k=K, as_of=q.date if dated else None)
            return [(p.article_id, p.text) for p in found]

        scores = score_retrieval(questions, search)
        out[label] = {"r1": scores.recall_at_1, "r5": scores.recall_at_5, "questions": scores.questions}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dirs", type=Path, nargs="+")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--model-cache-dir", type=Path, default=Path(os.environ.get("QA_MODEL_CACHE_DIR", "/tmp/qa-models")))
    parser.add_argument("--baseline-ref", default=None, help="git ref of today's code (fp32, no pipeline)")
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--reuse", action="store_true", help="keep complete recall indexes from an earlier run")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--fp32-index", action="append", default=[], metavar="SET=DATA_DIR:COLLECTION",
                        help="use this fp32 index of SET (an eval folder's name) instead of building one")
    args = parser.parse_args()
    work, models = args.work.resolve(), args.model_cache_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"load_before": os.getloadavg()}

    if not args.skip_throughput:
        first = args.eval_dirs[0] / "corpus.jsonl"
        subset = work / "throughput.jsonl"
        lines = first.read_text(encoding="utf-8").splitlines()[: args.articles]
        subset.write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs = []
        if args.baseline_ref:
            code = snapshot(args.baseline_ref, Path(tempfile.gettempdir()) / "qa-baseline")
            runs.append((f"today ({args.baseline_ref}, fp32)", code, None))
        runs += [("fp32 + pipeline", ROOT, "fp32"), ("int8 + pipeline", ROOT, "int8")]
        throughput = []
        for label, code, precision in runs:
            print(f"[1] {label}: qa index {len(lines)} articles", file=sys.stderr, flush=True)
            row = index_once(code, subset, work / "throughput-store", models, precision)
            throughput.append({"label": label, **row})
        print("[1] the model alone", file=sys.stderr, flush=True)
        results["model_alone"] = model_alone(subset, models)
        results["throughput"] = throughput
        base = throughput[0]["chunks_per_s"]
        print(f"\nIndexing {len(lines)} articles of {args.eval_dirs[0].name} (same machine, one run)\n")
        print("| build | chunks | sync s | wall s | chunks/s | × first row |")
        print("|---|---|---|---|---|---|")
        for row in throughput:
            print(f"| {row['label']} | {row['chunks']} | {row['sync_s']:.1f} | {row['wall_s']:.1f}"
                  f" | {row['chunks_per_s']:.1f} | {row['chunks_per_s'] / base:.2f} |")
        m = results["model_alone"]
        print(f"\nModel alone on {m['texts']} chunks, best of 3: fp32 {m['fp32_chunks_per_s']:.1f}, int8"
              f" {m['int8_chunks_per_s']:.1f} chunks/s ({m['int8_chunks_per_s'] / m['fp32_chunks_per_s']:.2f}×);"
              f" cosine int8·fp32 mean {m['cosine_mean']:.4f}, min {m['cosine_min']:.4f}")

    results["recall"] = {}
    for folder in args.eval_dirs:
        folder = folder.resolve()
        for precision in ("fp32", "int8"):
            print(f"[2] {folder.name} {precision}", file=sys.stderr, flush=True)
            given = dict(g.split("=", 1) for g in args.fp32_index).get(folder.name) if precision == "fp32" else None
            results["recall"][f"{folder.name}/{precision}"] = recall(folder, work, models, precision, args.reuse, given)
    print("\n| set | retrieval | questions | fp32 R@1 | int8 R@1 | fp32 R@5 | int8 R@5 | R@5 change (points) |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in args.eval_dirs:
        for label in ("hybrid", "dense"):
            f = results["recall"][f"{folder.resolve().name}/fp32"][label]
            i = results["recall"][f"{folder.resolve().name}/int8"][label]
            print(f"| {folder.name} | {label} | {f['questions']} | {f['r1']:.3f} | {i['r1']:.3f} | {f['r5']:.3f}"
                  f" | {i['r5']:.3f} | {100 * (i['r5'] - f['r5']):+.1f} |")
    results["load_after"] = os.getloadavg()
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
