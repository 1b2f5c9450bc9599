"""Chunks → a second model's vectors, stored at build time, with which retrieval re-scores the first stage's
top candidates when their order is uncertain (rag/retrieval/rescore.py). The second model (EmbeddingGemma)
ranks better than the index's own (e5-small) but encodes a question about 5× slower, so it is loaded at
the first question that needs it, and a question whose first stage is clear never waits for it."""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from embeddings.model import Embedder, ModelSpec, load_embedder

__all__ = ["Rescorer", "rescorer_option", "rescorer_record", "RESCORE_FILE"]

RESCORE_FILE = "rescore.npy"
QUERIES_KEPT = 64  # a follow-up re-asked, or one question scored with several settings, is encoded once


def rescorer_option(value: str) -> ModelSpec | None | Literal["auto"]:
    """build_index's `rescorer` from what `rag index --rescorer` takes: "auto", "none" or a model name."""
    return "auto" if value in ("", "auto") else None if value == "none" else ModelSpec(name=value)


def rescorer_record(spec: ModelSpec, embedder: Embedder) -> dict:
    """What the manifest records of the second model: enough to load it again and to tell its vectors apart."""
    return {
        "name": spec.name,
        "max_seq_length": spec.max_seq_length,
        "backend": spec.backend,
        "dtype": spec.dtype,
        "fingerprint": embedder.fingerprint,
        "dim": embedder.dim,
        **({"truncate_dim": spec.dim} if spec.dim is not None else {}),
    }


def record_spec(record: dict) -> ModelSpec:
    return ModelSpec(
        name=record["name"], max_seq_length=record["max_seq_length"], backend=record["backend"], dtype=record["dtype"], dim=record.get("truncate_dim")
    )


@dataclass
class Rescorer:
    """The second model's chunk vectors (row i = chunk i) and, once asked for, the model itself."""

    spec: ModelSpec
    fingerprint: str
    vectors: np.ndarray  # (chunks, dim) float16, normalised
    _embedder: Embedder | None = field(default=None, repr=False)
    _failed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queries: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # the last questions' vectors

    @classmethod
    def load(cls, version: Path, record: dict) -> Rescorer:
        return cls(spec=record_spec(record), fingerprint=record["fingerprint"], vectors=np.load(version / RESCORE_FILE, mmap_mode="r"))

    @staticmethod
    def save(folder: Path, vectors: np.ndarray) -> list[str]:
        np.save(folder / RESCORE_FILE, np.asarray(vectors, dtype=np.float16))
        return [RESCORE_FILE]

    def embedder(self) -> Embedder | None:
        """The model (loaded at first use); None, with one warning, where it cannot be loaded or is not
        the one that made the stored vectors: retrieval then keeps the first stage's order."""
        with self._lock:
            if self._embedder is None and not self._failed:
                try:
                    embedder = load_embedder(self.spec)
                    if embedder.fingerprint != self.fingerprint:
                        raise ValueError("模型设置与建索引时不同")
                    self._embedder = embedder
                except (OSError, ValueError, RuntimeError) as error:
                    self._failed = True
                    warnings.warn(f"重排模型 {self.spec.name} 不可用，只用第一阶段的排序：{error}", RuntimeWarning, stacklevel=2)
            return self._embedder

    def warm(self) -> None:
        """Load the model and run it once (ONNX Runtime's first run is slow), so the first unsure question need not wait."""
        embedder = self.embedder()
        if embedder is not None:
            embedder.encode_queries(["法规"])

    def similarities(self, text: str, rows: Sequence[int]) -> np.ndarray | None:
        """Cosine of the question with each row's stored vector; None where the model is unavailable."""
        embedder = self.embedder()
        if embedder is None:
            return None
        with self._lock:
            query = self._queries.get(text)
        if query is None:
            query = embedder.encode_queries([text])[0]
            with self._lock:
                self._queries[text] = query
                while len(self._queries) > QUERIES_KEPT:
                    self._queries.pop(next(iter(self._queries)))
        return np.asarray(self.vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32) @ query
