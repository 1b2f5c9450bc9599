"""Penalty articles read from a law's own cross-references (违反本法第N条规定的，……罚款), and the reader quoting
them beside the article on the act when a question asks what follows from it."""

from dataclasses import replace

import pytest

from rag.answering.abstention import load_calibration
from rag.answering.reader import read
from rag.index import build_index, open_index
from rag.ingest.numerals import make_label
from rag.ingest.sanctions import SanctionTable, asks_sanction
from rag.records import Chunk, Hit


def _chunk(doc_id: str, number: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"{doc_id}-{number}", doc_id=doc_id, law=doc_id, article=make_label(number), number=number, sub=0, text=text)


ARTICLES = {
    1: "为了规范旅游市场秩序，制定本法。",
    2: "旅行社不得指定具体购物场所。",
    3: "旅行社应当按照合同约定安排住宿。",
    4: "导游应当佩戴导游证。",
    5: "网络运营者应当留存网络日志。",
    6: "旅行社违反本法第二条规定的，由旅游主管部门责令改正，处三万元以上三十万元以下罚款。",
    7: "违反本法第三条至第五条规定的，处五千元以上五万元以下罚款。",
    8: "不履行本法第三条第二款规定义务的，依照本法第六条的规定处理。",
    9: "本法第二条所称购物场所，包括商店和其他经营场所。",  # names article 2 but sanctions nothing
}


def test_each_article_leads_to_the_articles_that_sanction_breaking_it():
    table = SanctionTable([_chunk("law", n, text) for n, text in ARTICLES.items()])
    assert table.sanctioning("law", "第二条") == ["第六条"]
    assert table.sanctioning("law", "第三条") == ["第七条"]  # the range 第三条至第五条; 第八条 imposes nothing of its own
    assert table.sanctioning("law", "第四条") == ["第七条"] and table.sanctioning("law", "第五条") == ["第七条"]
    assert table.sanctioning("law", "第一条") == [] and table.sanctioning("law", "第六条") == []
    assert table.sanctioning("other", "第二条") == []  # references stay within their law


def test_an_article_imposing_something_and_naming_several_articles_sanctions_each():
    table = SanctionTable([_chunk("law", 1, "网络运营者不履行本法第二十三条、第二十七条规定的网络安全保护义务的，由有关主管部门责令改正。")])
    assert table.sanctioning("law", "第二十三条") == ["第一条"] and table.sanctioning("law", "第二十七条") == ["第一条"]


@pytest.mark.parametrize("question", ["会被怎么罚？", "不实名的话会有什么后果？", "要承担什么法律责任？", "公司会被怎么处理？", "违反了怎么处理？", "这样做会怎么样？"])
def test_questions_asking_what_follows_from_an_act(question):
    assert asks_sanction(question)


@pytest.mark.parametrize("question", ["旅行社能指定购物店吗？", "个人信息怎么处理才合规？", "导游证怎么办？"])
def test_other_questions_ask_no_sanction(question):
    assert not asks_sanction(question)


LAW = "---\nid: test-tourism\ntitle: 测试旅游条例\nstatus: 有效\n---\n\n**测试旅游条例**\n\n" + "\n\n".join(
    f"- **{make_label(n)}**　　{text}" for n, text in ARTICLES.items()
)


@pytest.fixture(scope="module")
def tourism(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sanctions")
    (folder / "law.md").write_text(LAW, encoding="utf-8")
    out, errors = build_index([folder / "law.md"], folder / "index", rescorer=None)
    assert errors == []
    return open_index(out)


def _answering(index):
    """The shipped calibration with a stance model that always answers: the test is about what is quoted."""
    shipped = load_calibration(index.path)
    return replace(shipped, abstention=replace(shipped.abstention, threshold=0.0), one_law=None)


def test_a_question_on_what_follows_quotes_the_sanctioning_article_after_the_act(tourism):
    rows = tourism.chunk_rows("test-tourism", "第二条")
    hits = [Hit(chunk=tourism.chunks[rows[0]], score=1.0, rank=1)]
    asked = read(tourism, "旅行社指定购物店，会被怎么罚？", hits, _answering(tourism))
    assert [c.article for c in asked.citations] == ["第二条", "第六条"]
    assert "三万元以上三十万元以下罚款" in asked.text
    plain = read(tourism, "旅行社能指定购物店吗？", hits, _answering(tourism))
    assert [c.article for c in plain.citations] == ["第二条"]
