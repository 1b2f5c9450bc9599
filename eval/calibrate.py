"""`rag calibrate`: fit the abstention model and the whole-article quote cut-off on labelled questions,
choose the operating point, and write rag/answering/calibration.json (plus the feature table and a plot).

Examples, each a question run through retrieval on an index (never a held-out set):
    seed_answerable   seed_dev answerable questions on the seed index (label 1 when a gold article is
                      within the articles the reader quotes; all of them count for false abstention)
    seed_english      seed_english_tune's answerable English questions, the same way (unanswerable ones
                      go to seed_unanswerable)
    seed_unanswerable seed_dev unanswerable questions and the near-topic tuning set on the seed index (label 0)
    seed_offtopic     stard_tune asked of the seed index: real legal questions the data regulation does not answer (0)
    seed_conversation seed_conv_tune's turns on the seed index, each as answer() rewrote it from the turns
                      before (1 when a gold article is within the quoted articles; unanswerable turns go
                      to seed_unanswerable)
    library           stard_tune asked of a library index, ranked with its category prior (rag/index/prior.py) (1 when a
                      gold article is in the top hits)
Two models are fitted: one for an index of one law, on the seed groups, and one for a library, on the
single questions of every group but seed_english_tune (the library model has seen neither
conversations nor those English questions, and is the one fitted before they were added). Each threshold is
chosen on out-of-fold probabilities (5 folds by question or conversation id), so the rates printed
are not the fit's own optimism; the final models are then fitted on all their examples.

The shipped calibration (rag/answering/calibration.json) is for the default embedding model. `--for-index` fits one for
the library index's own model (a fine-tuned one): the seed groups are measured on the bundled law indexed with
that model, and the calibration and its feature table are written into the index directory, where answer()
finds them."""

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
from rag.answering import (
    CALIBRATION_PATH,
    FEATURES,
    INDEX_CALIBRATION,
    READ_HITS,
    AbstentionModel,
    Calibration,
    SecondArticle,
    measure_support,
    read,
)
from rag.index import Index, write_atomic
from rag.records import Answer, Hit
from rag.retrieval import RetrieveOptions, search

from .metrics import citation_precision, gold_ranks, keyword_recall, mean
from .plots import chinese_labels
from .questions import Catalog, EvalError, LawArticle, load_questions, resolve_gold

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Example",
    "Targets",
    "collect",
    "fit_calibration",
    "models_of",
    "choose_threshold",
    "describe_operating_point",
    "tradeoff_figure",
    "plot_tradeoff",
    "run",
    "add_arguments",
    "QUESTIONS",
]

ROOT = Path(__file__).resolve().parent
QUESTIONS = ROOT / "questions"
FEATURE_TABLE = ROOT / "calibration" / "features.jsonl"
INDEX_FEATURE_TABLE = "calibration_features.jsonl"  # beside an index's own calibration
GROUPS = ("seed_answerable", "seed_unanswerable", "seed_offtopic", "seed_conversation", "seed_english", "library")
ONE_LAW_GROUPS = ("seed_answerable", "seed_unanswerable", "seed_offtopic", "seed_conversation", "seed_english")
LIBRARY_GROUPS = ("seed_answerable", "seed_unanswerable", "seed_offtopic", "library")
ONE_LAW_ONLY = ("seed_conversation:", "seed_english:")  # sources of examples the library model is not fitted on
# The one-law model lets the dense evidence weigh differently for English questions (its lexical
# features are all zero there): out of fold, without them the English questions cost the other
# groups' abstention (docs: README「拒答、引文与追问」)
ENGLISH_INTERACTIONS = tuple(("english", name) for name in ("dense", "sentence", "margin"))
FOLDS = 5
LIBRARY_OK_RANK = 5  # a library question is a positive example when a gold article is this high
CUTOFFS = (0, 60, 100, 150, 200, 250, 300, 400, 600, 100_000)  # whole-article quote cut-offs tried (chars)
REGULARIZATIONS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # sklearn's C values tried, chosen out of fold
UNANSWERABLE_GROUPS = ("seed_unanswerable", "seed_offtopic")  # whose abstention the choice of C maximises


