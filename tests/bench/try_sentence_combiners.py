"""Other ways to combine the sentence features, against the shipped one, on the same dumps:
gold leads on the validation dumps for each (pointwise fits on the training dumps, the
fused passage order, or with `--answer-passages reranked` as answers read them). Prints a
table; writes nothing.

    .venv/bin/python tests/bench/try_sentence_combiners.py --train D/rtqa23.jsonl D/xquad-train.jsonl \\
        --val D/rtqa24.jsonl D/xquad-heldout.jsonl

- ce_max: the model's score of a sentence at its best, read alone or after the one before it;
- relative: a feature's gap to the question's best and its rank within the question's
  shortlist (a pointwise fit cannot compare a question's sentences otherwise);
- boosted: scikit-learn's histogram gradient boosting instead of a logistic regression;
- span: the short-answer reader's best span in the sentence (start plus end logit, not
  normalized within the sentence), as a feature (the reader runs here: about 2 minutes);
- opening: the share of the question's content words that the sentence's first four
  words hold (in news and encyclopaedic prose, mostly its subject): a sentence *about*
  the question's subject rather than one that names it in passing;
- lexical_context: the share of the question's content words in the sentence and the one
  before it together (an answer may leave the subject to the sentence leading up to it);
- agree: how many other articles among the answer's passages hold the sentence's best span
  (read by the short-answer reader; log(1 + n)): the same answer told by several outlets;
- age: how much older the sentence's article is than the newest of the question's
  passages (log days over log 366; 0 where a date is unknown, so 0 for xquad). The
  same story retold a year later (last year's award, the previous match) reads as an
  answer too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_answer_combiner as fit  # noqa: E402

from index.article import date_to_int  # noqa: E402
from qa.extractive import WORD, _stem, content_words  # noqa: E402
from qa.ranker import SpanReader, load_combiner  # noqa: E402
from qa.retrieval import int_to_day  # noqa: E402

SHIPPED = ["ce", "lexical", "cue", "novelty", "heading", "rank", "anaphor"]


def column(X: np.ndarray, name: str) -> np.ndarray:
    if name == "ce_max":
        return np.maximum(column(X, "ce"), column(X, "ce_context"))
    return X[:, fit.SENTENCE_FEATURES.index(name)]


def relative(X: np.ndarray, names: list[str]) -> list[np.ndarray]:
    out = []
    for name in names:
        x = column(X, name)
        rank = np.empty(len(x))
        rank[np.argsort(-x, kind="stable")] = np.arange(len(x))
        out += [x - x.max(), 1.0 / (1.0 + rank)]
    return out


def ages(row: dict) -> np.ndarray:
    """Per shortlisted sentence: log(1 + days) / log(366) its article is older than the
    newest of the question's passages; 0 where a date is unknown (so 0 for xquad)."""
    days = [int_to_day(date_to_int(p.date)) for p in row["top"]]
    newest = max((d for d in days if d), default=None)
    return np.array([
        np.log1p((newest - days[c.passage]).days) / np.log(366) if newest and days[c.passage] else 0.0
        for c in row["cands"]
    ])


OPENING_WORDS = 4


def opening(question: str, text: str) -> float:
    """The share of the question's content words among the sentence's first words."""
    asked = {_stem(w) for w in content_words(question)}
    first = {_stem(w) for w in content_words(" ".join(WORD.findall(text)[:OPENING_WORDS]))}
    return len(asked & first) / len(asked) if asked else 0.0


def lexical_context(question: str, cand) -> float:
    """The share of the question's content words in the sentence and the one before it."""
    asked = {_stem(w) for w in content_words(question)}
    held = {_stem(w) for w in content_words(f"{cand.previous} {cand.text}")}
    return len(asked & held) / len(asked) if asked else 0.0


def _words(text: str) -> str:
    return " " + " ".join(WORD.findall(text.lower())) + " "


def agree(question: str, cand, top: list, reader) -> float:
    """log(1 + the number of other articles among ``top`` whose passage holds the best
    span the reader finds in the sentence); 0 for a span of two letters or the question's
    own words."""
    span = _words(reader.read(question, cand.text)[0])
    if len(span.strip()) < 3 or span in _words(question):
        return 0.0
    own = top[cand.passage].article_id
    return float(np.log1p(len({p.article_id for p in top if p.article_id != own and span in _words(p.text)})))


def with_extras(rows: list, reader) -> list:
    """The rows with the features the dumps lack, a column each."""
    out = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        q = row["record"]["question"]
        cands = row["cands"]
        out.append({**row, "extra": {
            "span": np.array([reader.best_logit(q, c.text) for c in cands]),
            "age": ages(row),
            "opening": np.array([opening(q, c.text) for c in cands]),
            "lexical_context": np.array([lexical_context(q, c) for c in cands]),
            "agree": np.array([agree(q, c, row["top"], reader) for c in cands]),
        }})
    return out


def design(rows: list, features: list[str], rel: list[str]) -> list:
    out = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        X = np.stack([row["extra"][f] if f in row["extra"] else column(row["X"], f) for f in features] + relative(row["X"], rel), axis=1)
        out.append({**row, "X": X})
    return out


def gold_leads(rows: list, score) -> tuple[int, int]:
    judged = hits = 0
    for row in rows:
        if row is None:
            continue
        r = row["record"]
        if r["variant"] == "asked" and r["answers"]:
            judged += 1
            hits += bool(row["y"][int(np.argmax(score(row["X"])))])
    return hits, judged


