"""Follow-up questions rewritten into standalone ones over the real seed index, one test per kind of
follow-up; the checks are structural (which article is named, which subject replaced which), not
whole strings."""

import shutil

import pytest

from rag import answer, retrieve
from rag.index.build import build_index, open_index
from rag.records import Answer, Citation, Stance
from rag.retrieval.conversation import CUES, Candidate, rewrite_question, score

LAW = "贵州省大数据发展应用促进条例"


@pytest.fixture(scope="module")
def index(seed_index):
    return seed_index


def _turn(index, *labels: str, question: str = "上一个问题", law: str = LAW) -> Answer:
    """A previous turn whose answer cited these articles of the law (the bundled one unless told)."""
    doc_id = next(item.doc_id for item in index.laws if item.title == law)
    citations = []
    for number, label in enumerate(labels, start=1):
        chunk = index.chunks[index.chunk_rows(doc_id, label)[0]]
        citations.append(Citation(number, chunk.law, label, chunk.doc_id, chunk.text, chunk.text))
    return Answer(question=question, text="", citations=citations, passages=[], stance=Stance.ANSWERED)


def test_without_history_the_question_is_unchanged(index):
    assert rewrite_question("那人才呢？", [], index) == "那人才呢？"


@pytest.mark.parametrize("follow_up, subject", [("那人才呢？", "人才"), ("那资金呢？", "资金"), ("用地呢", "用地")])
def test_a_new_subject_replaces_the_old_one_in_the_same_frame(index, follow_up, subject):
    first = answer("政府对数据中心用电有什么支持？")
    rewritten = rewrite_question(follow_up, [first], index)
    assert subject in rewritten
    assert "数据中心" not in rewritten and "用电" not in rewritten
    assert "政府" in rewritten and "支持" in rewritten  # the frame is kept
    assert subject in retrieve(rewritten, k=1)[0].text


def test_a_noun_replaces_a_noun_and_a_verb_a_verb(index):
    first = _turn(index, "第十六条", question="公共数据怎么共享？")
    assert rewrite_question("那个人信息呢？", [first], index).startswith("个人信息")
    opened = rewrite_question("那开放呢？", [first], index)
    assert "公共数据" in opened and "开放" in opened and "共享" not in opened


@pytest.mark.parametrize("follow_up", ["这条适用于个人吗？", "该条适用于个人吗？", "这个规定适用于个人吗？", "它适用于个人吗？", "这样做适用于个人吗？"])
def test_a_back_reference_names_the_cited_article(index, follow_up):
    first = answer("处理个人信息有什么要求？")
    cited = first.citations[0]
    rewritten = rewrite_question(follow_up, [first], index)
    assert rewritten.startswith(f"《{cited.law}》{cited.article}") and rewritten.endswith("适用于个人吗？")
    again = answer(follow_up, history=[first])
    assert again.rewritten_question == rewritten
    assert again.citations[0].article == cited.article  # the exact article lookup pins it


def test_a_new_subject_after_a_back_reference_may_leave_the_named_article(index):
    # the frame names 第四十一条 (a 这条… rewrite); the new subject is in another article, so it is dropped
    first = _turn(index, "第四十一条", question=f"《{LAW}》第四十一条对已经建好的信息系统有什么要求？")
    moved = rewrite_question("那大数据项目用地呢？", [first], index)
    assert "大数据项目用地" in moved and "第四十一条" not in moved
    # …while a subject that the named article holds keeps it
    kept = rewrite_question("那公共机构呢？", [first], index)
    assert "公共机构" in kept and "第四十一条" in kept


@pytest.mark.parametrize("follow_up", ["这个概念在条例的哪一条里用到了？", "该术语还出现在哪些条文里？"])
def test_a_term_reference_is_the_term_asked_about_before(index, follow_up):
    first = _turn(index, "第五十条", question="条例里的“公共机构”指的是什么？")
    rewritten = rewrite_question(follow_up, [first], index)
    assert rewritten.startswith("公共机构") and not any(cue in rewritten for cue in CUES.term_refs)
    plain = _turn(index, "第十条", question="数据中心用电有什么支持？")  # no term was asked about: unchanged
    assert rewrite_question(follow_up, [plain], index) == follow_up


