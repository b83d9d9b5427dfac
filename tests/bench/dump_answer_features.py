"""Record what the answer model's combinations see, so that their weights can be fitted
and compared offline (fit_answer_combiner.py): per question, the fused head of passages
the reranker rescores, every sentence of those passages with the model's score and its
similarity to the question, and the gold labels.

    .venv/bin/python tests/bench/dump_answer_features.py /work/bench-data/sets/rtqa24-val \\
        --data-dir /work/bench-data/rtqa24 --collection rtqa24-val --out /work/bench-data/dumps/rtqa24.jsonl \\
        [--earlier-days 14] [--xquad-split heldout] [--model PATH] [--max-length N] [--limit N]

``--earlier-days D`` adds, for every dated question, the same question asked as of D days
before its date: the articles then held no answer (the news had not happened), which is
what the refusal is calibrated on. Run only on training and validation sets: never on
realtimeqa-dev or mtrag-dev.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from index import Index, Settings  # noqa: E402
from qa.answer_eval import contains  # noqa: E402
from qa.assistant import Assistant, condense  # noqa: E402
from qa.evaluation import load_questions  # noqa: E402
from qa.extractive import is_yes_no, passage_sentences, question_kind  # noqa: E402
from qa.ranker import MAX_LENGTH, RANKER_FILE, CrossEncoderOnnx  # noqa: E402
from qa.retrieval import RERANK_HEAD, Retriever  # noqa: E402


def record(
    assistant: Assistant, model: CrossEncoderOnnx, q, canonical: dict, as_of: str | None, variant: str,
    whole_passages: bool = False,
) -> dict:
    retriever = assistant.retriever
    query = condense(q.question, q.history)
    carried = query[len(q.question.strip()) :] if query.startswith(q.question.strip()) else ""
    head = retriever.search(query, k=RERANK_HEAD, per_article=2, as_of=as_of, rerank=False)
    gold = {canonical.get(g, g) for g in q.gold_articles}
    passages, texts, contexts, owns = [], {}, {}, {}
    for n, p in enumerate(head):
        data = p.to_dict()
        data["sentences"] = [list(s) for s in p.sentences]
        data["gold"] = p.article_id in gold
        passages.append(data)
        for c in passage_sentences(p, n):
            texts.setdefault(c.ranker_text, None)
            contexts.setdefault(c.context_text, None)
            owns.setdefault(" ".join(c.text.split()), None)
    todo = list(dict.fromkeys([*texts, *contexts]))
    ce = dict(zip(todo, (float(x) for x in model.score([(query, t) for t in todo])))) if todo else {}
    if whole_passages:
        # the same model reading whole passages (cut at its 160 pieces), to compare with
        # the best-sentence score it serves in the product
        whole = model.score([(query, " ".join(p["text"].split())) for p in passages]) if passages else []
        for p, score in zip(passages, whole):
            p["ce_passage"] = float(score)
    dense = {}
    if owns:
        vectors = retriever.embedder.embed(list(owns))
        dense = dict(zip(owns, (float(x) for x in vectors @ assistant.extractive.question_vector(q.question, query, carried))))
    answerable = variant == "asked" and q.answerable
    return {
        "id": q.id, "variant": variant, "answerable": answerable, "question": q.question, "query": query,
        "carried": carried, "answers": q.answers, "kind": question_kind(q.question), "yes_no": is_yes_no(q.question),
        "as_of": as_of, "passages": passages, "ce": ce, "dense": dense,
        "answer_in_head": bool(q.answers) and any(contains(p["text"], q.answers) for p in passages),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, nargs="+", default=[RANKER_FILE], help="several: the mean of their logits (an ensemble)")
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH, help="word pieces the model reads, as it was trained")
    parser.add_argument("--earlier-days", type=int, default=0)
    parser.add_argument("--xquad-split", choices=["train", "heldout"])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--every", type=int, default=1, help="only every Nth question (a sample across the set)")
    parser.add_argument("--whole-passages", action="store_true", help="also score whole passages (to compare)")
    args = parser.parse_args()
    if args.eval_set.resolve().name in ("realtimeqa-dev", "mtrag-dev"):
        sys.exit(f"{args.eval_set.name} is a test set: fit nothing on it")
    settings = Settings(
        data_dir=args.data_dir, collection=args.collection,
        model_cache_dir=Path(os.environ.get("QA_MODEL_CACHE_DIR", Settings().model_cache_dir)),
    )
    idx = Index.open(settings=settings)
    retriever = Retriever(idx, rerank=False)
    retriever.warm_up()
    assistant = Assistant(retriever)
    model = CrossEncoderOnnx(args.model, max_length=args.max_length, cache_size=0).load()
    canonical = idx.canonical_ids()
    questions = load_questions(args.eval_set)
    if args.xquad_split:
        from answer_data import xquad_split

        questions = [q for q in questions if xquad_split(q.gold_articles[0]) == args.xquad_split]
    questions = questions[:: args.every]
    questions = questions[: args.limit] if args.limit else questions
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(args.out, "w", encoding="utf-8") as out:
        for n, q in enumerate(questions, start=1):
            out.write(json.dumps(record(assistant, model, q, canonical, q.date, "asked", args.whole_passages)) + "\n")
            if args.earlier_days and q.date:
                before = (dt.date.fromisoformat(q.date) - dt.timedelta(days=args.earlier_days)).isoformat()
                out.write(json.dumps(record(assistant, model, q, canonical, before, "earlier")) + "\n")
            if n % 25 == 0:
                print(f"{n}/{len(questions)} questions, {time.time() - started:.0f} s", flush=True)
    print(f"wrote {args.out} ({len(questions)} questions, {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
