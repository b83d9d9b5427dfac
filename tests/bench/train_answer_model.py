"""Train the answer model that ships in qa/models/: a MiniLM cross-encoder that scores
"does this sentence answer this question", exported to int8 ONNX.

    .venv/bin/python tests/bench/train_answer_model.py ../shared/eval/realtimeqa-2023-24 ../shared/eval/xquad-en \\
        --work /work/bench-data/answer-model [--stage all|pairs|train|export] [--epochs 3]

Stages (each reads what the one before wrote into --work):
  pairs   training pairs from realtimeqa-2023-24's 2023 weeks and xquad-en's training half
          (answer_data.py says how), validation shortlists from the 2024 weeks and the
          held-out xquad half (with --val-every N, every Nth week of 2024 validates and
          the others are trained on too);
  baselines  P@1 of what the answerer had before (cosine, cheap features, both);
  train   fine-tune the packaged all-MiniLM-L6-v2 transformer (or --init: a trained ranker,
          or the span stage's work/cloze-model) with a 1-output head, with
          sentence-transformers' CrossEncoderTrainer and binary cross-entropy; P@1 on the
          validation weeks is logged every --eval-steps (the validation curve);
  export  ONNX (fp32 and int8 dynamic quantization per output channel), both measured on the validation
          shortlists; the int8 file is copied to qa/models/;
  mine    (experiment) listwise groups: each positive with the negatives the exported
          model ranks highest among the sentences the answerer would shortlist;
  listwise  (experiment) fine-tune work/model on them, cross-entropy over each group;
  attitude  pairs for questions about what someone expects, believes, hopes or fears,
          from the training weeks' articles (attitude_pairs.py);
  shortlists  pairs from the answerer's own shortlists on the training dumps (--dumps,
          from dump_answer_features.py): the sentences the answerer reads for each 2023
          and xquad training question, with the passages reranked as answers read them;
  tune    fine-tune a trained ranker (--init) one epoch on --tune-pairs (the attitude or
          the shortlist pairs) and --replay of its own pairs; then --stage export
          (sessions 25-26: neither tuning shipped);
  span    a second MiniLM with a span head that reads the short answer out of the lead
          sentence (name, number, date...), trained first on --span-cloze synthetic cloze
          questions from the training weeks' articles, then on where the answer strings
          stand in the positive sentences; int8 ONNX to qa/models/answer-span.onnx.
realtimeqa-dev and mtrag-dev are never read: they are the test sets.
Needs the training extra: pip install -e '.[train]'.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import answer_data as data  # noqa: E402
from make_week_samples import every_nth_week  # noqa: E402

TRAIN_YEARS = ("2023",)
VAL_YEARS = ("2024",)
SEED = 1234
ATTITUDE_SEED = 25  # the attitude pairs' choices, and the replayed sample of stage tune


def split_weeks(folder: Path, val_every: int | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The id prefixes trained and validated on: 2023 and 2024 by default; with
    ``val_every`` N, every Nth week of 2024 validates (as make_week_samples.py --val-every
    N picks them) and the other weeks of 2024 join the training."""
    if not val_every:
        return TRAIN_YEARS, VAL_YEARS
    questions = data.load_jsonl(folder / "questions.jsonl")
    val = every_nth_week(questions, VAL_YEARS[0], val_every)
    rest = every_nth_week(questions, VAL_YEARS[0], 1) - val
    return TRAIN_YEARS + tuple(sorted(rest)), tuple(sorted(val))


