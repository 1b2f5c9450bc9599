import pytest

from rag.ingest.names import LawNames
from rag.retrieval.lookup import find_article_refs


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


def test_a_local_regulation_is_also_named_without_its_region():
    names = LawNames([("gz", "贵州省大数据发展应用促进条例"), ("sh", "上海市数据条例")])
    assert names.doc_ids("大数据发展应用促进条例什么时候施行") == {"gz"}
    assert names.doc_ids("数据条例怎么说") == {"sh"}


@pytest.mark.parametrize(
    "question, scored",
    [
        ("大数据发展应用促进条例什么时候施行？", "本条例什么时候施行?"),
        ("《贵州省大数据发展应用促进条例》是谁制定的？", "本条例是谁制定的?"),
        ("民法典和数据安全法有什么不同", "本法典和本法有什么不同"),
        ("这个条例什么时候施行？", "这个条例什么时候施行？"),  # names no law: unchanged
    ],
)
def test_a_named_law_is_scored_as_the_law_names_itself(question, scored):
    names = LawNames([("gz", "贵州省大数据发展应用促进条例"), ("civil", "中华人民共和国民法典"), ("data", "中华人民共和国数据安全法")])
    assert names.as_self_reference(question) == scored
