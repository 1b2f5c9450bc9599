"""Definitions as a lookup: the terms each law defines (本法所称X，是指……; 下列用语的含义：（一）X，是指……)
→ the defining article, and the questions that ask what a term means (什么是X, X是什么意思, what is X)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Iterator

from ..records import Article, Law

__all__ = ["Definition", "DefinitionTable", "extract_definitions", "is_definition_question"]


@dataclass(frozen=True)
class Definition:
    term: str  # 公共数据
    doc_id: str
    law: str  # the law's title
    article: str  # label of the defining article: 第五十条
    text: str  # the defining clause or item as in the article: （一）公共数据，是指……；


# --- extraction ---------------------------------------------------------------------------

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
# Item numbering: （一） (1) 一、 1． ①
_NUMBERING = re.compile(r"^(?:[（(][一二三四五六七八九十百零\d]{1,4}[)）]|[一二三四五六七八九十百]{1,3}、|\d{1,3}[.．、](?!\d)|[①-⑳])\s*")
# 本法下列用语的含义： / 本条例中下列用语的含义是： / 用语含义如下： / 资产、负债……的定义及列示应当遵循下列规定：
_LEAD = re.compile(r"(?:含义|含意|定义)[^。；]*[：:]$")
# The verbs that open a definiens
_VERB = r"(?:是指|系指|指|不包括|包括|包含|即|是(?!否|由))"
_STRONG_VERB = r"(?:是指|系指|不包括|包括|包含|即)"  # unambiguous without a comma before them
_ADVERB = r"(?:一般|通常|均|还|并|分别|也称[^，。；：]{1,12}，|在(?:内地|香港特别行政区|澳门特别行政区|台湾地区)，?)?"
_ABBREVIATION = re.compile(r"[（(](?:以下简称|以下称|简称)[“\"]?([^”\"）)]{1,20})[”\"]?[）)]")
# The scope before 所称 must name a law, part or provision: 本法 / 前款 / 企业所得税法第八条 / 《反间谍法》
_SCOPE_END = re.compile(r"(?:法|例|款|项|条|章|节|编|定|则|释|排|》|典|办|准|知|见|表|程)(?:中)?$")
_SOFO = re.compile(r"所称(?:的|之)?")
_SECOND_SOCHENG = re.compile(r"(?:和|及|以及|、)[^，。；：]{0,20}?所称(?:的|之)?")
# References that qualify a term: 前款规定的X / 本规定中的X / 民事诉讼法第二百零六条规定的X / 本规定所指X
_REFERENCE = re.compile(
    r"^(?:(?:本|前|上述)?[^，。；：]{0,30}?(?:法|条例|规定|办法|细则|解释|决定|规则|安排|条|款|项|章|节|编)"
    r"(?:中规定的|所规定的|规定的|所指的?|所述的|中的)|所?规定的|(?:前款|前两款|前三款|本款|本条(?!例)|上款)(?!规定))"
)
# What is left of 第四项规定的情形 once the reference is stripped: not a term of its own
_GENERIC = {"情形", "情况", "行为", "事项", "期间", "期限", "时间", "人员", "条件", "标准", "范围", "程序", "内容", "规定", "案件"}
# Words that start a sentence of a rule, not a term
_NOT_TERM_START = re.compile(
    r"^(?:在|对于|依照|依据|按照|根据|凡|如果|若|该|此|这|上述|前述|由于|经过|除|即使|只有|任何|一切|没有|为了|以及|但|并且|向|将|把)"
)
# Adverbs that open a sentence (具体包括：……) and are no term
_NOT_TERMS = {"具体", "主要", "一般", "通常", "其中", "此外", "同时", "另外", "包括"}
_NOT_TERM_WORDS = re.compile(r"应当(?!受)|不得|是否|认为|如果|明知")  # 应当受行政处罚的行为 is a term
_CUE = re.compile(r"是|指|包括|包含|即|：")  # a paragraph without any of these defines nothing
_QUOTES = "“”‘’\"'「」『』"
_MAX_TERM = 25


def _clean_term(raw: str, *, strict: bool) -> list[str]:
    """The terms named by a raw term phrase: quotes, a leading 的 and references (前款规定的) stripped,
    、-lists split, an abbreviation (（以下简称X）) added; [] when it does not look like a term.
    strict: the phrase was not introduced by 所称, so it must also read like a noun phrase."""
    phrase = unicodedata.normalize("NFKC", raw).strip()
    abbreviations = [m.group(1) for m in _ABBREVIATION.finditer(phrase)]
    phrase = _ABBREVIATION.sub("", phrase).strip()
    referenced = _REFERENCE.match(phrase)
    phrase = re.sub(r"^的", "", phrase[referenced.end() :] if referenced else phrase)
    if strict and re.fullmatch(rf"[{_CJK}]{{2,}}即[{_CJK}]{{2,}}", phrase):
        phrase = phrase.split("即")[0]  # 代理付款人即付款人的委托代理人，是指……
    quoted = re.findall(r"[“\"「『]([^”\"」』]+)[”\"」』]", phrase)
    if quoted:
        # Quotation marks mark the term: “以上”、“以下” / “医疗活动”“医疗行为” are all terms; in
        # 非法占用耕地“造成耕地大量毁坏” or “……行政行为”中的“法律” the last quoted part is
        strict = False
        listed = re.fullmatch(r"(?:\s*[“\"「『][^”\"」』]+[”\"」』]\s*[、和及与,，]?)+", phrase)
        parts = quoted if listed else quoted[-1:]
    elif "、" in phrase:
        pieces = [p.strip(_QUOTES + " ") for p in phrase.split("、")]
        # Split 公安机关、国家安全机关、检察机关 (one head) and 以上、以下、以内 (words), not
        # 证券、期货投资咨询 or 境外机构、组织, whose parts share a head or a modifier
        split = len({p[-1:] for p in pieces}) == 1 or all(len(p) <= 3 for p in pieces)
        # 法人、非法人组织的受益所有人: the 的-phrase of the last part qualifies the first too
        split = split and not ("的" not in pieces[0] and any("的" in p for p in pieces[1:]))
        parts = pieces if split else [phrase]
    else:
        parts = [phrase]
    terms = []
    for part in [*parts, *abbreviations]:
        # 标准(含标准样品) → 标准; 国有资源(资产)有偿使用收入 → 国有资源有偿使用收入
        term = re.sub(r"\([^()]{1,12}\)", "", re.sub(f"[{_QUOTES}]", "", part)).strip()
        if not 2 <= len(term) <= _MAX_TERM or re.search(r"[，。；：:,;！？!?]", term) or term.count("(") != term.count(")"):
            continue
        if not re.search(rf"[{_CJK}]", term) or "所称" in term:
            continue
        if referenced and term in _GENERIC:
            continue  # 第四项规定的情形，是指……: the term is the reference itself
        if term in _NOT_TERMS or strict and (_NOT_TERM_START.match(term) or _NOT_TERM_WORDS.search(term)):
            continue
        terms.append(term)
    return list(dict.fromkeys(terms))


def _sentence(paragraph: str, start: int) -> str:
    """The sentence of a paragraph that holds position start (from the 。 before it to the 。 after it)."""
    begin = paragraph.rfind("。", 0, start) + 1
    end = paragraph.find("。", start)
    return paragraph[begin : end + 1 if end >= 0 else len(paragraph)].strip()


def _clause_starts(paragraph: str) -> list[int]:
    """Where clauses begin: the paragraph's start (after its numbering), after 。 and ；, after 其中，."""
    numbering = _NUMBERING.match(paragraph)
    starts = [numbering.end() if numbering else 0]
    starts += [m.end() for m in re.finditer(r"[。；;](?:其中，)?|，(?=所称)", paragraph) if m.end() < len(paragraph)]
    return starts


