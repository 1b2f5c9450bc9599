"""Hits → an extractive Answer: quote the sentences of the top articles that answer the question,
each with a numbered citation, or abstain when no article supports it.

The reader never writes a claim of its own: every sentence after "根据《…》第N条，" is a quote."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .index import Index
from .lexical import content_terms
from .records import Answer, Citation, Hit

__all__ = ["Support", "AbstainRule", "measure_support", "read", "split_sentences", "ABSTAIN_TEXT"]

ABSTAIN_TEXT = "抱歉，已收录的法规中没有找到能回答这个问题的条文。下面列出最接近的条文，仅供参考。"
_SENTENCE = re.compile(r"[^。；;！？!?\n]+[。；;！？!?]?")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


@dataclass(frozen=True)
class Support:
    """How well the top articles support an answer; the abstention decision reads these."""

    lexical: float  # idf-weighted share of the question's content terms found in the top article
    sentence: float  # best cosine between the question and one sentence of the top article
    dense: float  # cosine of the top article
    margin: float  # dense cosine of the top article minus that of the second
    lookup: bool  # the question named the article
    asks_quantity: bool = False  # the question wants an amount, a time, a duration or contact details
    has_quantity: bool = False  # the top article states some number or date
    other_region: str = ""  # a province the question names that a local law does not cover
    chinese: bool = True  # the question has Chinese content terms (else lexical support says nothing)


@dataclass(frozen=True)
class AbstainRule:
    """Abstain when the question asks for an amount/time the top articles never state, asks about a
    region a local regulation does not cover, or shares too little with the top article: lexically for
    Chinese questions, semantically (best sentence cosine) for questions in other languages.
    Thresholds were set on the seed dev set (eval/questions/seed_dev.jsonl); README gives the numbers."""

    min_lexical: float = 0.05
    min_sentence: float = 0.78

    def abstains(self, support: Support) -> bool:
        if support.lookup:
            return False
        if support.other_region or (support.asks_quantity and not support.has_quantity):
            return True
        if support.chinese:
            return support.lexical < self.min_lexical
        return support.sentence < self.min_sentence


# Expected-answer-type cues: questions whose answer is a number, a date, a duration or contact details
_ASKS_QUANTITY = re.compile(
    r"多少|几点|几月|几号|几天|几年|几个小时|几小时|多久|多长时间|多大|多高|金额|费用|收费|价格|电价|工资|"
    r"网址|电话|地址|how (?:much|many|long)|what (?:time|date)|when (?:does|did|will|is|was)",
    re.IGNORECASE,
)
_QUANTITY = re.compile(r"\d|[零一二三四五六七八九十百千万两]+(?:元|年|个月|月|日|天|小时|倍|人|项|次|％|%)|百分之")
_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 "
    "四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
).split()


def _other_region(question: str, law_title: str) -> str:
    """A province named in the question when the law is a local one of another province."""
    home = next((p for p in _PROVINCES if law_title.startswith(p)), None)
    if home is None:
        return ""
    return next((p for p in _PROVINCES if p != home and p in question), "")


def _term_weights(index: Index, question: str) -> dict[str, float]:
    terms = content_terms(question)
    idf = {t: index.lexical.idf(t) for t in terms}
    unseen = max(idf.values(), default=1.0) or 1.0  # a term no law contains is as telling as the rarest
    return {t: (w if w > 0 else unseen) for t, w in idf.items()}


def _coverage(weights: dict[str, float], text: str) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in text) / total if total else 0.0


@dataclass
class _Reading:
    hit: Hit
    sentences: list[str]
    lexical: list[float]
    semantic: list[float]

    def scores(self) -> np.ndarray:
        return np.array(self.lexical) + np.array(self.semantic)


def _readings(index: Index, question: str, hits: list[Hit], weights: dict[str, float]) -> list[_Reading]:
    readings = [_Reading(h, split_sentences(h.text) or [h.text], [], []) for h in hits]
    flat = [s for r in readings for s in r.sentences]
    query = index.embedder.encode_queries([question])[0]
    sentence_vectors = index.embedder.encode_passages(flat) if flat else np.zeros((0, len(query)))
    cosines = iter((sentence_vectors @ query).tolist())
    for reading in readings:
        reading.lexical = [_coverage(weights, s) for s in reading.sentences]
        reading.semantic = [next(cosines) for _ in reading.sentences]
    return readings


def measure_support(index: Index, question: str, hits: list[Hit]) -> tuple[Support, list[_Reading]]:
    weights = _term_weights(index, question)
    readings = _readings(index, question, hits[:3], weights) if hits else []
    if not hits:
        return Support(0.0, 0.0, 0.0, 0.0, False), readings
    top = hits[0]
    dense = [h.scores.get("dense", 0.0) for h in hits[:2]]
    return (
        Support(
            lexical=_coverage(weights, top.text + " ".join(top.chunk.path)),
            sentence=max(readings[0].semantic, default=0.0),
            dense=dense[0],
            margin=dense[0] - dense[1] if len(dense) > 1 else dense[0],
            lookup="lookup" in top.scores,
            asks_quantity=bool(_ASKS_QUANTITY.search(question)),
            has_quantity=bool(_QUANTITY.search(top.text)),
            other_region=_other_region(question, top.law),
            chinese=any(not t.isascii() for t in weights),
        ),
        readings,
    )


def _quote(reading: _Reading, whole: bool) -> str:
    """The best sentence (with the items that follow a sentence ending in '：'), or the whole article."""
    if whole or len(reading.sentences) == 1:
        return reading.hit.text
    scores = reading.scores()
    best = int(np.argmax(scores))
    chosen = [best]
    if reading.sentences[best].endswith(("：", ":")):
        chosen += list(range(best + 1, min(best + 6, len(reading.sentences))))
    else:
        second = max((i for i in range(len(scores)) if i != best), key=lambda i: scores[i], default=None)
        if second is not None and scores[second] >= 0.9 * scores[best]:
            chosen.append(second)
    quote = ""
    for i in sorted(chosen):
        # Sentences adjacent in the article stay joined; others go on their own line
        joined = quote + reading.sentences[i]
        quote = joined if joined in reading.hit.text else f"{quote}\n{reading.sentences[i]}"
    return quote.strip("\n")


def _as_sentence(quote: str) -> str:
    quote = quote.strip().replace("\n", "")
    return quote[:-1] + "。" if quote.endswith(("；", ";", "，", "：", ":")) else quote if quote.endswith(("。", "！", "？")) else quote + "。"


def read(index: Index, question: str, hits: list[Hit], rule: AbstainRule = AbstainRule()) -> Answer:
    support, readings = measure_support(index, question, hits)
    if not hits or rule.abstains(support):
        return Answer(question=question, text=ABSTAIN_TEXT, citations=[], passages=hits, abstained=True)
    lookup = support.lookup
    top_score = float(readings[0].scores().max())
    chosen = [readings[0]]
    for reading in readings[1:]:
        if lookup and "lookup" in reading.hit.scores:
            chosen.append(reading)
        elif not lookup and float(reading.scores().max()) >= 0.95 * top_score and reading.hit.score >= 0.8 * hits[0].score:
            chosen.append(reading)
    parts: list[str] = []
    citations: list[Citation] = []
    for number, reading in enumerate(chosen, start=1):
        hit = reading.hit
        quote = _quote(reading, whole=lookup)
        where = f"《{hit.law}》{hit.article}" if hit.article else f"《{hit.law}》的文件信息"
        if lookup:
            parts.append(f"{where}规定：{_as_sentence(quote)}[{number}]")
        else:
            parts.append(f"{'根据' if number == 1 else '另据'}{where}，{_as_sentence(quote)}[{number}]")
        citations.append(Citation.of(hit, number, quote))
    return Answer(question=question, text="\n".join(parts), citations=citations, passages=hits, abstained=False)
