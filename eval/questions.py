"""Question sets: JSONL loading with line-numbered validation, and gold articles checked against an index.

One JSON object a line: `id`, `question`, `gold` (list of `{law, article, doc_id?}`; an empty list means
the corpus does not answer the question), optional `type` and `keywords`. A gold article may also be a
bare label (第五十四条) or an integer (54) when the index holds a single law."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Iterable

from rag.errors import RagError
from rag.index import Index
from rag.ingest import make_label, parse_label

__all__ = [
    "EvalError",
    "QuestionSetError",
    "Problem",
    "LawArticle",
    "Question",
    "Catalog",
    "MissingGold",
    "Resolution",
    "parse_questions",
    "load_questions",
    "resolve_gold",
]

_MAX_LISTED = 20  # problems spelled out in a QuestionSetError message


class EvalError(RagError):
    """An evaluation cannot run as asked; the message says why."""


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"第 {self.line} 行：{self.message}"


class QuestionSetError(EvalError):
    """A question set has malformed lines; `problems` lists each with its line number."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        listed = [str(p) for p in problems[:_MAX_LISTED]]
        if len(problems) > _MAX_LISTED:
            listed.append(f"……另有 {len(problems) - _MAX_LISTED} 处")
        super().__init__(f"问题集 {source} 有 {len(problems)} 处错误：\n" + "\n".join(listed))


@dataclass(frozen=True)
class LawArticle:
    """An article of a law, as gold, retrieved or cited."""

    law: str  # title; "" for a bare gold label not yet resolved against the index
    article: str  # label such as 第五十四条; "" for the law's document-level record
    doc_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What identifies it: (doc_id, or the title when there is none, label)."""
        return (self.doc_id or self.law, self.article)

    @property
    def label(self) -> str:
        return f"《{self.law}》{self.article or '（文件信息）'}"

    def matches(self, other: LawArticle) -> bool:
        """Whether `other` (a retrieved or cited article) is this gold article:
        the same doc_id when this one has one, else the same title, and the same label."""
        same_law = self.doc_id == other.doc_id if self.doc_id else self.law == other.law
        return same_law and self.article == other.article


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: tuple[LawArticle, ...]  # empty: the corpus does not answer it
    type: str = ""
    keywords: tuple[str, ...] = ()
    line: int = 0  # 1-based line in the question set
    conversation: str = ""  # id of the conversation this question is a turn of ("": asked alone)
    turn: int = 0  # 1-based turn in that conversation; later turns are asked with the earlier answers

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def _label(value: object) -> str:
    """A gold article as a canonical label: 54, "54", "第54条" → 第五十四条; "" stays "" (the document)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"article 应为条文编号（如 第五十四条）或整数，收到的是 {type(value).__name__}")
    text = str(value).strip()
    if not text:
        return ""
    try:
        if text.isdigit():
            return make_label(int(text))
        return make_label(*parse_label(text))
    except ValueError:
        raise ValueError(f"“{text}” 不是条文编号（应如 第五十四条 或 54）") from None


def _gold_item(item: object, where: str) -> LawArticle:
    if isinstance(item, dict):
        law, doc_id = item.get("law", ""), item.get("doc_id", "")
        if not isinstance(law, str) or not isinstance(doc_id, str):
            raise ValueError(f"{where} 的 law 和 doc_id 应为字符串")
        if "article" not in item:
            raise ValueError(f"{where} 缺少 article（法规本身的信息请写 \"\"）")
        return LawArticle(law.strip(), _label(item["article"]), doc_id.strip())
    try:
        return LawArticle("", _label(item))
    except ValueError as error:
        raise ValueError(f"{where}：{error}") from None


def _parse_question(record: dict, qid: str, line: int, where: str = "") -> tuple[Question | None, list[str]]:
    """One question (or one turn of a conversation) from its JSON object; `where` prefixes messages."""
    errors: list[str] = []
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        errors.append(f"{where}缺少 question（非空字符串）")
    gold: list[LawArticle] = []
    if "gold" not in record:
        errors.append(f"{where}缺少 gold（不可回答的问题请写 []）")
    elif not isinstance(record["gold"], list):
        errors.append(f"{where}gold 应为列表")
    else:
        for i, item in enumerate(record["gold"]):
            try:
                gold.append(_gold_item(item, f"{where}gold[{i}]"))
            except ValueError as error:
                errors.append(str(error))
    keywords = record.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k.strip() for k in keywords):
        errors.append(f"{where}keywords 应为非空字符串的列表")
    if errors:
        return None, errors
    return Question(qid, question.strip(), tuple(dict.fromkeys(gold)), "", tuple(keywords), line), []


