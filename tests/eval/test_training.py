from eval.questions import LawArticle, Question
from eval.training import mine_examples
from rag.ingest.chunks import embed_text


def _gold(index, label):
    law = index.laws[0]
    return LawArticle(law.title, label, law.doc_id)


def test_gold_article_is_the_positive_and_never_a_negative(seed_index):
    questions = [
        Question("a", "数据安全责任由谁负责？", (_gold(seed_index, "第三十八条"),)),
        Question("b", "大数据发展应用的立法目的和适用范围是什么？", (_gold(seed_index, "第一条"), _gold(seed_index, "第二条"))),
        Question("c", "火星上怎么办签证？", ()),
    ]
    examples = mine_examples(seed_index, questions, negatives=2)
    assert [e.query for e in examples] == ["数据安全责任由谁负责？"] + ["大数据发展应用的立法目的和适用范围是什么？"] * 2
    rows = seed_index.chunk_rows(seed_index.laws[0].doc_id, "第三十八条")
    assert examples[0].positive == embed_text(seed_index.chunks[rows[0]])
    assert examples[0].positive.startswith("第三十八条 ")
    for example in examples:
        assert len(example.negatives) == 2
    second = {examples[1].positive, examples[2].positive}
    assert not second & set(examples[1].negatives)
    assert all(not n.startswith(("第一条 ", "第二条 ")) for n in examples[1].negatives)


def test_a_short_question_may_get_fewer_negatives_than_asked(seed_index):
    # BM25 scores only chunks sharing a term; what it cannot supply is not padded with weaker ones
    examples = mine_examples(seed_index, [Question("s", "条例什么时候施行？", (_gold(seed_index, "第五十一条"),))], negatives=5)
    assert len(examples) == 1 and 0 < len(examples[0].negatives) < 5


def test_gold_missing_from_the_index_gives_no_example(seed_index):
    missing = LawArticle("别的法", "第一条", "no-such-doc")
    assert mine_examples(seed_index, [Question("x", "问题", (missing,))]) == []


def test_negatives_follow_the_ranking_of_the_retriever_asked_for(seed_index):
    # A second round mines with the tuned model itself: its own best-ranked non-gold articles
    from rag.retrieval.search import RetrieveOptions, search

    question = Question("d", "公共数据怎样共享开放？", (_gold(seed_index, "第十六条"),))
    for mode in ("dense", "hybrid", "bm25"):
        ranked = [h.chunk for h in search(seed_index, question.question, RetrieveOptions(k=30, mode=mode))]
        expected = [embed_text(c) for c in ranked if c.article != "第十六条"][:3]
        (example,) = mine_examples(seed_index, [question], negatives=3, mode=mode)
        assert list(example.negatives) == expected
    dense, bm25 = (mine_examples(seed_index, [question], negatives=3, mode=m)[0].negatives for m in ("dense", "bm25"))
    assert dense != bm25
