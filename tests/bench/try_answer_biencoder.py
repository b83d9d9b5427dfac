"""Experiment (session 22, left): the packaged bi-encoder (all-MiniLM-L6-v2) fine-tuned as an
answer-sentence scorer beside the shipped cross-encoder. Prints P@1 / MRR on the ranker's
validation shortlists for the cosine before and after training, and for the ranker's
logit plus w x cosine; writes the feature dumps again with ``dense`` from the tuned model,
for ``fit_answer_combiner.py`` / ``try_sentence_combiners.py``.

    .venv/bin/python tests/bench/try_answer_biencoder.py --work /tmp/answer-model --out /tmp/bienc \\
        [--dumps D --dumps-out D-tuned]

``--work`` is train_answer_model.py's folder (its pairs.jsonl: 2023 weeks and the xquad
training half; val_*.json: the 2024 weeks and the xquad held-out half). Training:
MultipleNegativesRankingLoss on (question, positive, one of its hard negatives), batch 32
with no question twice in a batch, 1 epoch, lr 2e-5: about 6 minutes on 2 threads.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import answer_data as data  # noqa: E402

SEED = 1234
MIX = (0, 2, 5, 10, 20)


def triplets(pairs_path: Path) -> dict[str, list[str]]:
    """Each positive with one of its question's negatives (taken in turn, shuffled)."""
    by_question: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    with open(pairs_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            by_question[r["question"]][0 if r["label"] else 1].append(r["text"])
    out: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
    for question, (positives, negatives) in by_question.items():
        random.shuffle(negatives)
        for i, positive in enumerate(positives if negatives else []):
            out["anchor"].append(question)
            out["positive"].append(positive)
            out["negative"].append(negatives[i % len(negatives)])
    return out


def cosines(model, groups: list[dict]) -> list[list[float]]:
    out = []
    for g in groups:
        question = model.encode([g["question"]], normalize_embeddings=True)[0]
        texts = model.encode(g["candidates"], normalize_embeddings=True, batch_size=64)
        out.append([float(x) for x in texts @ question])
    return out


def train(model, pairs_path: Path, args) -> None:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments, losses
    from sentence_transformers.training_args import BatchSamplers

    rows = triplets(pairs_path)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(args.out / "checkpoints"), num_train_epochs=args.epochs, per_device_train_batch_size=32,
        learning_rate=args.lr, warmup_ratio=0.1, weight_decay=0.01, logging_steps=20, save_strategy="no",
        eval_strategy="no", seed=SEED, batch_sampler=BatchSamplers.NO_DUPLICATES, report_to=[], use_cpu=True,
        disable_tqdm=True, dataloader_num_workers=0,
    )
    started = time.time()
    SentenceTransformerTrainer(
        model=model, args=targs, train_dataset=Dataset.from_dict(rows), loss=losses.MultipleNegativesRankingLoss(model)
    ).train()
    print(f"trained on {len(rows['anchor'])} triplets in {(time.time() - started) / 60:.1f} min", flush=True)


def redense(model, source: Path, target: Path) -> None:
    """The dumps again, with ``dense`` = the model's query . sentence cosine."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.jsonl")):
        records = [json.loads(line) for line in open(path, encoding="utf-8")]
        texts = sorted({t for r in records for t in r["dense"]})
        queries = sorted({r["query"] for r in records})
        T = dict(zip(texts, model.encode(texts, batch_size=64, normalize_embeddings=True)))
        Q = dict(zip(queries, model.encode(queries, batch_size=64, normalize_embeddings=True)))
        with open(target / path.name, "w", encoding="utf-8") as out:
            for r in records:
                r["dense"] = {t: float(T[t] @ Q[r["query"]]) for t in r["dense"]}
                out.write(json.dumps(r) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True, help="train_answer_model.py's --work folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dumps", type=Path, help="feature dumps to write again with the tuned model's dense")
    parser.add_argument("--dumps-out", type=Path)
    args = parser.parse_args()
    needed = [args.work / name for name in ("pairs.jsonl", "val_realtimeqa.json", "val_xquad.json")]
    if missing := [str(path) for path in needed if not path.is_file()]:
        sys.exit(f"--work lacks {', '.join(missing)}: run train_answer_model.py --stage pairs into it first")
    if args.dumps and not any(args.dumps.glob("*.jsonl")):
        sys.exit(f"--dumps {args.dumps} holds no .jsonl dumps (dump_answer_features.py writes them)")
    import torch
    from sentence_transformers import SentenceTransformer

    from index.embedding import model_path
    from qa.ranker import CrossEncoderOnnx

    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    validation = {name: json.loads((args.work / f"val_{name}.json").read_text()) for name in ("realtimeqa", "xquad")}
    ranker = CrossEncoderOnnx().load()
    logits = {name: [list(map(float, ranker.score([(g["question"], c) for c in g["candidates"]]))) for g in groups]
              for name, groups in validation.items()}
    model = SentenceTransformer(str(model_path()), device="cpu")
    model.max_seq_length = 128
    before = {name: cosines(model, groups) for name, groups in validation.items()}
    train(model, args.work / "pairs.jsonl", args)
    model.save(str(args.out / "model"))
    after = {name: cosines(model, groups) for name, groups in validation.items()}
    print("| scores | " + " | ".join(f"{n} P@1 / MRR" for n in validation) + " |")
    print("|---|" + "---|" * len(validation))
    print("| ranker alone | " + " | ".join(
        "{:.3f} / {:.3f}".format(*data.p_at_1(groups, logits[name])) for name, groups in validation.items()) + " |")
    for label, cos in (("packaged", before), ("tuned", after)):
        for w in MIX:
            cells = []
            for name, groups in validation.items():
                scores = [list(np.asarray(c) * (w or 1) + (np.asarray(lg) if w else 0)) for lg, c in zip(logits[name], cos[name])]
                cells.append("{:.3f} / {:.3f}".format(*data.p_at_1(groups, scores)))
            what = f"{label} cosine alone" if w == 0 else f"ranker + {w} x {label} cosine"
            print(f"| {what} | " + " | ".join(cells) + " |", flush=True)
    if args.dumps:
        redense(model, args.dumps, args.dumps_out or args.out / "dumps")


if __name__ == "__main__":
    main()
