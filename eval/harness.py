"""Run configurations over a question set: each question through retrieve() and answer(), timed, scored.

A configuration is a set of callables, so tests can pass fakes; build_configs() makes the standard ones
(bm25, dense, hybrid, optionally with another embedding model) from the public API."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar, get_args

from tqdm import tqdm

import rag
from rag.answering import LLMConfig
from rag.errors import RagError
from rag.records import Answer, Hit, Stance
from rag.retrieval import Mode

from .metrics import (
    CUTOFF,
    DEPTH,
    RECALL_KS,
    abstention_scores,
    citation_precision,
    citation_recall,
    dedupe,
    found_keywords,
    gold_ranks,
    hit_at_k,
    keyword_recall,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
)
from .questions import Catalog, EvalError, LawArticle, MissingGold, Question, load_questions, resolve_gold

__all__ = [
    "FORMAT",
    "OFFTOPIC",
    "DEFAULT_CONFIGS",
    "SHOWN_HITS",
    "OK_RANK",
    "Config",
    "Settings",
    "GoldRank",
    "Row",
    "Summary",
    "ConfigResult",
    "Report",
    "config_name",
    "build_configs",
    "summarize",
    "evaluate",
    "evaluate_file",
]

FORMAT = 1  # version of report.json
DEFAULT_CONFIGS = ("bm25", "dense", "hybrid")
SHOWN_HITS = 10  # retrieved articles kept per question in the report
OK_RANK = 5  # a question's retrieval counts as right when a gold article is within this rank
UNTYPED = "（未标注）"
OFFTOPIC = "offtopic"  # the type of a question about other laws asked of a law (eval.suites makes them)

T = TypeVar("T")


@dataclass(frozen=True)
class Config:
    """One system to evaluate."""

    name: str
    retrieve: Callable[[str, int], list[Hit]]  # (question, k) → hits, best first
    answer: Callable[..., Answer]  # (question) → Answer; (question, history) for a conversation's later turns
    load: Callable[[], Catalog]  # loads the index (timed as index load) and lists the articles it holds


def config_name(spec: str, llm: LLMConfig | None = None) -> str:
    """The name a configuration is reported under: the spec, followed by +backend:model when an LLM answers."""
    return f"{spec.strip()}+{llm.name}" if llm else spec.strip()


def build_configs(
    specs: Sequence[str], *, index: str | Path | None = None, model: str | None = None, k: int = 5, llm: LLMConfig | None = None
) -> list[Config]:
    """Configurations calling rag.retrieve()/rag.answer(): each spec is a mode (bm25, dense, hybrid), or
    mode@model to use another embedding model; `model` applies to specs without one, `k` to answer(),
    `llm` (when given) writes every configuration's answers, named by config_name()."""
    modes = get_args(Mode)
    generator = {"llm": llm} if llm else {}  # answer() without llm is the extractive reader
    configs: list[Config] = []
    for spec in specs:
        mode, _, own_model = spec.strip().partition("@")
        if mode not in modes:
            raise EvalError(f"未知的配置 “{spec}”：应为 {'、'.join(modes)}，可加 @模型，如 dense@BAAI/bge-m3")
        chosen = own_model or model
        configs.append(
            Config(
                name=config_name(spec, llm),
                retrieve=lambda q, n, mode=mode, m=chosen: rag.retrieve(q, n, index=index, mode=mode, model=m),
                answer=lambda q, history=(), mode=mode, m=chosen: rag.answer(
                    q, index=index, k=k, mode=mode, model=m, history=history, **generator
                ),
                load=lambda m=chosen: Catalog.from_index(rag.get_index(index, model=m)),
            )
        )
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise EvalError(f"配置重复：{','.join(names)}")
    return configs


@dataclass(frozen=True)
class Settings:
    """How a report was produced, recorded in it."""

    questions: str = ""  # path of the question set
    index: str = ""  # index directory; "" for the default index
    k: int = 5  # passages answer() reads
    limit: int | None = None
    depth: int = DEPTH  # hits asked of retrieve()


