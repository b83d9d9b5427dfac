"""Choose the extractive answerer's weights and refusal threshold from dumps made by
dump_sentence_scores.py. Prints, for a grid of weights, the share of answerable questions
whose top sentence holds a gold answer (sets with short answers) and the best refusal F1
(sets with unanswerable questions; yes/no questions held at their own bar), so one setting
can be picked for all sets.

    .venv/bin/python tests/bench/choose_weights.py /tmp/rtqa.json /tmp/xquad.json /tmp/mtrag.json
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path


def score(s, w) -> float:
    dense = s.get(w.get("dense_kind", "dense"), s["dense"])
    if w.get("asked"):  # the answerer's mix for questions with a premise
        dense = (1 - w["asked"]) * dense + w["asked"] * s.get("dense_asked", dense)
    return (
        w["dense"] * dense + w["lexical"] * s["lexical"] + w["cue"] * s["cue"] + w["rank"] / (1 + s["passage"])
        + w.get("novelty", 0) * s.get("novel", 0) + w.get("lede", 0) * s.get("lede", 0)
        - w.get("heading", 0) * s.get("heading", 0)
    )


def holds_gold(s) -> bool:
    """As the answerer quotes it: a lead that refers back comes with the sentence before."""
    return s["gold_with_prev"] if s.get("anaphor") else s["gold"]


def top(sentences, w):
    if not sentences:
        return None
    return max(sentences, key=lambda s: score(s, w))


def gold_at_top(data, w) -> float:
    judged = [q for q in data if q["answerable"] and q["has_answers"]]
    hits = sum(1 for q in judged if (t := top(q["sentences"], w)) and holds_gold(t))
    return hits / max(len(judged), 1)


def refusal_f1(data, w, threshold, yes_no_threshold=None) -> tuple[float, float, float]:
    """``yes_no_threshold``: the (higher) bar for yes/no questions, as the answerer has it."""
    tp = fp = fn = 0
    for q in data:
        best = max((score(s, w) for s in q["sentences"]), default=-1)
        bar = yes_no_threshold if yes_no_threshold is not None and q.get("yes_no") else threshold
        refused = best < bar
        if refused and not q["answerable"]:
            tp += 1
        elif refused:
            fp += 1
        elif not q["answerable"]:
            fn += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


YES_NO = 0.9  # ScoreWeights.refuse_below_yes_no; the grid varies the other threshold


def main() -> None:
    sets = {Path(p).stem: json.loads(Path(p).read_text()) for p in sys.argv[1:]}
    kinds = ["dense"] + [k for k in ("dense_title", "dense_window") if k in next(iter(sets.values()))[0]["sentences"][0]]
    grid = [
        {"dense": 1.0, "lexical": lex, "cue": cue, "rank": rank, "dense_kind": kind, "novelty": nov, "lede": lede, "heading": head, "asked": asked}
        for kind, lex, cue, rank, nov, lede, head, asked in itertools.product(
            kinds, [0.35, 0.5, 0.7], [0.1, 0.15, 0.25], [0.05, 0.1], [0.0, 0.1, 0.2], [0.0, 0.1], [0.0, 0.1], [0.0, 0.5]
        )
    ]
    rows = []
    for w in grid:
        row = {"w": w}
        for name, data in sets.items():
            if any(not q["answerable"] for q in data):
                best = max(
                    (refusal_f1(data, w, t / 100, YES_NO) + (t / 100,) for t in range(20, 120)), key=lambda x: x[2]
                )
                row[name] = {"refusal_p": best[0], "refusal_r": best[1], "refusal_f1": best[2], "threshold": best[3]}
            if any(q["has_answers"] for q in data) and any(s["gold"] for q in data for s in q["sentences"]):
                row.setdefault(name, {})["gold_at_top"] = gold_at_top(data, w)
        rows.append(row)
    short_sets = [n for n in sets if "gold_at_top" in rows[0].get(n, {})]
    rows.sort(key=lambda r: -sum(r[n]["gold_at_top"] for n in short_sets))
    for r in rows[:15]:
        print(json.dumps(r))
    print("current default:")
    for r in rows:
        if r["w"] == {"dense": 1.0, "lexical": 0.5, "cue": 0.15, "rank": 0.05, "dense_kind": "dense", "novelty": 0.1, "lede": 0.1, "heading": 0.1, "asked": 0.5}:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
