"""Cut realtimeqa-2023-24 into a training and a validation sample of whole weeks, each an
eval set (corpus.jsonl + questions.jsonl) holding the search results of its questions.
Indexing all 8,916 articles takes hours here; a sample of weeks is what the answer model's
combinations are fitted on (training weeks of 2023) and validated on (weeks of 2024).

    .venv/bin/python tests/bench/make_week_samples.py ../shared/eval/realtimeqa-2023-24 --out /work/bench-data/sets \\
        [--train-every 6] [--val-every 4] [--rest]

Questions without a date are given their quiz week (the id's YYYYMMDD), so that every
question can be asked as of its day.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def write_sample(source: Path, out: Path, questions: list[dict], weeks: set[str]) -> str:
    chosen = [q for q in questions if q["id"][:8] in weeks]
    wanted = {r for q in chosen for r in q["results"]}
    out.mkdir(parents=True, exist_ok=True)
    articles = 0
    with open(source / "corpus.jsonl", encoding="utf-8") as src, open(out / "corpus.jsonl.tmp", "w", encoding="utf-8") as dst:
        for line in src:
            if json.loads(line)["id"] in wanted:
                dst.write(line)
                articles += 1
    os.replace(out / "corpus.jsonl.tmp", out / "corpus.jsonl")
    with open(out / "questions.jsonl", "w", encoding="utf-8") as dst:
        for q in chosen:
            q = dict(q, date=q["date"] or f"{q['id'][:4]}-{q['id'][4:6]}-{q['id'][6:8]}")
            dst.write(json.dumps(q) + "\n")
    return f"{out.name}: {len(weeks)} weeks, {len(chosen)} questions, {articles} articles"


def every_nth_week(questions: list[dict], year: str, n: int) -> set[str]:
    """Every ``n``th quiz week (the id's YYYYMMDD) of ``year``, from its first: the sample's
    weeks, and what train_answer_model.py --val-every validates on."""
    return set(sorted({q["id"][:8] for q in questions if q["id"].startswith(year)})[::n])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path, help="../shared/eval/realtimeqa-2023-24")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-every", type=int, default=6, help="every Nth week of 2023")
    parser.add_argument("--val-every", type=int, default=4, help="every Nth week of 2024")
    parser.add_argument(
        "--rest", action="store_true",
        help="also rtqa24-rest: the other weeks of 2024 (no ranker is trained on them; a second validation set)",
    )
    args = parser.parse_args()
    with open(args.eval_set / "questions.jsonl", encoding="utf-8") as f:
        questions = [json.loads(line) for line in f if line.strip()]
    train, val = every_nth_week(questions, "2023", args.train_every), every_nth_week(questions, "2024", args.val_every)
    print(write_sample(args.eval_set, args.out / "rtqa23-train", questions, train))
    print(write_sample(args.eval_set, args.out / "rtqa24-val", questions, val))
    if args.rest:
        year = {q["id"][:8] for q in questions if q["id"].startswith("2024")}
        print(write_sample(args.eval_set, args.out / "rtqa24-rest", questions, year - val))


if __name__ == "__main__":
    main()