@dataclass(frozen=True)
class GoldRank:
    gold: LawArticle
    rank: int | None  # within the first `depth` hits; None when not retrieved

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.gold), "rank": self.rank}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GoldRank:
        return cls(LawArticle(data["law"], data["article"], data["doc_id"]), data["rank"])


@dataclass
class Row:
    """One question under one configuration."""

    id: str
    type: str
    question: str
    gold: list[GoldRank]  # empty: unanswerable
    retrieved: list[LawArticle]  # the first SHOWN_HITS distinct articles retrieve() returned
    cited: list[LawArticle]  # distinct articles answer() cited
    abstained: bool
    answer: str  # the answer's text
    keywords: list[str]
    retrieve_ms: float
    answer_ms: float
    error: str = ""  # a RagError raised for this question; it then counts as a miss
    rewritten: str = ""  # a follow-up turn's standalone form, as answer() rewrote it
    stance: str = ""  # the answer's Stance ("" when answer() failed)
    law: str = ""  # the law whose one-law index answered it, in a suite's pooled report

    @property
    def answerable(self) -> bool:
        return bool(self.gold)

    @property
    def offtopic(self) -> bool:
        """A question about other laws, asked of this one (a suite's off-topic question)."""
        return self.type == OFFTOPIC

    @property
    def gold_articles(self) -> list[LawArticle]:
        return [g.gold for g in self.gold]

    @property
    def ranks(self) -> list[int | None]:
        return [g.rank for g in self.gold]

    @property
    def found_keywords(self) -> list[str]:
        return found_keywords(self.answer, self.keywords)

    @property
    def retrieval_ok(self) -> bool | None:
        """A gold article within the top OK_RANK; None for an unanswerable question."""
        hit = hit_at_k(self.ranks, OK_RANK)
        return None if hit is None else hit == 1.0

    @property
    def answer_ok(self) -> bool:
        """Answerable: answered (stance answered) citing a gold article; unanswerable: not answered (the related
        articles quoted as related, or not covered); a row from before stances: abstained or not."""
        answered = self.stance == Stance.ANSWERED if self.stance else not self.abstained
        if not self.answerable:
            return not answered
        return answered and bool(citation_recall(self.cited, self.gold_articles))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gold"] = [g.to_dict() for g in self.gold]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        return cls(
            **{
                **data,
                "gold": [GoldRank.from_dict(g) for g in data["gold"]],
                "retrieved": [LawArticle(**a) for a in data["retrieved"]],
                "cited": [LawArticle(**a) for a in data["cited"]],
            }
        )


@dataclass
class Summary:
    questions: int
    answerable: int
    errors: int
    metrics: dict[str, float | None]  # by the names in metrics.METRIC_NAMES

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(**data)