def stage_cloze_pairs(args) -> None:
    """(experiment, session 29) pairs.jsonl of ranker pairs from --span-cloze cloze
    questions of the training articles (answer_data.cloze_pairs), to train a ranker on
    before the real pairs (--stage train --init)."""
    if not args.span_cloze:
        sys.exit("--stage cloze-pairs needs --span-cloze 1 or more")
    cloze = sample_cloze(args)
    rows = data.cloze_pairs(cloze)
    args.work.mkdir(parents=True, exist_ok=True)
    with open(args.work / "pairs.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    write_validation(args)
    print(f"cloze pairs: {len(rows)} ({sum(r['label'] for r in rows)} positive) from {len(cloze)} cloze questions", flush=True)


def sample_cloze(args) -> list[dict]:
    """Up to --span-cloze cloze questions of the training articles, the same draw for
    stage span and stage cloze-pairs."""
    cloze = data.cloze_examples(args.realtimeqa, args.train_ids, args.xquad, random.Random(SEED),
                                per_question=args.cloze_per_story, per_article=args.cloze_per_story,
                                style=args.cloze_style)
    return random.Random(SEED).sample(cloze, min(args.span_cloze, len(cloze)))


def write_validation(args) -> tuple[list[dict], list[dict]]:
    """The validation shortlists that stage train's curve and stage export read."""
    val_rt = data.realtimeqa_validation(args.realtimeqa, args.val_ids)
    val_xq = data.xquad_validation(args.xquad, "heldout")
    (args.work / "val_realtimeqa.json").write_text(json.dumps(val_rt))
    (args.work / "val_xquad.json").write_text(json.dumps(val_xq))
    return val_rt, val_xq


def stage_pairs(args) -> None:
    from index.embedding import Embedder

    rng = random.Random(SEED)
    embedder = Embedder(cache_dir=args.model_cache)
    started = time.time()
    earlier = data.EarlierWeeks(args.realtimeqa, args.train_ids)
    print(f"earlier-weeks index: {len(earlier.sentences)} sentences ({time.time() - started:.0f} s)", flush=True)
    rt = data.realtimeqa_items(args.realtimeqa, args.train_ids, embedder, rng, earlier_index=earlier, n_pos=args.positives)
    xq = data.xquad_items(args.xquad, "train", embedder, rng)
    pairs = data.to_pairs(rt) + data.to_pairs(xq)
    rng.shuffle(pairs)
    with open(args.work / "pairs.jsonl", "w", encoding="utf-8") as f:
        for q, t, label in pairs:
            f.write(json.dumps({"question": q, "text": t, "label": label}) + "\n")
    val_rt, val_xq = write_validation(args)
    positives = sum(p[2] for p in pairs)
    print(
        f"pairs: {len(pairs)} ({positives} positive) from {len(rt)} realtimeqa and {len(xq)} xquad questions; "
        f"validation: {len(val_rt)} realtimeqa, {len(val_xq)} xquad questions ({time.time() - started:.0f} s)",
        flush=True,
    )


def stage_mine(args) -> None:
    """Listwise groups with hard negatives mined by the model trained in stage ``train``
    (its int8 export in the work folder, else the shipped file)."""
    from qa.ranker import RANKER_FILE, CrossEncoderOnnx

    rng = random.Random(SEED)
    started = time.time()
    path = args.work / "answer-ranker.onnx"
    ranker = CrossEncoderOnnx(path if path.exists() else RANKER_FILE, max_length=args.max_length, cache_size=0)
    earlier = data.EarlierWeeks(args.realtimeqa, args.train_ids)
    groups = data.mined_groups(args.realtimeqa, args.train_ids, ranker.score, rng, earlier_index=earlier)
    groups += data.mined_xquad_groups(args.xquad, "train", ranker.score, rng)
    rng.shuffle(groups)
    with open(args.work / "groups.jsonl", "w", encoding="utf-8") as f:
        for g in groups:
            f.write(json.dumps(g) + "\n")
    print(f"mined {len(groups)} groups with {ranker.path.name} ({time.time() - started:.0f} s)", flush=True)


def stage_attitude(args) -> None:
    """Pairs for questions about what someone expects, believes, hopes or fears, from the
    training weeks' articles (attitude_pairs.py says how)."""
    import attitude_pairs

    pairs, shown = attitude_pairs.attitude_pairs(args.realtimeqa, args.train_ids, random.Random(ATTITUDE_SEED))
    with open(args.work / "attitude-pairs.jsonl", "w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(pair) + "\n")
    print(f"attitude pairs: {len(shown)} questions, {len(pairs)} pairs, e.g.:", flush=True)
    for question, answer in random.Random(ATTITUDE_SEED).sample(shown, min(5, len(shown))):
        print(f"  {question} -> {answer[:100]}", flush=True)


def stage_shortlists(args) -> None:
    """Pairs from what the answerer itself reads: for each training question of the dumps
    (2023 weeks, xquad's training half; asked on its day, a sentence holding its answer
    among the shortlist), every shortlisted sentence as the ranker reads it, labelled as
    the combinations are fitted (fit_answer_combiner.py). The ranker's own pairs come from
    a question's search results; the answerer's shortlist comes from the six passages it
    retrieves from the whole pile, and there the lead is lost to a neighbouring sentence
    or another article on the same story."""
    if not args.dumps:
        sys.exit("--stage shortlists needs --dumps: the training dumps of dump_answer_features.py")
    for path in args.dumps:
        if not path.is_file():
            sys.exit(f"{path} is not a file: --dumps takes the training dumps of dump_answer_features.py")
    import fit_answer_combiner as fit

    if any(fit.looks_like_test_set(p) or "heldout" in p.name or "rtqa24" in p.name for p in args.dumps):
        sys.exit("--dumps must be training dumps (2023 weeks, xquad's training half), not a validation or test set")
    from qa.ranker import AnswerRanker, load_combiner

    fit.CONTEXT["value"] = args.context
    spec = load_combiner()
    ranker = AnswerRanker(spec=spec)
    questions = 0
    with open(args.work / "shortlist-pairs.jsonl", "w", encoding="utf-8") as out:
        for row in fit.sentence_rows(fit.load(args.dumps), spec["passage"]):
            if row is None or row["record"]["variant"] != "asked" or not row["y"].any():
                continue
            questions += 1
            for cand, label in zip(row["cands"], row["y"]):
                out.write(json.dumps({"question": row["record"]["query"], "text": ranker.text_of(cand), "label": int(label)}) + "\n")
    print(f"shortlist pairs of {questions} questions in {args.work / 'shortlist-pairs.jsonl'}", flush=True)


def stage_tune(args) -> None:
    """Fine-tune a trained ranker (--init, a model folder) one epoch on --tune-pairs and
    as many of its own training pairs (work/pairs.jsonl, replayed so that it keeps what
    it knew); writes work/model for --stage export."""
    # what is missing is one line, before the heavy imports
    if args.init is None or not (args.init / "config.json").is_file():
        sys.exit(f"--stage tune needs --init: the folder of a trained ranker (with config.json), not {args.init}")
    made_by = {"attitude-pairs.jsonl": "attitude", "shortlist-pairs.jsonl": "shortlists"}  # --tune-pairs' choices
    for name, stage in ((args.tune_pairs, made_by[args.tune_pairs]), ("pairs.jsonl", "pairs")):
        if not (args.work / name).is_file():
            sys.exit(f"{args.work / name} is missing: run --stage {stage} first")
    own = data.load_jsonl(args.work / "pairs.jsonl")
    if not 0 <= args.replay <= len(own):
        sys.exit(f"--replay must be 0 to {len(own)} (the training pairs there are), not {args.replay}")

    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(ATTITUDE_SEED)
    extra = data.load_jsonl(args.work / args.tune_pairs)
    rows = extra + rng.sample(own, args.replay)
    rng.shuffle(rows)
    dataset = Dataset.from_dict(
        {"question": [r["question"] for r in rows], "text": [r["text"] for r in rows], "label": [float(r["label"]) for r in rows]}
    )
    model = CrossEncoder(str(args.init), num_labels=1, max_length=args.max_length, device="cpu")
    targs = CrossEncoderTrainingArguments(
        output_dir=str(args.work / "checkpoints"), num_train_epochs=1, per_device_train_batch_size=args.batch_size,
        learning_rate=args.tune_lr, warmup_ratio=0.1, weight_decay=0.01, logging_steps=50, save_strategy="no",
        eval_strategy="no", seed=args.seed, dataloader_num_workers=0, report_to=[], use_cpu=True, disable_tqdm=True,
    )
    started = time.time()
    CrossEncoderTrainer(model=model, args=targs, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model)).train()
    model.save_pretrained(str(args.work / "model"))
    print(f"tuned on {len(extra)} pairs of {args.tune_pairs} and {args.replay} replayed in {(time.time() - started) / 60:.1f} min", flush=True)


def stage_listwise(args) -> None:
    """Fine-tune the pointwise model (work/model) on the mined groups: each question's
    positive against its hard negatives (and one of another question), cross-entropy
    over the group."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in open(args.work / "groups.jsonl", encoding="utf-8")]
    # the loss reads a fixed number of columns: groups with fewer negatives are left out
    width = args.negatives
    short = sum(1 for r in rows if len(r["negatives"]) < width)
    rows = [r for r in rows if len(r["negatives"]) >= width]
    print(f"{len(rows)} groups with {width} negatives ({short} with fewer left out)", flush=True)
    columns = {"question": [r["question"] for r in rows], "positive": [r["positive"] for r in rows]}
    for k in range(width):
        columns[f"negative_{k}"] = [r["negatives"][k] for r in rows]
    init = args.init or args.work / "model"
    model = CrossEncoder(str(init), num_labels=1, max_length=args.max_length, device="cpu")
    targs = CrossEncoderTrainingArguments(
        output_dir=str(args.work / "checkpoints"), num_train_epochs=args.listwise_epochs,
        per_device_train_batch_size=args.listwise_batch_size, learning_rate=args.listwise_lr, warmup_ratio=0.1, weight_decay=0.01, logging_steps=20, save_strategy="no",
        eval_strategy="no", seed=SEED, dataloader_num_workers=0, report_to=[], use_cpu=True, disable_tqdm=True,
    )
    started = time.time()
    loss = MultipleNegativesRankingLoss(model, num_negatives=1)
    trainer = CrossEncoderTrainer(model=model, args=targs, train_dataset=Dataset.from_dict(columns), loss=loss)
    trainer.train()
    model.save_pretrained(str(args.work / "model"))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"listwise: {len(rows)} groups of {width + 2} x {args.listwise_epochs} epochs in {(time.time() - started) / 60:.1f} min; "
          f"loss {losses[:1]} -> {losses[-3:]}", flush=True)


def ranker_start(folder: Path, work: Path) -> str:
    """The folder a ranker's training starts from. The span reader's cloze model
    (``work/cloze-model`` of --stage span) is a question-answering checkpoint with neither
    tokenizer files nor the pooler the scoring head reads: both come from the packaged
    MiniLM, into ``work/init-from-reader``; its span head is left out by the loading."""
    from safetensors.torch import load_file, save_file

    from index.embedding import model_path

    config = json.loads((folder / "config.json").read_text())
    if "BertForQuestionAnswering" not in config.get("architectures", []):
        return str(folder)
    base, out = Path(model_path()), work / "init-from-reader"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "config.json", out)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (base / name).is_file():
            shutil.copy(base / name, out)
    weights = load_file(str(folder / "model.safetensors"))
    pooler = {f"bert.{k}": v for k, v in load_file(str(base / "model.safetensors")).items() if k.startswith("pooler.")}
    save_file({k: v.contiguous() for k, v in {**weights, **pooler}.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    print(f"ranker starts from {folder} (the reader's transformer, the packaged pooler and tokenizer)", flush=True)
    return str(out)


def load_validation(args, limit: int | None = None) -> dict[str, list[dict]]:
    out = {}
    for name in ("realtimeqa", "xquad"):
        groups = json.loads((args.work / f"val_{name}.json").read_text())
        out[name] = groups[:limit] if limit else groups
    return out


def predict_groups(score_pairs, groups: list[dict]) -> list[list[float]]:
    flat = [(g["question"], c) for g in groups for c in g["candidates"]]
    scores = list(score_pairs(flat))
    out, at = [], 0
    for g in groups:
        out.append(scores[at : at + len(g["candidates"])])
        at += len(g["candidates"])
    return out


def stage_baselines(args) -> None:
    """P@1 on the validation shortlists of what the answerer had before the model:
    cosine alone, the cheap features alone, and today's hand-set mix of both."""
    import numpy as np

    from index.embedding import Embedder
    from qa.extractive import Candidate, ScoreWeights, cheap_features, hand_score

    embedder = Embedder(cache_dir=args.model_cache)
    weights = ScoreWeights()
    report = {}
    for name, groups in load_validation(args).items():
        cosine, cheap, today = [], [], []
        for g in groups:
            cands = [Candidate(0, start, start + len(own), own) for own, start in zip(g["own"], g["starts"])]
            # passage rank is not known here: all candidates count as the first passage
            hand = hand_score(cheap_features(g["question"], cands), weights)
            dense = embedder.embed(g["own"]) @ embedder.embed_query(g["question"])
            cosine.append(dense)
            cheap.append(hand)
            today.append(hand + weights.dense * dense)
        for label, scores in (("cosine", cosine), ("cheap features", cheap), ("today's scorer", today)):
            report[f"{label} / {name}"] = [round(x, 4) for x in data.p_at_1(groups, scores)]
        report[f"chance / {name}"] = round(float(np.mean([np.mean(g["labels"]) for g in groups])), 4)
    print("baselines (P@1, MRR):", json.dumps(report, indent=1), flush=True)
    (args.work / "baselines.json").write_text(json.dumps(report, indent=1))


def share_of_questions(rows: list[dict], share: float, seed: int) -> list[dict]:
    """The pairs of ``share`` of the questions, drawn by ``seed`` (a learning curve: how
    the ranker reads with fewer labelled questions)."""
    questions = sorted({r["question"] for r in rows})
    kept = set(random.Random(seed).sample(questions, round(len(questions) * share)))
    return [r for r in rows if r["question"] in kept]


def stage_train(args) -> None:
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import TrainerCallback

    from index.embedding import model_path

    if not (args.work / "pairs.jsonl").is_file():
        sys.exit(f"{args.work / 'pairs.jsonl'} is missing: run --stage pairs first")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in open(args.work / "pairs.jsonl", encoding="utf-8")]
    if args.question_share < 1:
        rows = share_of_questions(rows, args.question_share, args.seed)
    dataset = Dataset.from_dict(
        {"question": [r["question"] for r in rows], "text": [r["text"] for r in rows], "label": [float(r["label"]) for r in rows]}
    )
    # --init: a trained ranker to go on from (session 29: one trained on cloze pairs first),
    # or the span reader's cloze model (session 32: the ensemble's second file)
    start = ranker_start(args.init, args.work) if args.init else str(model_path())
    model = CrossEncoder(start, num_labels=1, max_length=args.max_length, device="cpu")
    validation = load_validation(args, limit=args.eval_questions)
    curve_path = args.work / "curve.jsonl"
    curve_path.unlink(missing_ok=True)
    started = time.time()

    class Curve(TrainerCallback):
        """P@1 on the validation shortlists, every ``eval_steps`` and at the end."""

        def measure(self, state) -> None:
            was_training = model.training
            model.eval()
            row = {"step": state.global_step, "pairs_seen": state.global_step * args.batch_size,
                   "minutes": round((time.time() - started) / 60, 1)}
            for name, groups in validation.items():
                scores = predict_groups(lambda pairs: model.predict(pairs, batch_size=64), groups)
                row[f"{name}_p1"], row[f"{name}_mrr"] = (round(x, 4) for x in data.p_at_1(groups, scores))
            if state.log_history:
                losses = [h["loss"] for h in state.log_history if "loss" in h]
                row["loss"] = round(sum(losses[-5:]) / len(losses[-5:]), 4) if losses else None
            with open(curve_path, "a") as f:
                f.write(json.dumps(row) + "\n")
            print("curve", json.dumps(row), flush=True)
            model.train(was_training)

        def on_step_end(self, targs, state, control, **kwargs):
            if state.global_step % args.eval_steps == 0:
                self.measure(state)

        def on_train_end(self, targs, state, control, **kwargs):
            self.measure(state)

    targs = CrossEncoderTrainingArguments(
        output_dir=str(args.work / "checkpoints"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_ratio=0.1,
        weight_decay=0.01,
        logging_steps=50,
        save_strategy="no",
        eval_strategy="no",
        seed=args.seed,
        data_seed=args.data_seed,
        dataloader_num_workers=0,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=targs, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model), callbacks=[Curve()]
    )
    trainer.train()
    model.save_pretrained(str(args.work / "model"))
    print(f"trained on {len(rows)} pairs x {args.epochs} epochs in {(time.time() - started) / 60:.1f} min", flush=True)


