"""Sentence-aware chunks that fit the embedding model, with exact character offsets.

Sentences come from blingfire (per paragraph, so a heading never glues onto a sentence);
their lengths are counted with the model's own WordPiece tokenizer. Because BERT's
pre-tokenizer splits on whitespace and punctuation, the token count of a chunk is the sum
of its sentences' counts, so a chunk built here never exceeds the model's 256 pieces.
WordPiece reads a word longer than 100 characters as a single [UNK]; such a word is cut
into 100-character windows, each counted as the pieces it holds, so no chunk is longer
than its budget of pieces could ever show the model (a 1 MB run of letters is not one
1 MB chunk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Bump when chunk boundaries or the embedded text change: chunk keys include it, so a
# new version re-chunks everything on the next sync.
CHUNKER_VERSION = "3"  # 3: words over LONG_WORD characters cut into windows
TITLE_TOKENS = 32  # at most this many pieces of the title go into each chunk's context
LONG_WORD = 100  # WordPiece's max_input_chars_per_word: a longer word is one [UNK]


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # character offsets in the article text
    end: int
    text: str  # == article.text[start:end]
    embed_text: str  # what the model sees: title context + text
    sentences: tuple[tuple[int, int], ...]  # sentence spans, article offsets
    tokens: int


@lru_cache(maxsize=2)
def load_tokenizer(model_path: str):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


_PARAGRAPH = re.compile(r"[^\n]+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; paragraphs (lines) never share a sentence."""
    import blingfire

    spans: list[tuple[int, int]] = []
    for para in _PARAGRAPH.finditer(text):
        chunk = para.group()
        if not chunk.strip():
            continue
        _, offsets = blingfire.text_to_sentences_and_offsets(chunk)
        base = para.start()
        for start, end in offsets:
            # blingfire's offsets exclude surrounding spaces already; keep them exact.
            if end > start and chunk[start:end].strip():
                spans.append((base + start, base + end))
    return spans


class Chunker:
    def __init__(self, tokenizer, max_tokens: int = 200, overlap_tokens: int = 40, title_context: bool = True):
        if max_tokens > 254:
            raise ValueError("max_tokens must leave room for [CLS] and [SEP] (<= 254)")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.with_title = title_context

    def title_context(self, title: str) -> tuple[str, int]:
        title = " ".join(title.split()) if self.with_title else ""
        if not title:
            return "", 0
        enc = self.tokenizer.encode(title, add_special_tokens=False)
        if len(enc.ids) > TITLE_TOKENS:
            title = title[: enc.offsets[TITLE_TOKENS - 1][1]]
            return title, TITLE_TOKENS
        return title, len(enc.ids)

    def chunk(self, title: str, text: str) -> list[Chunk]:
        context, context_tokens = self.title_context(title)
        budget = self.max_tokens - context_tokens - (1 if context else 0)
        pieces = self._pieces(text, budget)
        chunks: list[Chunk] = []
        i = 0
        while i < len(pieces):
            j, used = i, 0
            while j < len(pieces) and used + pieces[j][2] <= budget:
                used += pieces[j][2]
                j += 1
            while True:
                start, end = pieces[i][0], pieces[j - 1][1]
                body = text[start:end]
                embed = f"{context}\n{body}" if context else body
                # Text between sentences that the splitter left out still costs pieces.
                used = len(self.tokenizer.encode(embed, add_special_tokens=False).ids)
                if used <= self.max_tokens or j == i + 1:
                    break
                j -= 1
            sentences = tuple((s, e) for s, e, _ in pieces[i:j])
            chunks.append(Chunk(len(chunks), start, end, body, embed, sentences, used))
            if j >= len(pieces):
                break
            # Overlap: step back over trailing sentences worth at most overlap_tokens,
            # always moving forward at least one piece.
            back, k = 0, j
            while k - 1 > i + 0 and back + pieces[k - 1][2] <= self.overlap_tokens:
                back += pieces[k - 1][2]
                k -= 1
            i = max(k, i + 1)
        return chunks

    def _pieces(self, text: str, budget: int) -> list[tuple[int, int, int]]:
        """Sentences with their token counts; a sentence over budget is cut at word ends."""
        spans = sentence_spans(text)
        if not spans:
            return []
        encodings = self.tokenizer.encode_batch(
            [text[s:e] for s, e in spans], add_special_tokens=False
        )
        pieces: list[tuple[int, int, int]] = []
        for (start, end), enc in zip(spans, encodings):
            long_word = any(e - s > LONG_WORD for s, e in enc.offsets)
            if len(enc.ids) <= budget and not long_word:
                pieces.append((start, end, len(enc.ids)))
                continue
            units = [(start + s, start + e, 1) for s, e in enc.offsets]
            if long_word:
                units = self._cut_long_words(text, units)
            pieces += _split_units(units, budget)
        return pieces

    def _cut_long_words(self, text: str, units: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        """Each [UNK] of a word over LONG_WORD characters as windows of LONG_WORD
        characters, each counted as the pieces it holds alone."""
        out: list[tuple[int, int, int]] = []
        for s, e, n in units:
            if e - s <= LONG_WORD:
                out.append((s, e, n))
                continue
            windows = [(w, min(w + LONG_WORD, e)) for w in range(s, e, LONG_WORD)]
            counts = self.tokenizer.encode_batch([text[a:b] for a, b in windows], add_special_tokens=False)
            out += [(a, b, max(len(c.ids), 1)) for (a, b), c in zip(windows, counts)]
        return out


def _split_units(units: list[tuple[int, int, int]], budget: int) -> list[tuple[int, int, int]]:
    """Consecutive units (start, end, pieces) grouped into pieces of at most ``budget``,
    never cutting a word in half where a word start is in reach."""
    pieces = []
    first = 0
    while first < len(units):
        last, used = first, 0
        while last < len(units) and (last == first or used + units[last][2] <= budget):
            used += units[last][2]
            last += 1
        # do not cut a word in half: back off to a unit that starts a word
        while last < len(units) and last > first + 1 and units[last][0] == units[last - 1][1]:
            last -= 1
        pieces.append((units[first][0], units[last - 1][1], sum(u[2] for u in units[first:last])))
        first = last
    return pieces
