"""A content-addressed embedding cache (SQLite, one row per (model, text)).

It makes builds incremental (only new or changed
chunks are encoded) and resumable (each encoded batch is committed before the next starts)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

__all__ = ["EmbeddingCache", "VectorCache", "text_key"]


def text_key(model_fingerprint: str, text: str) -> str:
    return hashlib.sha256(f"{model_fingerprint}\x00{text}".encode("utf-8")).hexdigest()


class VectorCache(Protocol):
    """Vectors by text_key: what EmbeddingCache can share with other machines (a Milvus collection, say)."""

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, items: dict[str, np.ndarray]) -> None: ...


class EmbeddingCache:
    """Vectors keyed by text_key(model, text), stored as float32 blobs in SQLite; with a `shared` cache,
    what this machine lacks is looked up there too, and what it encodes is written to both."""

    def __init__(self, path: Path, dim: int, shared: VectorCache | None = None):
        self.path = path
        self.dim = dim
        self.shared = shared
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            batch = list(keys[start : start + 500])
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch
            )
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dim,):  # a row from another dimension is ignored, not trusted
                    found[key] = vector
        if self.shared is not None and len(found) < len(keys):
            elsewhere = self.shared.get_many([k for k in keys if k not in found])
            self._put_local(elsewhere)
            found.update(elsewhere)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self._put_local(items)
        if self.shared is not None:
            self.shared.put_many(items)

    def _put_local(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                [(key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in items.items()],
            )

    def encode(
        self,
        texts: Sequence[str],
        model_fingerprint: str,
        encoder_for: Callable[[int], Callable[[list[str]], np.ndarray]],
        *,
        batch: int = 256,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for texts, encoding only those not cached, committing every `batch` texts.

        encoder_for(n) gives the function that encodes the n texts not cached (called once, when n > 0);
        on_progress(done, total) counts distinct texts."""
        keys = [text_key(model_fingerprint, t) for t in texts]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        cached = self.get_many(list(first))
        # Long texts first keeps similar lengths together in each batch (less padding)
        missing = sorted((i for k, i in first.items() if k not in cached), key=lambda i: -len(texts[i]))
        done = len(first) - len(missing)
        if on_progress:
            on_progress(done, len(first))
        encode = encoder_for(len(missing)) if missing else None
        for start in range(0, len(missing), batch):
            rows = missing[start : start + batch]
            fresh = dict(zip((keys[i] for i in rows), encode([texts[i] for i in rows])))
            self.put_many(fresh)
            cached.update(fresh)
            done += len(rows)
            if on_progress:
                on_progress(done, len(first))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cached[k] for k in keys])

    def close(self) -> None:
        self._db.close()