def stage_export(args) -> None:
    import numpy as np
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(args.work / "model")).eval()
    fp32 = args.work / "answer-ranker-fp32.onnx"
    int8 = args.work / "answer-ranker.onnx"
    sample = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            model, (sample, sample, torch.zeros_like(sample)), str(fp32), input_names=names,
            output_names=["logits"], dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "logits": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    # per output channel, as the embedder (index/embedding.py): each row keeps its own scale
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    from qa.ranker import CrossEncoderOnnx

    validation = load_validation(args)
    report = {}
    for label, path in (("fp32", fp32), ("int8", int8)):
        ranker = CrossEncoderOnnx(path)
        for name, groups in validation.items():
            started = time.perf_counter()
            scores = predict_groups(ranker.score, groups)
            report[f"{label}_{name}"] = [round(x, 4) for x in data.p_at_1(groups, scores)] + [
                round((time.perf_counter() - started) / sum(len(g["candidates"]) for g in groups) * 1000, 2)
            ]
        report[f"{label}_mb"] = round(path.stat().st_size / 2**20, 1)
    print("export (P@1, MRR, ms per pair):", json.dumps(report), flush=True)
    (args.work / "export.json").write_text(json.dumps(report, indent=1))
    if not args.no_install:
        target = ROOT / "qa" / "models" / args.install_name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(int8, target)
        print(f"installed {target} ({target.stat().st_size / 2**20:.1f} MB)")
    del np


