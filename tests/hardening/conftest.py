"""Shared checks of the hardening tests."""

from __future__ import annotations

import re

import pytest

from rag.answering.reader import ABSTAIN_TEXT, deferral_note, related_note
from rag.records import Answer, Stance

# One line per citation: "根据《法》第N条，<quote>[n]", "另据…", for a named article "《法》第N条规定：<quote>[n]",
# and for a related one "《法》第N条：<quote>[n]"
_LINE = re.compile(
    r"^(?:(?:根据|另据)《(?P<law>[^》]+)》(?P<article>第\S+?条(?:之\S+?)?|的文件信息)，"
    r"|《(?P<lookup_law>[^》]+)》(?P<lookup_article>第\S+?条(?:之\S+?)?|的文件信息)(?:规定)?：)"
    r"(?P<body>.+)\[(?P<number>\d+)\]$"
)
# The asks of a question that no article of the law mentions: “ask”；“ask”：《法》中没有涉及这一点的规定。
_UNSTATED = re.compile(r"^(?P<asks>“[^”]+”(?:；“[^”]+”)*)：《[^》]+》中没有涉及这一点的规定。$")
_SENTENCE_END = re.compile(r"[。；;！？!?]")


def assert_only_quotes(result: Answer) -> None:
    """Every sentence after the "根据《…》第N条，" lead-in is verbatim text of the article it cites
    (line breaks aside): the reader adds nothing of its own and follows no instruction. Its own sentences are
    fixed: where a deferral clause leaves the specific rule, that no provision answers directly (related), and
    which asks of the question no article mentions (each one a clause of the question)."""
    if result.abstained:
        assert result.text == ABSTAIN_TEXT and result.citations == []
        return
    laws = [c.law for c in result.citations]
    lines = [line for line in result.text.split("\n") if not result.citations or line != deferral_note(result.citations[0].law)]
    if result.stance == Stance.RELATED:
        assert lines[0] == related_note(laws)
        lines = lines[1:]
    # a quoted ask's own double quotes are single ones in the note: compare with both kinds made one
    plain = str.maketrans("‘’", "“”")
    asked = (result.rewritten_question or result.question).translate(plain)
    unstated = [line for line in lines if _UNSTATED.match(line)]
    for line in unstated:
        assert all(ask[1:-1].translate(plain) in asked for ask in _UNSTATED.match(line).group("asks").split("；"))
    lines = [line for line in lines if line not in unstated]
    assert len(lines) == len(result.citations) and [c.number for c in result.citations] == list(range(1, len(lines) + 1))
    for line, citation in zip(lines, result.citations):
        match = _LINE.match(line)
        assert match, f"not a quoting line: {line!r}"
        law = match.group("law") or match.group("lookup_law")
        article = match.group("article") or match.group("lookup_article")
        assert int(match.group("number")) == citation.number
        assert law == citation.law and article == (citation.article or "的文件信息")
        source = citation.text.replace("\n", "")
        for sentence in _SENTENCE_END.split(match.group("body")):
            assert sentence.strip() in source, f"{sentence!r} is not in {citation.label}"


@pytest.fixture(scope="session")
def only_quotes():
    """assert_only_quotes, for the test modules (conftest is not importable under --import-mode=importlib)."""
    return assert_only_quotes
