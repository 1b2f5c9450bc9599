"""Question set + index → fine-tuning examples: the gold article as positive, and the best-ranked
non-gold articles of a retriever (BM25 by default) as hard negatives."""

from __future__ import annotations

from typing import Sequence

from embeddings.finetune import TrainingExample
from rag.index import Index
from rag.ingest import embed_text
from rag.retrieval import Mode, RetrieveOptions, search

from .questions import Question

__all__ = ["mine_examples"]


def mine_examples(
    index: Index,
    questions: Sequence[Question],
    *,
    negatives: int = 1,
    depth: int = 30,
    mode: Mode = "bm25",
) -> list[TrainingExample]:
    """One example per (question, gold article found in the index). Gold articles of a question are
    never used as its negatives; questions without gold (unanswerable) give no example."""
    examples: list[TrainingExample] = []
    law_title = bool(index.chunking.law_title)  # train on the texts the index embeds
    for question in questions:
        gold_rows = {
            article: index.chunk_rows(article.doc_id, article.article)
            for article in question.gold
            if article.doc_id
        }
        gold_keys = {(a.doc_id, a.article) for a in gold_rows}
        if not any(gold_rows.values()):
            continue
        hits = search(index, question.question, RetrieveOptions(k=depth, mode=mode))
        hard = [
            embed_text(hit.chunk, law_title=law_title)
            for hit in hits
            if (hit.chunk.doc_id, hit.chunk.article) not in gold_keys
        ][:negatives]
        for rows in gold_rows.values():
            if rows:
                examples.append(TrainingExample(question.question, embed_text(index.chunks[rows[0]], law_title=law_title), tuple(hard)))
    return examples
