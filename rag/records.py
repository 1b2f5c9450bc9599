"""The typed records that flow through the pipeline: Law → Article → Chunk → Hit → Citation → Answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Article", "Law", "Chunk", "Hit", "Citation", "Answer", "Stance"]


class Stance(StrEnum):
    """How well the indexed laws answer a question."""

    ANSWERED = "answered"  # the quoted articles answer it
    RELATED = "related"  # no provision answers it directly; the closest ones are quoted as related
    NOT_COVERED = "not_covered"  # nothing in the index concerns it; the closest articles are listed


@dataclass(frozen=True)
class Article:
    label: str  # 第十五条, 第一百七十五条之一
    number: int  # 15, 175
    sub: int  # the 之N suffix, 0 when absent
    text: str  # paragraphs joined by newlines, without the label
    path: tuple[str, ...] = ()  # headings above it: ("第一章 总则", "第一节 一般规定")
    line: int = 0  # 1-based line of the label in the source file

    @property
    def paragraphs(self) -> list[str]:
        return self.text.split("\n")


@dataclass(frozen=True)
class Law:
    doc_id: str
    title: str
    articles: tuple[Article, ...]
    author: str = ""
    publication_date: str = ""
    effective_date: str = ""
    status: str = ""
    category: str = ""
    url: str = ""
    note: str = ""  # the 题注: adoption and revision history
    preamble: str = ""  # text outside articles (notices, replies without articles)
    source: str = ""  # the file it was read from

    def article(self, label: str) -> Article | None:
        return next((a for a in self.articles if a.label == label), None)


@dataclass(frozen=True)
class Chunk:
    """One retrievable unit: an article (or a paragraph-aligned part of a long one), or a law's document record."""

    chunk_id: str
    doc_id: str
    law: str
    article: str  # label; "" for a document-level chunk
    number: int
    sub: int
    text: str
    path: tuple[str, ...] = ()
    part: int = 0
    status: str = ""
    effective_date: str = ""
    url: str = ""

    @property
    def is_document(self) -> bool:
        return not self.article

    @property
    def citation_label(self) -> str:
        return citation_label(self.law, self.article)


def citation_label(law: str, article: str) -> str:
    """《law》第N条, or 《law》文件信息 for the law's document record (article "")."""
    return f"《{law}》{article or '文件信息'}"


@dataclass
class Hit:
    chunk: Chunk
    score: float
    rank: int = 0  # 1-based position in the list it came from
    scores: dict[str, float] = field(default_factory=dict)  # per retriever, e.g. {"dense": .87, "bm25": 12.1}

    @property
    def law(self) -> str:
        return self.chunk.law

    @property
    def article(self) -> str:
        return self.chunk.article

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def text(self) -> str:
        return self.chunk.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "article": self.article,
            "doc_id": self.doc_id,
            "text": self.text,
            "score": self.score,
            "rank": self.rank,
            "scores": dict(self.scores),
            "path": list(self.chunk.path),
            "url": self.chunk.url,
            "chunk_id": self.chunk.chunk_id,
        }


@dataclass
class Citation:
    number: int  # the n of [n] in the answer text
    law: str
    article: str
    doc_id: str
    text: str  # the full text of the cited article (or document record)
    quote: str  # the sentence(s) of it that the answer uses
    score: float = 0.0
    path: tuple[str, ...] = ()
    url: str = ""
    highlight: str = ""  # the sentence(s) of the quote that answer best, marked in the UI ("": the quote)

    @classmethod
    def of(cls, hit: Hit, number: int, quote: str, highlight: str = "") -> Citation:
        """The citation [number] of a retrieved hit, quoting `quote` from it."""
        return cls(
            number=number,
            law=hit.law,
            article=hit.article,
            doc_id=hit.doc_id,
            text=hit.text,
            quote=quote,
            highlight=highlight,
            score=hit.score,
            path=hit.chunk.path,
            url=hit.chunk.url,
        )

    @property
    def label(self) -> str:
        return citation_label(self.law, self.article)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = list(self.path)
        return data


@dataclass
class Answer:
    question: str
    text: str
    citations: list[Citation]
    passages: list[Hit]
    stance: Stance
    backend: str = "extractive"
    fell_back: bool = False  # a generator's answer was replaced by the extractive one
    rewritten_question: str = ""  # the standalone question after resolving a follow-up
    warnings: list[str] = field(default_factory=list)
    confidence: float | None = None  # the stance model's P(the quoted articles answer the question)

    @property
    def abstained(self) -> bool:
        """The index does not concern the question (stance not_covered): no article is quoted as an answer."""
        return self.stance == Stance.NOT_COVERED

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [h.to_dict() for h in self.passages],
            "stance": str(self.stance),
            "abstained": self.abstained,
            "backend": self.backend,
            "fell_back": self.fell_back,
            "rewritten_question": self.rewritten_question,
            "warnings": list(self.warnings),
            "confidence": self.confidence,
        }
