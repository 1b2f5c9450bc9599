from rag.index.lexical import LexicalIndex, content_terms, tokenize

CORPUS = [
    "数据中心应当绿色低碳发展",
    "本条例自2026年1月1日起施行",
    "处理个人信息应当取得个人同意",
    "通信管理部门统筹推进算力网络建设",
]


def test_bigram_tokens():
    assert tokenize("个人信息") == ["个人", "人信", "信息"]
    assert tokenize("AI 大模型2026") == ["ai", "大模", "模型", "2026"]
    assert tokenize("数") == ["数"]


def test_question_filler_is_not_content():
    assert content_terms("请问条例什么时候施行？") == ["施行"]
    # a topic marker says what the question is about, not what it asks
    assert content_terms("智慧医疗方面有什么要求？") == content_terms("智慧医疗有什么要求？")


def test_filler_inside_a_noun_is_content():
    # 能 and 会 are filler as words (能不能, 会不会) but not inside 人工智能, 社会, 会议
    assert "智能" in content_terms("是不是更看重人工智能用的算力？")
    assert {"社会", "会议"} <= set(content_terms("能不能拿出来给社会用？在哪次会议上通过？"))
    assert "能" not in "".join(content_terms("能不能拿出来用？"))
    # an idiom made of filler stays filler: 怎么办 adds no 怎么
    assert content_terms("商标被侵权了怎么办？")[:4] == ["商标", "标被", "被侵", "侵权"] and "怎么" not in content_terms("商标被侵权了怎么办？")


def test_bm25_ranks_the_matching_text_first():
    index = LexicalIndex(CORPUS)
    for query, expected in [("什么时候施行", 1), ("个人信息怎么处理", 2), ("算力网络", 3), ("绿色数据中心", 0)]:
        scores = index.scores(query)
        assert int(scores.argmax()) == expected, query


def test_unknown_terms_score_zero_and_have_no_idf():
    index = LexicalIndex(CORPUS)
    assert not index.scores("地铁停运").any()
    assert index.idf("地铁") == 0.0
    assert index.idf("个人") > index.idf("应当")


def test_bm25_matches_reference_formula():
    """bm25s (Lucene variant: no (k1 + 1) factor) against a direct implementation of the formula."""
    import math

    index = LexicalIndex(CORPUS, k1=1.2, b=0.75)
    docs = [tokenize(t) for t in CORPUS]
    avg = sum(map(len, docs)) / len(docs)
    query = tokenize("个人信息应当")

    def reference(doc):
        score = 0.0
        for term in set(query):
            df = sum(term in d for d in docs)
            if not df:
                continue
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            score += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(doc) / avg))
        return score

    got = index.scores("个人信息应当")
    for i, doc in enumerate(docs):
        assert abs(got[i] - reference(doc)) < 1e-4
