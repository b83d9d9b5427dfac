"""Fit the learned combinations that use the answer model's score, from dumps made by
dump_answer_features.py, by replaying the real ranking code (qa/ranker.py) on them:

- passages: a logistic regression of the model's best sentence score in a passage with
  its fused retrieval score and rank (label: the passage's article holds the answer);
- sentences: a logistic regression of the model's score with the cheap features and the
  dense similarity (label: the sentence, as the answer would quote it, holds the answer),
  over the sentences the answerer shortlists, unanswerable questions included;
- the refusal bar: the lead's probability below which the articles are taken not to
  answer, set to refuse 10 % of the answerable validation questions (see refusal_bar);
- the short-answer bar: the span reader's confidence that shows the most exact short
  answers on the validation questions while at least half of those shown are exact.

Features are kept only where the validation dumps show they add (--drop lists ablations).

    .venv/bin/python tests/bench/fit_answer_combiner.py --train D/rtqa23.jsonl D/xquad-train.jsonl \\
        --val D/rtqa24.jsonl D/xquad-heldout.jsonl [--write]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from qa.answer_eval import contains  # noqa: E402
from qa.assistant import PASSAGES, PER_ARTICLE  # noqa: E402
from qa.extractive import CHEAP_FEATURES, ScoreWeights, with_context  # noqa: E402
from qa.ranker import MODELS, AnswerRanker, SpanReader  # noqa: E402
from qa.retrieval import Passage, capped  # noqa: E402

PASSAGE_FEATURES = ["ce_best", "fused", "fused_rank"]
SENTENCE_FEATURES = ["ce", "ce_context", "dense", *CHEAP_FEATURES, "span"]


class CachedReader(SpanReader):
    """The span reader, each (question, sentence) read once across the fit's many passes."""

    @functools.lru_cache(maxsize=None)
    def best_logit(self, question: str, text: str) -> float:
        return super().best_logit(question, text)


READER = CachedReader()


class Lookup:
    """Plays the cross-encoder from a dump's table of its scores."""

    def __init__(self, table: dict[str, float]):
        self.table = table

    def score(self, pairs):
        return np.array([self.table.get(text, -10.0) for _, text in pairs], dtype=np.float32)


def load(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                r["source"] = path.stem
                out.append(r)
    return out


TEST_SETS = ("realtimeqa-dev", "rtqa-dev", "mtrag")  # what numbers are reported on: never fitted on


def looks_like_test_set(path: Path) -> bool:
    return any(name in path.name for name in TEST_SETS)


def passages_of(r: dict) -> list[Passage]:
    out = []
    for p in r["passages"]:
        p = {k: v for k, v in p.items() if k not in ("gold", "ce_passage")}
        p["sentences"] = [tuple(s) for s in p["sentences"]]
        out.append(Passage(**p))
    return out


FUSED = {"features": ["fused"], "weights": [1.0], "bias": 0.0}  # the fused order, no rerank
CONTEXT = {"value": "always"}


def spec_for(passage_w=None, sentence_w=None, refuse=0.0) -> dict:
    passage_w = passage_w or {"features": ["fused"], "weights": [1.0], "bias": 0.0}
    sentence_w = sentence_w or {"features": [], "weights": [], "bias": 0.0}
    return {"passage": passage_w, "sentence": sentence_w, "refuse_below": refuse, "context": CONTEXT["value"]}


def passage_rows(records: list[dict]):
    X, y, groups = [], [], []
    for g, r in enumerate(records):
        if r["variant"] != "asked" or not r["passages"]:
            continue
        ranker = AnswerRanker(model=Lookup(r["ce"]), spec=spec_for())
        cols = ranker.passage_columns(r["query"], passages_of(r), r["carried"])
        X.append(np.stack([cols[f] for f in PASSAGE_FEATURES], axis=1))
        y += [p["gold"] for p in r["passages"]]
        groups += [g] * len(r["passages"])
    return np.concatenate(X), np.array(y), np.array(groups)


def fit_logistic(X, y, C=1.0):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=2000)
    model.fit(X, y)
    return model.coef_[0], float(model.intercept_[0])


