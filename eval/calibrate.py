"""`rag calibrate`: fit the stance models and the quoting rules on questions asked of many laws, choose the
operating points leave-law-out, and write rag/answering/calibration.json (plus the feature table and a plot).

Examples, each a question run through retrieval on an index (never a held-out set):
    one-law tasks   each law of the tuning suites indexed alone (eval/suites/tune.toml: the bundled law and the
                    laws written for the project; stard_tune split per law), asked its own questions and real
                    questions about other laws as off-topic ones. Groups: answerable, english, conversation
                    (answerable turns, as answer() rewrote them), near (near-topic questions and unanswerable
                    turns), offtopic, unknown (unanswerable questions of no stated kind: off- or near-topic).
    library         stard_tune asked of a library index, ranked with its category prior (--library-index)
The one-law StanceModel has two SupportModels: `covered` (1: answerable, english, conversation, near; 0: offtopic)
and `answers` (1: a gold article among the quoted ones; 0: near, unknown). Every probability that chooses a
threshold is out of fold, the folds holding out whole laws, so the rates printed are for laws the model never
saw. The library model (answered or not_covered) is fitted on the bundled law's single questions and the
library group, as before stances.

Off-topic questions are asked only of laws with fewer than OFFTOPIC_MAX_ARTICLES articles: a code such as
民法典 (1,260 articles) answers many questions whose STARD gold is in another law, so they are no off-topic
examples for it.

The shipped calibration (rag/answering/calibration.json) is for the default embedding model. `--for-index` fits
one for the library index's own model: every task is indexed with that model, and the calibration and its
feature table are written into the index directory, where answer() finds them."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

import rag
from embeddings.model import DEFAULT_MODEL
from embeddings.registry import default_spec
from rag.answering import (
    CALIBRATION_PATH,
    FEATURES,
    INDEX_CALIBRATION,
    READ_HITS,
    TOPIC_FEATURES,
    Calibration,
    SecondArticle,
    StanceModel,
    SupportModel,
    measure_support,
    read,
    shipped_calibration,
)
from rag.index import Index, write_atomic
from rag.records import Answer, Hit
from rag.retrieval import RetrieveOptions, search

from .harness import OFFTOPIC
from .metrics import citation_precision, gold_ranks, keyword_recall, mean
from .plots import chinese_labels
from .questions import Catalog, EvalError, LawArticle, Question, load_questions, resolve_gold
from .suites import ROOT as PROJECT
from .suites import Task, law_fold, load_suite, per_law_suite, task_index

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Example",
    "Targets",
    "collect_task",
    "collect_library",
    "fit_calibration",
    "fit_stance",
    "models_of",
    "describe_operating_point",
    "tradeoff_figure",
    "plot_tradeoff",
    "run",
    "add_arguments",
    "QUESTIONS",
    "SUITES",
]

ROOT = Path(__file__).resolve().parent
QUESTIONS = ROOT / "questions"
SUITES = (ROOT / "suites" / "tune.toml",)
PER_LAW = QUESTIONS / "stard_tune.jsonl"
FEATURE_TABLE = ROOT / "calibration" / "features.jsonl"
INDEX_FEATURE_TABLE = "calibration_features.jsonl"  # beside an index's own calibration
ANSWERABLE = ("answerable", "english", "conversation")  # groups of answerable questions
GROUPS = (*ANSWERABLE, "near", "offtopic", "unknown", "library")
REAL = "layperson"  # the type of STARD's questions, which people asked (the other sets were written for the project)
OFFTOPIC_MAX_ARTICLES = 400
LIBRARY_OK_RANK = 5  # a library question is a positive example when a gold article is this high
LIBRARY_FOLDS = 5
CUTOFFS = (0, 60, 100, 150, 200, 250, 300, 400, 600, 100_000)  # whole-article quote cut-offs tried (chars)
REGULARIZATIONS = (0.03, 0.1, 0.3, 1.0, 3.0)  # sklearn's C values tried, chosen out of fold


@dataclass(frozen=True)
class Example:
    id: str
    law: str  # doc_id of the one law indexed (its fold); "" for a library example
    group: str  # one of GROUPS
    features: list[float]  # in FEATURES order
    covered: int | None  # 1: the law concerns the question, 0: it does not; None: not known (not fitted)
    answers: int | None  # 1: a gold article is among those quoted, 0: no article answers it; None: not known
    source: str = "written"  # "real": a question people asked (STARD's), "written": one written for the sets


@dataclass(frozen=True)
class Targets:
    """The operating points' constraints (limits) and what is hoped for beyond them (goals, drawn and printed).
    one law: answerable questions not_covered at most 2 % (conversation turns and English questions 5 %) and
    answered at least 90 % (the answerable turns of conversations too); near-topic ones answered at most 15 % and off-topic ones not_covered at least
    95 % (goals). library: false abstention at most 2 % on the bundled law, 5 % on the library's questions."""

    answerable_not_covered: float = 0.02
    conversation_not_covered: float = 0.05
    english_not_covered: float = 0.05
    answerable_answered: float = 0.90
    near_answered: float = 0.15
    offtopic_not_covered: float = 0.95
    library_false_abstention: float = 0.05

    def not_covered_limits(self) -> dict[str, float]:
        return {"answerable": self.answerable_not_covered, "conversation": self.conversation_not_covered, "english": self.english_not_covered}