_SOCHENG_NO_COMMA = re.compile(rf"^(?P<terms>[^，。；：]{{1,60}}?){_ADVERB}(?P<verb>{_STRONG_VERB})")
_SOCHENG_IS = re.compile(r"^(?P<terms>[^，。；：是]{1,40})是(?!否|由)")
_SOCHENG_COMMA = re.compile(rf"^(?P<terms>[^，。；：]{{1,60}})(?P<sep>[，：])(?P<rest>{_ADVERB}(?P<verb>{_VERB})?)")
_BARE = re.compile(
    rf"^(?P<terms>[^，。；：“”\"]{{0,40}}?[“\"][^”\"]{{1,40}}[”\"](?:[、和及]?[“\"][^”\"]{{1,40}}[”\"])*"
    rf"|[^，。；：“”\"]{{1,40}}?)"
    rf"(?:[（(](?:以下简称|以下称|简称)[^）)]{{1,20}}[）)])?[，：]?{_ADVERB}(?P<verb>是指|系指)(?!向)"
)
_BARE_INCLUDES = re.compile(r"^(?P<terms>[^，。；：“”\"]{1,40}?)，?(?<!不)(?P<verb>包括)")
_ITEM = re.compile(
    rf"^(?P<terms>[“\"][^”\"]{{1,40}}[”\"](?:[、和及]?[“\"][^”\"]{{1,40}}[”\"])*|[^，。；：:“”\"]{{1,40}}?)"
    rf"(?:[（(](?:以下简称|以下称|简称)[^）)]{{1,20}}[）)])?"
    rf"(?:[，：:]{_ADVERB}(?P<verb>是指|系指|指|是|包括|即)|{_ADVERB}(?P<verb2>是指|系指)|[：:])"
)
# 个人信息是……的各种信息 / 法人是……的组织: a term, 是, and a genus that shares the term's head
_IS = re.compile(rf"^(?P<term>[{_CJK}]{{2,15}}?)是(?!指|否|由)(?P<rest>[^。；]+)")
# Genera that make 是…… a definition whatever the term: 不可抗力是……的客观情况 / 要约是……的意思表示
_DEFINING_GENERA = ("客观情况", "意思表示", "法律行为", "民事行为", "法律事实", "过程", "制度")
# 民兵武器装备管理工作的基本任务是……: a statement of aims, not a definition
_STATED = ("任务", "目的", "目标", "宗旨", "原则", "方针", "职责", "依据", "义务", "责任")
# Term endings and the genera that define them: 法人是……的组织 / 合同是……的协议
_GENUS_PAIRS = (
    ("人", ("组织", "人", "个人", "自然人", "单位", "机构", "主体")),
    ("者", ("组织", "人", "个人", "单位", "机构", "主体")),
    ("合同", ("协议",)),
)


