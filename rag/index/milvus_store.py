"""The Milvus store: an index's chunk records, vectors and BM25 postings in a Milvus collection.

Embedded Milvus Lite (a `milvus.db` folder inside the index directory, one process at a time) by
default; any Milvus server by URI, with the token, if any, read from $MILVUS_TOKEN. Each index
version is its own collection, `<alias>_v_<version>`, written completely before the alias `<alias>`
is switched to it (Milvus's mechanism for replacing a collection under readers); the previous
version's collection is kept for readers still on it, older ones are dropped.

BM25 runs in Milvus as a sparse inner product: each row's sparse vector holds its BM25 weight per
token id (the index's own tokens, character bigrams or jieba words, idf included: the columns of the
version's bm25s matrix) and a query is the indicator vector of its tokens, so Milvus's scores are
bm25s's to float precision. (Milvus's own BM25 function was measured too: it stores length norms
lossily and ranked 1 of 64 seed_dev questions differently in BM25-only retrieval; Milvus Lite's
analyzers are only `standard` and `jieba`.) Vectors encoded by any machine are shared through a
sibling collection `<alias>_embeddings` (text key → vector), which `rag index --shard i/n` fills."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..errors import IndexUnavailable
from ..records import Chunk
from .lexical import LexicalIndex
from .store import MILVUS_LITE_FILE, HeldRecords, StoreSpec, VersionRows, chunk_from_record, chunk_record

__all__ = ["MilvusStore", "MilvusVectorCache", "write_collection", "connect", "TOKEN_ENV", "SCHEMA", "valid_collection_name"]

SCHEMA = 1  # version of the collection layout below, recorded in the manifest
TOKEN_ENV = "MILVUS_TOKEN"
_BATCH = 1000
_MAX_VARCHAR = 65535
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,180}")


def valid_collection_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def connect(spec: StoreSpec, index_dir: Path):
    """A MilvusClient for the spec's server, or for the embedded Milvus Lite file in index_dir."""
    from pymilvus import MilvusClient

    uri = spec.milvus_uri or str(Path(index_dir).resolve() / MILVUS_LITE_FILE)
    try:
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""))
    except Exception as error:  # pymilvus raises its own exception types for every connection failure
        hint = (
            f"Milvus Lite 的数据库同一时间只能由一个进程打开；多个进程共用时请启动 milvus-lite server --data-dir {uri} --host 127.0.0.1，"
            "再用 --milvus-uri 连接。"
            if spec.milvus_uri is None
            else f"请确认 Milvus 服务在运行，需要令牌时设置环境变量 {TOKEN_ENV}。"
        )
        raise IndexUnavailable(f"无法连接 Milvus（{uri}）：{error}。{hint}") from error


def _schema(dim: int):
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=256)
    schema.add_field("article", DataType.VARCHAR, max_length=64)
    schema.add_field("record", DataType.VARCHAR, max_length=_MAX_VARCHAR)
    schema.add_field("law", DataType.VARCHAR, max_length=_MAX_VARCHAR)  # the law's record, on its first row
    schema.add_field("definitions", DataType.VARCHAR, max_length=_MAX_VARCHAR)  # those its article gives, on its first row
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _index_params(client):
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="IP")
    params.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    return params


def _alias_target(client, alias: str) -> str | None:
    if alias not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(alias)["collection_name"]


def _sparse_rows(lexical: LexicalIndex) -> list[dict[int, float]]:
    """Each text's BM25 weights by token id; a text without tokens gets a weight on an id no query has
    (Milvus refuses an empty sparse vector)."""
    weights = lexical.document_weights()
    rows = []
    for row in range(weights.shape[0]):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        entries = {int(i): float(w) for i, w in zip(weights.indices[start:end], weights.data[start:end]) if w}
        rows.append(entries or {lexical.vocabulary_size: 1.0})
    return rows


