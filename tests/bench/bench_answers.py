"""Answer quality and speed on an eval set, side by side in one run: the answerer with
the trained answer model (qa/ranker.py: passages reranked, lead picked and refusals
judged by the model), the same without the rerank, the hand-set answerer it replaced
(no model at all), and the baseline "first sentence of the top BM25 passage"; plus the
article recall of search with and without the rerank.

    .venv/bin/python tests/bench/bench_answers.py ../shared/eval/realtimeqa-dev \\
        --data-dir /work/bench-data/rtqa --collection rtqa [--sweep] [--limit N]

Prints a markdown table. The corpus is synced into the collection first (a no-op when
it is already built).
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from index import Index, Settings  # noqa: E402
from index.errors import QAError  # noqa: E402
from qa.answer_eval import contains, score_answers, token_f1  # noqa: E402
from qa.assistant import Assistant  # noqa: E402
from qa.evaluation import corpus_path, eval_collection_name, evaluate_retriever, load_questions  # noqa: E402
from qa.extractive import ScoreWeights  # noqa: E402
from qa.retrieval import Retriever, Weights  # noqa: E402


def bm25_first_sentence(assistant: Assistant, questions, dated: bool = False) -> dict:
    """Baseline: the first sentence of the top lexical (BM25) passage (``dated``: of the
    articles published by the question's date)."""
    from index.chunking import sentence_spans

    lexical_only = Retriever(assistant.index, Weights(dense=0.0, lexical=1.0), rerank=False)
    in_lead = f1 = 0.0
    n = 0
    for q in questions:
        if not (q.answerable and q.answers):
            continue
        n += 1
        passages = lexical_only.search(q.question, k=1, as_of=q.date if dated else None, recent=False)
        lead = ""
        if passages:
            spans = sentence_spans(passages[0].text)
            lead = passages[0].text[spans[0][0] : spans[0][1]] if spans else passages[0].text
        in_lead += contains(lead, q.answers)
        f1 += max(token_f1(lead, a) for a in q.answers)
    return {"gold_in_lead": in_lead / max(n, 1), "lead_f1": f1 / max(n, 1)}


def cold_ask(settings: Settings, question: str, runs: int = 3) -> float:
    env = {
        **os.environ,
        "QA_HOME": str(settings.data_dir),
        "QA_COLLECTION": settings.collection,
        "QA_MODEL_CACHE_DIR": str(settings.model_cache_dir),
    }
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa.cli", "ask", question], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def open_eval_set(args) -> tuple[Settings, Index, list]:
    """The eval set's index (synced: a no-op once built) and its questions, only those of
    one half of xquad's articles with ``args.xquad_split`` (the answer model trained on the
    other half, answer_data.py)."""
    settings = Settings(
        data_dir=args.data_dir,
        collection=args.collection or eval_collection_name(args.eval_set),
        model_cache_dir=Path(os.environ.get("QA_MODEL_CACHE_DIR", Settings().model_cache_dir)),
    )
    idx = Index.open(settings=settings)
    idx.sync([corpus_path(args.eval_set)])
    questions = load_questions(args.eval_set)
    if getattr(args, "xquad_split", None):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from answer_data import xquad_split

        questions = [q for q in questions if xquad_split(q.gold_articles[0]) == args.xquad_split]
    return settings, idx, questions


def scaled_cross_encoder(paths: list[Path], scale: tuple[float, float], max_length: int):
    """Other ranker files in place of the shipped pair, their mean logit mapped onto the
    pair's scale so that the shipped weights read it without a refit (session 33)."""
    from qa.ranker import CrossEncoderOnnx

    alpha, beta = scale

    class Scaled(CrossEncoderOnnx):
        def _run(self, pairs):
            return alpha * super()._run(pairs) + beta

    return Scaled(paths, max_length=max_length)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--sweep", action="store_true", help="also try other hand-set scoring weights")
    parser.add_argument("--no-history", action="store_true", help="ask the last turn alone")
    parser.add_argument("--weights", type=Path, help="answer-ranker.json to use (default: the shipped one)")
    parser.add_argument("--model", type=Path, nargs="+", help="answer-ranker .onnx file(s) to use, their mean logit (default: the shipped ones)")
    parser.add_argument(
        "--model-scale", type=float, nargs=2, metavar=("ALPHA", "BETA"), default=(1.0, 0.0),
        help="with --model: read the mean logit as ALPHA * mean + BETA, the shipped pair's scale (calibrate_ensemble.py)",
    )
    parser.add_argument("--xquad-split", choices=["train", "heldout"], help="only the questions of that half of xquad's articles")
    parser.add_argument("--no-dates", action="store_true", help="ignore the questions' dates (default: ask as of each)")
    args = parser.parse_args()

    from qa.ranker import AnswerRanker, load_combiner

    try:
        spec = load_combiner(args.weights) if args.weights else load_combiner()
        model = scaled_cross_encoder(args.model, args.model_scale, int(spec.get("max_length", 160))) if args.model else None
        ranker = AnswerRanker(model=model, spec=spec).load()  # a bad file fails before the index is built
        settings, idx, questions = open_eval_set(args)
        retriever = Retriever(idx, rerank=True, ranker=ranker)
        retriever.warm_up()
    except (OSError, QAError) as exc:
        sys.exit(f"bench_answers: {exc}")
    questions = questions[: args.limit] if args.limit else questions
    plain = Retriever(idx, rerank=False, ranker=retriever.ranker)
    shipped = "reranked" if retriever.ranker.rerank_answers_by_default else "no rerank"
    rows = []
    variants = [
        ("answer model, reranked", Assistant(retriever)),
        ("answer model, no rerank", Assistant(plain)),
        ("hand-set weights, no model (the previous answerer)", Assistant(plain, answer_model=False)),
    ]
    variants = [(f"{name} (default)" if name.endswith(shipped) else name, a) for name, a in variants]
    if args.sweep:
        base = ScoreWeights()
        for lex, cue, rank in itertools.product([0.2, 0.35, 0.6], [0.0, 0.15, 0.3], [0.0, 0.1]):
            weights = replace(base, lexical=lex, cue=cue, rank=rank)
            variants.append((f"hand-set lex={lex} cue={cue} rank={rank}", Assistant(plain, weights=weights, answer_model=False)))
    for name, assistant in variants:
        scores = score_answers(assistant, questions, use_history=not args.no_history, use_dates=not args.no_dates)
        rows.append((name, scores.to_dict()))
        print(name, scores.to_dict(), flush=True)
    if any(q.gold_articles for q in questions):
        print("| search | R@1 | R@5 | R@10 | MRR@10 | p50 ms |")
        print("|---|---|---|---|---|---|")
        for name, r in (("reranked", retriever), ("fused, no rerank", plain)):
            got = evaluate_retriever(r, questions, use_history=not args.no_history, use_dates=not args.no_dates).to_dict()
            print(f"| {name} | {got['recall_at_1']} | {got['recall_at_5']} | {got['recall_at_10']} | {got['mrr_at_10']} | {round(got['p50_ms'], 1)} |", flush=True)
    dated = not args.no_dates and any(q.date for q in questions)
    baseline = bm25_first_sentence(Assistant(retriever), questions, dated=dated)
    print("| system | gold in lead | EM (short) | F1 (short) | F1 (lead) | citations valid | refusal P | refusal R | refusal F1 | refused | p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, s in rows:
        print(
            f"| {name} | {s['gold_in_lead']} | {s['exact_match']} | {s['token_f1']} | {s['lead_f1']} | "
            f"{s['citations_valid']} | {s['refusal_precision']} | {s['refusal_recall']} | {s['refusal_f1']} | {s['refused']} | {round(s['p50_ms'], 1)} |"
        )
    print(f"| BM25 top passage, first sentence{' (as of the question date)' if dated else ''} | {round(baseline['gold_in_lead'], 4)} | | | {round(baseline['lead_f1'], 4)} | | | | | | |")
    if not args.sweep:
        print(f"\ncold `qa ask` median of 3: {cold_ask(settings, questions[0].question):.2f} s")


if __name__ == "__main__":
    main()