def _socheng(clause: str, *, continuation: bool = False) -> list[str]:
    """The terms of 本法所称X，是指…… at the start of clause; continuation: of a scope-less 所称Y，是指……
    (…；所称Y，是指……) after a 所称 definition in the same paragraph."""
    match = _SOFO.search(clause)
    if not match:
        return []
    scope = clause[: match.start()]
    if continuation:
        if scope:
            return []
    elif not _SCOPE_END.search(scope) or _NOT_TERM_START.match(scope) or re.search(r"[，。；：]", scope):
        return []
    rest = clause[match.end() :]
    found = _SOCHENG_NO_COMMA.match(rest)
    if found and not re.search(r"[，。；：]", found.group("terms")):
        # 所称X应当包括……: what X must hold, not what X is
        return [] if re.search(r"(?:应当|可以|必须|须)$", found.group("terms")) else _socheng_terms(found.group("terms"))
    found = _SOCHENG_COMMA.match(rest)
    if found and re.search(r"是(?!否)", found.group("terms")):
        found = None  # 本法所称的国家通用语言文字是普通话和规范汉字，是……
    if not found:
        found = _SOCHENG_IS.match(rest)
        return _socheng_terms(found.group("terms")) if found else []
    if found.group("sep") == "：":
        # 本安排所称“X”：followed by its items, only when the colon ends the clause
        return _socheng_terms(found.group("terms")) if rest[found.end("terms") :].strip() == "：" else []
    return _socheng_terms(found.group("terms")) if found.group("verb") else []


def _socheng_terms(phrase: str) -> list[str]:
    """企业所得税法第十六条所称资产的净值和第十九条所称财产净值 → both; 产品除食品外 → 产品."""
    terms: list[str] = []
    for part in _SECOND_SOCHENG.split(phrase):
        part = re.sub(r"除[^，。；：]{1,20}外$|属于[^，。；：]{1,20}$", "", part)  # 慈善信托属于公益信托 → 慈善信托
        terms += _clean_term(part, strict=False)
    return terms


