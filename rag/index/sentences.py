"""Chunks → sentence vectors: a question often matches one sentence of an article, and the article's
own vector dilutes it with the rest. Retrieval ranks dense candidates by the article's cosine plus its
best sentence's (measured in README「实测」); the vectors are made at index time with the chunks'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..ingest import split_sentences
from ..records import Chunk

__all__ = ["SentenceVectors", "sentence_texts", "FILES"]

VECTORS_FILE = "sentences.npy"
ROWS_FILE = "sentence_rows.npy"
FILES = (VECTORS_FILE, ROWS_FILE)


def sentence_texts(chunks: Sequence[Chunk]) -> tuple[list[str], np.ndarray]:
    """The sentences to embed and the chunk row of each, rows ascending. A chunk of one sentence has
    none: its best sentence is the chunk itself."""
    texts: list[str] = []
    rows: list[int] = []
    for row, chunk in enumerate(chunks):
        sentences = split_sentences(chunk.text)
        if len(sentences) > 1:
            texts.extend(sentences)
            rows.extend([row] * len(sentences))
    return texts, np.asarray(rows, dtype=np.int32)


@dataclass(frozen=True)
class SentenceVectors:
    vectors: np.ndarray  # (sentences, dim), normalised; stored as float16 (cosines to ~1e-3)
    rows: np.ndarray  # (sentences,) chunk row of each sentence, ascending

    def best(self, query: np.ndarray, rows: Sequence[int]) -> dict[int, float]:
        """Chunk row → the highest cosine of its sentences to the query, for the given rows that have sentences."""
        wanted = np.asarray(rows, dtype=np.int32)
        starts = np.searchsorted(self.rows, wanted, side="left")
        ends = np.searchsorted(self.rows, wanted, side="right")
        present = ends > starts
        if not present.any():
            return {}
        spans = [np.arange(s, e) for s, e in zip(starts[present], ends[present])]
        cosines = np.asarray(self.vectors[np.concatenate(spans)], dtype=np.float32) @ np.asarray(query, dtype=np.float32)
        bounds = np.cumsum([0] + [len(span) for span in spans])
        best = np.maximum.reduceat(cosines, bounds[:-1])
        return dict(zip(wanted[present].tolist(), best.tolist()))

    def save(self, folder: Path) -> list[str]:
        np.save(folder / VECTORS_FILE, np.asarray(self.vectors, dtype=np.float16))
        np.save(folder / ROWS_FILE, np.asarray(self.rows, dtype=np.int32))
        return list(FILES)

    @classmethod
    def load(cls, folder: Path) -> SentenceVectors:
        # Memory-mapped: a question reads only its candidates' sentences
        return cls(vectors=np.load(folder / VECTORS_FILE, mmap_mode="r"), rows=np.load(folder / ROWS_FILE))