def _attached(rows: VersionRows) -> tuple[dict[int, dict], dict[int, list[dict]]]:
    """Row → the law record it carries (a law's first row), and row → the definitions it carries (the
    first row of the defining article, else of its law)."""
    first: dict[tuple[str, str | None], int] = {}
    for row, chunk in enumerate(rows.chunks):
        first.setdefault((chunk.doc_id, chunk.article), row)
        first.setdefault((chunk.doc_id, None), row)
    # Each law's chunks start with its document record, in the laws' order
    starts = [row for row, chunk in enumerate(rows.chunks) if chunk.is_document and chunk.part == 0]
    laws = dict(zip(starts, rows.laws, strict=True))
    definitions: dict[int, list[dict]] = {}
    for record in rows.definitions:
        row = first.get((record["doc_id"], record["article"]), first[(record["doc_id"], None)])
        definitions.setdefault(row, []).append(record)
    return laws, definitions


def write_collection(spec: StoreSpec, index_dir: Path, version: str, rows: VersionRows) -> dict:
    """A new collection holding the version's rows, then the alias switched to it; returns the manifest entry."""
    client = connect(spec, index_dir)
    name = f"{spec.collection}_{version.replace('-', '_')}"
    if client.has_collection(name):
        client.drop_collection(name)
    client.create_collection(name, schema=_schema(rows.vectors.shape[1]), index_params=_index_params(client))
    laws, definitions = _attached(rows)
    entities = []
    for row, (chunk, vector, sparse) in enumerate(zip(rows.chunks, rows.vectors, _sparse_rows(rows.lexical))):
        fields = {
            "record": chunk_record(chunk),
            "law": json.dumps(laws[row], ensure_ascii=False) if row in laws else "",
            "definitions": json.dumps(definitions[row], ensure_ascii=False) if row in definitions else "",
        }
        if max(len(text.encode("utf-8")) for text in fields.values()) > _MAX_VARCHAR:
            client.drop_collection(name)
            raise IndexUnavailable(f"条文或其定义过长，超出 Milvus 字段长度：{chunk.citation_label}；请用更小的 --max-chars 重建")
        entities.append({"id": row, "doc_id": chunk.doc_id, "article": chunk.article, **fields, "bm25": sparse, "vector": vector.tolist()})
    for start in range(0, len(entities), _BATCH):
        client.insert(name, entities[start : start + _BATCH])
    client.flush(name)
    previous = _alias_target(client, spec.collection)
    if previous is None:
        client.create_alias(name, spec.collection)
    else:
        client.alter_alias(name, spec.collection)
    prefix = f"{spec.collection}_v_"
    for stale in client.list_collections():
        if stale.startswith(prefix) and stale not in (name, previous):
            client.drop_collection(stale)
    return {"kind": "milvus", "uri": spec.milvus_uri or MILVUS_LITE_FILE, "alias": spec.collection, "collection": name, "schema": SCHEMA}


def _scope_filter(scope: set[str] | None) -> dict:
    # A JSON list of strings is a valid Milvus list literal (Milvus Lite has no filter templates)
    return {} if scope is None else {"filter": f"doc_id in {json.dumps(sorted(scope))}"}


