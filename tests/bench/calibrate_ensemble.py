"""The affine map that puts another set of ranker files on the shipped pair's scale, so
that the shipped weights (qa/models/answer-ranker.json) can read them without a refit:
alpha * mean(candidate logits) + beta has the mean and standard deviation of
mean(reference logits) over (question, sentence) pairs of training questions only.

The pairs: every --every-th question of --year in realtimeqa-2023-24 (2023: the ranker's
training weeks; never realtimeqa-dev, mtrag-dev or the 2024 weeks), each with the
--shortlist sentences (split as the index splits them, 4-90 words, the one before as
context where it refers back) of its search results that share most of its words, as the
answerer's shortlist is drawn.

    .venv/bin/python tests/bench/calibrate_ensemble.py ../shared/eval/realtimeqa-2023-24 \\
        --candidate qa/models/answer-ranker.onnx WORK/answer-ranker-cl.onnx

Prints the map as JSON; bench_answers.py --model FILES --model-scale ALPHA BETA reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from index.chunking import sentence_spans  # noqa: E402
from index.errors import QAError  # noqa: E402
from qa.extractive import _stem, content_words, ranker_text  # noqa: E402
from qa.ranker import CrossEncoderOnnx, load_combiner, model_files  # noqa: E402


def shortlist_pairs(eval_set: Path, year: str, every: int, shortlist: int) -> tuple[int, list[tuple[str, str]]]:
    with open(eval_set / "questions.jsonl", encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    questions = [q for q in questions if q["id"].startswith(year)][::every]
    wanted = {r for q in questions for r in q["results"]}
    texts = {}
    with open(eval_set / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            article = json.loads(line)
            if article["id"] in wanted:
                texts[article["id"]] = article.get("text", "")
    pairs = []
    for q in questions:
        terms = {_stem(w) for w in content_words(q["question"])}
        scored = []
        for result in q["results"]:
            text, previous = texts.get(result, ""), ""
            for start, end in sentence_spans(text):
                sentence = text[start:end]
                if 4 <= len(sentence.split()) <= 90:
                    overlap = len(terms & {_stem(w) for w in content_words(sentence)}) / (len(terms) or 1)
                    scored.append((overlap, ranker_text(sentence, previous)))
                previous = sentence
        scored.sort(key=lambda s: -s[0])  # stable: ties keep the results' order
        pairs += [(q["question"], text) for _, text in scored[:shortlist]]
    return len(questions), pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path, help="../shared/eval/realtimeqa-2023-24")
    parser.add_argument("--candidate", type=Path, nargs="+", required=True, help="the ranker .onnx files to map")
    parser.add_argument("--reference", type=Path, nargs="+", help="default: the shipped files")
    parser.add_argument("--year", default="2023")
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--shortlist", type=int, default=16)
    args = parser.parse_args()
    try:
        spec = load_combiner()
        max_length = int(spec.get("max_length", 160))
        # loaded first: a bad file fails before the corpus is read
        models = [CrossEncoderOnnx(files, max_length=max_length, cache_size=0).load() for files in (args.reference or model_files(spec), args.candidate)]
        n, pairs = shortlist_pairs(args.eval_set, args.year, args.every, args.shortlist)
    except (OSError, ValueError, QAError) as exc:
        sys.exit(f"calibrate_ensemble: {exc}")
    if not pairs:
        sys.exit(f"calibrate_ensemble: no questions of {args.year} with sentences in {args.eval_set}")
    reference, candidate = (m.score(pairs) for m in models)
    alpha = float(reference.std() / candidate.std())
    beta = float(reference.mean() - alpha * candidate.mean())
    print(json.dumps({
        "questions": n, "pairs": len(pairs),
        "reference": {"mean": round(float(reference.mean()), 4), "sd": round(float(reference.std()), 4)},
        "candidate": {"mean": round(float(candidate.mean()), 4), "sd": round(float(candidate.std()), 4)},
        "correlation": round(float(np.corrcoef(reference, candidate)[0, 1]), 4),
        "alpha": round(alpha, 6), "beta": round(beta, 6),
    }))


if __name__ == "__main__":
    main()