def summarize(rows: Sequence[Row], index_load_s: float | None = None) -> Summary:
    """All metrics over the rows: retrieval and citations over answerable questions, keyword recall over
    questions with keywords, abstention over all; index_load_s is included when given."""
    answerable = [r for r in rows if r.answerable]
    metrics: dict[str, float | None] = {}
    for k in RECALL_KS:
        metrics[f"recall@{k}"] = mean(recall_at_k(r.ranks, k) for r in answerable)
    for k in RECALL_KS:
        metrics[f"hit@{k}"] = mean(hit_at_k(r.ranks, k) for r in answerable)
    metrics[f"mrr@{CUTOFF}"] = mean(reciprocal_rank(r.ranks, CUTOFF) for r in answerable)
    metrics[f"ndcg@{CUTOFF}"] = mean(ndcg_at_k(r.ranks, CUTOFF) for r in answerable)
    metrics["citation_precision"] = mean(citation_precision(r.cited, r.gold_articles) for r in answerable)
    metrics["citation_recall"] = mean(citation_recall(r.cited, r.gold_articles) for r in answerable)
    metrics["answered_from_gold"] = mean(float(r.answer_ok) for r in answerable)
    metrics["followup_answer_ok"] = mean(float(r.answer_ok) for r in rows if r.type.startswith("追问"))
    metrics["keyword_recall"] = mean(keyword_recall(r.answer, r.keywords) for r in rows)
    abstention = abstention_scores([not r.answerable for r in rows], [r.abstained for r in rows])
    metrics["abstention_precision"] = abstention.precision
    metrics["abstention_recall"] = abstention.recall
    metrics["abstention_f1"] = abstention.f1
    metrics["false_abstention_rate"] = abstention.false_abstention_rate
    near = [r for r in rows if not r.answerable and not r.offtopic]
    metrics["answered_rate"] = mean(float(r.stance == Stance.ANSWERED) for r in answerable)
    metrics["unanswerable_answered_rate"] = mean(float(r.stance == Stance.ANSWERED) for r in near)
    metrics["offtopic_not_covered_rate"] = mean(float(r.stance == Stance.NOT_COVERED) for r in rows if r.offtopic)
    for call in ("retrieve", "answer"):
        times = [getattr(r, f"{call}_ms") for r in rows]
        metrics[f"{call}_p50_ms"] = percentile(times, 50)
        metrics[f"{call}_p95_ms"] = percentile(times, 95)
    if index_load_s is not None:
        metrics["index_load_s"] = index_load_s
    return Summary(len(rows), len(answerable), sum(1 for r in rows if r.error), metrics)


