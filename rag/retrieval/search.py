"""Question → ranked article hits: exact article lookup first, then dense (FAISS) and BM25 scores fused (plus the
index's category prior, where `rag prior` fitted one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np

from ..index import Index, content_words
from ..ingest import asked_provision, is_definition_question
from ..records import Hit
from .conversation import CUES
from .lookup import find_article_refs
from .rescore import SHIPPED_RESCORE, RescoreSettings, rescore_order, top_margin

__all__ = ["RetrieveOptions", "search", "scope_of", "Mode"]

Mode = Literal["hybrid", "dense", "bm25"]
_IN_FORCE = ("施行", "生效", "实施")  # what a law's commencement article states
MAX_DEFINITIONS = 3  # defining articles pinned for one asked term (it may be defined by several laws)
DEFINITION_POOL = 10  # candidates searched for a defining article when the question names no defined term


@dataclass(frozen=True)
class RetrieveOptions:
    k: int = 10
    mode: Mode = "hybrid"
    dense_weight: float = 0.8  # share of the min-max-normalised dense score in the fused score
    sentence_weight: float = 1.0  # dense score = article cosine + this × its best sentence's cosine
    pool: int = 100  # candidates taken from each retriever before fusion
    laws: tuple[str, ...] = ()  # titles or doc ids to search; empty: all, or the laws the question names
    prior: bool = True  # add the index's category prior (rag prior) to fused scores, where it has one
    # re-score unsure candidates with the index's second model, where it has one (rescore.py); None: never
    rescore: RescoreSettings | None = SHIPPED_RESCORE


def scope_of(index: Index, question: str, laws: Sequence[str] = ()) -> set[str] | None:
    """Doc ids to search: the chosen laws, else the laws the question names, else None (all)."""
    if laws:
        wanted = set(laws)
        return {law.doc_id for law in index.laws if law.doc_id in wanted or law.title in wanted}
    if len(index.laws) > 1:
        named = index.names.doc_ids(question)
        if named:
            return named
    return None


def _lookup(index: Index, question: str, scope: set[str] | None) -> list[int]:
    """Rows of the articles the question names; a law named right before a number binds it."""
    mentions = index.names.mentions(question)
    default = scope if scope is not None else {law.doc_id for law in index.laws}
    rows: list[int] = []
    for ref in find_article_refs(question):
        before = [ids for ids, _, end in mentions if end <= ref.start]
        doc_ids = before[-1] if before else default
        if len(doc_ids) > 1 and len(index.laws) > 1 and not before:
            continue  # an article number without a law is ambiguous in a library
        for doc_id in sorted(doc_ids):
            rows.extend(r for r in index.chunk_rows(doc_id, ref.label) if r not in rows)
    return rows


def _provisions(index: Index, question: str, scope: set[str] | None) -> list[int]:
    """Rows of the provision a question asks for by what it is (立法目的 → the purpose article, 适用范围 → the
    scope article) of the law in scope: the one law of the index, or the laws the question names. Only when
    the rest of the question is about that provision: each of its other content words is in it or in the
    law's title (条例适用于哪些活动？ yes; 数据交易适用于哪些规定？ asks about 数据交易), and nothing else about the
    law is asked."""
    asked = asked_provision(question)
    if asked is None:
        return []
    kind, rest = asked
    if any(cue in rest for cue in CUES.document):
        return []  # it also asks what the law's record holds (还有效吗, 什么时候通过): the record answers
    doc_ids = scope if scope is not None else {law.doc_id for law in index.laws} if len(index.laws) == 1 else set()
    words = content_words(index.names.as_self_reference(rest))
    rows: list[int] = []
    for provision in index.provisions.find(kind, sorted(doc_ids)):
        found = index.chunk_rows(provision.doc_id, provision.article)
        text = "".join(index.chunks[r].text for r in found) + index.chunks[found[0]].law if found else ""
        if all(word in text for word in words):
            rows.extend(found)
    return rows


def _record(index: Index, question: str, scope: set[str] | None) -> list[int]:
    """Rows of the law's own record (author, dates, revisions) when the question asks about the law itself
    (是哪个机关通过的？, 修改过吗？: a CUES.document cue) and about nothing else: each of its other content words
    is in the record or in the law's title. The law: the one law of the index, or the one the question names."""
    cues = [cue for cue in CUES.document if cue in question]
    if not cues:
        return []
    doc_ids = scope if scope is not None else {law.doc_id for law in index.laws} if len(index.laws) == 1 else set()
    if len(doc_ids) != 1:
        return []
    rest = index.names.as_self_reference(question)
    for cue in sorted(cues, key=len, reverse=True):
        rest = rest.replace(cue, " ")
    doc_id = next(iter(doc_ids))
    rows = index.chunk_rows(doc_id, "")
    text = "".join(index.chunks[r].text + index.chunks[r].law for r in rows)
    words = [w for w in content_words(rest) if not w.startswith("本") and w not in CUES.law_refs]
    if not rows or not all(word in text for word in words):
        return []
    if any(word in question for word in _IN_FORCE):  # 什么时候施行: the law's own commencement article says so first
        rows = [r for p in index.provisions.find("commencement", [doc_id]) for r in index.chunk_rows(p.doc_id, p.article)] + rows
    return rows