def _parse_line(text: str, line: int) -> tuple[list[Question], list[str]]:
    """The question on one line (or the turns of a conversation: {"id", "type", "turns": [...]}), or the
    reasons it is malformed. A conversation's turns get ids id#1, id#2…, types 首轮 and 追问·type."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        return [], [f"不是合法的 JSON（{error.msg}，第 {error.colno} 列）"]
    if not isinstance(record, dict):
        return [], [f"应为 JSON 对象，收到的是 {type(record).__name__}"]
    errors: list[str] = []
    qid = record.get("id")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or not str(qid).strip():
        errors.append("缺少 id（非空字符串）")
    kind = record.get("type", "")
    if not isinstance(kind, str):
        errors.append("type 应为字符串")
        kind = ""
    qid = str(qid).strip()
    if "turns" not in record:
        question, found = _parse_question(record, qid, line)
        errors += found
        return ([replace(question, type=kind.strip())] if question and not errors else []), errors
    turns = record["turns"]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
        return [], errors + ["turns 应为非空的对象列表"]
    questions = []
    for number, turn in enumerate(turns, start=1):
        question, found = _parse_question(turn, f"{qid}#{number}", line, f"turns[{number - 1}] ")
        errors += found
        if question:
            questions.append(replace(question, type="首轮" if number == 1 else f"追问·{kind.strip()}", conversation=qid, turn=number))
    return ([] if errors else questions), errors


def parse_questions(lines: Iterable[str], source: str = "问题集") -> list[Question]:
    """Parse JSONL lines (blank lines skipped); QuestionSetError lists every malformed line."""
    questions: list[Question] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        parsed, errors = _parse_line(text, number)
        problems.extend(Problem(number, e) for e in errors)
        for question in parsed:
            if question.id in seen:
                problems.append(Problem(number, f"id “{question.id}” 与第 {seen[question.id]} 行重复"))
                continue
            seen[question.id] = number
            questions.append(question)
    if problems:
        raise QuestionSetError(source, problems)
    if not questions:
        raise EvalError(f"问题集 {source} 中没有问题")
    return questions


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """The questions of a JSONL file (all lines validated), the first `limit` of them when given."""
    path = Path(path)
    if limit is not None and limit < 1:
        raise EvalError("--limit 必须是正整数")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            questions = parse_questions(handle, str(path))
    except FileNotFoundError:
        raise EvalError(f"找不到问题集：{path}") from None
    except UnicodeDecodeError:
        raise EvalError(f"问题集 {path} 不是 UTF-8 文本") from None
    return questions[:limit]


@dataclass(frozen=True)
class Catalog:
    """The articles an index holds (each with title and doc_id), to check gold articles against."""

    articles: frozenset[LawArticle]

    @classmethod
    def from_index(cls, index: Index) -> Catalog:
        return cls(frozenset(LawArticle(c.law, c.article, c.doc_id) for c in index.chunks))

    @cached_property
    def titles(self) -> dict[str, str]:
        """doc_id → title."""
        return {a.doc_id: a.law for a in self.articles}


@dataclass(frozen=True)
class MissingGold:
    """A gold article the index does not hold: reported, and left out of scoring."""

    question_id: str
    line: int
    law: str
    article: str
    doc_id: str
    reason: str

    def __str__(self) -> str:
        article = LawArticle(self.law or self.doc_id, self.article)
        return f"第 {self.line} 行（{self.question_id}）：{article.label} {self.reason}"


@dataclass(frozen=True)
class Resolution:
    questions: list[Question]  # to score, with gold articles that are in the index
    missing: list[MissingGold]
    skipped: list[str]  # ids of answerable questions none of whose gold articles are in the index


def _resolve_one(gold: LawArticle, catalog: Catalog) -> LawArticle | str:
    """The gold article with its doc_id filled in when it is unambiguous, or why the index lacks it."""
    if gold.doc_id:
        if gold.doc_id not in catalog.titles:
            return f"不在索引中：索引里没有 doc_id 为 {gold.doc_id} 的法规"
        found = LawArticle(catalog.titles[gold.doc_id], gold.article, gold.doc_id)
        return found if found in catalog.articles else "不在索引中：该法规没有这一条"
    doc_ids = sorted(d for d, title in catalog.titles.items() if title == gold.law)
    if not doc_ids:
        return f"不在索引中：索引里没有名为《{gold.law}》的法规"
    holding = [d for d in doc_ids if LawArticle(gold.law, gold.article, d) in catalog.articles]
    if not holding:
        return "不在索引中：该法规没有这一条"
    return LawArticle(gold.law, gold.article, holding[0]) if len(holding) == 1 else gold


def resolve_gold(questions: list[Question], catalog: Catalog) -> Resolution:
    """Check every gold article against the index: bare labels get the single law's title, articles the
    index lacks are reported as MissingGold. Bare labels over a library raise QuestionSetError."""
    single = next(iter(catalog.titles.items())) if len(catalog.titles) == 1 else None
    problems: list[Problem] = []
    resolved: list[Question] = []
    missing: list[MissingGold] = []
    skipped: list[str] = []
    for question in questions:
        kept: list[LawArticle] = []
        for gold in question.gold:
            if not gold.law and not gold.doc_id:
                if single is None:
                    problems.append(
                        Problem(question.line, f"{gold.article} 没有写明法规，而索引中有 {len(catalog.titles)} 部法规")
                    )
                    continue
                gold = LawArticle(single[1], gold.article, single[0])
            result = _resolve_one(gold, catalog)
            if isinstance(result, str):
                missing.append(MissingGold(question.id, question.line, gold.law, gold.article, gold.doc_id, result))
            else:
                kept.append(result)
        if question.gold and not kept:
            skipped.append(question.id)
            continue
        resolved.append(replace(question, gold=tuple(dict.fromkeys(kept))))
    if problems:
        raise QuestionSetError("问题集", problems)
    return Resolution(resolved, missing, skipped)
