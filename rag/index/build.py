"""The on-disk index: chunks + FAISS vectors + manifest, built atomically, checked for staleness at load.

Layout of an index directory:
    CURRENT                 name of the live version folder (replaced atomically)
    v-<id>/manifest.json    model, chunking, store, source files with checksums, checksums of the files below
    v-<id>/bm25/            BM25 matrix (bm25s format): the term statistics the answer layer reads
    v-<id>/chunks.jsonl     chunk records                            } the FAISS store (store.py);
    v-<id>/vectors.faiss    FAISS index, row i = chunk i             } the Milvus store keeps all of
    v-<id>/laws.json        law records without their articles       } these in one collection
    v-<id>/definitions.json the terms each law defines (本法所称X，是指…) } (milvus_store.py)
    v-<id>/sentences.npy    vectors of the sentences of multi-sentence chunks (sentences.py),
    v-<id>/sentence_rows.npy  and the chunk row of each
    v-<id>/rescore.npy      a second model's chunk vectors, for re-scoring uncertain candidates (rescore.py; optional)
    milvus.db               embedded Milvus Lite database (Milvus store without --milvus-uri)
    embeddings.sqlite       embedding cache shared by all versions (incremental, resumable builds)
    prior.json              offsets by kind of law, fitted on questions (rag prior; optional: without it an index of
                            the default model uses the shipped prior.json beside prior.py)
    .lock                   held while building
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal

import numpy as np

from embeddings.cache import EmbeddingCache, VectorCache
from embeddings.model import Embedder, ModelSpec, load_embedder
from embeddings.registry import default_rescorer

from ..errors import IndexUnavailable
from ..ingest import (
    ChunkSettings,
    DefinitionTable,
    LawNames,
    ParseError,
    ProvisionTable,
    SanctionTable,
    chunk_laws,
    embed_text,
    law_files,
    load_laws,
)
from ..records import Chunk, Law
from .lexical import LexicalIndex, Tokenizer, load_jieba_in_background
from .prior import CategoryPrior, load_prior
from .rescore import Rescorer, record_spec, rescorer_record
from .sentences import SentenceVectors, sentence_texts
from .store import Store, StoreSpec, VersionRows, open_store, write_store

__all__ = [
    "Index", "LawInfo", "build_index", "open_index", "check_stale", "live_manifest", "recorded_model", "write_atomic", "encoded_texts", "FORMAT",
]

FORMAT = 3  # 2: definitions stored with each version; 3: sentence vectors
# The second model by default only up to this many chunks: EmbeddingGemma encodes 2-5 chunks a second on 2 cores,
# so 10,000 (103 laws) take about 45 minutes; the whole library (57,000) would take hours more than its e5 build
AUTO_RESCORE_MAX_CHUNKS = 10_000
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LawInfo:
    doc_id: str
    title: str
    author: str
    publication_date: str
    effective_date: str
    status: str
    category: str
    url: str
    note: str
    articles: int


@dataclass
class Index:
    path: Path
    manifest: dict
    chunks: list[Chunk]
    laws: list[LawInfo]
    store: Store
    embedder: Embedder
    lexical: LexicalIndex
    names: LawNames
    definitions: DefinitionTable
    sentences: SentenceVectors
    prior: CategoryPrior | None = None  # offsets by kind of law added to fused scores (rag prior); None: none
    rescorer: Rescorer | None = None  # a second model's vectors for uncertain candidates; None: built without
    warnings: list[str] = field(default_factory=list)
    load_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.doc_ids = np.array([c.doc_id for c in self.chunks])
        self._by_article: dict[tuple[str, str], list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            self._by_article.setdefault((chunk.doc_id, chunk.article), []).append(i)

    @property
    def chunking(self) -> ChunkSettings:
        """The settings the index was built with (law_title decided)."""
        return ChunkSettings.from_dict(self.manifest["chunking"])

    @functools.cached_property
    def provisions(self) -> ProvisionTable:
        """Each law's purpose, scope and commencement articles (found in the chunks at first use: 0.07 s for the library)."""
        return ProvisionTable(self.chunks)

    @functools.cached_property
    def sanctions(self) -> SanctionTable:
        """For each article, the articles of its law that sanction breaking it (found in the chunks at first use)."""
        return SanctionTable(self.chunks)

    def chunk_rows(self, doc_id: str, label: str) -> list[int]:
        """Rows of an article (several when it was split), or of a law's document record for label ''."""
        return self._by_article.get((doc_id, label), [])

    @functools.cached_property
    def categories(self) -> dict[str, str]:
        """Each law's category (法律, 行政法规, 司法解释…) by doc id."""
        return {law.doc_id: law.category for law in self.laws}

    def law(self, doc_id: str) -> LawInfo | None:
        return next((law for law in self.laws if law.doc_id == doc_id), None)

    def neighbours(self, row: int) -> tuple[int | None, int | None]:
        """Rows of the previous and next article of the same law (skipping parts of the same article)."""
        chunk = self.chunks[row]
        before = next((i for i in range(row - 1, -1, -1) if self._other_article(chunk, i)), None)
        after = next((i for i in range(row + 1, len(self.chunks)) if self._other_article(chunk, i)), None)
        return before, after

    def _other_article(self, chunk: Chunk, row: int) -> bool:
        other = self.chunks[row]
        return other.doc_id == chunk.doc_id and bool(other.article) and other.article != chunk.article


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sources(inputs: Iterable[str | Path]) -> dict[str, str]:
    return {str(p.resolve()): _sha256(p) for p in law_files(inputs)}