def test_a_back_reference_picks_the_cited_article_that_supports_the_rest(index):
    first = _turn(index, "第十条", "第三十八条")
    assert rewrite_question("这条对人才有什么要求？", [first], index).startswith(f"《{LAW}》第三十八条")
    assert rewrite_question("这条对数据中心有什么要求？", [first], index).startswith(f"《{LAW}》第十条")


@pytest.mark.parametrize("follow_up", ["这是强制的吗？", "这个是强制的吗？", "这算硬性规定吗？"])
def test_a_pointing_question_names_the_cited_article(index, follow_up):
    assert rewrite_question(follow_up, [_turn(index, "第十四条")], index).startswith(f"《{LAW}》第十四条")


def test_a_determiner_before_a_noun_of_the_cited_article_points_at_it(index):
    first = _turn(index, "第七条", question="大数据发展应用规划由谁来编制？")
    rewritten = rewrite_question("这个规划跟各部门自己的规划是什么关系？", [first], index)
    # named, or left to retrieval where the words without the article are better supported: either way the
    # noun stays and the answer quotes the article that holds it
    assert rewritten.startswith((f"《{LAW}》第七条中的规划", "规划")) and "规划跟各部门自己的规划" in rewritten
    assert answer("这个规划跟各部门自己的规划是什么关系？", history=[first]).citations[0].article == "第七条"
    # a noun that the cited article does not hold, and a determiner naming the law, leave it alone
    assert rewrite_question("这项补贴怎么申请？", [first], index) == "这项补贴怎么申请？"
    assert rewrite_question("该条例是谁制定的？", [first], index) != f"《{LAW}》第七条条例是谁制定的？"


def test_breaking_the_cited_article_may_lead_to_another_one(index):
    # 第四十六条 says what data handlers must do, not what follows from failing to: 第四十九条 does
    rewritten = rewrite_question("违反了它会怎么样？", [_turn(index, "第四十六条")], index)
    assert "第四十六条" not in rewritten and "违反" in rewritten
    assert retrieve(rewritten, k=1)[0].article == "第四十九条"
    # …while a cited article that itself speaks of breaking the rules stays named
    assert rewrite_question("违反了它会怎么样？", [_turn(index, "第四十九条")], index).startswith(f"违反了《{LAW}》第四十九条")


def test_an_ellipsis_takes_its_frame_from_an_earlier_turn_when_the_last_has_none(index):
    first = _turn(index, "第十一条", question="政府对数据中心供电有什么安排？")
    second = _turn(index, "第十一条", question=f"《{LAW}》第十一条第二款具体说了什么？")
    rewritten = rewrite_question("那网络呢？", [first, second], index)
    assert "网络" in rewritten and "安排" in rewritten and "第二款" not in rewritten


def test_a_bare_subject_that_no_frame_takes_is_asked_about_as_such(index):
    # the only frame names an article and asks what it says: no span for 人才 to replace
    first = _turn(index, "第十五条", question=f"《{LAW}》第十五条是什么？")
    assert rewrite_question("那人才呢？", [first], index) == CUES.subject_ask.format("人才")
    assert not answer("那人才呢？", history=[first]).abstained


@pytest.mark.parametrize("label", ["第一条", "第八条", "第十五条", "第四十七条", "第五十条"])
def test_ordinal_moves_follow_the_index_order(index, label):
    rows = index.chunk_rows(index.names.doc_ids(LAW).pop(), label)
    before, _ = index.neighbours(rows[0])
    _, after = index.neighbours(rows[-1])
    first = _turn(index, label)
    for follow_up in ("下一条呢？", "后一条是什么？"):
        assert rewrite_question(follow_up, [first], index).startswith(f"《{LAW}》{index.chunks[after].article}")
    for follow_up in ("上一条呢？", "那前一条呢？"):
        rewritten = rewrite_question(follow_up, [first], index)
        if before is None:
            assert rewritten == follow_up  # nothing before the first article
        else:
            assert rewritten.startswith(f"《{LAW}》{index.chunks[before].article}")


def test_no_article_after_the_last_one(index):
    assert rewrite_question("下一条呢？", [_turn(index, "第五十一条")], index) == "下一条呢？"


def test_paragraphs_and_items_are_of_the_cited_article(index):
    assert rewrite_question("第二款呢？", [_turn(index, "第十五条")], index).startswith(f"《{LAW}》第十五条第二款")
    # 第十条 has two paragraphs and no items: the item is 第五十条's, the other cited article
    assert rewrite_question("那第三项呢", [_turn(index, "第十条", "第五十条")], index).startswith(f"《{LAW}》第五十条第三项")


