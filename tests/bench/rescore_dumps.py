"""Score the dumps of dump_answer_features.py again with another answer model, without
searching again: retrieval does not depend on the model (the dumps hold the fused head),
so only the model's table changes. Only the texts the combinations read are scored (the
sentences the answerer shortlists, the passages' representatives), not every sentence.

    .venv/bin/python tests/bench/rescore_dumps.py --model W/answer-ranker.onnx --out D2 D/rtqa23.jsonl D/rtqa24.jsonl ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit_answer_combiner as fit  # noqa: E402
from qa.ranker import MAX_LENGTH, CrossEncoderOnnx  # noqa: E402


class Recorder(fit.Lookup):
    """Plays the old table and remembers every text the combinations ask about."""

    def __init__(self, table):
        super().__init__(table)
        self.asked: set[str] = set()

    def score(self, pairs):
        self.asked.update(text for _, text in pairs)
        return super().score(pairs)


def needed(record: dict) -> set[str]:
    recorder = Recorder(record["ce"])
    original = fit.Lookup
    fit.Lookup = lambda table: recorder  # the replay builds its own Lookup from the table
    try:
        if record["variant"] == "asked" and record["passages"]:
            fit.passage_rows([record])
        fit.sentence_rows([record], fit.FUSED)
    finally:
        fit.Lookup = original
    return recorder.asked


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dumps", type=Path, nargs="+")
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="several: the mean of their logits (an ensemble)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the rescored dumps (same names)")
    parser.add_argument("--max-length", type=int, default=MAX_LENGTH)
    parser.add_argument("--context", choices=["always", "anaphora"], default="anaphora", help="as the model was trained")
    args = parser.parse_args()
    fit.CONTEXT["value"] = args.context
    model = CrossEncoderOnnx(args.model, max_length=args.max_length, cache_size=0).load()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.dumps:
        started, pairs = time.time(), 0
        with open(path, encoding="utf-8") as f, open(args.out / path.name, "w", encoding="utf-8") as out:
            for line in f:
                record = json.loads(line)
                texts = sorted(needed(record))
                scores = model.score([(record["query"], t) for t in texts]) if texts else np.zeros(0)
                record["ce"] = {t: float(s) for t, s in zip(texts, scores)}
                pairs += len(texts)
                out.write(json.dumps(record) + "\n")
        print(f"{path.name}: {pairs} pairs scored in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