# -------------------------------------------------------------------------------------------- collecting


def _group(question: Question) -> str:
    if question.type == OFFTOPIC:
        return "offtopic"
    if question.conversation:
        return "conversation" if question.answerable else "near"
    if question.type == "english":
        return "english" if question.answerable else "unknown"
    if question.answerable:
        return "answerable"
    return "near" if question.type == "near_topic" else "unknown"


def _labels(group: str, best: int | None) -> tuple[int | None, int | None]:
    """(covered, answers) of a question of `group` whose best gold article ranks `best` (None: not retrieved)."""
    if group == "offtopic":
        return 0, None
    if group in ("near", "unknown"):
        return (1 if group == "near" else None), 0
    return 1, (1 if best is not None and best <= READ_HITS else None)


@dataclass(frozen=True)
class Quotable:
    """An answerable question with its hits, for measuring how the reader quotes (the cut-off reads
    those whose top hit is gold, the second-article rule all of them)."""

    question: str
    keywords: tuple[str, ...]
    hits: list[Hit]
    index: Index
    gold: tuple[LawArticle, ...]
    top_is_gold: bool


def _asked(loaded: Index, questions: Sequence[Question], index: Path, k: int) -> list[tuple[Question, str, list[Hit]]]:
    """Each question with the text retrieval read (a conversation's turn as answer() rewrote it from the turns
    before) and its hits; single questions are encoded in one batch."""
    singles = [q for q in questions if not q.conversation]
    queries = iter(loaded.embedder.encode_queries([loaded.names.as_self_reference(q.question) for q in singles]))
    histories: dict[str, list[Answer]] = {}
    asked = []
    for question in questions:
        if question.conversation:
            history = histories.setdefault(question.conversation, [])
            reply = rag.answer(question.question, index=index, k=k, history=history)
            history.append(reply)
            asked.append((question, reply.rewritten_question or question.question, reply.passages))
        else:
            asked.append((question, question.question, search(loaded, question.question, RetrieveOptions(k=k), query=next(queries))))
    return asked


def collect_task(task: Task, index_root: str | Path, model: str | None = None, k: int = 5) -> tuple[list[Example], list[Quotable]]:
    """The examples of a one-law task on its own index (off-topic ones only for a law of fewer than
    OFFTOPIC_MAX_ARTICLES articles), and the answerable questions with keywords that the quote sweeps read."""
    index = task_index(task, index_root, model)
    loaded = rag.get_index(index)
    questions = resolve_gold(list(task.questions), Catalog.from_index(loaded)).questions
    if len({c.article for c in loaded.chunks if c.article}) >= OFFTOPIC_MAX_ARTICLES:
        questions = [q for q in questions if q.type != OFFTOPIC]
    examples, quotable = [], []
    for question, text, hits in _asked(loaded, questions, index, k):
        ranks = [r for r in gold_ranks([LawArticle(h.law, h.article, h.doc_id) for h in hits], question.gold) if r is not None]
        best = min(ranks, default=None)
        group = _group(question)
        covered, answers = _labels(group, best)
        support = measure_support(loaded, text, hits, followup=question.turn > 1)
        source = "real" if question.type == REAL else "written"
        examples.append(Example(f"{task.doc_id}:{question.id}", task.doc_id, group, support.vector().tolist(), covered, answers, source))
        if question.answerable and question.keywords and hits and not question.conversation:
            quotable.append(Quotable(text, question.keywords, hits, loaded, question.gold, best == 1))
    return examples, quotable