def _genus_fits(term: str, rest: str) -> bool:
    """True when 是…… ends, at one of its commas or at its end, in a genus that shares the term's
    head: 个人信息是……的各种信息，不包括……; not a condition (期间的最后一日是法定休假日的，以……;
    债务人是票据的出票人，被裁定……的，……)."""
    if re.search(r"(?<!目)的，", rest):
        return False
    for end in [m.start() for m in re.finditer("，", rest)] + [len(rest)]:
        head = rest[:end]
        if "的" not in head:
            continue
        genus = head.rsplit("的", 1)[1]
        if not re.fullmatch(rf"[{_CJK}]{{1,8}}", genus):
            continue
        if genus[-1] == term[-1] or term[-2:] in genus:
            return True
        if any(term.endswith(end) and genus.endswith(heads) for end, heads in _GENUS_PAIRS):
            return True
        if genus.endswith(_DEFINING_GENERA):
            return True
    return False


def extract_definitions(law: Law) -> list[Definition]:
    """The definition clauses of a law's articles, in article order; one per term and article."""
    found: list[Definition] = []
    for article in law.articles:
        found += _article_definitions(law, article)
    return _unique(found)


def _article_definitions(law: Law, article: Article) -> list[Definition]:
    found: list[Definition] = []
    in_lead = False  # after 本法下列用语的含义：, each paragraph is an item
    opened: list[int] = []  # definitions whose text ends with ：, to take the list items that follow
    opened_kind = ""
    for paragraph in article.paragraphs:
        numbering = _NUMBERING.match(paragraph)
        kind = _numbering_kind(numbering.group(0)) if numbering else ""
        if opened and kind and kind != opened_kind:
            for i in opened:
                found[i] = replace(found[i], text=found[i].text + "\n" + paragraph)
            continue
        opened = []
        if _LEAD.search(paragraph) and "用语用字" not in paragraph:
            in_lead = True
            continue
        opened_kind = kind
        if not _CUE.search(paragraph):
            continue
        in_paragraph = False
        for position, start in enumerate(_clause_starts(paragraph)):
            clause = paragraph[start:]
            item = in_lead and position == 0
            text = paragraph if item else _sentence(paragraph, start)
            terms = _clause_terms(
                clause,
                item=item,
                numbered=bool(numbering),
                first=position == 0 and not in_lead and not numbering,
                after_definition=bool(found),
                in_paragraph=in_paragraph,
            )
            if not terms:
                continue
            in_paragraph = True
            for term in terms:
                found.append(Definition(term, law.doc_id, law.title, article.label, text))
                if re.search(r"[：:]$", text):
                    opened.append(len(found) - 1)
    return found


def _clause_terms(
    clause: str, *, item: bool, numbered: bool, first: bool, after_definition: bool, in_paragraph: bool
) -> list[str]:
    """The terms a clause defines, trying its forms in turn; [] for a clause that defines nothing."""
    if clause.startswith("所称"):  # …；所称Y，是指…… continues a 所称 definition
        return _socheng(clause, continuation=True) if in_paragraph else []
    if terms := _socheng(clause):
        return terms
    if item and (match := _ITEM.match(clause)) and (numbered or match.group("verb") or match.group("verb2")):
        if terms := _clean_term(match.group("terms"), strict=True):
            return terms
    match = _BARE.match(clause) or (after_definition and _BARE_INCLUDES.match(clause))
    if match and (terms := _clean_term(match.group("terms"), strict=True)):
        return terms
    match = _IS.match(clause) if first else None
    if match and not match.group("term").endswith(_STATED) and _genus_fits(match.group("term"), match.group("rest")):
        return _clean_term(match.group("term"), strict=True)
    return []


def _numbering_kind(numbering: str) -> str:
    numbering = numbering.strip()
    if re.match(r"^[（(]\d", numbering):
        return "(1)"
    if numbering[:1] in "（(":
        return "(一)"
    if numbering.endswith("、") and not numbering[0].isdigit():
        return "一、"
    if numbering[0].isdigit():
        return "1."
    return "①"


