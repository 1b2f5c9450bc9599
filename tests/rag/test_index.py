"""Index persistence: manifest, staleness after a change, incremental re-encoding, atomic versions."""

import json
import sqlite3

import numpy as np
import pytest

from rag import IndexUnavailable
from rag.index.build import build_index, open_index
from rag.index.sentences import sentence_texts
from rag.ingest.chunks import chunk_laws
from rag.ingest.laws import load_laws


@pytest.fixture
def small_law(tmp_path, seed_path):
    """The seed's first chapter (8 articles) as a law folder of its own."""
    text = seed_path.read_text(encoding="utf-8")
    folder = tmp_path / "laws"
    folder.mkdir()
    law = folder / "law.md"
    law.write_text(text[: text.index("## 第二章")], encoding="utf-8")
    return law


def _sentences(law_path):
    laws, _ = load_laws([law_path])
    return sentence_texts(chunk_laws(laws))[0]


def _cached_vectors(index_dir):
    with sqlite3.connect(index_dir / "embeddings.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


def test_build_writes_a_versioned_index_with_checksums(small_law, tmp_path):
    out, errors = build_index([small_law.parent], tmp_path / "index")
    assert errors == []
    version = out / (out / "CURRENT").read_text()
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    sentences = _sentences(small_law)
    assert manifest["counts"] == {"laws": 1, "chunks": 9, "sentences": len(sentences)}
    assert {"laws.json", "chunks.jsonl", "vectors.faiss", "sentences.npy", "sentence_rows.npy"} < set(manifest["files"])
    assert any(name.startswith("bm25/") for name in manifest["files"])
    index = open_index(out)
    assert index.warnings == []
    assert [c.article for c in index.chunks][:3] == ["", "第一条", "第二条"]
    assert index.store.size == 9
    assert len(index.sentences.rows) == len(sentences) > 0


def _manifest(index_dir):
    return json.loads((index_dir / (index_dir / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8"))


def test_a_large_build_encodes_with_native_bf16_where_the_cpu_has_it_into_the_same_vectors(small_law, tmp_path, monkeypatch):
    from embeddings import model
    from embeddings.onnx_backend import cpu_features

    monkeypatch.setattr(model, "BF16_MIN_TEXTS", 1)  # this small law stands in for a large build
    out, _ = build_index([small_law.parent], tmp_path / "index")
    native = bool(set(model.NATIVE_BF16) & set(cpu_features()))
    expected = {"backend": "torch", "dtype": "bfloat16"} if native else {"backend": "onnx", "dtype": "float32"}
    assert _manifest(out)["model"]["passages"] == [expected]
    index = open_index(out)
    assert (index.embedder.backend, index.embedder.dtype) == ("onnx", "float32")  # queries: no torch
    fresh = index.embedder.encode_passages(_sentences(small_law))
    assert (fresh * np.asarray(index.sentences.vectors)).sum(axis=1).min() >= 0.9999
    build_index([small_law.parent], out)  # all cached: nothing encoded, no twin loaded
    assert _manifest(out)["model"]["passages"] == []


def test_changed_law_is_detected_and_only_changed_articles_re_encoded(small_law, tmp_path):
    out, _ = build_index([small_law.parent], tmp_path / "index")
    before = _sentences(small_law)
    assert _cached_vectors(out) == 9 + len(set(before))
    old = open_index(out)
    old_vectors = dict(zip(before, np.asarray(old.sentences.vectors)))
    small_law.write_text(small_law.read_text(encoding="utf-8").replace("应当遵守本条例", "应当遵守本条例和国家规定"), encoding="utf-8")
    stale = open_index(out, rebuild=False)
    assert any("已修改" in w and "rag index" in w for w in stale.warnings)
    fresh = open_index(out)
    assert fresh.warnings == []
    assert "国家规定" in next(c.text for c in fresh.chunks if c.article == "第二条")
    after = _sentences(small_law)
    new_sentences = set(after) - set(before)
    assert len(new_sentences) <= 1
    # one changed article (and its changed sentence) encoded, the other eight and their sentences reused
    assert _cached_vectors(out) == 9 + len(set(before)) + 1 + len(new_sentences)
    kept = [i for i, text in enumerate(after) if text in old_vectors]
    assert np.array_equal(np.asarray(fresh.sentences.vectors)[kept], np.stack([old_vectors[after[i]] for i in kept]))
    assert len(list(out.glob("v-*"))) == 1  # the old version is gone


def test_added_law_file_makes_the_index_stale(small_law, tmp_path, seed_path):
    out, _ = build_index([small_law.parent], tmp_path / "index")
    (small_law.parent / "second.md").write_text(seed_path.read_text(encoding="utf-8").replace("贵州省大数据", "另一部"), encoding="utf-8")
    assert any("新增" in w for w in open_index(out, rebuild=False).warnings)


def test_corrupt_vectors_are_detected_and_rebuilt(small_law, tmp_path):
    out, _ = build_index([small_law.parent], tmp_path / "index")
    vectors = out / (out / "CURRENT").read_text() / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(IndexUnavailable, match="损坏"):
        open_index(out, rebuild=False)
    assert open_index(out).store.size == 9


def test_a_failed_build_leaves_the_previous_index_usable(small_law, tmp_path, monkeypatch):
    out, _ = build_index([small_law.parent], tmp_path / "index")
    before = (out / "CURRENT").read_text()
    small_law.write_text(small_law.read_text(encoding="utf-8") + "\n- **第九条**　　新增的条文。\n", encoding="utf-8")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the process were stopped mid-build

    monkeypatch.setattr("rag.index.store.build_faiss", killed)
    with pytest.raises(KeyboardInterrupt):
        build_index([small_law.parent], out)
    assert (out / "CURRENT").read_text() == before
    index = open_index(out, rebuild=False)
    assert index.store.size == 9 and index.warnings


def test_not_an_index_names_the_command(tmp_path):
    with pytest.raises(IndexUnavailable, match="rag index"):
        open_index(tmp_path)


def test_the_recorded_maximum_length_is_used_when_the_index_is_opened(small_law, tmp_path):
    from embeddings.model import ModelSpec

    out, _ = build_index([small_law.parent], tmp_path / "index", model=ModelSpec(max_seq_length=64, backend="torch"))
    manifest = json.loads((out / (out / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["max_seq_length"] == 64
    index = open_index(out, rebuild=False)
    assert index.warnings == []
    assert index.embedder.spec.max_seq_length == 64
    assert index.embedder.model.max_seq_length == 64
    other = open_index(out, model=ModelSpec(max_seq_length=128, backend="torch"), rebuild=False)
    assert any("最大长度" in w for w in other.warnings)


def test_saved_bm25_scores_equal_a_fresh_build_and_damage_is_detected(small_law, tmp_path):
    import numpy as np

    from rag.index.lexical import LexicalIndex
    from rag.ingest.chunks import embed_text

    out, _ = build_index([small_law.parent], tmp_path / "index")
    index = open_index(out, rebuild=False)
    fresh = LexicalIndex([embed_text(c) for c in index.chunks])
    for question in ("数据资源怎么开放共享？", "大数据发展应用的立法目的", "不在语料里的词"):
        assert np.allclose(index.lexical.scores(question), fresh.scores(question))
    version = out / (out / "CURRENT").read_text()
    vocab = version / "bm25" / "vocab.index.json"
    vocab.write_text("{}", encoding="utf-8")
    with pytest.raises(IndexUnavailable, match="损坏"):
        open_index(out, rebuild=False)
    rebuilt = open_index(out)  # rebuild=True writes a sound version again
    assert rebuilt.warnings == []
    assert np.allclose(rebuilt.lexical.scores("数据资源怎么开放共享？"), fresh.scores("数据资源怎么开放共享？"))


def test_the_recorded_dtype_is_used_when_the_index_is_opened(small_law, tmp_path):
    from embeddings.model import ModelSpec

    out, _ = build_index([small_law.parent], tmp_path / "index", model=ModelSpec(dtype="bfloat16", backend="torch"))
    index = open_index(out, rebuild=False)
    assert index.manifest["model"]["dtype"] == "bfloat16"
    assert index.embedder.spec.dtype == "bfloat16" and index.warnings == []


@pytest.mark.parametrize("laws, requested, embedded", [(1, None, False), (2, None, True), (2, False, False)])
def test_the_law_title_is_embedded_where_the_index_holds_several_laws(small_law, tmp_path, laws, requested, embedded):
    from rag.ingest.chunks import ChunkSettings, embed_text

    if laws == 2:
        text = small_law.read_text(encoding="utf-8").replace("贵州省大数据发展应用促进条例", "某某省数据条例")
        small_law.with_name("other.md").write_text(text.replace("ff8081819aedd63e019b117001877c4e", "other-law-id"), encoding="utf-8")
    settings = ChunkSettings(law_title=requested)
    out, _ = build_index([small_law.parent], tmp_path / "index", chunking=settings)
    index = open_index(out, chunking=settings, rebuild=False)
    assert index.warnings == [] and len(index.laws) == laws
    assert index.manifest["chunking"]["law_title"] is embedded and index.chunking.law_title is embedded
    row = next(i for i, c in enumerate(index.chunks) if c.article == "第一条")
    chunk = index.chunks[row]
    assert embed_text(chunk, law_title=True) == f"{chunk.law} 第一条 {chunk.text}"
    # The stored vector is the encoding of the titled text exactly when the title is embedded
    plain, titled = index.embedder.encode_passages([embed_text(chunk), embed_text(chunk, law_title=True)])
    stored = {name: index.store.similarities(query, [row])[row] for name, query in (("plain", plain), ("titled", titled))}
    assert stored["titled" if embedded else "plain"] == pytest.approx(1.0, abs=1e-4)
    assert stored["plain" if embedded else "titled"] < 0.999


def test_an_index_opens_with_the_chunking_it_was_built_with(small_law, tmp_path):
    from rag.ingest import ChunkSettings

    out, _ = build_index([small_law.parent], tmp_path / "index", chunking=ChunkSettings(sentences=False, law_title=True))
    before = (out / "CURRENT").read_text()
    index = open_index(out)
    assert (out / "CURRENT").read_text() == before and not index.warnings  # neither stale nor rebuilt
    assert len(index.sentences.rows) == 0 and index.manifest["counts"]["sentences"] == 0
    assert index.manifest["chunking"]["sentences"] is False and index.manifest["chunking"]["law_title"] is True
    default, _ = build_index([small_law.parent], tmp_path / "default")
    assert "sentences" not in open_index(default).manifest["chunking"]  # as recorded before it was an option