def linear(features, weights, bias) -> dict:
    return {"features": list(features), "weights": [round(float(w), 6) for w in weights], "bias": round(bias, 6)}


def article_recall(records, passage_spec) -> dict:
    """R@1/R@5 of articles after reranking (one passage per article, as qa search)."""
    hits1 = hits5 = n = 0
    for r in records:
        if r["variant"] != "asked" or not any(True for _ in r["passages"]):
            continue
        gold = {p["article_id"] for p in r["passages"] if p["gold"]}
        n += 1
        if passage_spec is None:
            ordered = passages_of(r)
        elif passage_spec == "whole":
            scores = [p.get("ce_passage", -10.0) for p in r["passages"]]
            ordered = [passages_of(r)[i] for i in np.argsort(-np.asarray(scores), kind="stable")]
        else:
            ranker = AnswerRanker(model=Lookup(r["ce"]), spec=spec_for(passage_spec))
            ordered = ranker.rerank(r["query"], passages_of(r), r["carried"])
        top = [p.article_id for p in capped(ordered, 5, 1)]
        hits1 += bool(top[:1]) and top[0] in gold
        hits5 += bool(gold & set(top))
    return {"questions": n, "R@1": round(hits1 / max(n, 1), 4), "R@5": round(hits5 / max(n, 1), 4)}


def sentence_rows(records, passage_spec, features=SENTENCE_FEATURES):
    """Per record: the shortlisted sentences' feature matrix and labels, as the answerer
    would see them after the rerank given by ``passage_spec``."""
    weights = ScoreWeights()
    out = []
    for r in records:
        head = passages_of(r)
        if not head:
            out.append(None)
            continue
        ranker = AnswerRanker(model=Lookup(r["ce"]), spec=spec_for(passage_spec))
        ranker.span_reader = READER
        top = capped(ranker.rerank(r["query"], head, r["carried"]), PASSAGES, PER_ARTICLE)
        cols: dict = {}
        dense = r["dense"]
        ranker.rank_sentences(
            r["question"], r["query"], top, r["carried"], weights,
            dense_fn=lambda cands: np.array([dense.get(" ".join(c.text.split()), 0.0) for c in cands]),
            columns_out=cols,
        )
        cands = cols.pop("_cands")
        if not cands:
            out.append(None)
            continue
        X = np.stack([cols[f] for f in features], axis=1)
        labels = np.array([bool(r["answers"]) and contains(with_context(c, top).text, r["answers"]) for c in cands])
        out.append({"X": X, "y": labels, "record": r, "cands": cands, "top": top})
    return out


def rows_by_set(val: list[dict], passage_spec: dict) -> dict[str, list]:
    return {name: sentence_rows([r for r in val if r["source"] == name], passage_spec) for name in sorted({r["source"] for r in val})}


def rerank_answers_choice(fused_rows: dict, reranked_rows: dict, weights, bias, bar: float) -> dict:
    """Whether answers read the reranked passages (the rows of ``rows_by_set`` in each
    order): where that puts a gold sentence in more leads of answered questions on the
    validation sets than the fused order does (search is chosen on article recall; an
    answer on its lead)."""
    by_order = {
        label: {name: lead_metrics(rows, weights, bias, bar) for name, rows in by_set.items()}
        for label, by_set in (("fused", fused_rows), ("reranked", reranked_rows))
    }
    leads = {
        label: sum(round(m["gold_in_lead_answered"] * m["judged"]) for m in per_set.values())
        for label, per_set in by_order.items()
    }
    return {"chosen": leads["reranked"] > leads["fused"], "answered_gold_leads": leads, "by_set": by_order}


