"""Two answerers question by question on one eval set: the shipped one and a candidate
(--weights, or --model FILES [--model-scale A B] as bench_answers.py takes them). Prints
how many questions each leads with the gold answer, how many flip each way, and the exact
two-sided sign test on the flips: whether a difference is more than the set's noise. On a
set with unanswerable questions (mtrag-dev) also each one's refusal F1, and a paired
bootstrap of the difference (the questions resampled, both answerers' outcomes kept
together).

    .venv/bin/python tests/bench/compare_answers.py ../shared/eval/realtimeqa-dev \\
        --data-dir DIR --collection C --model qa/models/answer-ranker.onnx OTHER.onnx --model-scale A B
"""

from __future__ import annotations

import argparse
import sys
from math import comb
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_answers import open_eval_set, scaled_cross_encoder  # noqa: E402

import numpy as np  # noqa: E402

from qa.answer_eval import refusal_scores, score_answers  # noqa: E402
from qa.assistant import Assistant  # noqa: E402
from index.errors import QAError  # noqa: E402
from qa.ranker import AnswerRanker, load_combiner  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402


def sign_test(gained: int, lost: int) -> float:
    """Exact two-sided p of ``gained`` against ``lost`` flips if either way were a coin."""
    n = gained + lost
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(0, min(gained, lost) + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_f1_difference(
    shipped: list[bool], candidate: list[bool], answerable: list[bool], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Refusal F1 of the candidate minus the shipped answerer's: the standard error and the
    2.5 and 97.5 percentiles over ``resamples`` resamplings of the questions."""
    rng = np.random.default_rng(seed)
    n = len(answerable)
    diffs = []
    for _ in range(resamples):
        pick = rng.integers(0, n, n)
        a = [answerable[i] for i in pick]
        f_shipped = refusal_scores([shipped[i] for i in pick], a)[2] or 0.0
        f_candidate = refusal_scores([candidate[i] for i in pick], a)[2] or 0.0
        diffs.append(f_candidate - f_shipped)
    return float(np.std(diffs, ddof=1)), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection")
    parser.add_argument("--weights", type=Path, help="the candidate's answer-ranker.json")
    parser.add_argument("--model", type=Path, nargs="+", help="the candidate's ranker .onnx files")
    parser.add_argument("--model-scale", type=float, nargs=2, metavar=("ALPHA", "BETA"), default=(1.0, 0.0))
    parser.add_argument("--xquad-split", choices=["train", "heldout"])
    args = parser.parse_args()
    if not (args.weights or args.model):
        parser.error("give the candidate: --weights and/or --model")
    try:
        spec = load_combiner(args.weights) if args.weights else load_combiner()
        model = scaled_cross_encoder(args.model, args.model_scale, int(spec.get("max_length", 160))) if args.model else None
        candidate = AnswerRanker(model=model, spec=spec).load()  # a bad file fails now, not after the shipped run
        shipped = AnswerRanker().load()
        _, idx, questions = open_eval_set(args)
    except (OSError, QAError) as exc:
        sys.exit(f"compare_answers: {exc}")
    scores = [score_answers(Assistant(Retriever(idx, rerank=True, ranker=r)), questions) for r in (shipped, candidate)]
    before, after = (s.gold_leads for s in scores)
    gained = sum(c and not s for s, c in zip(before, after))
    lost = sum(s and not c for s, c in zip(before, after))
    both = sum(s and c for s, c in zip(before, after))
    print("| questions | shipped | candidate | gained | lost | both | sign test p |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(before)} | {sum(before)} | {sum(after)} | {gained} | {lost} | {both} | {sign_test(gained, lost):.3f} |")
    answerable = [q.answerable for q in questions]
    if not all(answerable):
        f_shipped, f_candidate = (s.refusal_f1 or 0.0 for s in scores)
        se, low, high = bootstrap_f1_difference(scores[0].refusals, scores[1].refusals, answerable)
        print()
        print("| questions | unanswerable | refusal F1 shipped | candidate | difference | bootstrap SE | 95 % interval |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        print(
            f"| {len(questions)} | {answerable.count(False)} | {f_shipped:.4f} | {f_candidate:.4f} | "
            f"{f_candidate - f_shipped:+.4f} | {se:.4f} | {low:+.4f} to {high:+.4f} |"
        )


if __name__ == "__main__":
    main()
