"""The answer model: a MiniLM cross-encoder trained here (tests/bench/train_answer_model.py)
that reads a question with one sentence and scores "this sentence answers it", shipped as
int8 ONNX in qa/models/ and run with onnxruntime (never torch).

Its score is one feature of a learned combination (weights beside the model, in
answer-ranker.json) that picks the lead sentence, reranks passages and decides refusals.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np

from index.errors import QAError

from .fusion import RRF_K

MODELS = Path(__file__).resolve().parent / "models"
RANKER_FILE = MODELS / "answer-ranker.onnx"
MAX_LENGTH = 160  # word pieces of question + sentence; longer pairs lose the question's tail last
# Pairs per onnxruntime run; runs go side by side on the cores. One: the int8 model's
# activations are quantized with ranges taken from the whole run, padding included, so in
# a batch a sentence's score moved with its neighbours (by 0.1 on average, 0.4 at worst;
# as fast one by one here).
BATCH = 1


class RankerError(QAError):
    pass


def pair_tokenizer(max_length: int, strategy: str):
    """The packaged MiniLM's tokenizer for (question, text) pairs, cut at ``max_length``."""
    from tokenizers import Tokenizer

    from index.embedding import model_path

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy=strategy)
    return tokenizer


def onnx_session(path: Path, what: str):
    import onnxruntime as ort

    if not path.is_file():
        raise RankerError(f"the {what} is missing: {path} (reinstall qa-news)")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # batches run side by side instead (as the embedder)
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise RankerError(f"the {what} {path} cannot be loaded: {exc}") from None