def collect_library(questions: Path, index: str | Path, k: int = 5) -> list[Example]:
    """A library's examples: its questions (all answerable) on the library index, positive when a gold article
    is within LIBRARY_OK_RANK, unknown otherwise."""
    loaded = rag.get_index(index)
    resolved = resolve_gold(load_questions(questions), Catalog.from_index(loaded)).questions
    examples = []
    for question, text, hits in _asked(loaded, resolved, Path(index), k):
        ranks = [r for r in gold_ranks([LawArticle(h.law, h.article, h.doc_id) for h in hits], question.gold) if r is not None]
        best = min(ranks, default=None)
        label = 1 if best is not None and best <= LIBRARY_OK_RANK else None
        support = measure_support(loaded, text, hits)
        examples.append(Example(f"library:{question.id}", "", "library", support.vector().tolist(), None, label))
    return examples


# -------------------------------------------------------------------------------------------- fitting


def _weights(examples: Sequence[Example]) -> np.ndarray:
    """Each group weighs the same in a fit, and within a group each law the same, whatever their sizes."""
    cells: dict[tuple[str, str], int] = {}
    for e in examples:
        cells[(e.group, e.law)] = cells.get((e.group, e.law), 0) + 1
    laws_of = {g: sum(1 for group, _ in cells if group == g) for g, _ in cells}
    groups = len(laws_of)
    return np.array([len(examples) / (groups * laws_of[e.group] * cells[(e.group, e.law)]) for e in examples])


def _fold(example: Example) -> int:
    """Leave-law-out: a one-law example's fold is its law's; a library example's its question's."""
    if example.law:
        return law_fold(example.law)
    return int(hashlib.sha1(example.id.encode()).hexdigest(), 16) % LIBRARY_FOLDS


# The features each model reads: whether the law concerns a question is no matter of what it asks for
MODEL_FEATURES = {"covered": TOPIC_FEATURES, "answers": FEATURES}


def out_of_fold(examples: Sequence[Example], label: str, regularization: float) -> np.ndarray:
    """P(label = 1) of every example from a model fitted without its fold."""
    X = np.array([e.features for e in examples])
    y = np.array([-1 if getattr(e, label) is None else getattr(e, label) for e in examples])
    folds = np.array([_fold(e) for e in examples])
    probabilities = np.full(len(examples), np.nan)
    for fold in sorted(set(folds)):
        train = (y >= 0) & (folds != fold)
        if len(set(y[train])) < 2:
            continue
        fitted = [e for e, t in zip(examples, train) if t]
        model = SupportModel.fit(X[train], y[train], sample_weight=_weights(fitted), regularization=regularization, features=MODEL_FEATURES[label])
        probabilities[folds == fold] = model.probabilities(X[folds == fold])
    return probabilities


def _fit(examples: Sequence[Example], label: str, regularization: float) -> SupportModel:
    kept = [e for e in examples if getattr(e, label) is not None]
    X, y = np.array([e.features for e in kept]), np.array([getattr(e, label) for e in kept])
    return SupportModel.fit(X, y, sample_weight=_weights(kept), regularization=regularization, features=MODEL_FEATURES[label])


def _rate(examples: Sequence[Example], mask: np.ndarray, group: str) -> float | None:
    chosen = [m for m, e in zip(mask, examples) if e.group == group]
    return float(np.mean(chosen)) if chosen else None


def stance_rates(examples: Sequence[Example], covered: np.ndarray, answers: np.ndarray, thresholds: tuple[float, float]) -> dict[str, dict[str, float | None]]:
    """At (covered, answers) thresholds: each group's share of not_covered and of answered questions."""
    not_covered = covered < thresholds[0]
    answered = _answered(covered, answers, thresholds)
    return {g: {"not_covered": _rate(examples, not_covered, g), "answered": _rate(examples, answered, g)} for g in GROUPS if any(e.group == g for e in examples)}