@dataclass(frozen=True)
class Example:
    id: str
    group: str
    features: list[float]  # in FEATURES order
    label: int | None  # 1 answerable from the hits, 0 not; None: answerable but retrieval missed (not fitted)


@dataclass(frozen=True)
class Targets:
    """The operating point's constraints (issue: answers a person can trust): the false abstention each group
    of answerable questions may have, and the abstention wanted on unanswerable ones. The threshold meets the
    limits; the goals are drawn on the trade-off plot, to show how far from them that threshold is."""

    seed_false_abstention: float = 0.02
    library_false_abstention: float = 0.05
    conversation_false_abstention: float = 0.05
    english_false_abstention: float = 0.05
    offtopic_abstention: float = 0.95  # goal: STARD questions asked of the seed
    near_topic_abstention: float = 0.85  # goal: near-topic and seed_dev unanswerable questions

    def limits(self) -> dict[str, float]:
        """The largest false abstention allowed in each group of answerable questions."""
        return {
            "seed_answerable": self.seed_false_abstention,
            "seed_conversation": self.conversation_false_abstention,
            "seed_english": self.english_false_abstention,
            "library": self.library_false_abstention,
        }

    def goals(self) -> dict[str, float]:
        """The abstention wanted in each group of unanswerable questions."""
        return {"seed_offtopic": self.offtopic_abstention, "seed_unanswerable": self.near_topic_abstention}


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


def collect(
    questions: Path, group: str, index: str | Path | None, k: int = 5, *, model: str | None = None
) -> tuple[list[Example], list[Quotable]]:
    """Examples of one question set on one index (None: the bundled law, indexed with `model` or the default
    one), and the questions the quote sweep reads. In the seed_offtopic group every question counts as
    unanswerable (its gold is in other laws); in the seed_answerable and seed_conversation groups the set's
    unanswerable questions go to seed_unanswerable. A conversation's turn is measured as answer() rewrote
    it from the turns before."""
    model = model if index is None else None
    loaded = rag.get_index(index, model=model)
    if group == "seed_offtopic":
        resolved = [replace(q, gold=()) for q in load_questions(questions)]
    else:
        resolved = resolve_gold(load_questions(questions), Catalog.from_index(loaded)).questions
    examples: list[Example] = []
    quotable: list[Quotable] = []
    histories: dict[str, list[Answer]] = {}
    # single questions in one batch: much faster than one by one (a turn is encoded as answer() rewrote it)
    queries = iter(loaded.embedder.encode_queries([loaded.names.as_self_reference(q.question) for q in resolved if not q.conversation]))
    for question in resolved:
        text = question.question
        if question.conversation:
            history = histories.setdefault(question.conversation, [])
            reply = rag.answer(text, index=index, model=model, k=k, history=history)
            history.append(reply)
            text, hits = reply.rewritten_question or text, reply.passages  # the hits answer() read
        else:
            hits = search(loaded, text, RetrieveOptions(k=k), query=next(queries))
        ranking = [LawArticle(h.law, h.article, h.doc_id) for h in hits]
        ranks = [r for r in gold_ranks(ranking, question.gold) if r is not None]
        best = min(ranks, default=None)
        seed_group = group in ("seed_answerable", "seed_conversation", "seed_english")
        own_group = "seed_unanswerable" if seed_group and not question.answerable else group
        if not question.answerable:
            label: int | None = 0
        else:
            reach = READ_HITS if seed_group else LIBRARY_OK_RANK
            label = 1 if best is not None and best <= reach else None
        support = measure_support(loaded, text, hits)
        examples.append(Example(f"{group}:{question.id}", own_group, support.vector().tolist(), label))
        if question.answerable and hits and not question.conversation:
            quotable.append(Quotable(text, question.keywords, hits, loaded, question.gold, best == 1))
    return examples, quotable