def span_data(args) -> tuple[list[dict], list[dict]]:
    """(question, sentence, answer span) from the positives of the training questions, and
    of the validation questions (the 2024 weeks, the held-out xquad half)."""
    rng = random.Random(SEED)
    none = dict(n_hard=0, n_repeat=0, n_random=0)
    train = data.realtimeqa_items(args.realtimeqa, args.train_ids, None, rng, n_pos=args.span_positives, **none)
    train += data.xquad_items(args.xquad, "train", None, rng, n_hard=0, n_random=0)
    val = data.realtimeqa_items(args.realtimeqa, args.val_ids, None, rng, **none)
    val += data.xquad_items(args.xquad, "heldout", None, rng, n_hard=0, n_random=0)
    return data.span_examples(train), data.span_examples(val)


def no_answer_examples(pairs_path: Path, questions: set[str], per_question: int) -> list[dict]:
    """(experiment) Sentences that do not answer, ``per_question`` for each training
    question, from the ranker's training pairs (its hard, repeating, random and earlier-week
    negatives), marked to be read as "no answer here"."""
    rng = random.Random(SEED)
    by_question: dict[str, list[str]] = {}
    with open(pairs_path, encoding="utf-8") as handle:
        for line in handle:
            pair = json.loads(line)
            if pair["label"] == 0 and pair["question"] in questions:
                by_question.setdefault(pair["question"], []).append(pair["text"])
    out = []
    for question, texts in sorted(by_question.items()):
        for text in rng.sample(texts, min(per_question, len(texts))):
            out.append({"question": question, "text": text, "no_answer": True})
    return out


