"""The Milvus store against the real engine (embedded Milvus Lite; a server when MILVUS_URI is set):
same rows, vectors and hits as the FAISS store, versions switched by alias, incremental and sharded
builds, and a clear error for a Milvus Lite file another process holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import IndexUnavailable
from rag.index.build import build_index, encoded_texts, in_shard, open_index
from rag.index.store import StoreSpec
from rag.ingest.chunks import chunk_laws
from rag.ingest.laws import load_laws
from rag.retrieval.search import RetrieveOptions, search
from tests.app_process import CLI, milvus_lite_server

ROOT = Path(__file__).resolve().parents[2]
MILVUS = StoreSpec(kind="milvus")
QUESTIONS = ["数据中心用电有什么支持政策？", "公共数据怎么开放？", "违反条例会被罚款吗？", "第五条讲了什么？", "What does the regulation say about data security?"]


@pytest.fixture(scope="module")
def laws(tmp_path_factory, seed_path) -> Path:
    """The seed's chapters as four laws of their own (ids and titles of their own), in one folder."""
    text = seed_path.read_text(encoding="utf-8")
    front, body = text.split("\n---\n", 1)
    body = body[body.index("## 第一章") :]
    chapters = ["## 第" + part for part in body.split("## 第")[1:]]
    folder = tmp_path_factory.mktemp("milvus_laws")
    for i in range(4):
        meta = front.replace("id: ff8081819aedd63e019b117001877c4e", f"id: law{i}").replace(
            "title: 贵州省大数据发展应用促进条例", f"title: 测试条例{i}"
        )
        (folder / f"law{i}.md").write_text(meta + "\n---\n\n" + "".join(chapters[2 * i : 2 * i + 3]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def both(laws, tmp_path_factory):
    """The same laws indexed into FAISS and into Milvus Lite."""
    root = tmp_path_factory.mktemp("stores")
    faiss_dir, _ = build_index([laws], root / "faiss")
    milvus_dir, _ = build_index([laws], root / "milvus", store=MILVUS)
    return open_index(faiss_dir), open_index(milvus_dir)


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / (index_dir / "CURRENT").read_text() / "manifest.json").read_text(encoding="utf-8"))


def _milvus_vectors(index) -> np.ndarray:
    rows = index.store._client.query(index.store.collection, filter="id >= 0", output_fields=["id", "vector"], limit=10_000)
    return np.array([r["vector"] for r in sorted(rows, key=lambda r: r["id"])], dtype=np.float32)


def test_the_manifest_records_the_store_and_not_the_token(laws, tmp_path, monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "root:s3cret-口令")
    out, _ = build_index([laws], tmp_path / "index", store=MILVUS)
    manifest = _manifest(out)
    store = manifest["store"]
    assert store["kind"] == "milvus" and store["uri"] == "milvus.db" and store["alias"] == "laws" and store["schema"] == 1
    assert store["collection"].startswith("laws_v_")
    assert (out / "milvus.db").exists() and not list((out / (out / "CURRENT").read_text()).glob("*.faiss"))
    assert not any("s3cret" in path.read_text(encoding="utf-8", errors="replace") for path in out.rglob("*.json"))


def test_milvus_holds_the_same_rows_and_vectors_as_faiss(both):
    faiss_index, milvus_index = both
    assert milvus_index.chunks == faiss_index.chunks and len(milvus_index.chunks) > 40
    assert milvus_index.laws == faiss_index.laws and len(milvus_index.laws) == 4
    records = milvus_index.definitions.to_records()
    assert records == faiss_index.definitions.to_records() and records, "the definitions live in the collection too"
    version = milvus_index.path / (milvus_index.path / "CURRENT").read_text()
    assert sorted(p.name for p in version.iterdir()) == ["bm25", "manifest.json", "sentence_rows.npy", "sentences.npy"], (
        "only the term statistics and the sentence vectors stay in the folder"
    )
    stored = faiss_index.store.vectors.reconstruct_n(0, faiss_index.store.size)
    assert np.allclose(_milvus_vectors(milvus_index), stored, atol=1e-6)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_both_stores_rank_alike(both, mode):
    faiss_index, milvus_index = both
    for question in QUESTIONS:
        got = search(milvus_index, question, RetrieveOptions(k=10, mode=mode))
        want = search(faiss_index, question, RetrieveOptions(k=10, mode=mode))
        assert [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in want], question
        for g, w in zip(got, want):
            if "dense" in w.scores and "dense" in g.scores:
                assert g.scores["dense"] == pytest.approx(w.scores["dense"], abs=1e-5)