def _weights(groups: Sequence[str]) -> np.ndarray:
    """Each group weighs the same in the fit, whatever its size."""
    counts = {g: groups.count(g) for g in set(groups)}
    return np.array([len(groups) / (len(counts) * counts[g]) for g in groups])


def _fold(example_id: str) -> int:
    """A question's fold; the turns of one conversation (ids …#1, …#2) share theirs."""
    return int(hashlib.sha1(example_id.split("#")[0].encode()).hexdigest(), 16) % FOLDS


def out_of_fold(examples: Sequence[Example], regularization: float = 1.0, interactions: Sequence[tuple[str, str]] = ()) -> np.ndarray:
    """P(answerable) of every example from a model fitted without its fold (NaN for unlabelled ones)."""
    X = np.array([e.features for e in examples])
    labelled = np.array([e.label is not None for e in examples])
    y = np.array([e.label if e.label is not None else -1 for e in examples])
    folds = np.array([_fold(e.id) for e in examples])
    groups = [e.group for e in examples]
    probabilities = np.full(len(examples), np.nan)
    for fold in range(FOLDS):
        train = labelled & (folds != fold)
        weights = _weights([g for g, t in zip(groups, train) if t])
        model = AbstentionModel.fit(X[train], y[train], sample_weight=weights, regularization=regularization, interactions=interactions)
        probabilities[folds == fold] = model.probabilities(X[folds == fold])
    return probabilities


def rates(examples: Sequence[Example], probabilities: np.ndarray, threshold: float) -> dict[str, float | None]:
    """At a threshold: false abstention on seed answerable and library questions, abstention elsewhere."""
    abstain = probabilities < threshold
    out: dict[str, float | None] = {}
    for group in GROUPS:
        chosen = [a for a, e in zip(abstain, examples) if e.group == group]
        out[group] = float(np.mean(chosen)) if chosen else None
    return out