def probe_rank(row, features: list[str], rel: list[str], score) -> str:
    """Where the combination puts the row's first gold sentence among its shortlist."""
    if row is None or not row["y"].any():
        return "-"
    x = design([row], features, rel)[0]["X"]
    order = list(np.argsort(-score(x), kind="stable"))
    return f"{order.index(int(np.argmax(row['y']))) + 1} of {len(order)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=Path, nargs="+", required=True)
    parser.add_argument("--val", type=Path, nargs="+", required=True)
    parser.add_argument("--probe", type=Path, help="a dump to watch, not to score: where each combination ranks its gold sentence")
    parser.add_argument("--context", choices=["always", "anaphora"], default="anaphora", help="as the model was trained")
    parser.add_argument("--answer-passages", choices=["fused", "reranked"], default="fused",
                        help="the passages' order: fused, or reranked by the shipped passage weights (as answers read them)")
    args = parser.parse_args()
    for path in [*args.train, *args.val]:
        if fit.looks_like_test_set(path):
            sys.exit(f"{path} looks like a test set: fit nothing on it")
    fit.CONTEXT["value"] = args.context
    train, val = fit.load(args.train), fit.load(args.val)
    names = sorted({r["source"] for r in val})
    order = fit.FUSED if args.answer_passages == "fused" else load_combiner()["passage"]
    train_rows = fit.sentence_rows(train, order)
    val_rows = {n: fit.sentence_rows([r for r in val if r["source"] == n], order) for n in names}
    reader = SpanReader().load()
    train_rows, val_rows = with_extras(train_rows, reader), {n: with_extras(rows, reader) for n, rows in val_rows.items()}
    probe = with_extras(fit.sentence_rows(fit.load([args.probe]), order), reader) if args.probe else []
    trials = [
        ("shipped features", SHIPPED, [], "logistic"),
        ("ce_max for ce", ["ce_max", *SHIPPED[1:]], [], "logistic"),
        ("+ ce_max", [*SHIPPED, "ce_max"], [], "logistic"),
        ("+ ce_context", [*SHIPPED, "ce_context"], [], "logistic"),
        ("+ relative ce", SHIPPED, ["ce"], "logistic"),
        ("+ relative ce, lexical", SHIPPED, ["ce", "lexical"], "logistic"),
        ("+ relative ce, ce_context, lexical, dense", SHIPPED, ["ce", "ce_context", "lexical", "dense"], "logistic"),
        ("+ span", [*SHIPPED, "span"], [], "logistic"),
        ("+ age", [*SHIPPED, "age"], [], "logistic"),
        ("+ opening", [*SHIPPED, "opening"], [], "logistic"),
        ("+ span, opening", [*SHIPPED, "span", "opening"], [], "logistic"),
        ("lexical_context for lexical", [f if f != "lexical" else "lexical_context" for f in SHIPPED], [], "logistic"),
        ("+ lexical_context", [*SHIPPED, "lexical_context"], [], "logistic"),
        ("+ agree", [*SHIPPED, "agree"], [], "logistic"),
        ("+ age, dense", [*SHIPPED, "age", "dense"], [], "logistic"),
        ("ce, span, cue, novelty, lede, rank (backward elimination's choice with span)",
         ["ce", "span", "cue", "novelty", "lede", "rank"], [], "logistic"),
        ("boosted, shipped features", SHIPPED, [], "boosted"),
        ("boosted, + dense, ce_context, lede, relative", [*SHIPPED, "dense", "ce_context", "lede"], ["ce", "lexical", "dense"], "boosted"),
    ]
    probe_cell = " | probe: gold's rank" if probe else ""
    print("| combination | " + " | ".join(f"{n} gold in lead" for n in names) + " | gold leads, all" + probe_cell + " |")
    print("|---|" + "---|" * len(names) + "---|" + ("---|" if probe else ""))
    for label, features, rel, kind in trials:
        rows = design(train_rows, features, rel)
        X = np.concatenate([r["X"] for r in rows if r is not None])
        y = np.concatenate([r["y"] for r in rows if r is not None])
        if kind == "logistic":
            w, b = fit.fit_logistic(X, y)

            def score(x, w=w, b=b):
                return x @ w + b
        else:
            from sklearn.ensemble import HistGradientBoostingClassifier

            score = HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, random_state=0
            ).fit(X, y).decision_function
        cells, total = [], 0
        for n in names:
            hits, judged = gold_leads(design(val_rows[n], features, rel), score)
            cells.append(f"{hits / max(judged, 1):.3f}")
            total += hits
        watched = " | " + ", ".join(probe_rank(row, features, rel, score) for row in probe) if probe else ""
        print(f"| {label} | " + " | ".join(cells) + f" | {total}{watched} |", flush=True)
    # the ceiling of any combination: a sentence of the shortlist holds the answer
    cells, total = [], 0
    for n in names:
        asked = [r for r in val_rows[n] if r is not None and r["record"]["variant"] == "asked" and r["record"]["answers"]]
        reach = sum(bool(r["y"].any()) for r in asked)
        cells.append(f"{reach / max(len(asked), 1):.3f}")
        total += reach
    print("| (ceiling: the shortlist holds a gold sentence) | " + " | ".join(cells) + f" | {total} |")


if __name__ == "__main__":
    main()
