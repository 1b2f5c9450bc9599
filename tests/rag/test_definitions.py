"""Definitions as a lookup: definition clauses extracted from real law texts, and the questions
that ask what a term means."""

import json
import re
import unicodedata

import pytest

from rag.ingest.definitions import Definition, DefinitionTable, extract_definitions, is_definition_question
from rag.ingest.laws import parse_law
from rag.records import Law


def _by_article(definitions: list[Definition]) -> dict[str, list[str]]:
    terms: dict[str, list[str]] = {}
    for definition in definitions:
        terms.setdefault(definition.article, []).append(definition.term)
    return terms


def _assert_from_the_article(law: Law, definitions: list[Definition]) -> None:
    """Each definition quotes its own article and names its law; its term is in its text."""
    for definition in definitions:
        article = law.article(definition.article)
        assert article is not None, definition
        assert (definition.doc_id, definition.law) == (law.doc_id, law.title)
        for line in definition.text.split("\n"):
            assert line and line in article.text, definition
        assert definition.term in unicodedata.normalize("NFKC", definition.text).replace("“", "").replace("”", "")


@pytest.fixture(scope="module")
def seed(seed_path) -> Law:
    return parse_law(seed_path)


# --- extraction: the seed -------------------------------------------------------------------


def test_seed_list_of_terms_gives_each_item(seed):
    definitions = extract_definitions(seed)
    article = seed.article("第五十条")
    assert article.paragraphs[0].startswith("本条例下列用语的含义")
    items = [d for d in definitions if d.article == "第五十条"]
    assert [d.term for d in items] == ["公共数据", "企业数据", "公共机构"]
    # Each text is the item as in the article, numbering and closing punctuation included
    assert [d.text for d in items] == article.paragraphs[1:4]
    for number, definition in zip("一二三", items):
        assert definition.text.startswith(f"（{number}）{definition.term}，是指")
    _assert_from_the_article(seed, definitions)


def test_seed_scope_clause_defines_big_data(seed):
    article = seed.article("第二条")
    defining = [p for p in article.paragraphs if p.startswith("本条例所称大数据，是指")]
    assert len(defining) == 1  # the text does define it there
    [definition] = [d for d in extract_definitions(seed) if d.article == "第二条"]
    assert definition.term == "大数据"
    assert definition.text == defining[0]


def test_seed_defines_nothing_else(seed):
    # 第二条 and 第五十条 are the seed's only clauses with 是指 or 所称
    defining = {a.label for a in seed.articles if re.search("是指|所称|含义", a.text)}
    assert defining == {"第二条", "第五十条"}
    assert {d.article for d in extract_definitions(seed)} == defining


# --- extraction: the library ----------------------------------------------------------------


def test_data_security_law_article_3(library_law):
    law = library_law("中华人民共和国数据安全法")
    definitions = extract_definitions(law)
    # 本法所称数据，是指…… / 数据处理，包括…… / 数据安全，是指…… — and no other article defines a term
    assert _by_article(definitions) == {"第三条": ["数据", "数据处理", "数据安全"]}
    assert [d.text for d in definitions] == list(law.article("第三条").paragraphs)
    _assert_from_the_article(law, definitions)


def test_personal_information_protection_law(library_law):
    law = library_law("中华人民共和国个人信息保护法")
    definitions = extract_definitions(law)
    terms = _by_article(definitions)
    assert terms["第四条"][0] == "个人信息"  # 个人信息是……的各种信息，不包括……
    assert terms["第二十八条"] == ["敏感个人信息"]  # 敏感个人信息是……的个人信息，包括……
    article = law.article("第七十三条")
    assert article.paragraphs[0] == "本法下列用语的含义："
    assert terms["第七十三条"] == ["个人信息处理者", "自动化决策", "去标识化", "匿名化"]
    assert [d.text for d in definitions if d.article == "第七十三条"] == article.paragraphs[1:]
    # 个人信息保护影响评估应当包括下列内容 (第五十六条) and the other rules define nothing
    assert set(terms) == {"第四条", "第二十八条", "第七十三条"}
    _assert_from_the_article(law, definitions)


def test_civil_code(library_law):
    law = library_law("中华人民共和国民法典")
    definitions = extract_definitions(law)
    terms = _by_article(definitions)
    assert terms["第五十七条"] == ["法人"]  # 法人是……的组织
    assert terms["第四百六十四条"] == ["合同"]  # 合同是……的协议
    assert terms["第一千一百二十七条"] == ["子女", "父母", "兄弟姐妹"]  # 本编所称子女，包括……
    # 民法所称的“以上”、“以下”、“以内”、“届满”，包括本数；所称的“不满”、“超过”、“以外”，不包括本数
    assert terms["第一千二百五十九条"] == ["以上", "以下", "以内", "届满", "不满", "超过", "以外"]
    # Sentences that name 含义 or use 是/所称 in a rule define nothing:
    # 期间的最后一日是法定休假日的，以…… / 确定争议条款的含义 / 确定意思表示的含义 / 民法所称的期间按照……计算
    for label in ("第二百零三条", "第四百六十六条", "第一百四十二条", "第二百条"):
        assert label not in terms, label
    _assert_from_the_article(law, definitions)


