import numpy as np
import pytest

from embeddings.model import Embedder, ModelSpec, load_embedder

SENTENCES = ["本条例自2026年1月1日起施行。", "数据安全责任由谁负责？", "Who enforces the regulation?"]


def test_bfloat16_vectors_are_normalised_float32_close_to_float32(rag_home):
    full = load_embedder(ModelSpec())
    half = load_embedder(ModelSpec(dtype="bfloat16", backend="torch"))
    a, b = full.encode_passages(SENTENCES), half.encode_passages(SENTENCES)
    assert b.dtype == np.float32
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.995
    assert half.fingerprint != full.fingerprint
    assert Embedder(ModelSpec(dtype="float32")).fingerprint == full.fingerprint


def test_only_a_large_float32_build_on_a_cpu_with_native_bf16_gets_a_bf16_twin(rag_home, monkeypatch):
    from embeddings import model
    from embeddings.onnx_backend import cpu_features

    embedder = load_embedder(ModelSpec())
    assert embedder.for_passages(model.BF16_MIN_TEXTS - 1) is embedder
    twin = embedder.for_passages(model.BF16_MIN_TEXTS)
    if set(model.NATIVE_BF16) & set(cpu_features()):
        assert (twin.backend, twin.dtype) == ("torch", "bfloat16")
        assert (twin.encode_passages(SENTENCES) * embedder.encode_passages(SENTENCES)).sum(axis=1).min() >= 0.9999
    else:
        assert twin is embedder
    monkeypatch.setenv("RAG_PASSAGE_BF16", "0")
    assert embedder.for_passages(model.BF16_MIN_TEXTS) is embedder
    assert load_embedder(ModelSpec(dtype="int8")).for_passages(10**6).dtype == "int8"


def test_unknown_dtype_is_refused(rag_home):
    with pytest.raises(ValueError, match="精度"):
        Embedder(ModelSpec(dtype="float8"))