def encode_spans(tokenizer, rows: list[dict], max_length: int):
    """Token positions of each answer span; rows whose answer is cut off are left out."""
    import torch

    kept, starts, ends = [], [], []
    enc = tokenizer([r["question"] for r in rows], [r["text"] for r in rows], truncation="only_second",
                    max_length=max_length, return_offsets_mapping=True)
    for n, r in enumerate(rows):
        if r.get("no_answer"):  # the answer is "none here": the [CLS] position, as in SQuAD 2.0
            kept.append(n)
            starts.append(0)
            ends.append(0)
            continue
        seq = enc.sequence_ids(n)
        offsets = enc["offset_mapping"][n]
        s = e = None
        for t, (a, b) in enumerate(offsets):
            if seq[t] != 1:
                continue
            if s is None and a <= r["start"] < b or (s is None and a >= r["start"]):
                s = t
            if a < r["end"]:
                e = t
        if s is not None and e is not None and e >= s:
            kept.append(n)
            starts.append(s)
            ends.append(e)
    return kept, enc, torch.tensor(starts), torch.tensor(ends)


def fit_spans(model, tokenizer, rows: list[dict], epochs: float, lr: float, args, label: str) -> list[dict]:
    """Train the span head (and the transformer) on ``rows`` for ``epochs``: AdamW, 10 %
    warm-up, linear decay; returns the loss curve."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    kept, enc, starts, ends = encode_spans(tokenizer, rows, args.max_length)
    print(f"{label} examples: {len(kept)} of {len(rows)}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = int(len(kept) / args.batch_size * epochs)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    rng = random.Random(args.seed)
    started = time.time()
    curve = []
    pos = {n: i for i, n in enumerate(kept)}
    step = 0
    model.train()
    while step < steps:
        order = kept[:]
        rng.shuffle(order)
        for first in range(0, len(order), args.batch_size):
            if step >= steps:
                break
            batch = order[first : first + args.batch_size]
            feats = tokenizer.pad(
                {k: [enc[k][n] for n in batch] for k in ("input_ids", "attention_mask", "token_type_ids")}, return_tensors="pt"
            )
            index = [pos[n] for n in batch]
            out = model(**feats, start_positions=starts[index], end_positions=ends[index])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 200 == 0 or step == steps:
                curve.append({"stage": label, "step": step, "loss": round(float(out.loss), 3),
                              "minutes": round((time.time() - started) / 60, 1), "examples": len(kept)})
                print(label, json.dumps(curve[-1]), flush=True)
    return curve


def stage_span(args) -> None:
    """A span head on the packaged MiniLM, trained on synthetic cloze questions, then on
    where the answer strings stand in the positive sentences; exported to int8 ONNX as
    qa/models/answer-span.onnx."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from index.embedding import model_path
    from qa.ranker import SpanReader

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train, val = span_data(args)
    if args.span_negatives:
        if not (args.work / "pairs.jsonl").is_file():
            sys.exit(f"--span-negatives reads {args.work / 'pairs.jsonl'}: run --stage pairs into this --work first")
        train += no_answer_examples(args.work / "pairs.jsonl", {r["question"] for r in train}, args.span_negatives)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path()))
    # --span-init: a trained ranker's transformer (its head left out, a span head new) or a cloze-model (head kept)
    model = AutoModelForQuestionAnswering.from_pretrained(str(args.span_init or model_path()), num_labels=2)
    started = time.time()
    curve = []
    if args.span_cloze:
        # first the synthetic cloze questions (answer_data.cloze_examples), then the real ones
        curve += fit_spans(model, tokenizer, sample_cloze(args), args.cloze_epochs, args.span_lr, args, "cloze")
        # kept so that the second step alone can be tried again: --span-cloze 0 --span-init work/cloze-model
        model.save_pretrained(str(args.work / "cloze-model"))
    curve += fit_spans(model, tokenizer, train, args.span_epochs, args.span_lr, args, "span")
    model.eval()
    model.save_pretrained(str(args.work / "span-model"))
    fp32, int8 = args.work / "answer-span-fp32.onnx", args.work / "answer-span.onnx"
    sample = torch.ones((2, 16), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            model, (sample, sample, torch.zeros_like(sample)), str(fp32), input_names=names,
            output_names=["start_logits", "end_logits"],
            dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in names}, "start_logits": {0: "batch", 1: "seq"}, "end_logits": {0: "batch", 1: "seq"}},
            opset_version=17, dynamo=False,
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)  # per tensor lost 3-4 points of exact match (session 27)
    from qa.answer_eval import normalize

    report = {"train_examples": curve[-1]["examples"], "minutes": round((time.time() - started) / 60, 1), "curve": curve}
    for label, path in (("fp32", fp32), ("int8", int8)):
        reader = SpanReader(path)
        exact = 0
        confidences = []
        for r in val:
            span, confidence = reader.read(r["question"], r["text"])
            right = normalize(span) == normalize(r["text"][r["start"] : r["end"]])
            exact += right
            confidences.append((confidence, right))
        report[f"{label}_exact"] = round(exact / max(len(val), 1), 4)
        # precision of the shown short answers above a few confidence bars
        report[f"{label}_by_bar"] = {
            str(bar): [round(sum(r for c, r in confidences if c >= bar) / max(1, sum(1 for c, _ in confidences if c >= bar)), 3),
                       round(sum(1 for c, _ in confidences if c >= bar) / max(len(confidences), 1), 3)]
            for bar in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
        }
        report[f"{label}_mb"] = round(path.stat().st_size / 2**20, 1)
    print("span model:", json.dumps(report), flush=True)
    (args.work / "span.json").write_text(json.dumps(report, indent=1))
    (args.work / "val_spans.json").write_text(json.dumps(val))
    if not args.no_install:
        (ROOT / "qa" / "models").mkdir(exist_ok=True)
        shutil.copyfile(int8, ROOT / "qa" / "models" / "answer-span.onnx")