def test_two_terms_in_one_scope_clause(library_law):
    law = library_law("中华人民共和国企业所得税法实施条例")
    terms = _by_article(extract_definitions(law))
    # 企业所得税法第一条所称个人独资企业、合伙企业，是指……
    assert terms["第二条"] == ["个人独资企业", "合伙企业"]
    # 前款所称生产性生物资产，是指……
    assert "生产性生物资产" in terms["第六十二条"]


# --- questions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "什么是公共数据？",
        "什么叫企业数据",
        "何为公共机构？",
        "公共数据是什么意思？",
        "公共数据是指什么",
        "公共机构指的是什么？",
        "大数据的含义",
        "条例对公共数据的定义是怎样的",
        "如何理解公共数据",
        "什么是条例所称的公共数据？",
        "ＷＨＡＴ ＩＳ ｐｕｂｌｉｃ ｄａｔａ？",
        "What is public data?",
        "What is a public institution?",
        "What does the regulation mean by public institution?",
        "What is meant by enterprise data?",
        "definition of public data",
        "What's the meaning of big data in the regulation?",
        "How is sensitive personal information defined?",
    ],
)
def test_definition_questions(question):
    assert is_definition_question(question)


@pytest.mark.parametrize(
    "question",
    [
        "条例什么时候施行？",
        "违反条例怎么处罚？",
        "公共数据由谁管理？",
        "条例的立法目的是什么？",
        "第五十条讲了什么？",
        "如何理解第五十条",
        "为什么是三十日？",
        "When does the regulation take effect?",
        "What is the penalty for violating the regulation?",
        "What are the rules on data sharing?",
        "What does Article 12 say?",
        "Who manages public data?",
    ],
)
def test_other_questions(question):
    assert not is_definition_question(question)


@pytest.fixture(scope="module")
def table(seed, library_law) -> DefinitionTable:
    laws = [seed] + [library_law(t) for t in ("中华人民共和国数据安全法", "中华人民共和国个人信息保护法")]
    return DefinitionTable.from_laws(laws)


def _asked(table: DefinitionTable, question: str, doc_ids=None) -> list[tuple[str, str, str]]:
    return [(d.term, d.law, d.article) for d in table.asked_terms(question, doc_ids)]


def test_asked_terms_pin_the_defining_article(table, seed):
    assert _asked(table, "什么是公共数据？") == [("公共数据", seed.title, "第五十条")]
    assert _asked(table, "大数据是什么意思") == [("大数据", seed.title, "第二条")]
    # A bare 是什么 counts for a defined term only
    assert _asked(table, "公共机构是什么？") == [("公共机构", seed.title, "第五十条")]
    assert _asked(table, "条例的立法目的是什么？") == []
    assert _asked(table, "违反公共数据管理规定的处罚是什么？") == []
    assert _asked(table, "违反条例怎么处罚？") == []


def test_asked_terms_prefer_the_longer_term(table):
    asked = _asked(table, "什么是敏感个人信息？")
    assert [a[0] for a in asked] == ["敏感个人信息"]  # 个人信息 is inside it and dropped
    assert asked[0][2] == "第二十八条"
    assert [a[0] for a in _asked(table, "个人信息是什么意思？")] == ["个人信息"]
    # 数据 is inside 公共数据 and 大数据, neither of which is a mention of it
    assert "数据" not in [a[0] for a in _asked(table, "什么是大数据？")]
    # Several terms: longer first
    assert [a[0] for a in _asked(table, "去标识化和匿名化分别是什么意思？")] == ["去标识化", "匿名化"]


def test_asked_terms_respect_doc_ids(table, seed, library_law):
    data_law = library_law("中华人民共和国数据安全法")
    privacy_law = library_law("中华人民共和国个人信息保护法")
    assert _asked(table, "数据是什么意思？", {data_law.doc_id}) == [("数据", data_law.title, "第三条")]
    assert _asked(table, "数据是什么意思？", {seed.doc_id}) == []  # the seed defines no 数据
    assert _asked(table, "什么是公共数据？", {privacy_law.doc_id}) == []
    # The data law defines 数据, not 大数据: a term inside a longer word is no mention of it
    assert _asked(table, "什么是大数据？", {data_law.doc_id}) == []
    restricted = table.asked_terms("什么是个人信息？", {privacy_law.doc_id})
    assert restricted and {d.doc_id for d in restricted} == {privacy_law.doc_id}


def test_asked_terms_normalize_and_read_english(table, seed):
    assert _asked(table, "什么是“公共数据”？") == [("公共数据", seed.title, "第五十条")]
    assert _asked(table, "What does 公共数据 mean?") == [("公共数据", seed.title, "第五十条")]
    # English terms are not in the (Chinese) table: the question is still a definition question
    assert is_definition_question("What is sensitive personal information?")
    assert _asked(table, "What is sensitive personal information?") == []


def test_table_round_trip(table):
    records = json.loads(json.dumps(table.to_records(), ensure_ascii=False))
    assert all(set(r) == {"term", "doc_id", "law", "article", "text"} for r in records)
    again = DefinitionTable.from_records(records)
    assert list(again) == list(table) and len(again) == len(table) > 0
    assert again.asked_terms("什么是敏感个人信息？") == table.asked_terms("什么是敏感个人信息？")
    assert again.articles() == table.articles()
    assert ("第七十三条" in {article for _, article in table.articles()})