def _answered(covered: np.ndarray, answers: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """Which examples are answered at (covered, answers) thresholds: covered, and the answers model says yes."""
    return ~(covered < thresholds[0]) & (answers >= thresholds[1])


def _candidates(probabilities: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([np.linspace(0, 1, 201), probabilities[~np.isnan(probabilities)]]))


def choose_covered(examples: Sequence[Example], covered: np.ndarray, targets: Targets) -> float:
    """The largest threshold whose not_covered share of each answerable group is within its limit."""
    best = 0.0
    for threshold in _candidates(covered):
        mask = covered < threshold
        if all((_rate(examples, mask, g) or 0.0) <= limit for g, limit in targets.not_covered_limits().items()):
            best = float(threshold)
    return best


def choose_answers(examples: Sequence[Example], covered: np.ndarray, answers: np.ndarray, threshold: float, targets: Targets) -> float:
    """The largest threshold that still answers at least the target share of the answerable questions, of real and
    of written ones each (the many real questions must not hide the written sets' everyday wording), and of the
    answerable turns of conversations."""
    cells = _answerable_cells(examples).values()
    best = 0.0
    for candidate in _candidates(answers):
        answered = _answered(covered, answers, (threshold, candidate))
        if all(answered[cell].mean() >= targets.answerable_answered for cell in cells):
            best = float(candidate)
    return best


def _answerable_cells(examples: Sequence[Example]) -> dict[str, np.ndarray]:
    """Masks of the answerable questions and of the answerable conversation turns, by source ("answerable/real" …)."""
    return {
        f"{group}/{source}": np.array([e.group == group and e.source == source for e in examples])
        for group in ("answerable", "conversation")
        for source in sorted({e.source for e in examples if e.group == group})
    }


def _curve(examples: Sequence[Example], probabilities: np.ndarray, x: str, y: str, base: np.ndarray | None = None) -> list[dict]:
    """Share of group x and of group y passing each threshold (base: a mask both must also pass)."""
    points = []
    for threshold in np.linspace(0, 1, 101):
        passed = (probabilities >= threshold) & (True if base is None else base)
        points.append({"threshold": float(threshold), x: _rate(examples, passed, x), y: _rate(examples, passed, y)})
    return points


def fit_stance(examples: Sequence[Example], targets: Targets = Targets(), regularizations: Sequence[float] = REGULARIZATIONS) -> tuple[StanceModel, dict]:
    """The one-law StanceModel and its report: for each model the C whose leave-law-out operating point is best
    (covered: most off-topic questions not_covered; answers: fewest near-topic ones answered), the thresholds
    chosen on leave-law-out probabilities, the final models fitted on all examples."""
    covered_runs = []
    for c in regularizations:
        probabilities = out_of_fold(examples, "covered", c)
        threshold = choose_covered(examples, probabilities, targets)
        covered_runs.append((c, threshold, probabilities, _rate(examples, probabilities < threshold, "offtopic") or 0.0))
    c_covered, t_covered, p_covered, _ = max(covered_runs, key=lambda run: (run[3], run[0]))
    answers_runs = []
    for c in regularizations:
        probabilities = out_of_fold(examples, "answers", c)
        threshold = choose_answers(examples, p_covered, probabilities, t_covered, targets)
        near = _rate(examples, _answered(p_covered, probabilities, (t_covered, threshold)), "near")
        answers_runs.append((c, threshold, probabilities, 1.0 if near is None else near))
    c_answers, t_answers, p_answers, _ = min(answers_runs, key=lambda run: (run[3], -run[0]))
    covered = _fit(examples, "covered", c_covered)
    covered.threshold = t_covered
    answers = _fit(examples, "answers", c_answers)
    answers.threshold = t_answers
    counts = {g: sum(e.group == g for e in examples) for g in GROUPS if any(e.group == g for e in examples)}
    report = {
        "targets": asdict(targets),
        "counts": counts,
        "laws": len({e.law for e in examples}),
        "out_of_fold": stance_rates(examples, p_covered, p_answers, (t_covered, t_answers)),
        "answered_by_source": {
            cell: float(_answered(p_covered, p_answers, (t_covered, t_answers))[mask].mean()) for cell, mask in _answerable_cells(examples).items()
        },
        "covered_sweep": [{"regularization": c, "threshold": t, "offtopic_not_covered": r} for c, t, _, r in covered_runs],
        "answers_sweep": [{"regularization": c, "threshold": t, "near_answered": r} for c, t, _, r in answers_runs],
        "covered_curve": _curve(examples, p_covered, "answerable", "offtopic"),
        "answers_curve": _curve(examples, p_answers, "answerable", "near", ~(p_covered < t_covered)),
    }
    return StanceModel(covered, answers), report


def fit_library(examples: Sequence[Example], targets: Targets = Targets(), regularizations: Sequence[float] = REGULARIZATIONS) -> tuple[SupportModel, dict]:
    """The library model (answered or not_covered) on the library group and the bundled law's single questions
    (label: a gold article quoted; unanswerable ones 0): for each C the largest threshold whose false abstention
    meets the limits (bundled law 2 %, library 5 %), then the C abstaining most on unanswerable questions."""
    chosen = [replace_label(e) for e in examples]
    runs = []
    for c in regularizations:
        probabilities = out_of_fold(chosen, "answers", c)
        best = 0.0
        for threshold in _candidates(probabilities):
            abstain = probabilities < threshold
            if (_rate(chosen, abstain, "answerable") or 0.0) <= targets.answerable_not_covered and (_rate(chosen, abstain, "library") or 0.0) <= targets.library_false_abstention:
                best = float(threshold)
        abstain = probabilities < best
        unanswerable = mean(_rate(chosen, abstain, g) for g in ("near", "offtopic", "unknown"))
        runs.append((c, best, {g: _rate(chosen, abstain, g) for g in GROUPS if any(e.group == g for e in chosen)}, unanswerable or 0.0, probabilities))
    c, threshold, rates, _, probabilities = max(runs, key=lambda run: (run[3], run[0]))
    model = _fit(chosen, "answers", c)
    model.threshold = threshold
    report = {
        "targets": asdict(targets),
        "counts": {g: sum(e.group == g for e in chosen) for g in GROUPS if any(e.group == g for e in chosen)},
        "out_of_fold_abstained": rates,
        "sweep": [{"regularization": c, "threshold": t, **r} for c, t, r, _, _ in runs],
        "curve": _curve(chosen, probabilities, "library", "offtopic"),
    }
    return model, report


def replace_label(example: Example) -> Example:
    """A bundled-law or library example as the library model reads it: unanswerable questions are 0."""
    answers = 0 if example.group in ("near", "offtopic", "unknown") else example.answers
    return replace(example, law="", covered=None, answers=answers)


def bundled_law() -> str:
    """The doc_id of the law shipped in data/laws, whose questions the library model also reads."""
    from rag.api import DATA_DIR
    from rag.ingest import law_files, parse_law

    return parse_law(law_files([DATA_DIR])[0]).doc_id


def fit_calibration(examples: Sequence[Example], targets: Targets = Targets()) -> Calibration:
    """The one-law stance model on the one-law examples and the library model on the library group plus the
    bundled law's single questions."""
    one_law = [e for e in examples if e.group != "library"]
    stance, report = fit_stance(one_law, targets)
    bundled = bundled_law()
    library_examples = [e for e in examples if e.group == "library" or (e.law == bundled and e.group in ("answerable", "near", "offtopic", "unknown"))]
    calibration = Calibration(one_law=stance, report={"one_law": report})
    if any(e.group == "library" for e in library_examples):
        calibration.abstention, calibration.report["library"] = fit_library(library_examples, targets)
    else:  # no library measured with this model: a library's questions are answered or not_covered as covered says
        calibration.abstention = stance.covered
    return calibration


# -------------------------------------------------------------------------------------------- quoting rules


def _never_abstaining(model: SupportModel) -> SupportModel:
    """The model with its threshold at 0: the quoting sweeps measure answers, not abstentions."""
    return replace(model, threshold=0.0)


def _sweep_quotes(quotable: list[Quotable], model: SupportModel) -> list[dict]:
    """Keyword recall and quote length of the answers for each whole-article cut-off (abstention off)."""
    rows = []
    for cutoff in CUTOFFS:
        calibration = Calibration(abstention=_never_abstaining(model), whole_article_chars=cutoff)
        recalls, lengths = [], []
        for item in (q for q in quotable if q.top_is_gold and q.keywords):
            reply = read(item.index, item.question, item.hits, calibration)
            recalls.append(keyword_recall(reply.text, item.keywords))
            lengths.append(sum(len(c.quote) for c in reply.citations))
        rows.append({"cutoff": cutoff, "keyword_recall": mean(recalls), "quote_chars": mean(lengths)})
    return rows


SECOND_SUPPORT = (1.0, 0.95, 0.93, 0.9, 0.85, 0.8)  # second-article support ratios tried
SECOND_SCORE = (0.9, 0.8, 0.7)  # …and retrieval score ratios


def _sweep_second(quotable: list[Quotable], calibration: Calibration) -> list[dict]:
    """Keyword recall and citation precision of the answers for each second-article rule (abstention off)."""
    never = _never_abstaining(calibration.abstention)
    rows = []
    for support in SECOND_SUPPORT:
        for score in SECOND_SCORE:
            trial = Calibration(abstention=never, whole_article_chars=calibration.whole_article_chars, second_article=SecondArticle(support, score))
            recalls, precisions = [], []
            for item in quotable:
                reply = read(item.index, item.question, item.hits, trial)
                cited = [LawArticle(c.law, c.article, c.doc_id) for c in reply.citations]
                precisions.append(citation_precision(cited, list(item.gold)))
                if item.keywords:
                    recalls.append(keyword_recall(reply.text, item.keywords))
            rows.append({"support": support, "score": score, "keyword_recall": mean(recalls), "citation_precision": mean(precisions)})
    return rows


def choose_second(sweep: list[dict]) -> SecondArticle:
    """The rule with the best mean of keyword recall and citation precision (ties: the stricter rule)."""
    best = max(sweep, key=lambda row: ((row["keyword_recall"] or 0.0) + (row["citation_precision"] or 0.0), row["support"], row["score"]))
    return SecondArticle(best["support"], best["score"])


def choose_cutoff(sweep: list[dict]) -> int:
    """The smallest cut-off whose keyword recall is within 0.01 of the best one."""
    best = max(row["keyword_recall"] or 0.0 for row in sweep)
    return next(row["cutoff"] for row in sweep if (row["keyword_recall"] or 0.0) >= best - 0.01)


# -------------------------------------------------------------------------------------------- reporting

_GROUP_NAMES = {
    "answerable": "可回答题",
    "english": "英文可回答题",
    "conversation": "对话可回答的各轮",
    "near": "近题",
    "offtopic": "无关题",
    "unknown": "未分类的不可回答题",
    "library": "整库（STARD 调参集）",
}


def models_of(calibration: Calibration) -> list[tuple[str, SupportModel]]:
    """(what it decides, model) for each model of the calibration."""
    models = []
    if calibration.one_law is not None:
        models.append(("一部法规：是否相关（低于阈值：无关）", calibration.one_law.covered))
        if calibration.one_law.answers is not None:
            models.append(("一部法规：是否直接回答（低于阈值：相关）", calibration.one_law.answers))
    models.append(("多部法规（整库）：回答或无关" if calibration.one_law else "所有索引：回答或无关", calibration.abstention))
    return models


def describe_operating_point(calibration: Calibration) -> list[str]:
    """Each model's leave-law-out (or out-of-fold) rates at its thresholds, beside the limits and goals."""
    lines = []
    report = calibration.report.get("one_law")
    if report:
        targets = Targets(**report["targets"])
        rates = report["out_of_fold"]
        parts = []
        for group, name in _GROUP_NAMES.items():
            if group in rates and group != "library":
                nc, answered = rates[group]["not_covered"], rates[group]["answered"]
                parts.append(f"{name} 无关 {nc:.3f}、回答 {answered:.3f}")
        lines.append(f"一部法规（留出整部法规的交叉验证，{report.get('laws', '?')} 部法规）：" + "；".join(parts))
        sources = report.get("answered_by_source", {})
        if sources:
            names = {**_GROUP_NAMES, "real": "真实问题", "written": "自写问题"}
            lines.append("回答的比例按来源：" + "、".join(f"{names[g]}·{names[s]} {r:.3f}" for cell, r in sources.items() for g, s in [cell.split("/")]))
        lines.append(
            f"目标：可回答题无关 ≤ {targets.answerable_not_covered:g}、回答 ≥ {targets.answerable_answered:g}；"
            f"近题回答 ≤ {targets.near_answered:g}；无关题无关 ≥ {targets.offtopic_not_covered:g}"
        )
    library = calibration.report.get("library")
    if library:
        rates = library["out_of_fold_abstained"]
        lines.append("整库（交叉验证）：拒答比例 " + "、".join(f"{_GROUP_NAMES.get(g, g)} {r:.3f}" for g, r in rates.items() if r is not None))
    return lines


def tradeoff_figure(calibration: Calibration) -> Figure:
    """The operating points as trade-offs, out of fold: for the one-law model the share of answerable questions
    kept against off-topic ones kept (covered) and against near-topic ones answered (answers); for the library
    model its questions answered against off-topic ones answered. Goals as dotted lines, chosen points black.
    Draw it inside chinese_labels()."""
    from matplotlib.figure import Figure

    panels = []
    one_law = calibration.report.get("one_law")
    if one_law and calibration.one_law is not None:
        targets = Targets(**one_law["targets"])
        panels.append(("是否相关", one_law["covered_curve"], "answerable", "offtopic", calibration.one_law.covered.threshold,
                       1 - targets.answerable_not_covered, 1 - targets.offtopic_not_covered, "无关题被当作相关"))
        if calibration.one_law.answers is not None:
            panels.append(("是否直接回答", one_law["answers_curve"], "answerable", "near", calibration.one_law.answers.threshold,
                           targets.answerable_answered, targets.near_answered, "近题被直接回答"))
    library = calibration.report.get("library")
    if library:
        panels.append(("整库：回答或无关", library["curve"], "library", "offtopic", calibration.abstention.threshold,
                       1 - Targets(**library["targets"]).library_false_abstention, None, "无关题被回答"))
    figure = Figure(figsize=(5.2 * max(1, len(panels)), 4.6), dpi=110, layout="constrained")
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for axis, (title, curve, x, y, threshold, x_goal, y_goal, y_label) in zip(axes, panels):
        points = [p for p in curve if p[x] is not None and p[y] is not None]
        axis.plot([p[x] for p in points], [p[y] for p in points], "-", color="C0")
        chosen = min(points, key=lambda p: abs(p["threshold"] - threshold), default=None)
        if chosen:
            axis.plot([chosen[x]], [chosen[y]], "o", color="black")
        axis.axvline(x_goal, color="C1", linestyle=":", linewidth=1)
        if y_goal is not None:
            axis.axhline(y_goal, color="gray", linestyle=":", linewidth=1)
        axis.set_xlabel(f"{_GROUP_NAMES[x]}通过的比例（竖点线：下限）")
        axis.set_ylabel(f"{y_label}的比例（横点线：目标上限）")
        axis.set_xlim(0.5, 1.0)
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
        axis.set_title(f"{title}：阈值 {threshold:.3f}（交叉验证，黑点为工作点）", fontsize=9)
    return figure


def plot_tradeoff(calibration: Calibration) -> bytes:
    """tradeoff_figure() as a PNG."""
    buffer = io.BytesIO()
    with chinese_labels():
        tradeoff_figure(calibration).savefig(buffer, format="png")
    return buffer.getvalue()


def save_examples(examples: Sequence[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"features_order": list(FEATURES)})] + [json.dumps(asdict(e), ensure_ascii=False) for e in examples]
    write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))


