"""Story grouping, measured on pairs of articles labelled by hand.

`realtimeqa-2023-24` holds, for each quiz question, the week's web-search results: mostly
one story told by several outlets, next to the other questions' stories of the same week.
Pairs of articles from one week are drawn across the whole range of lead similarity and
labelled by reading them (same event or not); `tests/bench/story_pairs.jsonl` keeps the
article ids and the labels only, never the texts.

    # draw pairs to label (prints them; writes ids with "same": null)
    .venv/bin/python tests/bench/bench_stories.py sample ../shared/eval/realtimeqa-2023-24
    # precision and recall of the rule in index/stories.py: the bar chosen on the 2023
    # pairs, reported on the 2024 pairs
    .venv/bin/python tests/bench/bench_stories.py score ../shared/eval/realtimeqa-2023-24

Lead vectors are made as the index makes them: the first chunk (title context and
opening) of the real chunker, embedded by the packaged model.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from index import Index, Settings  # noqa: E402
from index.stories import SAME_STORY, STORY_DAYS, same_story  # noqa: E402

PAIRS = ROOT / "tests" / "bench" / "story_pairs.jsonl"
BINS = [(0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]


def load(folder: Path):
    corpus = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            r = json.loads(line)
            corpus[r["id"]] = r
    weeks: dict[str, list[dict]] = defaultdict(list)
    with open(folder / "questions.jsonl", encoding="utf-8") as lines:
        for line in lines:
            q = json.loads(line)
            weeks[q["id"].split("_")[0]].append(q)
    return corpus, weeks


def lead_vectors(records: list[dict]) -> np.ndarray:
    idx = Index.open(settings=Settings(data_dir=Path(tempfile.mkdtemp()), collection="leads"))
    chunker = idx.chunker()
    texts = [chunker.chunk(r["title"], r["text"])[0].embed_text for r in records]
    return idx.embedder.embed(texts)


def sample(folder: Path, per_split: int, seed: int) -> None:
    corpus, weeks = load(folder)
    rng = random.Random(seed)
    out = []
    for split, year in (("tune", "2023"), ("test", "2024")):
        chosen = [w for w in sorted(weeks) if w.startswith(year)][::8]
        ids = sorted({a for w in chosen for q in weeks[w] for a in q["results"] if a in corpus})
        week_of = {a: w for w in chosen for q in weeks[w] for a in q["results"]}
        vectors = lead_vectors([corpus[a] for a in ids])
        units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        sims = units @ units.T
        by_bin: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                if week_of[ids[i]] != week_of[ids[j]]:
                    continue
                for b, (lo, hi) in enumerate(BINS):
                    if lo <= sims[i, j] < hi:
                        by_bin[b].append((ids[i], ids[j]))
        for b in range(len(BINS)):
            for a, c in rng.sample(by_bin[b], min(per_split // len(BINS), len(by_bin[b]))):
                out.append({"split": split, "a": a, "b": c, "same": None})
    with open(PAIRS, "w", encoding="utf-8") as handle:
        for pair in out:
            handle.write(json.dumps(pair) + "\n")
    for n, pair in enumerate(out):
        print(f"--- {n} ({pair['split']})")
        for key in ("a", "b"):
            r = corpus[pair[key]]
            print(f"  {r['date']} {r['source']}: {r['title']}\n    {' '.join(r['text'].split())[:260]}")


def score(folder: Path) -> None:
    corpus, _ = load(folder)
    pairs = [json.loads(line) for line in open(PAIRS, encoding="utf-8")]
    pairs = [p for p in pairs if p["same"] is not None]
    ids = sorted({p[k] for p in pairs for k in ("a", "b")})
    vectors = dict(zip(ids, lead_vectors([corpus[a] for a in ids])))

    def measure(split: str, threshold: float, days: int) -> tuple[float, float, float, int, int]:
        chosen = [p for p in pairs if p["split"] == split]
        said = [same_story(vectors[p["a"]], vectors[p["b"]], corpus[p["a"]]["date"], corpus[p["b"]]["date"],
                           threshold, days) for p in chosen]
        truth = [p["same"] for p in chosen]
        tp = sum(s and t for s, t in zip(said, truth))
        precision = tp / max(1, sum(said))
        recall = tp / max(1, sum(truth))
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        return precision, recall, f1, sum(truth), len(chosen)

    grid = [(round(t, 2), d) for d in (3, 7) for t in np.arange(0.5, 0.96, 0.05)]
    best = max(grid, key=lambda g: (measure("tune", *g)[2], g[0]))
    print(f"labelled pairs: {len(pairs)} (tune: 2023 weeks, test: 2024 weeks)")
    print()
    print("| bar | days | tune P / R / F1 | test P / R / F1 |")
    print("|---:|---:|---|---|")
    for t, d in grid:
        tp, tr, tf, *_ = measure("tune", t, d)
        sp, sr, sf, *_ = measure("test", t, d)
        mark = " (best on tune)" if (t, d) == best else ""
        mark += " (shipped)" if abs(t - SAME_STORY) < 1e-6 and d == STORY_DAYS else ""
        print(f"| {t:.2f}{mark} | {d} | {tp:.2f} / {tr:.2f} / {tf:.2f} | {sp:.2f} / {sr:.2f} / {sf:.2f} |")
    for split in ("tune", "test"):
        *_, positives, total = measure(split, SAME_STORY, STORY_DAYS)
        print(f"{split}: {total} pairs, {positives} the same story")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["sample", "score"])
    parser.add_argument("eval_set", type=Path)
    parser.add_argument("--per-split", type=int, default=48)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.mode == "sample":
        sample(args.eval_set, args.per_split, args.seed)
    else:
        score(args.eval_set)


if __name__ == "__main__":
    main()