@pytest.mark.parametrize("question", ["公共数据开放与共享", "算力", "数据中心用电", "xyz 不存在的词语"])
def test_milvus_bm25_scores_are_bm25s_scores(both, question):
    faiss_index, milvus_index = both
    tokens = faiss_index.lexical.query_tokens(question)
    want = faiss_index.store.lexical(tokens, 100, None)
    got = milvus_index.store.lexical(tokens, 100, None)
    assert set(got) == set(want)
    for row in want:
        assert got[row] == pytest.approx(want[row], rel=1e-5)


def test_both_stores_give_exact_similarities_of_chosen_rows(both):
    faiss_index, milvus_index = both
    query = faiss_index.embedder.encode_queries(["公共数据开放与共享"])[0]
    rows = [0, 7, 3, len(faiss_index.chunks) - 1]
    want = faiss_index.store.vectors.reconstruct_batch(np.array(rows)) @ query
    for index in both:
        got = index.store.similarities(query, rows)
        assert sorted(got) == sorted(rows)
        assert [got[r] for r in rows] == pytest.approx(want.tolist(), abs=1e-5)
    assert faiss_index.store.similarities(query, []) == {}


def test_law_scope_is_a_milvus_filter(both):
    faiss_index, milvus_index = both
    for index in both:
        hits = search(index, "数据安全", RetrieveOptions(k=10, laws=("测试条例3",)))
        assert hits and {h.chunk.doc_id for h in hits} == {"law3"}
    label = next(c.article for c in faiss_index.chunks if c.doc_id == "law1" and c.article)
    for index in both:
        named = search(index, f"测试条例1{label}讲了什么？", RetrieveOptions(k=3))
        assert (named[0].chunk.doc_id, named[0].chunk.article, named[0].scores.get("lookup")) == ("law1", label, 1.0)


def test_answers_are_the_same_from_both_stores(both):
    from rag.api import answer

    for question in QUESTIONS:
        got, want = (answer(question, index=i.path) for i in reversed(both))
        assert (got.text, got.abstained) == (want.text, want.abstained), question


