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


def test_unknown_dtype_is_refused(rag_home):
    with pytest.raises(ValueError, match="精度"):
        Embedder(ModelSpec(dtype="float8"))