@pytest.mark.parametrize("follow_up", ["谁制定的？", "什么时候通过的？", "什么时候施行？", "修订过吗？", "它最早是什么时候通过的？"])
def test_questions_about_the_law_itself_name_it(index, follow_up):
    first = answer("政府对数据中心用电有什么支持？")
    rewritten = rewrite_question(follow_up, [first], index)
    assert rewritten.startswith(f"《{LAW}》")  # scored as 本条例: the title's words pull no article
    top = retrieve(rewritten, k=1)[0]
    assert top.chunk.is_document or "施行" in top.text


@pytest.mark.parametrize(
    "follow_up",
    ["今天天气怎么样", "公共数据怎么共享？", "第十五条讲了什么？", "这部条例是谁制定的？", "那今天天气呢？"],
)
def test_a_follow_up_that_stands_alone_is_unchanged(index, follow_up):
    first = answer("政府对数据中心用电有什么支持？")
    assert rewrite_question(follow_up, [first], index) == follow_up


def test_openings_are_dropped_from_a_question_that_stands_alone(index):
    first = _turn(index, "第十条", question="数据中心用电有什么支持政策？")
    assert rewrite_question("另外想问下，公共数据怎么共享？", [first], index) == "公共数据怎么共享？"


def test_a_follow_up_with_a_frame_of_its_own_keeps_it(index):
    first = answer("数据中心用电有什么支持政策？")
    rewritten = rewrite_question("那违反了怎么处罚？", [first], index)
    assert "违反" in rewritten and "处罚" in rewritten
    assert retrieve(rewritten, k=1)[0].article == "第四十九条"


def test_score_wants_the_follow_ups_own_words_supported(index):
    own, share, found = score(index, Candidate("政府对人才有什么支持？", "人才"))
    assert own == 1.0 and 0 < share <= 1.0 and found > 0
    assert score(index, Candidate("政府对今天天气有什么支持？", "今天天气"))[0] == 0.0
    # the frame's words (大数据项目…保障) lead to the land-use article, which says nothing of 资金
    assert score(index, Candidate("大数据项目的建设用地资金，政府怎么保障？", "资金"))[0] == 0.0
    pinned = tuple(index.chunk_rows(index.laws[0].doc_id, "第十条"))
    assert score(index, Candidate("第十条对人才有什么要求？", "对人才有什么要求", pinned))[0] == 0.0


OTHER_LAW = """---
id: test-other-law
title: 测试市人才引进条例
author: 测试市人民代表大会常务委员会
publication_date: '2030-01-01'
effective_date: '2030-02-01'
status: 有效
---

**测试市人才引进条例**

- **第一条**　　为了规范人才引进工作，制定本条例。

- **第二条**　　人才引进工作由人力资源部门负责，对引进的人才给予住房支持。

- **第三条**　　本条例自2030年2月1日起施行。
"""


@pytest.fixture(scope="module")
def library(seed_index, seed_path, tmp_path_factory):
    """The seed law and a small second law in one index (the seed's vectors reused from its cache)."""
    folder = tmp_path_factory.mktemp("library")
    (folder / "laws").mkdir()
    shutil.copy(seed_path, folder / "laws" / seed_path.name)
    (folder / "laws" / "other.md").write_text(OTHER_LAW, encoding="utf-8")
    (folder / "index").mkdir()
    shutil.copy(seed_index.path / "embeddings.sqlite", folder / "index" / "embeddings.sqlite")
    out, errors = build_index([folder / "laws"], folder / "index")
    assert errors == []
    return open_index(out)


def test_in_a_library_the_follow_up_is_scoped_to_the_cited_law(library):
    first = _turn(library, "第十条", question="政府对数据中心用电有什么支持？")
    assert len(library.laws) == 2
    assert rewrite_question("谁制定的？", [first], library) == f"《{LAW}》是谁制定的？"
    assert rewrite_question("第十五条呢？", [first], library).startswith(f"《{LAW}》第十五条")
    rewritten = rewrite_question("那人才呢？", [first], library)
    assert rewritten.startswith(f"《{LAW}》") and "人才" in rewritten
    hits = retrieve(rewritten, k=3, index=library.path)
    assert {h.law for h in hits} == {LAW}


