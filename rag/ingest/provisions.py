"""The provisions every law has by convention, which questions ask for by name: its purpose (为了……，制定本法),
its scope (本法适用于…… / 在本省行政区域内……，适用本条例) and its commencement (本法自……起施行).

A question asking for one (这部条例的立法目的是什么？ 民法典的适用范围？) pins the law's provision the way a named
article is pinned: retrieval cannot find it by its words, which the question does not share with it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Literal

from ..records import Chunk

__all__ = ["Provision", "ProvisionKind", "ProvisionTable", "asked_provision"]

ProvisionKind = Literal["purpose", "scope", "commencement"]

# What a law calls itself: 本法, 本条例, 本规定, 本办法… (sanctions.py reads it too)
SELF_REFERENCE = r"本(?:法|法典|条例|规定|办法|细则|决定|规则|准则|解释)"
_PURPOSE = re.compile(rf"制定{SELF_REFERENCE}")
_SCOPE = re.compile(rf"适用{SELF_REFERENCE}|{SELF_REFERENCE}(?:适用于|调整)|遵守{SELF_REFERENCE}|{SELF_REFERENCE}的(?:适用|调整)范围")
_COMMENCEMENT = re.compile(rf"{SELF_REFERENCE}自.{{0,40}}?施行")
# The purpose is stated in the first articles, the scope right after it
_PURPOSE_WITHIN = 3
_SCOPE_WITHIN = 6


@dataclass(frozen=True)
class Provision:
    kind: ProvisionKind
    doc_id: str
    article: str  # label: 第一条


class ProvisionTable:
    """Each law's purpose, scope and commencement articles, found in its chunks (in article order)."""

    def __init__(self, chunks: Iterable[Chunk]):
        self._by_law: dict[tuple[str, ProvisionKind], list[str]] = {}
        position: dict[str, list[str]] = {}  # doc id → its article labels seen so far
        for chunk in chunks:
            if chunk.is_document:
                continue
            labels = position.setdefault(chunk.doc_id, [])
            if not labels or labels[-1] != chunk.article:
                labels.append(chunk.article)
            nth = len(labels)
            if nth <= _PURPOSE_WITHIN and _PURPOSE.search(chunk.text):
                self._add("purpose", chunk.doc_id, chunk.article)
            if nth <= _SCOPE_WITHIN and _SCOPE.search(chunk.text):
                self._add("scope", chunk.doc_id, chunk.article)
            if "施行" in chunk.text and _COMMENCEMENT.search(chunk.text):
                # The last article saying so: a law's own commencement follows any transitional dates
                self._by_law[("commencement", chunk.doc_id)] = [chunk.article]

    def _add(self, kind: ProvisionKind, doc_id: str, article: str) -> None:
        found = self._by_law.setdefault((kind, doc_id), [])
        if article not in found:
            found.append(article)

    def find(self, kind: ProvisionKind, doc_ids: Iterable[str]) -> list[Provision]:
        """The provisions of that kind of the given laws, in the laws' order then article order."""
        return [Provision(kind, doc_id, label) for doc_id in doc_ids for label in self._by_law.get((kind, doc_id), [])]


# Questions that ask for a provision by what it is, not by its words
_ASKS: tuple[tuple[ProvisionKind, re.Pattern], ...] = (
    (
        "purpose",
        re.compile(
            r"立法(?:目的|宗旨|意图|初衷)|(?:制定|出台).{0,12}?的?(?:目的|宗旨|初衷)|(?:条例|法|法规|法典|规定|办法|细则)的?(?:目的|宗旨|初衷)|"
            r"(?<!的)目的是什么|宗旨是什么|为什么(?:要)?(?:专门)?(?:制定|出台|颁布|立)|为何(?:要)?(?:制定|出台|颁布)|"
            r"为了什么(?:而|才)?(?:制定|出台)|(?:制定|出台).{0,12}(?:是为了什么|为了什么|想达到什么)"
        ),
    ),
    (
        "scope",
        re.compile(
            r"适用范围|调整范围|适用于(?:哪些|什么|谁|哪)|适用(?:哪些|什么)(?:人|地方|地区|范围|情形|活动|主体|对象|单位)|"
            r"对(?:谁|哪些)适用|(?:在)?哪些(?:地方|地区|范围|情况|活动)(?:下)?适用|管(?:哪些|什么)(?:事|范围)|调整(?:哪些|什么)(?:关系|范围|对象)"
        ),
    ),
    ("commencement", re.compile(r"(?:什么时候|何时|哪天|哪一天|哪年|几月几[日号])(?:开始|起)?(?:施行|生效|实施|执行)|(?:施行|生效|实施)(?:日期|时间)")),
)
# A question about an article (这条的目的是什么？ 第五条适用于哪些人？) asks about that article, not the law
_ABOUT_ARTICLE = re.compile(r"第\s*[零〇一二三四五六七八九十百千\d]+\s*[条款项]|(?:本|该|这一?|此|上一|下一)[条款项]")


def asked_provision(question: str) -> tuple[ProvisionKind, str] | None:
    """The kind of provision a question asks for (purpose for 立法目的是什么 / 为什么要制定这个条例, scope for
    适用范围 / 适用于哪些人, commencement for 什么时候施行) and the question without the words that ask it;
    None for other questions and for questions about an article."""
    text = unicodedata.normalize("NFKC", question)
    if _ABOUT_ARTICLE.search(text):
        return None
    for kind, asks in _ASKS:
        match = asks.search(text)
        if match:
            return kind, text[: match.start()] + " " + text[match.end() :]
    return None
