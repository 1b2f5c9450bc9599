"""Hits → an extractive Answer in one of three stances (the calibrated StanceModel decides): quote the
articles that answer the question, each with a numbered citation (answered); say that no provision answers
it directly and quote the closest ones as related (related); or say that the laws do not concern it and
list the closest articles (not_covered).

The reader never writes a claim of its own: every sentence after "根据《…》第N条，" is a quote; the one
sentence it adds to a deferral clause only says where the specific rule is, and the one it puts before
related articles only says that they do not answer directly. It makes no model call: sentences are scored by
the question's lexical coverage, the stance reads retrieval's scores."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..index import ASKING, Index
from ..ingest import DOCUMENT_HEADER, MAX_SANCTIONS, asks_sanction, split_sentences
from ..records import Answer, Citation, Hit, Stance
from .abstention import Calibration, coverage, defers, load_calibration, measure_support, term_weights

__all__ = ["read", "ABSTAIN_TEXT", "READ_HITS", "deferral_note", "related_note", "unstated_note", "unanswered_asks"]

ABSTAIN_TEXT = "抱歉，已收录的法规中没有找到能回答这个问题的条文。下面列出最接近的条文，仅供参考。"
READ_HITS = 3  # articles the reader may quote
_ITEM = re.compile(r"^(?:[（(][一二三四五六七八九十百]+[）)]|\d+[.、．])")
_BACK_REFERENCE = re.compile(r"^(?:前款|前项|前两款|前三款|前述|上述|但是|但|其中|除前款)")
_CLAUSE = re.compile(r"[^，,；;？?！!。]+")


def deferral_note(law: str) -> str:
    """The one plain sentence added when the quoted article leaves the specific rule to other laws."""
    return f"该条没有规定具体的处罚、数额或程序，这些以它所指的法律、行政法规或国家有关规定为准，《{law}》本身未作具体规定。"


def related_note(laws: list[str]) -> str:
    """The plain sentence before related articles: no provision of these laws answers the question directly."""
    named = "、".join(f"《{law}》" for law in dict.fromkeys(laws))
    return f"{named}中没有直接回答这个问题的规定。相关的规定是："


def unstated_note(law: str, asks: list[str]) -> str:
    """The plain sentence after the quotes for the asks of a question that no article of the law mentions; an ask's
    own double quotes become single ones inside the note's (改成“废止” → “…改成‘废止’”)."""
    nested = str.maketrans("“”", "‘’")
    return "；".join(f"“{ask.translate(nested)}”" for ask in asks) + f"：《{law}》中没有涉及这一点的规定。"


def unanswered_asks(index: Index, question: str) -> list[str]:
    """The clauses of a question asking two or more things that no article of the index mentions: each such
    clause has words of its own (not shared with the other asks), none of which any article holds. Empty when
    the question asks one thing, or when no ask is mentioned at all (whether to answer is then not this one's
    call)."""
    from ..index import content_words

    clauses = [c.strip() for c in _CLAUSE.findall(question) if ASKING.search(c)]
    if len(clauses) < 2:
        return []
    words = [set(content_words(c)) for c in clauses]
    shared = {w for i, own in enumerate(words) for w in own if any(w in other for j, other in enumerate(words) if j != i)}
    unstated = [c for c, own in zip(clauses, words) if _names_a_thing(c, own - shared) and not any(_mentioned(index, w) for w in own - shared)]
    return unstated if len(unstated) < len(clauses) else []


def _names_a_thing(clause: str, words: set[str]) -> bool:
    """Whether one of the clause's own words is a noun (电价, 工本费): a verb or an adjective (合规, 主张, 开走) the
    law may well state in its own words, so their absence says little."""
    import jieba.posseg

    return any(w.word in words and (w.flag.startswith("n") or w.flag in ("vn", "an")) for w in jieba.posseg.lcut(clause))


def _without(question: str, clauses: list[str]) -> str:
    for clause in clauses:
        question = question.replace(clause, "")
    return question


def _mentioned(index: Index, word: str) -> bool:
    return any(word in index.chunks[row].text for row in index.lexical.documents_with(word))


