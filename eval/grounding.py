"""Pure checks of whether an answer says only what its cited articles say (for generated answers; an
extractive answer, which quotes, passes them by construction).

- claims(): the checkable facts of a text: numbers (Arabic, or Chinese numerals with a unit: 三十日, 五年,
  两倍), dates (2026年1月1日 → its numbers), amounts (5万元, 百分之十) and named bodies (…人民政府, …部门,
  …委员会, 人民法院: a body word with the two characters before it). Article ordinals (第五十条, 第二款),
  citation markers and 《titles》 are references, not claims.
- unsupported_claims(): the claims of an answer that none of its cited articles contains: a number whose
  value no cited article states (in either script), a body whose name no cited article has.
- sentence_support(): for each (sentence, cited [n]) pair of an answer, whether the article supports the
  sentence by wording: at least half of the sentence's character bigrams (markers, punctuation and the
  question's filler words left out) appear in the article. A proxy, checked by reading (docs/llm.md)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping, Sequence

from rag.ingest import cn_to_int

__all__ = ["Claim", "claims", "unsupported_claims", "sentence_support", "SUPPORT_THRESHOLD", "split_sentences"]

SUPPORT_THRESHOLD = 0.5  # share of a sentence's bigrams its cited article must hold

_MARKER = re.compile(r"[\[【［]\s*(?:编号|条文)?\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*[\]】］]")
_LEADING_MARKERS = re.compile(r"(?:\s*[\[【［]\s*(?:编号|条文)?\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*[\]】］])+")
_TITLE = re.compile(r"《[^》]{0,80}》")
_CN = "零〇一二两三四五六七八九十百千万"
_UNIT = r"(?:个月|个工作日|个|日|天|年|月|倍|次|周岁|岁|小时|分钟|元|万元|亿元|人|名|户|项|家|%|％)"
# an ordinal or a label: 第五十条, 第2款, 第三项; "前款" and the like hold no number
_ORDINAL = re.compile(
    rf"第\s*[{_CN}\d０-９]+\s*(?:条|款|项|章|节|编|目|号|次|批|类|级)?(?:\s*之\s*[{_CN}\d]+)?"
    rf"|[{_CN}\d０-９]+\s*(?:条|款|项)(?:\s*之\s*[{_CN}\d]+)?"  # "87条说的是", "第三十九条第一项": labels too
)
_ARABIC = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)?")  # 100万 is one number
_CHINESE = re.compile(rf"(?<![\d.])(?:(?:百分之)?[{_CN}]+(?={_UNIT})|百分之[{_CN}]+)")
_BODY_WORDS = (
    "人民政府", "人民法院", "人民检察院", "常务委员会", "委员会", "人民代表大会", "行政部门", "主管部门", "部门", "机关",
    "机构", "政府", "法院", "检察院", "办公室", "中心", "协会", "工会", "公安局", "局", "厅",
)
_BODY = re.compile("|".join(sorted(map(re.escape, _BODY_WORDS), key=len, reverse=True)))
# two characters before a body word that name no particular body: "有关部门" names none
_GENERIC = {"有关", "相关", "其他", "上述", "前款", "该等", "各级", "以上", "以下", "所在", "本级", "上级", "下级", "同级", "哪个", "什么", "哪些", "负责", "管理"}
_NOT_NAME = set("的个们这那些每哪")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]?")
_FILLER = set("的了是在和与及或等对由其之所为并也就都而且以")


@dataclass(frozen=True)
class Claim:
    kind: str  # number | body
    text: str  # as written in the answer
    value: str  # what is looked for in the articles: the number's value, or the body's name


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    for pattern in (_MARKER, _TITLE, _ORDINAL):
        text = pattern.sub(" ", text)
    return text


def _value(number: str) -> str | None:
    """The value of an Arabic or Chinese numeral as a canonical string ("30", "0.5"); None if unreadable."""
    percent = number.startswith("百分之")
    digits = number.removeprefix("百分之")
    try:
        value = float(digits) if _ARABIC.fullmatch(digits) else float(cn_to_int(digits))
    except ValueError:
        return None
    text = f"{value:g}"
    return text + "%" if percent else text


def _numbers(text: str) -> list[tuple[str, str]]:
    """(as written, value) of each number in a text already stripped of references."""
    found = []
    for match in _CHINESE.finditer(text):
        if (value := _value(match.group())) is not None:
            found.append((match.group(), value))
    for match in _ARABIC.finditer(text):
        number = float(match.group(1)) * {"万": 10_000, "亿": 100_000_000}.get(match.group(2) or "", 1)
        percent = text[match.end() : match.end() + 1] in ("%", "％")
        found.append((match.group() + ("%" if percent else ""), f"{number:g}" + ("%" if percent else "")))
    return found


def _values(text: str) -> set[str]:
    """The values of the numbers a text states, percentages also as plain numbers."""
    values = {value for _, value in _numbers(_plain(text))}
    return values | {v.removesuffix("%") for v in values}


def _bodies(text: str) -> list[tuple[str, str]]:
    """(as written, name to look for) of each named body: the body word with the two characters before it,
    or the word alone where those two name no particular body."""
    found = []
    for match in _BODY.finditer(text):
        head = text[max(0, match.start() - 2) : match.start()]
        if any(c in _NOT_NAME for c in head):  # "县里的部门", "各个部门": a description, not a name
            continue
        if len(head) == 2 and all(_CJK.match(c) for c in head) and head not in _GENERIC:
            found.append((head + match.group(), head + match.group()))
        elif match.group() not in ("部门", "机关", "机构", "政府", "中心", "局", "厅"):
            found.append((match.group(), match.group()))
    return found


def claims(text: str) -> list[Claim]:
    """The checkable facts of a text: its numbers (dates and amounts by their numbers) and named bodies."""
    plain = _plain(text)
    return [Claim("number", written, value) for written, value in _numbers(plain)] + [
        Claim("body", written, name) for written, name in _bodies(plain)
    ]


def unsupported_claims(answer: str, cited: Sequence[str], question: str = "") -> list[Claim]:
    """The claims of the answer that none of the cited article texts contains; facts the question itself
    states ("我干了三年零八个月") are the asker's, not claims about the law."""
    values = set().union(*(_values(t) for t in [*cited, question]))
    joined = unicodedata.normalize("NFKC", "\n".join([*cited, question]))
    missing = []
    for claim in claims(answer):
        if claim.kind == "number":
            if claim.value not in values and claim.value.removesuffix("%") not in values:
                missing.append(claim)
        elif claim.value not in joined:
            missing.append(claim)
    return missing


