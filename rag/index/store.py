"""Where an index's chunk records, vectors and BM25 postings live, behind one small interface.

Two stores implement it: FAISS + bm25s files in the index's version folder (the default), and Milvus
(milvus_store.py: an embedded Milvus Lite file in the index directory, or a server by URI).
Retrieval (rag/retrieval/search.py) asks a Store for dense and lexical candidates and does not know which one it has.

Rows are the chunks' positions in the version's chunk list, in both stores."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Protocol, Sequence

import faiss
import numpy as np
import orjson

from ..errors import IndexUnavailable
from ..records import Chunk
from .lexical import LexicalIndex

__all__ = [
    "Store", "StoreSpec", "VersionRows", "FaissStore", "write_store", "open_store", "chunk_record", "chunk_from_record",
    "IndexType", "build_faiss", "save_faiss", "load_faiss",
]

StoreKind = Literal["faiss", "milvus"]
MILVUS_LITE_FILE = "milvus.db"  # the embedded Milvus Lite database, inside the index directory
IndexType = Literal["flat", "hnsw", "ivf"]


def build_faiss(vectors: np.ndarray, kind: IndexType = "flat") -> faiss.Index:
    """An inner-product index over L2-normalised vectors (inner product = cosine)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    elif kind == "ivf":
        nlist = max(1, int(4 * np.sqrt(len(vectors))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(1, nlist // 16)
    else:
        raise ValueError(f"unknown FAISS index type: {kind}")
    if len(vectors):
        index.add(vectors)
    return index


def save_faiss(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load_faiss(path: Path) -> faiss.Index:
    return faiss.read_index(str(path))


@dataclass(frozen=True)
class StoreSpec:
    """Which store an index is built into. `milvus_uri`: a Milvus server (http://host:19530);
    None keeps an embedded Milvus Lite file in the index directory. The token, if the server
    needs one, is read from $MILVUS_TOKEN and never recorded."""

    kind: StoreKind = "faiss"
    faiss_type: IndexType = "flat"
    milvus_uri: str | None = None
    collection: str = "laws"  # the Milvus alias readers and tools see; each build is a new collection behind it

    @classmethod
    def from_manifest(cls, manifest: dict) -> StoreSpec:
        entry = manifest.get("store") or {"kind": "faiss", "type": manifest.get("faiss", "flat")}
        if entry["kind"] == "faiss":
            return cls(kind="faiss", faiss_type=entry.get("type", "flat"))
        uri = entry["uri"]
        return cls(kind="milvus", milvus_uri=None if uri == MILVUS_LITE_FILE else uri, collection=entry["alias"])


class Store(Protocol):
    kind: ClassVar[str]
    size: int

    def records(self) -> list[Chunk]:
        """The chunk records, row order."""
        ...

    def laws(self) -> list[dict]:
        """The laws' records (LawInfo fields), index order."""
        ...

    def definitions(self) -> list[dict]:
        """The definition table's records (DefinitionTable.to_records())."""
        ...

    def dense(self, query: np.ndarray, k: int, scope: set[str] | None) -> dict[int, float]:
        """Row → inner product of the k rows nearest to the (normalised) query vector, within the doc ids in scope."""
        ...

    def lexical(self, tokens: Sequence[str], k: int, scope: set[str] | None) -> dict[int, float]:
        """Row → BM25 score (bm25s's, Lucene's formula) of the k best rows holding any of the tokens."""
        ...

    def similarities(self, query: np.ndarray, rows: Sequence[int]) -> dict[int, float]:
        """Row → inner product of the given rows' vectors with the query vector (exact, whatever the index type)."""
        ...


def chunk_record(chunk: Chunk) -> str:
    return json.dumps(dataclasses.asdict(chunk), ensure_ascii=False)


def chunk_from_record(line: str | bytes) -> Chunk:
    record = orjson.loads(line)  # 2.4× json.loads: most of opening a whole-library index
    record["path"] = tuple(record["path"])
    return Chunk(**record)


class HeldRecords:
    """The records both stores read once at open and keep: the version's chunks, laws and definitions."""

    _records: list[Chunk]
    _laws: list[dict]
    _definitions: list[dict]

    def records(self) -> list[Chunk]:
        return self._records

    def laws(self) -> list[dict]:
        return self._laws

    def definitions(self) -> list[dict]:
        return self._definitions


class FaissStore(HeldRecords):
    """Vectors in a FAISS file, chunk, law and definition records in JSON files, BM25 from the index's
    bm25s matrix; all in the version folder."""

    kind: ClassVar[str] = "faiss"
    FILES = ("chunks.jsonl", "vectors.faiss", "laws.json", "definitions.json")

    def __init__(self, folder: Path, lexical: LexicalIndex):
        self.folder = folder
        with open(folder / "chunks.jsonl", "rb") as handle:
            self._records = [chunk_from_record(line) for line in handle]
        self._laws = json.loads((folder / "laws.json").read_text(encoding="utf-8"))
        self._definitions = json.loads((folder / "definitions.json").read_text(encoding="utf-8"))
        self.vectors = load_faiss(folder / "vectors.faiss")
        if isinstance(self.vectors, faiss.IndexIVF):
            self.vectors.make_direct_map()  # so that similarities() can read rows back
        self.size = len(self._records)
        if self.vectors.ntotal != self.size:
            raise IndexUnavailable(f"索引向量与条文数量不符：{folder}")
        self._lexical = lexical
        self._doc_ids = np.array([c.doc_id for c in self._records])

    @staticmethod
    def write(folder: Path, rows: VersionRows, kind: IndexType) -> list[str]:
        with open(folder / "chunks.jsonl", "w", encoding="utf-8") as handle:
            for chunk in rows.chunks:
                handle.write(chunk_record(chunk) + "\n")
        save_faiss(build_faiss(rows.vectors, kind), folder / "vectors.faiss")
        (folder / "laws.json").write_text(json.dumps(rows.laws, ensure_ascii=False), encoding="utf-8")
        (folder / "definitions.json").write_text(json.dumps(rows.definitions, ensure_ascii=False), encoding="utf-8")
        return list(FaissStore.FILES)

    def _rows(self, scope: set[str] | None) -> np.ndarray | None:
        return None if scope is None else np.flatnonzero(np.isin(self._doc_ids, list(scope)))

    def dense(self, query: np.ndarray, k: int, scope: set[str] | None) -> dict[int, float]:
        rows = self._rows(scope)
        params = None if rows is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))
        scores, ids = self.vectors.search(np.asarray(query, dtype=np.float32)[None, :], k, params=params)
        return {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}

    def similarities(self, query: np.ndarray, rows: Sequence[int]) -> dict[int, float]:
        if not rows:
            return {}
        vectors = self.vectors.reconstruct_batch(np.asarray(rows, dtype=np.int64))
        return dict(zip(map(int, rows), (vectors @ np.asarray(query, dtype=np.float32)).tolist()))

    def lexical(self, tokens: Sequence[str], k: int, scope: set[str] | None) -> dict[int, float]:
        rows = self._rows(scope)
        mask = None
        if rows is not None:
            mask = np.zeros(self.size, dtype=np.float32)
            mask[rows] = 1
        scores = self._lexical.token_scores(tokens, weight_mask=mask)
        top = np.argsort(-scores, kind="stable")[:k]
        return {int(i): float(scores[i]) for i in top if scores[i] > 0}


@dataclass(frozen=True)
class VersionRows:
    """What one index version stores: chunk records with their vectors and BM25 (row i = chunk i),
    the laws' records and the definition table's."""

    chunks: Sequence[Chunk]
    vectors: np.ndarray
    lexical: LexicalIndex
    laws: list[dict]
    definitions: list[dict]


def write_store(spec: StoreSpec, index_dir: Path, staging: Path, version: str, rows: VersionRows) -> tuple[dict, list[str]]:
    """Write the version's rows into the store; returns the manifest's store entry and the files written
    in `staging` (checksummed with the version)."""
    if spec.kind == "faiss":
        return {"kind": "faiss", "type": spec.faiss_type}, FaissStore.write(staging, rows, spec.faiss_type)
    from .milvus_store import write_collection

    return write_collection(spec, index_dir, version, rows), []


def open_store(manifest: dict, index_dir: Path, version_dir: Path, lexical: LexicalIndex) -> Store:
    spec = StoreSpec.from_manifest(manifest)
    if spec.kind == "faiss":
        return FaissStore(version_dir, lexical)
    from .milvus_store import MilvusStore

    return MilvusStore.open(spec, index_dir, manifest["store"]["collection"], lexical)