@dataclass
class _Reading:
    hit: Hit
    sentences: list[str]
    scores: np.ndarray  # per sentence: idf-weighted share of the question's content terms it holds

    @property
    def best(self) -> int:
        return int(np.argmax(self.scores))

    @property
    def support(self) -> float:
        """How well the article answers, to compare articles: its best sentence's coverage plus its dense cosine."""
        return float(self.scores.max()) + self.hit.scores.get("dense", 0.0)


def _reading(hit: Hit, weights: dict[str, float]) -> _Reading:
    sentences = split_sentences(hit.text) or [hit.text]
    if hit.chunk.is_document:
        # The record's header labels it for search; it is no fact to quote
        sentences = [s for s in sentences if s.rstrip("。") != DOCUMENT_HEADER] or sentences
    return _Reading(hit, sentences, np.array([coverage(weights, s) for s in sentences]))


def _context(sentences: list[str], chosen: set[int]) -> set[int]:
    """The chosen sentences with what they need to be read alone: the sentence a list item hangs from,
    the items of a list lead-in, the sentence a back-reference (前款, 但…) points to."""
    needed = set(chosen)
    for i in chosen:
        if _ITEM.match(sentences[i]):
            lead = next((j for j in range(i - 1, -1, -1) if not _ITEM.match(sentences[j])), None)
            if lead is not None and sentences[lead].endswith(("：", ":")):
                needed.add(lead)
        if sentences[i].endswith(("：", ":")):
            j = i + 1
            while j < len(sentences) and _ITEM.match(sentences[j]):
                needed.add(j)
                j += 1
        if _BACK_REFERENCE.match(sentences[i]) and i > 0:
            needed.add(i - 1)
    return needed


def _quote(reading: _Reading, whole: bool) -> tuple[str, str]:
    """(quote, highlight): the whole article when asked or short, else the best sentences with their
    context; the highlight is the best sentence (and a near-equal second)."""
    sentences, scores = reading.sentences, reading.scores
    best = reading.best
    marked = {best}
    second = max((i for i in range(len(scores)) if i != best), key=lambda i: scores[i], default=None)
    if second is not None and scores[second] > 0 and scores[second] >= 0.9 * scores[best]:
        marked.add(second)
    highlight = _join(reading.hit.text, sentences, sorted(marked))
    if reading.hit.chunk.is_document:
        # The record's facts are one line each: every fact the question names is quoted
        # (修订后…什么时候施行: the revision and the effective date), all of them when it names none
        asked = [i for i in range(len(sentences)) if scores[i] > 0]
        return _join(reading.hit.text, sentences, list(range(len(sentences))) if whole or not asked else asked), highlight
    if whole or len(sentences) == 1:
        return reading.hit.text, highlight
    return _join(reading.hit.text, sentences, sorted(_context(sentences, marked))), highlight


def _join(text: str, sentences: list[str], chosen: list[int]) -> str:
    quote = ""
    for i in chosen:
        # Sentences adjacent in the article stay joined; others go on their own line
        joined = quote + sentences[i]
        quote = joined if joined in text else f"{quote}\n{sentences[i]}"
    return quote.strip("\n")


def _as_sentence(quote: str) -> str:
    quote = quote.strip().replace("\n", "")
    return quote[:-1] + "。" if quote.endswith(("；", ";", "，", "：", ":")) else quote if quote.endswith(("。", "！", "？")) else quote + "。"


def _sanctioning(index: Index, hits: list[Hit]) -> list[Hit]:
    """The articles sanctioning the first hit's article (its law's penalty articles that name it: 违反本法第三十五条
    规定的，……), at most MAX_SANCTIONS: the hit where retrieval ranked one, else its article's first part."""
    top = hits[0]
    labels = index.sanctions.sanctioning(top.doc_id, top.article)[:MAX_SANCTIONS] if top.article else []
    ranked = {(hit.doc_id, hit.article): hit for hit in hits}
    found = []
    for label in labels:
        if (top.doc_id, label) in ranked:
            found.append(ranked[(top.doc_id, label)])
        elif rows := index.chunk_rows(top.doc_id, label):
            found.append(Hit(chunk=index.chunks[rows[0]], score=0.0, scores={"sanction": 1.0}))
    return found