class CrossEncoderOnnx:
    """Scores (question, text) pairs with an exported cross-encoder: one logit a pair. Given
    several files (the same model trained twice, batches in another order), a pair's score
    is the mean of their logits: one run's reading moves with the order it saw the data
    in, and the mean moves less."""

    def __init__(self, path: Path | list[Path] = RANKER_FILE, max_length: int = MAX_LENGTH, cache_size: int = 4096):
        self.paths = [Path(p) for p in path] if isinstance(path, (list, tuple)) else [Path(path)]
        self.max_length = max_length
        # Retrieval and the answer score the same sentences of one question: score once.
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._cache_size = cache_size

    @cached_property
    def tokenizer(self):
        return pair_tokenizer(self.max_length, "longest_first")

    @cached_property
    def sessions(self) -> list:
        return [onnx_session(p, "answer model") for p in self.paths]

    def load(self) -> "CrossEncoderOnnx":
        self.tokenizer, self.sessions
        return self

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One logit per (question, text) pair; higher means "answers it"."""
        out = np.zeros(len(pairs), dtype=np.float32)
        todo = []
        for i, pair in enumerate(pairs):
            hit = self._cache.get(pair)
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
                self._cache.move_to_end(pair)
        if todo:
            fresh = self._run([pairs[i] for i in todo])
            for i, value in zip(todo, fresh):
                out[i] = value
                self._cache[pairs[i]] = float(value)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return out

    def _run(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        tokenizer, sessions = self.tokenizer, self.sessions
        encodings = tokenizer.encode_batch(pairs)
        order = sorted(range(len(pairs)), key=lambda i: len(encodings[i].ids))
        batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        out = np.zeros(len(pairs), dtype=np.float32)

        def run(batch: list[int]) -> np.ndarray:
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                e = encodings[i]
                ids[row, : len(e.ids)] = e.ids
                types[row, : len(e.ids)] = e.type_ids
                mask[row, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            logits = [session.run(None, feed)[0].reshape(len(batch), -1)[:, 0] for session in sessions]
            return np.mean(logits, axis=0)

        workers = min(os.cpu_count() or 1, len(batches))
        if workers <= 1:
            results = map(run, batches)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-rank") as pool:
                results = list(pool.map(run, batches))  # onnxruntime releases the GIL
        for batch, logits in zip(batches, results):
            out[batch] = logits
        return out


def load_combiner(path: Path = MODELS / "answer-ranker.json") -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RankerError(f"the answer model's weights cannot be read: {path}: {exc}") from None


def model_files(spec: dict) -> list[Path]:
    """The cross-encoder files the weights were fitted on ("models": their mean), all in
    qa/models/."""
    names = spec.get("models") or [spec.get("model", RANKER_FILE.name)]
    if not isinstance(names, list) or not all(isinstance(n, str) and n == Path(n).name for n in names):
        raise ValueError(f"models must be file names in {MODELS}, not {names!r}")
    return [MODELS / n for n in names]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


class Linear:
    """A learned linear combination of named features (weights trained in
    tests/bench/fit_answer_combiner.py); ``score`` gives logits."""

    def __init__(self, spec: dict):
        self.features: list[str] = list(spec["features"])
        self.weights = np.asarray(spec["weights"], dtype=np.float64)
        self.bias = float(spec.get("bias", 0.0))

    def score(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        missing = [f for f in self.features if f not in columns]
        if missing:
            raise RankerError(f"the answer model's weights need features this version lacks: {missing}")
        x = np.stack([np.asarray(columns[f], dtype=np.float64) for f in self.features], axis=1)
        return x @ self.weights + self.bias


RERANK_REPS = 2  # sentences of each passage the model reads when it reranks passages
SHORT_WORDS = 8  # a longer span is no short answer
SHORTLIST = 16  # sentences of an answer's passages the model reads (the best by cheap features)


class AnswerRanker:
    """The cross-encoder and the learned combinations that use its scores: one for
    passages (rerank), one for sentences (the lead), with the refusal bar."""

    def __init__(self, model=None, spec: dict | None = None):
        self.spec = spec if spec is not None else load_combiner()
        try:
            if model is None:
                model = CrossEncoderOnnx(model_files(self.spec), max_length=int(self.spec.get("max_length", MAX_LENGTH)))
            self.model = model
            self.sentence = Linear(self.spec["sentence"])
            # the combination whose P(answers) the refusal bar reads; a lead picker that
            # weighs answer-shaped spans would refuse questions whose answer has no such
            # span (what someone expects, why...), so the two may differ
            self.refusal = Linear(self.spec["refusal"]) if "refusal" in self.spec else self.sentence
            self.passage = Linear(self.spec["passage"])
            self.refuse_below = float(self.spec["refuse_below"])
            self.short_min = float(self.spec.get("short_min_confidence", 1.1))
            # what the model was trained to read with a sentence: the one before it
            # "always", or only when the sentence refers back ("anaphora")
            self.context = str(self.spec.get("context", "anaphora"))
            self.rerank_by_default = bool(self.spec.get("rerank_by_default", False))
            # Answers may rerank where search does not: search is chosen on finding the
            # right article, answers on the gold answer leading (not the same thing).
            self.rerank_answers_by_default = bool(self.spec.get("rerank_answers_by_default", self.rerank_by_default))
        except (KeyError, TypeError, ValueError) as exc:
            raise RankerError(f"the answer model's weights are malformed: {exc}") from None

    def load(self) -> "AnswerRanker":
        """Load both models now (the chat app does it in the background at start)."""
        if hasattr(self.model, "load"):
            self.model.load()
        if self.short_min <= 1:
            self.span_reader.load()
        return self

    @cached_property
    def span_reader(self) -> "SpanReader":
        return SpanReader()

    def short_answer(self, question: str, lead: str) -> str:
        """The answer itself, read out of the lead, when the reader is sure enough (its
        bar is calibrated on the validation weeks); otherwise ''."""
        if self.short_min > 1:
            return ""
        span, confidence = short_read(self.span_reader, question, lead)
        return span if confidence >= self.short_min else ""

    def text_of(self, candidate) -> str:
        """What the model reads for a candidate sentence."""
        return candidate.context_text if self.context == "always" else candidate.ranker_text

    def weighs(self, feature: str) -> bool:
        """Does the lead's or the refusal's combination use ``feature``?"""
        return feature in self.sentence.features or feature in self.refusal.features

    @property
    def uses_dense(self) -> bool:
        return self.weighs("dense")

    # -- passages ------------------------------------------------------------------------

    def representatives(self, query: str, passages: list, context: str = "") -> list[list]:
        """Per passage, the sentences the model reads for it: the best by cheap features."""
        from .extractive import ScoreWeights, cheap_features, hand_score, passage_sentences

        weights = ScoreWeights()
        out = []
        for n, p in enumerate(passages):
            sentences = passage_sentences(p, n)
            if sentences:
                cheap = hand_score(cheap_features(query, sentences, context), weights)
                sentences = [sentences[i] for i in np.argsort(-cheap, kind="stable")[:RERANK_REPS]]
            out.append(sentences)
        return out

    def passage_columns(self, query: str, passages: list, context: str = "") -> dict[str, np.ndarray]:
        reps = self.representatives(query, passages, context)
        flat = [(query, self.text_of(c)) for sentences in reps for c in sentences]
        scores = self.model.score(flat) if flat else np.zeros(0, dtype=np.float32)
        best = np.full(len(passages), -10.0)
        at = 0
        for n, sentences in enumerate(reps):
            if sentences:
                best[n] = float(np.max(scores[at : at + len(sentences)]))
            at += len(sentences)
        return {
            "ce_best": best,
            # the fused score in units of "a first place in one ranking"
            "fused": np.array([p.score * (RRF_K + 1) for p in passages]),
            "fused_rank": 1.0 / (1.0 + np.arange(len(passages))),
        }

    def rerank(self, query: str, passages: list, context: str = "") -> list:
        """The passages in the order of the learned passage score (which becomes their
        ``score``)."""
        if not passages:
            return []
        scores = self.passage.score(self.passage_columns(query, passages, context))
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order:
            p = passages[int(i)]
            p.score = round(float(scores[i]), 6)
            out.append(p)
        return out

    # -- sentences -----------------------------------------------------------------------

    def shortlist(self, cheap: np.ndarray, cands: list, passages: int) -> list[int]:
        """Indexes of the candidates the model reads: the SHORTLIST best by cheap features,
        and each passage's representatives (already scored while reranking)."""
        order = [int(i) for i in np.argsort(-cheap, kind="stable")]
        chosen = order[:SHORTLIST]
        per_passage: dict[int, int] = {}
        for i in order:
            n = cands[i].passage
            if per_passage.get(n, 0) < RERANK_REPS:
                per_passage[n] = per_passage.get(n, 0) + 1
                if i not in chosen:
                    chosen.append(i)
        return chosen

    def sentence_columns(
        self, question: str, query: str, cands: list, cheap: np.ndarray, dense=None, all_features: bool = False
    ) -> dict[str, np.ndarray]:
        from .extractive import CHEAP_FEATURES

        cols = {name: cheap[:, i] for i, name in enumerate(CHEAP_FEATURES)}
        cols["ce"] = self.model.score([(query, self.text_of(c)) for c in cands])
        if self.weighs("span") or all_features:
            # the short-answer reader's view: a sentence holding something shaped like
            # the answer asked for (a name, a number...) reads as one
            cols["span"] = np.array([self.span_reader.best_logit(question, c.text) for c in cands])
        if self.context == "always":
            cols["ce_context"] = cols["ce"]
        elif self.weighs("ce_context") or all_features:
            # the model reading each sentence after the one before it, whatever it opens
            # with: the context often says what the sentence is about
            cols["ce_context"] = self.model.score([(query, c.context_text) for c in cands])
        if dense is not None:
            cols["dense"] = np.asarray(dense)
        return cols

    def rank_sentences(self, question: str, query: str, passages: list, context: str, weights, dense_fn=None, columns_out=None) -> list:
        """The candidate sentences of ``passages`` that the model read, best first, each
        with ``score`` = P(answers) and ``ce`` = the model's own score. ``dense_fn(cands)``
        gives the sentences' similarity to the question, when the weights use it."""
        from .extractive import candidates, cheap_features, hand_score

        cands = candidates(passages)
        if not cands:
            return []
        cheap = cheap_features(question, cands, context)
        chosen = self.shortlist(hand_score(cheap, weights), cands, len(passages))
        short = [cands[i] for i in chosen]
        dense = dense_fn(short) if dense_fn is not None and (self.uses_dense or columns_out is not None) else None
        cols = self.sentence_columns(question, query, short, cheap[chosen], dense, all_features=columns_out is not None)
        if columns_out is not None:  # for fitting the weights (tests/bench)
            columns_out.update(cols, _cands=short)
        if self.sentence.features and all(f in cols for f in self.sentence.features):
            probability = self.probability(cols)
            answers = self.answers_probability(cols) if self.refusal is not self.sentence else probability
        else:
            probability = answers = np.zeros(len(short))
        for c, p, a, ce in zip(short, probability, answers, cols["ce"]):
            c.score, c.answers, c.ce = float(p), float(a), float(ce)
        return sorted(short, key=lambda c: -c.score)

    def probability(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """P(the sentence answers the question), calibrated on the validation weeks."""
        return sigmoid(self.sentence.score(columns))

    def answers_probability(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """P(answers) by the refusal's combination, which ``refuse_below`` is set on."""
        return sigmoid(self.refusal.score(columns))


SPAN_FILE = MODELS / "answer-span.onnx"
SPAN_TOKENS = 12  # longest short answer, in word pieces
NO_SPAN = -20.0  # best_logit where the reader cannot read the sentence


class SpanReader:
    """Reads the short answer (a name, number, date...) out of one sentence: a MiniLM with
    a span head, trained here on where answer strings stand (int8 ONNX)."""

    def __init__(self, path: Path = SPAN_FILE, max_length: int = MAX_LENGTH):
        self.path = Path(path)
        self.max_length = max_length

    @cached_property
    def tokenizer(self):
        # Only the sentence is cut: the question must stay whole for the span to make sense.
        return pair_tokenizer(self.max_length, "only_second")

    @cached_property
    def session(self):
        return onnx_session(self.path, "short-answer model")

    def load(self) -> "SpanReader":
        self.tokenizer, self.session
        return self

    def logits(self, question: str, text: str):
        """(encoding, the sentence's word-piece positions, their start and end logits), or
        None when the question alone fills what the reader takes in."""
        try:
            e = self.tokenizer.encode(question, text)
        except Exception:  # tokenizers' truncation error: the question alone fills what it reads
            return None
        ids = np.array([e.ids], dtype=np.int64)
        start, end = self.session.run(
            None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
        )
        positions = [t for t, s in enumerate(e.sequence_ids) if s == 1]
        if not positions:
            return None
        return e, positions, start[0][positions], end[0][positions]

    def best_logit(self, question: str, text: str) -> float:
        """How strongly the reader sees an answer anywhere in ``text``: its best span's
        start plus end logit (not normalized within the sentence, so sentences compare)."""
        got = self.logits(question, text)
        if got is None:
            return NO_SPAN
        _, at, start, end = got
        start, end = start.astype(np.float64), end.astype(np.float64)
        return max(float(np.max(start[: len(at) - k] + end[k:])) for k in range(min(SPAN_TOKENS, len(at))))

    def read(self, question: str, text: str) -> tuple[str, float]:
        """The best span of ``text`` (whole words, verbatim) and its probability."""
        got = self.logits(question, text)
        if got is None:
            return "", 0.0
        e, positions, start, end = got
        ps = _softmax(start)
        pe = _softmax(end)
        best, score = (0, 0), -1.0
        for i in range(len(positions)):
            for j in range(i, min(i + SPAN_TOKENS, len(positions))):
                if ps[i] * pe[j] > score:
                    best, score = (i, j), ps[i] * pe[j]
        first, last = e.offsets[positions[best[0]]][0], e.offsets[positions[best[1]]][1]
        while first > 0 and text[first - 1].isalnum():  # whole words: a piece may start mid-word
            first -= 1
        while last < len(text) and text[last].isalnum():
            last += 1
        return text[first:last].strip(), float(score)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max())
    return z / z.sum()


def short_read(reader: "SpanReader", question: str, lead: str) -> tuple[str, float]:
    """The reader's short answer in ``lead`` and its confidence; ("", 0.0) when no bar
    should show it: a yes/no question, a span as long as the lead or of more than SHORT_WORDS
    words, or of another kind than asked (a place for "when", a name for "how many")."""
    from .extractive import fits_kind, is_yes_no

    if is_yes_no(question):
        return "", 0.0
    span, confidence = reader.read(question, lead)
    if not span or len(span) >= len(lead) or len(span.split()) > SHORT_WORDS or not fits_kind(question, span):
        return "", 0.0
    return span, confidence
