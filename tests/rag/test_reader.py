"""The extractive reader: quotes carry the sentence that answers with the context it needs, and the
reader makes no model call (retrieval encodes the question once; sentences are scored lexically)."""

import numpy as np

from rag import answer, get_index
from rag.answering.reader import _context, _quote, _Reading
from rag.records import Chunk, Hit, Stance


def reading(text: str, sentences: list[str], scores: list[float]) -> _Reading:
    hit = Hit(Chunk("c", "d", "法", "第一条", 1, 0, text), 1.0, 1)
    return _Reading(hit, sentences, np.array(scores))


def test_a_short_article_is_quoted_whole_even_when_its_last_sentence_scores_best():
    sentences = ["县级以上人民政府应当建立数据共享机制。", "有关部门应当予以配合。"]
    quote, highlight = _quote(reading("".join(sentences), sentences, [0.2, 0.9]), whole=True)
    assert quote == "".join(sentences)
    assert highlight == sentences[1]


def test_a_list_item_is_quoted_with_the_sentence_it_hangs_from_and_a_lead_with_its_items():
    sentences = ["本条例下列用语的含义：", "（一）甲，是指某物；", "（二）乙，是指另一物；", "（三）丙，是指第三物。", "其他规定。"]
    assert _context(sentences, {2}) == {0, 2}
    assert _context(sentences, {0}) == {0, 1, 2, 3}


def test_a_back_reference_brings_the_sentence_it_refers_to():
    sentences = ["单位应当保护数据安全。", "前款规定的单位包括企业。"]
    assert _context(sentences, {1}) == {0, 1}


def test_long_article_quote_keeps_the_lead_of_the_best_item():
    sentences = ["有下列情形之一的，应当报告：", "（一）发生数据泄露；", "（二）系统遭到攻击；"] + [f"第{i}句其他内容。" for i in range(20)]
    text = "".join(sentences)
    quote, highlight = _quote(reading(text, sentences, [0.1, 0.2, 0.9] + [0.0] * 20), whole=False)
    assert quote.startswith("有下列情形之一的，应当报告：") and "（二）系统遭到攻击；" in quote
    assert highlight == "（二）系统遭到攻击；"


def test_answer_encodes_the_question_once_and_no_sentence(seed_index, monkeypatch):
    index = get_index()
    calls = {"queries": 0, "passages": 0}
    encode_queries, encode_passages = index.embedder.encode_queries, index.embedder.encode_passages

    def count_queries(texts):
        calls["queries"] += 1
        return encode_queries(texts)

    def count_passages(texts, **options):
        calls["passages"] += 1
        return encode_passages(texts, **options)

    monkeypatch.setattr(index.embedder, "encode_queries", count_queries)
    monkeypatch.setattr(index.embedder, "encode_passages", count_passages)
    result = answer("数据中心用电有什么支持政策？")
    assert result.citations
    assert calls == {"queries": 1, "passages": 0}


def test_the_second_article_rule_decides_whether_a_close_second_is_quoted(seed_index):
    from dataclasses import replace

    from rag.answering.abstention import SecondArticle, load_calibration
    from rag.answering.reader import read
    from rag.retrieval.search import RetrieveOptions, search

    index = get_index()
    question = "数据中心最关心供电和网络，省里在这两方面有什么保障？"
    hits = search(index, question, RetrieveOptions(k=5))
    shipped = load_calibration()
    never = replace(shipped.abstention, threshold=0.0)
    only_first = replace(shipped, abstention=never, one_law=None, second_article=SecondArticle(support=10.0, score=10.0))
    any_close = replace(shipped, abstention=never, one_law=None, second_article=SecondArticle(support=0.0, score=0.0))
    assert [c.article for c in read(index, question, hits, only_first).citations] == [hits[0].article]
    assert [c.article for c in read(index, question, hits, any_close).citations] == [h.article for h in hits[:3]]


def test_a_record_that_answers_is_quoted_whole_when_short_and_by_the_facts_asked_for_when_long_or_beside_an_article(seed_index):
    from dataclasses import replace

    from rag.answering.abstention import load_calibration
    from rag.answering.reader import read
    from rag.retrieval.search import RetrieveOptions, search

    index = get_index()
    record = next(h for h in search(index, "这部条例是谁制定的？", RetrieveOptions(k=5)) if h.chunk.is_document)
    shipped = load_calibration()
    always = replace(shipped, abstention=replace(shipped.abstention, threshold=0.0), one_law=None)
    # The seed's record is shorter than the whole-article cut-off: quoted whole like a short article
    # (是谁通过的？ needs 制定机关 and the 题注 both), the fact asked for highlighted, never the header
    assert len(record.text) - len("文件信息。") <= shipped.whole_article_chars
    passed = read(index, "是谁通过的？", [record], always).citations[0]
    assert "制定机关：贵州省人民代表大会常务委员会" in passed.quote and "会议通过" in passed.quote
    assert not passed.quote.startswith("文件信息") and passed.highlight != passed.quote
    # A record past the cut-off (a law revised many times) is quoted by the facts the question names
    by_facts = replace(always, whole_article_chars=0)
    asked = read(index, "是哪天公布的？", [record], by_facts).citations[0]
    assert asked.quote == "公布日期：2025年12月3日。"
    # Two facts named, both quoted
    both = read(index, "修订后的条例从什么时候开始施行？", [record], by_facts).citations[0]
    assert "施行日期：2026年1月1日" in both.quote and "修订" in both.quote and not both.quote.startswith("文件信息")
    # 改过 is none of the record's words (修订 is): all its facts, never its header line
    unnamed = read(index, "后来有没有改过？", [record], by_facts).citations[0]
    assert not unnamed.quote.startswith("文件信息")
    assert "制定机关" in unnamed.quote and "修订" in unnamed.quote
    # Cited beside the article that answers, a short record too is quoted by the facts asked for
    article = next(h for h in search(index, "条例什么时候施行？", RetrieveOptions(k=5)) if h.article == "第五十一条")
    article = replace(article, scores={k: v for k, v in article.scores.items() if k != "lookup"})  # found, not pinned
    quote_both = replace(always, second_article=replace(always.second_article, support=0.0, score=0.0))
    beside = read(index, "条例什么时候施行？", [article, record], quote_both).citations
    assert [c.article for c in beside] == ["第五十一条", ""] and beside[1].quote == "施行日期：2026年1月1日。"


def test_an_ask_no_article_mentions_is_named_and_the_rest_answered(seed_index):
    from rag.answering.reader import unanswered_asks, unstated_note

    assert not any("电价" in c.text for c in seed_index.chunks)  # the premise: the law never mentions 电价
    assert any("供电" in c.text for c in seed_index.chunks)
    question = "数据中心的供电怎么保障，电价能不能降下来？"
    assert unanswered_asks(seed_index, question) == ["电价能不能降下来"]
    result = answer(question)
    assert result.stance == Stance.ANSWERED
    assert any("供电" in c.quote for c in result.citations)
    assert result.text.endswith(unstated_note(seed_index.laws[0].title, ["电价能不能降下来"]))


def test_asks_the_law_mentions_or_a_single_ask_get_no_such_note(seed_index):
    from rag.answering.reader import unanswered_asks

    assert unanswered_asks(seed_index, "数据中心的供电怎么保障？") == []  # one ask: the stance decides
    assert unanswered_asks(seed_index, "数据中心的供电怎么保障，用地怎么保障？") == []  # both mentioned
    assert unanswered_asks(seed_index, "地铁几点停运？公交几点发车？") == []  # none mentioned: not a partial question