def _embedder(spec: ModelSpec) -> Embedder:
    """The embedding model, or IndexUnavailable saying why it cannot be loaded (offline, missing path…)."""
    try:
        return load_embedder(spec)
    except (OSError, ValueError) as error:
        raise IndexUnavailable(f"无法加载嵌入模型 {spec.name}：{error}") from error


def _model_changes(manifest: dict, embedder: Embedder) -> list[str]:
    """Why the embedder would not give the index's vectors although its name is the one recorded:
    other prefixes, maximum length or dimension (what its fingerprint, the embedding cache's key, covers)."""
    built = manifest["model"]
    if built["name"] == embedder.spec.name and built.get("fingerprint") != embedder.fingerprint:
        return ["嵌入模型的设置已变（前缀、最大长度或维度）"]
    return []


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_index(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    model: ModelSpec = ModelSpec(),
    chunking: ChunkSettings = ChunkSettings(),
    tokenizer: Tokenizer = "bigram",
    store: StoreSpec = StoreSpec(),
    rescorer: ModelSpec | None | Literal["auto"] = "auto",
    shard: tuple[int, int] | None = None,
    progress: Progress | None = None,
    commit_every: int = 256,
) -> tuple[Path, list[ParseError]]:
    """Parse, chunk, embed (reusing cached vectors) and write a new index version, then switch to it.

    `rescorer`: the second model whose chunk vectors are stored for re-scoring ("auto": default_rescorer,
    EmbeddingGemma where it is installed, for indexes of at most AUTO_RESCORE_MAX_CHUNKS chunks; None: none).
    Progress counts its texts after the model's own.

    Encoded vectors are committed to the cache every `commit_every` chunks, so an interrupted build
    resumes from there. `shard` (i, n), Milvus store only: encode just the laws of shard i of n into the
    store's shared vector cache and write no version; a build without `shard` afterwards finds every
    vector there. Returns the index directory and the files that could not be read."""
    inputs = list(inputs)  # as given: load_laws refuses an empty path, which Path("") would turn into "."
    out = Path(out)
    if shard is not None and store.kind != "milvus":
        raise IndexUnavailable("分片建索引（--shard）需要 Milvus 存储：各分片把向量写入同一个 Milvus，再合成一个索引版本")
    with _locked(out):
        laws, errors = load_laws(inputs)
        if not laws:
            detail = "；".join(map(str, errors)) or "没有找到 .md/.txt/.docx 文件"
            raise IndexUnavailable(f"没有可索引的法规：{detail}")
        chunking = chunking.for_laws(len(laws))  # before sharding: every shard embeds the same texts
        if shard is not None:
            laws = [law for law in laws if in_shard(law.doc_id, *shard)]
        chunks = chunk_laws(laws, chunking)
        texts, sentence_rows = encoded_texts(chunks, chunking)
        embedder = _embedder(model)
        encoders: list[Embedder] = []  # what encoded the texts the cache lacked (none when all were cached)

        def encoder_for(missing: int):
            encoders.append(embedder.for_passages(missing))
            return encoders[-1].encode_passages

        cache = EmbeddingCache(out / "embeddings.sqlite", embedder.dim, shared=_shared_cache(store, out, embedder.dim))
        try:
            vectors = cache.encode(texts, embedder.fingerprint, encoder_for, batch=commit_every, on_progress=progress)
        finally:
            cache.close()
        if shard is not None:
            return out, errors
        rescorer = _auto_rescorer(model, len(chunks)) if rescorer == "auto" else rescorer
        encoded = len(set(texts))  # what the first model's progress counted: distinct texts
        second = None
        if rescorer is not None:
            second = _embedder(rescorer)
            rescore_cache = EmbeddingCache(out / "embeddings.sqlite", second.dim)
            try:
                rescore_vectors = rescore_cache.encode(
                    texts[: len(chunks)],
                    second.fingerprint,
                    lambda missing: second.for_passages(missing).encode_passages,
                    batch=commit_every,
                    on_progress=(lambda done, total: progress(encoded + done, encoded + total)) if progress else None,
                )
            finally:
                rescore_cache.close()
        manifest = {
            "format": FORMAT,
            "model": {
                "name": model.name,
                "max_seq_length": model.max_seq_length,
                # As asked for; after an ONNX fallback (warned) the fingerprint is that of the vectors made
                "backend": model.backend,
                "dtype": model.dtype,
                "fingerprint": embedder.fingerprint,
                "dim": embedder.dim,
                # Matryoshka truncation, recorded only where asked for (manifests of others stay as they were)
                **({"truncate_dim": model.dim} if model.dim is not None else {}),
                # What encoded the passages this build added: a bfloat16 twin on CPUs with native bf16
                # (Embedder.for_passages), its vectors verified against the query encoder's
                "passages": [{"backend": e.backend, "dtype": e.dtype} for e in encoders],
            },
            "chunking": chunking.to_dict(),
            "tokenizer": tokenizer,
            "inputs": [str(Path(p).resolve()) for p in inputs],
            "sources": _sources(inputs),
            "errors": [str(e) for e in errors],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "counts": {"laws": len(laws), "chunks": len(chunks), "sentences": len(sentence_rows)},
        }
        if second is not None:
            manifest["rescorer"] = rescorer_record(rescorer, second)
        sentence_vectors = SentenceVectors(vectors=vectors[len(chunks) :], rows=sentence_rows)
        _write_version(out, manifest, laws, chunks, vectors[: len(chunks)], sentence_vectors, store, rescore_vectors if second else None)
    return out, errors