def test_a_rebuild_encodes_only_the_changed_law_and_switches_the_alias(laws, tmp_path):
    out, _ = build_index([laws], tmp_path / "index", store=MILVUS)
    first = _manifest(out)["store"]["collection"]
    changed = laws.parent / "changed"
    changed.mkdir()
    for path in laws.iterdir():
        (changed / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    target = changed / "law2.md"
    target.write_text(target.read_text(encoding="utf-8").replace("。\n", "。本句为修改后新增。\n", 1), encoding="utf-8")
    progress: list[tuple[int, int]] = []
    build_index([changed], out, store=MILVUS, progress=lambda done, total: progress.append((done, total)))
    done, total = progress[0]
    index = open_index(out)
    old, new = (set(encoded_texts(chunk_laws(load_laws([folder])[0]), index.chunking)[0]) for folder in (laws, changed))
    assert total - done == len(new - old) <= 3, "only the changed article (and its changed sentences) is encoded again"
    second = _manifest(out)["store"]["collection"]
    client = index.store._client
    assert second != first and client.describe_alias("laws")["collection_name"] == second
    assert first in client.list_collections(), "the previous version stays for readers still on it"
    assert any("本句为修改后新增" in c.text for c in index.chunks)
    build_index([laws], out, store=MILVUS)
    assert first not in client.list_collections() and second in client.list_collections()


def test_a_sharded_build_equals_a_single_machine_build(laws, tmp_path):
    doc_ids = [f"law{i}" for i in range(4)]
    assert {i for d in doc_ids for i in (0, 1) if in_shard(d, i, 2)} == {0, 1}, "both shards hold some law"
    single, _ = build_index([laws], tmp_path / "single", store=MILVUS)
    sharded = tmp_path / "sharded"
    for shard in (0, 1):
        build_index([laws], sharded, store=MILVUS, shard=(shard, 2))
        assert not (sharded / "CURRENT").exists(), "a shard writes vectors, not a version"
    (sharded / "embeddings.sqlite").unlink()  # as on a third machine: every vector must come from Milvus
    progress: list[tuple[int, int]] = []
    build_index([laws], sharded, store=MILVUS, progress=lambda done, total: progress.append((done, total)))
    assert progress[0][0] == progress[0][1], "the shards encoded everything"
    one, two = open_index(single), open_index(sharded)
    assert one.chunks == two.chunks
    assert np.allclose(_milvus_vectors(one), _milvus_vectors(two), atol=1e-6)


def test_shards_encoded_by_two_processes_into_one_milvus_server_make_the_single_machine_index(laws, tmp_path, rag_home):
    """As on three machines: two `rag index --shard` processes, each in a folder of its own, encode at the same time
    into one Milvus (a Milvus Lite server on loopback); a third folder, holding no vectors, writes the version from
    Milvus alone, and it answers as a one-process FAISS build does."""
    with milvus_lite_server(tmp_path / "milvus", tmp_path / "milvus.log") as uri:
        store = ["--store", "milvus", "--milvus-uri", uri, "--collection", "sharded"]
        env = {**os.environ, "RAG_HOME": str(rag_home)}
        shards = [
            subprocess.Popen(
                [sys.executable, "-c", CLI, "index", str(laws), "--out", str(tmp_path / f"shard{i}"), *store, "--shard", f"{i}/2"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            for i in (0, 1)
        ]
        for shard in shards:
            output = shard.communicate(timeout=600)[0].decode(errors="replace")
            assert shard.returncode == 0 and "Milvus" in output, output[-2000:]
        progress: list[tuple[int, int]] = []
        spec = StoreSpec(kind="milvus", milvus_uri=uri, collection="sharded")
        assembled, _ = build_index([laws], tmp_path / "assembled", store=spec, progress=lambda done, total: progress.append((done, total)))
        assert progress[0][0] == progress[0][1], "the shards encoded everything"
        single, _ = build_index([laws], tmp_path / "single")
        one, two = open_index(single), open_index(assembled)
        assert one.chunks == two.chunks
        for question in QUESTIONS:
            want = [h.chunk.chunk_id for h in search(one, question, RetrieveOptions(k=5))]
            assert [h.chunk.chunk_id for h in search(two, question, RetrieveOptions(k=5))][:3] == want[:3], question


def test_a_shard_needs_the_milvus_store(laws, tmp_path):
    with pytest.raises(IndexUnavailable, match="Milvus"):
        build_index([laws], tmp_path / "index", shard=(0, 2))


def test_a_milvus_lite_file_held_by_another_process_gives_a_clear_error(both):
    _, milvus_index = both  # this process holds the embedded Milvus Lite of that index
    code = f"from rag.index import open_index\nopen_index({str(milvus_index.path)!r})"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "milvus-lite server" in result.stderr


@pytest.mark.skipif(not os.environ.get("MILVUS_URI"), reason="MILVUS_URI is not set: the Milvus server tests are skipped")
def test_a_milvus_server_index_answers_like_faiss(both, laws, tmp_path):
    faiss_index, _ = both
    spec = StoreSpec(kind="milvus", milvus_uri=os.environ["MILVUS_URI"], collection=f"test_{os.getpid()}")
    out, _ = build_index([laws], tmp_path / "server", store=spec)
    served = open_index(out)
    assert served.manifest["store"]["uri"] == os.environ["MILVUS_URI"] and served.chunks == faiss_index.chunks
    for question in QUESTIONS:
        got = search(served, question, RetrieveOptions(k=5))
        want = search(faiss_index, question, RetrieveOptions(k=5))
        assert [h.chunk.chunk_id for h in got][:3] == [h.chunk.chunk_id for h in want][:3], question
