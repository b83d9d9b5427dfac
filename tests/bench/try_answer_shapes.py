"""How the shape of an answer moves gold in the lead, replayed on dumps made by
dump_answer_features.py with the shipped weights (qa/models/answer-ranker.json):

- how many passages an answer reads (PASSAGES) and how many of one article (PER_ARTICLE);
- quoting the lead together with the sentence next to it when the model scores that one
  nearly as high (P(neighbour) >= share x P(lead)): gold in the lead against its length.

    .venv/bin/python tests/bench/try_answer_shapes.py D/rtqa24-26w.jsonl D/xquad-heldout.jsonl

Prints a table per dump; seconds a dump after the span reader's first pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_answer_combiner as fit  # noqa: E402

from qa.answer_eval import contains  # noqa: E402
from qa.extractive import with_context  # noqa: E402
from qa.ranker import MODELS  # noqa: E402


def leads(rows: list, weights: np.ndarray, bias: float):
    """Per answerable question of ``rows``: (row, P of each shortlisted sentence, the lead's index)."""
    for row in rows:
        if row is None or row["record"]["variant"] != "asked" or not row["record"]["answers"]:
            continue
        p = 1 / (1 + np.exp(-(row["X"] @ weights + bias)))
        yield row, p, int(np.argmax(p))


def rows_by_shape(records: list, spec: dict, shapes: list[tuple[int, int]]) -> dict[tuple[int, int], list]:
    """The answerer's shortlists of each question, per (passages read, of one article)."""
    out = {}
    default = fit.PASSAGES, fit.PER_ARTICLE
    try:
        for shape in shapes:
            fit.PASSAGES, fit.PER_ARTICLE = shape
            out[shape] = fit.sentence_rows(records, spec["passage"], features=spec["sentence"]["features"])
    finally:
        fit.PASSAGES, fit.PER_ARTICLE = default
    return out


def passages_table(by_shape: dict[tuple[int, int], list], spec: dict) -> list[str]:
    w, b = np.array(spec["sentence"]["weights"]), float(spec["sentence"]["bias"])
    bar = float(spec["refuse_below"])
    out = ["| passages read | of one article | gold in lead | answered, gold in lead | refused |", "|---|---|---|---|---|"]
    for (passages, per_article), rows in by_shape.items():
        got = [(bool(row["y"][i]), p[i] >= bar) for row, p, i in leads(rows, w, b)]
        n = max(len(got), 1)
        out.append(
            f"| {passages} | {per_article} | {sum(g for g, _ in got) / n:.3f} | {sum(g and a for g, a in got) / n:.3f} "
            f"| {sum(not a for _, a in got) / n:.3f} |"
        )
    return out


def adjacent(a, b, passages: list) -> bool:
    """Do two candidates of one passage stand next to each other (only blanks between)?"""
    if a.passage != b.passage or not (b.start >= a.end or b.end <= a.start):
        return False
    p = passages[a.passage]
    return not p.text[min(a.end, b.end) - p.start : max(a.start, b.start) - p.start].strip()


def neighbour_table(rows: list, spec: dict, shares: list[float]) -> list[str]:
    """``rows``: the shortlists as the answerer reads them (the shipped shape)."""
    w, b = np.array(spec["sentence"]["weights"]), float(spec["sentence"]["bias"])
    hits = {s: 0 for s in [None, *shares]}
    words = dict.fromkeys(hits, 0)
    merged = dict.fromkeys(hits, 0)
    n = 0
    for row, p, best in leads(rows, w, b):
        n += 1
        cands, top, answers = row["cands"], row["top"], row["record"]["answers"]
        lead = with_context(cands[best], top)
        near = [j for j in range(len(cands)) if j != best and adjacent(cands[best], cands[j], top)]
        other = max(near, key=lambda j: p[j]) if near else None
        for share in hits:
            text = lead.text
            if share is not None and other is not None and p[other] >= share * p[best]:
                passage = top[lead.passage]
                start, end = min(lead.start, cands[other].start), max(lead.end, cands[other].end)
                text = passage.text[start - passage.start : end - passage.start]
                merged[share] += 1
            hits[share] += contains(text, answers)
            words[share] += len(text.split())
    n = max(n, 1)
    out = ["| quote the neighbour too when its P is at least | gold in lead | words in the lead | leads of two sentences |", "|---|---|---|---|"]
    for share in hits:
        label = "never (shipped)" if share is None else f"{share:.1f} x the lead's"
        out.append(f"| {label} | {hits[share] / n:.3f} | {words[share] / n:.1f} | {merged[share] / n:.2f} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dumps", type=Path, nargs="+")
    parser.add_argument("--weights", type=Path, default=MODELS / "answer-ranker.json")
    parser.add_argument("--passages", type=int, nargs="+", default=[4, 6, 8, 10])
    parser.add_argument("--per-article", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0])
    args = parser.parse_args()
    shipped = (fit.PASSAGES, fit.PER_ARTICLE)
    shapes = list(dict.fromkeys([(n, fit.PER_ARTICLE) for n in args.passages] + [(fit.PASSAGES, k) for k in args.per_article] + [shipped]))
    spec = read_or_exit(args.weights, lambda: load_spec(args.weights))
    fit.CONTEXT["value"] = spec.get("context", "anaphora")
    for path in args.dumps:
        records = read_or_exit(path, lambda: fit.load([path]))
        by_shape = read_or_exit(path, lambda: rows_by_shape(records, spec, shapes))
        print(f"\n{path.stem} ({sum(r['variant'] == 'asked' and bool(r['answers']) for r in records)} answerable questions)\n")
        print("\n".join(passages_table(by_shape, spec)) + "\n")
        print("\n".join(neighbour_table(by_shape[shipped], spec, args.shares)), flush=True)


def load_spec(path: Path) -> dict:
    spec = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in ("passage", "sentence", "refuse_below") if key not in spec]
    if missing:
        raise KeyError(missing[0])  # not a weights file
    return spec


def read_or_exit(path: Path, read):
    """``read()``, or one line naming ``path`` when it is missing or not what this reads
    (a dump of dump_answer_features.py, a weights file)."""
    try:
        return read()
    except OSError as exc:
        sys.exit(f"try_answer_shapes: {exc}")
    except (ValueError, KeyError, TypeError) as exc:
        sys.exit(f"try_answer_shapes: {path} is not what it reads: {exc!r}")

if __name__ == "__main__":
    main()
