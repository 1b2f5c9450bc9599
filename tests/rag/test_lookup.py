import pytest

from rag.lookup import LawNames, find_article_refs


@pytest.mark.parametrize(
    "question, labels",
    [
        ("第十五条讲了什么？", ["第十五条"]),
        ("条例第13条是什么内容", ["第十三条"]),
        ("15条怎么规定的", ["第十五条"]),
        ("第 3 条的内容", ["第三条"]),
        ("三十二条怎么规定的", ["第三十二条"]),
        ("条例三十二条", ["第三十二条"]),
        ("这两条有什么不同", []),
        ("民法典第三条", ["第三条"]),
        ("刑法第一百七十五条之一规定了什么罪", ["第一百七十五条之一"]),
        ("What does Article 12 say?", ["第十二条"]),
        ("第五条和第六条有什么区别", ["第五条", "第六条"]),
        ("有没有一条规定说数据要共享？", []),
        ("本条例自2026年1月1日起施行吗", []),
        ("第二款呢？", []),
        ("需要满足哪些15条件", []),
    ],
)
def test_article_refs(question, labels):
    assert [ref.label for ref in find_article_refs(question)] == labels


def test_law_names_full_and_short():
    names = LawNames(
        [
            ("civil", "中华人民共和国民法典"),
            ("data", "中华人民共和国数据安全法"),
            ("crim", "中华人民共和国刑法"),
            ("amend", "中华人民共和国刑法修正案（十一）"),
        ]
    )
    assert names.doc_ids("民法典第三条怎么说") == {"civil"}
    assert names.doc_ids("数据安全法和中华人民共和国刑法") == {"data", "crim"}
    assert names.doc_ids("刑法修正案里的规定") == {"amend"}
    assert names.doc_ids("合同怎么签") == set()
