"""The short answer's bar, chosen on what the answerer really leads with: ask each
answerable question of a set as the default answerer does, and keep, for its lead, the
span reader's short answer with its confidence whatever the bar (qa.ranker.short_read),
and the lead's P(answers). Then pool the validation sets' reads and pick the bar as the
fit does (fit_answer_combiner.pick_short_bar: the most exact short answers shown while at
least half of those shown are exact), and print what each set shows at the shipped bar
and at the chosen one, and what a second bar on the lead's P(answers) would take away.

    .venv/bin/python tests/bench/choose_short_bars.py read SET --data-dir D [--collection C] \\
        [--xquad-split heldout] --out reads/val.jsonl
    .venv/bin/python tests/bench/choose_short_bars.py choose --on reads/val.jsonl reads/xquad.jsonl \\
        --report reads/rest.jsonl reads/dev.jsonl
    .venv/bin/python tests/bench/choose_short_bars.py reread qa/models/answer-span.onnx /tmp/span/answer-span.onnx \\
        --on reads/val.jsonl reads/xquad.jsonl --report reads/rest.jsonl reads/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_answer_combiner import looks_like_test_set, pick_short_bar, shown_at  # noqa: E402


def read(args) -> None:
    from index import Index, Settings
    from qa.answer_eval import exact
    from qa.assistant import Assistant, Filters
    from qa.evaluation import corpus_path, eval_collection_name, load_questions
    from qa.ranker import short_read
    from qa.retrieval import Retriever

    settings = Settings(
        data_dir=args.data_dir,
        collection=args.collection or eval_collection_name(args.eval_set),
        model_cache_dir=Path(os.environ.get("QA_MODEL_CACHE_DIR", Settings().model_cache_dir)),
    )
    questions = load_questions(args.eval_set)
    if args.xquad_split:
        from answer_data import xquad_split

        questions = [q for q in questions if xquad_split(q.gold_articles[0]) == args.xquad_split]
    idx = Index.open(settings=settings)
    idx.sync([corpus_path(args.eval_set)])  # as bench_answers.py: a no-op when the collection is built
    retriever = Retriever(idx)
    retriever.warm_up()
    ranker = retriever.ranker
    leads: list = []
    rank_sentences = ranker.rank_sentences

    def keep_lead(*a, **kw):  # the lead's P(answers), as the answerer sees it
        ranked = rank_sentences(*a, **kw)
        leads.append(ranked[0].answer_p if ranked else 0.0)
        return ranked

    ranker.rank_sentences = keep_lead
    assistant = Assistant(retriever)
    with open(args.out, "w", encoding="utf-8") as out:
        for q in questions:
            if not (q.answerable and q.answers):
                continue
            leads.clear()
            answer = assistant.ask(q.question, history=q.history, filters=Filters(as_of=q.date) if q.date else None)
            span, confidence = short_read(ranker.span_reader, q.question, answer.lead) if answer.answered and leads else ("", 0.0)
            row = {
                "question": q.question, "answers": q.answers, "lead": answer.lead, "span": span,
                "confidence": confidence, "exact": exact(span, q.answers),
                "lead_p": leads[0] if leads else 0.0, "shown": answer.short, "answered": answer.answered,
            }
            out.write(json.dumps(row) + "\n")


def load(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        reads = [json.loads(line) for line in handle]
    if not reads:
        raise ValueError(f"{path} holds no reads")
    return reads


def pairs(reads) -> list[tuple[float, bool]]:
    return [(r["confidence"], r["exact"]) for r in reads]


LEAD_BARS = (0.3, 0.4, 0.5)  # (session 27) a second bar on the lead's P(answers), reported only


def choose(args) -> None:
    from qa.ranker import load_combiner

    on = {p.name: pairs(load(p)) for p in args.on}
    bar = pick_short_bar(on)
    shipped = float(load_combiner().get("short_min_confidence", 1.1))
    print(f"chosen on {', '.join(on)}: reader confidence >= {bar} (shipped: {shipped})")
    print("| set | reader bar | shown | exact of shown | exact of all | " + " | ".join(f"lead P < {b} takes away (exact)" for b in LEAD_BARS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(LEAD_BARS))
    for path in [*args.on, *args.report]:
        reads = load(path)
        for at in dict.fromkeys([shipped, bar]):
            shown = shown_at(pairs(reads), at)
            # what a lead bar would take away of those shown: how many, how many exact
            taken = [shown_at(pairs(r for r in reads if r["lead_p"] < b), at) for b in LEAD_BARS]
            print(f"| {path.stem} ({len(reads)}) | {at} | {len(shown) / len(reads):.3f} | {sum(shown) / max(len(shown), 1):.3f} | "
                  f"{sum(shown) / len(reads):.3f} | " + " | ".join(f"{len(t)} ({sum(t)})" for t in taken) + " |")


def reread(args) -> None:
    """Read the same leads with other span reader files (the leads do not depend on the
    reader): each file's bar chosen on the --on reads by the shipped rule, and exact short
    answers over all answerable questions at that bar on every set."""
    from qa.answer_eval import exact
    from qa.ranker import SpanReader, short_read

    sets = {path: load(path) for path in [*args.on, *args.report]}
    readers = {path: SpanReader(path).load() for path in args.readers}  # a missing file fails before any output
    print("| reader | bar | " + " | ".join(f"{path.stem} ({len(rows)})" for path, rows in sets.items()) + " |")
    print("|---|---|" + "---|" * len(sets))
    for reader_path, reader in readers.items():
        seen = {}
        for path, rows in sets.items():
            seen[path] = []
            for r in rows:
                span, confidence = short_read(reader, r["question"], r["lead"]) if r["answered"] else ("", 0.0)
                seen[path].append((confidence, exact(span, r["answers"])))
        bar = pick_short_bar({path.name: seen[path] for path in args.on})
        hits = [sum(shown_at(s, bar)) for s in seen.values()]
        cells = [f"{hit / len(s):.3f} [{hit}]" for hit, s in zip(hits, seen.values())]
        print(f"| {reader_path} | {bar} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("read", help="ask a set's questions and keep each lead's short-answer read")
    r.add_argument("eval_set", type=Path)
    r.add_argument("--data-dir", type=Path, required=True)
    r.add_argument("--collection")
    r.add_argument("--xquad-split", choices=["train", "heldout"])
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("choose", help="pick the bar on some sets' reads, report it on others")
    c.add_argument("--on", type=Path, nargs="+", required=True, help="the validation sets' reads: the bar is chosen on these")
    c.add_argument("--report", type=Path, nargs="*", default=[], help="reads only reported (the test sets)")
    rr = sub.add_parser("reread", help="read the leads of some reads again with other span reader files")
    rr.add_argument("readers", type=Path, nargs="+", help="answer-span.onnx files")
    rr.add_argument("--on", type=Path, nargs="+", required=True, help="the validation sets' reads: each bar is chosen on these")
    rr.add_argument("--report", type=Path, nargs="*", default=[], help="reads only reported (the test sets)")
    args = parser.parse_args()
    from qa.evaluation import EvalSetError
    from qa.ranker import RankerError

    try:
        if args.command in ("choose", "reread"):
            for path in args.on:
                if looks_like_test_set(path):
                    sys.exit(f"{path} looks like a test set: choose nothing on it")
            (choose if args.command == "choose" else reread)(args)
        else:
            read(args)
    except (OSError, EvalSetError, RankerError) as exc:
        sys.exit(f"choose_short_bars: {exc}")
    except (ValueError, KeyError) as exc:  # a reads file that `read` did not write
        sys.exit(f"choose_short_bars: not a reads file of `read`: {exc!r}")


if __name__ == "__main__":
    main()