def encoded_texts(chunks: list[Chunk], chunking: ChunkSettings) -> tuple[list[str], np.ndarray]:
    """What a build encodes: each chunk's text as the encoder sees it, then the sentences of multi-sentence
    chunks; and the chunk row of each of those sentences. `chunking`: settings with law_title decided."""
    sentences, rows = sentence_texts(chunks) if chunking.sentences else ([], np.zeros(0, dtype=np.int64))
    return [embed_text(c, law_title=bool(chunking.law_title)) for c in chunks] + sentences, rows


def in_shard(doc_id: str, shard: int, shards: int) -> bool:
    """Whether a law belongs to shard `shard` of `shards` (by its id, so any file order gives the same split)."""
    return int(hashlib.sha1(doc_id.encode("utf-8")).hexdigest()[:8], 16) % shards == shard


def _shared_cache(store: StoreSpec, out: Path, dim: int) -> VectorCache | None:
    if store.kind != "milvus":
        return None
    from .milvus_store import MilvusVectorCache

    return MilvusVectorCache(store, out, dim)


def _write_version(
    out: Path,
    manifest: dict,
    laws: list[Law],
    chunks: list[Chunk],
    vectors: np.ndarray,
    sentences: SentenceVectors,
    store: StoreSpec,
    rescore_vectors: np.ndarray | None,
) -> None:
    version = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = out / f".{version}.partial"
    staging.mkdir(parents=True)
    (staging / "bm25").mkdir()
    lexical = LexicalIndex([embed_text(c) for c in chunks], tokenizer=manifest["tokenizer"])
    bm25_files = [str(p.relative_to(staging)) for p in lexical.save(staging / "bm25")]
    rows = VersionRows(
        chunks=chunks,
        vectors=vectors,
        lexical=lexical,
        laws=[dataclasses.asdict(_law_info(law)) for law in laws],
        definitions=DefinitionTable.from_laws(laws).to_records(),
    )
    manifest["store"], store_files = write_store(store, out, staging, version, rows)
    names = [*store_files, *bm25_files, *sentences.save(staging)]
    if rescore_vectors is not None:
        names += Rescorer.save(staging, rescore_vectors)
    manifest["files"] = {name: _sha256(staging / name) for name in names}
    (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    for name in names + ["manifest.json"]:
        with open(staging / name, "rb") as handle:
            os.fsync(handle.fileno())
    staging.rename(out / version)
    write_atomic(out / "CURRENT", version.encode())
    for stale in out.glob("v-*"):
        if stale.name != version:
            shutil.rmtree(stale, ignore_errors=True)
    for partial in out.glob(".v-*.partial"):
        shutil.rmtree(partial, ignore_errors=True)


def _law_info(law: Law) -> LawInfo:
    return LawInfo(
        doc_id=law.doc_id,
        title=law.title,
        author=law.author,
        publication_date=law.publication_date,
        effective_date=law.effective_date,
        status=law.status,
        category=law.category,
        url=law.url,
        note=law.note,
        articles=len(law.articles),
    )


def _current_version(out: Path) -> Path | None:
    try:
        name = (out / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    return out / name if name else None


def live_manifest(path: str | Path) -> dict | None:
    """The manifest of an index directory's live version; None when it holds no (readable) index."""
    version = _current_version(Path(path))
    try:
        return json.loads((version / "manifest.json").read_text(encoding="utf-8")) if version else None
    except (OSError, ValueError):
        return None


def recorded_model(path: str | Path) -> str | None:
    """The embedding model the live version of an index directory was built with; None when it holds no index."""
    try:
        return (live_manifest(path) or {})["model"]["name"]
    except (KeyError, TypeError):
        return None


def _auto_rescorer(model: ModelSpec, chunks: int) -> ModelSpec | None:
    return default_rescorer(model) if chunks <= AUTO_RESCORE_MAX_CHUNKS else None


def built_rescorer(manifest: dict) -> ModelSpec | None:
    """The second model an index was built with (None: none)."""
    record = manifest.get("rescorer")
    return record_spec(record) if record else None


def check_stale(
    manifest: dict, model: ModelSpec, chunking: ChunkSettings, rescorer: ModelSpec | None | Literal["built", "auto"] = "built"
) -> list[str]:
    """Why an index no longer matches its sources or settings; empty when it is current. `rescorer`: the second
    model it must have ("built": whichever it was built with; "auto": the one build_index would choose)."""
    reasons: list[str] = []
    rescorer = _auto_rescorer(model, manifest["counts"]["chunks"]) if rescorer == "auto" else rescorer
    if manifest.get("format") != FORMAT:
        reasons.append("索引格式版本已变")
    if manifest["model"]["name"] != model.name:
        reasons.append(f"嵌入模型已变（{manifest['model']['name']} → {model.name}）")
    built = built_rescorer(manifest)
    if rescorer != "built" and (built and built.name) != (rescorer and rescorer.name):
        reasons.append(f"重排模型已变（{built.name if built else '无'} → {rescorer.name if rescorer else '无'}）")
    if manifest["chunking"] != chunking.for_laws(manifest["counts"]["laws"]).to_dict():
        reasons.append("切分设置已变")
    try:
        current = _sources(Path(p) for p in manifest["inputs"])
    except FileNotFoundError as error:
        reasons.append(f"法规来源不可用：{error}")
        return reasons
    built = manifest["sources"]
    changed = [p for p in current if p in built and built[p] != current[p]]
    added = [p for p in current if p not in built]
    removed = [p for p in built if p not in current]
    for label, paths in (("已修改", changed), ("新增", added), ("已删除", removed)):
        if paths:
            reasons.append(f"法规文件{label}：{', '.join(Path(p).name for p in paths[:3])}" + ("等" if len(paths) > 3 else ""))
    return reasons


def _verify(version: Path, manifest: dict) -> None:
    for name, digest in manifest.get("files", {}).items():
        target = version / name
        if not target.exists() or _sha256(target) != digest:
            raise IndexUnavailable(f"索引文件损坏或不完整：{target}")


def _open_rows(manifest: dict, path: Path, version: Path) -> tuple[LexicalIndex, SentenceVectors, Store]:
    """The version's BM25 statistics, its sentence vectors and its store (records, laws, definitions, vectors)."""
    try:
        lexical = LexicalIndex.load(version / "bm25", tokenizer=manifest.get("tokenizer", "bigram"), size=manifest["counts"]["chunks"])
    except (OSError, ValueError) as error:
        raise IndexUnavailable(f"BM25 索引损坏：{version / 'bm25'}（{error}）") from error
    try:
        sentences = SentenceVectors.load(version)
    except (OSError, ValueError) as error:
        raise IndexUnavailable(f"句向量文件损坏：{version}（{error}）") from error
    if len(sentences.rows) != manifest["counts"]["sentences"] or len(sentences.vectors) != len(sentences.rows):
        raise IndexUnavailable(f"索引的句向量数量与清单不符：{version}")
    return lexical, sentences, open_store(manifest, path, version, lexical)


def open_index(
    path: str | Path,
    *,
    model: ModelSpec | None = None,
    chunking: ChunkSettings | None = None,
    rescorer: ModelSpec | None | Literal["built", "auto"] = "built",
    rebuild: bool = True,
    progress: Progress | None = None,
) -> Index:
    """Load an index; if it is stale or corrupt, rebuild it from its recorded sources (rebuild=True,
    re-encoding only what changed) or load it with a warning naming the command to run. `chunking`: the
    settings it must have been built with (None: the ones it was built with, so that --law-title or
    --no-sentences given at build time do not make it stale). `rescorer`: the second model it must have
    ("built": the one it has; "auto": as build_index chooses it, for indexes that follow the defaults)."""
    started = time.perf_counter()
    load_jieba_in_background()
    path = Path(path)
    version = _current_version(path)
    if version is None or not (version / "manifest.json").exists():
        raise IndexUnavailable(f"{path} 不是索引目录；请先运行：rag index 法规目录 --out {path}")
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        built = manifest["model"]
        # Indexes written before max_seq_length was recorded were encoded with 512 tokens
        spec = model or ModelSpec(
            name=built["name"],
            max_seq_length=built.get("max_seq_length", 512),
            dtype=built.get("dtype", "float32"),
            backend=built.get("backend", "torch"),
            dim=built.get("truncate_dim"),
        )
        chunking = chunking or ChunkSettings.from_dict(manifest["chunking"])
        rescorer = _auto_rescorer(spec, manifest["counts"]["chunks"]) if rescorer == "auto" else rescorer
        wanted = built_rescorer(manifest) if rescorer == "built" else rescorer
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise IndexUnavailable(f"索引清单损坏：{version / 'manifest.json'}。请重新运行：rag index 法规目录 --out {path}") from error
    warnings: list[str] = []
    # The model loads in the background while the records parse: its loaders (onnxruntime, SentencePiece)
    # release the GIL, so the two overlap on two cores
    with ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(_embedder, spec)
        problems = check_stale(manifest, spec, chunking, rescorer)
        try:
            _verify(version, manifest)
        except IndexUnavailable as error:
            problems.append(str(error))
        opened = None if problems else _open_rows(manifest, path, version)
        embedder = loading.result()
    problems += _model_changes(manifest, embedder)
    if problems:
        command = f"rag index {' '.join(manifest['inputs'])} --out {path}"
        sources_ok = all(Path(p).exists() for p in manifest["inputs"])
        if rebuild and sources_ok:
            build_index(
                manifest["inputs"],
                path,
                model=spec,
                chunking=chunking,
                tokenizer=manifest.get("tokenizer", "bigram"),
                store=StoreSpec.from_manifest(manifest),
                rescorer=wanted,
                progress=progress,
            )
            return open_index(path, model=spec, chunking=chunking, rescorer=wanted, rebuild=False)
        if manifest.get("format") != FORMAT or any("损坏" in p for p in problems):
            raise IndexUnavailable("；".join(problems) + f"。请运行：{command}")
        if built["name"] != spec.name:  # its vectors mean nothing to another model: never queried with it
            raise IndexUnavailable(
                f"索引 {path} 是用嵌入模型 {built['name']} 建的，不能用 {spec.name} 检索。"
                f"请改用 {built['name']}，或用新模型重建索引：{command} --model {spec.name}"
            )
        warnings.append("索引可能已过期（" + "；".join(problems) + f"）。请运行：{command}")
    lexical, sentences, store = opened or _open_rows(manifest, path, version)
    if manifest["model"].get("dim", embedder.dim) != embedder.dim:
        raise IndexUnavailable(f"索引向量与嵌入模型的维度不符：{version}")
    size = manifest["counts"]["chunks"]
    chunks = store.records()
    laws = [LawInfo(**law) for law in store.laws()]
    if len(chunks) != size:
        raise IndexUnavailable(f"索引的条文数量与清单不符（{len(chunks)} / {size}）：{version}")
    names = LawNames((law.doc_id, law.title) for law in laws)
    definitions = DefinitionTable.from_records(store.definitions())
    return Index(
        path=path,
        manifest=manifest,
        chunks=chunks,
        laws=laws,
        store=store,
        embedder=embedder,
        lexical=lexical,
        names=names,
        definitions=definitions,
        sentences=sentences,
        prior=load_prior(path, embedder.spec.name),
        rescorer=Rescorer.load(version, manifest["rescorer"]) if manifest.get("rescorer") else None,
        warnings=warnings,
        load_seconds=time.perf_counter() - started,
    )
