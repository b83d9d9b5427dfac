"""Dump, per question, the features of every candidate sentence the extractive answerer
sees, so that scoring weights and the refusal threshold can be chosen offline on the dev
sets (one retrieval + embedding pass, then any number of weight settings).

    .venv/bin/python tests/bench/dump_sentence_scores.py ../shared/eval/mtrag-dev \\
        --data-dir /work/bench-data/dev --out /tmp/mtrag.json

Then: .venv/bin/python tests/bench/choose_weights.py /tmp/rtqa.json /tmp/mtrag.json ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_answers import open_eval_set  # noqa: E402

from qa.answer_eval import contains  # noqa: E402
from qa.assistant import PASSAGES, PER_ARTICLE, condense  # noqa: E402
from index.lexical import WORD  # noqa: E402
from qa.extractive import _NAME, _has_cue, _stem, asked_part, candidates, content_words, is_yes_no, question_kind  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402


_ANAPHOR = __import__("re").compile(
    r"\s*[\"“]?(?:(?:[Tt]he|[Tt]his|[Tt]hat|[Tt]hese|[Tt]hose|[Ii]ts|[Hh]is|[Hh]er|[Tt]heir)\s+[a-z]|(?:[Ii]t|[Hh]e|[Ss]he|[Tt]hey)\b)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--no-dates", action="store_true", help="ignore the questions' dates (default: ask as of each)")
    args = parser.parse_args()
    _, idx, questions = open_eval_set(args)
    retriever = Retriever(idx)
    retriever.warm_up()
    embedder = retriever.embedder
    questions = questions[: args.limit] if args.limit else questions
    out = []
    for q in questions:
        query = condense(q.question, q.history)
        as_of = None if args.no_dates else q.date
        passages = retriever.search(query, k=PASSAGES, per_article=PER_ARTICLE, as_of=as_of)
        cands = candidates(passages)
        q_terms = {_stem(w) for w in content_words(q.question)}
        carried = query[len(q.question) :]
        c_terms = {_stem(w) for w in content_words(carried)} - q_terms
        total = len(q_terms) + 0.5 * len(c_terms)
        kind = question_kind(q.question)
        qv = embedder.embed_query(query)
        plain = embedder.embed([" ".join(c.text.split()) for c in cands]) if cands else None
        dense = plain @ qv if cands else []
        # against the sentence that asks, for questions that open with a premise
        asked = asked_part(q.question)
        dense_asked = plain @ embedder.embed_query(f"{asked}{carried}") if cands and asked != q.question.strip() else dense
        titled = embedder.embed([f"{passages[c.passage].title}. {' '.join(c.text.split())}" for c in cands]) @ qv if cands else []
        windows = []
        for c in cands:
            p = passages[c.passage]
            before = [sp for sp in p.sentences if sp[1] <= c.start and sp[0] >= p.start]
            prev = p.text[before[-1][0] - p.start : before[-1][1] - p.start] if before else ""
            windows.append(" ".join(f"{prev} {c.text}".split()))
        window = embedder.embed(windows) @ qv if cands else []
        rows = []
        for c, d, da, dt, dw, win in zip(cands, dense, dense_asked, titled, window, windows):
            s_terms = {_stem(w) for w in content_words(c.text)}
            asked = {w.lower() for w in WORD.findall(q.question)}
            names = [m for m in _NAME.finditer(c.text) if m.start() > 0 and not {w.lower() for w in WORD.findall(m.group())} <= asked]
            rows.append(
                {
                    "novel": round(len(s_terms - q_terms) / max(len(s_terms), 1), 4),
                    "names": min(len(names), 3) / 3,
                    "lede": int(c.start < 400),
                    "heading": int(not c.text.strip().endswith(tuple('.!?"\'”’)'))),
                    "anaphor": int(bool(_ANAPHOR.match(c.text))),
                    "gold_with_prev": bool(q.answers) and contains(win, q.answers),
                    "words": len(c.text.split()),
                    "dense": round(float(d), 4),
                    "dense_asked": round(float(da), 4),
                    "dense_title": round(float(dt), 4),
                    "dense_window": round(float(dw), 4),
                    "passage_score": passages[c.passage].score,
                    "lexical": round((len(q_terms & s_terms) + (0.5 * len(c_terms & s_terms) if (q_terms & s_terms or not q_terms) else 0)) / total, 4) if total else 0.0,
                    "cue": int(_has_cue(kind, c.text, q.question)),
                    "passage": c.passage,
                    "gold": bool(q.answers) and contains(c.text, q.answers),
                }
            )
        out.append({"id": q.id, "answerable": q.answerable, "has_answers": bool(q.answers), "kind": kind, "yes_no": is_yes_no(q.question), "sentences": rows})
    args.out.write_text(json.dumps(out))
    print(f"wrote {len(out)} questions to {args.out}")


if __name__ == "__main__":
    main()
