"""`rag fit-rescore`: fit when and how much the second model re-scores (rag/retrieval/rescore.py), on one-law tasks.

Each task's law is indexed alone with the default models (eval.suites.task_index); its single answerable questions
(conversation turns left out: their wording depends on the rewriting) are searched once per (weight, margin) of a
grid, with the first stage's question vector computed once and the second model's cached by the rescorer. The
fit keeps the settings with the best Recall@1, pooled over the questions of every task, among those that
re-score at most `max_share` of them: beyond half, the median question would wait for the second model. The
command prints Recall@1 and the share re-scored on each question set given with --report (held out: not fitted)."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import rag
from rag.retrieval import RESCORE_SETTINGS_PATH, RescoreSettings, RetrieveOptions, search

from .questions import Catalog, EvalError, LawArticle, Question, resolve_gold
from .suites import Suite, load_suite, per_law_suite, task_index

__all__ = ["Outcome", "collect", "fit", "add_arguments", "run"]

WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)
MARGINS = (0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.15, 0.20, 0.30)
TASKS_ROOT = "indexes/tasks"


@dataclass(frozen=True)
class Outcome:
    """Whether the gold article was first, without re-scoring and under each (weight, margin), and whether re-scored."""

    law: str
    question: str
    first: bool
    rescored: dict[tuple[float, float], tuple[bool, bool]]  # (weight, margin) → (gold first, re-scored)


def _gold_first(hits, question: Question) -> bool:
    return bool(hits) and any(gold.matches(LawArticle(hits[0].law, hits[0].article, hits[0].doc_id)) for gold in question.gold)


def collect(suite: Suite, root: str = TASKS_ROOT, weights: Sequence[float] = WEIGHTS, margins: Sequence[float] = MARGINS) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for number, task in enumerate(suite.tasks, start=1):
        index = rag.get_index(task_index(task, root))
        if index.rescorer is None:
            raise EvalError(f"《{task.name}》的索引没有第二个模型的向量：先安装 EmbeddingGemma（make models）")
        questions = [q for q in resolve_gold(list(task.questions), Catalog.from_index(index)).questions if q.gold and not q.conversation]
        print(f"[{number}/{len(suite.tasks)}] 《{task.name}》：{len(questions)} 题", file=sys.stderr, flush=True)
        for q in questions:
            vector = index.embedder.encode_queries([index.names.as_self_reference(q.question)])[0]
            base = search(index, q.question, RetrieveOptions(k=1, rescore=None), query=vector)
            results = {}
            for weight, margin in itertools.product(weights, margins):
                hits = search(index, q.question, RetrieveOptions(k=1, rescore=RescoreSettings(weight=weight, margin=margin)), query=vector)
                results[(weight, margin)] = (_gold_first(hits, q), bool(hits) and "rescored" in hits[0].scores)
            outcomes.append(Outcome(task.name, q.question, _gold_first(base, q), results))
    return outcomes


def summary(outcomes: Sequence[Outcome], key: tuple[float, float] | None) -> tuple[float, float]:
    """Recall@1 and share re-scored under `key` (None: without re-scoring)."""
    if not outcomes:
        return 0.0, 0.0
    if key is None:
        return sum(o.first for o in outcomes) / len(outcomes), 0.0
    return (sum(o.rescored[key][0] for o in outcomes) / len(outcomes), sum(o.rescored[key][1] for o in outcomes) / len(outcomes))


def fit(outcomes: Sequence[Outcome], max_share: float) -> tuple[float, float]:
    """The (weight, margin) of best Recall@1 among those re-scoring at most max_share (ties: fewer re-scored)."""
    allowed = [key for key in outcomes[0].rescored if summary(outcomes, key)[1] <= max_share]
    if not allowed:
        raise EvalError(f"没有哪个设置重排的问题少于 {max_share:.0%}")
    return max(allowed, key=lambda key: (summary(outcomes, key)[0], -summary(outcomes, key)[1]))


def _suite(spec: str) -> Suite:
    """A suite file (.toml), or a question set (.jsonl) made into one-law tasks of the laws it asks about."""
    return load_suite(spec) if spec.endswith(".toml") else per_law_suite(spec, "../shared/laws")


def add_arguments(parser) -> None:
    parser.add_argument(
        "sets",
        nargs="*",
        default=["eval/suites/tune.toml", "eval/questions/stard_tune.jsonl"],
        help="拟合所用的问题：套件（.toml）或问题集（.jsonl，按法规分成单部法规的任务）；默认调参套件与 STARD 调参集",
    )
    parser.add_argument("--report", nargs="*", default=["eval/suites/test.toml", "eval/questions/stard_test.jsonl"], help="只报告、不拟合的问题")
    parser.add_argument("--max-share", type=float, default=RescoreSettings().max_share, help="最多重排这个比例的问题（默认 0.4）")
    parser.add_argument("--out", default=str(RESCORE_SETTINGS_PATH), help=f"写入的设置文件（默认随包的 {RESCORE_SETTINGS_PATH.name}）")


def run(args) -> int:
    fitting = [o for spec in args.sets for o in collect(_suite(spec))]
    weight, margin = fit(fitting, args.max_share)
    key = (weight, margin)
    measured = {"fitting": {"sets": args.sets, "questions": len(fitting)}}
    lines = [f"拟合：{len(fitting)} 题，权重 {weight}，差距 < {margin} 时重排"]
    for label, outcomes in [("fitting", fitting)] + [(spec, collect(_suite(spec))) for spec in args.report]:
        before, (after, share) = summary(outcomes, None)[0], summary(outcomes, key)
        lines.append(f"  {'拟合所用' if label == 'fitting' else label}（{len(outcomes)} 题）：Recall@1 {before:.3f} → {after:.3f}，重排 {share:.0%} 的问题")
        measured.setdefault(label, {}).update({"questions": len(outcomes), "recall@1": [round(before, 4), round(after, 4)], "rescored": round(share, 4)})
    settings = replace(RescoreSettings(), weight=weight, margin=margin, max_share=args.max_share, fitted=measured)
    settings.save(Path(args.out))
    print("\n".join(lines) + f"\n已写入 {args.out}")
    return 0