def test_in_a_library_a_follow_up_asking_for_a_provision_gets_the_cited_laws(library):
    other = "测试市人才引进条例"
    first = _turn(library, "第二条", question="引进的人才有什么住房支持？", law=other)
    for follow_up, article in [("这部条例的立法目的是什么？", "第一条"), ("它什么时候施行？", "第三条")]:
        rewritten = rewrite_question(follow_up, [first], library)
        top = retrieve(rewritten, k=3, index=library.path)[0]
        assert (top.law, top.article, top.scores.get("lookup")) == (other, article, 1.0), rewritten
    # Asked of no law in particular, a library has no one purpose article to pin
    assert not any("lookup" in h.scores for h in retrieve("立法目的是什么？", k=3, index=library.path))


def test_a_long_previous_question_bounds_the_work(index):
    import time

    rewrite_question("那人才呢？", [_turn(index, "第十条")], index)  # jieba's dictionary, loaded once
    long = _turn(index, "第十条", question="，".join(["政府对数据中心用电和算力网络建设有什么支持"] * 60) + "？")
    started = time.perf_counter()
    rewritten = rewrite_question("那人才呢？", [long], index)
    assert time.perf_counter() - started < 5
    assert "人才" in rewritten


@pytest.mark.parametrize(
    ("question", "bare"),
    [
        ("那个人信息呢？", "个人信息"),  # 个人信息 is a word: 那 opens the follow-up
        ("那种以完成一定工作任务为期限的合同呢？", "那种以完成一定工作任务为期限的合同"),  # 那种 is a determiner
        ("那一条的第二款呢？", "那一条的第二款"),
        ("那如果是开发商不配物业用房呢？", "开发商不配物业用房"),
    ],
)
def test_the_openings_of_a_follow_up_are_read_as_openings_only(question, bare):
    from rag.retrieval.conversation import _bare

    assert _bare(question) == bare


def _indexed_alone(library_law, tmp_path_factory, title: str):
    """A law of the library indexed alone: a law other than the bundled one."""
    out = tmp_path_factory.mktemp("alone") / "index"
    build_index([library_law(title).source], out)
    return open_index(out)


@pytest.fixture(scope="module")
def property_law(library_law, tmp_path_factory):
    return _indexed_alone(library_law, tmp_path_factory, "物业管理条例")


def test_a_follow_up_on_another_law_asking_what_an_act_costs_carries_the_act(property_law):
    first = answer("物业公司能把整个小区的管理全部转包给别的公司吗？", index=property_law.path)
    follow_up = answer("这么做的话会怎么罚？", index=property_law.path, history=[first])
    rewritten = follow_up.rewritten_question
    assert "转包" in rewritten and "罚" in rewritten
    assert "第" not in rewritten  # no article is named: the permission article is rarely the penalty one
    assert follow_up.citations and any("罚款" in c.text for c in follow_up.citations)


def test_a_follow_up_on_another_law_about_the_law_itself_is_answered_from_its_record(property_law):
    first = answer("业主大会怎么成立？", index=property_law.path)
    follow_up = answer("这部法规是哪个机关通过的？", index=property_law.path, history=[first])
    assert follow_up.citations[0].article == ""  # the law's record: its author and dates
    assert retrieve("物业管理条例最近一次修改是哪一年？", k=1, index=property_law.path)[0].article == ""


@pytest.fixture(scope="module")
def labour_law(library_law, tmp_path_factory):
    return _indexed_alone(library_law, tmp_path_factory, "中华人民共和国劳动合同法")


def test_a_determiner_follow_up_may_leave_the_cited_article_for_the_one_on_its_noun(labour_law):
    # 第四十六条 says when 经济补偿 is owed, 第四十七条 how it is computed: 这个补偿 asks about the noun, not the article
    first = _turn(labour_law, "第四十六条", question="公司主动找我协商解除合同，我同意了，公司要给经济补偿吗？", law="中华人民共和国劳动合同法")
    follow_up = answer("那这个补偿具体怎么算？", index=labour_law.path, history=[first])
    assert "第四十六条" not in follow_up.rewritten_question and "补偿" in follow_up.rewritten_question
    assert follow_up.citations[0].article == "第四十七条"