def load_examples(path: Path) -> list[Example]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if tuple(json.loads(lines[0])["features_order"]) != FEATURES:
        raise EvalError(f"{path} 的特征与代码不符；请重新运行 rag calibrate")
    try:
        return [Example(**json.loads(line)) for line in lines[1:]]
    except TypeError as error:
        raise EvalError(f"{path} 是旧格式的特征表；请重新运行 rag calibrate（{error}）") from None


def add_arguments(parser) -> None:
    parser.add_argument("--suite", action="append", default=None, help=f"调参套件（TOML，可重复；默认 {', '.join(str(s.relative_to(PROJECT)) for s in SUITES)}）")
    parser.add_argument("--per-law", default=str(PER_LAW.relative_to(PROJECT)), help="按法规拆成一法一索引任务的问题集（默认 STARD 调参集；空字符串：不用）")
    parser.add_argument("--laws", default="../shared/laws", help="找法规文件的目录（默认 ../shared/laws）")
    parser.add_argument("--index-root", default="indexes/tasks", help="各法规单独的索引所在目录（默认 indexes/tasks）")
    parser.add_argument("--library-index", help="整库索引目录（提供 STARD 调参集的整库样例；不给则沿用特征表中已有的整库组）")
    parser.add_argument("--model", help="为这个嵌入模型拟合随包的校准（默认：默认模型，见 rag index --help；各法规用它单独建索引）")
    parser.add_argument(
        "--for-index",
        action="store_true",
        help="为 --library-index 所用的嵌入模型（如微调模型）拟合，写入该索引目录（answer() 读这个索引时使用）",
    )
    parser.add_argument("--out", help=f"写入的校准文件（默认 {CALIBRATION_PATH}；--for-index 时为索引目录中的 {INDEX_CALIBRATION}）")
    parser.add_argument("--features", help=f"特征表（保存，可不重新检索而重新拟合；默认 {FEATURE_TABLE}，--for-index 时在索引目录中）")
    parser.add_argument("--refit", action="store_true", help="只用已保存的特征表重新拟合，不运行检索")
    parser.add_argument("--plot", default="reports/calibration/tradeoff.png", help="权衡曲线图")


