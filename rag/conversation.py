"""Follow-up questions: rewrite '那违反了怎么处罚？' or '第二款呢？' into a standalone question
using the previous turn, before retrieval."""

from __future__ import annotations

import re
from typing import Sequence

from .lexical import content_terms
from .lookup import find_article_refs
from .records import Answer

__all__ = ["rewrite_question"]

_LEAD = re.compile(r"^(那么|那|还有|另外|此外|并且|而且|然后|如果是|要是|这个|这条|该条|它)[，,、\s]*")
_PARAGRAPH = re.compile(r"^第[一二三四五六七八九十\d]+[款项]")
_SHORT = 2  # questions with fewer content terms than this lean on the previous turn


def _core(text: str) -> str:
    return re.sub(r"[？?。！!\s]+$", "", text)


def rewrite_question(question: str, history: Sequence[Answer]) -> str:
    """The question as it would be asked without the conversation; unchanged when it stands alone."""
    if not history:
        return question
    previous = history[-1]
    before = previous.rewritten_question or previous.question
    if find_article_refs(question) and not _PARAGRAPH.match(question):
        return question
    if _PARAGRAPH.match(question) and previous.citations:
        cited = previous.citations[0]
        return f"《{cited.law}》{cited.article}{_core(question).rstrip('呢')}是什么？"
    if _LEAD.match(question) or question.rstrip("？? ").endswith("呢") or len(content_terms(question)) < _SHORT:
        rest = _LEAD.sub("", question)
        return f"{_core(before)}，{rest}"
    return question