class MilvusStore(HeldRecords):
    """Reads one version's collection (the one its manifest names, not whatever the alias points at now,
    so that the rows match the version's laws and definitions)."""

    kind: ClassVar[str] = "milvus"

    def __init__(self, client, collection: str, lexical: LexicalIndex):
        self._client = client
        self.collection = collection
        self._lexical = lexical
        client.load_collection(collection)
        self._records, self._laws, self._definitions = self._read_rows()
        self.size = len(self._records)

    @classmethod
    def open(cls, spec: StoreSpec, index_dir: Path, collection: str, lexical: LexicalIndex) -> MilvusStore:
        client = connect(spec, index_dir)
        if not client.has_collection(collection):
            raise IndexUnavailable(f"Milvus 中没有这个索引版本的集合 {collection}（已被删除或指向了别的 Milvus）；请重新运行 rag index")
        return cls(client, collection, lexical)

    def _read_rows(self) -> tuple[list[Chunk], list[dict], list[dict]]:
        # Rows are numbered 0..n-1, so they are read in id ranges (Milvus Lite has no query iterator timestamps)
        found: dict[int, dict] = {}
        while batch := self._client.query(
            self.collection, filter=f"id >= {len(found)} and id < {len(found) + _BATCH}",
            output_fields=["id", "record", "law", "definitions"], limit=_BATCH,
        ):
            found.update((int(r["id"]), r) for r in batch)
            if len(batch) < _BATCH:
                break
        if sorted(found) != list(range(len(found))):
            raise IndexUnavailable(f"Milvus 集合 {self.collection} 的行不完整；请重新运行 rag index")
        rows = [found[i] for i in range(len(found))]
        laws = [json.loads(r["law"]) for r in rows if r["law"]]
        definitions = [d for r in rows if r["definitions"] for d in json.loads(r["definitions"])]
        return [chunk_from_record(r["record"]) for r in rows], laws, definitions

    def dense(self, query: np.ndarray, k: int, scope: set[str] | None) -> dict[int, float]:
        result = self._client.search(
            self.collection, data=[np.asarray(query, dtype=np.float32).tolist()], anns_field="vector", limit=k,
            search_params={"metric_type": "IP"}, output_fields=["id"], **_scope_filter(scope),
        )
        return {int(hit["id"]): float(hit["distance"]) for hit in result[0]}

    def similarities(self, query: np.ndarray, rows: Sequence[int]) -> dict[int, float]:
        if not rows:
            return {}
        found = self._client.get(self.collection, ids=[int(r) for r in rows], output_fields=["id", "vector"])
        query = np.asarray(query, dtype=np.float32)
        return {int(r["id"]): float(np.asarray(r["vector"], dtype=np.float32) @ query) for r in found}

    def lexical(self, tokens: Sequence[str], k: int, scope: set[str] | None) -> dict[int, float]:
        ids = self._lexical.token_ids(tokens)
        if not ids:
            return {}
        result = self._client.search(
            self.collection, data=[dict.fromkeys(ids, 1.0)], anns_field="bm25", limit=k,
            search_params={"metric_type": "IP"}, output_fields=["id"], **_scope_filter(scope),
        )
        return {int(hit["id"]): float(hit["distance"]) for hit in result[0] if hit["distance"] > 0}


class MilvusVectorCache:
    """Encoded vectors shared by every machine that builds into one Milvus: key (text_key) → vector."""

    def __init__(self, spec: StoreSpec, index_dir: Path, dim: int):
        from pymilvus import DataType, MilvusClient, MilvusException

        self._client = connect(spec, index_dir)
        self.collection = f"{spec.collection}_embeddings"
        if not self._client.has_collection(self.collection):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            params = self._client.prepare_index_params()
            params.add_index("vector", index_type="FLAT", metric_type="IP")
            try:
                self._client.create_collection(self.collection, schema=schema, index_params=params)
            except MilvusException:
                if not self._client.has_collection(self.collection):
                    raise
                # another shard's machine created it between the check and here: use theirs
        self._client.load_collection(self.collection)
        self.dim = dim

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _BATCH):
            for row in self._client.get(self.collection, ids=list(keys[start : start + _BATCH]), output_fields=["vector"]):
                vector = np.asarray(row["vector"], dtype=np.float32)
                if vector.shape == (self.dim,):
                    found[row["key"]] = vector
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        rows = [{"key": key, "vector": np.asarray(v, dtype=np.float32).tolist()} for key, v in items.items()]
        for start in range(0, len(rows), _BATCH):
            self._client.upsert(self.collection, rows[start : start + _BATCH])
        if rows:
            self._client.flush(self.collection)