def _print_summary(calibration: Calibration) -> None:
    for line in describe_operating_point(calibration):
        print(line)
    one_law = calibration.report.get("one_law", {})
    for key, what in (("covered_sweep", "是否相关"), ("answers_sweep", "是否直接回答")):
        for row in one_law.get(key, []):
            value = row.get("offtopic_not_covered", row.get("near_answered"))
            print(f"  {what} C={row['regularization']:<5g} 阈值 {row['threshold']:.3f}  {'无关题无关' if 'offtopic_not_covered' in row else '近题回答'} {value:.3f}")
    for scope, model in models_of(calibration):
        print(f"【{scope}】阈值 {model.threshold:.3f}，C {model.regularization:g}；特征系数（标准化后，正数倾向于“是”）：")
        for name, weight in sorted(model.weights().items(), key=lambda item: -abs(item[1])):
            print(f"  {name:15s} {weight:+.3f}")
    if "quote_sweep" in calibration.report:
        print("整条引用的长度上限（字）→ 关键词召回 / 引文平均长度：")
        for row in calibration.report["quote_sweep"]:
            print(f"  {row['cutoff']:>6}  {row['keyword_recall']:.3f}  {row['quote_chars']:.0f}")
        print(f"选定：{calibration.whole_article_chars} 字以内的条文整条引用")
    if calibration.report.get("second_article_sweep"):
        rule = calibration.second_article
        print(f"另引一条：支持度 ≥ 首条的 {rule.support:.2f} 倍且检索分数 ≥ 首条的 {rule.score:.2f} 倍（在各法规的可回答题上选定）")