def read(index: Index, question: str, hits: list[Hit], calibration: Calibration | None = None, *, followup: bool = False) -> Answer:
    """The answer to `question` from `hits` (best first), or an abstention. A question asking several things,
    some of which no article of its one law mentions (unanswered_asks), is read for the rest, and the answer
    says which asks the law does not address. `followup`: the question was asked after earlier turns (the stance
    models read it: a rewritten follow-up's support reads otherwise)."""
    calibration = calibration or load_calibration(index.path)
    mismatch = calibration.mismatch(index)
    warnings = [mismatch] if mismatch else []
    unstated = unanswered_asks(index, question) if len(index.laws) == 1 else []
    asked = _without(question, unstated)
    weights = term_weights(index, index.names.as_self_reference(asked))
    readings = [_reading(h, weights) for h in hits[:READ_HITS]]
    support = measure_support(index, asked, hits, weights, followup=followup)
    stance, confidence = calibration.model_for(index).decide(support)
    if not hits or stance == Stance.NOT_COVERED:
        return Answer(question=question, text=ABSTAIN_TEXT, citations=[], passages=hits, stance=Stance.NOT_COVERED, confidence=confidence, warnings=warnings)
    lookup = bool(support.lookup)
    second = calibration.second_article
    chosen = [readings[0]]
    for reading in readings[1:]:
        pinned = "lookup" in reading.hit.scores or "definition" in reading.hit.scores
        if lookup and pinned:
            chosen.append(reading)
        elif not lookup and reading.support >= second.support * readings[0].support and reading.hit.score >= second.score * hits[0].score:
            chosen.append(reading)
    if not lookup and asks_sanction(asked):
        quoted = {(r.hit.doc_id, r.hit.article) for r in chosen}
        chosen += [_reading(hit, weights) for hit in _sanctioning(index, hits) if (hit.doc_id, hit.article) not in quoted]
    parts: list[str] = []
    citations: list[Citation] = []
    for number, reading in enumerate(chosen, start=1):
        hit = reading.hit
        # A named article is quoted whole, a short one whole (the law's record too, measured without its
        # header, when it is what answers), a defining one by its defining item; a long record, or one
        # cited beside the article that answers (施行日期 beside 第五十一条), by the facts asked for
        short = len("".join(reading.sentences) if hit.chunk.is_document else hit.text) <= calibration.whole_article_chars
        if hit.chunk.is_document:
            whole = (short and number == 1) or not reading.scores.any()
        else:
            whole = "lookup" in hit.scores or (short and "definition" not in hit.scores)
        quote, highlight = _quote(reading, whole)
        where = f"《{hit.law}》{hit.article}" if hit.article else f"《{hit.law}》的文件信息"
        if stance == Stance.RELATED:
            parts.append(f"{where}：{_as_sentence(quote)}[{number}]")
        elif lookup:
            parts.append(f"{where}规定：{_as_sentence(quote)}[{number}]")
        else:
            parts.append(f"{'根据' if number == 1 else '另据'}{where}，{_as_sentence(quote)}[{number}]")
        # Only where the sentence that answers is itself the deferral: a passing 按照有关规定 elsewhere
        # in the quote leaves nothing the question asked to other laws. A question naming no content
        # (第十五条讲了什么？) is answered by the whole article: the note only where all of it defers
        answering = [highlight] if reading.scores.any() else reading.sentences
        if number == 1 and stance == Stance.ANSWERED and all(defers(s) for s in answering):
            parts.append(deferral_note(hit.law))
        citations.append(Citation.of(hit, number, quote, highlight))
    if stance == Stance.RELATED:
        parts.insert(0, related_note([c.law for c in citations]))
    elif unstated and not lookup:
        parts.append(unstated_note(index.laws[0].title, unstated))
    return Answer(question=question, text="\n".join(parts), citations=citations, passages=hits, stance=stance, confidence=confidence, warnings=warnings)
