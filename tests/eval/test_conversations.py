"""Conversation question sets: turns parsed into questions, later turns answered with the earlier answers."""

import json

import pytest

from eval.harness import Config, evaluate
from eval.questions import Catalog, LawArticle, QuestionSetError, parse_questions
from rag.records import Answer, Chunk, Citation, Hit, Stance

LAW, DOC_ID = "测试条例", "law-1"
CATALOG = Catalog(frozenset(LawArticle(LAW, label, DOC_ID) for label in ["", "第一条", "第二条"]))


def line(**record) -> str:
    return json.dumps(record, ensure_ascii=False)


CONVERSATION = line(
    id="c1",
    type="ordinal",
    turns=[
        {"question": "第一条讲了什么？", "gold": [{"law": LAW, "article": "第一条"}], "keywords": ["甲"]},
        {"question": "下一条呢？", "gold": [{"law": LAW, "article": "第二条"}]},
    ],
)


def test_turns_become_questions_of_one_conversation():
    first, second = parse_questions([CONVERSATION])
    assert (first.id, first.turn, first.conversation, first.type) == ("c1#1", 1, "c1", "首轮")
    assert (second.id, second.turn, second.type) == ("c1#2", 2, "追问·ordinal")
    assert first.keywords == ("甲",) and second.gold[0].article == "第二条"


def test_a_bad_turn_names_its_position():
    bad = line(id="c2", turns=[{"question": "一？", "gold": []}, {"question": "", "gold": []}])
    with pytest.raises(QuestionSetError, match=r"turns\[1\] 缺少 question"):
        parse_questions([bad])
    with pytest.raises(QuestionSetError, match="turns 应为非空"):
        parse_questions([line(id="c3", turns=[])])


def hit(label: str, rank: int) -> Hit:
    return Hit(Chunk(f"c-{label}", DOC_ID, LAW, label, 0, 0, f"{label}的正文"), 1.0, rank)


def test_later_turns_get_the_earlier_answers_and_are_ranked_by_what_was_read():
    seen_histories: list[list[str]] = []

    def answer(question: str, history=()) -> Answer:
        seen_histories.append([a.question for a in history])
        label = "第一条" if not history else "第二条"  # the follow-up resolved from the history
        citation = Citation(1, LAW, label, DOC_ID, "", "")
        return Answer(question, f"{label}：甲", [citation], [hit(label, 1)], Stance.ANSWERED)

    config = Config("fake", lambda q, k: [hit("第一条", 1)], answer, lambda: CATALOG)
    report = evaluate(parse_questions([CONVERSATION]), [config], progress=False)
    first, second = report.configs[0].rows
    assert seen_histories == [[], ["第一条讲了什么？"]]
    assert second.ranks == [1] and second.answer_ok
    assert report.configs[0].summary.metrics["followup_answer_ok"] == 1.0
    assert report.configs[0].by_type["追问·ordinal"].metrics["recall@1"] == 1.0