def _unique(definitions: list[Definition]) -> list[Definition]:
    """One definition per (term, article): the first."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for definition in definitions:
        key = (definition.term, definition.doc_id, definition.article)
        if key not in seen:
            seen.add(key)
            kept.append(definition)
    return kept


# --- the table -----------------------------------------------------------------------------


class DefinitionTable:
    """Term → defining articles, for every law of an index; kept in the index as records."""

    def __init__(self, definitions: Iterable[Definition]):
        self._definitions = _unique(list(definitions))
        self._by_term: dict[str, list[Definition]] = {}
        for definition in self._definitions:
            self._by_term.setdefault(_normalize(definition.term), []).append(definition)

    @classmethod
    def from_laws(cls, laws: Iterable[Law]) -> DefinitionTable:
        return cls(d for law in laws for d in extract_definitions(law))

    def __len__(self) -> int:
        return len(self._definitions)

    def __iter__(self) -> Iterator[Definition]:
        return iter(self._definitions)

    def to_records(self) -> list[dict[str, Any]]:
        return [asdict(d) for d in self._definitions]

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> DefinitionTable:
        return cls(Definition(**{k: str(record[k]) for k in _FIELDS}) for record in records)

    def articles(self, doc_ids: set[str] | None = None) -> set[tuple[str, str]]:
        """The (doc_id, article) of every defining article, for retrieval restricted to them."""
        return {(d.doc_id, d.article) for d in self._definitions if doc_ids is None or d.doc_id in doc_ids}

    def asked_terms(self, question: str, doc_ids: set[str] | None = None) -> list[Definition]:
        """The definitions of the terms whose meaning the question asks, longest term first; a term
        inside a longer one that also matched is dropped (个人信息 when 敏感个人信息 matched).
        The terms are those in the asked span of a definition question (什么是X, X的含义, what is X);
        X是什么 / X包括哪些 count when X itself is a defined term. Limited to doc_ids when given."""
        text = _normalize(question)
        present = [
            term
            for term, definitions in self._by_term.items()
            if term in text
            and _bounded(text, term)
            and (doc_ids is None or any(d.doc_id in doc_ids for d in definitions))
        ]
        if not present:
            return []
        if is_definition_question(question):
            spans = _asked_spans(text)
            matched = [t for t in present if any(t in span for span in spans)] or present
        else:
            matched = [t for t in present if _asks_about(text, t, present)]
        matched.sort(key=len, reverse=True)
        kept = [t for i, t in enumerate(matched) if not any(t in longer for longer in matched[:i])]
        return [d for t in kept for d in self._by_term[t] if doc_ids is None or d.doc_id in doc_ids]


_FIELDS = ("term", "doc_id", "law", "article", "text")


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


# --- questions -----------------------------------------------------------------------------

# 什么是X / 何为X / 如何理解X
_ASK_BEFORE = r"(?:(?<!为)什么是|什么叫做?|啥是|啥叫|何为|何谓|如何理解|怎么理解|怎样理解|如何界定|怎么界定|如何定义|怎么定义|解释一下)"
# X是什么意思 / X是指什么 / X的含义 / X的定义
_ASK_AFTER = (
    r"(?:是什么意思|什么意思|是啥意思|啥意思|是什么含义|是什么概念|是指什么|指的是什么|指什么|具体指|是指哪些|指哪些|"
    r"的含义|的含意|含义是|的定义|定义是|的意思|的概念|的内涵|怎么定义|如何定义|如何界定|怎么界定|"
    r"是指(?=[？?]|$)|(?<=\S)(?<!§)(?<!§应当)(?<!§应该)(?<!§该)(?<!§要)(?:应当|应该|该|要)?(?:如何|怎么|怎样)理解)"
)
# For a defined X only: X是什么 / X（都）包括哪些 (条例的施行日期是什么 asks no meaning)
_ASK_AFTER_DEFINED = r"(?:都|具体|主要|到底|究竟)?(?:是什么(?=$|[？?。！!，,；;\s]|呢|啊|吗|东西)|是啥|包括哪些|包括什么|包含哪些|分为哪些|有哪些类型)"
_ENGLISH_TERM = r"(?:\"[^\"]+\"|'[^']+'|[\w-]+(?:\s+[\w-]+){0,3})"
_NOT_A_TERM = (
    r"(?!(?:the|this|that|it|there|article|section|chapter|"
    r"required|needed|allowed|permitted|prohibited|forbidden|necessary)\b)"
)
_ARTICLE_REFERENCE = re.compile(
    r"第\s*[零〇一二三四五六七八九十百千\d]+\s*[条款项章节](?:之[一二三四五六七八九十]+)?|(?:本|该|这一?|此)[条款]"
)
_DEFINITION_QUESTION = re.compile(
    "|".join(
        (
            _ASK_BEFORE + r"(?=\s*[^\s§？?。，,！!])",  # 如何理解第五十条 asks about an article, not a term
            _ASK_AFTER,
            r"\bwhat\s+(?:is|are)\s+meant\s+by\b",
            r"\bwhat\s+(?:does|do|is|are)\b[^?]*?\b(?:mean|means|meant)\b",
            r"\b(?:definition|meaning)s?\s+of\b",
            r"\bdefine[sd]?\b",
            r"\bwhat\s+(?:counts|qualifies)\s+as\b",
            r"\bwhat\s+constitutes?\b",
            # what is public data? / what is a "public institution"? — a short noun phrase, not the penalty for …
            rf"\bwhat\s+(?:is|are)\s+(?:an?\s+)?{_NOT_A_TERM}{_ENGLISH_TERM}\s*[?.!]*$",
        )
    ),
    re.IGNORECASE,
)


def is_definition_question(question: str) -> bool:
    """True for a question that asks what a term means: 什么是公共数据 / 公共数据是什么意思 / 何为X /
    X的含义 / what is public data / what does the law mean by X / definition of X. Not for
    条例什么时候施行 or 违反条例怎么处罚; a bare X是什么 counts only for a defined X (asked_terms)."""
    text = _ARTICLE_REFERENCE.sub("§", _normalize(question).strip())
    return bool(_DEFINITION_QUESTION.search(text))


_PUNCTUATION = "，。？?！!；;,：:"
_ENGLISH_BEFORE = re.compile(
    r"\bwhat\s+(?:is|are)\s+(?:meant\s+by\s+|(?:an?|the)\s+)?"
    r"|\b(?:definition|meaning)s?\s+of\s+(?:the\s+term\s+)?|\bmean\s+by\s+|\bdefine\s+"
)
_ENGLISH_AFTER = re.compile(r"\s*(?:means?\b|is\s+defined\b|refers?\s+to\b)")
_ASK_BEFORE_RE = re.compile(_ASK_BEFORE)
_ASK_AFTER_RE = re.compile(_ASK_AFTER)


def _asked_spans(text: str) -> list[str]:
    """The parts of a question whose meaning it asks: after 什么是 / what is up to the next punctuation
    mark, before 的含义 / 是什么意思 / means back to the previous one."""
    text = _ARTICLE_REFERENCE.sub("§", text)
    spans = []
    for frame in (_ASK_BEFORE_RE, _ENGLISH_BEFORE):
        for match in frame.finditer(text):
            rest = text[match.end() :]
            spans.append(re.split(f"[{_PUNCTUATION}]", rest, maxsplit=1)[0])
    for frame in (_ASK_AFTER_RE, _ENGLISH_AFTER):
        for match in frame.finditer(text):
            before = text[: match.start()]
            spans.append(re.split(f"[{_PUNCTUATION}]", before)[-1])
    return [span for span in spans if span.strip()]


# Characters that may stand next to a term in a question without being part of a longer word:
# frames (什么是X, X的含义, X是指什么), fillers (条例中的X, 所称X), coordinators (X和Y)
_BEFORE_TERM = set("是叫为谓解的中里称说讲下和与及或、“”\"'「」『』《》 ")
_AFTER_TERM = set("是指的和与及或、“”\"'「」『』《》 呢吗啊含定意概怎如在有包分到具都主究")


def _bounded(text: str, term: str) -> bool:
    """True when term occurs in text as a word of its own: 公共数据 in 什么是公共数据, not 数据 in it."""
    for match in re.finditer(re.escape(term), text):
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if (not before or before in _BEFORE_TERM or not _CJK_CHAR.match(before)) and (
            not after or after in _AFTER_TERM or not _CJK_CHAR.match(after)
        ):
            return True
    return False


def _asks_about(text: str, term: str, present: list[str]) -> bool:
    """True when term ends the subject of 是什么 / 包括哪些, alone or after other defined terms joined
    by 和/与/及/、: 公共数据是什么？ / 公共数据和企业数据是什么？ (违反……的处罚是什么 asks no meaning)."""
    ordered = sorted(present, key=len, reverse=True)
    for match in re.finditer(_ASK_AFTER_DEFINED, text):
        subject = re.split(f"[{_PUNCTUATION}]", text[: match.start()])[-1].strip().strip(_QUOTES)
        while subject:
            ending = next((t for t in ordered if subject.endswith(t)), None)
            if ending is None:
                break
            if ending == term:
                return True
            subject = subject[: -len(ending)].strip().strip(_QUOTES)
            if not subject or subject[-1] not in "和与及、或":
                break
            subject = subject[:-1].strip().strip(_QUOTES)
    return False
