"""Follow-up questions → standalone questions, before retrieval.

A follow-up leans on the previous turn: on its standalone question (the frame) and on the articles
its answer cited. Fixed cue words (CUES) say which kind of follow-up a question is:

- an ordinal move (下一条, 上一条) or a paragraph/item (第二款, 第三项) of a cited article: the
  article is named, 《law》第N条, so that the exact article lookup pins it;
- a question about the law itself (谁制定的？, 什么时候施行？): the law is named;
- a reference to the term the previous turn asked the meaning of (这个概念, 这个术语): the term;
- a back-reference (这条, 该条, 它, 这件事; 这个 before 是), or a determiner before a noun the cited
  article holds (这个规划…): it is replaced by the name of the cited article that best supports the
  rest of the question; a question about breaking it (违反了它会怎么样？), or about the noun after the
  determiner (这个补偿具体怎么算？), is also tried without the article, since the answer is often in another one;
- an ellipsis (那人才呢？, 那违反了怎么处罚？): candidate rewrites — the follow-up alone (a bare subject
  as 关于X有什么规定？), the frame with one of its spans replaced by the follow-up's words (a noun's by
  a noun, a verb's by a verb; an earlier turn's frame when the last one has no such span), or the
  frame's spans carried into a follow-up that asks something of its own — are scored by their
  lexical support in the index (score()) and the best one kept (_choose()).

A question with none of these cues stands alone and is left unchanged. No model is called: a rewrite
costs a few BM25 look-ups (and jieba's dictionary, loaded once per process).

A rewrite names a law by its title (《…》是谁制定的？); retrieval scores the title as the law names
itself (本条例, LawNames.as_self_reference), so the title's words do not pull the articles that repeat them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..index import ASKING, TOPIC_MARKERS, Index, content_terms, content_words, tokenize
from ..ingest import CN_NUMBER, cn_to_int, int_to_cn
from ..records import Answer
from .lookup import find_article_refs

__all__ = ["Cues", "CUES", "MAX_SPAN_WORDS", "MAX_FRAMES", "MAX_CANDIDATES", "Candidate", "Cited", "score", "rewrite_question"]


@dataclass(frozen=True)
class Cues:
    """Every fixed word that the rewriting reads, in one place."""

    # Openings of a follow-up (stripped; any number of them, in any order)
    leads: tuple[str, ...] = (
        "那么", "那如果是", "那如果", "那要是", "那", "还有", "另外", "此外", "并且", "而且", "然后", "如果是", "要是",
        "再问一个", "再问一下", "再问", "想问一下", "想问下", "问一下", "请问", "顺便问一下", "换个问题",
    )
    # Classifiers after which 那 is a determiner (那种合同, 那些人, 那一条), not the opening 那; the ones that may also
    # start a word of their own (那个人信息呢 → 个人信息) only when they do not
    classifiers: tuple[str, ...] = ("种", "些", "样", "类")
    word_starts: tuple[str, ...] = ("个", "条", "款", "项", "次", "位", "家", "一", "时")
    trailing: tuple[str, ...] = ("呢",)  # 那人才呢？
    # Words after a subject that only mark it as the topic: 数据标注这块呢？, 资金方面呢？
    topic_markers: tuple[str, ...] = TOPIC_MARKERS
    # Words standing for a cited article (never matched inside 条例, nor 它 inside 其它)
    back_refs: tuple[str, ...] = (
        "这一条", "这条规定", "这条", "该条", "本条", "此条", "那一条", "那条", "上述规定", "这个规定", "这项规定", "该规定", "这一规定",
        "这款", "该款", "它", "这样做", "这么做", "这件事情", "这件事", "这个事情", "这个事", "这事", "这项工作",
    )
    # Words standing for the term the previous question asked the meaning of (这个概念在哪一条里用到？)
    term_refs: tuple[str, ...] = ("这个概念", "这一概念", "该概念", "这个术语", "该术语", "这个用语", "这个名词", "这个词", "这个说法")
    pointing: tuple[str, ...] = ("这个", "这")  # …and at the start of a question before a copula: 这是硬性规定吗？
    # Words that, before a noun the cited article holds, point at that article: 这个规划跟…是什么关系？
    determiners: tuple[str, ...] = ("这个", "这项", "这些", "这种", "这类", "该", "此")
    # Words that ask what follows from breaking the cited article (违反了它会怎么样？): the answer may
    # be in another article (the penalties chapter), so the follow-up is also tried without the article
    violation: tuple[str, ...] = ("违反", "违背", "不遵守", "不履行", "未履行", "不执行", "没有遵守", "没遵守")
    copulas: tuple[str, ...] = ("是", "算")
    # Words standing for the cited law
    law_refs: tuple[str, ...] = (
        "这部条例", "这个条例", "这条例", "该条例", "本条例", "这部法规", "该法规", "这部法律", "这部法", "这个法", "该法", "本法",
    )
    next_article: tuple[str, ...] = ("下一条", "后一条", "下条")
    previous_article: tuple[str, ...] = ("上一条", "前一条", "上条")
    # Questions about the law itself: its author, dates, revisions, validity
    document: tuple[str, ...] = (
        "谁制定", "哪个机关制定", "哪个部门制定", "制定机关", "谁通过", "什么时候通过", "何时通过", "哪年通过",
        "什么时候施行", "何时施行", "什么时候开始施行", "什么时候生效", "何时生效", "什么时候实施", "何时实施",
        "什么时候公布", "何时公布", "什么时候发布", "出台", "颁布", "修订过", "修改过", "修订", "还有效", "有效吗", "效力",
        "哪个机关通过", "哪次会议", "哪一年开始施行", "哪年开始施行", "哪一年施行", "哪年施行", "最近一次修改", "修正过",
    )
    # Words asking what follows from an act (the previous turn's): 被查到会怎么处罚？, 这么做会怎么罚？
    consequence: tuple[str, ...] = ("处罚", "罚款", "罚", "处理", "后果", "追究", "责任", "拘留", "吊销", "处分", "赔偿")
    # …and the references to that act: 这么做的话会怎么罚？
    act_refs: tuple[str, ...] = ("这么做", "这样做", "这种行为", "这种情况", "这种做法", "这样的话", "这么干", "这样")
    # Question words after which 是 reads naturally behind the law's name: 《…》是谁制定的？
    copula_before: tuple[str, ...] = ("谁", "什么时候", "何时", "哪")
    # What a question that is only a reference asks: 下一条呢？ → 《…》第十六条是什么？
    bare_ask: str = "是什么"
    # What a bare subject asks when no frame of the conversation takes it: 那文化领域呢？ → 关于文化领域有什么规定？
    subject_ask: str = "关于{}有什么规定？"
    # jieba part-of-speech tags: words that end a run of subject words (prepositions, conjunctions,
    # pronouns, classifiers, adverbs, particles, punctuation), and noun-like words (a span replaced by
    # a noun-like subject holds one: 公共数据怎么共享 + 个人信息 → 个人信息怎么共享, not …怎么个人信息)
    run_breaks: tuple[str, ...] = ("p", "c", "r", "q", "d", "u", "x", "y", "e", "o", "w")
    nominal: tuple[str, ...] = ("n", "l", "i", "j", "s", "f", "k", "b", "vn", "an")


CUES = Cues()
MAX_SPAN_WORDS = 4  # longest run of frame words that one subject replaces
MAX_FRAMES = 3  # earlier standalone questions an elliptical follow-up may take its frame from
MAX_CANDIDATES = 48  # rewrites scored for one follow-up (one BM25 look-up each): bounds a long frame's cost


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_LEAD = re.compile(rf"^(?:(?:{_alternation(CUES.leads)})[，,、：:\s]*)+")
_TRAILING = re.compile(rf"(?:{_alternation(CUES.trailing)})$")
_TOPIC = re.compile(rf"(?<=.)(?:{_alternation(CUES.topic_markers)})$")
_BACK_REF = re.compile(
    rf"(?<!其)(?:{_alternation(CUES.back_refs)})(?!例)|^(?:{_alternation(CUES.pointing)})(?={_alternation(CUES.copulas)})"
)
_LAW_REF = re.compile(_alternation(CUES.law_refs))
_DETERMINER = re.compile(rf"(?<!其)(?:{_alternation(CUES.determiners)})")
_VIOLATION = re.compile(_alternation(CUES.violation))
_TERM_REF = re.compile(_alternation(CUES.term_refs))
_NEXT = re.compile(_alternation(CUES.next_article))
_PREVIOUS = re.compile(_alternation(CUES.previous_article))
_DOCUMENT = re.compile(_alternation(CUES.document))
_CONSEQUENCE = re.compile(_alternation(CUES.consequence))
_ACT_REF = re.compile(rf"(?:{_alternation(CUES.act_refs)})(?:的话)?")
_PART = re.compile(rf"第\s*(?P<num>{CN_NUMBER})\s*(?P<kind>[款项])")
_ITEM_LINE = re.compile(r"\s*[（(][零一二三四五六七八九十百]+[）)]")
_END = re.compile(r"[？?。！!，,、：:\s]+$")


@dataclass(frozen=True)
class Cited:
    """An article the previous answer cited (article '' for the law's document record)."""

    law: str
    doc_id: str
    article: str

    @property
    def name(self) -> str:
        return f"《{self.law}》{self.article}"


@dataclass(frozen=True)
class Candidate:
    """A standalone form of the follow-up."""

    text: str
    own: str  # the follow-up's own words in it: their support decides, not just the frame's
    rows: tuple[int, ...] = ()  # the article it names (pinned by lookup); () → its best BM25 article


# --- the measure ------------------------------------------------------------------------------


def _terms(index: Index, text: str) -> list[str]:
    """Content terms without law names and article/paragraph references (those scope, not support)."""
    text = unicodedata.normalize("NFKC", text)
    spans = [(start, end) for _, start, end in index.names.mentions(text)]
    spans += [(ref.start, ref.end) for ref in find_article_refs(text)] + [m.span() for m in _PART.finditer(text)]
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return content_terms(text.replace("《", " ").replace("》", " "))


def score(index: Index, candidate: Candidate, scope: np.ndarray | None = None) -> tuple[float, float, float]:
    """The candidate's lexical support in its article (the one it names, else its best BM25 article
    within `scope`, where retrieval of the rewrite goes): the idf-weighted share of the follow-up's own
    terms found there, the same share of all its terms, and the idf mass of the terms found. A frame
    whose words pull that article away from the new subject so scores low on the subject. A term that
    no article contains weighs as much as the rarest one, as in the reader's support; zeros when no
    article shares a term with it."""
    terms = _terms(index, candidate.text)
    own = _terms(index, candidate.own)
    rows = list(candidate.rows)
    if not rows and terms:
        bm25 = index.lexical.scores(" ".join(terms), weight_mask=scope)
        # Among the articles holding the follow-up's own words, when there are any: the frame's words
        # alone must not pick an article that lacks the new subject
        rows = [int(np.argmax(bm25))] if bm25.max() > 0 else []
    if not rows:
        return 0.0, 0.0, 0.0
    article = " ".join(index.chunks[r].text + " " + " ".join(index.chunks[r].path) for r in rows)
    idf = {t: index.lexical.idf(t) for t in dict.fromkeys(terms + own)}
    rarest = max(idf.values(), default=0.0) or 1.0
    weight = {t: w or rarest for t, w in idf.items()}

    def share(words: Sequence[str]) -> float:
        total = sum(weight[t] for t in words)
        return sum(weight[t] for t in words if t in article) / total if total else 1.0

    return share(own), share(terms), sum(weight[t] for t in terms if t in article)


def _choose(
    index: Index, alone: Candidate | None, rewrites: list[Candidate], scope: np.ndarray | None = None, *, carried: bool = False
) -> Candidate | None:
    """The best-supported rewrite (by its own words' share, then all words' share, then the mass found;
    ties to the earlier one) if its article supports the follow-up's own words as well as the follow-up
    alone does: a frame that pulls retrieval away from the new words is no help. A subject `carried`
    into a follow-up that asks something of its own is taken only when one article supports all of the
    rewrite. None when nothing supports the follow-up's words."""

    def rounded(candidate: Candidate) -> tuple[float, ...]:
        return tuple(round(x, 3) for x in score(index, candidate, scope))

    ranked = sorted(((rounded(c), -i, c) for i, c in enumerate(rewrites)), key=lambda r: r[:2], reverse=True)
    by_itself = rounded(alone) if alone else (0.0, 0.0, 0.0)
    if ranked:
        (own, share, _), _, best = ranked[0]
        if own > 0 and own >= by_itself[0] and (not carried or share == 1.0):
            return best
    return alone if by_itself[0] > 0 else None


# --- reading the follow-up ----------------------------------------------------------------------


def _core(text: str) -> str:
    return _END.sub("", text.strip())


def _without_lead(text: str) -> str:
    """The question without its follow-up openings; a closing 那 that is a determiner (那种…) stays."""
    lead = _LEAD.match(text)
    if lead is None:
        return text
    rest = text[lead.end() :]
    if lead.group(0).endswith("那") and rest[:1] in CUES.classifiers:
        return "那" + rest
    if lead.group(0).endswith("那") and rest[:1] in CUES.word_starts:
        import jieba

        if len(jieba.lcut(rest)[0]) == 1 or (rest[:1] == "一" and rest[1:2] in (*CUES.classifiers, *CUES.word_starts)):
            return "那" + rest
    return rest


def _bare(text: str) -> str:
    """The question without its follow-up openings, trailing 呢, topic marker and end punctuation."""
    return _core(_TOPIC.sub("", _core(_TRAILING.sub("", _core(_without_lead(_core(text)))))))


def _words(text: str) -> list[tuple[str, str]]:
    """jieba's words with their part-of-speech tags."""
    import jieba.posseg

    return [(w.word, w.flag) for w in jieba.posseg.lcut(text)]


def _has_frame(words: str) -> bool:
    """Whether the words ask something of their own (hold a question word or filler), not just name a subject."""
    import jieba

    return any(content_terms(w) != list(dict.fromkeys(tokenize(w))) for w in jieba.lcut(words) if w.strip())


def _is_nominal(flag: str) -> bool:
    return flag in CUES.nominal or flag[:1] in CUES.nominal


def _named(bare: str, span: tuple[int, int], name: str, *, keep: bool = False) -> str:
    """The question with the reference at `span` replaced by (keep: put before) a name; a question that
    is nothing but the reference asks what it says (下一条 → 《…》第十六条是什么？)."""
    before, after = bare[: span[0]], bare[span[1] :]
    text = before + name + (bare[span[0] : span[1]] if keep else "") + after
    return text + ("" if _core(before + after) else CUES.bare_ask) + "？"


def _cited(previous: Answer, index: Index) -> list[Cited]:
    cited = list(dict.fromkeys(Cited(c.law, c.doc_id, c.article) for c in previous.citations))
    if not cited and len(index.laws) == 1:  # after an abstention the only law is still the subject
        cited = [Cited(index.laws[0].title, index.laws[0].doc_id, "")]
    return cited



# --- the kinds of follow-up ---------------------------------------------------------------------


def _ordinal(index: Index, bare: str, cited: list[Cited]) -> str | None:
    """下一条 / 上一条 of the first cited article, in the index's article order (之一 articles, chapter ends)."""
    match = _NEXT.search(bare) or _PREVIOUS.search(bare)
    first = next((c for c in cited if c.article), None)
    rows = index.chunk_rows(first.doc_id, first.article) if match and first else []
    if not rows:
        return None
    before, _ = index.neighbours(rows[0])
    _, after = index.neighbours(rows[-1])
    row = after if _NEXT.fullmatch(match.group(0)) else before
    if row is None:  # the law's first or last article: nowhere to move
        return None
    chunk = index.chunks[row]
    return _named(bare, match.span(), Cited(chunk.law, chunk.doc_id, chunk.article).name)


def _article_text(index: Index, cited: Cited) -> str:
    return "\n".join(index.chunks[r].text for r in index.chunk_rows(cited.doc_id, cited.article))


def _has_part(text: str, kind: str, number: int) -> bool:
    if kind == "款":
        return len([p for p in text.split("\n") if not _ITEM_LINE.match(p)]) >= number
    return bool(re.search(rf"[（(]{int_to_cn(number)}[）)]", text))


def _part(index: Index, bare: str, cited: list[Cited]) -> str | None:
    """第二款 / 第三项 of the first cited article that has it (else of the first cited article)."""
    match = _PART.search(bare)
    articles = [c for c in cited if c.article]
    if match is None or not articles:
        return None
    number, kind = cn_to_int(match.group("num")), match.group("kind")
    chosen = next((c for c in articles if _has_part(_article_text(index, c), kind, number)), articles[0])
    return _named(bare, match.span(), chosen.name, keep=True)


def _article_ref(index: Index, bare: str, cited: list[Cited], elliptical: bool) -> str | None:
    """第十条呢？ → 《law》第十条是什么？ in the cited law. A question that names an article but no law
    stands alone ('') in a one-law index unless it is elliptical; in a library the number needs its law."""
    refs = find_article_refs(bare)
    if not refs or not cited or index.names.mentions(bare):
        return None
    if len(index.laws) == 1 and not elliptical:
        return ""
    return _named(bare, (refs[0].start, refs[0].end), f"《{cited[0].law}》", keep=True)


def _document(index: Index, bare: str, cited: list[Cited]) -> str | None:
    """谁制定的？ → 《law》是谁制定的？: a question about the law
    itself when nothing but the law is its subject, or when it points back (它最早是什么时候通过的？)
    and the law's record supports it better than the cited articles do."""
    if not cited or not _DOCUMENT.search(bare) or index.names.mentions(bare):
        return None
    rest = _core(_BACK_REF.sub("", _LAW_REF.sub("", bare)))
    if _terms(index, _DOCUMENT.sub(" ", rest)):
        back = _BACK_REF.search(bare)
        if back is None:
            return None
        # The record first: the cue asks about the law, so a cited article must support the rest better
        pinned = [(cited[0].doc_id, "")] + [(c.doc_id, c.article) for c in cited if c.article]
        rewrites = [Candidate(rest, rest, tuple(index.chunk_rows(*key))) for key in pinned if index.chunk_rows(*key)]
        best = _choose(index, None, rewrites)
        if best is None or best.rows != tuple(index.chunk_rows(cited[0].doc_id, "")):
            return None
    if len(index.laws) == 1 and _LAW_REF.search(bare) and not _BACK_REF.search(bare):
        return ""  # 这部条例是谁制定的？ already says which law in a one-law index
    if rest.startswith(CUES.copula_before) and rest.endswith("的"):
        rest = "是" + rest
    return f"《{cited[0].law}》{rest}？"


def _consequence(bare: str, previous: Answer) -> str | None:
    """被查到会怎么处罚？ / 这么做的话会怎么罚？ → the previous standalone question, then this one: a follow-up asking
    what follows from the act the previous turn asked about, with no subject of its own (at most one content
    word besides the consequence it asks for), goes on about that act; the article that answered whether it
    is allowed rarely states the penalty, so no article is named."""
    if not _CONSEQUENCE.search(bare):
        return None
    act = _ACT_REF.search(bare)
    own = _ACT_REF.sub(" ", bare)
    rest = [w for w in content_words(own) if not any(c in w for c in CUES.consequence)]
    if not act and (len(rest) > 1 or _VIOLATION.search(bare)):
        return None  # a subject of its own, or 违反了怎么处罚？, which the ellipsis carries the frame's subject into
    return f"{_situation(previous.rewritten_question or previous.question)}，{_core(own).strip('，, ')}？"


def _situation(question: str) -> str:
    """What a question says happened, without what it asks: its last clause dropped when that clause asks
    (公司扣着我的档案不给转，这合法吗 → 公司扣着我的档案不给转), else its closing 吗."""
    clauses = _clauses(question)
    if _asking_clause(question):
        clauses = clauses[:-1]
    return re.sub(r"(?:吗|呢)$", "", "，".join(clauses))


def _term_reference(index: Index, bare: str, previous: Answer) -> str | None:
    """这个概念在哪一条里用到？ → 公共机构在哪一条里用到？, for the term whose meaning the previous turn asked."""
    match = _TERM_REF.search(bare)
    if match is None:
        return None
    asked = index.definitions.asked_terms(previous.rewritten_question or previous.question)
    if not asked:
        return None
    return bare[: match.start()] + asked[0].term + bare[match.end() :] + "？"


def _demonstrative(index: Index, bare: str, articles: list[Cited]) -> tuple[tuple[int, int], list[Candidate]]:
    """这个规划跟…是什么关系？ → 《law》第N条中的规划跟…是什么关系？, for each cited article that holds the
    noun after the determiner (not a law: 该条例 names the law); with the determiner's span."""
    for match in _DETERMINER.finditer(bare):
        if _LAW_REF.match(bare, match.start()):
            continue
        words = _words(bare[match.end() :])
        if not words or not _is_nominal(words[0][1]) or not content_terms(words[0][0]):
            continue
        own = bare[: match.start()] + " " + bare[match.end() :]
        return match.span(), [
            Candidate(_named(bare, match.span(), c.name + "中的"), own, tuple(index.chunk_rows(c.doc_id, c.article)))
            for c in articles
            if words[0][0] in _article_text(index, c)
        ]
    return (0, 0), []


def _back_reference(index: Index, bare: str, cited: list[Cited]) -> str | None:
    """这条适用于个人吗？ → 《law》第N条适用于个人吗？ (and 这个规划… → 《law》第N条中的规划…), for the cited
    article that best supports the rest. A follow-up asking what breaking it leads to (违反了它会怎么样？), or
    asking about a thing the cited article names (这个补偿具体怎么算？, 这个决定书多久送达？), is also tried without
    the article, within the law: the consequence, or the rule on that thing, is often in another article."""
    articles = [c for c in cited if c.article and index.chunk_rows(c.doc_id, c.article)]
    match = _BACK_REF.search(bare)
    if match is None:
        span, rewrites = _demonstrative(index, bare, articles)
    else:
        span, own = match.span(), bare[: match.start()] + " " + bare[match.end() :]
        rewrites = [Candidate(_named(bare, span, c.name), own, tuple(index.chunk_rows(c.doc_id, c.article))) for c in articles]
    if not rewrites:
        return None
    without = _core(bare[: span[0]] + bare[span[1] :])
    if _VIOLATION.search(without) or match is None:
        rewrites.append(Candidate(_in_law(index, without + "？", cited), rewrites[0].own))
    return (_choose(index, None, rewrites, _scope(index, cited)) or rewrites[0]).text


def _spans(index: Index, frame: str) -> Iterator[tuple[int, int, bool]]:
    """The frame's runs of subject words (one or more jieba words in a row, not filler, not function
    words) outside law names and article references: (start, end, whether a word of it is noun-like)."""
    blocked = [(s, e) for _, s, e in index.names.mentions(frame)] + [(r.start, r.end) for r in find_article_refs(frame)]
    blocked += [m.span() for m in _PART.finditer(frame)]
    runs: list[list[tuple[int, int, bool]]] = [[]]
    position = 0
    for word, flag in _words(frame):
        start, end = position, position + len(word)
        position = end
        subject = content_terms(word) and not _has_frame(word) and flag[:1] not in CUES.run_breaks
        if subject and not any(s < end and start < e for s, e in blocked):
            runs[-1].append((start, end, _is_nominal(flag)))
        elif runs[-1]:
            runs.append([])
    for run in runs:
        for i in range(len(run)):
            for j in range(i, min(len(run), i + MAX_SPAN_WORDS)):
                yield run[i][0], run[j][1], any(nominal for _, _, nominal in run[i : j + 1])


def _without_articles(index: Index, frame: str) -> str:
    """The frame without the articles it names (and the law name right before each): 《…》第四十一条对X有什么要求 → 对X有什么要求."""
    frame = unicodedata.normalize("NFKC", frame)
    law_ends = {end: start for _, start, end in index.names.mentions(frame)}
    for ref in sorted(find_article_refs(frame), key=lambda r: -r.start):
        start = law_ends.get(ref.start, ref.start)
        frame = frame[:start] + frame[ref.end :]
    return frame.replace("《》", "")


def _ellipsis(index: Index, bare: str, frame: str, cited: list[Cited]) -> list[Candidate]:
    """Rewrites of an elliptical follow-up. When its words are a bare subject (人才): the frame with one
    span replaced by them, a noun-like span for a noun-like subject and a verb-like one for a verb.
    When they ask something of their own (违反了怎么处罚): each span of
    the frame carried into them. A frame that names a cited article (这条… rewritten) is tried with the
    article, measured in it, and without it: a new subject may well be in another article. [] when
    the frame has no span of the subject's kind (第二款说了什么？ has none for 网络)."""
    if _has_frame(bare):
        spans = list(dict.fromkeys(_spans(index, frame)))[:MAX_CANDIDATES]
        return [Candidate(frame[s:e] + bare + "？", bare) for s, e, _ in spans]
    named = {ref.label for ref in find_article_refs(frame)}
    rows = tuple(r for c in cited if c.article in named for r in index.chunk_rows(c.doc_id, c.article))
    frames = [(frame, rows), (_without_articles(index, frame), ())] if rows else [(frame, ())]
    words = _words(bare)
    nominal = any(_is_nominal(flag) for _, flag in words)
    candidates = []
    ask = _asking_clause(frame)
    if ask and any(flag.startswith("v") for _, flag in words):
        # 那如果是开发商不给小区配物业用房呢？ after …，会被罚多少？: a whole situation takes the frame's question
        candidates.append(Candidate(f"{bare}，{ask}？", bare))
    for text, pinned in frames:
        spans = list(dict.fromkeys(_spans(index, text)))[: MAX_CANDIDATES // len(frames)]
        candidates += [Candidate(text[:s] + bare + text[e:] + "？", bare, pinned) for s, e, alike in spans if alike == nominal]
    return candidates


def _asking_clause(frame: str) -> str:
    """The frame's last clause when it is only a question about what came before (…，会被罚多少 / …，这合法吗)."""
    clauses = _clauses(frame)
    return clauses[-1] if len(clauses) > 1 and ASKING.search(clauses[-1]) else ""


def _clauses(text: str) -> list[str]:
    return [c for c in re.split(r"[，,；;]", _core(text)) if c.strip()]


def _scope(index: Index, cited: list[Cited]) -> np.ndarray | None:
    """In a library, the cited law's rows: a follow-up goes on about the same law."""
    if len(index.laws) < 2 or not cited:
        return None
    return (index.doc_ids == cited[0].doc_id).astype(np.float32)


def _in_law(index: Index, text: str, cited: list[Cited]) -> str:
    """In a library, the rewrite with the cited law named (for the 这部条例 it says, or in front) unless
    it names a law; in a one-law index, the rewrite as it is."""
    if len(index.laws) < 2 or not cited or index.names.mentions(text):
        return text
    law = f"《{cited[0].law}》"
    return _LAW_REF.sub(law, text, count=1) if _LAW_REF.search(text) else law + text


def rewrite_question(question: str, history: Sequence[Answer], index: Index) -> str:
    """The standalone form of a follow-up, from the previous turn's standalone question and the articles
    its answer cited; the question unchanged when it stands alone."""
    bare = _bare(question)
    if not history or not bare:
        return question
    previous = history[-1]
    cited = _cited(previous, index)
    elliptical = bare != _core(question) or not _has_frame(bare)
    for resolve in (
        lambda: _ordinal(index, bare, cited),
        lambda: _article_ref(index, bare, cited, elliptical),
        lambda: _part(index, bare, cited),
        lambda: _document(index, bare, cited),
        lambda: _consequence(bare, previous),
        lambda: _term_reference(index, bare, previous),
        lambda: _back_reference(index, bare, cited),
    ):
        resolved = resolve()
        if resolved is not None:
            return resolved or question
    if not elliptical:
        return _in_law(index, question, cited) if _LAW_REF.search(question) else question
    # The frame: the previous standalone question, else (when it has no span the subject can take) an
    # earlier one: 数据中心供电有什么安排？ → 第二款说了什么？ → 那网络呢？
    rewrites: list[Candidate] = []
    for turn in list(history)[::-1][:MAX_FRAMES]:
        rewrites = _ellipsis(index, bare, _core(turn.rewritten_question or turn.question), _cited(turn, index))
        if rewrites:
            break
    # A bare subject that no frame takes is asked about as such: 文化领域？ reads like no question at all
    alone = Candidate(bare + "？" if _has_frame(bare) else CUES.subject_ask.format(bare), bare)
    chosen = _choose(index, alone, rewrites, _scope(index, cited), carried=_has_frame(bare))
    return _in_law(index, chosen.text, cited) if chosen else question