def lead_metrics(rows, weights, bias, bar=None, objective: str = "f1") -> dict:
    """Gold in the lead (answerable questions with an answer string), and refusal F1 at
    ``bar`` (None: the best bar on these rows by ``objective``: "f1", or "youden" for the
    share of unanswerable questions refused minus the share of answerable ones refused,
    which does not depend on how many of each the validation sets happen to hold)."""
    judged = hits = 0
    tops = []
    for row in rows:
        if row is None:
            continue
        r = row["record"]
        scores = row["X"] @ weights + bias
        best = int(np.argmax(scores))
        prob = 1 / (1 + np.exp(-scores[best]))
        if r["variant"] == "asked" and r["answers"]:
            judged += 1
            hits += bool(row["y"][best])
        unanswerable = r["variant"] == "earlier" and not r["answer_in_head"]
        if r["variant"] == "asked" or unanswerable:
            tops.append((prob, unanswerable, bool(row["y"][best]) if r["variant"] == "asked" else False))
    result = {"gold_in_lead": round(hits / max(judged, 1), 4), "judged": judged}
    bars = [bar] if bar is not None else [b / 100 for b in range(1, 100)]
    best_f1 = (-1, None, 0, 0, 0)
    for b in bars:
        tp = sum(1 for p, u, _ in tops if p < b and u)
        fp = sum(1 for p, u, _ in tops if p < b and not u)
        fn = sum(1 for p, u, _ in tops if p >= b and u)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        # answered and right: gold in the lead of an answered, answerable question
        kept = sum(1 for p, u, g in tops if p >= b and g) / max(judged, 1)
        answerable = sum(1 for _, u, _ in tops if not u)
        j = recall - fp / max(answerable, 1)
        if (f1 if objective == "f1" else j) > best_f1[0]:
            best_f1 = (f1 if objective == "f1" else j, b, precision, recall, kept)
    p_, r_ = best_f1[2], best_f1[3]
    result.update({"refusal_f1": round(2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0, 4), "bar": best_f1[1], "refusal_p": round(best_f1[2], 4),
                   "refusal_r": round(best_f1[3], 4), "gold_in_lead_answered": round(best_f1[4], 4)})
    return result


ANSWERABLE_REFUSED = 0.10  # the bar refuses this share of the answerable validation questions


def refusal_bar(val_rows: dict, weights, bias) -> float:
    """The lead probability below which the answer is refused: the bar that refuses
    ANSWERABLE_REFUSED of the answerable validation questions (news and xquad pooled).

    Not the F1- or Youden-best bar: on the news validation weeks the lead probability of a
    question asked two weeks before its event (no answer in the pile) is as high as when
    asked on its day (medians 0.34 and 0.37), so both optima refuse nearly every news
    question; the validation data cannot say where refusals pay, only what they cost."""
    tops = []
    for rows in val_rows.values():
        for row in rows:
            if row is not None and row["record"]["variant"] == "asked":
                tops.append(1 / (1 + np.exp(-float(np.max(row["X"] @ weights + bias)))))
    return round(float(np.quantile(tops, ANSWERABLE_REFUSED)), 3) if tops else 0.0


def short_reads(val_rows: dict, weights, bias) -> dict[str, list[tuple[float, bool]]]:
    """For the leads chosen on the validation questions: (the span reader's confidence in
    its short answer, 0.0 where none could show; whether that answer is exact), by set."""
    from qa.answer_eval import exact as is_exact
    from qa.ranker import SpanReader, short_read

    reader = SpanReader()
    out = {}
    for name, rows in val_rows.items():
        seen = []
        for row in rows:
            if row is None or row["record"]["variant"] != "asked" or not row["record"]["answers"]:
                continue
            r = row["record"]
            lead = row["cands"][int(np.argmax(row["X"] @ weights + bias))]
            text = " ".join(with_context(lead, row["top"]).text.split())
            span, confidence = short_read(reader, r["question"], text)  # ("", 0.0): never shown
            seen.append((confidence, is_exact(span, r["answers"])))
        out[name] = seen
    return out


