"""The real EmbeddingGemma-300M, where `rag models install embeddinggemma-300m` has put it in the user's
$RAG_HOME (skipped otherwise: CI never downloads it). Its ONNX export against torch, its prompts and
Matryoshka truncation. Slow: loads the 1.2 GB model (and exports it, ~2 min, if that was not done)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from embeddings import registry
from embeddings.model import Embedder, ModelSpec
from embeddings.onnx_backend import CHECK_TEXTS, MIN_COSINE

# Read at import, before the suite's own RAG_HOME (a temporary folder) is set
USER_HOME = Path(os.environ.get("RAG_HOME") or Path.home() / ".cache" / "fagui-rag")
NAME = "embeddinggemma-300m"
TEXTS = [
    *CHECK_TEXTS,
    "个人信息泄露了，我需要证明公司有过错吗？",
    "个人信息处理者不能证明自己没有过错的，应当承担损害赔偿等侵权责任。",
    "用人单位自用工之日起即与劳动者建立劳动关系。",
]

pytestmark = pytest.mark.slow


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setenv("RAG_HOME", str(USER_HOME))
    if not registry.is_installed(registry.MODELS[NAME].source, registry.model_folder(NAME)):
        pytest.skip(f"{NAME} is not installed in {USER_HOME} (rag models install {NAME})")
    return registry.model_folder(NAME)


def test_embeddinggemma_onnx_matches_torch(installed):
    torch_embedder = Embedder(ModelSpec(name=NAME, backend="torch"))
    onnx = Embedder(ModelSpec(name=NAME, backend="onnx"))
    assert onnx.backend == "onnx" and onnx.fingerprint == torch_embedder.fingerprint
    assert (onnx.query_prefix, onnx.passage_prefix) == ("task: search result | query: ", "title: none | text: ")
    assert onnx.dim == 768
    for encode in ("encode_queries", "encode_passages"):
        a, b = getattr(onnx, encode)(TEXTS), getattr(torch_embedder, encode)(TEXTS)
        assert (a * b).sum(axis=1).min() >= MIN_COSINE
    # a question is nearer its answer than an unrelated article
    query = onnx.encode_queries([TEXTS[-3]])
    passages = onnx.encode_passages(TEXTS[-2:])
    assert (passages @ query.T)[0, 0] > (passages @ query.T)[1, 0]


def test_embeddinggemma_matryoshka(installed):
    full = Embedder(ModelSpec(name=NAME, backend="onnx"))
    texts = TEXTS[-3:]
    reference = full.encode_passages(texts)
    for dim in (512, 256, 128):
        short = Embedder(ModelSpec(name=NAME, backend="onnx", dim=dim))
        vectors = short.encode_passages(texts)
        expected = reference[:, :dim].copy()
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        assert vectors.shape == (len(texts), dim) and (vectors * expected).sum(axis=1).min() >= 0.9999
        assert short.fingerprint != full.fingerprint
