"""Chunks fit the model, point at exact spans, follow sentences; the ONNX backend gives
the same vectors as sentence-transformers."""

from __future__ import annotations

import numpy as np
import pytest

from index.chunking import Chunker, load_tokenizer, sentence_spans
from index.embedding import Embedder, model_path
from tests.conftest import SEED


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(str(model_path()))


def test_chunks_fit_the_model_and_point_at_exact_spans(tokenizer):
    text = SEED.read_text(encoding="utf-8") * 3
    chunker = Chunker(tokenizer, max_tokens=200, overlap_tokens=40)
    chunks = chunker.chunk("Putin’s New Eastward Pivot", text)
    assert len(chunks) > 3
    ends = {e for _, e in sentence_spans(text)}
    for c in chunks:
        assert text[c.start : c.end] == c.text
        pieces = len(tokenizer.encode(c.embed_text).ids)  # with [CLS] and [SEP]
        assert pieces <= 256 and c.tokens <= 200
        assert c.embed_text.startswith("Putin’s New Eastward Pivot\n")
        assert c.end in ends  # chunks end where sentences end
    # consecutive chunks overlap by at most the overlap budget and leave no text out
    for a, b in zip(chunks, chunks[1:]):
        if b.start >= a.end:
            assert not text[a.end : b.start].strip()
        else:
            assert len(tokenizer.encode(text[b.start : a.end], add_special_tokens=False).ids) <= 40
    assert chunks[0].start == 0 and chunks[-1].end == len(text.rstrip())


@pytest.mark.parametrize(
    "word", ["x" * 300_000, "A" * 150 + " then some text. " + "9" * 150_000], ids=["letters", "word-text-digits"]
)
def test_a_huge_word_is_not_one_huge_chunk(tokenizer, word):
    """Issue 11, item 10: a text with no whitespace became one chunk as long as itself
    (WordPiece reads a word over 100 characters as one [UNK])."""
    chunks = Chunker(tokenizer, max_tokens=200, overlap_tokens=40).chunk("Title", word)
    assert len(chunks) > 100
    covered = 0
    for c in chunks:
        assert word[c.start : c.end] == c.text
        assert len(c.text) <= 2_000  # the pieces of a 200-piece budget, not the whole text
        assert len(tokenizer.encode(c.embed_text).ids) <= 256
        assert c.start <= covered  # nothing left out
        covered = max(covered, c.end)
    assert covered == len(word)


def test_one_huge_sentence_is_cut_at_word_ends(tokenizer):
    text = "word " * 2000 + "end."
    chunks = Chunker(tokenizer, max_tokens=120, overlap_tokens=0).chunk("", text)
    assert len(chunks) >= 16
    for c in chunks:
        assert len(tokenizer.encode(c.embed_text).ids) <= 122
        assert text[c.start : c.end] == c.text and not c.text.startswith(" ")


def test_int8_vectors_are_close_to_fp32_and_never_depend_on_their_batch(model_cache):
    """Issue 14: dynamic quantization takes its ranges from the whole run, so the int8
    embedder runs each text alone: a text's vector is the same in any company."""
    texts = [SEED.read_text(encoding="utf-8")[i : i + 900] for i in range(0, 9000, 900)]
    texts.append("What does Japan expect from Sochi?")
    int8 = Embedder("onnx", cache_dir=model_cache, precision="int8")
    fp32 = Embedder("onnx", cache_dir=model_cache, precision="fp32").embed(texts)
    together = int8.embed(texts)
    assert np.all((together * fp32).sum(axis=1) >= 0.97)
    for n in (0, 5, len(texts) - 1):
        alone = int8.embed_query(texts[n])
        assert np.array_equal(alone, together[n])
    assert np.array_equal(int8.embed(texts[3:7]), together[3:7])


def test_onnx_gives_the_same_vectors_as_sentence_transformers(model_cache):
    texts = [
        "What does Japan expect from Sochi?",
        SEED.read_text(encoding="utf-8")[:1200],
        "Lavrov and Wang condemned THAAD.",
        "word " * 400,  # longer than 256 pieces: both truncate the same way
    ]
    onnx = Embedder("onnx", cache_dir=model_cache, batch_size=2).embed(texts)
    reference = Embedder("sentence-transformers").embed(texts)
    cosines = (onnx * reference).sum(axis=1)
    assert onnx.shape == (4, 384)
    assert np.all(cosines >= 0.999), cosines
