"""retrieve() and answer() over the default index of the bundled law, with the real offline model."""

import pytest

from rag import InvalidQuestion, Stance, answer, retrieve
from rag.answering.reader import ABSTAIN_TEXT, related_note

LAW = "贵州省大数据发展应用促进条例"


@pytest.fixture(autouse=True)
def _index(seed_index):
    return seed_index


@pytest.mark.parametrize(
    "question, label",
    [
        ("第十五条讲了什么？", "第十五条"),
        ("条例第13条是什么内容", "第十三条"),
        ("15条怎么规定的", "第十五条"),
        ("第五十一条", "第五十一条"),
        ("What does Article 12 say?", "第十二条"),
    ],
)
def test_named_article_comes_first(question, label):
    hits = retrieve(question, k=5)
    assert hits[0].article == label
    assert hits[0].scores.get("lookup") == 1.0


def test_a_defined_term_asked_what_it_includes_pins_its_definition():
    hits = retrieve("公共机构都包括哪些单位？", k=3)
    assert hits[0].article == "第五十条" and "definition" in hits[0].scores
    # Asked of a named article, that article first and the term's definition beside it
    hits = retrieve(f"《{LAW}》第四十一条说的公共机构都包括哪些单位？", k=3)
    assert [h.article for h in hits[:2]] == ["第四十一条", "第五十条"]
    assert "lookup" in hits[0].scores and "definition" in hits[1].scores
    assert [c.article for c in answer(f"《{LAW}》第四十一条说的公共机构都包括哪些单位？").citations] == ["第四十一条", "第五十条"]


def test_hits_are_ranked_distinct_articles_with_metadata():
    hits = retrieve("数据中心用电有什么支持政策？", k=10)
    assert [h.rank for h in hits] == list(range(1, 11))
    assert len({(h.doc_id, h.article) for h in hits}) == 10
    assert all(h.law == LAW and h.chunk.url.startswith("https://") for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_effective_date(mode):
    hits = retrieve("本条例自什么时候起施行", k=3, mode=mode)
    assert "第五十一条" in [h.article for h in hits]


@pytest.mark.parametrize("name", [LAW, LAW[3:], f"《{LAW}》"])
def test_naming_the_law_ranks_as_asking_about_this_regulation(name):
    # The title's words are in 第二条 and 第三条; left in the query they outranked 第五十一条
    assert [h.article for h in retrieve(f"{name}什么时候施行？", k=3)] == [h.article for h in retrieve("本条例什么时候施行？", k=3)]


def test_bm25_mode_answers_and_its_hits_carry_the_dense_score_abstention_reads():
    result = answer("条例什么时候施行？", mode="bm25")
    assert not result.abstained and result.citations[0].article == "第五十一条"
    assert all("dense" in hit.scores and "bm25" in hit.scores for hit in result.passages)
    assert not any("dense" in hit.scores for hit in retrieve("条例什么时候施行？", k=3, mode="bm25")), "retrieve() alone encodes nothing in bm25 mode"


def test_answer_quotes_the_article_with_a_numbered_citation():
    result = answer("条例什么时候施行？")  # its commencement article, pinned like a named one
    assert not result.abstained
    assert result.text.startswith(f"《{LAW}》第五十一条规定：")
    assert "2026年1月1日" in result.text and "[1]" in result.text
    first = result.citations[0]
    assert (first.number, first.article, first.law) == (1, "第五十一条", LAW)
    assert first.quote in first.text


def test_every_citation_marker_points_at_a_citation_and_quotes_are_verbatim():
    for question in ["数据中心用电有什么支持政策？", "违反条例要承担什么责任？", "公共数据怎么共享？"]:
        result = answer(question)
        for citation in result.citations:
            assert f"[{citation.number}]" in result.text
            for sentence in citation.quote.split("\n"):
                assert sentence in citation.text


def test_document_record_answers_who_enacted_it():
    result = answer("这部条例是谁制定的？")
    assert not result.abstained
    assert result.citations[0].article == ""
    assert "贵州省人民代表大会常务委员会" in result.text


def test_a_question_the_law_does_not_concern_is_not_covered_and_still_lists_closest_articles():
    result = answer("贵阳市地铁几点停运？")
    assert result.stance == Stance.NOT_COVERED and result.abstained
    assert result.text == ABSTAIN_TEXT
    assert result.citations == []
    assert len(result.passages) > 0


def test_a_near_topic_question_is_not_answered_but_quoted_as_related():
    # the law has 数据标注 articles, but no wage standard: it says so and quotes the related article
    result = answer("数据标注员的最低工资标准是多少？")
    assert result.stance == Stance.RELATED and not result.abstained
    assert result.text.startswith(related_note([result.citations[0].law]))
    assert result.citations and all(f"[{c.number}]" in result.text for c in result.citations)


def _english_dev_questions():
    from pathlib import Path

    from eval.questions import load_questions

    return [q for q in load_questions(Path(__file__).parents[2] / "eval" / "questions" / "seed_dev.jsonl") if q.type == "english"]


@pytest.mark.parametrize("question", _english_dev_questions(), ids=lambda q: q.id)
def test_english_question_is_answered_from_the_chinese_text(question):
    result = answer(question.question)
    assert not result.abstained
    assert {c.article for c in result.citations} & {g.article for g in question.gold}


def test_follow_up_is_rewritten_from_history():
    first = answer("第十五条讲了什么？")
    second = answer("第二款呢？", history=[first])
    assert second.rewritten_question.startswith(f"《{LAW}》第十五条第二款")
    assert second.citations[0].article == "第十五条"
    # A follow-up with a frame of its own: the penalty article (第八章 法律责任) answers it, not the subject before
    third = answer("那违反了怎么处罚？", history=[answer("数据中心用电有什么支持政策？")])
    assert "处罚" in third.rewritten_question
    assert third.citations[0].article == "第四十九条"
    alone = answer("今天天气怎么样", history=[first, second])
    assert alone.rewritten_question == ""


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "为空"),
        ("   \n\t ", "为空"),
        ("问" * 10_000, "过长"),
        (b"\x00\x01", "二进制"),
        ("\x00\x01\x02\x03\ufffd\ufffd\ufffd\ufffd", "无法识别"),
        ("\ufffd\ufffd\ufffd\ufffd?", "无法识别"),
        (None, "文字"),
    ],
)
def test_bad_questions_get_a_clear_error(bad, message):
    with pytest.raises(InvalidQuestion, match=message):
        answer(bad)


def test_missing_index_directory_is_a_clear_error(tmp_path):
    from rag import IndexUnavailable

    with pytest.raises(IndexUnavailable, match="rag index"):
        answer("条例什么时候施行？", index=tmp_path / "nowhere")


def test_an_english_question_about_the_effective_date_is_answered():
    result = answer("When does this regulation take effect?")
    assert not result.abstained
    assert result.citations[0].article == "第五十一条"
