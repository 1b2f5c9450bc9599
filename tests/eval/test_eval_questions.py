"""Question-set loading: the validator's messages, bare gold labels, and gold checked against an index."""

import json
from pathlib import Path

import pytest

from eval.questions import (
    Catalog,
    EvalError,
    LawArticle,
    QuestionSetError,
    load_questions,
    parse_questions,
    resolve_gold,
)
from rag.ingest.chunks import chunk_laws
from rag.ingest.laws import load_laws

ROOT = Path(__file__).resolve().parents[2]
SEED_SETS = [ROOT / "eval" / "questions" / "seed_dev.jsonl", ROOT / "eval" / "questions" / "seed_test.jsonl"]
LAW = "甲法"


def line(**record) -> str:
    return json.dumps(record, ensure_ascii=False)


def catalog(*articles: LawArticle) -> Catalog:
    return Catalog(frozenset(articles))


SINGLE = catalog(*(LawArticle(LAW, label, "d1") for label in ("", "第一条", "第二条", "第五十四条")))
LIBRARY = catalog(*SINGLE.articles, LawArticle("乙法", "第一条", "d2"), LawArticle("乙法", "", "d2"))


def test_valid_line():
    [question] = parse_questions(
        [line(id="q1", question=" 问？ ", gold=[{"law": LAW, "article": "第一条"}], type="lookup", keywords=["甲"])]
    )
    assert question.id == "q1" and question.question == "问？" and question.line == 1
    assert question.gold == (LawArticle(LAW, "第一条"),)
    assert question.type == "lookup" and question.keywords == ("甲",) and question.answerable


def test_malformed_lines_are_reported_with_their_line_numbers():
    lines = [
        line(id="q1", question="一", gold=[]),
        '{"id": "q2", "question": ',
        "",
        "[1, 2]",
        line(id="q5", gold={"law": LAW}),
        line(id="q1", question="重复", gold=[]),
        line(id="q7", question="七", gold=[{"law": LAW, "article": "第三款"}, {"law": LAW}]),
        line(id="q8", question="八", gold=[], keywords="甲"),
        line(id="", question="九", gold=[True]),
    ]
    with pytest.raises(QuestionSetError) as caught:
        parse_questions(lines, "set.jsonl")
    problems = [(p.line, p.message) for p in caught.value.problems]
    assert [n for n, _ in problems] == [2, 4, 5, 5, 6, 7, 7, 8, 9, 9]
    messages = dict(problems)
    assert "不是合法的 JSON" in messages[2]
    assert "应为 JSON 对象" in messages[4]
    assert any("缺少 question" in m for n, m in problems if n == 5)
    assert any("gold 应为列表" in m for n, m in problems if n == 5)
    assert "与第 1 行重复" in messages[6]
    assert any("“第三款” 不是条文编号" in m for n, m in problems if n == 7)
    assert any("gold[1] 缺少 article" in m for n, m in problems if n == 7)
    assert "keywords" in messages[8]
    assert any("缺少 id" in m for n, m in problems if n == 9)
    assert any("gold[0]" in m for n, m in problems if n == 9)
    text = str(caught.value)
    assert text.startswith("问题集 set.jsonl 有 10 处错误")
    assert "第 2 行：不是合法的 JSON" in text and "第 6 行：id “q1” 与第 1 行重复" in text


def test_gold_labels_are_normalised_and_deduplicated():
    [question] = parse_questions(
        [line(id="q", question="问", gold=["第五十四条", 54, "54", {"article": "第54条"}, {"law": LAW, "article": ""}])]
    )
    assert question.gold == (LawArticle("", "第五十四条"), LawArticle(LAW, ""))


def test_bare_labels_take_the_title_of_a_single_law_index():
    questions = parse_questions([line(id="q", question="问", gold=[54, {"law": LAW, "article": "第五十四条"}])])
    resolution = resolve_gold(questions, SINGLE)
    assert resolution.questions[0].gold == (LawArticle(LAW, "第五十四条", "d1"),)
    assert resolution.missing == [] and resolution.skipped == []


def test_bare_labels_over_a_library_are_an_error():
    questions = parse_questions([line(id="q", question="问", gold=[]), line(id="r", question="问", gold=[1])])
    with pytest.raises(QuestionSetError) as caught:
        resolve_gold(questions, LIBRARY)
    assert str(caught.value.problems[0]) == "第 2 行：第一条 没有写明法规，而索引中有 2 部法规"


def test_gold_missing_from_the_index_is_reported_and_left_out():
    questions = parse_questions(
        [
            line(id="partly", question="问", gold=[{"law": LAW, "article": "第一条"}, {"law": LAW, "article": "第九条"}]),
            line(id="none", question="问", gold=[{"law": "丙法", "article": "第一条"}]),
            line(id="wrong-id", question="问", gold=[{"law": LAW, "article": "第一条", "doc_id": "zzz"}]),
            line(id="unanswerable", question="问", gold=[]),
        ]
    )
    resolution = resolve_gold(questions, LIBRARY)
    assert [q.id for q in resolution.questions] == ["partly", "unanswerable"]
    assert resolution.questions[0].gold == (LawArticle(LAW, "第一条", "d1"),)
    assert resolution.skipped == ["none", "wrong-id"]
    reasons = {m.question_id: m.reason for m in resolution.missing}
    assert reasons == {
        "partly": "不在索引中：该法规没有这一条",
        "none": "不在索引中：索引里没有名为《丙法》的法规",
        "wrong-id": "不在索引中：索引里没有 doc_id 为 zzz 的法规",
    }
    assert str(resolution.missing[0]) == "第 1 行（partly）：《甲法》第九条 不在索引中：该法规没有这一条"


def test_a_title_shared_by_two_laws_keeps_matching_by_title():
    twins = catalog(LawArticle(LAW, "第一条", "d1"), LawArticle(LAW, "第一条", "d3"), LawArticle(LAW, "第二条", "d3"))
    questions = parse_questions(
        [line(id="q", question="问", gold=[{"law": LAW, "article": "第一条"}, {"law": LAW, "article": "第二条"}])]
    )
    assert resolve_gold(questions, twins).questions[0].gold == (LawArticle(LAW, "第一条"), LawArticle(LAW, "第二条", "d3"))


def test_load_questions_limit_and_missing_file(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(line(id=f"q{i}", question="问", gold=[]) for i in range(5)) + "\n", encoding="utf-8")
    assert [q.id for q in load_questions(path, limit=2)] == ["q0", "q1"]
    with pytest.raises(EvalError, match="找不到问题集"):
        load_questions(tmp_path / "absent.jsonl")
    with pytest.raises(EvalError, match="limit"):
        load_questions(path, limit=0)
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(EvalError, match="没有问题"):
        load_questions(tmp_path / "empty.jsonl")


@pytest.mark.parametrize("path", SEED_SETS, ids=lambda p: p.name)
def test_shipped_seed_sets_hold_only_articles_of_the_bundled_law(path, seed_path):
    laws, errors = load_laws([seed_path])
    assert not errors
    bundled = Catalog(frozenset(LawArticle(c.law, c.article, c.doc_id) for c in chunk_laws(laws)))
    questions = load_questions(path)
    resolution = resolve_gold(questions, bundled)
    assert resolution.missing == [] and resolution.skipped == []
    assert {q.type for q in questions} == {"everyday", "lookup", "metadata", "unanswerable", "english"}
    assert all(q.answerable == (q.type != "unanswerable") for q in questions)