def shown_at(seen: list[tuple[float, bool]], bar: float) -> list[bool]:
    """Whether each short answer a bar would show is exact (confidence 0.0: none to show)."""
    return [exact for confidence, exact in seen if confidence and confidence >= bar]


def short_bars(reads: dict) -> dict:
    """Per confidence bar, the share of short answers shown and how many of those are exact."""
    out = {}
    for name, seen in reads.items():
        out[name] = {}
        for bar in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            shown = shown_at(seen, bar)
            out[name][str(bar)] = {
                "shown": round(len(shown) / max(len(seen), 1), 3),
                "exact_of_shown": round(sum(shown) / max(len(shown), 1), 3),
                "exact_of_all": round(sum(shown) / max(len(seen), 1), 3),
            }
    return out


SHORT_PRECISION = 0.5  # of the short answers shown on the validation questions, at least this share exact
BAR_GRID = [round(0.05 * i, 2) for i in range(20)]


def pick_short_bar(reads: dict) -> float:
    """The span reader's confidence bar that shows the most exact short answers on all
    validation questions together while at least SHORT_PRECISION of those shown are exact
    (a wrong answer in bold misleads more than none); 1.1, never, when no bar does."""
    seen = [r for rows in reads.values() for r in rows]
    best = (0, 0, 1.1)  # (exact shown, -shown, bar): ties go to the fewer shown
    for bar in BAR_GRID:
        shown = shown_at(seen, bar)
        if shown and sum(shown) / len(shown) >= SHORT_PRECISION and (sum(shown), -len(shown)) > best[:2]:
            best = (sum(shown), -len(shown), bar)
    return best[2]


OBJECTIVE = {"value": "pointwise"}


def fit_sentences(rows, features, C=1.0):
    X = np.concatenate([row["X"] for row in rows if row is not None])
    y = np.concatenate([row["y"] for row in rows if row is not None])
    mask = [SENTENCE_FEATURES.index(f) for f in features]
    if OBJECTIVE["value"] == "listwise":
        w, b = fit_listwise(rows, mask, X[:, mask], y, C)
    else:
        w, b = fit_logistic(X[:, mask], y, C)
    full = np.zeros(len(SENTENCE_FEATURES))
    full[mask] = w
    return full, b