def _previous(path: Path) -> Calibration | None:
    """The quoting rules and report of the calibration written before (its models are refitted anyway, and may be
    of features this code no longer measures)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return Calibration(
            whole_article_chars=int(data["whole_article_chars"]),
            second_article=SecondArticle(**data.get("second_article", {})),
            report=dict(data.get("report", {})),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _targets_of(args) -> tuple[Path, Path, str]:
    """(calibration file, feature table, embedding model) that a run writes and measures with: the shipped
    calibration of the default model, or of --model, or (--for-index) the library index's own."""
    if not args.for_index:
        model = getattr(args, "model", None) or default_spec().name
        table = FEATURE_TABLE if model == DEFAULT_MODEL else FEATURE_TABLE.with_name(f"features-{shipped_calibration(model).stem}.jsonl")
        return Path(args.out or shipped_calibration(model)), Path(args.features or table), model
    if not args.library_index:
        raise EvalError("--for-index 需要 --library-index：为哪个索引的嵌入模型拟合")
    folder = Path(args.library_index)
    model = rag.get_index(folder).embedder.spec.name
    return Path(args.out or folder / INDEX_CALIBRATION), Path(args.features or folder / INDEX_FEATURE_TABLE), model


def _tasks(args) -> list[Task]:
    suites = [load_suite(path) for path in (args.suite or SUITES)]
    if args.per_law:
        suites.append(per_law_suite(args.per_law, args.laws))
    return [task for suite in suites for task in suite.tasks]


