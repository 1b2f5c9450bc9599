"""The provisions every law has by convention (purpose, scope, commencement): found in a law's chunks,
asked for by what they are, pinned first by retrieval."""

import pytest

from rag.ingest.chunks import ChunkSettings, chunk_law
from rag.ingest.provisions import ProvisionTable, asked_provision
from rag.records import Chunk
from rag.retrieval.search import RetrieveOptions, search


def _chunk(doc_id: str, number: int, text: str) -> Chunk:
    label = f"第{'一二三四五六七八九'[number - 1]}条"
    return Chunk(chunk_id=f"{doc_id}-{number}", doc_id=doc_id, law=doc_id, article=label, number=number, sub=0, text=text)


MEASURES = [
    _chunk("measures", 1, "为了规范停车管理，根据有关法律，制定本办法。"),
    _chunk("measures", 2, "本市行政区域内停车设施的规划、建设和管理，适用本办法。"),
    _chunk("measures", 3, "本办法所称停车设施，是指供机动车停放的场所。"),
    _chunk("measures", 4, "本办法自2020年1月1日起施行。"),
]
# A judicial interpretation states no purpose; its first article defines, and it commences by an announcement
INTERPRETATION = [
    _chunk("interpretation", 1, "本解释所称城镇房屋，是指城市、镇规划区内的房屋。"),
    _chunk("interpretation", 2, "出租人就未取得建设工程规划许可证建设的房屋，与承租人订立的租赁合同无效。"),
]


def test_table_finds_each_provision_of_a_four_article_law():
    table = ProvisionTable(MEASURES + INTERPRETATION)
    assert [p.article for p in table.find("purpose", ["measures"])] == ["第一条"]
    assert [p.article for p in table.find("scope", ["measures"])] == ["第二条"]
    assert [p.article for p in table.find("commencement", ["measures"])] == ["第四条"]
    assert table.find("purpose", ["interpretation"]) == []
    assert table.find("scope", ["interpretation"]) == []  # 本解释所称 defines a term, it sets no scope
    assert table.find("commencement", ["interpretation"]) == []


def test_purpose_and_scope_only_in_the_first_articles():
    late = [_chunk("late", n, "其他规定。") for n in range(1, 8)] + [_chunk("late", 8, "为了执行上述规定，制定本办法的细则另行公布。")]
    assert ProvisionTable(late).find("purpose", ["late"]) == []


@pytest.mark.parametrize(
    "question, kind",
    [
        ("这个条例的立法目的是什么？", "purpose"),
        ("为什么要制定这部法律？", "purpose"),
        ("制定这部条例的目的是什么？", "purpose"),
        ("民法典的宗旨是什么", "purpose"),
        ("条例的适用范围是什么？", "scope"),
        ("劳动合同法适用于哪些单位？", "scope"),
        ("这个条例什么时候开始施行？", "commencement"),
        ("民法典哪天生效？", "commencement"),
    ],
)
def test_questions_asking_for_a_provision(question, kind):
    asked = asked_provision(question)
    assert asked is not None and asked[0] == kind


@pytest.mark.parametrize(
    "question",
    [
        "以营利为目的的赌博怎么处罚？",
        "收集个人信息的目的是什么？",
        "这条适用于事业单位吗？",
        "第五条的目的是什么？",
        "公共数据怎么共享？",
    ],
)
def test_other_questions_ask_for_none(question):
    assert asked_provision(question) is None


def test_the_rest_of_the_question_is_returned():
    kind, rest = asked_provision("条例适用于哪些活动？")
    assert kind == "scope" and "活动" in rest and "适用" not in rest


def test_seed_purpose_and_scope_are_pinned(seed_index):
    for question, article in [("这个条例的立法目的是什么？", "第一条"), ("条例的适用范围是什么？", "第二条"), ("条例什么时候开始施行？", "第五十一条")]:
        top = search(seed_index, question, RetrieveOptions(k=5))[0]
        assert (top.article, top.scores.get("lookup")) == (article, 1.0), question


def test_a_question_about_something_else_pins_nothing(seed_index):
    # 数据交易 is not in the scope article: the question asks which rules apply to it, not the law's scope
    hits = search(seed_index, "数据交易适用于哪些规定？", RetrieveOptions(k=5))
    assert not any("lookup" in h.scores for h in hits)
    # …and a question asking another fact of the record (还有效吗) is the record's to answer: the record is pinned,
    # with the commencement article for 什么时候生效, and no purpose or scope article
    hits = search(seed_index, "条例现在还有效吗？什么时候生效的？", RetrieveOptions(k=5))
    pinned = [h for h in hits if "lookup" in h.scores]
    assert "" in [h.article for h in pinned]
    commencement = [p.article for p in seed_index.provisions.find("commencement", [seed_index.laws[0].doc_id])]
    assert {h.article for h in pinned} <= {"", *commencement}


def test_civil_code_provisions(library_law):
    law = library_law("中华人民共和国民法典")
    table = ProvisionTable(chunk_law(law, ChunkSettings()))
    assert [p.article for p in table.find("purpose", [law.doc_id])] == ["第一条"]
    assert [p.article for p in table.find("commencement", [law.doc_id])] == ["第一千二百六十条"]