def fit_listwise(rows, mask, X, y, C=1.0):
    """Weights that pick the answer among each question's own shortlist: a conditional
    logit (softmax over a question's sentences; the loss is minus the log of the share
    its answer sentences get), over the answerable questions whose shortlist holds one,
    with the same L2 penalty as the pointwise fit. Pointwise logistic regression weighs
    every sentence of every question alike, where the answerer only ever compares the
    sentences of one question. The probability the refusal bar reads is then a
    one-feature logistic regression of that score, fitted pointwise (order unchanged)."""
    from scipy.optimize import minimize

    groups = [(row["X"][:, mask], row["y"]) for row in rows if row is not None and row["y"].any()]
    n = sum(len(g[1]) for g in groups)

    def loss(w):
        total, grad = 0.0, np.zeros_like(w)
        for Xg, yg in groups:
            s = Xg @ w
            s -= s.max()
            e = np.exp(s)
            p = e / e.sum()
            pos = p[yg].sum()
            total -= np.log(pos)
            # d(-log sum_pos p)/dw = E_p[x] - E_{p | pos}[x]
            grad += p @ Xg - (p[yg] @ Xg[yg]) / pos
        return total / len(groups) + np.dot(w, w) / (2 * C * n), grad / len(groups) + w / (C * n)

    w = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    a, b = fit_logistic((X @ w)[:, None], y, C)
    return w * a[0], b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=Path, nargs="+", required=True)
    parser.add_argument("--val", type=Path, nargs="+", required=True)
    parser.add_argument("--write", action="store_true", help="write the weights (to --out)")
    parser.add_argument("--out", type=Path, default=MODELS / "answer-ranker.json", help="where --write writes [qa/models/answer-ranker.json]")
    parser.add_argument(
        "--models", nargs="+", default=["answer-ranker.onnx"], metavar="NAME",
        help="the files in qa/models/ the dumps were scored with (several: their mean, an ensemble)",
    )
    parser.add_argument("--context", choices=["always", "anaphora"], default="always", help="as the model was trained")
    parser.add_argument("--max-length", type=int, default=192, help="word pieces the model reads, as it was trained")
    parser.add_argument("--objective", choices=["pointwise", "listwise"], default="pointwise",
                        help="sentence weights: logistic regression over all sentences, or a softmax within each question's")
    parser.add_argument("--report", type=Path, help="also write the whole validation report here (--write puts it in the weights)")
    parser.add_argument("--short-bar", type=float, help="span confidence above which a short answer shows (default: chosen)")
    parser.add_argument("--offer", nargs="+", choices=SENTENCE_FEATURES, metavar="FEATURE",
                        help=f"sentence features the elimination starts from (default: all of {', '.join(SENTENCE_FEATURES)})")
    parser.add_argument("--answer-passages", choices=["auto", "fused", "reranked"], default="auto",
                        help="the passage order the sentence weights are fitted on (auto: as search reranks by default)")
    args = parser.parse_args()
    for path in [*args.train, *args.val]:
        if looks_like_test_set(path):
            sys.exit(f"{path} looks like a test set: fit nothing on it")
    CONTEXT["value"] = args.context
    OBJECTIVE["value"] = args.objective
    train, val = load(args.train), load(args.val)
    val_sets = sorted({r["source"] for r in val})

    # -- passages ----------------------------------------------------------------------
    # news only: in xquad every passage of the gold article counts as gold, which says
    # little about which passage answers
    news = [r for r in train if not r["source"].startswith("xquad")]
    Xp, yp, _ = passage_rows(news)
    report = {"passages": {}}
    for name in val_sets:
        report["passages"][f"fused order / {name}"] = article_recall([r for r in val if r["source"] == name], None)
    best_passage = None
    for feats in (["ce_best"], ["ce_best", "fused"], ["ce_best", "fused_rank"], PASSAGE_FEATURES):
        mask = [PASSAGE_FEATURES.index(f) for f in feats]
        w, b = fit_logistic(Xp[:, mask], yp)
        spec = linear(feats, w, b)
        for name in val_sets:
            report["passages"][f"{'+'.join(feats)} / {name}"] = article_recall([r for r in val if r["source"] == name], spec)
        if feats == PASSAGE_FEATURES:
            best_passage = spec
    # how many sentences of a passage the model reads (cost: that many pairs a passage)
    import qa.ranker as ranker_module

    default_reps = ranker_module.RERANK_REPS
    for reps in (1, 2, 3):
        ranker_module.RERANK_REPS = reps
        Xr, yr, _ = passage_rows(news)
        w, b = fit_logistic(Xr, yr)
        for name in val_sets:
            report["passages"][f"all, {reps} sentence(s) a passage / {name}"] = article_recall(
                [r for r in val if r["source"] == name], linear(PASSAGE_FEATURES, w, b)
            )
    ranker_module.RERANK_REPS = default_reps
    # the same model reading whole passages instead of their best sentences
    for name in val_sets:
        report["passages"][f"whole-passage score alone / {name}"] = article_recall(
            [r for r in val if r["source"] == name], "whole"
        )
    print(json.dumps(report["passages"], indent=1), flush=True)

    # Rerank by default only where the news validation weeks show a gain in article recall.
    news_val = [n for n in val_sets if not n.startswith("xquad")]
    gain = sum(
        report["passages"][f"ce_best+fused+fused_rank / {n}"][k] - report["passages"][f"fused order / {n}"][k]
        for n in news_val for k in ("R@1", "R@5")
    )
    rerank_by_default = gain > 0
    report["rerank_by_default"] = {"chosen": rerank_by_default, "recall_gain_r1_plus_r5": round(gain, 4)}
    print("rerank by default:", rerank_by_default, f"(R@1 + R@5 gain on {news_val}: {gain:+.4f})", flush=True)
    # the passages the sentence weights are fitted on: as answers will read them
    reranked_answers = {"auto": rerank_by_default, "fused": False, "reranked": True}[args.answer_passages]
    answer_passages = best_passage if reranked_answers else FUSED

    # -- sentences ----------------------------------------------------------------------
    train_rows = sentence_rows(train, answer_passages)
    val_rows = rows_by_set(val, answer_passages)
    context = args.context
    offered = args.offer or SENTENCE_FEATURES
    start = [f for f in SENTENCE_FEATURES if f in offered and not (context == "always" and f == "ce_context")]
    report["sentences"] = {}

    def hits(feats) -> tuple[int, tuple]:
        """Gold leads over all validation sets together, for the weights fitted on feats."""
        w, b = fit_sentences(train_rows, feats)
        key = "all" + "".join(f" -{f}" for f in start if f not in feats)
        per_set = {name: lead_metrics(rows, w, b) for name, rows in val_rows.items()}
        for name, m in per_set.items():
            report["sentences"][f"{key} / {name}"] = m
        print(key, json.dumps(per_set), flush=True)
        return sum(round(m["gold_in_lead"] * m["judged"]) for m in per_set.values()), (feats, w, b)

    # Backward elimination: a feature stays only if leaving it out loses gold leads on
    # the validation sets (the model's own score always stays).
    best, fitted = hits(start)
    feats = list(start)
    for feature in [f for f in start if f != "ce"]:
        trial = [f for f in feats if f != feature]
        score, result = hits(trial)
        if score >= best:
            best, feats, fitted = score, trial, result
    for reference in (["ce"], ["ce", "lexical"]):
        hits(reference)
    feats, w, b = fitted
    print("kept features:", feats, flush=True)
    bar = refusal_bar(val_rows, w, b)
    report["refusal"] = {name: lead_metrics(rows, w, b, bar) for name, rows in val_rows.items()}
    print("refusal at", bar, json.dumps(report["refusal"]), flush=True)
    other_rows = rows_by_set(val, FUSED if reranked_answers else best_passage)  # the order not fitted on
    fused_rows, reranked_rows = (other_rows, val_rows) if reranked_answers else (val_rows, other_rows)
    report["rerank_answers_by_default"] = rerank_answers_choice(fused_rows, reranked_rows, w, b, bar)
    print("answers rerank by default:", json.dumps(report["rerank_answers_by_default"]["answered_gold_leads"]), flush=True)
    reads = short_reads(val_rows, w, b)
    report["short"] = short_bars(reads)
    print("short answers by bar:", json.dumps(report["short"]), flush=True)
    short_bar = args.short_bar if args.short_bar is not None else pick_short_bar(reads)
    print("short-answer bar:", short_bar, flush=True)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    if args.write:
        spec = {
            "version": 1,
            "models": args.models,
            "context": context,
            "max_length": args.max_length,
            "rerank_by_default": rerank_by_default,
            "rerank_answers_by_default": report["rerank_answers_by_default"]["chosen"],
            "passage": best_passage,
            "sentence": linear(feats, [x for f, x in zip(SENTENCE_FEATURES, w) if f in feats], b),
            "sentence_objective": args.objective,
            "refuse_below": bar,
            "short_min_confidence": short_bar,
            "validation": report,
        }
        args.out.write_text(json.dumps(spec, indent=1) + "\n")


if __name__ == "__main__":
    main()
