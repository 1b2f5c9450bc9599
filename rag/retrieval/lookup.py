"""Article numbers a question names: 第十五条, 第 15 条, 15条, Article 15."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..ingest import CN_NUMBER, cn_to_int, make_label

__all__ = ["ArticleRef", "find_article_refs"]

# 第十五条 / 第 15 条 / 15条 / 三十二条 / Article 15; a one-character numeral before 条 (一条规定) is not one.
_REF = re.compile(
    rf"第\s*(?P<num>{CN_NUMBER})\s*条(?:\s*之\s*(?P<sub>{CN_NUMBER}))?"
    r"|(?<![\d.])(?P<arabic>\d{1,4})\s*条(?!件|例)"
    r"|(?<![第零一二三四五六七八九十百])(?P<bare>[一二三四五六七八九十百零]{2,7})条(?!件|例)"
    r"|\barticle\s+(?P<english>\d{1,4})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArticleRef:
    label: str  # 第十五条
    start: int  # position in the question, to pair it with the law named just before it
    end: int


def find_article_refs(question: str) -> list[ArticleRef]:
    text = unicodedata.normalize("NFKC", question)
    refs: list[ArticleRef] = []
    for match in _REF.finditer(text):
        number = match.group("num") or match.group("arabic") or match.group("bare") or match.group("english")
        try:
            value = cn_to_int(number)
            sub = cn_to_int(match.group("sub")) if match.group("sub") else 0
            label = make_label(value, sub)
        except ValueError:
            continue
        refs.append(ArticleRef(label, match.start(), match.end()))
    return refs
