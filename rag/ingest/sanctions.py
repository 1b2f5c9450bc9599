"""The articles that sanction breaking another article of the same law, read from the law's own cross-references:
a penalty article names the duty it enforces (旅行社违反本法第三十五条规定的，……并处三万元以上三十万元以下罚款).

A question asking what follows from an act (会被怎么罚？ 有什么后果？) is answered by the penalty article, which
shares few words with it; retrieval finds the article on the act (the duty) instead, and the table leads from
that article to the ones sanctioning it (the reader quotes them after it)."""

from __future__ import annotations

import re
from typing import Iterable

from ..records import Chunk
from .numerals import CN_NUMBER, cn_to_int, make_label
from .provisions import SELF_REFERENCE

__all__ = ["SanctionTable", "asks_sanction", "MAX_SANCTIONS"]

MAX_SANCTIONS = 2  # sanctioning articles quoted after one article (a general duty may be enforced by many)

# A reference to the law's own articles: 本法第三十五条, 第二十四条第一款, 第四十三条至第四十五条, 第二十三条、第二十七条
_ARTICLE = rf"第{CN_NUMBER}条(?:第{CN_NUMBER}款)?(?:第[（(]?{CN_NUMBER}[)）]?项)?"
_REFERENCE = re.compile(rf"(?:违反|不履行|未履行|未依照|未按照|不依照|不按照){SELF_REFERENCE}((?:{_ARTICLE}(?:、|，|和|或者|及|以及|至)?)+)")
_NUMBER = re.compile(rf"第({CN_NUMBER})条")
# A sanctioning article imposes something: a penalty, an order, liability
_SANCTIONS = re.compile(r"罚|处分|责令|吊销|拘留|没收|追究|赔偿|停业|撤销")
# A question asking what follows from an act: 会被怎么罚？ 有什么后果？ 要承担什么责任？ 会被怎么处理？ (not
# 个人信息怎么处理, which asks how to process)
_ASKS = re.compile(r"罚|后果|法律责任|承担.{0,4}责任|追究|吊销|拘留|处分|被(?:怎么|如何|怎样)?处理|违反.{0,12}?(?:怎么|如何|怎样)处理|会怎么样")


def asks_sanction(question: str) -> bool:
    """Whether the question asks what follows from an act (a penalty, liability, consequences)."""
    return bool(_ASKS.search(question))


class SanctionTable:
    """For each article, the articles of its law that sanction breaking it (in article order)."""

    def __init__(self, chunks: Iterable[Chunk]):
        self._by_article: dict[tuple[str, str], list[str]] = {}
        for chunk in chunks:
            if chunk.is_document or not _SANCTIONS.search(chunk.text):
                continue
            for match in _REFERENCE.finditer(chunk.text):
                numbers = [cn_to_int(n) for n in _NUMBER.findall(match.group(1))]
                if "至" in match.group(1) and len(numbers) == 2 and numbers[0] < numbers[1]:
                    numbers = list(range(numbers[0], numbers[1] + 1))
                for number in numbers:
                    label = make_label(number)
                    found = self._by_article.setdefault((chunk.doc_id, label), [])
                    if label != chunk.article and chunk.article not in found:
                        found.append(chunk.article)

    def sanctioning(self, doc_id: str, article: str) -> list[str]:
        """Labels of the articles of law `doc_id` that sanction breaking `article`."""
        return list(self._by_article.get((doc_id, article), []))