def run(args) -> int:
    out, features, model = _targets_of(args)
    quotable: list[Quotable] = []
    previous_examples: list[Example] = []
    if args.refit or not args.library_index:
        try:
            previous_examples = load_examples(features)
        except (OSError, EvalError):
            if args.refit:
                raise
    if args.refit:
        examples = previous_examples
    else:
        examples = []
        for task in _tasks(args):
            found, quotes = collect_task(task, args.index_root, model)
            examples += found
            quotable += quotes
            print(f"《{task.name}》：{len(found)} 题")
        if args.library_index:
            library = collect_library(PER_LAW, args.library_index)
            print(f"{PER_LAW.name} @ {args.library_index}：{len(library)} 题")
        else:
            library = [e for e in previous_examples if e.group == "library"]
            if library:
                print(f"未给 --library-index：整库组沿用 {features} 中的 {len(library)} 题")
        examples += library
        save_examples(examples, features)
    calibration = fit_calibration(examples)
    calibration.model = model
    previous = _previous(out)
    if quotable:
        sweep = _sweep_quotes(quotable, calibration.abstention)
        calibration.report["quote_sweep"] = sweep
        calibration.whole_article_chars = choose_cutoff(sweep)
        calibration.report["second_article_sweep"] = second = _sweep_second(quotable, calibration)
        calibration.second_article = choose_second(second)
    elif previous is not None:  # a refit from the feature table keeps the measured quoting rules
        calibration.whole_article_chars = previous.whole_article_chars
        calibration.second_article = previous.second_article
        for key in ("quote_sweep", "second_article_sweep"):
            calibration.report[key] = previous.report.get(key, [])
    calibration.report["library_index"] = str(args.library_index or (previous.report.get("library_index", "") if previous else ""))
    calibration.save(out)
    plot = Path(args.plot)
    plot.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(plot, plot_tradeoff(calibration))
    _print_summary(calibration)
    print(f"已写入 {out}、{features} 和 {plot}")
    return 0