def split_sentences(text: str) -> list[str]:
    """The sentences of a text; markers written after a sentence's full stop ("…过错。[1]") stay with it."""
    sentences: list[str] = []
    for sentence in (s.strip() for s in _SENTENCE.findall(text)):
        lead = _LEADING_MARKERS.match(sentence)
        if sentences and lead:
            sentences[-1] += lead.group().strip()
            sentence = sentence[lead.end() :].strip()
        if sentence and _MARKER.sub("", sentence).strip(" 。，,；;"):
            sentences.append(sentence)
        elif sentence and sentences:
            sentences[-1] += sentence
    return sentences


def _bigrams(text: str) -> set[str]:
    chars = [c for c in _plain(text) if _CJK.match(c) or c.isalnum()]
    chars = [c for c in chars if c not in _FILLER]
    return {a + b for a, b in zip(chars, chars[1:])}


def sentence_support(answer: str, articles: Mapping[int, str], threshold: float = SUPPORT_THRESHOLD) -> list[tuple[str, int, bool]]:
    """(sentence, n, supported) for each citation [n] of each sentence of the answer, where `articles` maps
    the answer's citation numbers to the cited article texts; a marker for a number not in `articles` is
    unsupported. Sentences without a marker are not listed."""
    pairs = []
    for sentence in split_sentences(answer):
        numbers = [int(n) for marker in _MARKER.findall(sentence) for n in re.findall(r"\d+", marker)]
        if not numbers:
            continue
        grams = _bigrams(sentence)
        for number in dict.fromkeys(numbers):
            article = articles.get(number)
            if article is None:
                pairs.append((sentence, number, False))
                continue
            held = _bigrams(article)
            share = len(grams & held) / len(grams) if grams else 1.0
            pairs.append((sentence, number, share >= threshold))
    return pairs
