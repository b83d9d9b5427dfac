"""What the lexical postings budget costs in recall (issue 14), on an index of an eval set.

    .venv/bin/python tests/bench/bench_lexical_budget.py /work/shared/eval/realtimeqa-dev \
        --data-dir DIR --collection NAME [--budgets 0,20000,5000,1500]

A lexical query scores only its rarest terms while the chunks they match stay within the
budget (``index.lexical.POSTINGS_BUDGET``; 0 here means no budget). The budget bites on
big collections; on an eval set's index, budgets scaled down by the size ratio show what
it would cost there (20,000 of 400,000 chunks is 5 %: 1,500 of realtimeqa-dev's 29,000).
Prints recall@5/@10 of the lexical retriever alone and of the hybrid one (dated questions
as of their date), and the lexical query's median time, for each budget.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QA_CONFIG", "/nonexistent/qa-bench.toml")

import index.lexical  # noqa: E402
from index import Index, Settings  # noqa: E402
from qa import Retriever, Weights  # noqa: E402
from qa.evaluation import load_questions, score_retrieval  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--model-cache-dir", type=Path, default=Path(os.environ.get("QA_MODEL_CACHE_DIR", "/tmp/qa-models")))
    parser.add_argument("--budgets", default="0,20000,5000,1500")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, model_cache_dir=args.model_cache_dir, collection=args.collection)
    idx = Index.open(settings=settings, create=False)
    canonical = idx.canonical_ids()
    questions = [q for q in load_questions(args.eval_dir) if q.gold_articles]
    questions = [replace(q, gold_articles=[canonical.get(g, g) for g in q.gold_articles]) for q in questions]
    dated = any(q.date for q in questions)
    chunks = idx.counts()[1]
    print(f"{args.eval_dir.name}: {len(questions)} questions, {chunks:,} chunks\n")
    print("| budget (chunks scored) | share of chunks | lexical R@5 | lexical R@10 | hybrid R@5 | hybrid R@10 | terms kept | lexical query p50 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for budget in [int(b) for b in args.budgets.split(",")]:
        index.lexical.POSTINGS_BUDGET = budget or 10**12
        kept, times = [], []
        lexical = idx.lexical

        def timed_terms(query):
            terms = index.lexical.query_terms(query)
            chosen = lexical.affordable(terms)
            kept.append(len(chosen) / max(len(terms), 1))
            return chosen

        rows = {}
        for label, weights in (("lexical", replace(Weights(), dense=0.0)), ("hybrid", Weights())):
            retriever = Retriever(idx, weights=weights)
            retriever.warm_up()

            def search(q):
                return [(p.article_id, p.text) for p in retriever.search(q.question, k=10, as_of=q.date if dated else None)]

            rows[label] = score_retrieval(questions, search)
        for q in questions:
            timed_terms(q.question)
            started = time.perf_counter()
            lexical.search(q.question, 50)
            times.append(1000 * (time.perf_counter() - started))
        share = f"{budget / chunks:.1%}" if budget else "all"
        print(f"| {budget or 'none'} | {share} | {rows['lexical'].recall_at_5:.3f} | {rows['lexical'].recall_at_10:.3f}"
              f" | {rows['hybrid'].recall_at_5:.3f} | {rows['hybrid'].recall_at_10:.3f}"
              f" | {statistics.mean(kept):.0%} | {statistics.median(times):.1f} |", flush=True)


if __name__ == "__main__":
    main()
