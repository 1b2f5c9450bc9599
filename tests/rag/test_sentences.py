"""Sentence vectors: which sentences are embedded, the best sentence per row, storage, and their part in ranking."""

import numpy as np
import pytest

from rag.index.sentences import SentenceVectors, sentence_texts
from rag.ingest.chunks import split_sentences
from rag.records import Chunk
from rag.retrieval.search import RetrieveOptions, search


def _chunk(row: int, text: str) -> Chunk:
    return Chunk(f"c{row}", "d", "法", f"第{row}条", row, 0, text)


def test_only_multi_sentence_chunks_have_sentences_in_row_order():
    chunks = [_chunk(0, "一句话。"), _chunk(1, "第一句。第二句；第三句。"), _chunk(2, "只有一句"), _chunk(3, "甲。乙。")]
    texts, rows = sentence_texts(chunks)
    assert texts == ["第一句。", "第二句；", "第三句。", "甲。", "乙。"]
    assert rows.tolist() == [1, 1, 1, 3, 3]


def test_best_is_the_highest_cosine_of_each_rows_sentences():
    vectors = np.array([[1, 0, 0], [0, 1, 0], [0.6, 0.8, 0], [0, 0, 1]], dtype=np.float32)
    sentences = SentenceVectors(vectors=vectors, rows=np.array([2, 2, 5, 5], dtype=np.int32))
    query = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    assert sentences.best(query, [5, 0, 2]) == pytest.approx({5: 0.8, 2: 1.0})
    assert sentences.best(query, [0, 1]) == {}  # rows without sentences are left out


def test_saved_vectors_load_memory_mapped_within_float16_precision(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    saved = SentenceVectors(vectors=vectors, rows=np.array([0, 0, 3, 3, 3, 7], dtype=np.int32))
    assert sorted(saved.save(tmp_path)) == ["sentence_rows.npy", "sentences.npy"]
    loaded = SentenceVectors.load(tmp_path)
    assert isinstance(loaded.vectors, np.memmap)
    assert np.array_equal(loaded.rows, saved.rows)
    assert np.allclose(loaded.vectors, vectors, atol=1e-3)


def test_hits_carry_their_best_sentences_cosine_and_it_moves_the_ranking(seed_index):
    question = "数据中心用电有什么支持政策？"
    query = seed_index.embedder.encode_queries([question])[0]
    hits = search(seed_index, question, RetrieveOptions(k=5), query=query)
    scored = [h for h in hits if "sentence" in h.scores]
    assert scored
    for hit in scored:
        own = seed_index.embedder.encode_passages(split_sentences(hit.text)) @ query
        assert hit.scores["sentence"] == pytest.approx(float(own.max()), abs=5e-3)
    plain = search(seed_index, question, RetrieveOptions(k=5, sentence_weight=0), query=query)
    assert all("sentence" not in h.scores for h in plain)
    assert [h.chunk.article for h in plain] != [h.chunk.article for h in hits]