def _defining(index: Index, question: str, scope: set[str] | None, ranked: list[int]) -> list[int]:
    """Rows of the articles defining the term a question asks the meaning of (什么是X, X是指什么, a defined
    X是什么 / X包括哪些… when retrieval ranks the defining article in its top DEFINITION_POOL), best-ranked
    first; for a question in English (the table's terms are Chinese), the best-ranked of the top
    DEFINITION_POOL candidates that defines something."""
    rank = {row: i for i, row in enumerate(ranked)}
    asked = index.definitions.asked_terms(question, scope)
    meaning = is_definition_question(question)
    if asked:
        rows = {r for d in asked for r in index.chunk_rows(d.doc_id, d.article)}
        if not meaning:
            # X是什么 / X包括哪些 may ask something else of a word some law defines (网络借贷平台服务费的标准是什么？
            # and 标准化法's 标准): the defining article must be among retrieval's own candidates
            rows = {r for r in rows if rank.get(r, DEFINITION_POOL) < DEFINITION_POOL}
        return sorted(rows, key=lambda r: (rank.get(r, len(rank)), r))[:MAX_DEFINITIONS]
    if not meaning or any("\u3400" <= c <= "\u9fff" for c in question):
        return []  # no definition question, or a Chinese one naming a term no law here defines: nothing to pin
    defining = index.definitions.articles(scope)
    return [r for r in ranked[:DEFINITION_POOL] if (index.chunks[r].doc_id, index.chunks[r].article) in defining][:1]


def _minmax(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.ones_like(values)


def _prior_offsets(index: Index, rows: Iterable[int]) -> dict[int, float]:
    if index.prior is None or not index.prior.offsets:
        return {}
    return {row: index.prior.offset(index.categories.get(index.chunks[row].doc_id, "")) for row in rows}


def search(index: Index, question: str, options: RetrieveOptions = RetrieveOptions(), *, query: np.ndarray | None = None) -> list[Hit]:
    """The options.k best hits, best first: named articles, then defining articles, then by fused score (plus the
    offset of the law's category, where the index has a prior and options.prior is set), the first candidates
    re-scored by the index's second model where the best two are close (options.rescore; rescore.py).
    `query`: the vector of index.names.as_self_reference(question), when the caller has encoded it (many questions at
    once, say). Given in bm25 mode, it ranks nothing but gives every hit its dense score, which the abstention model reads;
    in the other modes a hit from outside the dense candidates gets its dense score the same way."""
    scope = scope_of(index, question, options.laws)
    pool = options.pool if scope is None or scope else 0
    dense: dict[int, float] = {}
    lexical: dict[int, float] = {}
    text = index.names.as_self_reference(question)  # what the retrievers score
    if options.mode in ("hybrid", "dense") and pool:
        if query is None:
            query = index.embedder.encode_queries([text])[0]
        dense = index.store.dense(query, pool, scope)
    best_sentence = index.sentences.best(query, list(dense)) if dense and options.sentence_weight else {}
    # A chunk of one sentence is its own best sentence
    dense_rank = {row: s + options.sentence_weight * max(best_sentence.get(row, s), s) for row, s in dense.items()}
    if options.mode in ("hybrid", "bm25") and pool:
        lexical = index.store.lexical(index.lexical.query_tokens(text), pool, scope)

    candidates = sorted(set(dense) | set(lexical))
    fused: dict[int, float] = {}
    if candidates:
        d = np.array([dense_rank.get(i, min(dense_rank.values(), default=0.0)) for i in candidates])
        b = np.array([lexical.get(i, 0.0) for i in candidates])
        weight = {"dense": 1.0, "bm25": 0.0}.get(options.mode, options.dense_weight)
        combined = weight * (_minmax(d) if dense else 0) + (1 - weight) * (_minmax(b) if lexical else 0)
        fused = dict(zip(candidates, combined.tolist()))
    offsets = _prior_offsets(index, fused) if options.prior else {}
    for row, offset in offsets.items():
        fused[row] += offset

    pinned = _lookup(index, question, scope)
    pinned += [r for r in _provisions(index, question, scope) if r not in pinned]
    pinned += [r for r in _record(index, question, scope) if r not in pinned]
    ranked = sorted((i for i in fused if i not in pinned), key=lambda i: (-fused[i], i))
    rescored: dict[int, float] = {}
    settings = options.rescore
    if settings and index.rescorer is not None and not pinned and top_margin(index, ranked, fused) < settings.margin:
        ranked, rescored = rescore_order(
            ranked, fused, lambda rows: index.rescorer.similarities(text, rows), settings, fixed=lambda row: not index.chunks[row].article
        )
    # A named article and the definition of a term the question asks about it (这条说的公共机构包括哪些？)
    defining = [r for r in _defining(index, question, scope, ranked) if r not in pinned]
    order = pinned + defining + [i for i in ranked if i not in defining]
    hits: list[Hit] = []
    hit_rows: list[int] = []
    seen: set[tuple[str, str, int]] = set()
    for row in order:
        chunk = index.chunks[row]
        # One hit per article: the best-scoring part of a split article stands for it
        key = (chunk.doc_id, chunk.article, row if not chunk.article else -1)
        if key in seen:
            continue
        seen.add(key)
        scores = {"dense": dense[row]} if row in dense else {}
        if row in best_sentence:
            scores["sentence"] = best_sentence[row]
        if row in lexical:
            scores["bm25"] = lexical[row]
        if offsets.get(row):
            scores["prior"] = offsets[row]
        if row in rescored:
            scores["rescored"] = rescored[row]
        if row in pinned:
            scores["lookup"] = 1.0
        if row in defining:
            scores["definition"] = 1.0
        score = 1.0 if row in pinned or row in defining else fused[row]
        hits.append(Hit(chunk=chunk, score=score, rank=len(hits) + 1, scores=scores))
        hit_rows.append(row)
        if len(hits) >= options.k:
            break
    unscored = {row: hit for row, hit in zip(hit_rows, hits) if "dense" not in hit.scores}
    if query is not None and unscored:
        for row, similarity in index.store.similarities(query, list(unscored)).items():
            unscored[row].scores["dense"] = similarity
    return hits