@dataclass
class ConfigResult:
    name: str
    summary: Summary
    by_type: dict[str, Summary]  # question type → its summary, in order of first appearance
    rows: list[Row]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": asdict(self.summary),
            "by_type": {t: asdict(s) for t, s in self.by_type.items()},
            "rows": [r.to_dict() for r in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigResult:
        return cls(
            name=data["name"],
            summary=Summary.from_dict(data["summary"]),
            by_type={t: Summary.from_dict(s) for t, s in data["by_type"].items()},
            rows=[Row.from_dict(r) for r in data["rows"]],
        )


@dataclass
class Report:
    settings: Settings
    created: str
    configs: list[ConfigResult]
    missing_gold: list[MissingGold] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # answerable questions with no gold article in the index

    def config(self, name: str) -> ConfigResult | None:
        return next((c for c in self.configs if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "settings": asdict(self.settings),
            "created": self.created,
            "configs": [c.to_dict() for c in self.configs],
            "missing_gold": [asdict(m) for m in self.missing_gold],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EvalError(f"不是本工具生成的评测报告（需要 format {FORMAT}）")
        return cls(
            settings=Settings(**data["settings"]),
            created=data["created"],
            configs=[ConfigResult.from_dict(c) for c in data["configs"]],
            missing_gold=[MissingGold(**m) for m in data["missing_gold"]],
            skipped=list(data["skipped"]),
        )


def _timed(call: Callable[[], T]) -> tuple[T | None, float, str]:
    """The call's result (None if it raised a RagError), its milliseconds, and the error message."""
    started = time.perf_counter()
    try:
        result, error = call(), ""
    except RagError as failure:
        result, error = None, str(failure) or type(failure).__name__
    return result, (time.perf_counter() - started) * 1000, error


def _run_question(config: Config, question: Question, depth: int, history: list[Answer]) -> tuple[Row, Answer | None]:
    """The row of one question; a conversation's later turn is answered with the earlier answers, and its
    ranks come from the passages answer() read for the rewritten question (the turn alone means little)."""
    if question.turn > 1:
        reply, answer_ms, answer_error = _timed(lambda: config.answer(question.question, history))
        hits, retrieve_ms, retrieve_error = (reply.passages if reply else []), 0.0, ""
    else:
        hits, retrieve_ms, retrieve_error = _timed(lambda: config.retrieve(question.question, depth))
        reply, answer_ms, answer_error = _timed(lambda: config.answer(question.question))
    ranking = [LawArticle(h.law, h.article, h.doc_id) for h in hits or []]
    ranks = gold_ranks(ranking, question.gold)
    return Row(
        id=question.id,
        type=question.type or UNTYPED,
        question=question.question,
        gold=[GoldRank(g, r) for g, r in zip(question.gold, ranks)],
        retrieved=dedupe(ranking)[:SHOWN_HITS],
        cited=dedupe(LawArticle(c.law, c.article, c.doc_id) for c in reply.citations) if reply else [],
        abstained=bool(reply and reply.abstained),
        answer=reply.text if reply else "",
        keywords=list(question.keywords),
        retrieve_ms=retrieve_ms,
        answer_ms=answer_ms,
        error="；".join(e for e in (retrieve_error, answer_error) if e),
        rewritten=reply.rewritten_question if reply else "",
        stance=str(reply.stance) if reply else "",
    ), reply


def _by_type(rows: list[Row]) -> dict[str, Summary]:
    types = dict.fromkeys(r.type for r in rows)
    return {t: summarize([r for r in rows if r.type == t]) for t in types}


def evaluate(
    questions: Sequence[Question],
    configs: Sequence[Config],
    *,
    settings: Settings = Settings(),
    progress: bool = True,
) -> Report:
    """Run every question through every configuration and score it; a progress bar on stderr when `progress`.

    Each configuration's index is loaded first (timed); gold articles it lacks are reported and left out."""
    if not configs:
        raise EvalError("至少需要一个配置")
    if progress:
        tqdm.write("加载索引……（首次使用时会先建立索引，可能要几分钟）", file=sys.stderr)
    prepared = []
    for config in configs:
        started = time.perf_counter()
        catalog = config.load()
        prepared.append((config, time.perf_counter() - started, resolve_gold(list(questions), catalog)))
    results: list[ConfigResult] = []
    total = sum(len(resolution.questions) for _, _, resolution in prepared)
    # In a log file (CI) a bar redrawn every 0.1 s would bury the results
    interval = 0.1 if sys.stderr.isatty() else 30.0
    with tqdm(
        total=total, desc="评测", unit="题", disable=not progress, file=sys.stderr, dynamic_ncols=True, mininterval=interval
    ) as bar:
        for config, load_s, resolution in prepared:
            bar.set_postfix_str(config.name)
            rows: list[Row] = []
            histories: dict[str, list[Answer]] = {}
            for question in resolution.questions:
                history = histories.setdefault(question.conversation, []) if question.conversation else []
                row, reply = _run_question(config, question, settings.depth, list(history))
                if question.conversation and reply is not None:
                    history.append(reply)
                rows.append(row)
                bar.update()
            results.append(ConfigResult(config.name, summarize(rows, load_s), _by_type(rows), rows))
    missing = list(dict.fromkeys(m for _, _, resolution in prepared for m in resolution.missing))
    skipped = list(dict.fromkeys(s for _, _, resolution in prepared for s in resolution.skipped))
    return Report(settings, time.strftime("%Y-%m-%dT%H:%M:%S"), results, missing, skipped)


def evaluate_file(
    questions: str | Path,
    *,
    configs: Sequence[str] = DEFAULT_CONFIGS,
    index: str | Path | None = None,
    model: str | None = None,
    k: int = 5,
    limit: int | None = None,
    progress: bool = True,
) -> Report:
    """Evaluate the standard configurations named in `configs` on a JSONL question set (its first `limit`
    questions when given) against `index` (None: the default index)."""
    loaded = load_questions(questions, limit)
    built = build_configs(configs, index=index, model=model, k=k)
    settings = Settings(questions=str(questions), index=str(index or ""), k=k, limit=limit)
    return evaluate(loaded, built, settings=settings, progress=progress)
