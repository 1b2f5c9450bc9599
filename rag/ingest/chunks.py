"""Law → chunks: one chunk per article (long articles split at paragraph boundaries), plus one
document-level chunk per law holding its metadata, 题注 and any text outside articles."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

from ..records import Article, Chunk, Law
from .names import short_title

__all__ = ["ChunkSettings", "chunk_law", "chunk_laws", "chinese_date", "document_text", "DOCUMENT_HEADER", "embed_text", "split_sentences", "without_header"]

_SENTENCE = re.compile(r"[^。；;！？!?\n]+[。；;！？!?]?")


CHUNK_FORMAT = 3  # 3: the document record writes its dates as 2026年1月1日
DOCUMENT_HEADER = "文件信息"


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 800  # longer articles are split at paragraph boundaries
    # Embed the law's title before each chunk ('劳动合同法 第N条 …'). None: where the index holds more than
    # one law. Measured on STARD (docs/finetune.md): in a library it tells laws apart; in a one-law
    # index every chunk shares it and it cost the seed sets hit@1.
    law_title: bool | None = None
    # Also encode each sentence of a multi-sentence chunk (its best sentence's cosine adds to the article's).
    # Off for a large model over a large library: the sentences are about three times the articles to encode.
    sentences: bool = True

    def for_laws(self, count: int) -> ChunkSettings:
        """These settings for an index of `count` laws: law_title decided."""
        return self if self.law_title is not None else replace(self, law_title=count > 1)

    def to_dict(self) -> dict:
        # The format version makes indexes built by an older chunker count as stale; `sentences` is recorded
        # only when off, so that indexes built before it was an option stay current
        recorded = {k: v for k, v in asdict(self).items() if not (k == "sentences" and v)}
        return {**recorded, "format": CHUNK_FORMAT}

    @classmethod
    def from_dict(cls, data: dict) -> ChunkSettings:
        return cls(**{k: v for k, v in data.items() if k != "format"})


def without_header(text: str) -> str:
    """A stored text as people read it: a document record without the 文件信息 header it is indexed with."""
    return text.removeprefix(DOCUMENT_HEADER + "。")


def document_text(law: Law) -> str:
    """The law's own record in words, so that 'who enacted it, when' can be answered and cited."""
    # The title stays out of the text: every question about the law names it, and a record that
    # matched all of them would outrank the articles (measured on the seed dev set).
    facts = [DOCUMENT_HEADER]
    if law.author:
        facts.append(f"制定机关：{law.author}")
    if law.publication_date:
        facts.append(f"公布日期：{chinese_date(law.publication_date)}")
    if law.effective_date:
        facts.append(f"施行日期：{chinese_date(law.effective_date)}")
    if law.status:
        facts.append(f"效力状态：{law.status}")
    text = "。".join(facts) + "。"
    if law.note:
        text += f"\n题注（通过与修订经过）：{law.note}"
    return text


def chinese_date(date: str) -> str:
    """'2026-01-01' → '2026年1月1日', the way the law's own text writes dates; anything else unchanged."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", date.strip())
    return f"{match[1]}年{int(match[2])}月{int(match[3])}日" if match else date


def _split_paragraphs(paragraphs: list[str], max_chars: int) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if current and size + len(paragraph) > max_chars:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += len(paragraph)
    if current:
        parts.append("\n".join(current))
    return parts


def _article_chunks(law: Law, article: Article, position: int, settings: ChunkSettings) -> list[Chunk]:
    parts = _split_paragraphs(article.paragraphs, settings.max_chars)
    return [
        Chunk(
            # position keeps ids unique where a law repeats labels (e.g. several attached regulations)
            chunk_id=f"{law.doc_id}#{position}" + (f".{part}" if len(parts) > 1 else ""),
            doc_id=law.doc_id,
            law=law.title,
            article=article.label,
            number=article.number,
            sub=article.sub,
            text=text,
            path=article.path,
            part=part,
            status=law.status,
            effective_date=law.effective_date,
            url=law.url,
        )
        for part, text in enumerate(parts)
    ]


def chunk_law(law: Law, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    document_parts = _split_paragraphs([document_text(law), *filter(None, law.preamble.split("\n"))], settings.max_chars)
    chunks = [
        Chunk(
            chunk_id=f"{law.doc_id}#doc" + (f".{part}" if part else ""),
            doc_id=law.doc_id,
            law=law.title,
            article="",
            number=0,
            sub=0,
            text=text,
            part=part,
            status=law.status,
            effective_date=law.effective_date,
            url=law.url,
        )
        for part, text in enumerate(document_parts)
    ]
    for position, article in enumerate(law.articles, start=1):
        chunks.extend(_article_chunks(law, article, position, settings))
    return chunks


def chunk_laws(laws: list[Law], settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    return [chunk for law in laws for chunk in chunk_law(law, settings)]


def embed_text(chunk: Chunk, *, law_title: bool = False) -> str:
    """'第N条 text' (measured better than prefixing the chapter title), with law_title '劳动合同法 第N条 text':
    what the encoder sees (ChunkSettings.law_title says which) and, always without the title, what BM25 indexes."""
    text = f"{chunk.article} {chunk.text}" if chunk.article else chunk.text
    return f"{short_title(chunk.law)} {text}" if law_title else text


def split_sentences(text: str) -> list[str]:
    """The sentences (and list items, and clauses ending in ；) of a chunk's text, in order."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