def share(text: str) -> float:
    """argparse type: a share of the training questions, above 0 and at most 1."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share: give a number above 0 and at most 1")
    return value


def at_least(minimum: int):
    """argparse type: a count, ``minimum`` or more."""

    def count(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text}: give {minimum} or more")
        return value

    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("realtimeqa", type=Path, help="../shared/eval/realtimeqa-2023-24")
    parser.add_argument("xquad", type=Path, help="../shared/eval/xquad-en")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--stage", default="all", choices=["all", "pairs", "cloze-pairs", "baselines", "train", "export", "mine", "listwise", "span", "attitude", "shortlists", "tune"])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--max-length", type=int, default=160)
    parser.add_argument("--eval-steps", type=int, default=500)
    parser.add_argument("--eval-questions", type=int, default=150, help="validation questions per set in the curve")
    parser.add_argument("--negatives", type=int, default=6, help="stage listwise: hard negatives a group")
    parser.add_argument("--listwise-epochs", type=float, default=1)
    parser.add_argument("--listwise-batch-size", type=int, default=8, help="groups a step")
    parser.add_argument("--listwise-lr", type=float, default=2e-5)
    parser.add_argument("--init", type=Path, help="stages listwise, tune and train: the model folder to start from (listwise: default work/model; train: the packaged MiniLM, or a trained ranker, or the span stage's work/cloze-model)")
    parser.add_argument("--replay", type=int, default=4000, help="stage tune: training pairs replayed beside --tune-pairs")
    parser.add_argument("--tune-pairs", default="attitude-pairs.jsonl", choices=["attitude-pairs.jsonl", "shortlist-pairs.jsonl"],
                        help="stage tune: the pairs in --work to tune on")
    parser.add_argument("--dumps", type=Path, nargs="+", help="stage shortlists: the training dumps (dump_answer_features.py)")
    parser.add_argument("--tune-lr", type=float, default=2e-5)
    parser.add_argument("--span-epochs", type=float, default=3)
    parser.add_argument("--span-lr", type=float, default=5e-5)
    parser.add_argument("--positives", type=at_least(1), default=3,
                        help="stage pairs: news sentences holding the answer a training question gives, beside its evidence")
    parser.add_argument("--span-positives", type=at_least(1), default=3,
                        help="stage span: news sentences holding the answer a training question gives, beside its evidence")
    parser.add_argument("--span-cloze", type=at_least(0), default=60000,
                        help="stage span: first train on up to N synthetic cloze questions from the training articles "
                             "(answer_data.cloze_examples; 0: none, as before session 29; 20000 in session 29)")
    parser.add_argument("--cloze-epochs", type=float, default=1)
    parser.add_argument("--cloze-style", choices=["inplace", "front"], default="inplace",
                        help="stage span: the question word where the hidden string stood (as shipped), or in front, as "
                             "people ask, with scores and sentence-opening words left out (answer_data.cloze_question)")
    parser.add_argument("--cloze-per-story", type=at_least(1), default=100,
                        help="stage span: cloze questions at most from one news question's results or one xquad article "
                             "(40 in session 29; at 100 the pool is used whole: 34,858, of which 34,758 fit in 128 word pieces)")
    parser.add_argument("--span-init", type=Path,
                        help="--stage span starts from this model folder (a trained ranker, or a reader's work/cloze-model) instead of the packaged MiniLM")
    parser.add_argument("--span-negatives", type=int, default=0,
                        help="stage span (experiment): non-answer sentences a training question, read as no answer "
                             "(taken from work/pairs.jsonl, which --stage pairs writes)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--model-cache", type=Path, default=Path(os.environ.get("QA_MODEL_CACHE_DIR", ROOT / ".cache")))
    parser.add_argument("--no-install", action="store_true", help="do not copy the model into qa/models/")
    parser.add_argument(
        "--install-name", default="answer-ranker.onnx",
        help="stage export: the file name in qa/models/ (answer-ranker-b.onnx: the ensemble's second member)",
    )
    parser.add_argument(
        "--context", choices=["always", "anaphora", "after"], default="anaphora",
        help="give each sentence the one before it always, or only when it refers back",
    )
    parser.add_argument(
        "--val-every", type=int, metavar="N",
        help="validate on every Nth week of 2024 only and train on the others too (default: all of 2024 validates)",
    )
    parser.add_argument(
        "--question-share", type=share, default=1.0,
        help="stage train (a learning curve): only the pairs of this share of the training questions, drawn by --seed",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="stages train and span: the seed of the head's initialisation and the batches (span: the cloze draw stays)")
    parser.add_argument(
        "--data-seed", type=int, default=None,
        help="stage train: another order of the batches, the head initialised as by --seed (models that can be averaged)",
    )
    args = parser.parse_args()
    args.train_ids, args.val_ids = split_weeks(args.realtimeqa, args.val_every)
    args.work.mkdir(parents=True, exist_ok=True)
    data.CONTEXT = args.context
    if args.stage != "all":
        globals()[f"stage_{args.stage.replace('-', '_')}"](args)
        return
    # what ships; "mine" then "listwise" (then "export" again) is the experiment of a
    # listwise round on the model's own hard negatives (docs/answer-model.md: no gain)
    for stage in ("pairs", "baselines", "train", "export", "span"):
        globals()[f"stage_{stage}"](args)


if __name__ == "__main__":
    main()