def choose_threshold(examples: Sequence[Example], probabilities: np.ndarray, targets: Targets = Targets()) -> tuple[float, list[dict]]:
    """The largest threshold whose false abstention meets the targets (abstaining more elsewhere is then
    as much as those targets allow), and the trade-off curve over all thresholds."""
    candidates = np.unique(np.concatenate([np.linspace(0, 1, 201), probabilities[~np.isnan(probabilities)]]))
    curve = []
    best = 0.0
    for threshold in candidates:
        point = rates(examples, probabilities, float(threshold))
        if all(point[group] is None or point[group] <= limit for group, limit in targets.limits().items()):
            best = float(threshold)
        curve.append({"threshold": float(threshold), **point})
    thinned = [p for i, p in enumerate(curve) if i % max(1, len(curve) // 120) == 0]
    return best, thinned


def _never_abstaining(model: AbstentionModel) -> AbstentionModel:
    """The model with its threshold at 0: the quoting sweeps measure answers, not abstentions."""
    return replace(model, threshold=0.0)


def _sweep_quotes(quotable: list[Quotable], model: AbstentionModel) -> list[dict]:
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


def _unanswerable_abstained(point: dict[str, float | None]) -> float:
    return float(np.mean([point[g] for g in UNANSWERABLE_GROUPS if point.get(g) is not None] or [0.0]))


def _fit_model(
    examples: Sequence[Example], targets: Targets, regularizations: Sequence[float], interactions: Sequence[tuple[str, str]] = ()
) -> tuple[AbstentionModel, dict]:
    """The abstention model fitted on all labelled examples, and its report. Its regularization and
    threshold are chosen out of fold: for each C the largest threshold meeting the false-abstention
    targets, then the C whose point abstains most on the unanswerable groups (mean of their rates;
    ties to the larger C)."""
    sweep = []
    for regularization in regularizations:
        probabilities = out_of_fold(examples, regularization, interactions)
        threshold, curve = choose_threshold(examples, probabilities, targets)
        sweep.append((regularization, threshold, curve, rates(examples, probabilities, threshold)))
    regularization, threshold, curve, chosen = max(sweep, key=lambda row: (_unanswerable_abstained(row[3]), row[0]))
    labelled = [e for e in examples if e.label is not None]
    model = AbstentionModel.fit(
        np.array([e.features for e in labelled]),
        np.array([e.label for e in labelled]),
        sample_weight=_weights([e.group for e in labelled]),
        regularization=regularization,
        interactions=interactions,
    )
    model.threshold = threshold
    present = [g for g in GROUPS if any(e.group == g for e in examples)]
    counts = {g: {"examples": sum(e.group == g for e in examples), "fitted": sum(e.group == g and e.label is not None for e in examples)} for g in present}
    report = {
        "targets": asdict(targets),
        "counts": counts,
        "out_of_fold_at_threshold": chosen,
        "regularization_sweep": [{"regularization": c, "threshold": t, **point} for c, t, _, point in sweep],
        "curve": curve,
    }
    return model, report


def fit_calibration(examples: Sequence[Example], targets: Targets = Targets(), regularizations: Sequence[float] = REGULARIZATIONS) -> Calibration:
    """The library model (on the single Chinese questions: no conversation turn or seed_english_tune
    question, answerable or not) and, when there are seed examples, the one-law model (on the seed
    groups, conversations and English questions included, with ENGLISH_INTERACTIONS); see _fit_model."""
    single = [e for e in examples if e.group in LIBRARY_GROUPS and not e.id.startswith(ONE_LAW_ONLY)]
    library, report = _fit_model(single, targets, regularizations)
    calibration = Calibration(abstention=library, report=report)
    one_law_examples = [e for e in examples if e.group in ONE_LAW_GROUPS]
    if any(e.group == "seed_answerable" for e in one_law_examples):
        calibration.one_law, calibration.report["one_law"] = _fit_model(one_law_examples, targets, regularizations, ENGLISH_INTERACTIONS)
    return calibration


def choose_cutoff(sweep: list[dict]) -> int:
    """The smallest cut-off whose keyword recall is within 0.01 of the best one."""
    best = max(row["keyword_recall"] or 0.0 for row in sweep)
    return next(row["cutoff"] for row in sweep if (row["keyword_recall"] or 0.0) >= best - 0.01)


def models_of(calibration: Calibration) -> list[tuple[str, AbstentionModel, dict]]:
    """(what it is for, model, its report) for each model of the calibration, the one-law one first."""
    models = [("一部法规的索引", calibration.one_law, calibration.report.get("one_law", {}))] if calibration.one_law else []
    return models + [("多部法规的索引（整库）" if calibration.one_law else "所有索引", calibration.abstention, calibration.report)]


_ANSWERABLE_NAMES = {
    "seed_answerable": "条例的可回答题",
    "seed_conversation": "条例的多轮对话各轮",
    "seed_english": "条例的英文题",
    "library": "整库（STARD 调参集）",
}
_UNANSWERABLE_NAMES = {"seed_offtopic": "无关问题", "seed_unanswerable": "近题"}
_UNANSWERABLE_LEGEND = "实线：无关问题（STARD 的法律问题问条例）\n短划线：近题（与条例有关，条例没有规定）"


def describe_operating_point(report: dict) -> str:
    """A model's out-of-fold rates at its threshold, each group by name with its limit or goal."""
    targets = Targets(**report.get("targets", {}))
    limits, goals = targets.limits(), targets.goals()
    rates = report.get("out_of_fold_at_threshold", {})
    wrong = [f"{name} {rates[g]:.3f}（上限 {limits[g]:g}）" for g, name in _ANSWERABLE_NAMES.items() if rates.get(g) is not None]
    right = [f"{name} {rates[g]:.3f}（目标 ≥ {goals[g]:g}）" for g, name in _UNANSWERABLE_NAMES.items() if rates.get(g) is not None]
    return f"误拒率 {'、'.join(wrong)}；拒答率 {'、'.join(right)}"


def tradeoff_figure(calibration: Calibration) -> Figure:
    """One panel per model: false abstention (seed answerable, conversation turns, library) against
    off-topic and near-topic questions answered, out of fold; the chosen point marked, the false-abstention
    limits and the abstention goals drawn as dotted lines. Draw it inside chinese_labels()."""
    from matplotlib.figure import Figure

    models = models_of(calibration)
    figure = Figure(figsize=(6.4 * len(models), 4.8), dpi=110, layout="constrained")
    axes = figure.subplots(1, len(models), squeeze=False)[0]
    for axis, (scope, model, report) in zip(axes, models):
        curve, chosen = report["curve"], report["out_of_fold_at_threshold"]
        targets = Targets(**report.get("targets", {}))
        limits = targets.limits()
        for (group, name), color in zip(_ANSWERABLE_NAMES.items(), ("C0", "C1", "C2", "C3")):
            if chosen.get(group) is None:
                continue
            for other, style in (("seed_offtopic", "-"), ("seed_unanswerable", "--")):
                answered = [1 - p[other] for p in curve]
                axis.plot([p[group] for p in curve], answered, style, color=color, label=f"{name} × {_UNANSWERABLE_NAMES[other]}")
                axis.plot([chosen[group]], [1 - chosen[other]], "o", color="black")
            axis.axvline(limits[group], color=color, linestyle=":", linewidth=1)
        for group, goal in targets.goals().items():
            axis.axhline(1 - goal, color="gray", linestyle=":", linewidth=1)
            axis.annotate(
                f"目标：{_UNANSWERABLE_NAMES[group]}拒答 ≥ {goal:.0%}",
                (0.3, 1 - goal),
                xytext=(-4, 2),
                textcoords="offset points",
                ha="right",
                fontsize=7,
                color="dimgray",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
            )
        axis.set_xlabel("误拒率（可回答的题被拒答的比例；竖点线：各组的上限）")
        axis.set_ylabel("不可回答的题被回答的比例")
        axis.set_xlim(0, 0.3)
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
        axis.set_title(f"{scope}：阈值 {model.threshold:.3f}，C {model.regularization:g}（交叉验证，黑点为选定的工作点）", fontsize=9)
        axis.legend(fontsize=7, title=_UNANSWERABLE_LEGEND, title_fontsize=7)
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
    return [Example(**json.loads(line)) for line in lines[1:]]


def add_arguments(parser) -> None:
    parser.add_argument("--library-index", help="整库索引目录（提供 STARD 调参集的正例；不给则沿用特征表中已有的整库组）")
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
    for scope, model, report in models_of(calibration):
        print(f"【{scope}】拒答阈值 {model.threshold:.3f}：交叉验证下{describe_operating_point(report)}")
        print("正则化强度 C（交叉验证，各 C 在满足目标的最大阈值处的拒答比例）：")
        for row in report.get("regularization_sweep", []):
            mark = " ← 选定" if row["regularization"] == model.regularization else ""
            print(f"  C={row['regularization']:<5g} 阈值 {row['threshold']:.3f}  " + "，".join(f"{g} {row[g]:.3f}" for g in GROUPS if row.get(g) is not None) + mark)
        print("各组样例（总数/参与拟合）：" + "，".join(f"{g} {c['examples']}/{c['fitted']}" for g, c in report["counts"].items()))
        print("特征系数（标准化后，正数倾向于回答）：")
        for name, weight in sorted(model.weights().items(), key=lambda item: -abs(item[1])):
            print(f"  {name:15s} {weight:+.3f}")
    if "quote_sweep" in calibration.report:
        print("整条引用的长度上限（字）→ 关键词召回 / 引文平均长度：")
        for row in calibration.report["quote_sweep"]:
            print(f"  {row['cutoff']:>6}  {row['keyword_recall']:.3f}  {row['quote_chars']:.0f}")
        print(f"选定：{calibration.whole_article_chars} 字以内的条文整条引用")
    if calibration.report.get("second_article_sweep"):
        print("另引一条的规则（支持度比、检索分数比）→ 关键词召回 / 引用精确率：")
        for row in calibration.report["second_article_sweep"]:
            print(f"  {row['support']:.2f} {row['score']:.2f}  {row['keyword_recall']:.3f}  {row['citation_precision']:.3f}")
        rule = calibration.second_article
        print(f"选定：支持度 ≥ 首条的 {rule.support:.2f} 倍且检索分数 ≥ 首条的 {rule.score:.2f} 倍时另引一条")


def _saved_library_examples(path: Path) -> list[Example]:
    """The library group of a saved feature table that this code can read (none otherwise)."""
    try:
        return [e for e in load_examples(path) if e.group == "library"]
    except (OSError, EvalError, ValueError, KeyError, TypeError):
        return []


def _previous(path: Path) -> Calibration | None:
    """The calibration written before, if it is readable by this code (a refit keeps its quote cut-off)."""
    try:
        return Calibration.load(path)
    except (OSError, ValueError, KeyError):
        return None


def _targets_of(args) -> tuple[Path, Path, str]:
    """(calibration file, feature table, embedding model) that a run writes and measures with."""
    if not args.for_index:
        return Path(args.out or CALIBRATION_PATH), Path(args.features or FEATURE_TABLE), DEFAULT_MODEL
    if not args.library_index:
        raise EvalError("--for-index 需要 --library-index：为哪个索引的嵌入模型拟合")
    folder = Path(args.library_index)
    model = rag.get_index(folder).embedder.spec.name
    return Path(args.out or folder / INDEX_CALIBRATION), Path(args.features or folder / INDEX_FEATURE_TABLE), model


def run(args) -> int:
    out, features, model = _targets_of(args)
    quotable: list[Quotable] = []
    if args.refit:
        examples = load_examples(features)
    else:
        sets = [
            (QUESTIONS / "seed_dev.jsonl", "seed_answerable", None),
            (QUESTIONS / "seed_english_tune.jsonl", "seed_english", None),
            (QUESTIONS / "seed_near_tune.jsonl", "seed_unanswerable", None),
            (QUESTIONS / "stard_tune.jsonl", "seed_offtopic", None),
            (QUESTIONS / "seed_conv_tune.jsonl", "seed_conversation", None),
        ]
        if args.library_index:
            sets.append((QUESTIONS / "stard_tune.jsonl", "library", args.library_index))
        examples = []
        for path, group, index in sets:
            found, quotes = collect(path, group, index, model=model)
            if path.name == "seed_dev.jsonl":  # the quote cut-off is measured on seed_dev's keywords
                quotable = quotes
            examples.extend(found)
            print(f"{path.name} @ {index or ('内置条例' if model == DEFAULT_MODEL else f'内置条例（{model}）')}：{len(found)} 题")
        if not args.library_index:
            kept = _saved_library_examples(features)
            examples.extend(kept)
            if kept:
                print(f"未给 --library-index：整库组沿用 {features} 中的 {len(kept)} 题")
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
    reused = args.refit or any(e.group == "library" for e in examples)
    calibration.report["library_index"] = str(args.library_index or (previous.report.get("library_index", "") if reused and previous else ""))
    calibration.save(out)
    plot = Path(args.plot)
    plot.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(plot, plot_tradeoff(calibration))
    _print_summary(calibration)
    print(f"已写入 {out}、{features} 和 {plot}")
    return 0
